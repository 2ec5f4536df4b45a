"""Dataset metrics recomputed on resampled images, through the official aggregation code.

A bootstrap over images needs the metric of a *resampled* image set (images drawn with
replacement). For metrics that are not means over images (AP, AR, ODS), that is the metric of a
dataset in which each drawn image appears as many times as it was drawn. Both classes here take
per-image results once and recompute the dataset metric for any such multiset of images, and for
"swapped" sets that take some images' results from the other run (paired permutation tests):

* :class:`BoundaryResampler` -- BSDS boundary benchmark (ODS, OIS, AP) from the per-image counts
  ``cntR sumR cntP sumP`` at every threshold. Summed counts go through the same scoring helpers as
  :func:`sambench.metrics.bsds.collect_results` (``maxF`` interpolation, the benchmark's AP); each
  image's OIS threshold is its own and does not change under resampling. A test checks the result
  equals ``collect_results`` on the literally repeated images.
* :class:`EvaluatorResampler` -- COCO / LVIS mask AP and AR: the evaluator's own per-image results
  (pycocotools ``COCOeval.evalImgs``, the output of ``evaluateImg`` per category, area range and
  image; faster-coco-eval's ``_evalImgs_cpp``, the same per-image results from its C++
  ``evaluateImg``; ``LVISEval.eval_imgs``) are laid out for the drawn images and the evaluator's
  own ``accumulate()`` and ``summarize()`` run on them. Nothing of AP is computed here. A test
  checks the result equals evaluating a ground truth and results in which the images are really
  copied, for each evaluator.

Cost: a boundary resample is a few matrix products (microseconds per resample); an evaluator
resample is one ``accumulate()`` + ``summarize()`` of the evaluator: on COCO-MINI (79 val2017
images, 80 categories) 0.5 s with pycocotools, 0.12 s with faster-coco-eval (C++ accumulate;
identical numbers), and it grows with images x categories.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .bsds.counts import BoundaryCounts
from .bsds.scores import _area_pr, _max_f, fmeasure

BOUNDARY_METRICS = ("ODS", "OIS", "AP")


class BoundaryResampler:
    """ODS / OIS / AP of the boundary benchmark for weighted image multisets.

    Arguments:
      per_image: the per-image :class:`BoundaryCounts` of one run (all at the same thresholds).
    """

    def __init__(self, per_image: Sequence[BoundaryCounts]):
        if not per_image:
            raise ValueError("no per-image boundary counts")
        self.thresholds = np.asarray(per_image[0].thresholds, dtype=np.float64)
        T = len(self.thresholds)
        arr = np.stack([np.stack([c.cnt_r, c.sum_r, c.cnt_p, c.sum_p]).astype(np.float64) for c in per_image])
        if arr.shape[1:] != (4, T):
            raise ValueError("all images must be evaluated at the same thresholds")
        self.counts = arr.reshape(len(per_image), 4 * T)  # (J, 4T)
        r = arr[:, 0] / (arr[:, 1] + (arr[:, 1] == 0))
        p = arr[:, 2] / (arr[:, 3] + (arr[:, 3] == 0))
        best = np.argmax(fmeasure(r, p), axis=1)  # first maximum, as collect_results (OIS)
        self.best_counts = arr[np.arange(len(per_image)), :, best]  # (J, 4)

    @property
    def n_images(self) -> int:
        return int(self.counts.shape[0])

    def scores(self, weights: np.ndarray) -> np.ndarray:
        """Metrics for image weights.

        Arguments:
          weights: (B, J) how many times each image counts in each of B image sets (float).
        Returns:
          (3, B) float64: ODS, OIS, AP.
        """
        w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        T = len(self.thresholds)
        tot = (w @ self.counts).reshape(len(w), 4, T)
        best = w @ self.best_counts
        out = np.empty((3, len(w)))
        for b in range(len(w)):
            R = tot[b, 0] / (tot[b, 1] + (tot[b, 1] == 0))
            P = tot[b, 2] / (tot[b, 3] + (tot[b, 3] == 0))
            out[0, b] = _max_f(self.thresholds, R, P)[3]
            r = best[b, 0] / (best[b, 1] + (best[b, 1] == 0))
            p = best[b, 2] / (best[b, 3] + (best[b, 3] == 0))
            out[1, b] = float(fmeasure(r, p))
            out[2, b] = _area_pr(R, P, "first")
        return out


def index_weights(idx: np.ndarray, n: int) -> np.ndarray:
    """(..., J) image indices of resamples -> (R, n) counts of each image per resample."""
    idx = np.asarray(idx).reshape(-1, np.shape(idx)[-1])
    w = np.zeros((len(idx), n))
    rows = np.repeat(np.arange(len(idx)), idx.shape[1])
    np.add.at(w, (rows, idx.ravel()), 1.0)
    return w


def swap_weights(signs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Signed unit indices of a swap test (``+(j+1)`` keep, ``-(j+1)`` swap), (..., J) ->
    (keep, swap) 0/1 weights, each (R, J)."""
    s = np.asarray(signs).reshape(-1, np.shape(signs)[-1])
    n = s.shape[1]
    keep = np.zeros((len(s), n))
    swap = np.zeros((len(s), n))
    rows = np.repeat(np.arange(len(s)), n)
    cols = np.abs(s).ravel() - 1
    np.add.at(keep, (rows, cols), (s.ravel() > 0).astype(np.float64))
    np.add.at(swap, (rows, cols), (s.ravel() < 0).astype(np.float64))
    return keep, swap


# ---------------------------------------------------------------------------------------------
# COCO / LVIS evaluators
# ---------------------------------------------------------------------------------------------

class EvaluatorResampler:
    """Mask AP / AR of an evaluated run for any multiset of its images, by the evaluator itself.

    Arguments:
      evaluators: one evaluator per run, each after ``evaluate()`` (pycocotools ``COCOeval`` or
        ``lvis.LVISEval``), all on the same ground truth, images and parameters.
      metric_names: for COCOeval, the names of ``stats`` in order (default
        ``sambench.metrics.coco_eval.COCO_STAT_NAMES``); LVISEval reports its ``results`` keys.
    Raises:
      ValueError: evaluators of different kinds, image lists or category lists.
    """

    def __init__(self, evaluators: Sequence[object], metric_names: Sequence[str] = ()):
        from .coco_eval import COCO_STAT_NAMES

        if not evaluators:
            raise ValueError("no evaluator to resample")
        self.evaluators = list(evaluators)
        self.kind = _kind(self.evaluators[0])
        if any(_kind(e) != self.kind for e in self.evaluators):
            raise ValueError("cannot mix results of different evaluators")
        first = self.evaluators[0]
        if self.kind in ("coco", "faster"):
            p = first._paramsEval
            self.image_ids = list(p.imgIds)
            self.n_cats = len(p.catIds) if p.useCats else 1
            self.n_areas = len(p.areaRng)
            self.entries = [e.evalImgs if self.kind == "coco" else e._evalImgs_cpp for e in self.evaluators]
            self.metric_names = list(metric_names) or list(COCO_STAT_NAMES)
        else:
            p = first.params
            self.image_ids = list(p.img_ids)
            self.n_cats = len(p.cat_ids) if p.use_cats else 1
            self.n_areas = len(p.area_rng)
            self.entries = [e.eval_imgs for e in self.evaluators]
            self.metric_names = list(metric_names)
        for e in self.evaluators[1:]:
            ids = list(e._paramsEval.imgIds) if self.kind != "lvis" else list(e.params.img_ids)
            if ids != self.image_ids:
                raise ValueError("the evaluations cover different images")
        expected = self.n_cats * self.n_areas * len(self.image_ids)
        if any(len(x) != expected for x in self.entries):
            raise ValueError("per-image evaluation results of unexpected length (evaluate() not run?)")

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    def metrics(self, selection: Sequence[Tuple[int, int]]) -> Dict[str, float]:
        """The evaluator's metrics for a list of (run index, image position) pairs.

        Each pair contributes that run's per-image results of that image once; positions may
        repeat (a bootstrap resample) and runs may mix (a swap permutation).
        Returns:
          metric name -> value, as the evaluator's summarize() reports it (-1 where undefined).
        """
        I = self.n_images
        M = len(selection)
        runs = np.fromiter((r for r, _ in selection), dtype=np.int64, count=M)
        pos = np.fromiter((i for _, i in selection), dtype=np.int64, count=M)
        laid: List[object] = []
        for k in range(self.n_cats):
            for a in range(self.n_areas):
                base = (k * self.n_areas + a) * I
                laid.extend(self.entries[r][base + i] for r, i in zip(runs, pos))
        ev = copy.copy(self.evaluators[int(runs[0]) if M else 0])
        new_ids = list(range(M))
        with contextlib.redirect_stdout(io.StringIO()):
            if self.kind == "faster":
                import faster_coco_eval.faster_eval_api_cpp as _C

                ev._paramsEval = copy.copy(ev._paramsEval)
                ev._paramsEval.imgIds = new_ids
                ev.params = copy.copy(ev.params)
                ev.params.imgIds = new_ids
                ev.eval = _C.COCOevalAccumulate(ev._paramsEval, laid)  # what its accumulate() runs
                ev.matched = False
                ev.summarize()
                return {name: float(v) for name, v in zip(self.metric_names, ev.stats)}
            if self.kind == "coco":
                ev.evalImgs = laid
                ev._paramsEval = copy.copy(ev._paramsEval)
                ev._paramsEval.imgIds = new_ids
                ev.params = copy.copy(ev.params)
                ev.params.imgIds = new_ids
                ev.eval = {}
                ev.accumulate()
                ev.summarize()
                return {name: float(v) for name, v in zip(self.metric_names, ev.stats)}
            from .coco_eval import _lvis_numpy_compat

            ev.eval_imgs = laid
            ev.params = copy.copy(ev.params)
            ev.params.img_ids = new_ids
            ev.results = OrderedDict()
            ev.eval = {}
            with _lvis_numpy_compat():
                ev.accumulate()
                ev.summarize()
            return {k: float(v) for k, v in ev.results.items()}

    def resampled(self, run: int, idx: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """(len(names), R) metric values of ``run`` for R resamples of image positions (R, J)."""
        idx = np.asarray(idx).reshape(-1, np.shape(idx)[-1])
        out = np.empty((len(names), len(idx)))
        for b, row in enumerate(idx):
            m = self.metrics([(run, int(i)) for i in row])
            out[:, b] = [m[n] for n in names]
        return out

    def swapped(self, run_a: int, run_b: int, signs: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """(len(names), R) metric of B minus A for R swap patterns (``+(j+1)`` keep, ``-(j+1)`` swap)."""
        s = np.asarray(signs).reshape(-1, np.shape(signs)[-1])
        out = np.empty((len(names), len(s)))
        for b, row in enumerate(s):
            pos = np.abs(row) - 1
            keep = row > 0
            ma = self.metrics([(run_a if k else run_b, int(i)) for k, i in zip(keep, pos)])
            mb = self.metrics([(run_b if k else run_a, int(i)) for k, i in zip(keep, pos)])
            out[:, b] = [mb[n] - ma[n] for n in names]
        return out


def _kind(evaluator) -> str:
    if hasattr(evaluator, "eval_imgs"):
        return "lvis"
    return "faster" if hasattr(evaluator, "_evalImgs_cpp") else "coco"


def faster_coco_evaluate(gt_data: dict, results: List[dict], img_ids: Sequence, use_cats: bool = True,
                         max_dets: Optional[Sequence[int]] = None):
    """faster-coco-eval's ``COCOeval_faster`` (segm) after ``evaluate()``, its per-image results kept.

    The parameters are pycocotools' defaults, as :func:`sambench.metrics.coco_eval.coco_eval` uses
    them (``useCats``, ``maxDets``, area ranges, IoU thresholds); one thread, so the order of the
    per-image results is fixed. For COCO-format annotation files only (LVIS goes through LVISEval).

    Arguments:
      gt_data: the parsed annotation json (not modified).
      results: COCO results (copied).
      img_ids: the json's ids of the images to evaluate.
    Returns:
      the evaluated ``COCOeval_faster`` (``separate_eval=True``: ``_evalImgs_cpp`` holds one entry
      per category, area range and image).
    """
    from faster_coco_eval import COCO
    from faster_coco_eval.core.faster_eval_api import COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(copy.deepcopy(gt_data))
        dt = gt.loadRes(copy.deepcopy(list(results)))
        ev = COCOeval_faster(gt, dt, "segm", separate_eval=True, print_function=lambda *a, **k: None,
                             rle_iou_max_workers=1)
        ev.params.imgIds = sorted(img_ids)
        ev.params.useCats = int(bool(use_cats))
        if max_dets is not None:
            ev.params.maxDets = list(max_dets)
        ev.evaluate()
    return ev
