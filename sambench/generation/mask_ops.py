"""Mask and box operations of automatic mask generation (the building blocks of
:mod:`sambench.generation.amg`), each equal to segment-anything's ``utils/amg.py`` counterpart on
the same input (tests compare them): the point grid, the stability score, mask boxes, box NMS.

Box convention (as segment-anything): ``[x0, y0, x1, y1]`` are the column/row indices of the
extreme mask pixels (inclusive). Torch is imported inside the functions, not at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Tuple

import numpy as np

if TYPE_CHECKING:  # annotations only
    import torch



def build_point_grid(n_per_side: int) -> np.ndarray:
    """Cell centres of an n x n grid over [0, 1]^2.

    Returns:
      (n*n, 2) float64 (x, y); x varies fastest, rows from the top. Coordinates are
      ``(i + 0.5) / n`` for i = 0..n-1 (as segment-anything's ``build_point_grid``).
    """
    n = int(n_per_side)
    if n < 1:
        raise ValueError(f"n_per_side must be >= 1, got {n_per_side}")
    side = (np.arange(n, dtype=np.float64) + 0.5) / n
    xs, ys = np.meshgrid(side, side)  # ys constant along a row
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def grid_points(grid: np.ndarray, image_size: Tuple[int, int]) -> np.ndarray:
    """Scale a normalised (P, 2) grid to pixel coordinates of an (H, W) image: ``(x * W, y * H)``."""
    h, w = image_size
    return np.asarray(grid, dtype=np.float64) * np.array([w, h], dtype=np.float64)


def stability_score(logits: torch.Tensor, mask_threshold: float = 0.0, offset: float = 1.0) -> torch.Tensor:
    """IoU of the masks ``logits > t + offset`` and ``logits > t - offset`` (t = ``mask_threshold``).

    The first mask is contained in the second, so the IoU is the ratio of their areas.

    Arguments:
      logits: (..., H, W) mask logits.
      mask_threshold: the model's binarisation threshold.
      offset: the logit offset (>= 0).
    Returns:
      (...) float32 scores in [0, 1]; 0 where even the low threshold gives an empty mask.
    """
    import torch

    if offset < 0:
        raise ValueError(f"stability offset must be >= 0, got {offset}")
    inter = count_pixels(logits > (mask_threshold + offset))
    union = count_pixels(logits > (mask_threshold - offset))
    score = inter.double() / union.clamp(min=1).double()
    return torch.where(union > 0, score, torch.zeros_like(score)).float()


def count_pixels(masks: torch.Tensor) -> torch.Tensor:
    """Pixels set in each (..., H, W) bool mask, int64 (summed as bytes: faster than a bool sum on CPU)."""
    import torch

    m = masks.to(torch.uint8) if masks.dtype != torch.uint8 else masks
    return m.sum(dim=(-1, -2), dtype=torch.int32 if masks.shape[-1] * masks.shape[-2] < 2 ** 31 else torch.int64).long()


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Boxes [x0, y0, x1, y1] (inclusive pixel indices) of (N, H, W) boolean masks; zeros for an empty mask."""
    import torch

    if masks.ndim != 3:
        raise ValueError(f"expected (N, H, W) masks, got shape {tuple(masks.shape)}")
    n, h, w = masks.shape
    if n == 0:
        return torch.zeros((0, 4), dtype=torch.float32, device=masks.device)
    m8 = masks.to(torch.uint8)
    rows = m8.amax(dim=2) > 0  # (N, H)
    cols = m8.amax(dim=1) > 0  # (N, W)
    ar_h = torch.arange(h, device=masks.device)
    ar_w = torch.arange(w, device=masks.device)
    y1 = torch.where(rows, ar_h, torch.full_like(ar_h, -1)).max(dim=1).values
    y0 = torch.where(rows, ar_h, torch.full_like(ar_h, h)).min(dim=1).values
    x1 = torch.where(cols, ar_w, torch.full_like(ar_w, -1)).max(dim=1).values
    x0 = torch.where(cols, ar_w, torch.full_like(ar_w, w)).min(dim=1).values
    boxes = torch.stack([x0, y0, x1, y1], dim=1).float()
    empty = ~rows.any(dim=1)
    boxes[empty] = 0.0
    return boxes


def box_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy box NMS (``torchvision.ops.batched_nms``, one class).

    Arguments:
      boxes: (N, 4) xyxy.
      scores: (N,) higher is preferred; ties keep the earlier box.
      iou_threshold: a box is removed when its IoU with a kept, higher-scored box is > this.
    Returns:
      indices of the kept boxes, by decreasing score.
    """
    import torch
    from torchvision.ops import batched_nms

    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    b = torch.as_tensor(np.asarray(boxes, dtype=np.float32))
    s = torch.as_tensor(np.asarray(scores, dtype=np.float32))
    # stable order for ties: sort first (descending, stable), NMS on the sorted arrays, map back
    order = torch.as_tensor(np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"))
    keep = batched_nms(b[order], s[order], torch.zeros(len(b), dtype=torch.int64), float(iou_threshold))
    return order[keep].numpy()
