"""``boundaryBench`` over a dataset: per-image counts in parallel worker processes (deterministic), then scores."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Literal, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .counts import BoundaryCounts, evaluate_boundary_image, evaluate_boundary_maps
from .files import load_bsds_ground_truth, load_prediction
from .matching import DEFAULT_MAX_DIST, DEFAULT_OUTLIER_COST, correspond_pixels
from .scores import BoundaryResult, collect_results
from .thinning import thin_boundaries

ArrayLike = Union[np.ndarray, Sequence[float]]
PathLike = Union[str, "os.PathLike[str]"]
Prediction = Union[np.ndarray, Sequence[np.ndarray], PathLike]
GroundTruth = Union[Sequence[np.ndarray], PathLike]
GroundTruthSource = Union[Mapping[str, GroundTruth], Callable[[str], Sequence[np.ndarray]]]

_STATE: Dict[str, Any] = {}
_FORK_LOCK = threading.Lock()


def _resolve_gt(source: GroundTruthSource, key: Any) -> List[np.ndarray]:
    if callable(source) and not isinstance(source, Mapping):
        item = source(key)
    elif key in source:
        item = source[key]
    else:
        item = source[str(key)]
    if isinstance(item, (str, os.PathLike)):
        return load_bsds_ground_truth(item)
    return [np.asarray(g) for g in item]


def _resolve_pred(item: Prediction) -> Union[np.ndarray, List[np.ndarray]]:
    if isinstance(item, (str, os.PathLike)):
        return load_prediction(item)
    if isinstance(item, np.ndarray):
        return item
    return [np.asarray(b) for b in item]  # a sequence of hard boundary maps


def _evaluate_item(pred: Prediction, gt: List[np.ndarray], params: Dict[str, Any]) -> BoundaryCounts:
    p = _resolve_pred(pred)
    if isinstance(p, list):
        return evaluate_boundary_maps(p, gt, max_dist=params["max_dist"], thin=params["thin"], outlier_cost=params["outlier_cost"])
    return evaluate_boundary_image(
        p, gt, thresholds=params["thresholds"], max_dist=params["max_dist"], thin=params["thin"], outlier_cost=params["outlier_cost"]
    )


def _worker_by_index(index: int) -> BoundaryCounts:
    """Pool task under 'fork': the inputs live in the inherited module state."""
    key = _STATE["keys"][index]
    gt = _resolve_gt(_STATE["gts"], key)
    return _evaluate_item(_STATE["preds"][key], gt, _STATE["params"])


def _worker_by_value(task: Tuple[Prediction, List[np.ndarray], Dict[str, Any]]) -> BoundaryCounts:
    """Pool task under 'spawn'/'forkserver': the inputs are pickled."""
    pred, gt, params = task
    return _evaluate_item(pred, gt, params)


def _warm_up() -> None:
    """Compile (or load from cache) the numba kernels before forking workers."""
    z = np.zeros((8, 8), dtype=bool)
    z[2:6, 3] = True
    thin_boundaries(z)
    correspond_pixels(z, z, 0.2)


class BoundaryEvaluator:
    """Dataset boundary benchmark (BSDS500 protocol), parallel over images and deterministic.

    Example::

        ev = BoundaryEvaluator(thresholds=99, nproc=8)
        res = ev.evaluate({"2018": pb}, {"2018": "groundTruth/test/2018.mat"}, out_dir="out/")
        print(res.to_dict()["ods"])

    Arguments:
        thresholds: int n (benchmark thresholds, default 99) or explicit thresholds for soft maps.
        max_dist: matching tolerance as a fraction of the image diagonal (0.0075).
        thin: thin thresholded maps before matching (True).
        nproc: worker processes (default ``os.cpu_count()``); 1 runs in-process.  Results do not
            depend on it.
        outlier_cost: see :func:`correspond_pixels`.
        ap_unique: see :func:`collect_results`.
        progress: print one line per evaluated image to stderr.
    """

    def __init__(
        self,
        thresholds: Union[int, ArrayLike] = 99,
        max_dist: float = DEFAULT_MAX_DIST,
        thin: bool = True,
        nproc: Optional[int] = None,
        outlier_cost: float = DEFAULT_OUTLIER_COST,
        ap_unique: Literal["first", "last"] = "first",
        progress: bool = False,
    ) -> None:
        self.thresholds = thresholds if isinstance(thresholds, (int, np.integer)) else np.asarray(thresholds, np.float64)
        self.max_dist = float(max_dist)
        self.thin = bool(thin)
        self.nproc = int(nproc) if nproc else (os.cpu_count() or 1)
        self.outlier_cost = float(outlier_cost)
        self.ap_unique = ap_unique
        self.progress = progress

    def _params(self) -> Dict[str, Any]:
        return {"thresholds": self.thresholds, "max_dist": self.max_dist, "thin": self.thin, "outlier_cost": self.outlier_cost}

    def evaluate_counts(
        self, predictions: Mapping[str, Prediction], ground_truths: GroundTruthSource
    ) -> Dict[str, BoundaryCounts]:
        """Per-image counts, images in sorted-id order (MATLAB ``dir`` order).

        Arguments:
            predictions: image id -> soft map array, list of hard maps, or a file path.
            ground_truths: image id -> list of boundary maps or a groundTruth ``.mat`` path; or a
                callable ``loader(image_id) -> list of boundary maps``.

        Returns:
            dict image id -> :class:`BoundaryCounts`, in sorted id order.
        """
        keys = sorted(predictions.keys(), key=str)  # ids may be str or int; the order is by str
        ids = [str(k) for k in keys]
        if len(set(ids)) != len(ids):
            raise ValueError("image ids must be distinct as strings")
        preds = dict(predictions)
        params = self._params()
        nproc = max(1, min(self.nproc, len(ids)))
        results: Dict[str, BoundaryCounts] = {}
        if nproc == 1:
            for k, key in enumerate(keys):
                results[ids[k]] = _evaluate_item(preds[key], _resolve_gt(ground_truths, key), params)
                self._report(k, len(ids), ids[k])
            return results
        _warm_up()
        if "fork" in mp.get_all_start_methods():
            # the forked workers inherit the inputs (nothing is pickled; loaders may be lambdas);
            # the lock keeps concurrent evaluators (threads) from mixing their inputs
            with _FORK_LOCK:
                _STATE.update(keys=keys, preds=preds, gts=ground_truths, params=params)
                try:
                    pool = mp.get_context("fork").Pool(nproc)
                finally:
                    _STATE.clear()
            with pool:
                for k, counts in enumerate(pool.imap(_worker_by_index, range(len(ids)), chunksize=1)):
                    results[ids[k]] = counts
                    self._report(k, len(ids), ids[k])
        else:
            tasks = ((preds[k], _resolve_gt(ground_truths, k), params) for k in keys)
            with mp.get_context().Pool(nproc) as pool:
                for k, counts in enumerate(pool.imap(_worker_by_value, tasks, chunksize=1)):
                    results[ids[k]] = counts
                    self._report(k, len(ids), ids[k])
        return results

    def _report(self, k: int, n: int, image_id: str) -> None:
        if self.progress:
            import sys

            print(f"[boundaries] {k + 1}/{n} {image_id}", file=sys.stderr, flush=True)

    def evaluate(
        self,
        predictions: Mapping[str, Prediction],
        ground_truths: GroundTruthSource,
        out_dir: Optional[PathLike] = None,
    ) -> BoundaryResult:
        """Evaluate a set of images and aggregate them.

        Arguments:
            predictions: image id -> soft map (HxW in [0, 1]), list of hard boundary maps, or a
                path (.png, .mat with ucm2/segs, .npy).
            ground_truths: image id -> list of HxW boundary maps or a BSDS groundTruth ``.mat``
                path, or a callable ``loader(image_id)`` returning the list.
            out_dir: if given, write the benchmark's ``eval_bdry*.txt`` files there.

        Returns:
            :class:`BoundaryResult` (``.to_dict()`` gives ods, ois, ap, r50, best_threshold, curves).
        """
        if not predictions:
            raise ValueError("no predictions to evaluate")
        counts = self.evaluate_counts(predictions, ground_truths)
        res = collect_results(counts, ap_unique=self.ap_unique)
        if out_dir is not None:
            res.write_bench_files(out_dir)
        return res

    def evaluate_dirs(
        self,
        pred_dir: PathLike,
        gt_dir: PathLike,
        out_dir: Optional[PathLike] = None,
        image_ids: Optional[Sequence[str]] = None,
    ) -> BoundaryResult:
        """``boundaryBench`` on folders: ``<pred_dir>/<id>.mat`` or ``.png`` against ``<gt_dir>/<id>.mat``.

        Arguments:
            pred_dir: folder of predictions (a ``.mat`` is preferred over a ``.png``, as in the benchmark).
            gt_dir: folder of BSDS ground-truth ``.mat`` files.
            out_dir: where to write the ``eval_bdry*.txt`` files (optional).
            image_ids: ids to evaluate (default: every ``<gt_dir>/*.mat``).

        Returns:
            :class:`BoundaryResult`.
        """
        pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
        ids = list(image_ids) if image_ids is not None else sorted(p.stem for p in gt_dir.glob("*.mat"))
        preds: Dict[str, Prediction] = {}
        for i in ids:
            mat = pred_dir / f"{i}.mat"
            preds[i] = mat if mat.exists() else pred_dir / f"{i}.png"
        gts = {i: gt_dir / f"{i}.mat" for i in ids}
        return self.evaluate(preds, gts, out_dir=out_dir)
