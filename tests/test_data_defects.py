"""The rules of "What sambench does with imperfect data" (README), each with a value known by construction.

Image decoding (EXIF orientation, grey/palette/RGBA/16-bit), mask-file values (GrabCut/Berkeley),
BSDS ground truth with Boundaries only, COCO annotation defects (validation before pycocotools,
unique keys, the evaluators' corrected ground truth), empty results through the official
evaluators, and skip accounting (masks in ``n_skipped``, images apart).
"""

import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from sambench import masks as mask_utils
from sambench.annotations import AnnotationDefect, annotation_rle, compressed_counts, index_coco, segmentation_rle
from sambench.app.cli import main
from sambench.data import BadSampleError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fixtures_lvis import make_dataset  # noqa: E402


def rect(h, w, x0, y0, x1, y1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def square_poly(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


# ---------------------------------------------------------------------------------------------
# image decoding
# ---------------------------------------------------------------------------------------------

# the stored pixels of an upright image for each EXIF orientation (the transform a camera applied)
STORED = {1: lambda a: a, 2: np.fliplr, 3: lambda a: np.rot90(a, 2), 4: np.flipud,
          5: lambda a: np.transpose(a, (1, 0, 2)), 6: lambda a: np.rot90(a, 1), 7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
          8: lambda a: np.rot90(a, -1)}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_displayed(tmp_path, orientation):
    from sambench.datasets.base import image_size, read_image

    upright = np.random.default_rng(orientation).integers(0, 255, (6, 10, 3), dtype=np.uint8)  # 10 wide, 6 high
    stored = np.ascontiguousarray(STORED[orientation](upright))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "x.png"
    Image.fromarray(stored).save(path, exif=exif)
    assert np.array_equal(read_image(path), upright)
    assert image_size(path) == (6, 10)


def test_coco_size_disagreeing_after_exif_is_a_clear_skip(tmp_path):
    from sambench.datasets import build_dataset

    stored = np.zeros((10, 6, 3), np.uint8)  # stored 6 wide, 10 high; displayed 10 x 6 (orientation 6)
    exif = Image.Exif()
    exif[0x0112] = 6
    (tmp_path / "im").mkdir()
    Image.fromarray(stored).save(tmp_path / "im" / "a.png", exif=exif)
    ann = tmp_path / "a.json"
    ann.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "height": 10, "width": 6}],
                               "annotations": [], "categories": []}))
    ds = build_dataset("coco", tmp_path / "im", ann=ann)
    with pytest.raises(BadSampleError, match=r"image is 10x6 after applying its EXIF orientation 6, a.json says 6x10"):
        ds.load_sample("1")


def test_one_decoding_rule_for_grey_palette_rgba_16bit_and_float(tmp_path):
    from sambench.datasets.base import IMAGE_DECODING, read_image

    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(grey, "L").save(tmp_path / "l.png")
    assert np.array_equal(read_image(tmp_path / "l.png"), np.repeat(grey[..., None], 3, 2))
    pal = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), "P")
    pal.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    pal.save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png")[0, 1].tolist() == [200, 100, 50]
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 90, 0  # fully transparent: alpha dropped, not composited
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert (read_image(tmp_path / "rgba.png") == 90).all()
    deep = np.array([[0x1234, 0xFFFF], [0x00FF, 0x8000]], np.uint16)
    Image.fromarray(deep).save(tmp_path / "d16.png")
    assert read_image(tmp_path / "d16.png")[..., 0].tolist() == [[0x12, 0xFF], [0x00, 0x80]]  # v >> 8
    Image.fromarray(np.ones((2, 2), np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(BadSampleError, match="floating-point image"):
        read_image(tmp_path / "f.tiff")
    assert "EXIF orientation applied" in IMAGE_DECODING and "v >> 8" in IMAGE_DECODING


# ---------------------------------------------------------------------------------------------
# mask files
# ---------------------------------------------------------------------------------------------


def test_grabcut_published_rule_and_one_warning(tmp_path):
    from sambench.datasets import build_dataset

    values = np.array([[0, 100, 127, 128], [129, 200, 255, 255]], np.uint8)
    for name in ("a", "b"):
        (tmp_path / "data_GT").mkdir(exist_ok=True)
        (tmp_path / "boundary_GT").mkdir(exist_ok=True)
        Image.fromarray(np.zeros((2, 4, 3), np.uint8)).save(tmp_path / "data_GT" / f"{name}.png")
        Image.fromarray(values).save(tmp_path / "boundary_GT" / f"{name}.png")
    ds = build_dataset("grabcut", tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        samples = [ds.load_sample(i) for i in ("a", "b")]
    assert sum("mask values {100, 127, 129, 200}" in str(w.message) for w in caught) == 1  # once per dataset
    for s in samples:
        assert s.instances[0].mask().tolist() == (values > 128).tolist()
        assert s.ignore_mask().tolist() == (values == 128).tolist()


def test_berkeley_object_above_128_no_band(tmp_path):
    from sambench.datasets import build_dataset

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    values = np.array([[0, 128, 129, 255]], np.uint8)
    Image.fromarray(np.zeros((1, 4, 3), np.uint8)).save(tmp_path / "images" / "1.jpg")
    Image.fromarray(values).save(tmp_path / "masks" / "1.png")
    with pytest.warns(UserWarning, match="mask values"):
        s = build_dataset("berkeley", tmp_path).load_sample("1")
    assert s.instances[0].mask().tolist() == [[False, False, True, True]] and s.ignore is None


# ---------------------------------------------------------------------------------------------
# BSDS ground truth
# ---------------------------------------------------------------------------------------------


def _bsds(tmp_path, fields):
    from scipy.io import savemat

    for d in ("images/test", "groundTruth/test"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 6, 3), np.uint8)).save(tmp_path / "images" / "test" / "1.jpg")
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = fields
    savemat(tmp_path / "groundTruth" / "test" / "1.mat", {"groundTruth": cell})


def test_bsds_boundaries_only_and_segmentation_only(tmp_path):
    from sambench.datasets import build_dataset

    bnd = np.zeros((8, 6), np.uint8)
    bnd[2, 1:5] = 1
    _bsds(tmp_path, {"Boundaries": bnd})
    s = build_dataset("bsds500", tmp_path).load_sample("1")
    assert s.instances == [] and len(s.extra["boundaries"]) == 1
    assert np.array_equal(s.extra["boundaries"][0], bnd.astype(bool))
    _bsds(tmp_path, {"Segmentation": np.ones((8, 6), np.uint16)})
    with pytest.raises(BadSampleError, match="no Boundaries field"):
        build_dataset("bsds500", tmp_path).load_sample("1")


# ---------------------------------------------------------------------------------------------
# COCO annotations: per-annotation validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seg,reason", [
    ([[1, 1, 5, 1]], "fewer than 3 points"),
    ([[1, 1, 5, 1, 5]], "odd number"),
    ([[1, 1, 5, float("nan"), 5, 5]], "non-finite"),
    ([[1, 1, 5, float("inf"), 5, 5]], "non-finite"),
    ([[1, 1, "5", 1, 5, 5]], "non-numeric"),
    ([[1, 1, 2.085e8, 3.52e8, 5, 5]], "far outside the 20x10 image"),
    ([[-1e6, 1, 5, 1, 5, 5]], "far outside"),
    ([[30, 1, 35, 1, 35, 5]], "wholly outside"),
    ([[1, 1, 1, 1, 1, 1]], "zero-area mask"),
    ([], "empty segmentation"),
    (None, "no segmentation"),
    ("polygon", "segmentation of type str"),
    ({"size": [10, 21], "counts": [210]}, "RLE size [10, 21] differs from the image's [10, 20]"),
    ({"size": [10, 20], "counts": [100]}, "covers 100 pixels"),
    ({"size": [10, 20], "counts": [250, -50]}, "negative run"),
    ({"size": [10, 20], "counts": "\x7f\x7f"}, "corrupt compressed RLE"),
    ({"size": [10, 20], "counts": "PP"}, "corrupt compressed RLE"),
    ({"size": [10, 20]}, "RLE counts of type NoneType"),
])
def test_defective_segmentations_are_named(seg, reason):
    with pytest.raises(AnnotationDefect, match=reason.replace("[", r"\[").replace("]", r"\]")):
        annotation_rle({"segmentation": seg}, 10, 20)


def test_valid_segmentations_rasterise_as_pycocotools():
    h, w = 10, 20
    poly = [[2, 1, 8, 1, 8, 7, 2, 7]]
    expected = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects(poly, h, w))).astype(bool)
    assert np.array_equal(mask_utils.decode(annotation_rle({"segmentation": poly}, h, w)), expected)
    # a degenerate part beside a valid one covers no area: dropped, the mask is the valid part's
    assert np.array_equal(mask_utils.decode(segmentation_rle(poly + [[1, 1, 3, 3]], h, w)), expected)
    # vertices slightly outside the image are clipped by the rasteriser, as pycocotools does
    near = [[-3, -2, 25, -2, 25, 14, -3, 14]]
    assert mask_utils.decode(annotation_rle({"segmentation": near}, h, w)).all()
    m = rect(h, w, 3, 2, 9, 6)
    for counts in (mask_utils.encode(m)["counts"], coco_mask.encode(np.asfortranarray(m.astype(np.uint8)))["counts"]):
        assert np.array_equal(mask_utils.decode(annotation_rle({"segmentation": {"size": [h, w], "counts": counts}},
                                                               h, w)), m)
    runs = compressed_counts(mask_utils.encode(m)["counts"])
    assert sum(runs) == h * w and np.array_equal(
        mask_utils.decode(segmentation_rle({"size": [h, w], "counts": runs}, h, w)), m)
    with pytest.raises(AnnotationDefect, match="iscrowd"):
        annotation_rle({"segmentation": poly, "iscrowd": "yes"}, h, w)


def test_duplicate_ids_give_unique_keys_and_a_corrected_evaluator_ground_truth():
    from sambench.metrics.coco_eval import GroundTruth

    data = {"images": [{"id": 1, "height": 10, "width": 20}, {"id": 2, "height": 10, "width": 20}],
            "categories": [{"id": 1}],
            "annotations": [{"id": 7, "image_id": i, "category_id": 1, "segmentation": square_poly(x, 1, x + 4, 5)}
                            for i in (1, 2) for x in (1, 10)]}
    ix = index_coco(data, "f.json")
    assert ix.rekeyed and ix.duplicate_ids == {"7": 4}
    assert [k for k, _ in ix.annotations["1"]] == ["1#0", "1#1"] and [k for k, _ in ix.annotations["2"]] == ["2#0", "2#1"]
    gt = GroundTruth(data)
    anns = gt.data["annotations"]
    assert [a["id"] for a in anns] == [1, 2, 3, 4] and gt.annotation_areas() == {k: 16.0 for k in
                                                                                    ("1#0", "1#1", "2#0", "2#1")}


def test_unusable_files_are_one_line_errors_naming_the_file():
    from sambench.annotations import CocoFormatError

    for data, words in (([], "not a COCO instances json"), ({"images": [{}], "annotations": []}, "images[0] has no usable id"),
                        ({"images": [{"id": 1}, {"id": 1}], "annotations": []}, "listed twice")):
        with pytest.raises(CocoFormatError, match="f.json: .*" + re.escape(words)):
            index_coco(data, "f.json")


# ---------------------------------------------------------------------------------------------
# skip accounting, the same rules for every task
# ---------------------------------------------------------------------------------------------


def write_defects_dataset(root: Path) -> Path:
    """Image 1: a valid square + 3 defective annotations; image 2: unreadable file with 2 valid
    annotations; an annotation on an image id that does not exist; a crowd region (never prompted)."""
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(root / "images" / "1.png")
    (root / "images" / "2.png").write_bytes(b"not an image")
    a = lambda i, img, seg, **kw: dict({"id": i, "image_id": img, "category_id": 1, "segmentation": seg}, **kw)  # noqa: E731
    anns = [a(1, 1, square_poly(4, 4, 20, 20)),
            a(2, 1, [[30, 5, 40, 5]]),
            a(3, 1, square_poly(30, 5, 9e9, 30)),
            a(4, 1, {"size": [41, 60], "counts": [41 * 60]}),
            a(5, 1, square_poly(40, 25, 50, 35), iscrowd=1),
            a(6, 2, square_poly(1, 1, 5, 5)), a(7, 2, square_poly(10, 10, 15, 15)),
            a(8, 99, square_poly(1, 1, 5, 5))]
    ann = root / "instances.json"
    ann.write_text(json.dumps({"images": [{"id": 1, "file_name": "1.png", "height": 40, "width": 60},
                                          {"id": 2, "file_name": "2.png", "height": 40, "width": 60}],
                               "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}))
    return ann


def test_point_skips_counted_in_masks_images_apart(tmp_path):
    ann = write_defects_dataset(tmp_path)
    with pytest.warns(UserWarning, match="belong to no image"):
        assert main(["run", "point", "--model", "oracle", "--dataset", "coco", "--root", str(tmp_path / "images"),
                     "--ann", str(ann), "--points", "1", "--cache-dir", "none", "--no-progress",
                     "--out", str(tmp_path / "out")]) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())["datasets"]["coco"]
    assert s["miou"] == {"1": 1.0} and s["n_masks"] == 1
    # masks: 3 defective + 2 of the unreadable image + 1 on an unknown image; images: 1
    assert s["n_skipped"] == 6 and s["n_images_skipped"] == 1
    by_id = {(e["image_id"], e["instance_id"]): e for e in s["skipped"]}
    assert "fewer than 3 points" in by_id[("1", "2")]["reason"]
    assert "far outside" in by_id[("1", "3")]["reason"]
    assert "RLE size [41, 60]" in by_id[("1", "4")]["reason"]
    assert by_id[("2", None)]["n_masks"] == 2 and "unreadable" in by_id[("2", None)]["reason"]
    assert "not in 'images'" in by_id[("99", "8")]["reason"]
    assert ("1", "5") not in by_id  # a valid crowd region is not a skip


def test_instances_gt_boxes_same_rules(tmp_path):
    ann = write_defects_dataset(tmp_path)
    with pytest.warns(UserWarning):
        assert main(["run", "instances", "--model", "oracle", "--dataset", "coco", "--root", str(tmp_path / "images"),
                     "--ann", str(ann), "--gt-boxes", "--cache-dir", "none", "--no-progress",
                     "--out", str(tmp_path / "out")]) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    # the evaluator's ground truth is the same: one object (and the crowd region) on the one readable image
    assert s["AP"] == pytest.approx(1.0) and s["mIoU"] == 1.0 and s["n_masks"] == 1
    assert s["n_skipped"] == 6 and s["n_images_skipped"] == 1


def test_proposals_ground_truth_with_defects_same_rules(tmp_path):
    """LVIS-format scenes whose every object an 8x8 grid reaches (AR 1 with the oracle), plus
    defective annotations the evaluator must not see either: AR stays 1 and they are listed."""
    ann = make_dataset(tmp_path, "lvis", rare_reachable=True)
    data = json.loads(ann.read_text())
    data["annotations"] += [
        {"id": 101, "image_id": 1, "category_id": 1, "segmentation": [[10, 10, 30, 10]], "area": 0, "bbox": [10, 10, 20, 0]},
        {"id": 102, "image_id": 1, "category_id": 1, "segmentation": square_poly(10, 10, 2e8, 3e8), "area": 9,
         "bbox": [0, 0, 1, 1]},
        {"id": 103, "image_id": 2, "category_id": 2, "segmentation": {"size": [10, 10], "counts": [100]}, "area": 9,
         "bbox": [0, 0, 1, 1]}]
    ann.write_text(json.dumps(data))
    assert main(["run", "proposals", "--model", "oracle", "--dataset", "coco", "--root", str(tmp_path / "val2017"),
                 "--ann", str(ann), "--points-per-side", "8", "--cache-dir", "none", "--no-progress",
                 "--out", str(tmp_path / "out")]) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["AR@1000"] == pytest.approx(1.0) and s["n_gt"] == 7
    assert s["n_skipped"] == 3 and sorted(e["instance_id"] for e in s["skipped"]) == ["101", "102", "103"]


def test_lvis_empty_results_are_the_evaluators_numbers():
    from sambench.metrics import coco_eval

    images = [{"id": 1, "height": 50, "width": 50, "neg_category_ids": [], "not_exhaustive_category_ids": []}]
    cats = [{"id": 1, "name": "a", "frequency": "f", "synset": "a.n.01"},
            {"id": 2, "name": "b", "frequency": "r", "synset": "b.n.01"}]
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": square_poly(5, 5, 45, 45), "area": 1600.0,
             "bbox": [5, 5, 40, 40]}]
    gt = coco_eval.GroundTruth({"images": images, "annotations": anns, "categories": cats})
    m = coco_eval.mask_ap(gt, [], img_ids=[1])["metrics"]
    assert m["AP"] == 0.0 and m["APm"] == 0.0  # ground truth there, nothing found
    assert m["APs"] == -1.0 and m["APl"] == -1.0 and m["APr"] == -1.0  # no ground truth: undefined
    r = coco_eval.proposal_recall(gt, [], 1000, img_ids=[1])
    assert r["AR"] == 0.0 and r["AR_s"] == -1.0


def test_both_readers_of_detections_files_skip_an_entry_for_the_same_reason(tmp_path):
    """The instances task (``--detections``) and the text routes' precomputed detector read one
    format through ``sambench.detections``: each bad entry is skipped by both, for the same reason."""
    from collections import Counter

    from sambench.detections import REASONS, load_detections
    from sambench.models.detectors import PrecomputedDetector

    good = {"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}
    bad = [({k: v for k, v in good.items() if k != "image_id"}, "malformed entry (no image id)"),
           ({**good, "image_id": True}, "malformed entry (no image id)"),
           ({k: v for k, v in good.items() if k != "bbox"}, "malformed entry (no bbox)"),
           ({**good, "bbox": [1, 2, 3]}, "malformed entry (bbox not 4 numbers)"),
           ({**good, "bbox": [1, 2, "3", 4]}, "malformed entry (bbox not 4 numbers)"),
           ({**good, "bbox": "1,2,3,4"}, "malformed entry (bbox not 4 numbers)"),
           ({k: v for k, v in good.items() if k != "score"}, "malformed entry (no score)"),
           ({**good, "score": "0.5"}, "malformed entry (score not a number)"),
           ({**good, "score": True}, "malformed entry (score not a number)"),
           ({**good, "score": float("inf")}, "non-finite score"),
           ({**good, "bbox": [1, 2, float("nan"), 4]}, "non-finite box"),
           ({**good, "bbox": [1, 2, 0, 4]}, "empty box (w or h <= 0)")]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([good] + [entry for entry, _ in bad]))
    expected = Counter(reason for _, reason in bad)
    dets = load_detections(path)
    assert Counter(REASONS[r - 1] for r in dets.reason if r) == expected
    assert PrecomputedDetector(path).skipped == expected
    ok = dets.reason == 0
    assert ok.sum() == 1 and dets.boxes[ok].tolist() == [[1, 2, 3, 4]] and dets.category[ok].tolist() == [3]
    assert set(expected) | {"malformed entry (no integer category_id)"} == set(REASONS)  # every reason is tested
    # the category is the instances reader's own key: without one, it is skipped with its own reason
    path.write_text(json.dumps([{k: v for k, v in good.items() if k != "category_id"}]))
    assert [REASONS[r - 1] for r in load_detections(path).reason] == ["malformed entry (no integer category_id)"]
