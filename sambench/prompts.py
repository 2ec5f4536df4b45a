"""Prompt simulation: the Segment Anything paper's point protocol (§7.1), usable without a model.

- ``first_point``: the first click. ``center`` is the point farthest from the object boundary: the
  argmax of the Euclidean distance transform of the mask, the image border counted as boundary,
  first maximum in row-major order. ``random`` is a seeded uniform pixel of the mask.
- ``next_click``: the RITM rule (Sofiiuk et al. 2022) for every later click. The false-negative and
  false-positive regions of the previous prediction (ignore pixels excluded) are each distance
  transformed with the border as boundary; already-clicked pixels get distance 0; the click goes to
  the deepest point of the region with the larger maximum, positive if that is the FN region (a tie
  goes negative, as in RITM). With no error left there is no next click (None).

Coordinates: a ``Click`` holds (x, y) = (column, row) of the pixel, the convention of SAM's point
prompts; the pixel's centre is at integer coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np
from scipy.ndimage import distance_transform_edt


@dataclass(frozen=True)
class Click:
    """One simulated click: pixel (x, y) and whether it is positive (object) or negative."""

    x: int
    y: int
    positive: bool


def border_distance(region: np.ndarray) -> np.ndarray:
    """Euclidean distance of each pixel of ``region`` to the nearest pixel outside it, the image border counted as outside."""
    padded = np.pad(region.astype(bool), 1, mode="constant", constant_values=False)
    return distance_transform_edt(padded)[1:-1, 1:-1]


def first_point(mask: np.ndarray, mode: str = "center", rng: Optional[np.random.Generator] = None) -> Click:
    """The first (positive) click on ``mask``.

    Arguments:
      mask: HxW boolean ground truth, non-empty.
      mode: "center" (deepest interior point, first maximum in row-major order) or "random".
      rng: the generator for "random".
    Returns:
      a positive Click.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("first_point: empty mask")
    if mode == "center":
        flat = int(np.argmax(border_distance(mask)))
    elif mode == "random":
        if rng is None:
            raise ValueError("first_point(mode='random') needs rng")
        flat = int(rng.choice(np.flatnonzero(mask.reshape(-1))))
    else:
        raise ValueError(f"first_point: unknown mode '{mode}' (expected 'center' or 'random')")
    y, x = divmod(flat, mask.shape[1])
    return Click(x=x, y=y, positive=True)


def next_click(gt: np.ndarray, pred: np.ndarray, clicked: Iterable[Click] = (),
               ignore: Optional[np.ndarray] = None) -> Optional[Click]:
    """The next corrective click by the RITM rule.

    Arguments:
      gt: HxW boolean ground truth.
      pred: HxW boolean previous prediction.
      clicked: clicks made so far (their pixels cannot be clicked again).
      ignore: HxW boolean pixels excluded from the error regions, or None.
    Returns:
      the Click, or None when the prediction has no error outside ``ignore``.
    """
    gt = np.asarray(gt, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    fn = gt & ~pred
    fp = ~gt & pred
    if ignore is not None:
        fn &= ~ignore
        fp &= ~ignore
    if not fn.any() and not fp.any():
        return None
    fn_dt = border_distance(fn)
    fp_dt = border_distance(fp)
    for c in clicked:
        fn_dt[c.y, c.x] = 0.0
        fp_dt[c.y, c.x] = 0.0
    fn_max, fp_max = fn_dt.max(), fp_dt.max()
    if fn_max == 0 and fp_max == 0:
        return None  # every error pixel was clicked already
    positive = bool(fn_max > fp_max)
    flat = int(np.argmax(fn_dt if positive else fp_dt))
    y, x = divmod(flat, gt.shape[1])
    return Click(x=x, y=y, positive=positive)
