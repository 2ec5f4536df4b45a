"""Per-image counts of the BSDS benchmark (``evaluation_bdry_image``): cntR, sumR, cntP, sumP per threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from .matching import DEFAULT_MAX_DIST, DEFAULT_OUTLIER_COST, _match, _match_geometry, _MatchGeometry
from .thinning import as_bool_map, thin_boundaries

ArrayLike = Union[np.ndarray, Sequence[float]]


def make_thresholds(n: int) -> np.ndarray:
    """The benchmark's ``linspace(1/(n+1), 1-1/(n+1), n)``, computed as MATLAB does.

    MATLAB's linspace evaluates ``d1 + (k * (d2 - d1)) / (n - 1)`` (product first), numpy's
    ``d1 + k * ((d2 - d1) / (n - 1))``; the last bit matters because 8-bit maps take values
    ``v / 255`` that can equal a threshold exactly (e.g. 51/255 = 0.2).

    Arguments:
        n: number of thresholds (>= 1).

    Returns:
        float64 array of ``n`` increasing thresholds in (0, 1).
    """
    n = int(n)
    if n < 1:
        raise ValueError("the number of thresholds must be >= 1")
    d1 = 1.0 / (n + 1)
    d2 = 1.0 - 1.0 / (n + 1)
    if n == 1:
        return np.array([d2])
    k = np.arange(n, dtype=np.float64)
    t = d1 + (k * (d2 - d1)) / (n - 1)
    t[0] = d1
    t[-1] = d2
    return t


@dataclass
class BoundaryCounts:
    """Per-threshold counts of one image, the content of the benchmark's ``<id>_ev1.txt``.

    Attributes:
        thresholds: (T,) thresholds (for segmentation inputs: 1..K).
        cnt_r: (T,) matched ground-truth pixels, summed over annotators.
        sum_r: (T,) ground-truth pixels, summed over annotators.
        cnt_p: (T,) predicted pixels matched to at least one annotator.
        sum_p: (T,) predicted (thinned) pixels.
    """

    thresholds: np.ndarray
    cnt_r: np.ndarray
    sum_r: np.ndarray
    cnt_p: np.ndarray
    sum_p: np.ndarray

    def recall(self) -> np.ndarray:
        """Recall per threshold, ``cnt_r / sum_r`` (0 where ``sum_r`` is 0)."""
        return self.cnt_r / (self.sum_r + (self.sum_r == 0))

    def precision(self) -> np.ndarray:
        """Precision per threshold, ``cnt_p / sum_p`` (0 where ``sum_p`` is 0)."""
        return self.cnt_p / (self.sum_p + (self.sum_p == 0))

    def as_array(self) -> np.ndarray:
        """(T, 5) array ``[thresh cntR sumR cntP sumP]`` (the ``_ev1.txt`` columns)."""
        return np.stack([self.thresholds, self.cnt_r, self.sum_r, self.cnt_p, self.sum_p], axis=1)


def _prepare_ground_truth(ground_truth: Sequence[np.ndarray], shape: Tuple[int, int]) -> List[np.ndarray]:
    gts = [as_bool_map(g, "ground truth") for g in ground_truth]
    if not gts:
        raise ValueError("ground_truth is empty (the benchmark refuses images without annotations)")
    for g in gts:
        if g.shape != tuple(shape):
            raise ValueError(f"ground truth shape {g.shape} differs from the prediction's {tuple(shape)}")
    return gts


def _count_one(bmap: np.ndarray, gts: List[np.ndarray], geo: _MatchGeometry) -> Tuple[int, int, int, int]:
    """(cntR, sumR, cntP, sumP) of one binary map against all annotators."""
    acc = np.zeros(bmap.size, dtype=bool)
    cnt_r = 0
    sum_r = 0
    for g in gts:
        pix1, part1, _pix2, part2 = _match(bmap, g, geo)
        acc[pix1[part1 >= 0]] = True
        cnt_r += int((part2 >= 0).sum())
        sum_r += int(np.count_nonzero(g))
    return cnt_r, sum_r, int(acc.sum()), int(np.count_nonzero(bmap))


def evaluate_boundary_maps(
    bmaps: Iterable[np.ndarray],
    ground_truth: Sequence[np.ndarray],
    max_dist: float = DEFAULT_MAX_DIST,
    thin: bool = True,
    thresholds: Optional[ArrayLike] = None,
    outlier_cost: float = DEFAULT_OUTLIER_COST,
) -> BoundaryCounts:
    """Counts for a sequence of hard boundary maps (the benchmark's ``segs`` branch).

    Arguments:
        bmaps: K binary HxW maps (e.g. ``seg_to_boundaries`` of K segmentations).
        ground_truth: annotators' HxW boundary maps.
        max_dist: tolerance as a fraction of the image diagonal.
        thin: apply ``bwmorph(.., 'thin', inf)`` to every map first (benchmark default: yes).
        thresholds: the values reported in the threshold column; default ``1..K`` (benchmark).
        outlier_cost: see :func:`correspond_pixels`.

    Returns:
        :class:`BoundaryCounts` with one row per map.
    """
    maps = [as_bool_map(b, "boundary map") for b in bmaps]
    if not maps:
        raise ValueError("no boundary maps given")
    shape = maps[0].shape
    gts = _prepare_ground_truth(ground_truth, shape)
    geo = _match_geometry(shape, max_dist, outlier_cost)
    rows = []
    for b in maps:
        if b.shape != shape:
            raise ValueError("all boundary maps must have the same shape")
        if thin:
            b = thin_boundaries(b)
        rows.append(_count_one(b, gts, geo))
    c = np.asarray(rows, dtype=np.float64)
    thr = np.arange(1, len(maps) + 1, dtype=np.float64) if thresholds is None else np.asarray(thresholds, np.float64)
    if thr.shape != (len(maps),):
        raise ValueError("thresholds must have one value per map")
    return BoundaryCounts(thr, c[:, 0], c[:, 1], c[:, 2], c[:, 3])


def evaluate_boundary_image(
    pred: np.ndarray,
    ground_truth: Sequence[np.ndarray],
    thresholds: Union[int, ArrayLike] = 99,
    max_dist: float = DEFAULT_MAX_DIST,
    thin: bool = True,
    outlier_cost: float = DEFAULT_OUTLIER_COST,
) -> BoundaryCounts:
    """Per-threshold counts of one soft boundary map, as ``evaluation_bdry_image``.

    For each threshold t: ``bmap = pred >= t``; thinned with ``bwmorph(.., 'thin', inf)`` when
    ``thin``; matched with :func:`correspond_pixels` against every annotator in turn.  cntR sums
    the matched ground-truth pixels over annotators, sumR their pixel counts; a predicted pixel
    counts in cntP when it is matched to *any* annotator; sumP counts the (thinned) predicted pixels.

    Arguments:
        pred: HxW soft boundary map in [0, 1] (a PNG read as value/255, see :func:`read_prediction_png`).
        ground_truth: the annotators' HxW boundary maps (nonzero = boundary).
        thresholds: an int n for the benchmark's ``linspace(1/(n+1), 1-1/(n+1), n)``
            (see :func:`make_thresholds`), or explicit thresholds.
        max_dist: matching tolerance as a fraction of the image diagonal (0.0075).
        thin: thin the thresholded maps (benchmark default: True).
        outlier_cost: see :func:`correspond_pixels`.

    Returns:
        :class:`BoundaryCounts` (thresholds, cnt_r, sum_r, cnt_p, sum_p).
    """
    pb = np.asarray(pred, dtype=np.float64)
    if pb.ndim != 2:
        raise ValueError(f"pred must be a 2-D map, got shape {pb.shape}")
    if isinstance(thresholds, (int, np.integer)):
        thr = make_thresholds(int(thresholds))
    else:
        thr = np.asarray(thresholds, dtype=np.float64).ravel()
    gts = _prepare_ground_truth(ground_truth, pb.shape)
    geo = _match_geometry(pb.shape, max_dist, outlier_cost)
    rows: List[Tuple[int, int, int, int]] = []
    prev: Optional[np.ndarray] = None
    for t in thr:
        raw = np.ascontiguousarray(pb >= t)
        if prev is not None and np.array_equal(raw, prev):
            rows.append(rows[-1])  # same pixel set as the previous threshold: same counts
            continue
        prev = raw
        rows.append(_count_one(thin_boundaries(raw) if thin else raw, gts, geo))
    c = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    return BoundaryCounts(thr.copy(), c[:, 0], c[:, 1], c[:, 2], c[:, 3])

