#!/usr/bin/env python
"""Zero-shot classical edge baselines (paper Table 3) on the BSDS500 boundary benchmark.

Computes the Sobel, soft-Canny and Felzenszwalb-Huttenlocher soft edge maps of
:mod:`sambench.generation.edge_maps` for every image of a BSDS500 split (default: the 200 test images),
scores them with the re-implemented benchmark (:mod:`sambench.metrics.bsds`, 99 thresholds,
maxDist 0.0075, thinning) on all cores, prints ODS / OIS / AP / R50 per method and writes a
Markdown table.

Usage::

    python benchmarks/eval_classical_edges.py --out results/classical_edges.md
    python benchmarks/eval_classical_edges.py --split val --limit 20 --methods canny --out /tmp/t.md

Data layout (``--data``, default ``../shared/data/BSDS500/data`` beside the checkout):
``images/<split>/*.jpg`` and ``groundTruth/<split>/*.mat``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # after the installed sambench (its tasks/ and datasets need the install)
    sys.path.append(str(REPO))

from sambench.metrics.bsds import BoundaryEvaluator  # noqa: E402
from sambench.generation.edge_maps import CLASSICAL_EDGE_METHODS  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "BSDS500" / "data"

# Segment Anything paper, Table 3 (BSDS500 test; ODS, OIS, AP, R50; "-" = not reported)
PAPER = {
    "sobel": ("Sobel filter", ".539", "-", "-", "-"),
    "canny": ("Canny", ".600", ".640", ".580", "-"),
    "felzenszwalb": ("Felz-Hutt", ".610", ".640", ".560", "-"),
}


def _compute_maps(task: Tuple[str, str, Tuple[str, ...]]) -> Tuple[str, Dict[str, np.ndarray], Dict[str, float]]:
    """Worker: all requested edge maps of one image (float32 to halve the memory)."""
    image_id, path, methods = task
    from PIL import Image

    with Image.open(path) as im:
        img = np.asarray(im.convert("RGB"))
    maps, secs = {}, {}
    for m in methods:
        t0 = time.perf_counter()
        maps[m] = CLASSICAL_EDGE_METHODS[m](img).astype(np.float32)
        secs[m] = time.perf_counter() - t0
    return image_id, maps, secs


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BSDS500 'data' folder (images/, groundTruth/)")
    ap.add_argument("--split", default="test", choices=["train", "val", "test"])
    ap.add_argument("--methods", default="sobel,canny,felzenszwalb", help="comma-separated subset of: " + ",".join(CLASSICAL_EDGE_METHODS))
    ap.add_argument("--thresholds", type=int, default=99)
    ap.add_argument("--max-dist", type=float, default=0.0075)
    ap.add_argument("--nproc", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--limit", type=int, default=0, help="only the first N images (sorted ids); 0 = all")
    ap.add_argument("--out", type=Path, required=True, help="Markdown table to write")
    ap.add_argument("--bench-dir", type=Path, default=None, help="also write eval_bdry*.txt per method under this folder")
    ap.add_argument("--json", type=Path, default=None, help="also write the full results (curves included) as JSON")
    args = ap.parse_args(argv)

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    unknown = [m for m in methods if m not in CLASSICAL_EDGE_METHODS]
    if unknown:
        ap.error(f"unknown methods: {unknown}")
    img_dir = args.data / "images" / args.split
    gt_dir = args.data / "groundTruth" / args.split
    if not img_dir.is_dir() or not gt_dir.is_dir():
        print(f"BSDS500 data not found under {args.data} (need images/{args.split} and groundTruth/{args.split})", file=sys.stderr)
        return 2
    ids = sorted(p.stem for p in img_dir.glob("*.jpg") if (gt_dir / f"{p.stem}.mat").exists())
    if args.limit > 0:
        ids = ids[: args.limit]
    print(f"{len(ids)} images from {img_dir}, methods {methods}, {args.thresholds} thresholds, nproc {args.nproc}", flush=True)

    t0 = time.perf_counter()
    maps: Dict[str, Dict[str, np.ndarray]] = {m: {} for m in methods}
    secs: Dict[str, float] = {m: 0.0 for m in methods}
    tasks = [(i, str(img_dir / f"{i}.jpg"), methods) for i in ids]
    with mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None).Pool(args.nproc) as pool:
        for image_id, mm, ss in pool.imap(_compute_maps, tasks, chunksize=1):
            for m in methods:
                maps[m][image_id] = mm[m]
                secs[m] += ss[m]
    t_maps = time.perf_counter() - t0
    print(f"edge maps: {t_maps:.1f} s wall", flush=True)

    gts = {i: gt_dir / f"{i}.mat" for i in ids}
    ev = BoundaryEvaluator(thresholds=args.thresholds, max_dist=args.max_dist, nproc=args.nproc)
    rows, full = [], {}
    for m in methods:
        t1 = time.perf_counter()
        out_dir = args.bench_dir / m if args.bench_dir is not None else None
        res = ev.evaluate(maps[m], gts, out_dir=out_dir)
        t_eval = time.perf_counter() - t1
        d = res.to_dict()
        full[m] = dict(d, map_seconds_per_image=secs[m] / len(ids), eval_seconds_wall=t_eval)
        rows.append((m, res, secs[m] / len(ids), t_eval))
        print(
            f"{m:>13s}: ODS {res.ods:.3f}  OIS {res.ois:.3f}  AP {res.ap:.3f}  R50 {res.r50:.3f}  "
            f"(best t {res.best_threshold:.3f}; map {secs[m] / len(ids):.2f} s/img/core; benchmark {t_eval:.0f} s wall)",
            flush=True,
        )

    cmd = "python " + " ".join([os.path.relpath(__file__, REPO)] + (argv if argv is not None else sys.argv[1:]))
    lines = [
        f"# Classical edge baselines on BSDS500 {args.split} ({len(ids)} images)",
        "",
        f"Boundary benchmark re-implementation (`sambench.metrics.bsds`): {args.thresholds} thresholds, "
        f"maxDist {args.max_dist}, thinning; zero-shot maps from `sambench.generation.edge_maps`.",
        "",
        "| method | ODS | OIS | AP | R50 | paper ODS / OIS / AP / R50 |",
        "|---|---|---|---|---|---|",
    ]
    for m, res, _, _ in rows:
        p = PAPER.get(m, (m, "-", "-", "-", "-"))
        lines.append(f"| {p[0]} | {res.ods:.3f} | {res.ois:.3f} | {res.ap:.3f} | {res.r50:.3f} | {' / '.join(p[1:])} |")
    lines += ["", f"Command: `{cmd}`", f"Wall time: edge maps {t_maps:.0f} s, benchmark " + ", ".join(f"{m} {t:.0f} s" for m, _, _, t in rows) + f" on {args.nproc} processes.", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(full, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
