"""Category names as prompts, scored by pycocotools (COCO) and lvis (LVIS): the oracle gives AP 1.0, a
known corruption the AP the IoU thresholds imply, LVIS's federated prompting, name cleaning and
templates, and real COCO val2017 images (COCO-MINI) checked against COCOeval run directly."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import cocoeval_stats, shared  # noqa: E402
from fixtures_lvis import gt_detections, make_dataset  # noqa: E402

from sambench.app.cli import main  # noqa: E402
from sambench.tasks.text_instances import TextInstancesTask, clean_name  # noqa: E402


def run(out, *args, root, ann=None, dataset="coco", check=True):
    cmd = ["run", "text-instances", *map(str, args), "--dataset", dataset, "--root", str(root), "--out", str(out),
           "--no-progress", "--cache-dir", "none"]
    if ann:
        cmd += ["--ann", str(ann)]
    code = main(cmd)
    if check:
        assert code == 0
        return json.loads((Path(out) / "summary.json").read_text())
    return code


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    return root, make_dataset(root, "coco")


def test_oracle_gives_ap_one_through_pycocotools(tmp_path, coco):
    root, ann = coco
    out = tmp_path / "oracle"
    s = run(out, "--model", "text-oracle", root=root / "val2017", ann=ann)
    assert s["evaluator"] == "pycocotools" and s["n_images"] == 3 and s["n_masks"] == 7
    for key in ("AP", "AP50", "AP75", "APs", "APm", "APl"):
        assert s[key] == pytest.approx(1.0), key
    assert cocoeval_stats(ann, out / "coco_results.json") == s["stats"]  # the official tool on the written file
    rec = pd.read_csv(out / "records" / "records-rank0.csv")
    assert set(rec["phrase"]) == {"thing f", "thing c", "thing r", "odd c"}  # underscores cleaned
    assert (out / "tables" / "text_instances_ap.md").is_file() and (out / "plots" / "text_instances_ap.png").is_file()
    (out / "summary.json").unlink()  # re-derived from the records alone
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    assert json.loads((out / "summary.json").read_text())["stats"] == s["stats"]


def test_known_corruption_gives_the_ap_its_ious_imply(tmp_path, coco):
    root, ann = coco
    out = tmp_path / "keep"
    s = run(out, "--model", "text-oracle", "--model-arg", "keep=0.5", root=root / "val2017", ann=ann)
    # IoU exactly 0.5 for the even-area categories 1-3, 480/961 < 0.5 for category 4 (see fixtures_lvis)
    assert (s["AP50"], s["AP75"], s["AP"]) == pytest.approx((3 / 4, 0.0, 3 / 40))
    assert cocoeval_stats(ann, out / "coco_results.json") == s["stats"]


def test_template_and_cleaning_are_recorded(tmp_path, coco):
    root, ann = coco
    out = tmp_path / "tpl"
    s = run(out, "--model", "text-oracle", "--prompt-template", "a photo of a {name}.", "--name-cleaning", "none",
            root=root / "val2017", ann=ann)
    assert s["protocol"]["template"] == "a photo of a {name}." and s["protocol"]["name_cleaning"] == []
    assert "a photo of a thing_f." in set(pd.read_csv(out / "records" / "records-rank0.csv")["phrase"])
    assert run(tmp_path / "bad", "--model", "text-oracle", "--prompt-template", "no slot", root=root / "val2017",
               ann=ann, check=False) == 2
    assert clean_name("bow_(weapon)", ["underscores", "parentheses"]) == "bow"
    assert clean_name("Hot_Dog", ["underscores", "lower"]) == "hot dog"
    assert clean_name("a_(b)_c", []) == "a_(b)_c"


def test_lvis_oracle_and_federated_prompts(tmp_path):
    root = tmp_path / "lvis"
    ann = make_dataset(root, "lvis")
    s = run(tmp_path / "oracle", "--model", "text-oracle", root=root, dataset="lvis")
    assert s["evaluator"] == "lvis"
    for key in ("AP", "AP50", "AP75", "APr", "APc", "APf"):
        assert s[key] == pytest.approx(1.0), key
    # every synonym prompted: the oracle answers each with the category's masks; merged per category, AP stays 1
    data = json.loads(ann.read_text())
    for c in data["categories"]:
        c["synonyms"] = [c["name"], c["name"] + "_alias"]
    ann.write_text(json.dumps(data))
    syn = tmp_path / "syn"
    s = run(syn, "--model", "text-oracle", "--category-names", "synonyms", root=root, dataset="lvis")
    assert s["AP"] == pytest.approx(1.0) and s["n_masks"] == 7
    names = {"thing f", "thing c", "thing r", "odd c"}
    assert set(pd.read_csv(syn / "records" / "records-rank0.csv")["phrase"]) == names  # ties keep the first synonym
    dup = tmp_path / "dup"
    s = run(dup, "--model", "text-oracle", "--category-names", "synonyms", "--synonym-nms", "1.01", root=root, dataset="lvis")
    assert s["n_masks"] == 14 and s["AP"] < 1.0  # without the merge each object is found twice: a duplicate is a false positive
    assert set(pd.read_csv(dup / "records" / "records-rank0.csv")["phrase"]) == names | {n + " alias" for n in names}
    # image 3 has no object; make category 1 negative there: it is prompted on image 3, category 2 is not
    for im in data["images"]:
        if im["id"] == 3:
            im["neg_category_ids"] = [1]
    ann.write_text(json.dumps(data))
    extra = [{"image_id": 3, "category_id": 1, "bbox": [0, 0, 20, 20], "score": 0.5},
             {"image_id": 3, "category_id": 2, "bbox": [0, 0, 20, 20], "score": 0.5}]
    dets = gt_detections(ann, tmp_path / "dets.json", extra=extra)
    fed = tmp_path / "fed"
    run(fed, "--model", "oracle", "--detections", dets, root=root, dataset="lvis")
    rec = pd.read_csv(fed / "records" / "records-rank0.csv", dtype={"image_id": str})
    assert sorted(rec[rec["image_id"] == "3"]["category_id"]) == [1]
    assert len(rec[rec["image_id"] != "3"]) == 7  # every ground-truth box found again through its category
    every = tmp_path / "all"
    s = run(every, "--model", "oracle", "--detections", dets, "--lvis-prompts", "all", root=root, dataset="lvis")
    rec = pd.read_csv(every / "records" / "records-rank0.csv", dtype={"image_id": str})
    assert sorted(rec[rec["image_id"] == "3"]["category_id"]) == [1, 2]
    assert s["protocol"]["lvis_prompts"] == "all"


def test_synonym_masks_are_merged_per_category():
    from sambench import masks

    a = np.zeros((20, 20), bool)
    a[:10] = True
    b = a.copy()
    b[10] = True  # IoU 10/11 with a
    c = np.zeros((20, 20), bool)
    c[15:] = True
    task = TextInstancesTask(synonym_nms=0.8)
    found = [(0.9, 1, "x", masks.encode(a), None), (0.8, 1, "y", masks.encode(b), None),
             (0.7, 1, "y", masks.encode(c), None), (0.6, 2, "z", masks.encode(a), None)]
    kept = task._merge_synonyms(found)
    assert [(f[0], f[1]) for f in kept] == [(0.9, 1), (0.7, 1), (0.6, 2)]


def test_real_coco_val2017_oracle_ap_is_one(tmp_path):
    root = shared("COCO-MINI")
    ann = root / "annotations" / "instances_val2017.json"
    out = tmp_path / "mini"
    s = run(out, "--model", "text-oracle", root=root, dataset="coco2017")
    assert s["AP"] == pytest.approx(1.0) and s["AP50"] == pytest.approx(1.0)
    n_json_images = len(json.loads(ann.read_text())["images"])
    assert s["n_images"] == n_json_images  # every image prompted, annotated or not
    assert cocoeval_stats(ann, out / "coco_results.json") == pytest.approx(s["stats"])


def test_max_per_image_keeps_the_best_scored_masks(tmp_path, coco):
    from sambench.models.text import cap_total

    root, ann = coco
    data = json.loads(ann.read_text())
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.1 * (k + 1)}
            for k, a in enumerate(data["annotations"])]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))
    out = tmp_path / "cap"
    s = run(out, "--model", "oracle", "--detections", path, "--max-per-image", "2", root=root / "val2017", ann=ann)
    rec = pd.read_csv(out / "records" / "records-rank0.csv", dtype={"image_id": str})
    want = {str(i): sorted((d["score"] for d in dets if d["image_id"] == i), reverse=True)[:2] for i in (1, 2)}
    for image_id, scores in want.items():
        assert sorted(rec[rec["image_id"] == image_id]["score"], reverse=True) == pytest.approx(scores)
    assert s["n_masks"] == 4 and s["max_per_image"] == 2
    # ties over all phrases: the earlier phrase, then the earlier rank
    kept = cap_total([np.array([5, 6]), np.array([7]), np.array([8, 9])],
                     [np.array([0.9, 0.5]), np.array([0.5]), np.array([0.7, 0.5])], 3)
    assert [list(k) for k in kept] == [[5, 6], [], [8]]
