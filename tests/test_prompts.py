"""The paper's point protocol on shapes whose answer is known by construction."""

import numpy as np
import pytest

from sambench.prompts import Click, first_point, next_click


def test_center_of_odd_rectangle_is_first_deepest_pixel_in_row_major_order():
    mask = np.zeros((40, 40), bool)
    mask[10:21, 5:26] = True  # 11 rows x 21 cols: depth 6 on row 15 for cols 10..20
    assert first_point(mask, "center") == Click(x=10, y=15, positive=True)


def test_center_of_disk_is_its_centre():
    yy, xx = np.mgrid[:64, :80]
    mask = (yy - 30) ** 2 + (xx - 47) ** 2 <= 12 ** 2
    assert first_point(mask, "center") == Click(x=47, y=30, positive=True)


def test_image_border_counts_as_boundary():
    mask = np.zeros((10, 40), bool)
    mask[0:10, :] = True  # the whole image: only the border bounds it
    # depth min(r+1, 10-r, c+1, 40-c) is 5 first at row 4, col 4
    assert first_point(mask, "center") == Click(x=4, y=4, positive=True)


def test_random_first_point_is_seeded_and_inside():
    mask = np.zeros((30, 30), bool)
    mask[3:9, 20:28] = True
    a = first_point(mask, "random", np.random.default_rng(5))
    b = first_point(mask, "random", np.random.default_rng(5))
    assert a == b and mask[a.y, a.x]
    seen = {first_point(mask, "random", np.random.default_rng(s)) for s in range(20)}
    assert len(seen) > 5


def test_empty_mask_and_bad_mode_raise():
    with pytest.raises(ValueError):
        first_point(np.zeros((5, 5), bool))
    with pytest.raises(ValueError):
        first_point(np.ones((5, 5), bool), "corner")


def test_false_negative_region_gets_a_positive_click_at_its_centre():
    gt = np.zeros((50, 50), bool)
    gt[10:31, 10:31] = True
    pred = gt.copy()
    pred[10:31, 10:21] = False  # left part missed: FN is rows 10..30, cols 10..20 (21 x 11)
    c = next_click(gt, pred)
    assert c.positive and c == Click(x=15, y=15, positive=True)


def test_false_positive_region_gets_a_negative_click():
    gt = np.zeros((50, 50), bool)
    gt[5:10, 5:10] = True
    pred = gt.copy()
    pred[30:41, 30:41] = True  # FP square 11x11, centre (35, 35)
    assert next_click(gt, pred) == Click(x=35, y=35, positive=False)


def test_larger_region_wins_and_ties_go_negative():
    gt = np.zeros((60, 60), bool)
    gt[0:20, 0:20] = True
    pred = np.zeros_like(gt)
    pred[0:20, 0:9] = True  # FN: rows 0..19, cols 9..19 -> 20 x 11 touching border
    pred[40:51, 40:51] = True  # FP: 11 x 11 square inside the image
    # FN depth: at row 9..10, col 14: min(r+1, 20-r, c-8, 20-c) = 6 ; FP depth: 6 -> tie -> negative
    c = next_click(gt, pred)
    assert c is not None and c.positive is False
    pred[40:51, 40:51] = False
    pred[40:49, 40:49] = True  # FP 9x9: depth 5 < 6 -> positive
    assert next_click(gt, pred).positive is True


def test_ignore_pixels_are_never_error():
    gt = np.zeros((40, 40), bool)
    gt[5:30, 5:30] = True
    pred = np.zeros_like(gt)
    pred[5:30, 5:30] = True
    pred[32:38, 32:38] = True  # small FP
    gt_missing = gt.copy()
    pred[5:30, 5:15] = False  # big FN ...
    ignore = np.zeros_like(gt)
    ignore[5:30, 5:15] = True  # ... entirely inside the ignore band
    c = next_click(gt_missing, pred, ignore=ignore)
    assert c.positive is False and 32 <= c.x < 38 and 32 <= c.y < 38


def test_clicked_pixels_are_excluded_and_no_error_gives_none():
    gt = np.zeros((21, 21), bool)
    gt[5:16, 5:16] = True
    pred = np.zeros_like(gt)
    first = next_click(gt, pred)
    assert first == Click(x=10, y=10, positive=True)
    second = next_click(gt, pred, clicked=[first])
    assert second != first and second.positive and gt[second.y, second.x]
    assert next_click(gt, gt.copy()) is None


# ---------------------------------------------------------------------------------------------
# the bounding-box distance transform gives exactly the clicks of the whole-image transform
# ---------------------------------------------------------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402
from scipy.ndimage import distance_transform_edt  # noqa: E402

from sambench.prompts import border_distance  # noqa: E402


def whole_image_distance(region):
    """Reference: the transform over the whole image, the border padded as outside."""
    padded = np.pad(region.astype(bool), 1, mode="constant", constant_values=False)
    return distance_transform_edt(padded)[1:-1, 1:-1]


def whole_image_next_click(gt, pred, clicked, ignore):
    """Reference RITM rule written directly on whole-image transforms (the protocol as stated)."""
    fn, fp = gt & ~pred, ~gt & pred
    if ignore is not None:
        fn, fp = fn & ~ignore, fp & ~ignore
    if not fn.any() and not fp.any():
        return None
    fn_dt, fp_dt = whole_image_distance(fn), whole_image_distance(fp)
    for c in clicked:
        fn_dt[c.y, c.x] = fp_dt[c.y, c.x] = 0.0
    if fn_dt.max() == 0 and fp_dt.max() == 0:
        return None
    positive = bool(fn_dt.max() > fp_dt.max())
    y, x = divmod(int(np.argmax(fn_dt if positive else fp_dt)), gt.shape[1])
    return Click(x=x, y=y, positive=positive)


shapes = st.tuples(st.integers(1, 24), st.integers(1, 24))


@st.composite
def blobby_masks(draw, shape):
    """Random masks: unions of rectangles (large interiors, ties) or noise (thin, many components)."""
    h, w = shape
    if draw(st.booleans()):
        return draw(arrays(np.bool_, (h, w)))
    m = np.zeros((h, w), bool)
    for _ in range(draw(st.integers(0, 4))):
        y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        m[y0:y0 + draw(st.integers(1, h)), x0:x0 + draw(st.integers(1, w))] = True
    return m


@settings(max_examples=300, deadline=None)
@given(data=st.data(), shape=shapes)
def test_box_distance_equals_whole_image_distance(data, shape):
    region = data.draw(blobby_masks(shape))
    assert np.array_equal(border_distance(region), whole_image_distance(region))
    if region.any():
        y, x = divmod(int(np.argmax(whole_image_distance(region))), shape[1])
        assert first_point(region) == Click(x=x, y=y, positive=True)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), shape=shapes)
def test_next_click_equals_the_whole_image_rule(data, shape):
    gt = data.draw(blobby_masks(shape))
    pred = data.draw(blobby_masks(shape))
    ignore = data.draw(st.one_of(st.none(), blobby_masks(shape)))
    h, w = shape
    clicked = [Click(x=data.draw(st.integers(0, w - 1)), y=data.draw(st.integers(0, h - 1)), positive=True)
               for _ in range(data.draw(st.integers(0, 3)))]
    assert next_click(gt, pred, clicked, ignore) == whole_image_next_click(gt, pred, clicked, ignore)
