"""The referring task end to end on the native-format fixture (fixtures_refcoco): the oracle scores 1,
a corruption with hand-computed IoUs gives the hand-computed mIoU and cIoU (which differ), ground-truth
boxes, precomputed phrase detections, skipped expressions, the report and the gallery fields."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fixtures_refcoco import EXPECTED, OBJECTS, SENTENCES, rect_mask, write_refcoco  # noqa: E402

from sambench.app.cli import main  # noqa: E402
from sambench.metrics.referring import referring_scores  # noqa: E402


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_refcoco(tmp_path_factory.mktemp("refer"))


def run(out, *args, root, check=True, dataset="refcoco"):
    code = main(["run", "referring", *map(str, args), "--dataset", dataset, "--root", str(root), "--out", str(out),
                 "--no-progress", "--cache-dir", "none"])
    if check:
        assert code == 0
        return json.loads((Path(out) / "summary.json").read_text())
    return code


def test_metric_definitions_by_hand():
    # IoUs 1 (area 100), 0.5 (area 400): mIoU 0.75, cIoU (100 + 200) / (100 + 400) = 0.6
    m = referring_scores([100, 200], [100, 400], box_iou=[1.0, np.nan])
    assert m["miou"] == pytest.approx(0.75) and m["ciou"] == pytest.approx(0.6)
    assert m["precision@0.5"] == 1.0 and m["precision@0.6"] == 0.5 and m["box_acc@0.5"] == 1.0
    empty = referring_scores([], [])
    assert empty["miou"] is None and empty["ciou"] is None and empty["precision@0.9"] is None
    with pytest.raises(ValueError):
        referring_scores([1], [0])


def test_oracle_scores_one(tmp_path, root):
    s = run(tmp_path / "oracle", "--model", "text-oracle", root=root)
    splits = s["datasets"]["refcoco"]["splits"]
    assert list(splits) == ["val", "testA", "testB"]
    for split, m in splits.items():
        assert m["miou"] == 1.0 and m["ciou"] == 1.0 and m["precision@0.9"] == 1.0, split
        assert m["n_expressions"] == EXPECTED[split]["n"] and m["box_acc@0.5"] == 1.0
    assert s["route"] == "oracle" and s["model_label"] == "text-oracle (oracle)"
    assert s["datasets"]["refcoco"]["refs_skipped_by_reason"] == {"ann_id not in instances.json": 1, "no expression": 1}


def test_known_corruption_gives_hand_computed_miou_and_ciou(tmp_path, root):
    out = tmp_path / "corrupt"
    s = run(out, "--model", "text-oracle", "--model-arg", "keep_pixels=200", root=root)
    for split, want in EXPECTED.items():
        m = s["datasets"]["refcoco"]["splits"][split]
        assert m["miou"] == pytest.approx(want["miou"], abs=1e-12), split
        assert m["ciou"] == pytest.approx(want["ciou"], abs=1e-12), split
        for t, p in want["precision"].items():
            assert m[f"precision@{t:g}"] == pytest.approx(p), (split, t)
    # cIoU weighs large objects more: C (1600 px, IoU .125) pulls testA's cIoU far below its mIoU
    val, test_a = s["datasets"]["refcoco"]["splits"]["val"], s["datasets"]["refcoco"]["splits"]["testA"]
    assert val["ciou"] < val["miou"] and test_a["ciou"] < test_a["miou"] - 0.25
    # records: one row per expression with text, predicted and ground-truth RLE and the image file (a gallery's needs)
    rec = pd.read_csv(out / "records" / "records-rank0.csv", keep_default_na=False)
    assert len(rec) == 7 and set(rec["expression"]) == {x for k, v in SENTENCES.items() if k != "F" for x in v}
    from sambench.metrics.coco_eval import rle_from_field
    from sambench import masks

    row = rec[rec["expression"] == "big person"].iloc[0]
    pred, gt = masks.decode(rle_from_field(row["rle"])), masks.decode(rle_from_field(row["gt_rle"]))
    np.testing.assert_array_equal(gt, rect_mask(OBJECTS["C"][3]))
    assert pred.sum() == 200 and (pred & gt).sum() == 200 and Path(row["image_file"]).is_file()
    worst = s["worst"]
    assert [w["expression"] for w in worst[:2]] == ["big person", "the largest object, café colour"]
    assert worst[0]["iou"] == pytest.approx(0.125)
    for f in ("tables/referring_miou.md", "tables/referring_ciou.csv", "tables/referring_detail.md",
              "plots/referring_precision.png", "report.md"):
        assert (out / f).is_file(), f
    table = (out / "tables" / "referring_miou.md").read_text()
    assert "| route | RefCOCO val | RefCOCO testA | RefCOCO testB |" in table
    assert "| text-oracle (oracle) | 83.33 | 41.67 | 66.67 |" in table and "No published rows" in table
    # the summary is re-derived from the records alone (the task rebuilt from the run's protocol)
    (out / "summary.json").unlink()
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    assert json.loads((out / "summary.json").read_text())["datasets"] == s["datasets"]


def test_a_dataset_without_expressions_says_so(tmp_path, demo_root):
    s = run(tmp_path / "demo", "--model", "text-oracle", root=demo_root, check=False, dataset="demo")
    assert s == 0
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["datasets"]["demo"]["splits"] == {} and "no referring expression" in summary["notes"][0]


def test_gt_boxes_mode_and_missing_text_route(tmp_path, root):
    s = run(tmp_path / "gtbox", "--model", "oracle", "--gt-boxes", root=root)
    assert s["mode"] == "gt-boxes" and s["route"] == "gt-boxes"
    assert all(m["miou"] == 1.0 for m in s["datasets"]["refcoco"]["splits"].values())
    assert run(tmp_path / "notext", "--model", "sam-tiny", root=root, check=False) == 2
    assert run(tmp_path / "two", "--model", "sam-tiny", "--clip", "x", "--detections", "y", root=root, check=False) == 2


def test_precomputed_phrase_detections_prompt_the_mask_model(tmp_path, root):
    # exact ground-truth boxes for every expression but one (no detection: IoU 0), plus malformed entries
    dets = []
    for name, (img, ann, cat, rects) in OBJECTS.items():
        xs = [r[0] for r in rects] + [r[2] for r in rects]
        ys = [r[1] for r in rects] + [r[3] for r in rects]
        box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
        for sent in SENTENCES[name]:
            if sent == "umbrella on the right":
                continue
            dets.append({"image_id": img, "bbox": box, "score": 0.9, "phrase": sent.upper()})  # matched case-insensitively
            dets.append({"image_id": img, "bbox": [0, 0, 4, 4], "score": 0.1, "phrase": sent})  # a worse box: not top-1
    dets += [{"image_id": 1, "bbox": [0, 0, 0, 5], "score": 1.0, "phrase": "x"}, {"bbox": [0, 0, 1, 1]},
             {"image_id": 1, "bbox": [0, 0, 1, 1], "score": float("nan"), "phrase": "y"}]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))  # json writes the NaN score as NaN
    out = tmp_path / "dets"
    s = run(out, "--model", "oracle", "--detections", path, root=root)
    splits = s["datasets"]["refcoco"]["splits"]
    assert splits["val"]["miou"] == 1.0 and splits["testB"]["miou"] == 1.0
    assert splits["testA"]["miou"] == pytest.approx(2 / 3) and splits["testA"]["n_no_mask"] == 1
    assert splits["testA"]["ciou"] == pytest.approx(3200 / 3264)  # C's two expressions exact, D missed: 0 / 64
    det = json.loads((out / "config.json").read_text())["model"]["detector"]
    assert det["n_skipped"] == 3 and det["skipped_by_reason"] == {
        "empty box (w or h <= 0)": 1, "malformed entry (no image id)": 1, "non-finite score": 1}
    assert s["model_label"] == "oracle (oracle) + detections:dets.json" and s["route"] == "detector+mask"


def test_a_bad_segmentation_skips_only_its_own_expressions(tmp_path, root):
    broken = tmp_path / "refer"
    shutil.copytree(root, broken)
    inst = broken / "refcoco" / "instances.json"
    data = json.loads(inst.read_text())
    for a in data["annotations"]:
        if a["id"] == 12:  # image 1's second object: a polygon with an odd number of coordinates
            a["segmentation"] = [[10, 10, 20, 10, 20]]
    inst.write_text(json.dumps(data))
    s = run(tmp_path / "out", "--model", "text-oracle", root=broken)
    rec = pd.read_csv(tmp_path / "out" / "records" / "records-rank0.csv", keep_default_na=False,
                      dtype={"instance_id": str})
    n_bad = len(SENTENCES["B"])  # the expressions of annotation 12
    assert (rec["status"] != "ok").sum() == n_bad and set(rec.loc[rec["instance_id"] == "12", "status"]) != {"ok"}
    assert (rec.loc[rec["instance_id"] == "11", "status"] == "ok").all()  # same image, still evaluated
    d = s["datasets"]["refcoco"]
    assert d["n_images_skipped"] == 0
    listed = [x for x in d["skipped"] if x["instance_id"] == "12"]
    assert len(listed) == 1 and "bad segmentation" in listed[0]["reason"]
    val = d["splits"]["val"]
    assert val["n_expressions_skipped"] == n_bad and val["miou"] == 1.0
