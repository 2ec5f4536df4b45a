"""Dataset scores of the BSDS benchmark (``collect_eval_bdry``): ODS, OIS, AP, R50 and the PR curve."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .counts import BoundaryCounts

ArrayLike = Union[np.ndarray, Sequence[float]]
PathLike = Union[str, "os.PathLike[str]"]


def fmeasure(r: ArrayLike, p: ArrayLike) -> np.ndarray:
    """The benchmark's F-measure ``2PR / (P + R)`` (0 where P + R = 0).

    Arguments:
        r: recall value(s).
        p: precision value(s).

    Returns:
        F value(s), same shape as the broadcast inputs.
    """
    r = np.asarray(r, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    s = p + r
    return 2.0 * p * r / (s + (s == 0))


_D = np.linspace(0.0, 1.0, 100)  # MATLAB linspace(0, 1): 100 points


def _max_f(thresh: np.ndarray, r: np.ndarray, p: np.ndarray) -> Tuple[float, float, float, float]:
    """``maxF`` of collect_eval_bdry: best F along the linear interpolation between thresholds.

    Returns (bestT, bestR, bestP, bestF); the first strict maximum in the benchmark's scan order.
    """
    best = (float(thresh[0]), float(r[0]), float(p[0]), float(fmeasure(r[0], p[0])))
    if len(thresh) < 2:
        return best
    d = _D[None, :]
    tt = thresh[1:, None] * d + thresh[:-1, None] * (1 - d)
    rr = r[1:, None] * d + r[:-1, None] * (1 - d)
    pp = p[1:, None] * d + p[:-1, None] * (1 - d)
    ff = fmeasure(rr, pp).ravel()
    k = int(np.argmax(ff))
    if ff[k] > best[3]:
        best = (float(tt.ravel()[k]), float(rr.ravel()[k]), float(pp.ravel()[k]), float(ff[k]))
    return best


def _area_pr(r: np.ndarray, p: np.ndarray, unique: str = "first") -> float:
    """The benchmark's AP: ``interp1(unique(R), P, 0:0.01:1)`` (NaN -> 0), summed x 0.01."""
    if unique == "first":
        ru, idx = np.unique(r, return_index=True)
    elif unique == "last":
        rev = r[::-1]
        ru, idx_rev = np.unique(rev, return_index=True)
        idx = len(r) - 1 - idx_rev
    else:
        raise ValueError("unique must be 'first' or 'last'")
    if len(ru) <= 1:
        return 0.0
    pu = p[idx]
    ri = np.arange(101) * 0.01
    pi = np.interp(ri, ru, pu, left=np.nan, right=np.nan)
    pi[np.isnan(pi)] = 0.0
    return float(pi.sum() * 0.01)


def _recall_at_precision(r: np.ndarray, p: np.ndarray, level: float = 0.5) -> float:
    """R50 as the edge toolbox computes it (Dollar's ``edgesEvalDir``:
    ``[~,k]=unique(P); R50=interp1(P(k),R(k),max(P(k(1)),.5))``): the curve reduced to its unique
    precision values (sorted; the first point of each value, as MATLAB's ``unique``), recall linearly
    interpolated at precision ``max(min P, level)``. NaN where that precision is above every P (the
    curve never reaches ``level``: undefined, as ``interp1`` outside its range).
    """
    p = np.asarray(p, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    pu, first = np.unique(p, return_index=True)
    ru = r[first]
    x = max(float(pu[0]), level)
    if x > pu[-1]:
        return float("nan")
    if len(pu) == 1:
        return float(ru[0])
    return float(np.interp(x, pu, ru))


@dataclass
class BoundaryResult:
    """Dataset-level boundary benchmark result (the three ``eval_bdry*.txt`` files and more).

    Attributes:
        image_ids: image ids, in the order of the per-image rows.
        thresholds, recall, precision, f: the dataset PR curve (summed counts), per threshold.
        ods, ods_threshold, ods_recall, ods_precision: best F of the dataset curve (interpolated
            between thresholds as the benchmark does) and where it is reached.
        ois, ois_recall, ois_precision: F of the counts summed at each image's best threshold.
        ap: the benchmark's area under the PR curve.
        r50: recall at 50 % precision as the edge toolbox computes it (see ``_recall_at_precision``);
            NaN when the curve never reaches 50 % precision (``to_dict`` gives None).
        image_best: (N, 4) per image ``[bestT bestR bestP bestF]`` (interpolated).
        counts: the per-image :class:`BoundaryCounts`.
    """

    image_ids: List[str]
    thresholds: np.ndarray
    recall: np.ndarray
    precision: np.ndarray
    f: np.ndarray
    ods: float
    ods_threshold: float
    ods_recall: float
    ods_precision: float
    ois: float
    ois_recall: float
    ois_precision: float
    ap: float
    r50: float
    image_best: np.ndarray
    counts: List[BoundaryCounts] = field(repr=False)

    @property
    def best_threshold(self) -> float:
        """Threshold of the ODS point (alias of ``ods_threshold``)."""
        return self.ods_threshold

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict: ``ods ois ap r50 best_threshold`` and the curves (lists)."""
        return {
            "ods": self.ods,
            "ois": self.ois,
            "ap": self.ap,
            "r50": None if np.isnan(self.r50) else self.r50,
            "best_threshold": self.ods_threshold,
            "ods_recall": self.ods_recall,
            "ods_precision": self.ods_precision,
            "ois_recall": self.ois_recall,
            "ois_precision": self.ois_precision,
            "n_images": len(self.image_ids),
            "thresholds": self.thresholds.tolist(),
            "recall": self.recall.tolist(),
            "precision": self.precision.tolist(),
            "f": self.f.tolist(),
        }

    def write_bench_files(self, out_dir: PathLike) -> Dict[str, Path]:
        """Write ``eval_bdry.txt``, ``eval_bdry_img.txt``, ``eval_bdry_thr.txt`` (MATLAB ``%10g`` layout).

        Arguments:
            out_dir: folder (created if missing).

        Returns:
            dict name -> written path.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "eval_bdry_img.txt": out / "eval_bdry_img.txt",
            "eval_bdry_thr.txt": out / "eval_bdry_thr.txt",
            "eval_bdry.txt": out / "eval_bdry.txt",
        }
        with open(paths["eval_bdry_img.txt"], "w") as fh:
            for i, (t, r, p, f) in enumerate(self.image_best, start=1):
                fh.write("%10d %10g %10g %10g %10g\n" % (i, t, r, p, f))
        with open(paths["eval_bdry_thr.txt"], "w") as fh:
            for t, r, p, f in zip(self.thresholds, self.recall, self.precision, self.f):
                fh.write("%10g %10g %10g %10g\n" % (t, r, p, f))
        with open(paths["eval_bdry.txt"], "w") as fh:
            fh.write(
                "%10g %10g %10g %10g %10g %10g %10g %10g\n"
                % (
                    self.ods_threshold,
                    self.ods_recall,
                    self.ods_precision,
                    self.ods,
                    self.ois_recall,
                    self.ois_precision,
                    self.ois,
                    self.ap,
                )
            )
        return paths

    def summary(self) -> str:
        """One-line human summary."""
        return (
            f"ODS={self.ods:.4f} (t={self.ods_threshold:.3g}) OIS={self.ois:.4f} "
            f"AP={self.ap:.4f} R50={self.r50:.4f} over {len(self.image_ids)} images"
        )


def collect_results(
    per_image_counts: Union[Mapping[str, BoundaryCounts], Sequence[BoundaryCounts]],
    image_ids: Optional[Sequence[str]] = None,
    ap_unique: Literal["first", "last"] = "first",
) -> BoundaryResult:
    """Aggregate per-image counts into ODS / OIS / AP / R50, as ``collect_eval_bdry``.

    * per image: R = cntR/sumR, P = cntP/sumP, best (T, R, P, F) by ``maxF`` (100-point linear
      interpolation between consecutive thresholds);
    * ODS: ``maxF`` of the curve from counts summed over images;
    * OIS: F of the counts summed at each image's best *non-interpolated* threshold (first max);
    * AP: ``interp1(unique(R), P(idx), 0:0.01:1)`` with NaN (outside the recall range) set to 0,
      summed and multiplied by 0.01.  ``ap_unique`` picks which duplicate-R entry ``unique`` keeps:
      'first' (MATLAB >= R2013a and pyEdgeEval; the default) or 'last' (the pre-2013 MATLAB of the
      original release).  Since R = 0 implies P = 0, the choice rarely matters.
    * R50 (not in the BSDS MATLAB code; as the edge toolbox's ``edgesEvalDir``): recall
      interpolated at precision ``max(min P, 0.5)`` over the curve's unique precision values.

    Arguments:
        per_image_counts: a mapping image id -> :class:`BoundaryCounts` (rows follow the mapping's
            order) or a sequence of counts (ids from ``image_ids`` or "1".."N").
        image_ids: ids for a sequence input.
        ap_unique: see above.

    Returns:
        :class:`BoundaryResult`.
    """
    if isinstance(per_image_counts, Mapping):
        ids = [str(k) for k in per_image_counts.keys()]
        counts = list(per_image_counts.values())
    else:
        counts = list(per_image_counts)
        ids = [str(i) for i in image_ids] if image_ids is not None else [str(i + 1) for i in range(len(counts))]
    if not counts:
        raise ValueError("no per-image counts to collect")
    if len(ids) != len(counts):
        raise ValueError("image_ids and counts differ in length")
    thresh = np.asarray(counts[0].thresholds, dtype=np.float64)
    n = len(thresh)
    tot = np.zeros((4, n))
    best_tot = np.zeros(4)
    img_best = np.zeros((len(counts), 4))
    for i, c in enumerate(counts):
        arr = np.stack([c.cnt_r, c.sum_r, c.cnt_p, c.sum_p]).astype(np.float64)
        if arr.shape != (4, n):
            raise ValueError("all images must be evaluated at the same number of thresholds")
        r = arr[0] / (arr[1] + (arr[1] == 0))
        p = arr[2] / (arr[3] + (arr[3] == 0))
        f = fmeasure(r, p)
        img_best[i] = _max_f(thresh, r, p)
        tot += arr
        ff = int(np.argmax(f))
        best_tot += arr[:, ff]
    R = tot[0] / (tot[1] + (tot[1] == 0))
    P = tot[2] / (tot[3] + (tot[3] == 0))
    F = fmeasure(R, P)
    bt, br, bp, bf = _max_f(thresh, R, P)
    r_max = best_tot[0] / (best_tot[1] + (best_tot[1] == 0))
    p_max = best_tot[2] / (best_tot[3] + (best_tot[3] == 0))
    f_max = float(fmeasure(r_max, p_max))
    return BoundaryResult(
        image_ids=ids,
        thresholds=thresh.copy(),
        recall=R,
        precision=P,
        f=F,
        ods=bf,
        ods_threshold=bt,
        ods_recall=br,
        ods_precision=bp,
        ois=f_max,
        ois_recall=float(r_max),
        ois_precision=float(p_max),
        ap=_area_pr(R, P, ap_unique),
        r50=_recall_at_precision(R, P, 0.5),
        image_best=img_best,
        counts=counts,
    )
