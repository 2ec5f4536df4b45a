"""The instances task end to end through pycocotools / lvis: answers known by construction, bad
detections files, refinement, and real COCO val2017 images (COCO-MINI) checked against COCOeval.

Synthetic scenes (``fixtures_lvis``): 7 rectangles in 4 categories; every area is even except the
one object of category 4 (961 px). With ground-truth boxes as detections the oracle returns each
ground-truth mask (AP 1); with keep=0.5 each IoU is floor(area/2)/area: exactly 0.5 for the even
areas (a match at the 0.50 threshold only), just below 0.5 for category 4 (never a match). Mask AP
is a mean over categories, so AP50 = 3/4, AP75 = 0, AP = 3/40.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import cocoeval_stats, run_cli, shared  # noqa: E402
from fixtures_lvis import all_objects, gt_detections, half_iou, make_dataset, scenes  # noqa: E402

from sambench.app.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def coco_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    ann = make_dataset(root, "coco")
    dets = gt_detections(ann, root / "dets.json")
    return root, ann, dets


def run(out, *extra, root, ann=None, dataset="coco", model="oracle", check=True):
    args = ["run", "instances", "--model", model, "--dataset", dataset, "--root", str(root), "--out", str(out),
            "--no-progress", "--cache-dir", "none", *map(str, extra)]
    if ann:
        args += ["--ann", str(ann)]
    code = main(args)
    if check:
        assert code == 0
        return json.loads((Path(out) / "summary.json").read_text())
    return code


def test_oracle_with_ground_truth_boxes_gives_ap_one(tmp_path, coco_data):
    root, ann, dets = coco_data
    out = tmp_path / "oracle"
    s = run(out, "--detections", dets, root=root / "val2017", ann=ann)
    assert s["evaluator"] == "pycocotools" and s["n_images"] == 3 and s["n_masks"] == 7  # image 3 has no object: prompted all the same
    for key in ("AP", "AP50", "AP75", "APs", "APm", "APl"):
        assert s[key] == pytest.approx(1.0), key
    results = json.loads((out / "coco_results.json").read_text())
    assert len(results) == 7 and set(results[0]) == {"image_id", "category_id", "score", "segmentation"}  # no bbox (segm)
    assert all(r["score"] == 0.9 for r in results)
    # pycocotools on the written results file gives exactly the summary's stats
    assert cocoeval_stats(ann, out / "coco_results.json") == s["stats"]
    for f in ("tables/instances_table5.md", "tables/instances_table5.csv", "plots/instances_ap_by_size.png", "report.md"):
        assert (out / f).is_file(), f
    table = (out / "tables" / "instances_table5.md").read_text()
    assert "SAM (published) | 46.5 | 30.8 | 51.0 | 61.7 | 44.7" in table
    assert "| 100.0 | 100.0 |" in (out / "tables" / "instances_detail.md").read_text()
    # the summary is re-derived from the records alone (task rebuilt from the run's protocol)
    (out / "summary.json").unlink()
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["stats"] == s["stats"] and again["protocol"]["detections"]["name"] == "dets.json"


def test_only_coco_val2017_stands_beside_the_published_coco_column(tmp_path, coco_data):
    """The same synthetic COCO-format files read by the generic coco adapter are another dataset: not
    a row of the Table 5 layout, never "N of COCO val2017's 5,000 images"; read as the coco2017 layout
    (the adapter that says the data is COCO val2017) they are a row under the published COCO column."""
    root, ann, dets = coco_data
    run(tmp_path / "generic", "--detections", dets, root=root / "val2017", ann=ann)
    run(tmp_path / "official", "--detections", dets, root=root, dataset="coco2017")
    for name, in_table in (("generic", False), ("official", True)):
        out = tmp_path / name
        table = pd.read_csv(out / "tables" / "instances_table5.csv")
        measured = table[~table["method"].str.contains("published")]
        report = (out / "report.md").read_text()
        detail = pd.read_csv(out / "tables" / "instances_detail.csv")
        if in_table:
            assert measured["COCO AP"].tolist() == [100.0]
            assert "3 of COCO val2017's 5,000 images (coco2017)" in measured["differs from published"].iloc[0]
            assert detail["data"].tolist() == ["COCO val2017"] and "Not in this table" not in report
        else:
            assert len(measured) == 0 and "val2017's" not in report
            assert "Not in this table: oracle (oracle) on other COCO-format data (coco)" in report
            assert detail["data"].tolist() == ["other COCO-format data (coco)"] and detail["AP"].tolist() == [100.0]
    # one report of both runs: the generic run's AP never lands in the COCO column
    assert main(["report", str(tmp_path / "official"), str(tmp_path / "generic"), "--out", str(tmp_path / "both")]) == 0
    table = pd.read_csv(tmp_path / "both" / "tables" / "instances_table5.csv")
    assert len(table[~table["method"].str.contains("published")]) == 1


def test_the_published_data_rule():
    from sambench.published import published_data

    groups = ("COCO", "LVIS")
    assert published_data("5", {"name": "coco2017", "split": "val2017"}, groups) == "COCO"
    assert published_data("5", {"name": "lvis", "split": "val"}, groups) == "LVIS"
    for entry in ({"name": "coco", "split": ""}, {"name": "coco2017", "split": "train2017"},
                  {"name": "lvis_v05", "split": "val"}, {"name": "coco"}, {}):
        assert published_data("5", entry, groups) is None, entry


def test_known_corruption_gives_ap_from_the_iou_thresholds(tmp_path, coco_data):
    root, ann, dets = coco_data
    s = run(tmp_path / "keep", "--detections", dets, "--model-arg", "keep=0.5", root=root / "val2017", ann=ann)
    # categories 1-3: IoU exactly 0.5 (match at 0.50 only); category 4: IoU 480/961 < 0.5 (never)
    assert s["AP50"] == pytest.approx(3 / 4)
    assert s["AP75"] == pytest.approx(0.0)
    assert s["AP"] == pytest.approx(3 / 40)
    assert s["stats"] == cocoeval_stats(ann, tmp_path / "keep" / "coco_results.json")


def test_lvis_format_uses_lvis_eval(tmp_path):
    root = tmp_path / "data"
    ann = make_dataset(root, "lvis")
    dets = gt_detections(ann, tmp_path / "dets.json")
    s = run(tmp_path / "oracle", "--detections", dets, root=root / "val2017", ann=ann)
    assert s["evaluator"] == "lvis" and s["annotation_format"] == "lvis"
    for key in ("AP", "AP50", "AP75", "APr", "APc", "APf"):
        assert s[key] == pytest.approx(1.0), key
    s = run(tmp_path / "keep", "--detections", dets, "--model-arg", "keep=0.5", root=root / "val2017", ann=ann)
    assert (s["AP50"], s["AP75"], s["AP"]) == pytest.approx((3 / 4, 0.0, 3 / 40))
    assert s["APr"] == pytest.approx(0.1) and s["APf"] == pytest.approx(0.1)  # rare/frequent: all even areas
    assert s["APc"] == pytest.approx(0.05)  # common: category 2 (even) and category 4 (odd)


def test_ground_truth_box_mode_reports_miou_by_size(tmp_path, coco_data):
    root, ann, _ = coco_data
    s = run(tmp_path / "gt", "--gt-boxes", root=root / "val2017", ann=ann)
    assert s["mode"] == "gt-boxes" and (s["n_s"], s["n_m"], s["n_l"]) == (4, 1, 2)
    assert (s["mIoU"], s["mIoU_s"], s["mIoU_m"], s["mIoU_l"]) == (1.0, 1.0, 1.0, 1.0)
    assert s["AP"] == pytest.approx(1.0)
    s = run(tmp_path / "gt-keep", "--gt-boxes", "--model-arg", "keep=0.5", root=root / "val2017", ann=ann)
    objs = all_objects(scenes())
    assert s["mIoU"] == pytest.approx(np.mean([half_iou(o.area) for o in objs]), abs=1e-6)
    for key, bucket in (("mIoU_s", "small"), ("mIoU_m", "medium"), ("mIoU_l", "large")):
        assert s[key] == pytest.approx(np.mean([half_iou(o.area) for o in objs if o.bucket == bucket]), abs=1e-6)
    assert s["mIoU_s"] < 0.5


def mixed_detections(ann, path):
    """The 7 ground-truth boxes of images 1 and 2 and one entry of every other kind, with its known fate
    in a run on images 1 and 2 (image 3 is a dataset image left out by ``--image-ids``)."""
    nan, inf = float("nan"), float("inf")
    extra = [  # (entry, what becomes of it)
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "score": nan}, "non-finite score"),
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, inf, 100], "score": 0.5}, "non-finite box"),
        ({"image_id": 999, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}, "image id not in the dataset"),
        ({"image_id": 1, "category_id": 1, "bbox": [500, 500, 10, 10], "score": 0.5}, "box outside the image"),
        ({"image_id": 1, "category_id": 1, "score": 0.5}, "malformed entry (no bbox)"),
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 10], "score": 0.5}, "malformed entry (bbox not 4 numbers)"),
        ({"image_id": 1, "category_id": 1, "bbox": "0,0,10,10", "score": 0.5}, "malformed entry (bbox not 4 numbers)"),
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]}, "malformed entry (no score)"),
        ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": "0.5"},
         "malformed entry (score not a number)"),
        ({"image_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}, "malformed entry (no integer category_id)"),
        ({"category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}, "malformed entry (no image id)"),
        ({"image_id": 2, "category_id": 77, "bbox": [0, 60, 160, 60], "score": 0.5}, "category not in the annotation file"),
        ({"image_id": 2, "category_id": 2, "bbox": [0, 60, 0, 60], "score": 0.1}, "empty box (w or h <= 0)"),
        ({"image_id": 2, "category_id": 2, "bbox": [0, 60, 200, 60], "score": 0.1}, "prompted, clipped"),
        ({"image_id": 3, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}, "not evaluated"),
        ({"image_id": 3, "category_id": 1, "bbox": [0, 0, 10, 10], "score": nan}, "not evaluated"),  # its defect too
    ]
    gt_detections(ann, path, extra=[e for e, _ in extra])
    return [fate for _, fate in extra]


def test_every_detection_is_counted_once(tmp_path, capsys, coco_data):
    """A file mixing every kind of entry: each is prompted (and in the results), skipped for one
    reason, or on an image the run did not evaluate, and the counts add up to the file's entries.
    The unknown category is decided before decoding: its box is never prompted."""
    from collections import Counter

    root, ann, _ = coco_data
    path = tmp_path / "mixed.json"
    fates = mixed_detections(ann, path)
    n_gt = len(json.loads(path.read_text())) - len(fates)
    ids = tmp_path / "ids.txt"
    ids.write_text("1\n2\n")
    capsys.readouterr()
    s = run(tmp_path / "mixed", "--detections", path, "--image-ids", ids, root=root / "val2017", ann=ann)
    printed = capsys.readouterr().out
    d = s["detections"]
    reasons = Counter(f for f in fates if f not in ("prompted, clipped", "not evaluated"))
    assert d["n_total"] == n_gt + len(fates) == 23
    assert d["skipped_by_reason"] == dict(reasons) and d["n_skipped"] == sum(reasons.values()) == 13
    assert d["n_prompted"] == n_gt + 1 == 8 and d["n_clipped"] == 1 and d["n_on_images_not_evaluated"] == 2
    assert d["n_prompted"] + d["n_skipped"] + d["n_on_images_not_evaluated"] == d["n_total"]
    assert "note_counts" not in d and "outside the run's" in d["note_not_evaluated"]
    assert list(d["on_images_not_evaluated_by_cause"].values()) == [2]
    results = json.loads((tmp_path / "mixed" / "coco_results.json").read_text())
    assert len(results) == s["n_masks"] == d["n_prompted"] and {r["category_id"] for r in results} <= {1, 2, 3, 4}
    rec = pd.read_csv(tmp_path / "mixed" / "records" / "records-rank0.csv", keep_default_na=False)
    unknown = rec[rec["category_id"] == 77]
    assert unknown["status"].tolist() == ["category not in the annotation file"] and unknown["rle"].tolist() == [""]
    assert (f"detections: 23 in the file: 8 prompted (1 of them clipped to the image), 13 skipped (") in printed
    assert ", 2 on images not evaluated; 0 evaluated images without any detection" in printed
    # the clipped duplicate scores below every true match: AP is untouched
    assert s["AP"] == pytest.approx(1.0) and s["n_images"] == 2


def test_a_decoded_box_of_an_unknown_category_is_skipped_not_prompted(tmp_path, coco_data):
    """Records where a box of a category not in the annotation file was decoded (status ok: a run
    whose process step could not read the annotation file's categories) are re-summarised with that
    box skipped, once, and left out of the results."""
    from sambench.app.summary import summarize_run
    from sambench.tasks.instances import InstancesTask

    root, ann, _ = coco_data
    path = tmp_path / "dets.json"
    gt_detections(ann, path, extra=[{"image_id": 2, "category_id": 77, "bbox": [0, 60, 160, 60], "score": 0.5}])
    out = tmp_path / "run"
    run(out, "--detections", path, root=root / "val2017", ann=ann)
    records = out / "records" / "records-rank0.csv"
    rec = pd.read_csv(records, keep_default_na=False, dtype=str)
    rec.loc[rec["category_id"] == "77", "status"] = "ok"  # as if decoded
    rec.to_csv(records, index=False)
    d = summarize_run(InstancesTask(str(path), run_dir=out), out)["detections"]
    assert d["n_total"] == 8 and d["n_prompted"] == 7 and d["n_skipped"] == 1
    assert d["skipped_by_reason"] == {"category not in the annotation file": 1}
    assert len(json.loads((out / "coco_results.json").read_text())) == 7


@pytest.mark.parametrize("content, words", [("{not json", "not a readable"), ('{"a": 1}', "expected a COCO results list"),
                                            (None, "not found")])
def test_unusable_detections_file_is_a_one_line_error(tmp_path, capsys, coco_data, content, words):
    root, ann, _ = coco_data
    path = tmp_path / "dets.json"
    if content is not None:
        path.write_text(content)
    code = run(tmp_path / "x", "--detections", path, root=root / "val2017", ann=ann, check=False)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and str(path) in err and words in err
    assert not (tmp_path / "x").exists()


def test_refine_feeds_the_mask_back(tmp_path, coco_data):
    root, ann, dets = coco_data
    s = run(tmp_path / "oracle", "--detections", dets, "--refine", root=root / "val2017", ann=ann)
    assert s["AP"] == pytest.approx(1.0) and s["protocol"]["refine"] is True
    run(tmp_path / "tiny", "--detections", dets, root=root / "val2017", ann=ann, model="sam-tiny")
    run(tmp_path / "tiny-refine", "--detections", dets, "--refine", root=root / "val2017", ann=ann, model="sam-tiny")
    read = lambda p: pd.read_csv(p / "records" / "records-rank0.csv")  # noqa: E731
    a, b = read(tmp_path / "tiny"), read(tmp_path / "tiny-refine")
    assert len(a) == len(b) == 7 and (a["rle"] != b["rle"]).any()
    assert list(a["score"]) == list(b["score"]) and list(a["category_id"]) == list(b["category_id"])


def test_real_coco_val2017_agrees_with_pycocotools(tmp_path):
    """COCO-MINI (real val2017 images and annotations): ground-truth boxes as a detections file,
    sam-tiny and the oracle; pycocotools' own stats on the written results json = summary.json."""
    mini = shared("COCO-MINI")
    full = json.loads((mini / "annotations" / "instances_val2017.json").read_text())
    # a few real images (some with crowd regions) keep the test fast; the coco2017 layout is rebuilt around them
    with_crowd = sorted({a["image_id"] for a in full["annotations"] if a["iscrowd"]})[:2]
    keep = set(with_crowd) | {im["id"] for im in full["images"][:4]}
    sub = dict(full, images=[im for im in full["images"] if im["id"] in keep],
               annotations=[a for a in full["annotations"] if a["image_id"] in keep])
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").symlink_to(mini / "val2017")
    ann = root / "annotations" / "instances_val2017.json"
    ann.write_text(json.dumps(sub))
    dets = tmp_path / "gt_boxes.json"
    dets.write_text(json.dumps([{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
                                 "score": 1.0} for a in sub["annotations"] if not a["iscrowd"]]))
    n_boxes = sum(1 for a in sub["annotations"] if not a["iscrowd"])

    proc = run_cli("run", "instances", "--model", "sam-tiny", "--dataset", "coco2017", "--root", root,
                   "--detections", dets, "--out", tmp_path / "tiny", "--no-progress", "--cache-dir", "none")
    assert "mask AP (pycocotools)" in proc.stdout
    s = json.loads((tmp_path / "tiny" / "summary.json").read_text())
    assert s["n_masks"] == n_boxes and s["n_images"] == len(keep)
    stats = cocoeval_stats(ann, tmp_path / "tiny" / "coco_results.json")
    assert stats == s["stats"]
    assert [s[k] for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")] == stats[:6]

    s = run(tmp_path / "oracle", "--detections", dets, root=root, dataset="coco2017")
    assert s["stats"] == cocoeval_stats(ann, tmp_path / "oracle" / "coco_results.json")
    assert s["AP"] == pytest.approx(1.0)


def test_images_without_detections_and_clipped_boxes_are_said_in_the_run_output(tmp_path, coco_data):
    root, ann, _ = coco_data
    dets = json.loads(gt_detections(ann, tmp_path / "all.json").read_text())
    images = sorted({d["image_id"] for d in dets})
    dropped = images[0]  # an evaluated image whose every object the detector missed
    kept = [d for d in dets if d["image_id"] != dropped]
    kept.append({"image_id": images[1], "category_id": kept[0]["category_id"], "bbox": [0, 60, 500, 60], "score": 0.01})
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(kept))
    out = tmp_path / "run"
    proc = run_cli("run", "instances", "--model", "oracle", "--dataset", "coco", "--root", root / "val2017",
                   "--ann", ann, "--detections", path, "--out", out, "--no-progress", "--cache-dir", "none")
    # the dropped image and every image without objects (background images are evaluated too)
    all_images = {im["id"] for im in json.loads(Path(ann).read_text())["images"]}
    n_without = len(all_images - {d["image_id"] for d in kept})
    assert n_without == 2  # the fixture: images 1, 2 with objects, 3 without; 1 dropped here
    d = json.loads((out / "summary.json").read_text())["detections"]
    assert d["n_images_without_detections"] == n_without and d["n_clipped"] == 1 and d["n_prompted"] == len(kept)
    assert (f"detections: {len(kept)} in the file: {len(kept)} prompted (1 of them clipped to the image), 0 skipped; "
            f"{n_without} evaluated images without any detection") in proc.stdout
    detail = pd.read_csv(out / "tables" / "instances_detail.csv")
    assert detail["images without detections"].tolist() == [n_without]
    assert detail["clipped to the image"].tolist() == [1]
