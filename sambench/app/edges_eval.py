"""``sambench edges-eval``: score a folder of edge-map PNGs with the BSDS500 boundary benchmark.

The same benchmark and parameters as the edges task (a run folder given as ``--pred`` brings its
own), so scoring a run's ``edge_maps/`` reproduces its numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import numpy as np

from sambench.data import BadSampleError
from sambench.datasets import build_dataset
from sambench.metrics.bsds import DEFAULT_MAX_DIST, DEFAULT_OUTLIER_COST, BoundaryEvaluator
from sambench.tasks.edges import DEFAULT_THRESHOLDS, EDGE_DIR, boundary_maps


def add_arguments(p) -> None:
    p.add_argument("--pred", required=True,
                   help="folder of <image id>.png edge maps (8-bit, scored as value/255), or an edges run folder")
    p.add_argument("--root", required=True, help="BSDS500 folder (images/<split>/, groundTruth/<split>/)")
    p.add_argument("--dataset", default="bsds500", help="dataset adapter giving the boundary maps (default bsds500)")
    p.add_argument("--split", help="split (default: the adapter's, test for bsds500)")
    p.add_argument("--thresholds", type=int, help="benchmark thresholds (default 99, or the run's when --pred is a run)")
    p.add_argument("--max-dist", type=float, help="matching tolerance (default 0.0075, or the run's)")
    p.add_argument("--no-thin", action="store_true", help="do not thin the thresholded maps")
    p.add_argument("--present-only", action="store_true",
                   help="score only the images that have a PNG (default: every image of the split needs one)")
    p.add_argument("--nproc", type=int, help="worker processes (default: all cores; numbers do not depend on it)")
    p.add_argument("--out", help="folder for edges_eval.json and the benchmark's eval_bdry*.txt files")


def run_edges_eval(args) -> int:
    """score a folder of 8-bit edge-map PNGs with the BSDS500 boundary benchmark (ODS, OIS, AP, R50)"""
    pred = Path(args.pred)
    thresholds, max_dist, thin = DEFAULT_THRESHOLDS, DEFAULT_MAX_DIST, not args.no_thin
    outlier_cost = DEFAULT_OUTLIER_COST
    if (pred / "config.json").is_file() and (pred / EDGE_DIR).is_dir():
        config = json.loads((pred / "config.json").read_text())
        bench = (config.get("protocol") or {}).get("benchmark", {})
        thresholds = bench.get("thresholds", thresholds)
        max_dist = bench.get("max_dist", max_dist)
        thin = bench.get("thin", True) and not args.no_thin
        outlier_cost = bench.get("outlier_cost", outlier_cost)
        pred = pred / EDGE_DIR
    if args.thresholds is not None:
        thresholds = args.thresholds
    if args.max_dist is not None:
        max_dist = args.max_dist
    if not pred.is_dir():
        raise FileNotFoundError(f"{pred}: no such folder of edge maps")
    adapter = build_dataset(args.dataset, args.root, split=args.split)
    ids = [str(i) for i in adapter.image_ids()]
    have = {p.stem for p in pred.glob("*.png")}
    missing = [i for i in ids if i not in have]
    if missing and not args.present_only:
        raise ValueError(f"{pred}: {len(missing)} of {len(ids)} images of {adapter.name}/{adapter.split} have no PNG "
                         f"(e.g. {missing[0]}.png); pass --present-only to score the others")
    ids = [i for i in ids if i in have]
    if not ids:
        raise ValueError(f"{pred}: no PNG named after an image of {adapter.name}/{adapter.split}")

    def ground_truth(image_id: str) -> List[np.ndarray]:
        try:
            return boundary_maps(adapter.load_sample(image_id), adapter.name)
        except BadSampleError as exc:  # the benchmark needs every image's ground truth: one line, naming the file
            raise ValueError(str(exc)) from exc

    ev = BoundaryEvaluator(thresholds=thresholds if isinstance(thresholds, int) else np.asarray(thresholds),
                           max_dist=max_dist, thin=thin, nproc=args.nproc, outlier_cost=outlier_cost)
    res = ev.evaluate({i: pred / f"{i}.png" for i in ids}, ground_truth, out_dir=args.out)
    if args.out:
        d = res.to_dict()
        d.update({"pred": str(pred), "dataset": adapter.name, "split": adapter.split,
                  "benchmark": {"thresholds": thresholds, "max_dist": max_dist, "thin": thin,
                                "outlier_cost": outlier_cost}})
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "edges_eval.json").write_text(json.dumps(d, indent=1))
    r50 = "-" if np.isnan(res.r50) else f"{res.r50:.4f}"
    print(f"{adapter.name}/{adapter.split}: ODS={res.ods:.4f} OIS={res.ois:.4f} AP={res.ap:.4f} R50={r50} "
          f"over {len(ids)} images" + (f" ({len(missing)} without PNG skipped)" if missing else ""))
    return 0
