"""Paired comparison statistics for evaluation data clustered by image.

Two runs of one protocol on the same manifest give paired results: per mask (point task), or per
image (the counts of the boundary benchmark, an evaluator's per-image matches). Masks of one
image are not independent (same image, same embedding, often overlapping objects), so every
resampling here treats the *image* as the unit:

* :func:`bootstrap_intervals` -- percentile (or BCa) bootstrap intervals of any statistic, images
  drawn with replacement, independently within each stratum (dataset) when there are several.
  The statistic receives arrays of image indices, so it can be a mean of per-mask deltas or a
  metric recomputed by an official aggregator (AP, ODS) from the resampled images' results.
* :func:`swap_permutation_test` -- paired permutation test: under the null hypothesis the two
  runs' results of one image are exchangeable, so A and B are swapped image by image
  (``scipy.stats.permutation_test`` with ``permutation_type="samples"``, which flips signs;
  exact enumeration when 2^images <= resamples). Two-sided p-value.
* :func:`clustered_mean_delta`, :func:`stratified_mean_delta` -- the point task's per-mask paired
  differences: mean delta, bootstrap intervals over images, sign-flip (swap) p-value or a
  Wilcoxon signed-rank test on per-image mean deltas (``scipy.stats.wilcoxon``).
* :func:`holm` -- Holm's step-down correction (``statsmodels.stats.multitest.multipletests``).

The resampling itself is scipy's (``scipy.stats.bootstrap`` / ``permutation_test``); every function
takes the number of resamples and a seed, and the results carry both, so a comparison can be
reproduced exactly. References: Efron & Tibshirani, *An Introduction to the Bootstrap* (1993),
ch. 13 (percentile interval) and 14 (BCa); Field & Welsh, "Bootstrapping clustered data",
JRSS-B 2007 (resampling clusters); Holm, "A simple sequentially rejective multiple test
procedure", Scand. J. Statist. 1979.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

LEVELS: Tuple[float, ...] = (0.95, 0.99)
CI_METHODS = ("percentile", "BCa", "basic")
TESTS = ("permutation", "wilcoxon")


def level_key(level: float) -> str:
    """``0.95 -> "95"`` (the key of an interval in results and tables)."""
    return f"{100 * level:g}"


@dataclass
class BootstrapResult:
    """Point estimate and bootstrap intervals of one (possibly vector-valued) statistic.

    Attributes:
      estimate: the statistic on the observed data (float, or an array for vector statistics).
      intervals: level key ("95", "99") -> (low, high), each a float or an array like ``estimate``;
        NaN where no interval exists (a stratum with fewer than 2 images, or no resamples).
      n_resamples, seed, method: how the intervals were made.
      distribution: the bootstrap distribution, shape ``estimate.shape + (n_resamples,)`` (not saved).
    """

    estimate: object
    intervals: Dict[str, Tuple[object, object]]
    n_resamples: int
    seed: int
    method: str
    distribution: Optional[np.ndarray] = field(default=None, repr=False)


def _nan_like(x):
    return np.full(np.shape(x), np.nan) if np.ndim(x) else float("nan")


def bootstrap_intervals(statistic: Callable[..., np.ndarray], sizes: Sequence[int], n_resamples: int, seed: int,
                        levels: Sequence[float] = LEVELS, method: str = "percentile",
                        batch: Optional[int] = None) -> BootstrapResult:
    """Bootstrap intervals of ``statistic``, resampling units (images) within each stratum.

    Arguments:
      statistic: called as ``statistic(idx_1, ..., idx_S, axis=-1)`` where ``idx_s`` is an integer
        array (..., n_s) of unit indices of stratum s (with repeats in a resample); returns the
        statistic with the last axis reduced, shape (...) or (k, ...) for k outputs. It is first
        called on ``arange(n_s)`` (the observed data) for the estimate.
      sizes: number of units (images) of each stratum (dataset).
      n_resamples: bootstrap resamples (0: estimate only, NaN intervals).
      seed: seed of the resampling generator.
      levels: confidence levels (default 0.95 and 0.99), all from the same resamples.
      method: "percentile" (default), "BCa" or "basic" (scipy's names).
      batch: resamples per call of ``statistic`` (memory bound); default all.
    Returns:
      :class:`BootstrapResult`.
    Raises:
      ValueError: unknown method, a stratum without units, negative resample count.
    """
    import scipy.stats

    if method not in CI_METHODS:
        raise ValueError(f"interval method '{method}': expected one of {', '.join(CI_METHODS)}")
    if not sizes or min(sizes) < 1:
        raise ValueError(f"every stratum needs at least one image, got sizes {list(sizes)}")
    if n_resamples < 0:
        raise ValueError(f"resamples must be >= 0, got {n_resamples}")
    data = tuple(np.arange(int(n)) for n in sizes)
    estimate = statistic(*data, axis=-1)
    estimate = float(estimate) if np.ndim(estimate) == 0 else np.asarray(estimate, dtype=np.float64)
    if n_resamples == 0 or min(sizes) < 2:
        nan = _nan_like(estimate)
        return BootstrapResult(estimate, {level_key(lv): (nan, nan) for lv in levels}, int(n_resamples), int(seed),
                               method)
    intervals: Dict[str, Tuple[object, object]] = {}
    res = None
    with warnings.catch_warnings():
        # a statistic that does not vary over resamples (identical runs) is not an error: the
        # interval is that single value (percentile); BCa gives NaN there, reported as such
        warnings.simplefilter("ignore", category=scipy.stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", category=RuntimeWarning)
        for lv in levels:
            res = scipy.stats.bootstrap(data, statistic, n_resamples=int(n_resamples) if res is None else 0,
                                        bootstrap_result=res, vectorized=True, paired=False,
                                        confidence_level=float(lv), method=method, batch=batch,
                                        rng=np.random.default_rng(seed))
            lo, hi = res.confidence_interval.low, res.confidence_interval.high
            intervals[level_key(lv)] = (float(lo), float(hi)) if np.ndim(lo) == 0 else (np.asarray(lo), np.asarray(hi))
    return BootstrapResult(estimate, intervals, int(n_resamples), int(seed), method, res.bootstrap_distribution)


def swap_permutation_test(statistic: Callable[..., np.ndarray], n_units: int, n_resamples: int, seed: int,
                          n_outputs: Optional[int] = None):
    """Two-sided p-value of a paired permutation test that swaps A and B image by image.

    Arguments:
      statistic: called as ``statistic(s, axis=-1)`` with ``s`` an integer array (..., n_units)
        holding ``+(j+1)`` where unit j keeps its runs and ``-(j+1)`` where A and B are swapped;
        returns the delta statistic (B minus A) with the last axis reduced. ``s = arange(1, n+1)``
        is the observed data. With ``n_outputs`` it returns ``n_outputs`` statistics along a new
        first axis, each tested on the same swap patterns (the statistic is computed once per
        pattern).
      n_units: number of images.
      n_resamples: random swap patterns (all 2^n_units are enumerated when that is fewer).
      seed: seed of the generator.
    Returns:
      p in (0, 1] (a list of them with ``n_outputs``): the share of swap patterns whose statistic
      is at least as far from 0 as the observed one (scipy's two-sided rule: twice the smaller
      tail, at most 1). 1.0 when the statistic is 0 under every pattern (identical runs).
    """
    import scipy.stats

    if n_units < 1:
        raise ValueError("a permutation test needs at least one image")
    if n_resamples < 1:
        return float("nan") if n_outputs is None else [float("nan")] * n_outputs
    if n_units == 1:  # the two patterns (kept, swapped) are equally extreme: exactly p = 1
        return 1.0 if n_outputs is None else [1.0] * n_outputs
    signs = np.arange(1, n_units + 1)

    def run(stat) -> float:
        res = scipy.stats.permutation_test((signs,), stat, permutation_type="samples", vectorized=True,
                                           n_resamples=int(n_resamples), alternative="two-sided",
                                           rng=np.random.default_rng(seed))
        return float(res.pvalue)

    if n_outputs is None:
        return run(statistic)
    cache: Dict[bytes, np.ndarray] = {}

    def output(k: int):
        def stat(s, axis=-1):
            s2 = np.atleast_2d(s)
            key = s2.tobytes() + bytes(str(s2.shape), "ascii")
            if key not in cache:  # same seed, same patterns: computed for the first output only
                cache[key] = np.asarray(statistic(s2, axis=-1), dtype=np.float64).reshape(n_outputs, len(s2))
            v = cache[key][k]
            return v if np.ndim(s) > 1 else v[0]
        return stat

    return [run(output(k)) for k in range(n_outputs)]


@dataclass
class DeltaEstimate:
    """A paired delta (B minus A) with its uncertainty.

    Attributes:
      delta: the observed delta (mean over masks, or a metric difference).
      intervals: level key -> (low, high) of the bootstrap interval over images.
      p_value: two-sided p of the paired test (None when not computed, NaN when undefined).
      n_images, n_masks: units resampled and paired observations (n_masks = n_images for
        image-level metrics).
      test: the paired test used ("permutation" or "wilcoxon").
    """

    delta: float
    intervals: Dict[str, Tuple[float, float]]
    p_value: Optional[float]
    n_images: int
    n_masks: int
    test: Optional[str] = "permutation"

    def to_dict(self) -> Dict:
        return {"delta": self.delta, "ci": {k: [v[0], v[1]] for k, v in self.intervals.items()},
                "p": self.p_value, "n_images": self.n_images, "n_masks": self.n_masks, "test": self.test}


def _cluster_sums(delta: np.ndarray, cluster: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    delta = np.asarray(delta, dtype=np.float64)
    _, inv = np.unique(np.asarray(cluster), return_inverse=True)
    sums = np.bincount(inv, weights=delta)
    counts = np.bincount(inv).astype(np.float64)
    return sums, counts


def wilcoxon_images(sums: np.ndarray, counts: np.ndarray) -> float:
    """Wilcoxon signed-rank p-value (two-sided) of per-image mean deltas (images as units).

    Images whose mean delta is 0 are dropped (Wilcoxon's rule); with none left the runs do not
    differ on any image and p = 1.
    """
    import scipy.stats

    x = np.asarray(sums, dtype=np.float64) / np.asarray(counts, dtype=np.float64)
    if not np.any(x != 0):
        return 1.0
    return float(scipy.stats.wilcoxon(x, zero_method="wilcox", alternative="two-sided").pvalue)


def clustered_mean_delta(delta: Sequence[float], cluster: Sequence, n_resamples: int = 2000, seed: int = 0,
                         levels: Sequence[float] = LEVELS, method: str = "percentile", test: str = "permutation",
                         n_permutations: Optional[int] = None) -> DeltaEstimate:
    """Mean of paired per-mask differences with an image-clustered bootstrap interval and a paired test.

    Arguments:
      delta: (N,) per-mask differences B - A (e.g. IoU of B minus IoU of A of the same mask).
      cluster: (N,) the image of each mask (any hashable ids); masks of one image are resampled
        and swapped together. Give every mask its own id for a mask-level bootstrap.
      n_resamples: bootstrap resamples; n_permutations: swap patterns of the permutation test
        (default n_resamples).
      seed, levels, method: see :func:`bootstrap_intervals`.
      test: "permutation" (A and B swapped per image: the sign of an image's delta sum flips),
        "wilcoxon" (signed-rank test of per-image mean deltas) or None (no test: p is None; for
        the interval of a run's own mean, pass its values as ``delta``).
    Returns:
      :class:`DeltaEstimate` (delta = mean over masks, the resampled statistic is the ratio
      sum(delta of drawn images) / number of drawn masks).
    """
    if test is not None and test not in TESTS:
        raise ValueError(f"test '{test}': expected one of {', '.join(TESTS)}")
    delta = np.asarray(delta, dtype=np.float64)
    if delta.size == 0:
        raise ValueError("no paired masks to compare")
    sums, counts = _cluster_sums(delta, np.asarray(cluster))

    def ratio(idx, axis=-1):
        return sums[idx].sum(axis=axis) / counts[idx].sum(axis=axis)

    boot = bootstrap_intervals(ratio, [len(sums)], n_resamples, seed, levels, method)
    if test is None:
        p = None
    elif test == "wilcoxon":
        p = wilcoxon_images(sums, counts)
    else:
        p = swap_permutation_test(lambda s, axis=-1: (np.sign(s) * sums[np.abs(s) - 1]).sum(axis=axis),
                                  len(sums), n_permutations or n_resamples, seed)
    return DeltaEstimate(float(delta.mean()), boot.intervals, p, int(len(sums)), int(delta.size), test)


def stratified_mean_delta(deltas: Sequence[Sequence[float]], clusters: Sequence[Sequence], n_resamples: int = 2000,
                          seed: int = 0, levels: Sequence[float] = LEVELS, method: str = "percentile",
                          test: str = "permutation", n_permutations: Optional[int] = None) -> DeltaEstimate:
    """The mean over datasets of per-dataset mean deltas, images resampled within each dataset.

    Arguments:
      deltas: per dataset, (N_d,) per-mask differences.
      clusters: per dataset, (N_d,) image ids.
      others: as :func:`clustered_mean_delta`; the permutation test swaps A and B per image in
        every dataset at once (statistic: the mean over datasets). A rank test of pooled images
        does not test a mean over datasets: with test="wilcoxon" the p-value is NaN (undefined).
    Returns:
      :class:`DeltaEstimate` with ``delta`` = mean over datasets (each dataset weighs the same, as
      the paper's "mean over 23 datasets"), n_images / n_masks summed over datasets.
    """
    if test is not None and test not in TESTS:
        raise ValueError(f"test '{test}': expected one of {', '.join(TESTS)}")
    parts = [_cluster_sums(np.asarray(d, dtype=np.float64), np.asarray(c)) for d, c in zip(deltas, clusters)]
    if not parts or any(len(s) == 0 for s, _ in parts):
        raise ValueError("every dataset needs at least one paired mask")
    D = len(parts)

    def mean_of_ratios(*idx, axis=-1):
        return sum(s[i].sum(axis=axis) / n[i].sum(axis=axis) for (s, n), i in zip(parts, idx)) / D

    boot = bootstrap_intervals(mean_of_ratios, [len(s) for s, _ in parts], n_resamples, seed, levels, method)
    n_masks = int(sum(n.sum() for _, n in parts))
    if test is None:
        p = None
    elif test == "wilcoxon":
        p = float("nan")  # pooling images of different datasets has no meaning for a rank test of the mean
    else:
        # per image: its delta sum scaled by 1 / (D * masks of its dataset); the sum is the statistic
        w = np.concatenate([s / (D * n.sum()) for s, n in parts])
        p = swap_permutation_test(lambda s, axis=-1: (np.sign(s) * w[np.abs(s) - 1]).sum(axis=axis),
                                  len(w), n_permutations or n_resamples, seed)
    return DeltaEstimate(float(boot.estimate), boot.intervals, p, int(sum(len(s) for s, _ in parts)), n_masks, test)


def holm(p_values: Sequence[Optional[float]]) -> List[Optional[float]]:
    """Holm-adjusted p-values (family-wise error), NaN and None entries left out of the family.

    Uses ``statsmodels.stats.multitest.multipletests(method="holm")``.
    """
    from statsmodels.stats.multitest import multipletests

    vals = [None if p is None or (isinstance(p, float) and math.isnan(p)) else float(p) for p in p_values]
    idx = [i for i, p in enumerate(vals) if p is not None]
    out: List[Optional[float]] = [None] * len(vals)
    if idx:
        adjusted = multipletests([vals[i] for i in idx], method="holm")[1]
        for i, a in zip(idx, adjusted):
            out[i] = float(a)
    return out
