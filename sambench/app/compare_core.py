"""Shared pieces of ``sambench compare``: settings, the comparison record and its rows.

A row is one metric of one run against the baseline on one dataset (or the mean over datasets):
baseline and run values, delta (run minus baseline), 95 % and 99 % interval bounds, p and its
Holm-adjusted value, the images and masks paired.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from sambench.metrics import stats

MEAN_ROW = "mean over datasets"


@dataclass
class Settings:
    """How a comparison was made (recorded in compare.json)."""

    n_resamples: int
    n_permutations: int
    seed: int = 0
    ci_method: str = "percentile"
    test: str = "permutation"
    levels: Tuple[float, ...] = stats.LEVELS
    evaluator: str = "faster-coco-eval"  # COCO-format instances/proposals: or "pycocotools" (LVIS: always lvis)

    def to_dict(self) -> Dict:
        d = asdict(self)
        d["levels"] = list(self.levels)
        d["unit"] = "image (masks of one image are resampled and swapped together)"
        return d


@dataclass
class Comparison:
    """Everything a comparison found; rows and pairs feed the tables, the rest the plots."""

    task: str
    labels: List[str]
    baseline: str
    metrics: List[str]
    headline: str
    datasets: List[str]
    rows: List[Dict] = field(default_factory=list)
    pairs: List[Dict] = field(default_factory=list)
    curves: Dict[str, Dict] = field(default_factory=dict)
    scatter: Dict[str, Dict[str, Tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    scatter_label: str = ""
    notes: List[str] = field(default_factory=list)
    seconds: Dict[str, float] = field(default_factory=dict)
    evaluator: Optional[str] = None  # instances / proposals: the evaluator whose per-image results were resampled

    def to_dict(self) -> Dict:
        return {"task": self.task, "runs": self.labels, "baseline": self.baseline, "metrics": self.metrics,
                "headline": self.headline, "datasets": self.datasets, "vs_baseline": self.rows,
                "pairs": self.pairs, "curves": self.curves, "notes": self.notes, "seconds": self.seconds,
                "evaluator": self.evaluator}


def ci_bounds(intervals: Dict, key: str, i: Optional[int] = None) -> Tuple[float, float]:
    lo, hi = intervals.get(key, (float("nan"), float("nan")))
    if i is not None:
        lo, hi = np.asarray(lo).reshape(-1)[i], np.asarray(hi).reshape(-1)[i]
    return float(lo), float(hi)


def make_row(label: str, dataset: str, metric: str, base_value: float, value: float, delta: float,
         intervals: Dict, p: Optional[float], n_images: int, n_masks: int, i: Optional[int] = None) -> Dict:
    row = {"run": label, "dataset": dataset, "metric": metric, "baseline": float(base_value), "value": float(value),
           "delta": float(delta)}
    for key in ("95", "99"):
        lo, hi = ci_bounds(intervals, key, i)
        row[f"ci{key}_low"], row[f"ci{key}_high"] = lo, hi
    row.update({"p": None if p is None else float(p), "p_holm": None, "n_images": int(n_images),
                "n_masks": int(n_masks)})
    return row


def apply_holm(rows: List[Dict]) -> None:
    """Holm across the datasets of each (run, metric); the mean-over-datasets row stays unadjusted."""
    groups: Dict[Tuple[str, str], List[Dict]] = {}
    for r in rows:
        if r["dataset"] != MEAN_ROW:
            groups.setdefault((r["run"], r["metric"]), []).append(r)
    for members in groups.values():
        for r, adj in zip(members, stats.holm([m["p"] for m in members])):
            r["p_holm"] = adj


def pairs_holm(pairs: List[Dict]) -> None:
    for r, adj in zip(pairs, stats.holm([p["p"] for p in pairs])):
        r["p_holm"] = adj
