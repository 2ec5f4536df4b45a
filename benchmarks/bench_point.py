#!/usr/bin/env python
"""The point protocol's cost against the encoder alone and against a naive SamPredictor loop,
and sambench's automatic mask generator against segment-anything's ``SamAutomaticMaskGenerator``.

Same images, same masks, same prompts, one process, so only ratios within one run mean anything:

  (a) encoder    the image encoder alone (sambench's SAM adapter, ``encode_batch``)
  (b) sambench   the whole point protocol as a run does it: encoder + ``PointTask.process``
                 (1, 2, 3, 5, 9 clicks, all masks of an image batched per round, scored on the device)
  (c) naive      the loop one writes with ``SamPredictor``: ``set_image``, then one ``predict`` per
                 mask per click, whole-image distance transforms for the clicks, numpy IoU

Each is timed ``--repeats`` times (the order rotates); the table gives min and median of CPU and
wall seconds, and the ratios b/a (target on CPU: <= 1.25) and c/b (target: >= 2.5). Records of
(b) and (c) are compared field by field (clicks, IoU, oracle IoU, predicted IoU); decoding all
masks of an image in one batch instead of one at a time may move a predicted IoU in its last
printed digit. Then, on the same embeddings: ``generate_masks`` with the released
generator's defaults (32x32 grid, IoU 0.88, stability 0.95, NMS 0.7) against
``SamAutomaticMaskGenerator`` (crop layers 0), outputs compared mask by mask.

Models have random weights at real size (``--model vit_b|vit_l|vit_h``; ``--checkpoint`` for real
ones). With random weights every predicted IoU and stability score sits far from the released
filters' thresholds, so for the generator the decoder's output layers are rescaled (``--amg-calibrate``,
default on; recorded) until the default filters keep some masks and drop others.

Usage::

    python benchmarks/bench_point.py                                # CPU, ViT-B, 3 COCO-MINI images, 2 repeats
    python benchmarks/bench_point.py --images 2 --repeats 1 --no-amg --quick   # a dry run in a minute (sam-tiny)
    python benchmarks/bench_point.py --device cuda --model vit_h --dtype bf16 --images 16 --images-per-batch 1,4,8
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # after the installed sambench (its tasks/ and datasets need the install)
    sys.path.append(str(REPO))

COCO = REPO.parent / "shared" / "data" / "COCO-MINI"

from _bench_timing import syncer, timed  # noqa: E402  (beside this script)
from _amg_vs_official import bench_amg  # noqa: E402


# ---------------------------------------------------------------------------------------------
# data and model
# ---------------------------------------------------------------------------------------------

def load_data(args):
    """[(sample, image, instances)] of ``--images`` images: COCO-MINI when present, else generated shapes."""
    from sambench.datasets import build_dataset

    if args.data == "coco" and (COCO / "annotations" / "instances_val2017.json").is_file():
        ds = build_dataset("coco", COCO / "val2017", ann=COCO / "annotations" / "instances_val2017.json")
        source = "COCO-MINI (COCO val2017)"
    else:
        import tempfile

        from sambench.datasets.demo import generate_demo

        root = Path(tempfile.mkdtemp(prefix="bench-point-"))
        generate_demo(root, n_images=max(args.images * 2, 8), height=480, width=640, seed=1)
        ds = build_dataset("coco", root / "images", ann=root / "instances.json")
        source = "generated shapes 640x480 (sambench demo generator)"
    out = []
    for image_id in ds.image_ids():
        sample = ds.load_sample(image_id)
        insts = [i for i in sample.instances if not i.iscrowd and i.area > 0]
        if 1 <= len(insts) <= args.max_masks:
            out.append((sample, sample.image(), insts))
        if len(out) == args.images:
            break
    return out, source


def build_sam(args):
    import torch

    from sambench.models.sam import SamAdapter, build_official_sam, build_tiny_sam, resolve_device

    if args.quick:
        return build_tiny_sam(device=args.device)
    if args.checkpoint:
        return build_official_sam(args.model, args.checkpoint, args.device)
    from segment_anything.build_sam import sam_model_registry

    torch.manual_seed(args.seed)
    sam = sam_model_registry[args.model](checkpoint=None)
    return SamAdapter(sam, name=f"sam-{args.model}", device=resolve_device(args.device), weights="untrained",
                      architecture=f"sam_{args.model}")


def precision(model, dtype: str):
    """Set ``--dtype`` on the adapter (its own autocast, ``PromptableModel.set_dtype``); returns the
    autocast context for code that bypasses the adapter (the naive ``SamPredictor`` loop)."""
    import torch

    model.set_dtype(dtype)
    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(model.device.type, dtype={"bf16": torch.bfloat16, "fp16": torch.float16}[dtype])


# ---------------------------------------------------------------------------------------------
# (a), (b), (c)
# ---------------------------------------------------------------------------------------------

def run_encoder(model, data, batch):
    import torch

    with torch.no_grad():
        for start in range(0, len(data), batch):
            model.encode_batch([d[1] for d in data[start:start + batch]])


def run_sambench(model, data, batch, task):
    """encoder + PointTask.process, image by image, as the runner does (images already decoded)."""
    rows = []
    for start in range(0, len(data), batch):
        chunk = data[start:start + batch]
        embs = model.encode_batch([d[1] for d in chunk])
        for (sample, _, insts), emb in zip(chunk, embs):
            rows.append(task.process(model, sample, emb, insts, seed=0, dataset="bench"))
    return rows


def naive_distance(region):
    from scipy.ndimage import distance_transform_edt

    return distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]


def naive_click(gt, pred, clicked, ignore):
    """The RITM rule as one writes it first: whole-image distance transforms."""
    from sambench.prompts import Click

    fn, fp = gt & ~pred, ~gt & pred
    if ignore is not None:
        fn, fp = fn & ~ignore, fp & ~ignore
    if not fn.any() and not fp.any():
        return None
    dfn, dfp = naive_distance(fn), naive_distance(fp)
    for c in clicked:
        dfn[c.y, c.x] = dfp[c.y, c.x] = 0
    if dfn.max() == 0 and dfp.max() == 0:
        return None
    positive = bool(dfn.max() > dfp.max())
    y, x = divmod(int(np.argmax(dfn if positive else dfp)), gt.shape[1])
    return Click(x, y, positive)


def predict(predictor, coords, labels, multimask):
    """``SamPredictor.predict``, step for step, with the outputs cast to float32 before numpy (so
    that it also runs under bf16/fp16 autocast, where ``predict`` itself fails on ``.numpy()``)."""
    import torch

    xy = predictor.transform.apply_coords(coords, predictor.original_size)
    xy = torch.as_tensor(xy, dtype=torch.float, device=predictor.device)[None]
    lab = torch.as_tensor(labels, dtype=torch.int, device=predictor.device)[None]
    masks, iou, _ = predictor.predict_torch(xy, lab, multimask_output=multimask)
    return masks[0].cpu().numpy(), iou[0].float().cpu().numpy()


def run_naive(model, data, task):
    """SamPredictor: one predict per mask per click; rows in the task's layout, for comparison."""
    from segment_anything import SamPredictor

    from sambench import masks as mask_utils
    from sambench.prompts import Click

    predictor = SamPredictor(model.sam)
    out = []
    for sample, image, insts in data:
        predictor.set_image(image)
        ignore = sample.ignore_mask()
        per_round = {}
        for inst in insts:
            gt = inst.mask()
            y, x = divmod(int(np.argmax(naive_distance(gt))), gt.shape[1])
            clicks, pred, last = [Click(x, y, True)], None, None
            for k in range(1, task.max_clicks + 1):
                if k > 1:
                    c = None if last is None or last[3] else naive_click(gt, pred, clicks, ignore)
                    if c is None:
                        last = (k, None, last[2], True, last[4])
                        per_round.setdefault(k, []).append(task._row(inst, k, None, last[2], None, last[4], True))
                        continue
                    clicks.append(c)
                masks, scores = predict(predictor, np.array([[c.x, c.y] for c in clicks], float),
                                        np.array([int(c.positive) for c in clicks]), k == 1)
                pick = int(np.argmax(scores)) if k == 1 else 0
                ious = [mask_utils.iou(m, gt, ignore) for m in masks]
                pred = masks[pick]
                last = (k, clicks[-1], ious[pick], False, float(scores[pick]))
                per_round.setdefault(k, []).append(task._row(inst, k, clicks[-1], ious[pick],
                                                             max(ious) if k == 1 else None, float(scores[pick]), False))
        # the task emits, per round, the finished masks (no_error) first, then the decoded ones
        rows = []
        for k in sorted(per_round):
            rows += [r for r in per_round[k] if r["no_error"]] + [r for r in per_round[k] if not r["no_error"]]
        out.append(rows)
    return out


def bench_clicks(n_images: int = 20, repeats: int = 3) -> None:
    """Click simulation alone: bounding-box distance transforms (sambench.prompts) against whole-image
    ones, on the COCO-MINI masks with the mask shifted by (4, -6) px as the prediction."""
    from sambench.datasets import build_dataset
    from sambench.prompts import first_point, next_click

    ds = build_dataset("coco", COCO / "val2017", ann=COCO / "annotations" / "instances_val2017.json")
    pairs = [(m, np.roll(m, (4, -6), axis=(0, 1))) for i in ds.image_ids()[:n_images]
             for m in (inst.mask() for inst in ds.load_sample(i).instances if not inst.iscrowd)]
    runs = {"next click, bounding box": lambda g, p: next_click(g, p),
            "next click, whole image": lambda g, p: naive_click(g, p, [], None),
            "first click, bounding box": lambda g, p: first_point(g),
            "first click, whole image": lambda g, p: divmod(int(np.argmax(naive_distance(g))), g.shape[1])}
    best = {}
    for name, fn in runs.items():
        best[name] = min(timed(lambda: [fn(g, p) for g, p in pairs], lambda: None)[2] for _ in range(repeats))
    same = [next_click(g, p) for g, p in pairs] == [naive_click(g, p, [], None) for g, p in pairs]
    print(f"{len(pairs)} masks of {n_images} COCO-MINI images, CPU s (min of {repeats}): "
          + ", ".join(f"{k} {v:.2f}" for k, v in best.items())
          + f"; next click {best['next click, whole image'] / best['next click, bounding box']:.1f}x, first click "
          f"{best['first click, whole image'] / best['first click, bounding box']:.1f}x faster; clicks "
          f"{'identical' if same else 'DIFFERENT'}")


def compare_rows(a, b) -> str:
    """Records of two paths: identical, or which fields differ and by how much."""
    flat_a = [r for rows in a for r in rows]
    flat_b = [r for rows in b for r in rows]
    if flat_a == flat_b:
        return f"identical ({len(flat_a)} records)"
    if len(flat_a) != len(flat_b):
        return f"DIFFERENT: {len(flat_a)} vs {len(flat_b)} records"
    fields = sorted({k for x, y in zip(flat_a, flat_b) for k in x if x[k] != y[k]})
    clicks = all((x["click_x"], x["click_y"], x["click_positive"]) == (y["click_x"], y["click_y"], y["click_positive"])
                 for x, y in zip(flat_a, flat_b))
    worst = {k: max(abs(float(x[k] or 0) - float(y[k] or 0)) for x, y in zip(flat_a, flat_b))
             for k in ("iou", "iou_oracle", "pred_iou")}
    same = sum(x == y for x, y in zip(flat_a, flat_b))
    return (f"{same}/{len(flat_a)} identical; clicks {'identical' if clicks else 'DIFFER'}; "
            + ", ".join(f"max |d {k}| {worst[k]:.0e}" for k in fields if k in worst))


def results_table(results) -> str:
    """One Markdown table of several runs' --json results (min over repeats; CPU s on CPU, wall s on GPU)."""
    lines = ["| run | model | device | dtype | knobs | images (masks) | batch | encoder s | sambench s | naive s | "
             "sambench/encoder | naive/sambench | records vs naive | generator: official/sambench, outputs |",
             "|" + "---|" * 14]
    for r in results:
        key = 0 if str(r.get("device", "")).startswith("cpu") else 1
        runs = r.get("runs", {})
        pick = (lambda k: min(runs[k]["cpu_s" if key == 0 else "wall_s"]) if k in runs else None)
        naive = pick("naive@1")
        amg = r.get("amg")
        amg_text = "-"
        if amg:
            t = {n: min(v[key] for v in amg["times"][n]) for n in ("official", "sambench")}
            amg_text = f"{t['official'] / t['sambench']:.2f}x, {'identical' if amg['identical'] else 'DIFFERENT'}"
        knobs = " ".join(k for k in ("sdpa", "compile") if r.get(k)) or "-"
        batches = sorted({int(k.split("@")[1]) for k in runs if k.startswith("sambench@")})
        for b in batches:
            enc, sb = pick(f"encoder@{b}"), pick(f"sambench@{b}")
            fmt = (lambda v: "-" if v is None else f"{v:.2f}")
            lines.append(f"| {r.get('file', '')} | {r['model']} | {r['device']} | {r['dtype']} | {knobs} | "
                         f"{r['images']} ({r['masks']}) | {b} | {fmt(enc)} | {fmt(sb)} | {fmt(naive)} | "
                         f"{fmt(sb / enc if enc and sb else None)} | {fmt(naive / sb if naive and sb else None)} | "
                         f"{r.get('naive_vs_sambench_records', '-')} | {amg_text} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="vit_b", choices=["vit_b", "vit_l", "vit_h"])
    p.add_argument("--checkpoint", help="a real checkpoint instead of random weights")
    p.add_argument("--quick", action="store_true", help="sam-tiny instead (a dry run of every code path)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--sdpa", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--images", type=int, default=3)
    p.add_argument("--max-masks", type=int, default=8, help="use images with at most this many masks")
    p.add_argument("--data", default="coco", choices=["coco", "generated"])
    p.add_argument("--images-per-batch", default="1", help="encoder batch sizes to sweep, e.g. 1,4,8")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--click-threads", type=int, default=0, help="sambench's click threads (0: min(8, CPU count))")
    p.add_argument("--no-naive", action="store_true")
    p.add_argument("--encoder-only", action="store_true", help="time (a) only (e.g. to compare allocator settings)")
    p.add_argument("--amg-only", action="store_true", help="only the mask generator comparison")
    p.add_argument("--clicks-only", action="store_true", help="only click simulation: box vs whole-image transforms")
    p.add_argument("--no-amg", action="store_true")
    p.add_argument("--amg-points", type=int, default=32)
    p.add_argument("--amg-images", type=int, default=2, help="images for the generator comparison")
    p.add_argument("--no-amg-calibrate", dest="amg_calibrate", action="store_false")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    p.add_argument("--table", nargs="+", type=Path, metavar="JSON", help="only print one table of earlier --json results")
    args = p.parse_args(argv)
    if args.clicks_only:
        bench_clicks(repeats=args.repeats)
        return 0
    if args.table:
        print(results_table([json.loads(f.read_text()) | {"file": f.stem} for f in args.table if f.is_file()]))
        return 0

    import torch

    from sambench.app.speed import apply_speed_options, tune_allocator
    from sambench.tasks.point import PointTask
    from sambench.timing import StageTimer

    allocator = tune_allocator() if args.device == "cpu" else "n/a"  # as a sambench CPU run does
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_point: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    model = build_sam(args)
    batches = [int(b) for b in args.images_per_batch.split(",")]
    apply_speed_options(model, compile=args.compile, sdpa=args.sdpa, images_per_batch=max(batches))
    data, source = load_data(args)
    n_masks = sum(len(d[2]) for d in data)
    device_name = torch.cuda.get_device_name(model.device) if model.device.type == "cuda" else \
        f"cpu ({torch.get_num_threads()} threads)"
    print(f"{model.label()} on {device_name}, {args.dtype}{' sdpa' if args.sdpa else ''}"
          f"{' compile' if args.compile else ''}; {len(data)} images of {source} with {n_masks} masks "
          f"({[d[0].image_id for d in data]}); allocator {allocator}", flush=True)
    sync = syncer(model)
    task = PointTask(click_threads=args.click_threads)
    naive_ctx = precision(model, args.dtype)
    ctx = contextlib.nullcontext()  # the adapter autocasts itself
    results = {"model": model.label(), "device": device_name, "dtype": args.dtype, "sdpa": args.sdpa,
               "compile": args.compile, "images": len(data), "masks": n_masks, "source": source,
               "allocator": allocator, "repeats": args.repeats, "runs": {}}
    if args.amg_only:
        bench_amg(model, data[:args.amg_images], args, results)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=1, default=str))
        return 0
    with ctx:  # warm-up (allocator, compilation, lazy imports)
        run_encoder(model, data[:1], 1)
        if not args.encoder_only:
            run_sambench(model, data[:1], 1, PointTask(points=[1, 2]))
    if args.encoder_only:
        args.no_naive = args.no_amg = True
    methods = [("encoder", b) for b in batches] + ([] if args.encoder_only else [("sambench", b) for b in batches]) \
        + ([] if args.no_naive else [("naive", 1)])
    outputs, times, stages = {}, {m: [] for m in methods}, {}
    for r in range(args.repeats):
        order = methods[r % len(methods):] + methods[:r % len(methods)]
        for name, b in order:
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            with ctx:
                if name == "encoder":
                    _, wall, cpu = timed(lambda: run_encoder(model, data, b), sync)
                elif name == "sambench":
                    task.timer = StageTimer(sync=sync if model.device.type == "cuda" else None)
                    out, wall, cpu = timed(lambda: run_sambench(model, data, b, task), sync)
                    outputs[("sambench", b)] = out
                    stages[b] = task.timer.report()["stages"]
                else:
                    with naive_ctx:
                        out, wall, cpu = timed(lambda: run_naive(model, data, task), sync)
                    outputs["naive"] = out
            times[(name, b)].append((cpu, wall))
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
            print(f"  repeat {r + 1}: {name:8s} batch {b}: {cpu:8.2f} s CPU {wall:8.2f} s wall "
                  f"{faults / 1e6:6.2f} M minor page faults", flush=True)

    def stat(key, i):
        vals = [t[i] for t in times[key]]
        return min(vals), statistics.median(vals)

    i = 0 if model.device.type == "cpu" else 1
    unit = "CPU" if i == 0 else "wall"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    results["peak_rss_gib"] = round(rss, 2)
    print(f"\npeak RSS {rss:.2f} GiB")
    print(f"| what | images/encoder call | CPU s min / median | wall s min / median | vs encoder ({unit}, min) |")
    print("|---|---|---|---|---|")
    for key in methods:
        name, b = key
        base = stat(("encoder", b), i)[0]
        (cmin, cmed), (wmin, wmed) = stat(key, 0), stat(key, 1)
        print(f"| {name} | {b} | {cmin:.2f} / {cmed:.2f} | {wmin:.2f} / {wmed:.2f} | {stat(key, i)[0] / base:.2f} |")
        results["runs"][f"{name}@{b}"] = {"cpu_s": [t[0] for t in times[key]], "wall_s": [t[1] for t in times[key]]}
    for b in ([] if args.encoder_only else batches):
        ratio_a = stat(("sambench", b), i)[0] / stat(("encoder", b), i)[0]
        line = f"\nbatch {b}: sambench / encoder = {ratio_a:.2f}x ({unit}, min over {args.repeats}; target <= " \
               f"{1.25 if i == 0 else 1.15})"
        results["runs"][f"sambench@{b}"]["vs_encoder"] = ratio_a
        if not args.no_naive:
            ratio_c = stat(("naive", 1), i)[0] / stat(("sambench", b), i)[0]
            line += f"; naive / sambench = {ratio_c:.2f}x (target >= {2.5 if i == 0 else 8})"
            results["runs"][f"sambench@{b}"]["naive_over_sambench"] = ratio_c
        print(line)
        share = {k: round(v["cpu_s" if i == 0 else "wall_s"], 2) for k, v in stages[b].items()}
        print(f"  sambench stages (last repeat, {unit} s): {share}")
    if not args.no_naive:
        check = compare_rows(outputs[("sambench", batches[0])], outputs["naive"])
        results["naive_vs_sambench_records"] = check
        print(f"records, sambench vs naive loop: {check}")
    if not args.no_amg:
        bench_amg(model, data[:args.amg_images], args, results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
