"""Peak memory of a whole proposals run (generation, records, LVISEval summary) vs number of images.

Builds synthetic LVIS-format datasets of N images (random rectangles of random LVIS frequency
groups on 256x256 noise) and runs ``sambench run proposals`` on each in a fresh process, reporting
that process's peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and the peak
of Python/numpy allocations seen by ``tracemalloc`` after imports (torch's own tensors are not
traced). If masks of the dataset were held in memory, both would grow with N; with per-image
streaming they stay flat.

The default model, ``blob`` (defined here, loaded as ``benchmarks/bench_proposals_memory.py:build_blob_model``),
answers every point with 3 random rectangles around it with soft logits, so each image yields the
full proposal load of the paper's protocol (1000 proposals kept after NMS) at little compute;
``sam-tiny`` and ``oracle`` can be used instead (they give only a few distinct proposals per image).

    python benchmarks/bench_proposals_memory.py                      # 50 vs 200 images, blob model, 20x20 grid
    python benchmarks/bench_proposals_memory.py --images 50 200 400 --model sam-tiny --grid 8

Prints one line per N and a JSON summary (``--json FILE`` to save it).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FREQS = {1: "f", 2: "c", 3: "r"}


def make_dataset(root: Path, n_images: int, size: int = 256, objects: int = 8, seed: int = 0) -> Path:
    """N noise images with random rectangles; LVIS v1 layout (val2017/, annotations/lvis_v1_val.json)."""
    from PIL import Image
    from pycocotools import mask as coco_mask

    rng = np.random.default_rng(seed)
    (root / "val2017").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for image_id in range(1, n_images + 1):
        name = f"{image_id:012d}.png"
        pixels = rng.integers(0, 50, size=(size, size, 3), dtype=np.uint8)
        for _ in range(objects):
            w, h = (int(v) for v in rng.integers(6, size // 2, size=2))
            x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
            cat = int(rng.integers(1, 4))
            pixels[y:y + h, x:x + w] = rng.integers(60, 255, size=3, dtype=np.uint8)
            m = np.zeros((size, size), np.uint8)
            m[y:y + h, x:x + w] = 1
            rle = coco_mask.encode(np.asfortranarray(m))
            rle["counts"] = rle["counts"].decode("ascii")
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cat, "segmentation": rle,
                         "area": float(w * h), "bbox": [float(x), float(y), float(w), float(h)]})
        Image.fromarray(pixels).save(root / "val2017" / name)
        images.append({"id": image_id, "width": size, "height": size, "file_name": name,
                       "coco_url": f"http://images.cocodataset.org/val2017/{name}",
                       "neg_category_ids": [], "not_exhaustive_category_ids": []})
    cats = [{"id": c, "name": f"thing_{f}", "frequency": f, "synset": f"thing_{f}.n.01"} for c, f in FREQS.items()]
    path = root / "annotations" / "lvis_v1_val.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def build_blob_model(checkpoint=None, device=None, download=False, seed=0):
    """A synthetic point-promptable model: 3 random soft rectangles around each point (see module doc)."""
    import torch

    from sambench.models.base import Capabilities, ImageEmbedding, Prediction, PromptableModel

    class BlobModel(PromptableModel):
        name = "blob-synthetic"
        weights = "untrained"
        capabilities = Capabilities(points=True, negative_points=True, boxes=False, mask_input=False, multimask=True)

        def encode(self, image, sample=None):
            return ImageEmbedding(original_size=tuple(image.shape[:2]), features=int(image[::17, ::17].sum()))

        def decode(self, embedding, prompts, multimask):
            self.check_prompts(prompts, multimask)
            h, w = embedding.original_size
            k = 3 if multimask else 1
            pts = np.asarray(prompts.point_coords, dtype=np.float64)[:, 0, :]
            b = len(pts)
            rng = np.random.default_rng([int(seed), int(embedding.features), int(pts[0, 0]) if b else 0,
                                         int(pts[0, 1]) if b else 0])
            half = rng.uniform(3, max(h, w) / 3, size=(b, k, 2))
            ys, xs = np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32)
            dx = (half[..., 0, None] - np.abs(xs[None, None] - pts[:, None, 0, None])).astype(np.float32)
            dy = (half[..., 1, None] - np.abs(ys[None, None] - pts[:, None, 1, None])).astype(np.float32)
            logits = np.minimum(dx[:, :, None, :], dy[:, :, :, None])  # (B, K, H, W), > 0 inside
            return Prediction(logits=torch.from_numpy(logits),
                              iou_predictions=torch.from_numpy(rng.uniform(0.5, 1.0, size=(b, k)).astype(np.float32)))

    return BlobModel()


def current_rss_mib():
    """Resident set size now (Linux /proc), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def child(args) -> None:
    """One run in this process; prints a JSON line with its peaks."""
    import tracemalloc

    sys.path.append(str(REPO))
    # everything the run imports lazily, imported before tracing: only the run's own allocations count
    import sambench.datasets  # noqa: F401
    import lvis  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import pycocotools.cocoeval  # noqa: F401
    import seaborn  # noqa: F401
    import sambench.tasks  # noqa: F401
    import torchvision.ops  # noqa: F401
    from sambench.app.cli import main

    import sambench.app.runner as runner

    phases = {}
    summarize_run = runner.summarize_run

    def timed_summary(task, out):  # split the peaks: generation (before) and scoring (after)
        phases["generation_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        if tracemalloc.is_tracing():
            phases["generation_peak_traced_mib"] = round(tracemalloc.get_traced_memory()[1] / 2 ** 20, 2)
            tracemalloc.reset_peak()
        out_summary = summarize_run(task, out)
        if tracemalloc.is_tracing():
            phases["summary_peak_traced_mib"] = round(tracemalloc.get_traced_memory()[1] / 2 ** 20, 2)
        return out_summary

    runner.summarize_run = timed_summary
    rss_imports = current_rss_mib()
    if args.tracemalloc:
        tracemalloc.start()
    model = f"{Path(__file__).resolve()}:build_blob_model" if args.model == "blob" else args.model
    t0 = time.time()
    code = main(["run", "proposals", "--model", model, "--dataset", "lvis", "--root", args.root,
                 "--out", args.out, "--points-per-side", str(args.grid), "--no-progress", "--cache-dir", "none",
                 "--store", args.store])
    wall = time.time() - t0
    traced = max(phases.get("generation_peak_traced_mib", 0), phases.get("summary_peak_traced_mib", 0)) \
        if args.tracemalloc else None
    summary = json.loads((Path(args.out) / "summary.json").read_text()) if code == 0 else {}
    rec = Path(args.out) / "records" / "records-rank0.csv"
    print(json.dumps({
        "exit": code, "wall_s": round(wall, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_after_imports_mib": rss_imports,
        "peak_traced_mib": traced, **phases,
        "n_images": summary.get("n_images"), "n_gt": summary.get("n_gt"),
        "mean_proposals_per_image": summary.get("mean_proposals_per_image"),
        "n_proposals_stored": summary.get("n_proposals_stored"),
        "records_mib": round(rec.stat().st_size / 2 ** 20, 2) if rec.exists() else None,
        "AR@1000": summary.get("AR@1000")}))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, nargs="+", default=[50, 200], help="dataset sizes to compare")
    p.add_argument("--model", default="blob", help="blob (default, synthetic), sam-tiny or oracle")
    p.add_argument("--grid", type=int, default=20, help="points per side (default 20: 1200 masks per image)")
    p.add_argument("--size", type=int, default=256, help="image side in pixels")
    p.add_argument("--store", default="matched", choices=["matched", "all"])
    p.add_argument("--no-tracemalloc", dest="tracemalloc", action="store_false")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--workdir", help="keep datasets and runs here (default: a temporary folder)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--root", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        for n in args.images:
            root = work / f"data-{n}"
            if not (root / "annotations" / "lvis_v1_val.json").is_file():
                make_dataset(root, n, size=args.size)
            out = work / f"run-{n}-{int(time.time())}"
            cmd = [sys.executable, __file__, "--child", "--root", str(root), "--out", str(out), "--model", args.model,
                   "--grid", str(args.grid), "--store", args.store] + ([] if args.tracemalloc else ["--no-tracemalloc"])
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
            if proc.returncode != 0 or not lines:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            row = dict(json.loads(lines[-1]), images=n)
            rows.append(row)
            print(f"{n:5d} images: peak RSS {row['peak_rss_mib']:8.1f} MiB (after imports "
                  f"{row.get('rss_after_imports_mib')}, end of generation {row.get('generation_peak_rss_mib')}), "
                  f"peak traced: generation {row.get('generation_peak_traced_mib')} MiB, "
                  f"scoring {row.get('summary_peak_traced_mib')} MiB, "
                  f"{row['mean_proposals_per_image']:.1f} proposals/image, {row['n_proposals_stored']} stored, "
                  f"records {row['records_mib']} MiB, {row['wall_s']} s", flush=True)
    result = {"model": args.model, "grid": args.grid, "size": args.size, "store": args.store, "runs": rows}
    if len(rows) > 1:
        result["rss_growth_mib"] = round(rows[-1]["peak_rss_mib"] - rows[0]["peak_rss_mib"], 1)
        for key in ("generation_peak_traced_mib", "summary_peak_traced_mib"):
            if rows[0].get(key) is not None:
                result[key.replace("peak_traced_mib", "traced_growth_mib")] = round(rows[-1][key] - rows[0][key], 2)
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
