"""``correspondPixels`` of the BSDS benchmark: the exact min-cost one-to-one matching of boundary pixels.

Same graph and integer costs as ``match.cc``; solved exactly and deterministically by a sparse
shortest-augmenting-path assignment compiled with numba.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Tuple

import numba as nb
import numpy as np

from .thinning import as_bool_map

DEFAULT_MAX_DIST = 0.0075
"""Matching tolerance of the BSDS500 benchmark, as a fraction of the image diagonal."""
DEFAULT_OUTLIER_COST = 100.0
"""Cost of an unmatched pixel, as a multiple of the (pixel) matching tolerance (``match.cc``)."""
_MULTIPLIER = 100  # match.cc: CSA needs integer weights, distances are multiplied by 100 and rounded


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
    b1 = as_bool_map(bmap1, "bmap1")
    b2 = as_bool_map(bmap2, "bmap2")
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

