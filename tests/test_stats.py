"""Comparison statistics on constructed data: known deltas, identical runs, large effects, clustering,
Holm by hand, and resampled metrics equal to the official aggregation of really repeated images."""

import copy

import numpy as np
import pytest

from sambench.metrics import stats


def clustered_example(seed=0, images=40, per_image=10, shift=0.01):
    """Per-mask deltas with a strong per-image effect (masks of one image move together)."""
    rng = np.random.default_rng(seed)
    image = np.repeat(np.arange(images), per_image)
    delta = shift + rng.normal(0, 0.2, size=images)[image] + rng.normal(0, 0.02, size=images * per_image)
    return delta, image


def test_known_per_mask_shift_gives_the_exact_delta_inside_its_interval():
    rng = np.random.default_rng(1)
    image = np.repeat(np.arange(25), 4)
    iou_a = rng.uniform(0.3, 0.9, size=100)
    shift = rng.uniform(0.0, 0.1, size=100)  # a known shift per mask
    iou_b = iou_a + shift
    est = stats.clustered_mean_delta(iou_b - iou_a, image, n_resamples=500, seed=0)
    assert est.delta == pytest.approx(shift.mean(), abs=1e-12)
    for key in ("95", "99"):
        lo, hi = est.intervals[key]
        assert lo <= shift.mean() <= hi
    assert est.intervals["99"][0] <= est.intervals["95"][0] and est.intervals["95"][1] <= est.intervals["99"][1]
    assert est.n_images == 25 and est.n_masks == 100


def test_identical_runs_give_zero_delta_and_p_one():
    image = np.repeat(np.arange(12), 3)
    zero = np.zeros(36)
    for test in ("permutation", "wilcoxon"):
        est = stats.clustered_mean_delta(zero, image, n_resamples=300, seed=3, test=test)
        assert est.delta == 0.0 and est.p_value == 1.0
        assert est.intervals["95"] == (0.0, 0.0)
    both = stats.stratified_mean_delta([zero, zero[:9]], [image, image[:9]], n_resamples=200)
    assert both.delta == 0.0 and both.p_value == 1.0


def test_large_effect_gives_small_p():
    delta, image = clustered_example(shift=0.3)
    est = stats.clustered_mean_delta(delta, image, n_resamples=2000, seed=0)
    assert est.p_value < 0.01
    assert stats.clustered_mean_delta(delta, image, test="wilcoxon").p_value < 0.01
    # 8 images all worse: the exact sign-flip test has p = 2 / 2^8 (the two extreme patterns)
    est = stats.clustered_mean_delta(-np.ones(24) * 0.2, np.repeat(np.arange(8), 3), n_resamples=1000)
    assert est.p_value == pytest.approx(2 / 2 ** 8, abs=1e-12)


def test_no_effect_gives_large_p_and_an_interval_around_zero():
    rng = np.random.default_rng(5)
    image = np.repeat(np.arange(30), 5)
    delta = rng.normal(0, 0.1, size=30)[image] * rng.choice([-1, 1], size=30)[image]
    delta -= delta.mean()  # exactly zero mean
    est = stats.clustered_mean_delta(delta, image, n_resamples=1000, seed=0)
    assert est.p_value > 0.5
    assert est.intervals["95"][0] < 0 < est.intervals["95"][1]


def test_image_clustered_bootstrap_is_wider_than_mask_level():
    delta, image = clustered_example()
    clustered = stats.clustered_mean_delta(delta, image, n_resamples=1000, seed=0)
    masks = stats.clustered_mean_delta(delta, np.arange(len(delta)), n_resamples=1000, seed=0)
    width = lambda e: e.intervals["95"][1] - e.intervals["95"][0]  # noqa: E731
    assert clustered.delta == masks.delta
    assert width(clustered) > 2 * width(masks)


def test_stratified_mean_is_the_mean_of_dataset_means():
    d1, i1 = clustered_example(seed=1, images=10, per_image=3, shift=0.2)
    d2, i2 = clustered_example(seed=2, images=20, per_image=7, shift=-0.1)
    est = stats.stratified_mean_delta([d1, d2], [i1, i2], n_resamples=500, seed=0)
    assert est.delta == pytest.approx((d1.mean() + d2.mean()) / 2, abs=1e-12)
    assert est.intervals["95"][0] <= est.delta <= est.intervals["95"][1]
    assert est.n_images == 30 and est.n_masks == len(d1) + len(d2)


def test_seeded_and_recorded():
    delta, image = clustered_example()
    a = stats.clustered_mean_delta(delta, image, n_resamples=300, seed=7)
    b = stats.clustered_mean_delta(delta, image, n_resamples=300, seed=7)
    c = stats.clustered_mean_delta(delta, image, n_resamples=300, seed=8)
    assert a.to_dict() == b.to_dict() and a.intervals != c.intervals


def test_holm_by_hand():
    # sorted p 0.01, 0.03, 0.04 -> 3*0.01, max(2*0.03, 0.03), max(1*0.04, 0.06)
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, None, float("nan")]) == [0.5, None, None]
    assert stats.holm([0.4, 0.6]) == pytest.approx([0.8, 0.8])


def test_one_image_has_no_interval():
    est = stats.clustered_mean_delta([0.1, 0.2], ["x", "x"], n_resamples=100)
    assert est.delta == pytest.approx(0.15) and np.isnan(est.intervals["95"][0])


# --- resampled metrics through the official aggregation --------------------------------------------------

def test_boundary_resampler_equals_the_benchmark_on_repeated_images():
    from sambench.metrics.bsds import BoundaryCounts, collect_results, make_thresholds
    from sambench.metrics.resample import BoundaryResampler, index_weights

    rng = np.random.default_rng(0)
    thr = make_thresholds(9)
    per_image = []
    for _ in range(12):
        sum_r = rng.integers(50, 400, size=9).astype(float)
        cnt_r = np.sort(rng.uniform(0, 1, size=9))[::-1] * sum_r
        sum_p = np.sort(rng.integers(10, 600, size=9))[::-1].astype(float)
        cnt_p = rng.uniform(0.2, 1, size=9) * sum_p
        per_image.append(BoundaryCounts(thr, np.round(cnt_r), sum_r, np.round(cnt_p), sum_p))
    res = BoundaryResampler(per_image)
    full = collect_results(per_image)
    assert res.scores(np.ones((1, 12)))[:, 0] == pytest.approx([full.ods, full.ois, full.ap], abs=1e-12)
    for _ in range(5):
        idx = rng.integers(0, 12, size=12)
        ref = collect_results([per_image[i] for i in idx])
        got = res.scores(index_weights(idx, 12))[:, 0]
        assert got == pytest.approx([ref.ods, ref.ois, ref.ap], abs=1e-12)


def _rect_rle(x, y, w, h, size=64):
    from sambench import masks as mask_utils

    m = np.zeros((size, size), bool)
    m[y:y + h, x:x + w] = True
    return mask_utils.encode(m)


def _toy_coco(lvis=False):
    """4 images, 2 categories, a few objects; results: shifted copies with scores."""
    rng = np.random.default_rng(0)
    images, anns, results = [], [], []
    aid = 1
    for i in range(1, 5):
        images.append({"id": i, "width": 64, "height": 64, "file_name": f"{i}.png",
                       **({"neg_category_ids": [], "not_exhaustive_category_ids": []} if lvis else {})})
        for _ in range(3):
            x, y, w, h = (int(v) for v in rng.integers(2, 30, size=4))
            cat = int(rng.integers(1, 3))
            rle = _rect_rle(x, y, w + 4, h + 4)
            anns.append({"id": aid, "image_id": i, "category_id": cat, "segmentation": rle, "area": (w + 4) * (h + 4),
                         "bbox": [x, y, w + 4, h + 4], "iscrowd": 0})
            aid += 1
            dx = int(rng.integers(0, 6))
            results.append({"image_id": i, "category_id": cat, "segmentation": _rect_rle(x + dx, y, w + 4, h + 4),
                            "score": float(rng.uniform(0.1, 1))})
    cats = [{"id": 1, "name": "a", **({"frequency": "f", "synset": "a.n.01"} if lvis else {})},
            {"id": 2, "name": "b", **({"frequency": "r", "synset": "b.n.01"} if lvis else {})}]
    return {"images": images, "annotations": anns, "categories": cats}, results


@pytest.mark.parametrize("evaluator", ["pycocotools", "faster-coco-eval", "lvis"])
def test_evaluator_resampler_equals_evaluating_really_repeated_images(evaluator):
    from sambench.metrics import coco_eval
    from sambench.metrics.resample import EvaluatorResampler, faster_coco_evaluate

    lvis = evaluator == "lvis"
    data, results = _toy_coco(lvis)
    gt = coco_eval.GroundTruth(copy.deepcopy(data))
    assert gt.format == ("lvis" if lvis else "coco")
    out = coco_eval.mask_ap(gt, copy.deepcopy(results), return_evaluator=True)
    if evaluator == "faster-coco-eval":
        out["evaluator_object"] = faster_coco_evaluate(data, results, [1, 2, 3, 4])
    res = EvaluatorResampler([out["evaluator_object"]])
    assert res.kind == {"pycocotools": "coco", "faster-coco-eval": "faster", "lvis": "lvis"}[evaluator]
    same = res.metrics([(0, i) for i in range(4)])
    for k in ("AP", "AP50", "AP75", "APs", "APm", "APl"):
        assert same[k] == pytest.approx(out["metrics"][k], abs=1e-12), k
    pick = [2, 0, 2, 3]
    got = res.metrics([(0, i) for i in pick])
    # the same images really copied under new ids
    images, anns, rr = [], [], []
    for n, i in enumerate(pick):
        iid = res.image_ids[i]
        images.append(dict(next(im for im in data["images"] if im["id"] == iid), id=100 + n))
        anns += [dict(a, id=1000 * (n + 1) + a["id"], image_id=100 + n) for a in data["annotations"] if a["image_id"] == iid]
        rr += [dict(r, image_id=100 + n) for r in results if r["image_id"] == iid]
    ref = coco_eval.mask_ap(coco_eval.GroundTruth(dict(data, images=images, annotations=anns)), rr)["metrics"]
    for k in ("AP", "AP50", "AP75", "APs", "APm", "APl"):
        assert got[k] == pytest.approx(ref[k], abs=1e-12), k
