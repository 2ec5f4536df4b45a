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

Cost: each distance transform runs on the region's bounding box plus a one-pixel margin, not on
the whole image; the clicks are exactly those of the whole-image transform (tested on random masks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Tuple

import numpy as np
from scipy.ndimage import distance_transform_edt


@dataclass(frozen=True)
class Click:
    """One simulated click: pixel (x, y) and whether it is positive (object) or negative."""

    x: int
    y: int
    positive: bool


def border_distance(region: np.ndarray) -> np.ndarray:
    """Euclidean distance of each pixel of ``region`` to the nearest pixel outside it, the image border counted as outside.

    Arguments:
      region: HxW boolean.
    Returns:
      HxW float64, 0 outside ``region``. Computed on the region's bounding box plus a one-pixel
      margin (see ``_box_distance``): the values are those of the transform over the whole image.
    """
    region = np.asarray(region, dtype=bool)
    out = np.zeros(region.shape, dtype=np.float64)
    box = bounding_box(region)
    if box is not None:
        y0, y1, x0, x1 = box
        out[y0:y1, x0:x1] = _box_distance(region, box)
    return out


def bounding_box(region: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
    """(y0, y1, x0, x1), half-open row and column range of the set pixels of a 2-D boolean array; None if empty."""
    rows = np.flatnonzero(region.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(region.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _box_distance(region: np.ndarray, box: Tuple[int, int, int, int]) -> np.ndarray:
    """The border distance of ``region`` inside its bounding ``box``.

    The crop is padded with one ring of "outside" pixels: around the box every pixel is either
    outside the region or beyond the image border, both outside. No nearer outside pixel exists
    beyond the ring: for a pixel p of the box and any pixel q outside the padded box, the point of
    the ring nearest to q (q clamped onto the ring's rectangle) is at most as far from p as q is.
    So the distances equal those of the whole-image transform, exactly (the same integer squared
    distances under the square root).
    """
    y0, y1, x0, x1 = box
    padded = np.pad(region[y0:y1, x0:x1], 1, mode="constant", constant_values=False)
    return distance_transform_edt(padded)[1:-1, 1:-1]


def _deepest(region: np.ndarray, clicked: Sequence[Click] = ()) -> Tuple[float, int]:
    """(maximum border distance, row-major index of its first pixel in the whole image) over ``region``,
    with the ``clicked`` pixels given distance 0; (0.0, 0) when nothing is left.

    Every pixel outside the bounding box has distance 0 and the box's row-major order is the
    image's order restricted to the box, so a positive maximum's first pixel is the same as in the
    whole-image transform.
    """
    box = bounding_box(region)
    if box is None:
        return 0.0, 0
    y0, y1, x0, x1 = box
    dt = _box_distance(region, box)
    for c in clicked:
        if y0 <= c.y < y1 and x0 <= c.x < x1:
            dt[c.y - y0, c.x - x0] = 0.0
    local = int(np.argmax(dt))
    best = float(dt.flat[local])
    if best == 0.0:
        return 0.0, 0
    ly, lx = divmod(local, x1 - x0)
    return best, (y0 + ly) * region.shape[1] + (x0 + lx)


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
        flat = _deepest(mask)[1]
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
    clicked = list(clicked)
    fn_max, fn_flat = _deepest(fn, clicked)
    fp_max, fp_flat = _deepest(fp, clicked)
    if fn_max == 0 and fp_max == 0:
        return None  # every error pixel was clicked already
    positive = bool(fn_max > fp_max)
    y, x = divmod(fn_flat if positive else fp_flat, gt.shape[1])
    return Click(x=x, y=y, positive=positive)
