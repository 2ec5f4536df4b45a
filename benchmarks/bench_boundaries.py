#!/usr/bin/env python
"""Speed of the BSDS500 boundary benchmark re-implementation (sambench.metrics.bsds).

Scores N BSDS500 images at 99 thresholds (maxDist 0.0075, thinning, all annotators) with
``BoundaryEvaluator(nproc=1)`` and ``BoundaryEvaluator(nproc=<all cores>)``, and prints seconds
per image per core (wall and CPU) and the parallel speed-up.  The soft maps scored are the
zero-shot soft-Canny maps of :mod:`sambench.generation.edge_maps` (computed first, not timed); ``--pred-dir``
scores existing ``<id>.png`` maps instead.  The two runs must give identical results (checked).

Usage::

    python benchmarks/bench_boundaries.py --n 20
    python benchmarks/bench_boundaries.py --n 5 --pred-dir ../shared/data/BSDS500/bench/data/png \\
        --gt-dir ../shared/data/BSDS500/bench/data/groundTruth
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # after the installed sambench (its tasks/ and datasets need the install)
    sys.path.append(str(REPO))

from sambench.metrics.bsds import BoundaryEvaluator, _warm_up, read_prediction_png  # noqa: E402
from sambench.generation.edge_maps import CLASSICAL_EDGE_METHODS  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "BSDS500" / "data"


def _cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (pool workers)."""
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20, help="number of images (sorted ids)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--method", default="canny", choices=sorted(CLASSICAL_EDGE_METHODS), help="soft maps to score")
    ap.add_argument("--pred-dir", type=Path, default=None, help="score <id>.png maps from here instead")
    ap.add_argument("--gt-dir", type=Path, default=None, help="ground-truth .mat folder (default: BSDS500 <split>)")
    ap.add_argument("--thresholds", type=int, default=99)
    ap.add_argument("--nproc", type=int, default=os.cpu_count() or 1, help="the 'all cores' run")
    args = ap.parse_args(argv)

    gt_dir = args.gt_dir or DATA / "groundTruth" / args.split
    if not gt_dir.is_dir():
        print(f"ground truth not found: {gt_dir}", file=sys.stderr)
        return 2
    if args.pred_dir is not None:
        ids = sorted(p.stem for p in args.pred_dir.glob("*.png") if (gt_dir / f"{p.stem}.mat").exists())[: args.n]
        preds = {i: read_prediction_png(args.pred_dir / f"{i}.png") for i in ids}
        what = f"PNG maps from {args.pred_dir}"
    else:
        from PIL import Image

        img_dir = DATA / "images" / args.split
        ids = sorted(p.stem for p in img_dir.glob("*.jpg") if (gt_dir / f"{p.stem}.mat").exists())[: args.n]
        f = CLASSICAL_EDGE_METHODS[args.method]
        preds = {i: f(np.asarray(Image.open(img_dir / f"{i}.jpg").convert("RGB"))) for i in ids}
        what = f"{args.method} soft maps of BSDS500 {args.split}"
    if not ids:
        print("no images", file=sys.stderr)
        return 2
    gts = {i: gt_dir / f"{i}.mat" for i in ids}
    _warm_up()  # numba compilation / cache load is not benchmark time
    print(f"{len(ids)} images ({what}), {args.thresholds} thresholds, os.cpu_count()={os.cpu_count()}", flush=True)

    results = {}
    for nproc in (1, args.nproc):
        ev = BoundaryEvaluator(thresholds=args.thresholds, nproc=nproc)
        c0, t0 = _cpu_seconds(), time.perf_counter()
        res = ev.evaluate(preds, gts)
        wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        results[nproc] = (wall, cpu, res)
        print(
            f"nproc={nproc}: wall {wall:.1f} s = {wall / len(ids):.3f} s/image, "
            f"{wall * nproc / len(ids):.3f} s/image/core (wall x cores), CPU {cpu / len(ids):.3f} s/image; "
            f"ODS {res.ods:.4f}",
            flush=True,
        )
    (w1, _, r1), (wn, _, rn) = results[1], results[args.nproc]
    same = r1.to_dict() == rn.to_dict()
    print(f"speed-up nproc=1 -> nproc={args.nproc}: {w1 / wn:.2f}x wall; identical results: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
