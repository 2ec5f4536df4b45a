"""Referring-segmentation metrics: mIoU (gIoU), cIoU and Precision@X from per-expression counts.

The field's definitions (e.g. the RefCOCO evaluations of LAVT, CRIS, ReLA/GRES), each expression
scored on its own mask at the image's original resolution:

- mIoU (called gIoU in GRES): the mean over expressions of intersection / union;
- cIoU (cumulative or "overall" IoU): the sum of intersections over the sum of unions, so large
  objects weigh more;
- Precision@X: the fraction of expressions whose IoU is >= X (X = 0.5, 0.6, 0.7, 0.8, 0.9);
- box Acc@0.5 (referring-expression comprehension): the fraction whose predicted box has IoU >= 0.5
  with the ground-truth box, where the route gives a box.

An expression the model answers with no mask scores intersection 0 and union = the ground truth's
area (IoU 0): it stays in every mean. With no expression at all every metric is None (undefined).
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def precision_key(t: float) -> str:
    """The summary key of Precision@t: ``precision@0.5`` ..."""
    return f"precision@{float(t):g}"


def referring_scores(intersection: Sequence[float], union: Sequence[float],
                     thresholds: Sequence[float] = THRESHOLDS,
                     box_iou: Optional[Sequence[float]] = None) -> Dict[str, Optional[float]]:
    """mIoU, cIoU, Precision@t (and box Acc@0.5) of N expressions.

    Arguments:
      intersection, union: (N,) pixel counts per expression (union > 0: ground truths are never empty).
      thresholds: the Precision@t thresholds (IoU >= t counts).
      box_iou: (N,) predicted-box IoU with the ground-truth box; NaN where a route gives none.
    Returns:
      {"miou", "ciou", "precision@0.5", ..., "box_acc@0.5", "n"}; None for undefined values.
    Raises:
      ValueError: lengths differ, or a union is not positive.
    """
    inter = np.asarray(intersection, dtype=np.float64).reshape(-1)
    uni = np.asarray(union, dtype=np.float64).reshape(-1)
    if inter.shape != uni.shape:
        raise ValueError(f"{len(inter)} intersections for {len(uni)} unions")
    if np.any(uni <= 0):
        raise ValueError("every union must be positive (an expression's ground truth is never empty)")
    n = int(len(inter))
    out: Dict[str, Optional[float]] = {"n": n}
    iou = inter / uni if n else inter
    out["miou"] = float(iou.mean()) if n else None
    out["ciou"] = float(inter.sum() / uni.sum()) if n else None
    for t in thresholds:
        out[precision_key(t)] = float(np.mean(iou >= t)) if n else None
    if box_iou is not None:
        b = np.asarray(box_iou, dtype=np.float64).reshape(-1)
        known = np.isfinite(b)
        out["box_acc@0.5"] = float(np.mean(b[known] >= 0.5)) if known.any() else None
    return out


def box_iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of paired boxes a[i], b[i] ([x0, y0, x1, y1], continuous coordinates); NaN where a is NaN."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area = lambda x: np.clip(x[:, 2] - x[:, 0], 0, None) * np.clip(x[:, 3] - x[:, 1], 0, None)  # noqa: E731
    union = area(a) + area(b) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0) + np.where(np.isnan(a).any(1), np.nan, 0)
