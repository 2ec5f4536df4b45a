"""Every real-world defect case of ``tests/cases`` (copies of ``../shared/cases``) with its right value.

Each case folder's ``run.sh`` header states the right value and how it was derived (by hand, or by
the official tool run directly); these tests run the same commands in-process and assert it. The
memory case runs in a subprocess under an address-space cap, so a regression fails the test
instead of taking the machine down.
"""

import contextlib
import io
import json
import resource
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sambench.app.cli import main

CASES = Path(__file__).resolve().parent / "cases"


@pytest.fixture
def case(tmp_path):
    """Copy a case folder to a temporary place (the runs write next to the inputs)."""
    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(CASES / name, dst)
        return dst
    return copy


def sb(*args) -> None:
    assert main([str(a) for a in args]) == 0, args


def point(root, ann, out, *extra, model="oracle"):
    sb("run", "point", "--model", model, *extra, "--dataset", "coco", "--root", root, "--ann", ann,
       "--cache-dir", "none", "--no-progress", "--out", out)
    summary = json.loads((Path(out) / "summary.json").read_text())["datasets"]["coco"]
    return summary, pd.read_csv(Path(out) / "records" / "records-rank0.csv")


def instances_gt_boxes(root, ann, out):
    sb("run", "instances", "--model", "oracle", "--dataset", "coco", "--root", root, "--ann", ann, "--gt-boxes",
       "--cache-dir", "none", "--no-progress", "--out", out)
    return json.loads((Path(out) / "summary.json").read_text())


def test_case_coco_duplicate_ann_ids(case):
    """Every annotation id is 0: keyed by (image, position); oracle mIoU@1 = 1.0 over 4 masks, keep=0.5
    exactly 0.5 (floor(0.5*384)/384 = floor(0.5*432)/432 = 0.5); --gt-boxes mIoU 1.0 and AP 1.0."""
    d = case("coco-duplicate-ann-ids")
    with pytest.warns(UserWarning, match="used more than once"):
        s, rec = point(d / "images", d / "instances.json", d / "out", "--points", "1")
    assert s["miou"] == {"1": 1.0} and s["n_masks"] == 4 and s["n_skipped"] == 0
    assert sorted(rec["area"]) == [384, 384, 432, 432] and (rec["iou"] == 1.0).all()
    assert sorted(rec["instance_id"]) == ["1#0", "1#1", "2#0", "2#1"]
    config = json.loads((d / "out" / "config.json").read_text())["datasets"][0]
    assert config["duplicate_annotation_ids"] == {"0": 4} and "used more than once" in config["warnings"][0]
    s, _ = point(d / "images", d / "instances.json", d / "out-half", "--points", "1", "--model-arg", "keep=0.5")
    assert s["miou"] == {"1": 0.5} and s["n_masks"] == 4
    inst = instances_gt_boxes(d / "images", d / "instances.json", d / "out-inst")
    assert inst["AP"] == 1.0 and inst["mIoU"] == 1.0 and inst["n_masks"] == 4 and inst["n_skipped"] == 0


def test_case_coco_poly_2pt(case):
    """A 2-point polygon beside two valid ones: only annotation 3 is skipped (counted, listed); the
    oracle's point mIoU@1 = 1.0 over 2 masks and --gt-boxes AP = 1.0 (2 GT objects, 2 exact masks)."""
    d = case("coco-poly-2pt")
    s, _ = point(d / "images", d / "instances.json", d / "out", "--points", "1")
    assert s["miou"] == {"1": 1.0} and s["n_masks"] == 2
    assert s["n_skipped"] == 1 and s["n_images_skipped"] == 0
    assert [(x["image_id"], x["instance_id"], x["reason"]) for x in s["skipped"]] == \
        [("1", "3", "polygon with fewer than 3 points")]
    inst = instances_gt_boxes(d / "images", d / "instances.json", d / "out-inst")
    assert inst["AP"] == 1.0 and inst["n_masks"] == 2 and inst["n_images_skipped"] == 0 and inst["n_skipped"] == 1


def _cap_address_space():
    resource.setrlimit(resource.RLIMIT_AS, (6_000_000 * 1024, 6_000_000 * 1024))  # as the case's ulimit -v


def test_case_coco_polygon_far_outside(case):
    """A vertex at (2.085e8, 3.52e8) in a 64x48 image: pycocotools would exhaust memory or segfault.
    Annotation 2 is skipped with the reason; annotation 1 gives oracle mIoU@1 = 1.0 over 1 mask."""
    d = case("coco-polygon-far-outside")
    proc = subprocess.run(
        [sys.executable, "-m", "sambench", "run", "point", "--model", "oracle", "--dataset", "coco", "--root",
         str(d / "images"), "--ann", str(d / "instances.json"), "--points", "1", "--cache-dir", "none",
         "--no-progress", "--out", str(d / "out")],
        capture_output=True, text=True, timeout=600, preexec_fn=_cap_address_space)
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads((d / "out" / "summary.json").read_text())["datasets"]["coco"]
    assert s["miou"] == {"1": 1.0} and s["n_masks"] == 1 and s["n_skipped"] == 1
    assert s["skipped"][0]["instance_id"] == "2" and "far outside the 64x48 image" in s["skipped"][0]["reason"]


def test_case_exif_rotated_jpeg(case):
    """EXIF Orientation=6, annotated as displayed: read upright, so the random walker's mIoU equals
    the same run on the losslessly saved upright pixels (and the pixels are identical)."""
    from sambench.datasets.base import read_image

    d = case("exif-rotated-jpeg")
    assert np.array_equal(read_image(d / "images" / "photo.jpg"), read_image(d / "images-upright" / "photo.png"))
    s, _ = point(d / "images", d / "instances.json", d / "out", "--points", "1,3", model="random-walker")
    up, _ = point(d / "images-upright", d / "instances-upright.json", d / "out-up", "--points", "1,3",
                  model="random-walker")
    assert s["miou"] == up["miou"] and s["n_masks"] == 1
    config = json.loads((d / "out" / "config.json").read_text())["datasets"][0]
    assert "EXIF orientation applied" in config["image_decoding"]


def test_case_grabcut_jpeg_mask(case):
    """The teddy mask saved losslessly and as JPEG q90: both read by GrabCut's rule (> 128 object,
    == 128 ignore): the same object, 24163 px, and the same mIoU; the JPEG copy warns once."""
    d = case("grabcut-jpeg-mask")
    out = {}
    for v in ("lossless", "jpeg"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sb("run", "point", "--model", "random-walker", "--dataset", "grabcut", "--root", d / v, "--points", "1,5",
               "--cache-dir", "none", "--no-progress", "--out", d / f"out-{v}")
        values_warnings = [w for w in caught if "mask values" in str(w.message)]
        assert len(values_warnings) == (1 if v == "jpeg" else 0), [str(w.message) for w in caught]
        rec = pd.read_csv(d / f"out-{v}" / "records" / "records-rank0.csv")
        out[v] = (int(rec["area"].iloc[0]), json.loads((d / f"out-{v}" / "summary.json").read_text())["datasets"]["grabcut"]["miou"])
    assert out["lossless"][0] == out["jpeg"][0] == 24163
    assert out["lossless"][1] == out["jpeg"][1]


def test_case_grabcut_jpeg_mask_warning_is_one_plain_line_from_the_cli(case, tmp_path):
    from conftest import run_cli

    d = case("grabcut-jpeg-mask")
    proc = run_cli("run", "point", "--model", "random-walker", "--dataset", "grabcut", "--root", d / "jpeg",
                   "--points", "1", "--cache-dir", "none", "--no-progress", "--out", tmp_path / "out")
    lines = [l for l in proc.stderr.splitlines() if "mask values" in l]
    assert len(lines) == 1 and lines[0].startswith("sambench: warning: ") and "sambench:0" not in proc.stderr


def test_case_instances_empty_detections(case):
    """No detections at all: pycocotools itself (an empty results set, check_pycocotools.py) gives
    AP = AP50 = AP75 = APm = 0 and APs = APl = ARs = ARl = -1 (no small or large ground truth)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    d = case("instances-empty-detections")
    sb("run", "instances", "--model", "oracle", "--dataset", "coco", "--root", d / "images", "--ann",
       d / "instances.json", "--detections", d / "detections-empty.json", "--cache-dir", "none", "--no-progress",
       "--out", d / "out")
    s = json.loads((d / "out" / "summary.json").read_text())
    with contextlib.redirect_stdout(io.StringIO()):  # the official tool, run directly
        gt = COCO(str(d / "instances.json"))
        dt = COCO()
        dt.dataset = {"images": gt.dataset["images"], "categories": gt.dataset["categories"], "annotations": []}
        dt.createIndex()
        ev = COCOeval(gt, dt, "segm")
        ev.evaluate(), ev.accumulate(), ev.summarize()
    assert s["stats"] == [float(v) for v in ev.stats]
    assert s["stats"] == [0.0, 0.0, 0.0, -1.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0, 0.0, -1.0]
    assert s["APs"] == -1.0 and s["APm"] == 0.0 and s["APl"] == -1.0
    table = (d / "out" / "tables" / "instances_detail.md").read_text()
    assert "| - |" in table  # undefined shown as "-", never 0


def test_case_bsds_gt_boundaries_only(case):
    """A ground-truth .mat holding only Boundaries (one annotator), 48x32: the prediction is exactly
    the left side (32 px) of the 92-px outline, so R = 32/92, P = 1, F = ODS = OIS = 0.5161."""
    d = case("bsds-gt-boundaries-only")
    sb("edges-eval", "--pred", d / "pred", "--root", d / "data", "--split", "test", "--nproc", "1", "--out", d / "out")
    r = json.loads((d / "out" / "edges_eval.json").read_text())
    R, P = 32 / 92, 1.0
    assert r["ods_recall"] == pytest.approx(R) and r["ods_precision"] == pytest.approx(P)
    assert r["ods"] == pytest.approx(2 * R * P / (R + P)) and r["ois"] == pytest.approx(2 * R * P / (R + P))
    assert round(r["ods"], 4) == 0.5161
