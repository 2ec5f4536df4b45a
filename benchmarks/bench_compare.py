#!/usr/bin/env python
"""Time of ``sambench compare``'s statistics per resample count, to choose ``--resamples``.

(a) point task: one run against a baseline on a constructed suite (``--datasets`` datasets of
``--images`` images with ``--masks`` masks each, per-mask deltas with a per-image effect): seconds
for one dataset's delta (bootstrap interval + permutation test) and for the mean over datasets,
at each resample count.
(b) instances: seconds per evaluator resample (``accumulate`` + ``summarize`` of pycocotools and of
faster-coco-eval on resampled per-image results) on COCO-MINI (79 COCO val2017 images, ../shared/data) with
results made from the ground truth (30 % of masks shifted by up to 10 px, random scores).

Usage::

    python benchmarks/bench_compare.py                        # 23 datasets x 400 images x 3 masks
    python benchmarks/bench_compare.py --resamples 500,2000,10000 --json out.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # after the installed sambench (its tasks/ and datasets need the install)
    sys.path.append(str(REPO))

from sambench.metrics import stats  # noqa: E402

COCO_MINI = REPO.parent / "shared" / "data" / "COCO-MINI" / "annotations" / "instances_val2017.json"


def point_suite(datasets: int, images: int, masks: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    deltas, clusters = [], []
    for _ in range(datasets):
        image = np.repeat(np.arange(images), masks)
        deltas.append(0.01 + rng.normal(0, 0.1, size=images)[image] + rng.normal(0, 0.05, size=images * masks))
        clusters.append(image)
    return deltas, clusters


def bench_point(args, counts):
    deltas, clusters = point_suite(args.datasets, args.images, args.masks)
    stats.clustered_mean_delta(deltas[0], clusters[0], n_resamples=10, seed=0)  # imports, first-call costs
    out = {}
    for n in counts:
        t = time.perf_counter()
        stats.clustered_mean_delta(deltas[0], clusters[0], n_resamples=n, seed=0)
        one = time.perf_counter() - t
        t = time.perf_counter()
        stats.stratified_mean_delta(deltas, clusters, n_resamples=n, seed=0)
        mean = time.perf_counter() - t
        out[n] = {"one_dataset_s": one, "mean_over_datasets_s": mean}
        print(f"point, {n:6d} resamples: one dataset ({args.images} images, {args.images * args.masks} masks) "
              f"{one:.3f} s; mean over {args.datasets} datasets {mean:.3f} s")
    return out


def bench_evaluator(repeats: int):
    if not COCO_MINI.is_file():
        print(f"COCO-MINI not found at {COCO_MINI}: evaluator timing skipped")
        return None
    from pycocotools import mask as M

    from sambench.metrics import coco_eval
    from sambench.metrics.resample import EvaluatorResampler

    gt = coco_eval.GroundTruth(COCO_MINI)
    coco = gt.coco()
    rng = np.random.default_rng(0)
    results = []
    for a in gt.data["annotations"]:
        if a.get("iscrowd"):
            continue
        m = coco.annToMask(a)
        if rng.uniform() < 0.3:
            m = np.roll(m, int(rng.integers(-10, 10)), axis=1)
        r = M.encode(np.asfortranarray(m))
        r["counts"] = r["counts"].decode()
        results.append({"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": r,
                        "score": float(rng.uniform())})
    from sambench.metrics.resample import faster_coco_evaluate

    out = {}
    for name in ("pycocotools", "faster-coco-eval"):
        t = time.perf_counter()
        if name == "pycocotools":
            ev = coco_eval.mask_ap(gt, copy.deepcopy(results), return_evaluator=True)["evaluator_object"]
        else:
            ev = faster_coco_evaluate(gt.data, results, sorted(gt.images))
        evaluate = time.perf_counter() - t
        res = EvaluatorResampler([ev])
        picks = np.random.default_rng(1).integers(0, res.n_images, size=(repeats, res.n_images))
        t = time.perf_counter()
        for row in picks:
            res.metrics([(0, int(i)) for i in row])
        per = (time.perf_counter() - t) / repeats
        print(f"instances ({name}, COCO-MINI {res.n_images} images, {len(gt.category_ids)} categories): evaluate "
              f"{evaluate:.2f} s once; {per:.3f} s per evaluator resample; a compare of 2 runs makes 2 x (resamples "
              f"+ permutations) of them: {4 * 200 * per:.0f} s at the default 200")
        out[name] = {"evaluate_s": evaluate, "per_resample_s": per, "n_images": res.n_images}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", type=int, default=23)
    p.add_argument("--images", type=int, default=400)
    p.add_argument("--masks", type=int, default=3)
    p.add_argument("--resamples", default="500,2000,10000")
    p.add_argument("--evaluator-repeats", type=int, default=10)
    p.add_argument("--json", help="write the timings here")
    args = p.parse_args()
    counts = [int(x) for x in args.resamples.split(",")]
    out = {"point": bench_point(args, counts), "instances": bench_evaluator(args.evaluator_repeats)}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
