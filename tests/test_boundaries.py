"""Tests of the BSDS500 boundary benchmark re-implementation (sambench.metrics.bsds).

The golden tests compare with the MATLAB benchmark's own outputs shipped with BSDS500
(``bench/data/test_N``); they need ``../shared/data`` beside the checkout and are skipped with a
reason otherwise.  Everything else runs on constructed inputs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching
from skimage.morphology import thin as sk_thin

from sambench.metrics import bsds as B

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BENCH = SHARED / "BSDS500" / "bench" / "data"
GOLDEN_FILES = ("eval_bdry.txt", "eval_bdry_img.txt", "eval_bdry_thr.txt")


def _need_bench():
    if not (BENCH / "groundTruth").is_dir():
        pytest.skip(f"BSDS500 benchmark demo data not found at {BENCH} (needs ../shared/data beside the checkout)")


# --------------------------------------------------------------------------------------------
# golden: the official MATLAB outputs
# --------------------------------------------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "test_dir,inputs",
    [
        # test_benchs.m: 2 = boundaryBench on the contour images png/ (nthresh 5) -- the soft-map case
        ("test_2", "png"),
        # 1 = allBench on ucm2/ (nthresh 5); 3 = boundaryBench on segs/ (thresholds = segmentation index)
        ("test_1", "ucm2"),
        ("test_3", "segs"),
    ],
)
def test_golden_matlab_outputs(tmp_path, test_dir, inputs):
    _need_bench()
    ev = B.BoundaryEvaluator(thresholds=5, nproc=2)
    res = ev.evaluate_dirs(BENCH / inputs, BENCH / "groundTruth", out_dir=tmp_path)
    for name in GOLDEN_FILES:
        ref = np.loadtxt(BENCH / test_dir / name, ndmin=2)
        ours = np.loadtxt(tmp_path / name, ndmin=2)
        assert ours.shape == ref.shape, name
        diff = np.abs(ours - ref).max()
        assert diff <= 0.002, f"{test_dir}/{name}: max abs diff {diff:.5f}"
    # the returned dict agrees with the written summary line
    line = np.loadtxt(tmp_path / "eval_bdry.txt")
    d = res.to_dict()
    assert d["ods"] == pytest.approx(line[3], abs=1e-5)
    assert d["ois"] == pytest.approx(line[6], abs=1e-5)
    assert d["ap"] == pytest.approx(line[7], abs=1e-5)
    assert d["best_threshold"] == pytest.approx(line[0], abs=1e-5)


@pytest.mark.shared_data
def test_golden_text_layout(tmp_path):
    """Same column layout as the MATLAB files (``%10g`` fields)."""
    _need_bench()
    B.BoundaryEvaluator(thresholds=5, nproc=1).evaluate_dirs(BENCH / "png", BENCH / "groundTruth", out_dir=tmp_path)
    for name in GOLDEN_FILES:
        ref = (BENCH / "test_2" / name).read_text().splitlines()
        ours = (tmp_path / name).read_text().splitlines()
        assert len(ours) == len(ref)
        for a, b in zip(ours, ref):
            assert len(a) == len(b) and len(a.split()) == len(b.split())


@pytest.mark.shared_data
def test_load_bsds_ground_truth():
    _need_bench()
    gts = B.load_bsds_ground_truth(BENCH / "groundTruth" / "2018.mat")
    assert len(gts) == 5
    assert all(g.dtype == bool and g.shape == (481, 321) for g in gts)
    segs = B.load_bsds_ground_truth(BENCH / "groundTruth" / "2018.mat", key="Segmentation")
    # the stored boundaries are the thinned seg2bdry of the stored segmentations
    for g, s in zip(gts, segs):
        assert np.array_equal(B.thin_boundaries(B.seg_to_boundaries(s)), g)


# --------------------------------------------------------------------------------------------
# matching on constructed cases
# --------------------------------------------------------------------------------------------


def _line_case(shift: int, size: int = 100):
    gt = np.zeros((size, size), bool)
    gt[20:80, 50] = True
    pred = np.zeros_like(gt)
    pred[20:80, 50 + shift] = True
    return pred, gt


def test_identical_maps_match_fully():
    pred, gt = _line_case(0)
    c = B.evaluate_boundary_image(pred.astype(float), [gt, gt], thresholds=5)
    assert np.all(c.cnt_r == c.sum_r) and np.all(c.cnt_p == c.sum_p)
    res = B.collect_results([c])
    assert res.ods == pytest.approx(1.0) and res.ois == pytest.approx(1.0)
    m = B.correspond_pixels(pred, gt)
    assert m.outlier_count == 0 and m.cost == 0.0


def test_shift_within_and_beyond_tolerance():
    # 100 x 100 image: tolerance 0.0075 * 141.4 = 1.06 px
    pred, gt = _line_case(1)
    m = B.correspond_pixels(pred, gt, 0.0075)
    assert (m.match1 > 0).sum() == pred.sum() and (m.match2 > 0).sum() == gt.sum()
    assert m.cost == pytest.approx(pred.sum() * 1.0)  # 0.5 * 1 px on each side
    pred, gt = _line_case(2)
    m = B.correspond_pixels(pred, gt, 0.0075)
    assert (m.match1 > 0).sum() == 0 and (m.match2 > 0).sum() == 0
    assert m.outlier_count == pred.sum() + gt.sum()
    # a larger tolerance (3 px) reaches the 3-px shift but not the 4-px one
    d3 = 3.0 / math.hypot(100, 100)
    assert (B.correspond_pixels(*_line_case(3), d3).match1 > 0).all(where=_line_case(3)[0])
    assert (B.correspond_pixels(*_line_case(4), d3).match1 > 0).sum() == 0


def test_match_arrays_point_to_partners():
    pred, gt = _line_case(1)
    m = B.correspond_pixels(pred, gt)
    w = pred.shape[1]
    for y, x in zip(*np.nonzero(pred)):
        q = m.match1[y, x] - 1
        qy, qx = divmod(int(q), w)
        assert gt[qy, qx] and m.match2[qy, qx] - 1 == y * w + x


def test_one_to_one():
    gt = np.zeros((50, 50), bool)
    gt[25, 25] = True
    pred = np.zeros_like(gt)
    pred[25, 24] = pred[25, 26] = True  # both within 1 px of the single GT pixel
    m = B.correspond_pixels(pred, gt, 1.5 / math.hypot(50, 50))
    assert (m.match1 > 0).sum() == 1 and (m.match2 > 0).sum() == 1
    c = B.evaluate_boundary_image(pred.astype(float), [gt], thresholds=[0.5], thin=False, max_dist=1.5 / math.hypot(50, 50))
    assert (c.cnt_p[0], c.sum_p[0], c.cnt_r[0], c.sum_r[0]) == (1, 2, 1, 1)


def test_assignment_beats_nearest_neighbour_greedy():
    # GT at x = 10, 12; predictions at x = 11, 13 (1 px apart, tolerance 1.5 px).  Prediction 11 is
    # equally close to both GT pixels; only the assignment pairing 11-10 and 13-12 matches all.
    gt = np.zeros((30, 30), bool)
    pred = np.zeros_like(gt)
    gt[15, [10, 12]] = True
    pred[15, [11, 13]] = True
    m = B.correspond_pixels(pred, gt, 1.5 / math.hypot(30, 30))
    assert (m.match1 > 0).sum() == 2 and (m.match2 > 0).sum() == 2


def _integer_objective(b1, b2, m1, max_dist, outlier_cost=100.0):
    """match.cc's integer objective of a matching given as match1 (sum of pair costs + outliers)."""
    h, w = b1.shape
    idiag = math.sqrt(h * h + w * w)
    ow = math.ceil(outlier_cost * max_dist * idiag * 100)
    total = 0
    k = 0
    for y, x in zip(*np.nonzero(b1)):
        if m1[y, x]:
            qy, qx = divmod(int(m1[y, x]) - 1, w)
            total += int(np.rint(math.hypot(y - qy, x - qx) * 100))
            k += 1
    return total + ow * (int(b1.sum()) + int(b2.sum()) - k)


def _scipy_optimum(b1, b2, max_dist, outlier_cost=100.0):
    """Exact optimum of the outlier-augmented perfect matching with scipy (LAPJVsp)."""
    h, w = b1.shape
    idiag = math.sqrt(h * h + w * w)
    md = max_dist * idiag
    ow = math.ceil(outlier_cost * max_dist * idiag * 100)
    p1 = np.argwhere(b1)
    p2 = np.argwhere(b2)
    n1, n2 = len(p1), len(p2)
    d = np.sqrt(((p1[:, None, :] - p2[None, :, :]) ** 2).sum(-1))
    ii, jj = np.nonzero(d <= md)
    wij = np.rint(d[ii, jj] * 100)
    # rows: real 1 (n1) + outlier nodes of map 2 (n2); columns: real 2 (n2) + outlier nodes of map 1 (n1)
    rows = np.concatenate([ii, np.arange(n1), n1 + np.arange(n2), n1 + jj])
    cols = np.concatenate([jj, n2 + np.arange(n1), np.arange(n2), n2 + ii])
    cost = np.concatenate([wij, np.full(n1, ow), np.full(n2, ow), np.full(len(ii), ow)]) + 1.0
    n = n1 + n2
    r, c = min_weight_full_bipartite_matching(csr_matrix((cost, (rows, cols)), shape=(n, n)))
    return int(round(csr_matrix((cost, (rows, cols)), shape=(n, n))[r, c].sum() - n))


@pytest.mark.parametrize("seed", range(6))
def test_optimal_against_scipy_assignment(seed):
    rng = np.random.default_rng(seed)
    h, w = 40, 50
    b1 = rng.random((h, w)) < 0.12
    b2 = rng.random((h, w)) < 0.08
    b2[5:35, 20] = True  # a line with dense competition around it
    b1[5:35, 21] = True
    max_dist = 2.5 / math.hypot(h, w)
    m = B.correspond_pixels(b1, b2, max_dist)
    assert _integer_objective(b1, b2, m.match1, max_dist) == _scipy_optimum(b1, b2, max_dist)
    # consistency of the two match arrays
    assert (m.match1 > 0).sum() == (m.match2 > 0).sum()
    # symmetric problem: swapping the maps gives the same optimum
    m2 = B.correspond_pixels(b2, b1, max_dist)
    assert _integer_objective(b2, b1, m2.match1, max_dist) == _integer_objective(b1, b2, m.match1, max_dist)


def test_empty_maps():
    z = np.zeros((20, 30), bool)
    one = z.copy()
    one[3, 4] = True
    for a, b in ((z, z), (z, one), (one, z)):
        m = B.correspond_pixels(a, b)
        assert m.outlier_count == a.sum() + b.sum() and not m.match1.any() and not m.match2.any()
    c = B.evaluate_boundary_image(np.zeros((20, 30)), [one], thresholds=3)
    assert np.all(c.cnt_p == 0) and np.all(c.sum_p == 0) and np.all(c.sum_r == 1)
    res = B.collect_results([c])
    assert res.ods == 0 and res.ap == 0 and np.isnan(res.r50)  # never 50 % precision: R50 undefined
    assert res.to_dict()["r50"] is None


# --------------------------------------------------------------------------------------------
# per-image pipeline
# --------------------------------------------------------------------------------------------


def test_thin_matches_skimage():
    rng = np.random.default_rng(0)
    from scipy import ndimage as ndi

    for _ in range(5):
        img = ndi.binary_dilation(rng.random((60, 70)) < 0.03, iterations=2)
        img[0, :] = True  # touching the border
        assert np.array_equal(B.thin_boundaries(img), sk_thin(img))


def test_thresholds_and_comparison():
    t = B.make_thresholds(99)
    assert len(t) == 99 and t[0] == 1 / 100 and t[-1] == 1 - 1 / 100
    np.testing.assert_allclose(t, np.linspace(0.01, 0.99, 99), atol=1e-15)
    assert np.allclose(B.make_thresholds(5), np.arange(1, 6) / 6)
    # pred >= t (not >): a pixel exactly at a threshold is on
    gt = np.zeros((30, 30), bool)
    gt[5:25, 15] = True
    pb = gt * B.make_thresholds(5)[2]
    c = B.evaluate_boundary_image(pb, [gt], thresholds=5)
    assert list(c.sum_p) == [20, 20, 20, 0, 0]


def test_thinning_option():
    gt = np.zeros((40, 40), bool)
    gt[10:30, 20] = True
    pb = np.zeros((40, 40))
    pb[10:30, 19:22] = 1.0  # a 3-px wide band around the GT line
    thin = B.evaluate_boundary_image(pb, [gt], thresholds=[0.5])
    thick = B.evaluate_boundary_image(pb, [gt], thresholds=[0.5], thin=False)
    assert thin.sum_p[0] < thick.sum_p[0] == 60
    assert thin.cnt_p[0] == thin.sum_p[0]  # the skeleton lies on the GT line
    assert thick.cnt_r[0] == 20 and thick.cnt_p[0] == 20  # one-to-one: 40 of the 60 band pixels stay unmatched


def test_any_annotator_counts_for_precision():
    a = np.zeros((40, 40), bool)
    b = np.zeros((40, 40), bool)
    a[5:15, 10] = True  # annotator 1 drew one segment, annotator 2 another
    b[25:35, 30] = True
    pred = (a | b).astype(float)
    c = B.evaluate_boundary_image(pred, [a, b], thresholds=[0.5])
    assert c.cnt_p[0] == c.sum_p[0] == 20  # every predicted pixel matches some annotator
    assert c.cnt_r[0] == 20 and c.sum_r[0] == 20


def test_seg_to_boundaries():
    seg = np.zeros((6, 8), int)
    seg[:, 4:] = 1
    b = B.seg_to_boundaries(seg)
    assert b.shape == seg.shape
    assert b[:, 3].all() and b.sum() == 6  # the pixel column left of the label change


def test_duplicate_thresholds_reuse_counts():
    rng = np.random.default_rng(1)
    gt = np.zeros((50, 60), bool)
    gt[10:40, 30] = True
    pb = np.round(rng.random((50, 60)) * 2) / 2  # three levels only
    c = B.evaluate_boundary_image(pb, [gt], thresholds=9)
    # recompute threshold by threshold without the reuse shortcut
    for k, t in enumerate(c.thresholds):
        one = B.evaluate_boundary_image(pb, [gt], thresholds=[t])
        assert (one.cnt_r[0], one.sum_r[0], one.cnt_p[0], one.sum_p[0]) == (c.cnt_r[k], c.sum_r[k], c.cnt_p[k], c.sum_p[k])


# --------------------------------------------------------------------------------------------
# aggregation
# --------------------------------------------------------------------------------------------


def _counts(thr, cr, sr, cp, sp):
    f = lambda v: np.asarray(v, dtype=float)  # noqa: E731
    return B.BoundaryCounts(f(thr), f(cr), f(sr), f(cp), f(sp))


def test_collect_interpolated_max_f_and_ois():
    # two thresholds: (R, P) = (1, 0.2) and (0.2, 1); the best F lies between them
    c = _counts([0.25, 0.75], [10, 2], [10, 10], [2, 2], [10, 2])
    res = B.collect_results([c])
    d = np.linspace(0, 1, 100)
    r = 0.2 * d + 1 * (1 - d)
    p = 1 * d + 0.2 * (1 - d)
    f = 2 * p * r / (p + r)
    assert res.ods == pytest.approx(f.max())
    assert res.ods_threshold == pytest.approx(0.75 * d[f.argmax()] + 0.25 * (1 - d[f.argmax()]))
    # OIS uses the best *sampled* threshold (F = 1/3 at both; the first one is taken)
    assert res.ois == pytest.approx(1 / 3)
    assert res.ois_recall == pytest.approx(1.0)


def test_collect_sums_counts_over_images():
    c1 = _counts([0.5], [5], [10], [5], [5])
    c2 = _counts([0.5], [10], [10], [5], [10])
    res = B.collect_results({"a": c1, "b": c2})
    assert res.recall[0] == pytest.approx(15 / 20) and res.precision[0] == pytest.approx(10 / 15)
    assert res.image_ids == ["a", "b"]
    assert res.image_best[0, 3] == pytest.approx(2 * 0.5 / 1.5)


def test_ap_and_r50():
    # (R, P) = (0.5, 1) then (0, 0) (nothing predicted): P is interpolated linearly over R in [0, 0.5]
    c = _counts([0.25, 0.75], [5, 0], [10, 10], [5, 0], [5, 0])
    res = B.collect_results([c])
    assert res.ap == pytest.approx(sum(min(k * 0.01, 0.5) / 0.5 for k in range(51)) * 0.01)
    # R50 as the edge toolbox: recall interpolated over precision between (P 0, R 0) and (P 1, R 0.5)
    assert res.r50 == pytest.approx(0.25)
    # a curve crossing P = 0.5 between thresholds: R from 0.8 (P 0.4) to 0.4 (P 0.8)
    c = _counts([0.25, 0.75], [8, 4], [10, 10], [4, 4], [10, 5])
    res = B.collect_results([c])
    d = (0.5 - 0.4) / (0.8 - 0.4)
    assert res.r50 == pytest.approx(0.8 + d * (0.4 - 0.8))
    # AP: linear interpolation of P over R in [0.4, 0.8], zero elsewhere
    ri = np.arange(101) * 0.01
    pi = np.interp(ri, [0.4, 0.8], [0.8, 0.4], left=0, right=0)
    assert res.ap == pytest.approx(pi.sum() * 0.01)


# --------------------------------------------------------------------------------------------
# evaluator
# --------------------------------------------------------------------------------------------


def _synthetic_dataset(n=4, seed=0):
    rng = np.random.default_rng(seed)
    preds, gts = {}, {}
    for k in range(n):
        h, w = 60 + 5 * k, 80
        seg = np.zeros((h, w), int)
        seg[:, rng.integers(20, 60):] = 1
        seg[rng.integers(15, 45):, :] += 2
        gt1 = B.seg_to_boundaries(seg)
        gt2 = np.roll(gt1, 1, axis=1)
        pb = np.clip(gt1 * rng.uniform(0.3, 1.0, (h, w)) + rng.random((h, w)) * 0.35, 0, 1)
        preds[f"img{k}"] = pb
        gts[f"img{k}"] = [gt1, gt2]
    return preds, gts


def test_evaluator_nproc_independent(tmp_path):
    preds, gts = _synthetic_dataset()
    r1 = B.BoundaryEvaluator(thresholds=15, nproc=1).evaluate(preds, gts, out_dir=tmp_path / "a")
    r2 = B.BoundaryEvaluator(thresholds=15, nproc=2).evaluate(preds, gts, out_dir=tmp_path / "b")
    assert r1.to_dict() == r2.to_dict()
    for name in GOLDEN_FILES:
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    # a loader callable works as well as a mapping
    r3 = B.BoundaryEvaluator(thresholds=15, nproc=2).evaluate(preds, lambda i: gts[i])
    assert r3.to_dict() == r1.to_dict()
    d = r1.to_dict()
    assert {"ods", "ois", "ap", "r50", "best_threshold", "recall", "precision", "thresholds"} <= set(d)
    assert 0 < d["ods"] <= d["ois"] <= 1


def test_prediction_png_is_value_over_255(tmp_path):
    from PIL import Image

    a = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(a).save(tmp_path / "x.png")
    pb = B.read_prediction_png(tmp_path / "x.png")
    assert pb.dtype == np.float64 and np.array_equal(pb, a / 255.0)
    assert np.array_equal(B.load_prediction(tmp_path / "x.png"), pb)


def test_evaluator_integer_ids_and_hard_map_lists():
    preds, gts = _synthetic_dataset(n=3)
    by_int = {k: preds[f"img{k}"] for k in range(3)}
    gts_int = {k: gts[f"img{k}"] for k in range(3)}
    ev = B.BoundaryEvaluator(thresholds=7, nproc=2)
    r_int = ev.evaluate(by_int, gts_int)
    r_str = ev.evaluate(preds, gts)
    assert r_int.image_ids == ["0", "1", "2"] and r_int.ods == r_str.ods
    # a list of hard maps is the benchmark's segmentation branch: thresholds 1..K
    hard = {"a": [gts["img0"][0], gts["img0"][0] & False]}
    res = B.BoundaryEvaluator(nproc=1).evaluate(hard, {"a": gts["img0"]})
    assert list(res.thresholds) == [1.0, 2.0] and res.recall[1] == 0
