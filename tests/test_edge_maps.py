"""Tests of the classical soft edge maps and edge post-processing (sambench.generation.edge_maps)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import thin as sk_thin

from sambench.metrics import bsds as B
from sambench.generation import edge_maps as E


def _square_image(h=64, w=80, noise=0.02, seed=0):
    """A bright rectangle on a dark background (RGB uint8) and its BSDS-style boundary map."""
    rng = np.random.default_rng(seed)
    seg = np.zeros((h, w), int)
    seg[16:48, 20:60] = 1
    img = np.where(seg[..., None] == 1, 200.0, 50.0) + rng.normal(0, 255 * noise, (h, w, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img, B.seg_to_boundaries(seg), seg


@pytest.mark.parametrize("name", sorted(E.CLASSICAL_EDGE_METHODS))
def test_classical_maps_are_soft_maps_on_the_true_boundary(name):
    img, gt, _ = _square_image()
    m = E.CLASSICAL_EDGE_METHODS[name](img)
    assert m.shape == gt.shape and m.dtype == np.float64
    assert m.min() >= 0 and m.max() <= 1 and m.max() > 0
    # the strong responses lie within 2 px of the rectangle's boundary
    near = ndi.binary_dilation(gt, iterations=2)
    strong = m >= 0.5 * m.max()
    assert strong.sum() > 0 and (strong & ~near).sum() == 0
    # and the benchmark scores them highly against that boundary
    res = B.collect_results([B.evaluate_boundary_image(m, [gt], thresholds=19, max_dist=0.02)])
    assert res.ods > 0.85, (name, res.ods)


def test_classical_maps_accept_gray_and_float():
    img, _, _ = _square_image()
    gray = img.mean(axis=2) / 255.0
    for name, f in E.CLASSICAL_EDGE_METHODS.items():
        m = f(gray)
        assert m.shape == gray.shape and 0 <= m.min() and m.max() <= 1, name


def test_felzenszwalb_values_are_fractions_of_scales():
    img, _, _ = _square_image()
    scales = (50, 200, 800)
    m = E.felzenszwalb_edges(img, scales=scales)
    assert np.allclose(m * len(scales), np.round(m * len(scales)))


def test_canny_soft_map_level_sets_are_thin():
    img, gt, _ = _square_image()
    m = E.canny_edges(img, sigmas=(1.5,))
    for t in (0.1, 0.5):
        b = m >= t
        # Canny output after NMS: thinning changes (almost) nothing
        assert (b & ~E.thin_edges(b)).sum() <= 0.1 * b.sum()
    # a larger high threshold keeps a subset of the pixels (nested hysteresis levels)
    assert not ((m >= 0.6) & ~(m >= 0.3)).any()


def test_sobel_nms_option():
    img, gt, _ = _square_image()
    raw = E.sobel_edges(img, nms=False)
    nms = E.sobel_edges(img)
    assert (nms > 0).sum() < (raw > 0).sum()
    assert E.sobel_edges(img, sigma=1.0).shape == raw.shape


def test_normalize_edges():
    e = np.array([[0.0, 2.0], [4.0, np.nan]])
    np.testing.assert_allclose(E.normalize_edges(e), [[0, 0.5], [1, 0]])
    np.testing.assert_allclose(E.normalize_edges(np.array([[1.0, 3.0], [5.0, 1.0]]), "minmax"), [[0, 0.5], [1, 0]])
    p = E.normalize_edges(np.arange(101.0), "percentile", percentile=50)
    assert p.max() == 1.0 and p[0] == 0
    assert not E.normalize_edges(np.zeros((3, 3))).any()
    with pytest.raises(ValueError):
        E.normalize_edges(e, "bogus")


def test_conv_tri():
    rng = np.random.default_rng(0)
    a = rng.random((20, 30))
    c = np.full((10, 12), 3.0)
    for r in (0.5, 1, 4):
        np.testing.assert_allclose(E.conv_tri(c, r), c)  # normalised kernel
    # r = 1 is the [1 2 1] / 4 filter with symmetric padding
    f = np.array([1.0, 2.0, 1.0]) / 4
    pad = np.pad(a, 1, mode="symmetric")
    ref = ndi.correlate1d(ndi.correlate1d(pad, f, axis=0), f, axis=1)[1:-1, 1:-1]
    np.testing.assert_allclose(E.conv_tri(a, 1), ref)
    np.testing.assert_array_equal(E.conv_tri(a, 0), a)


def test_edge_orientation_is_the_edge_normal():
    h, w = 40, 40
    vertical = np.zeros((h, w))
    vertical[:, 20] = 1.0  # a vertical line: normal along x
    o = E.edge_orientation(vertical)[10:30, 20]
    assert np.all(np.abs(np.cos(o)) > 0.99)
    # a diagonal line y = x: normal along (1, -1), i.e. 3 pi / 4 modulo pi
    o = E.edge_orientation(np.eye(h))[10:30, 10:30].diagonal()
    np.testing.assert_allclose(o, 3 * np.pi / 4, atol=1e-3)
    # the toolbox formula's quirk, kept: an exactly axis-aligned horizontal line has Oxy == 0, so
    # sign(-Oxy) = 0 and the orientation is 0 instead of pi / 2
    assert not E.edge_orientation(vertical.T.copy())[20, 10:30].any()


def test_edge_nms_thins_a_blurred_ridge():
    h, w = 50, 60
    line = np.zeros((h, w))
    line[:, 30] = 1.0
    blurred = ndi.gaussian_filter(line, 2.0)
    out = E.edge_nms(blurred)
    rows = out[10:40]
    assert np.all((rows > 0).sum(axis=1) == 1) and np.all(rows.argmax(axis=1) == 30)
    assert out[20, 30] == pytest.approx(blurred[20, 30])  # the ridge keeps its value
    # border fade: rows within 5 px of the top/bottom are scaled down linearly, row 0 vanishes
    assert out[0].max() == 0 and out[2, 30] == pytest.approx(blurred[2, 30] * 2 / 5)
    no_border = E.edge_nms(blurred, border=0)
    assert no_border[0, 30] == pytest.approx(blurred[0, 30])
    # explicit orientation: suppression along x only
    o = np.zeros((h, w))
    np.testing.assert_allclose(E.edge_nms(blurred, orientation=o, border=0), no_border)


def test_thin_edges_equals_skimage():
    rng = np.random.default_rng(3)
    b = ndi.binary_dilation(rng.random((50, 50)) < 0.02, iterations=3)
    assert np.array_equal(E.thin_edges(b), sk_thin(b))


def test_to_gray():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 1] = 255
    assert np.allclose(E.to_gray(rgb), 0.7154)
    assert np.allclose(E.to_gray(np.ones((2, 2, 4))), 1.0)
    with pytest.raises(ValueError):
        E.to_gray(np.zeros((2, 2, 2)))
