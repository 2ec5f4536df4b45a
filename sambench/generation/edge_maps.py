"""Classical soft edge maps and the generic edge post-processing of the edge-detection protocol.

Zero-shot baselines (no learning, scikit-image / scipy), each returning an HxW float map in [0, 1]
whose level sets the BSDS boundary benchmark (:mod:`sambench.metrics.bsds`) sweeps:

* :func:`sobel_edges` -- Sobel gradient magnitude of the grey image, divided by its image maximum,
  optionally thinned by :func:`edge_nms` (default on).
* :func:`canny_edges` -- a *soft Canny* map: for each Gaussian scale, Canny (gradient, NMS along the
  gradient, 8-connected hysteresis with ``low = low_ratio * high``) is run for ``n_levels`` nested
  high thresholds; a pixel's value is the fraction of levels at which it is a Canny edge (the
  level sets are therefore exactly Canny maps), averaged over the scales.
* :func:`felzenszwalb_edges` -- the average of the boundary maps (BSDS ``seg2bdry`` convention) of
  Felzenszwalb-Huttenlocher segmentations at several scales: a pixel's value is the fraction of
  scales at which it lies on a segment boundary.

Post-processing shared with learned edge maps (e.g. SAM mask probability maps, HED/SE outputs):

* :func:`edge_nms` -- non-maximum suppression along the edge normal, as P. Dollar's structured-edge
  toolbox ``edgesNmsMex`` (orientation from second derivatives of the triangle-smoothed map,
  bilinear sampling at +-1..r pixels, a 1.01 tolerance, linear fade-out of a 5-pixel border).
* :func:`thin_edges` -- morphological thinning of a binary map (MATLAB ``bwmorph(.., 'thin', inf)``).
* :func:`normalize_edges` -- rescale a map to [0, 1].
* :func:`conv_tri`, :func:`edge_orientation` -- the toolbox's ``convTri`` and ``edgeOrient``.
"""

from __future__ import annotations

import math
from typing import Literal, Optional, Sequence

import numba as nb
import numpy as np
from scipy import ndimage as ndi

from sambench.metrics.bsds import seg_to_boundaries, thin_boundaries

__all__ = [
    "to_gray",
    "normalize_edges",
    "conv_tri",
    "edge_orientation",
    "edge_nms",
    "thin_edges",
    "sobel_edges",
    "canny_edges",
    "felzenszwalb_edges",
    "CLASSICAL_EDGE_METHODS",
]


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def _to_float_image(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim not in (2, 3):
        raise ValueError(f"expected an HxW or HxWxC image, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float64) / 65535.0
    if a.dtype == np.bool_:
        return a.astype(np.float64)
    return a.astype(np.float64)


def to_gray(image: np.ndarray) -> np.ndarray:
    """Grey-level float image.

    Arguments:
        image: HxW or HxWx3 (RGB; an alpha channel is dropped) image; uint8 is scaled to [0, 1].

    Returns:
        HxW float64 image (ITU-R 601 luma weights for RGB, as ``skimage.color.rgb2gray``).
    """
    a = _to_float_image(image)
    if a.ndim == 2:
        return a
    if a.shape[2] == 1:
        return a[..., 0]
    if a.shape[2] not in (3, 4):
        raise ValueError(f"expected 1, 3 or 4 channels, got {a.shape[2]}")
    return a[..., 0] * 0.2125 + a[..., 1] * 0.7154 + a[..., 2] * 0.0721


def normalize_edges(
    edge_map: np.ndarray,
    mode: Literal["max", "minmax", "percentile"] = "max",
    percentile: float = 99.0,
) -> np.ndarray:
    """Rescale an edge-strength map to [0, 1].

    Arguments:
        edge_map: HxW non-negative map (any float or integer type; NaNs become 0).
        mode: ``"max"`` divides by the maximum (keeps 0 at 0), ``"minmax"`` maps [min, max] to
            [0, 1], ``"percentile"`` divides by the given percentile of the nonzero values and clips.
        percentile: used by ``"percentile"``.

    Returns:
        HxW float64 map in [0, 1] (all zeros for a constant / empty map).
    """
    e = np.nan_to_num(np.asarray(edge_map, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if mode == "minmax":
        if e.size == 0:
            return e
        lo, hi = float(e.min()), float(e.max())
        if hi <= lo:
            return np.zeros_like(e)
        return (e - lo) / (hi - lo)
    e = np.maximum(e, 0.0)
    if mode == "max":
        hi = float(e.max(initial=0.0))
    elif mode == "percentile":
        nz = e[e > 0]
        hi = float(np.percentile(nz, percentile)) if nz.size else 0.0
    else:
        raise ValueError(f"unknown mode {mode!r}")
    if hi <= 0:
        return np.zeros_like(e)
    return np.clip(e / hi, 0.0, 1.0)


def conv_tri(image: np.ndarray, r: float) -> np.ndarray:
    """Triangle-filter smoothing, the toolbox's ``convTri`` (separable, symmetric padding).

    Arguments:
        image: HxW float map.
        r: radius; for ``r >= 1`` the 1-D kernel is ``[1..r+1..1] / (r+1)^2`` (``r`` rounded),
            for ``0 < r < 1`` it is ``[1 p 1] / (2 + p)`` with ``p = 12 / r / (r + 2) - 2``; ``r = 0``
            returns a copy.

    Returns:
        HxW smoothed float64 map.
    """
    a = np.asarray(image, dtype=np.float64)
    if r <= 0:
        return a.copy()
    if r < 1:
        p = 12.0 / r / (r + 2.0) - 2.0
        f = np.array([1.0, p, 1.0]) / (2.0 + p)
    else:
        ri = int(round(r))
        f = np.concatenate([np.arange(1, ri + 2), np.arange(ri, 0, -1)]).astype(np.float64) / (ri + 1) ** 2
    # scipy's 'reflect' is MATLAB's 'symmetric' padding (the edge sample is repeated)
    out = ndi.convolve1d(a, f, axis=0, mode="reflect")
    return ndi.convolve1d(out, f, axis=1, mode="reflect")


def edge_orientation(edge_map: np.ndarray, r: float = 4) -> np.ndarray:
    """Edge normal orientation in [0, pi), the toolbox's ``edgeOrient``.

    ``O = mod(atan(Oyy * sign(-Oxy) / (Oxx + 1e-5)), pi)`` with the second derivatives of the
    triangle-smoothed map (``gradient2`` = central differences, one-sided at the border).
    Kept as in the toolbox, including its quirk: where ``Oxy`` is exactly 0 (a perfectly
    horizontal, axis-aligned structure) ``sign(-Oxy) = 0`` gives ``O = 0`` instead of ``pi / 2``;
    real images (noise) almost never hit it.

    Arguments:
        edge_map: HxW edge-strength map.
        r: ``convTri`` radius used before differentiation (toolbox default 4).

    Returns:
        HxW float64 angles (radians, x to the right, y downwards).
    """
    e = conv_tri(edge_map, r)
    oy, ox = np.gradient(e)
    _, oxx = np.gradient(ox)
    oyy, oxy = np.gradient(oy)
    return np.mod(np.arctan(oyy * np.sign(-oxy) / (oxx + 1e-5)), np.pi)


@nb.njit(cache=True, nogil=True)
def _bilinear(e, h, w, x, y):
    if x < 0.0:
        x = 0.0
    elif x > w - 1.001:
        x = w - 1.001
    if y < 0.0:
        y = 0.0
    elif y > h - 1.001:
        y = h - 1.001
    x0 = int(x)
    y0 = int(y)
    dx0 = x - x0
    dy0 = y - y0
    dx1 = 1.0 - dx0
    dy1 = 1.0 - dy0
    return e[y0, x0] * dx1 * dy1 + e[y0, x0 + 1] * dx0 * dy1 + e[y0 + 1, x0] * dx1 * dy0 + e[y0 + 1, x0 + 1] * dx0 * dy0


@nb.njit(cache=True, nogil=True)
def _nms_kernel(e, o, r, s, m):
    h, w = e.shape
    out = e.copy()
    for x in range(w):
        for y in range(h):
            v = e[y, x]
            if v == 0:
                continue
            v *= m
            co = math.cos(o[y, x])
            si = math.sin(o[y, x])
            for d in range(-r, r + 1):
                if d == 0:
                    continue
                if v < _bilinear(e, h, w, x + d * co, y + d * si):
                    out[y, x] = 0.0
                    break
    s = min(s, w // 2, h // 2)
    if s > 0:
        for x in range(s):
            f = x / s
            for y in range(h):
                out[y, x] *= f
                out[y, w - 1 - x] *= f
        for y in range(s):
            f = y / s
            for x in range(w):
                out[y, x] *= f
                out[h - 1 - y, x] *= f
    return out


def edge_nms(
    edge_map: np.ndarray,
    orientation: Optional[np.ndarray] = None,
    radius: int = 1,
    border: int = 5,
    multiplier: float = 1.01,
    presmooth: float = 0.0,
    orient_radius: float = 4,
) -> np.ndarray:
    """Structured-edge style non-maximum suppression (``edgesNmsMex`` of Dollar's toolbox).

    A pixel is zeroed when ``multiplier * E(p)`` is smaller than the bilinearly interpolated
    ``E`` at ``p + d * (cos O, sin O)`` for some ``d`` in ``-radius..radius``; then values within
    ``border`` pixels of the image border are faded out linearly (``x / border``), as the toolbox
    does.  The HED / SE evaluation scripts call it as ``edgesNmsMex(E, O, 1|2, 5, 1.01)`` with
    ``O = edgeOrient(E, 4)`` (pyEdgeEval's ``fast_nms`` additionally presmooths with ``convTri(E, 1)``).

    Arguments:
        edge_map: HxW soft edge map (float, e.g. in [0, 1]).
        orientation: HxW edge-normal angles; default :func:`edge_orientation` (``orient_radius``).
        radius: suppression radius in pixels (1 in SE/pyEdgeEval, 1 or 2 in HED scripts).
        border: width of the faded border (5; 0 disables).
        multiplier: tolerance: a pixel survives when ``multiplier * E(p)`` is at least every
            sampled neighbour (1.01).
        presmooth: ``convTri`` radius applied to the map first (0 = none).
        orient_radius: ``convTri`` radius of the orientation estimate.

    Returns:
        HxW float64 map, thin ridges of the input (same scale).
    """
    e = np.asarray(edge_map, dtype=np.float64)
    if e.ndim != 2:
        raise ValueError("edge_map must be 2-D")
    if presmooth > 0:
        e = conv_tri(e, presmooth)
    o = edge_orientation(e, orient_radius) if orientation is None else np.asarray(orientation, dtype=np.float64)
    if o.shape != e.shape:
        raise ValueError("orientation must have the shape of edge_map")
    if e.shape[0] < 2 or e.shape[1] < 2:
        return e.copy()
    return _nms_kernel(np.ascontiguousarray(e), np.ascontiguousarray(o), int(radius), int(border), float(multiplier))


def thin_edges(binary_edges: np.ndarray) -> np.ndarray:
    """Thin a binary edge map to 1-pixel-wide curves (MATLAB ``bwmorph(.., 'thin', inf)``).

    Arguments:
        binary_edges: HxW binary map (nonzero = edge).

    Returns:
        HxW bool map (the benchmark applies the same thinning to every thresholded map).
    """
    return thin_boundaries(binary_edges)


# ----------------------------------------------------------------------------------------------
# classical detectors
# ----------------------------------------------------------------------------------------------


def sobel_edges(image: np.ndarray, sigma: float = 0.0, nms: bool = True) -> np.ndarray:
    """Sobel gradient-magnitude soft edge map.

    Grey image (optionally Gaussian-smoothed by ``sigma``) -> ``skimage.filters.sobel`` magnitude ->
    divided by its maximum -> optionally :func:`edge_nms` (orientation from the map itself, the
    same post-processing as the learned detectors; off gives the raw, thick magnitude, which the
    benchmark's thinning then reduces to skeletons).

    Arguments:
        image: HxW or HxWx3 image (uint8 or float in [0, 1]).
        sigma: Gaussian pre-smoothing in pixels (0 = none, the classic operator).
        nms: apply edge NMS.

    Returns:
        HxW float64 map in [0, 1].
    """
    from skimage.filters import sobel

    g = to_gray(image)
    if sigma > 0:
        g = ndi.gaussian_filter(g, sigma, mode="nearest")
    mag = normalize_edges(sobel(g), "max")
    if nms:
        mag = normalize_edges(edge_nms(mag), "max")
    return mag


@nb.njit(cache=True, nogil=True)
def _canny_nms(mag, gx, gy):
    """Keep gradient-magnitude local maxima along the gradient direction (bilinear sampling)."""
    h, w = mag.shape
    out = np.zeros_like(mag)
    for y in range(1, h - 1):
        for x in range(1, w - 1):
            v = mag[y, x]
            if v <= 0:
                continue
            ux = gx[y, x] / v
            uy = gy[y, x] / v
            a = _bilinear(mag, h, w, x + ux, y + uy)
            b = _bilinear(mag, h, w, x - ux, y - uy)
            if v >= a and v >= b:
                out[y, x] = v
    return out


def _canny_soft_single(gray: np.ndarray, sigma: float, low_ratio: float, n_levels: int) -> np.ndarray:
    smoothed = ndi.gaussian_filter(gray, sigma, mode="nearest") if sigma > 0 else gray
    gx = ndi.sobel(smoothed, axis=1, mode="nearest")
    gy = ndi.sobel(smoothed, axis=0, mode="nearest")
    mag = np.hypot(gx, gy)
    thin = _canny_nms(mag, gx, gy)
    top = float(thin.max(initial=0.0))
    soft = np.zeros_like(gray)
    if top <= 0:
        return soft
    eight = np.ones((3, 3), dtype=bool)
    for k in range(1, n_levels + 1):
        high = top * k / (n_levels + 1)
        low_mask = thin > low_ratio * high
        if not low_mask.any():
            break
        labels, n = ndi.label(low_mask, structure=eight)
        strong = np.zeros(n + 1, dtype=bool)
        strong[np.unique(labels[thin > high])] = True
        strong[0] = False
        edges = strong[labels]
        if not edges.any():
            break
        soft += edges
    return soft / n_levels


def canny_edges(
    image: np.ndarray,
    sigmas: Sequence[float] = (1.0, 2.0, 4.0),
    low_ratio: float = 0.4,
    n_levels: int = 50,
) -> np.ndarray:
    """Soft Canny edge map: nested Canny hysteresis levels, averaged over Gaussian scales.

    For each ``sigma``: Gaussian smoothing, Sobel gradient, non-maximum suppression along the
    gradient (bilinear sampling), then Canny's 8-connected hysteresis at ``n_levels`` high
    thresholds ``top * k / (n_levels + 1)`` (``top`` = the image's largest NMS magnitude) with
    ``low = low_ratio * high``.  Higher thresholds give subsets, so the per-scale map (fraction of
    levels at which a pixel is an edge) thresholded at any t is exactly one Canny edge map; the
    benchmark's threshold sweep is a sweep of Canny's thresholds.  The maps of the scales are
    averaged (multi-scale evidence; fine scales localise, coarse scales suppress texture).

    Arguments:
        image: HxW or HxWx3 image (uint8 or float in [0, 1]).
        sigmas: Gaussian scales in pixels.
        low_ratio: hysteresis low / high threshold ratio (0.4, Canny's 2:1 to 3:1 advice).
        n_levels: number of nested threshold levels per scale.

    Returns:
        HxW float64 map in [0, 1].
    """
    if not sigmas:
        raise ValueError("at least one sigma is needed")
    g = to_gray(image)
    acc = np.zeros_like(g)
    for s in sigmas:
        acc += _canny_soft_single(g, float(s), float(low_ratio), int(n_levels))
    return acc / len(sigmas)


def felzenszwalb_edges(
    image: np.ndarray,
    scales: Sequence[float] = (50, 100, 200, 400, 800, 1600),
    sigma: float = 0.8,
    min_size: Optional[int] = None,
) -> np.ndarray:
    """Soft boundary map from Felzenszwalb-Huttenlocher graph segmentations at several scales.

    Each scale ``k`` gives a segmentation (``skimage.segmentation.felzenszwalb`` on the RGB image,
    Gaussian ``sigma``, ``min_size`` default ``k / 4`` (at least 10) pixels); its boundary map is
    taken with the benchmark's ``seg2bdry`` convention (:func:`sambench.metrics.bsds.seg_to_boundaries`);
    the soft map is the mean of the boundary maps (fraction of scales at which a pixel lies on a
    segment boundary; coarse-scale boundaries score high).

    Arguments:
        image: HxWx3 (or HxW) image, uint8 or float in [0, 1].
        scales: FH ``scale`` (k) values, fine to coarse.
        sigma: FH pre-smoothing.
        min_size: minimum component size; default ``max(10, k // 4)`` per scale.

    Returns:
        HxW float64 map in [0, 1].
    """
    from skimage.segmentation import felzenszwalb

    if not scales:
        raise ValueError("at least one scale is needed")
    img = _to_float_image(image)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    channel_axis = -1 if img.ndim == 3 else None
    acc = np.zeros(img.shape[:2], dtype=np.float64)
    for k in scales:
        ms = int(min_size) if min_size is not None else max(10, int(k) // 4)
        seg = felzenszwalb(img, scale=float(k), sigma=float(sigma), min_size=ms, channel_axis=channel_axis)
        acc += seg_to_boundaries(seg)
    return acc / len(scales)


CLASSICAL_EDGE_METHODS = {
    "sobel": sobel_edges,
    "canny": canny_edges,
    "felzenszwalb": felzenszwalb_edges,
}
"""Name -> function for the zero-shot classical baselines (paper Table 3)."""
