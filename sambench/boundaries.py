"""The BSDS500 boundary benchmark (Arbelaez et al.), re-implemented in Python.

This module reproduces, step by step, the official MATLAB benchmark shipped with BSDS500
(``bench/benchmarks/boundaryBench.m``, ``evaluation_bdry_image.m``, ``collect_eval_bdry.m``)
and D. Martin's ``correspondPixels`` (``match.cc``, a CSA min-cost assignment):

* :func:`correspond_pixels` -- one-to-one matching of the boundary pixels of two maps, pixels
  farther apart than ``max_dist`` x image diagonal never match, unmatched pixels pay an outlier
  cost.  Same graph, same integer costs (distances x 100, rounded) and the same outlier cost as
  ``match.cc``; the only difference is that ``match.cc`` connects outliers to a *random* sparse
  subset of other outliers (degree 6) before running CSA, which makes its optimum (slightly)
  random, while here the outlier structure is complete (an exact, deterministic optimum of the
  same objective).  The solver is a sparse shortest-augmenting-path (Jonker-Volgenant style)
  assignment written with numba.
* :func:`evaluate_boundary_image` -- ``evaluation_bdry_image``: thresholds, ``pb >= t``,
  ``bwmorph(.., 'thin', inf)``, matching against every annotator, counts ``cntR sumR cntP sumP``.
* :func:`collect_results` -- ``collect_eval_bdry``: ODS (interpolated best F of the summed
  counts), OIS, AP (area under the interpolated PR curve exactly as the benchmark computes it),
  plus R50 (recall at 50 % precision) and the PR curve.
* :class:`BoundaryEvaluator` -- runs images in parallel (deterministically) and writes the
  benchmark's own text files ``eval_bdry.txt``, ``eval_bdry_img.txt``, ``eval_bdry_thr.txt``.

Inputs follow the benchmark: a soft boundary map in [0, 1] (a PNG is read as ``value / 255``), an
ultrametric contour map (``ucm2`` in a ``.mat`` file, "doubleSize" format) or a list of
segmentations (``segs`` in a ``.mat`` file, then the "thresholds" are the segmentation indices
1..K).  Ground truth comes from the BSDS ``groundTruth/*.mat`` files.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Literal, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numba as nb
import numpy as np

__all__ = [
    "Correspondence",
    "BoundaryCounts",
    "BoundaryResult",
    "BoundaryEvaluator",
    "correspond_pixels",
    "make_thresholds",
    "thin_boundaries",
    "seg_to_boundaries",
    "evaluate_boundary_image",
    "evaluate_boundary_maps",
    "collect_results",
    "fmeasure",
    "load_bsds_ground_truth",
    "load_bsds_segmentations",
    "read_prediction_png",
    "load_prediction",
    "DEFAULT_MAX_DIST",
    "DEFAULT_OUTLIER_COST",
]

DEFAULT_MAX_DIST = 0.0075
"""Matching tolerance of the BSDS500 benchmark, as a fraction of the image diagonal."""
DEFAULT_OUTLIER_COST = 100.0
"""Cost of an unmatched pixel, as a multiple of the (pixel) matching tolerance (``match.cc``)."""
_MULTIPLIER = 100  # match.cc: CSA needs integer weights, distances are multiplied by 100 and rounded

ArrayLike = Union[np.ndarray, Sequence[float]]
PathLike = Union[str, "os.PathLike[str]"]
Prediction = Union[np.ndarray, Sequence[np.ndarray], PathLike]
GroundTruth = Union[Sequence[np.ndarray], PathLike]


# ----------------------------------------------------------------------------------------------
# numba kernels
# ----------------------------------------------------------------------------------------------


@nb.njit(cache=True, nogil=True)
def _heap_push(keys, vals, size, key, val):
    """Push (key, val) on a binary min-heap stored in two arrays; ties are broken by val."""
    i = size
    keys[i] = key
    vals[i] = val
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] > keys[i] or (keys[parent] == keys[i] and vals[parent] > vals[i]):
            keys[parent], keys[i] = keys[i], keys[parent]
            vals[parent], vals[i] = vals[i], vals[parent]
            i = parent
        else:
            break
    return size + 1


@nb.njit(cache=True, nogil=True)
def _heap_pop(keys, vals, size):
    """Pop the smallest (key, val) of the heap; returns (key, val, new_size)."""
    key = keys[0]
    val = vals[0]
    size -= 1
    keys[0] = keys[size]
    vals[0] = vals[size]
    i = 0
    while True:
        left = 2 * i + 1
        right = left + 1
        m = i
        if left < size and (keys[left] < keys[m] or (keys[left] == keys[m] and vals[left] < vals[m])):
            m = left
        if right < size and (keys[right] < keys[m] or (keys[right] == keys[m] and vals[right] < vals[m])):
            m = right
        if m == i:
            break
        keys[m], keys[i] = keys[i], keys[m]
        vals[m], vals[i] = vals[i], vals[m]
        i = m
    return key, val, size


@nb.njit(cache=True, nogil=True)
def _assign_with_outliers(ptr, adj, cost, n_rows, n_cols, outlier):
    """Min-cost assignment where every row may instead take its own private outlier column.

    Rows ``0..n_rows-1`` have sparse adjacency ``adj[ptr[r]:ptr[r+1]]`` (real columns) with integer
    costs; row ``r`` can always take the private column ``n_cols + r`` at cost ``outlier``.
    Columns may stay unassigned.  Minimising ``sum(real costs) + outlier * (#unmatched rows)`` is
    the same problem as match.cc's perfect matching on the outlier-augmented graph (each real pair
    saves one outlier cost), solved exactly by successive shortest augmenting paths with column
    potentials (Dijkstra on reduced costs, Jonker-Volgenant update).

    Returns ``col_of``: for each row, its real column, or a value >= n_cols when it is an outlier.
    """
    INF = np.int64(1) << np.int64(60)
    nc = n_cols + n_rows
    v = np.zeros(nc, np.int64)
    row_of = np.full(nc, -1, np.int64)
    col_of = np.full(n_rows, -1, np.int64)
    acost = np.zeros(n_rows, np.int64)
    # Greedy start: a row takes its cheapest column when that column is still free (tight, v = 0).
    for r in range(n_rows):
        best = outlier
        for p in range(ptr[r], ptr[r + 1]):
            if cost[p] < best:
                best = cost[p]
        if best < outlier:
            for p in range(ptr[r], ptr[r + 1]):
                j = adj[p]
                if cost[p] == best and row_of[j] == -1:
                    row_of[j] = r
                    col_of[r] = j
                    acost[r] = best
                    break
    dist = np.full(nc, INF, np.int64)
    pred = np.full(nc, -1, np.int64)
    predc = np.zeros(nc, np.int64)
    done = np.zeros(nc, np.bool_)
    touched = np.empty(nc, np.int64)
    scanned = np.empty(nc, np.int64)
    hsize_max = adj.shape[0] + 2 * n_rows + 1
    hkeys = np.empty(hsize_max, np.int64)
    hvals = np.empty(hsize_max, np.int64)
    for r0 in range(n_rows):
        if col_of[r0] != -1:
            continue
        nt = 0
        ns = 0
        hs = 0
        best_d = INF
        best_j = -1
        # the row's own outlier column (always free: only r0 can take it)
        k = n_cols + r0
        dist[k] = outlier - v[k]
        pred[k] = r0
        predc[k] = outlier
        touched[nt] = k
        nt += 1
        best_d = dist[k]
        best_j = k
        for p in range(ptr[r0], ptr[r0 + 1]):
            j = adj[p]
            nd = cost[p] - v[j]
            if nd < dist[j]:
                if dist[j] == INF:
                    touched[nt] = j
                    nt += 1
                dist[j] = nd
                pred[j] = r0
                predc[j] = cost[p]
                if row_of[j] == -1:
                    if nd < best_d:
                        best_d = nd
                        best_j = j
                else:
                    hs = _heap_push(hkeys, hvals, hs, nd, j)
        while hs > 0:
            if hkeys[0] >= best_d:
                break
            mu, j, hs = _heap_pop(hkeys, hvals, hs)
            if done[j] or mu > dist[j]:
                continue
            done[j] = True
            scanned[ns] = j
            ns += 1
            i = row_of[j]
            base = mu - (acost[i] - v[j])
            # the private outlier column of row i (free, since i holds j)
            k = n_cols + i
            nd = base + outlier - v[k]
            if nd < dist[k]:
                if dist[k] == INF:
                    touched[nt] = k
                    nt += 1
                dist[k] = nd
                pred[k] = i
                predc[k] = outlier
                if nd < best_d:
                    best_d = nd
                    best_j = k
            for p in range(ptr[i], ptr[i + 1]):
                k = adj[p]
                if done[k]:
                    continue
                nd = base + cost[p] - v[k]
                if nd < dist[k]:
                    if dist[k] == INF:
                        touched[nt] = k
                        nt += 1
                    dist[k] = nd
                    pred[k] = i
                    predc[k] = cost[p]
                    if row_of[k] == -1:
                        if nd < best_d:
                            best_d = nd
                            best_j = k
                    else:
                        hs = _heap_push(hkeys, hvals, hs, nd, k)
        # dual update of the scanned columns, then augment along the shortest path
        for a in range(ns):
            k = scanned[a]
            v[k] += dist[k] - best_d
        j = best_j
        while True:
            i = pred[j]
            c = predc[j]
            prev = col_of[i]
            row_of[j] = i
            col_of[i] = j
            acost[i] = c
            if i == r0:
                break
            j = prev
        for a in range(nt):
            k = touched[a]
            dist[k] = INF
            done[k] = False
            pred[k] = -1
    return col_of


@nb.njit(cache=True, nogil=True)
def _match_kernel(b1, b2, off_dy, off_dx, off_w, outlier):
    """Match the nonzero pixels of ``b1`` and ``b2`` (same shape) as match.cc does.

    Returns ``(pix1, partner1, pix2, partner2)``: the flat (C-order) indices of the boundary
    pixels of each map in raster order, and for each the flat index of its partner in the other
    map, or -1 when unmatched.
    """
    H, W = b1.shape
    n1 = 0
    n2 = 0
    for y in range(H):
        for x in range(W):
            if b1[y, x]:
                n1 += 1
            if b2[y, x]:
                n2 += 1
    pix1 = np.empty(n1, np.int64)
    pix2 = np.empty(n2, np.int64)
    pos2 = np.full(H * W, -1, np.int64)
    a1 = 0
    a2 = 0
    for y in range(H):
        for x in range(W):
            if b1[y, x]:
                pix1[a1] = y * W + x
                a1 += 1
            if b2[y, x]:
                pix2[a2] = y * W + x
                pos2[y * W + x] = a2
                a2 += 1
    partner1 = np.full(n1, -1, np.int64)
    partner2 = np.full(n2, -1, np.int64)
    if n1 == 0 or n2 == 0:
        return pix1, partner1, pix2, partner2
    K = off_dy.shape[0]
    # edges between pixels within the tolerance, in CSR by map-1 pixel
    ptr1 = np.zeros(n1 + 1, np.int64)
    for a in range(n1):
        y = pix1[a] // W
        x = pix1[a] - y * W
        c = 0
        for k in range(K):
            yy = y + off_dy[k]
            xx = x + off_dx[k]
            if yy < 0 or yy >= H or xx < 0 or xx >= W:
                continue
            if pos2[yy * W + xx] >= 0:
                c += 1
        ptr1[a + 1] = ptr1[a] + c
    m = ptr1[n1]
    if m == 0:
        return pix1, partner1, pix2, partner2
    adj1 = np.empty(m, np.int64)
    w1 = np.empty(m, np.int64)
    deg2 = np.zeros(n2, np.int64)
    for a in range(n1):
        y = pix1[a] // W
        x = pix1[a] - y * W
        q = ptr1[a]
        for k in range(K):
            yy = y + off_dy[k]
            xx = x + off_dx[k]
            if yy < 0 or yy >= H or xx < 0 or xx >= W:
                continue
            b = pos2[yy * W + xx]
            if b >= 0:
                adj1[q] = b
                w1[q] = off_w[k]
                deg2[b] += 1
                q += 1
    # matchable nodes only (pixels with at least one partner within reach)
    node1 = np.full(n1, -1, np.int64)
    node2 = np.full(n2, -1, np.int64)
    na = 0
    for a in range(n1):
        if ptr1[a + 1] > ptr1[a]:
            node1[a] = na
            na += 1
    nb_ = 0
    for b in range(n2):
        if deg2[b] > 0:
            node2[b] = nb_
            nb_ += 1
    inv1 = np.empty(na, np.int64)
    inv2 = np.empty(nb_, np.int64)
    for a in range(n1):
        if node1[a] >= 0:
            inv1[node1[a]] = a
    for b in range(n2):
        if node2[b] >= 0:
            inv2[node2[b]] = b
    # rows = the smaller side (fewer searches for rows that end up as outliers)
    rows_are_1 = na <= nb_
    if rows_are_1:
        n_rows = na
        n_cols = nb_
        rptr = np.zeros(n_rows + 1, np.int64)
        radj = np.empty(m, np.int64)
        rw = np.empty(m, np.int64)
        q = 0
        for r in range(n_rows):
            a = inv1[r]
            for p in range(ptr1[a], ptr1[a + 1]):
                radj[q] = node2[adj1[p]]
                rw[q] = w1[p]
                q += 1
            rptr[r + 1] = q
    else:
        n_rows = nb_
        n_cols = na
        rptr = np.zeros(n_rows + 1, np.int64)
        for r in range(n_rows):
            rptr[r + 1] = rptr[r] + deg2[inv2[r]]
        fill = rptr[:-1].copy()
        radj = np.empty(m, np.int64)
        rw = np.empty(m, np.int64)
        for a in range(n1):
            for p in range(ptr1[a], ptr1[a + 1]):
                r = node2[adj1[p]]
                radj[fill[r]] = node1[a]
                rw[fill[r]] = w1[p]
                fill[r] += 1
    col_of = _assign_with_outliers(rptr, radj, rw, n_rows, n_cols, outlier)
    for r in range(n_rows):
        c = col_of[r]
        if c < n_cols:
            if rows_are_1:
                a = inv1[r]
                b = inv2[c]
            else:
                a = inv1[c]
                b = inv2[r]
            partner1[a] = pix2[b]
            partner2[b] = pix1[a]
    return pix1, partner1, pix2, partner2


@nb.njit(cache=True, nogil=True)
def _thin_kernel(img, lut_a, lut_b):
    """Guo-Hall two-subiteration parallel thinning until convergence (bwmorph 'thin', inf)."""
    H, W = img.shape
    P = np.zeros((H + 2, W + 2), np.uint8)
    n = 0
    for y in range(H):
        for x in range(W):
            if img[y, x]:
                P[y + 1, x + 1] = 1
                n += 1
    ys = np.empty(n, np.int64)
    xs = np.empty(n, np.int64)
    t = 0
    for y in range(H):
        for x in range(W):
            if img[y, x]:
                ys[t] = y + 1
                xs[t] = x + 1
                t += 1
    dels = np.empty(n, np.int64)
    while True:
        changed = 0
        for sub in range(2):
            nd = 0
            for t in range(n):
                y = ys[t]
                x = xs[t]
                if P[y, x] == 0:
                    continue
                code = (
                    P[y, x + 1]
                    + 2 * P[y - 1, x + 1]
                    + 4 * P[y - 1, x]
                    + 8 * P[y - 1, x - 1]
                    + 16 * P[y, x - 1]
                    + 32 * P[y + 1, x - 1]
                    + 64 * P[y + 1, x]
                    + 128 * P[y + 1, x + 1]
                )
                if sub == 0:
                    kill = lut_a[code]
                else:
                    kill = lut_b[code]
                if kill:
                    dels[nd] = t
                    nd += 1
            for q in range(nd):
                P[ys[dels[q]], xs[dels[q]]] = 0
            changed += nd
        if changed == 0:
            break
        # drop deleted pixels from the candidate list
        k = 0
        for t in range(n):
            if P[ys[t], xs[t]]:
                ys[k] = ys[t]
                xs[k] = xs[t]
                k += 1
        n = k
    out = np.zeros((H, W), np.bool_)
    for t in range(n):
        out[ys[t] - 1, xs[t] - 1] = True
    return out


def _guo_hall_luts() -> Tuple[np.ndarray, np.ndarray]:
    """Deletion look-up tables of the two Guo-Hall subiterations (conditions G1, G2, G3 / G3').

    The 8-neighbourhood code has bit k set when neighbour x_{k+1} is on, neighbours numbered
    counter-clockwise from the east one (x1 = E, x2 = NE, x3 = N, ..., x8 = SE).
    """
    first = np.zeros(256, dtype=np.bool_)
    second = np.zeros(256, dtype=np.bool_)
    for code in range(256):
        x = [(code >> k) & 1 for k in range(8)]
        crossings = sum(1 for i in (0, 2, 4, 6) if not x[i] and (x[i + 1] or x[(i + 2) % 8]))
        n1 = sum(1 for i in (0, 2, 4, 6) if x[i] or x[i + 1])
        n2 = sum(1 for i in (1, 3, 5, 7) if x[i] or x[(i + 1) % 8])
        g12 = crossings == 1 and 2 <= min(n1, n2) <= 3
        g3 = not ((x[1] or x[2] or not x[7]) and x[0])
        g3p = not ((x[5] or x[6] or not x[3]) and x[4])
        first[code] = g12 and g3
        second[code] = g12 and g3p
    return first, second


_LUT_A, _LUT_B = _guo_hall_luts()


# ----------------------------------------------------------------------------------------------
# matching
# ----------------------------------------------------------------------------------------------


class Correspondence(NamedTuple):
    """Result of :func:`correspond_pixels`.

    Attributes:
        match1: HxW int64; for each boundary pixel of map 1, ``1 + flat index`` (C order, i.e.
            ``y * W + x``) of its partner in map 2; 0 where unmatched or not a boundary pixel.
        match2: the same for map 2 (partners in map 1).
        cost: match.cc's cost: ``0.5 * distance`` per matched pixel of each map plus the outlier
            cost (in pixels) per unmatched boundary pixel.
        outlier_count: number of unmatched boundary pixels, both maps together.
    """

    match1: np.ndarray
    match2: np.ndarray
    cost: float
    outlier_count: int


@dataclass(frozen=True)
class _MatchGeometry:
    """Search-window offsets and integer costs for one image size and tolerance."""

    max_dist_px: float
    outlier_px: float
    outlier_int: int
    dy: np.ndarray
    dx: np.ndarray
    w: np.ndarray
    dist: np.ndarray


def _match_geometry(shape: Tuple[int, int], max_dist: float, outlier_cost: float) -> _MatchGeometry:
    """Offsets within ``max_dist`` x diagonal, with match.cc's rounding of costs."""
    h, w = int(shape[0]), int(shape[1])
    if max_dist < 0:
        raise ValueError("max_dist must be >= 0")
    # correspondPixels.cc: idiag = sqrt(float(rows*rows + cols*cols)) (a float32 cast)
    idiag = math.sqrt(float(np.float32(h * h + w * w)))
    md = float(max_dist) * idiag
    oc = float(outlier_cost) * float(max_dist) * idiag
    if not oc > md:
        raise ValueError("outlier_cost must exceed 1 (the outlier cost must exceed the matching distance)")
    r = int(math.ceil(md))
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    d2 = (dy * dy + dx * dx).astype(np.float64)
    keep = ~(d2 > md * md)
    dy, dx, d2 = dy[keep].astype(np.int64), dx[keep].astype(np.int64), d2[keep]
    order = np.lexsort((dx, dy, d2))  # nearest first (only the greedy start order depends on it)
    dy, dx, d2 = dy[order], dx[order], d2[order]
    dist = np.sqrt(d2)
    wts = np.rint(dist * _MULTIPLIER).astype(np.int64)
    ow = int(math.ceil(oc * _MULTIPLIER))
    return _MatchGeometry(md, oc, ow, np.ascontiguousarray(dy), np.ascontiguousarray(dx), wts, dist)


def _as_bool_map(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    return np.ascontiguousarray(arr != 0)


def _match(b1: np.ndarray, b2: np.ndarray, geo: _MatchGeometry):
    return _match_kernel(b1, b2, geo.dy, geo.dx, geo.w, np.int64(geo.outlier_int))


def correspond_pixels(
    bmap1: np.ndarray,
    bmap2: np.ndarray,
    max_dist: float = DEFAULT_MAX_DIST,
    outlier_cost: float = DEFAULT_OUTLIER_COST,
) -> Correspondence:
    """Minimum-cost one-to-one correspondence between the boundary pixels of two maps.

    Python counterpart of the benchmark's ``correspondPixels`` mex file.  Two pixels may be
    matched only when their Euclidean distance is at most ``max_dist`` x the image diagonal;
    the cost of a pair is its distance (x 100, rounded to an integer, as in match.cc) and every
    unmatched pixel costs ``outlier_cost`` x the pixel tolerance.  The optimum is the minimum-cost
    perfect matching of match.cc's outlier-augmented bipartite graph (with a complete rather than
    random outlier connectivity), i.e. the maximum-weight matching with pair weights
    ``outlier - cost``.  Deterministic.

    Arguments:
        bmap1: HxW boundary map (nonzero = boundary), e.g. the thinned prediction.
        bmap2: HxW boundary map, e.g. one human annotation.
        max_dist: matching tolerance as a fraction of the image diagonal (benchmark: 0.0075).
        outlier_cost: cost of an unmatched pixel as a multiple of the pixel tolerance (100).

    Returns:
        :class:`Correspondence` ``(match1, match2, cost, outlier_count)``; ``match1 > 0`` marks the
        matched pixels of map 1 (note: the mex file returns MATLAB column-major indices and, as
        4th output, the outlier cost in pixels; here indices are 1 + C-order flat indices and the
        4th value is the number of unmatched pixels).
    """
    b1 = _as_bool_map(bmap1, "bmap1")
    b2 = _as_bool_map(bmap2, "bmap2")
    if b1.shape != b2.shape:
        raise ValueError(f"maps differ in shape: {b1.shape} vs {b2.shape}")
    geo = _match_geometry(b1.shape, max_dist, outlier_cost)
    pix1, part1, pix2, part2 = _match(b1, b2, geo)
    h, w = b1.shape
    m1 = np.zeros(h * w, np.int64)
    m2 = np.zeros(h * w, np.int64)
    m1[pix1] = part1 + 1
    m2[pix2] = part2 + 1
    cost = 0.0
    outliers = 0
    for pix, part in ((pix1, part1), (pix2, part2)):
        matched = part >= 0
        outliers += int((~matched).sum())
        if matched.any():
            py, px = np.divmod(pix[matched], w)
            qy, qx = np.divmod(part[matched], w)
            cost += float(0.5 * np.sqrt((py - qy) ** 2 + (px - qx) ** 2).sum())
    cost += outliers * geo.outlier_px
    return Correspondence(m1.reshape(h, w), m2.reshape(h, w), cost, outliers)


# ----------------------------------------------------------------------------------------------
# per-image evaluation
# ----------------------------------------------------------------------------------------------


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


def thin_boundaries(bmap: np.ndarray) -> np.ndarray:
    """Morphological thinning to 1-pixel-wide curves, MATLAB ``bwmorph(bmap, 'thin', inf)``.

    Guo-Hall two-subiteration parallel thinning (the algorithm of bwmorph 'thin' and of
    ``skimage.morphology.thin``), repeated until nothing changes; a numba version of the same
    look-up tables (identical output to skimage, several times faster on sparse maps).

    Arguments:
        bmap: HxW binary map (nonzero = on).

    Returns:
        HxW bool thinned map.
    """
    return _thin_kernel(_as_bool_map(bmap, "bmap"), _LUT_A, _LUT_B)


def seg_to_boundaries(seg: np.ndarray) -> np.ndarray:
    """Boundary map of a label image, the benchmark's ``seg2bdry(seg, 'imageSize')``.

    Arguments:
        seg: HxW integer label image.

    Returns:
        HxW bool boundary map (a pixel is on when it is the lower/right neighbour side of a label
        change, following the benchmark's doubleSize construction subsampled at pixel centres).
    """
    seg = np.asarray(seg)
    if seg.ndim != 2:
        raise ValueError("seg must be a 2-D label image")
    tx, ty = seg.shape
    bdry = np.zeros((2 * tx + 1, 2 * ty + 1), dtype=bool)
    ev = np.zeros((tx, ty), dtype=bool)
    ev[:-1, :] = seg[:-1, :] != seg[1:, :]
    eh = np.zeros((tx, ty), dtype=bool)
    eh[:, :-1] = seg[:, :-1] != seg[:, 1:]
    bdry[2::2, 1::2] = ev
    bdry[1::2, 2::2] = eh
    bdry[2:-1:2, 2:-1:2] = np.maximum(
        np.maximum(eh[:-1, :-1], eh[1:, :-1]), np.maximum(ev[:-1, :-1], ev[:-1, 1:])
    )
    bdry[0, :] = bdry[1, :]
    bdry[:, 0] = bdry[:, 1]
    bdry[-1, :] = bdry[-2, :]
    bdry[:, -1] = bdry[:, -2]
    return bdry[2::2, 2::2].copy()


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
    gts = [_as_bool_map(g, "ground truth") for g in ground_truth]
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
    maps = [_as_bool_map(b, "boundary map") for b in bmaps]
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


# ----------------------------------------------------------------------------------------------
# aggregation (collect_eval_bdry)
# ----------------------------------------------------------------------------------------------


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
    """Largest recall on the piecewise-linear PR curve (threshold order) with precision >= level."""
    cands = [float(x) for x in r[p >= level]]
    for i in range(1, len(r)):
        p0, p1 = p[i - 1], p[i]
        if (p0 - level) * (p1 - level) < 0:
            d = (level - p0) / (p1 - p0)
            cands.append(float(r[i - 1] + d * (r[i] - r[i - 1])))
    return max(cands) if cands else 0.0


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
        r50: recall at 50 % precision on the (interpolated) dataset curve; 0 if never reached.
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
            "r50": self.r50,
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
    * R50 (not in the MATLAB code): recall at 50 % precision on the linearly interpolated
      dataset curve.

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


# ----------------------------------------------------------------------------------------------
# I/O
# ----------------------------------------------------------------------------------------------


def _loadmat(path: PathLike) -> Dict[str, Any]:
    from scipy.io import loadmat

    return loadmat(str(path))


def _cells(obj: np.ndarray) -> List[Any]:
    """Elements of a MATLAB cell array loaded by scipy (any orientation)."""
    return [obj.flat[i] for i in range(obj.size)]


def load_bsds_ground_truth(mat_path: PathLike, key: str = "Boundaries") -> List[np.ndarray]:
    """Annotations of one image from a BSDS ``groundTruth/<id>.mat`` file.

    Arguments:
        mat_path: path of the .mat file (``groundTruth`` is a 1xK cell of structs with fields
            ``Segmentation`` and ``Boundaries``).
        key: ``"Boundaries"`` (bool maps, default) or ``"Segmentation"`` (label maps).

    Returns:
        list of K HxW arrays (bool for boundaries, the stored integer type for segmentations).
    """
    gt = _loadmat(mat_path)["groundTruth"]
    out = []
    for cell in _cells(gt):
        a = cell[key]
        while isinstance(a, np.ndarray) and a.dtype == object:
            a = a.flat[0]
        a = np.asarray(a)
        out.append(a != 0 if key == "Boundaries" else a)
    return out


def load_bsds_segmentations(mat_path: PathLike) -> List[np.ndarray]:
    """Label images from a benchmark ``segs`` file (``segs``: 1xK cell of HxW label maps).

    Arguments:
        mat_path: path of the .mat file.

    Returns:
        list of K HxW integer arrays.
    """
    return [np.asarray(s) for s in _cells(_loadmat(mat_path)["segs"])]


def read_prediction_png(path: PathLike) -> np.ndarray:
    """Read a soft boundary map image as the benchmark does: ``double(imread(f)) / 255``.

    Arguments:
        path: 8-bit grayscale image (PNG, or anything Pillow reads).  A 16-bit image is divided
            by 65535 instead (MATLAB would divide by 255, which is meaningless); an RGB image whose
            channels are equal is read from its first channel.

    Returns:
        HxW float64 map (8-bit: values v/255 in [0, 1]).
    """
    from PIL import Image

    with Image.open(path) as im:
        a = np.asarray(im)
    if a.ndim == 3:
        if a.shape[2] in (3, 4) and np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2]):
            a = a[..., 0]
        else:
            raise ValueError(f"{path}: expected a grayscale boundary map, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype == np.uint16 or (a.dtype.kind in "iu" and a.max(initial=0) > 255):
        return a.astype(np.float64) / 65535.0
    if a.dtype == np.bool_:
        return a.astype(np.float64)
    return a.astype(np.float64) / 255.0


def load_prediction(path: PathLike) -> Union[np.ndarray, List[np.ndarray]]:
    """Load a benchmark input from disk, like ``evaluation_bdry_image`` does.

    Arguments:
        path: an image (soft boundary map, read by :func:`read_prediction_png`), a ``.mat`` with
            ``ucm2`` (doubleSize ultrametric map; returns ``ucm2[2::2, 2::2]``) or ``segs`` (returns
            the list of boundary maps of the segmentations), or a ``.npy`` soft map.

    Returns:
        a HxW float map, or a list of HxW bool maps (segmentation input).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".mat":
        m = _loadmat(p)
        if "ucm2" in m:
            return np.asarray(m["ucm2"], dtype=np.float64)[2::2, 2::2].copy()
        if "segs" in m:
            return [seg_to_boundaries(s) for s in _cells(m["segs"])]
        raise ValueError(f"{p}: a .mat input must hold 'ucm2' or 'segs'")
    if suffix == ".npy":
        return np.asarray(np.load(p), dtype=np.float64)
    return read_prediction_png(p)


# ----------------------------------------------------------------------------------------------
# dataset evaluator
# ----------------------------------------------------------------------------------------------

GroundTruthSource = Union[Mapping[str, GroundTruth], Callable[[str], Sequence[np.ndarray]]]

_STATE: Dict[str, Any] = {}
_FORK_LOCK = threading.Lock()


def _resolve_gt(source: GroundTruthSource, key: Any) -> List[np.ndarray]:
    if callable(source) and not isinstance(source, Mapping):
        item = source(key)
    elif key in source:
        item = source[key]
    else:
        item = source[str(key)]
    if isinstance(item, (str, os.PathLike)):
        return load_bsds_ground_truth(item)
    return [np.asarray(g) for g in item]


def _resolve_pred(item: Prediction) -> Union[np.ndarray, List[np.ndarray]]:
    if isinstance(item, (str, os.PathLike)):
        return load_prediction(item)
    if isinstance(item, np.ndarray):
        return item
    return [np.asarray(b) for b in item]  # a sequence of hard boundary maps


def _evaluate_item(pred: Prediction, gt: List[np.ndarray], params: Dict[str, Any]) -> BoundaryCounts:
    p = _resolve_pred(pred)
    if isinstance(p, list):
        return evaluate_boundary_maps(p, gt, max_dist=params["max_dist"], thin=params["thin"], outlier_cost=params["outlier_cost"])
    return evaluate_boundary_image(
        p, gt, thresholds=params["thresholds"], max_dist=params["max_dist"], thin=params["thin"], outlier_cost=params["outlier_cost"]
    )


def _worker_by_index(index: int) -> BoundaryCounts:
    """Pool task under 'fork': the inputs live in the inherited module state."""
    key = _STATE["keys"][index]
    gt = _resolve_gt(_STATE["gts"], key)
    return _evaluate_item(_STATE["preds"][key], gt, _STATE["params"])


def _worker_by_value(task: Tuple[Prediction, List[np.ndarray], Dict[str, Any]]) -> BoundaryCounts:
    """Pool task under 'spawn'/'forkserver': the inputs are pickled."""
    pred, gt, params = task
    return _evaluate_item(pred, gt, params)


def _warm_up() -> None:
    """Compile (or load from cache) the numba kernels before forking workers."""
    z = np.zeros((8, 8), dtype=bool)
    z[2:6, 3] = True
    thin_boundaries(z)
    correspond_pixels(z, z, 0.2)


class BoundaryEvaluator:
    """Dataset boundary benchmark (BSDS500 protocol), parallel over images and deterministic.

    Example::

        ev = BoundaryEvaluator(thresholds=99, nproc=8)
        res = ev.evaluate({"2018": pb}, {"2018": "groundTruth/test/2018.mat"}, out_dir="out/")
        print(res.to_dict()["ods"])

    Arguments:
        thresholds: int n (benchmark thresholds, default 99) or explicit thresholds for soft maps.
        max_dist: matching tolerance as a fraction of the image diagonal (0.0075).
        thin: thin thresholded maps before matching (True).
        nproc: worker processes (default ``os.cpu_count()``); 1 runs in-process.  Results do not
            depend on it.
        outlier_cost: see :func:`correspond_pixels`.
        ap_unique: see :func:`collect_results`.
        progress: print one line per evaluated image to stderr.
    """

    def __init__(
        self,
        thresholds: Union[int, ArrayLike] = 99,
        max_dist: float = DEFAULT_MAX_DIST,
        thin: bool = True,
        nproc: Optional[int] = None,
        outlier_cost: float = DEFAULT_OUTLIER_COST,
        ap_unique: Literal["first", "last"] = "first",
        progress: bool = False,
    ) -> None:
        self.thresholds = thresholds if isinstance(thresholds, (int, np.integer)) else np.asarray(thresholds, np.float64)
        self.max_dist = float(max_dist)
        self.thin = bool(thin)
        self.nproc = int(nproc) if nproc else (os.cpu_count() or 1)
        self.outlier_cost = float(outlier_cost)
        self.ap_unique = ap_unique
        self.progress = progress

    def _params(self) -> Dict[str, Any]:
        return {"thresholds": self.thresholds, "max_dist": self.max_dist, "thin": self.thin, "outlier_cost": self.outlier_cost}

    def evaluate_counts(
        self, predictions: Mapping[str, Prediction], ground_truths: GroundTruthSource
    ) -> Dict[str, BoundaryCounts]:
        """Per-image counts, images in sorted-id order (MATLAB ``dir`` order).

        Arguments:
            predictions: image id -> soft map array, list of hard maps, or a file path.
            ground_truths: image id -> list of boundary maps or a groundTruth ``.mat`` path; or a
                callable ``loader(image_id) -> list of boundary maps``.

        Returns:
            dict image id -> :class:`BoundaryCounts`, in sorted id order.
        """
        keys = sorted(predictions.keys(), key=str)  # ids may be str or int; the order is by str
        ids = [str(k) for k in keys]
        if len(set(ids)) != len(ids):
            raise ValueError("image ids must be distinct as strings")
        preds = dict(predictions)
        params = self._params()
        nproc = max(1, min(self.nproc, len(ids)))
        results: Dict[str, BoundaryCounts] = {}
        if nproc == 1:
            for k, key in enumerate(keys):
                results[ids[k]] = _evaluate_item(preds[key], _resolve_gt(ground_truths, key), params)
                self._report(k, len(ids), ids[k])
            return results
        _warm_up()
        if "fork" in mp.get_all_start_methods():
            # the forked workers inherit the inputs (nothing is pickled; loaders may be lambdas);
            # the lock keeps concurrent evaluators (threads) from mixing their inputs
            with _FORK_LOCK:
                _STATE.update(keys=keys, preds=preds, gts=ground_truths, params=params)
                try:
                    pool = mp.get_context("fork").Pool(nproc)
                finally:
                    _STATE.clear()
            with pool:
                for k, counts in enumerate(pool.imap(_worker_by_index, range(len(ids)), chunksize=1)):
                    results[ids[k]] = counts
                    self._report(k, len(ids), ids[k])
        else:
            tasks = ((preds[k], _resolve_gt(ground_truths, k), params) for k in keys)
            with mp.get_context().Pool(nproc) as pool:
                for k, counts in enumerate(pool.imap(_worker_by_value, tasks, chunksize=1)):
                    results[ids[k]] = counts
                    self._report(k, len(ids), ids[k])
        return results

    def _report(self, k: int, n: int, image_id: str) -> None:
        if self.progress:
            import sys

            print(f"[boundaries] {k + 1}/{n} {image_id}", file=sys.stderr, flush=True)

    def evaluate(
        self,
        predictions: Mapping[str, Prediction],
        ground_truths: GroundTruthSource,
        out_dir: Optional[PathLike] = None,
    ) -> BoundaryResult:
        """Evaluate a set of images and aggregate them.

        Arguments:
            predictions: image id -> soft map (HxW in [0, 1]), list of hard boundary maps, or a
                path (.png, .mat with ucm2/segs, .npy).
            ground_truths: image id -> list of HxW boundary maps or a BSDS groundTruth ``.mat``
                path, or a callable ``loader(image_id)`` returning the list.
            out_dir: if given, write the benchmark's ``eval_bdry*.txt`` files there.

        Returns:
            :class:`BoundaryResult` (``.to_dict()`` gives ods, ois, ap, r50, best_threshold, curves).
        """
        if not predictions:
            raise ValueError("no predictions to evaluate")
        counts = self.evaluate_counts(predictions, ground_truths)
        res = collect_results(counts, ap_unique=self.ap_unique)
        if out_dir is not None:
            res.write_bench_files(out_dir)
        return res

    def evaluate_dirs(
        self,
        pred_dir: PathLike,
        gt_dir: PathLike,
        out_dir: Optional[PathLike] = None,
        image_ids: Optional[Sequence[str]] = None,
    ) -> BoundaryResult:
        """``boundaryBench`` on folders: ``<pred_dir>/<id>.mat`` or ``.png`` against ``<gt_dir>/<id>.mat``.

        Arguments:
            pred_dir: folder of predictions (a ``.mat`` is preferred over a ``.png``, as in the benchmark).
            gt_dir: folder of BSDS ground-truth ``.mat`` files.
            out_dir: where to write the ``eval_bdry*.txt`` files (optional).
            image_ids: ids to evaluate (default: every ``<gt_dir>/*.mat``).

        Returns:
            :class:`BoundaryResult`.
        """
        pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
        ids = list(image_ids) if image_ids is not None else sorted(p.stem for p in gt_dir.glob("*.mat"))
        preds: Dict[str, Prediction] = {}
        for i in ids:
            mat = pred_dir / f"{i}.mat"
            preds[i] = mat if mat.exists() else pred_dir / f"{i}.png"
        gts = {i: gt_dir / f"{i}.mat" for i in ids}
        return self.evaluate(preds, gts, out_dir=out_dir)
