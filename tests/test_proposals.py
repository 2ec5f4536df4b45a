"""The proposals task end to end: answers known by construction, checked through LVISEval / COCOeval.

The synthetic scenes (``fixtures_lvis``) hold 7 rectangles on two 160x160 images (a third image has
none); with an 8x8 grid the two rare objects contain no grid point, so a point-prompted oracle can
never propose them. The oracle answers each grid point with the object under it (keep=0.5: its
first half, IoU exactly 0.5 for even areas, just below for the one odd area).
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fixtures_lvis import all_objects, half_iou, make_dataset, scenes  # noqa: E402

from sambench.app.cli import main  # noqa: E402


def run(tmp_path, name, *extra, root=None, dataset="coco", model="oracle", ann=None):
    """One proposals run in-process. By default the generic ``coco`` adapter reads the LVIS-format json
    (the evaluator follows the json's format), so these tests do not depend on the ``lvis`` adapter."""
    if dataset == "coco" and ann is None:
        root, ann = Path(root) / "val2017", Path(root) / "annotations" / "lvis_v1_val.json"
    out = tmp_path / name
    args = ["run", "proposals", "--model", model, "--dataset", dataset, "--root", str(root), "--out", str(out),
            "--points-per-side", "8", "--no-progress", "--cache-dir", "none", *map(str, extra)]
    if ann:
        args += ["--ann", str(ann)]
    assert main(args) == 0
    return out, json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def lvis_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("lvis")
    make_dataset(root, "lvis")
    return root


def expected_recall(objs, hit):
    """AR over the 10 IoU thresholds when ``hit(o)`` gives the IoU the best proposal reaches for o (0 = none)."""
    thrs = np.linspace(0.5, 0.95, 10)
    if not objs:
        return -1.0
    return float(np.mean([[hit(o) >= t for t in thrs] for o in objs]))


def test_oracle_recall_by_size_and_frequency(tmp_path, lvis_root):
    out, s = run(tmp_path, "oracle", root=lvis_root)
    objs = all_objects(scenes())
    hit = lambda o: 1.0 if o.reachable() else 0.0  # noqa: E731
    assert s["evaluator"] == "lvis" and s["n_images"] == 2 and s["n_gt"] == 7
    assert s["AR@1000"] == pytest.approx(5 / 7)
    assert s["AR@1000"] == pytest.approx(expected_recall(objs, hit))
    for key, bucket in (("AR_s", "small"), ("AR_m", "medium"), ("AR_l", "large")):
        assert s[key] == pytest.approx(expected_recall([o for o in objs if o.bucket == bucket], hit)), key
    assert (s["AR_s"], s["AR_m"], s["AR_l"]) == pytest.approx((0.5, 1.0, 1.0))
    # rare objects are missed by construction, frequent and common ones are all found
    assert (s["AR_f"], s["AR_c"], s["AR_r"]) == pytest.approx((1.0, 1.0, 0.0))
    # only proposals matching a ground truth are kept on disk: one per reachable object
    assert s["n_proposals_stored"] == 5
    assert s["AR_at"]["1000"] == s["AR@1000"] and s["AR_at"]["1"] <= s["AR_at"]["10"] <= s["AR_at"]["1000"]
    for f in ("tables/proposals_table4.md", "tables/proposals_table4.csv", "plots/proposals_ar_vs_proposals.png",
              "report.md"):
        assert (out / f).is_file(), f
    table = (out / "tables" / "proposals_table4.md").read_text()
    assert "SAM (published)" in table and "59.3" in table and "| 71.4 | 50.0 | 100.0 | 100.0 | 100.0 | 100.0 | 0.0 |" in table
    # the summary is re-derived from the records alone (task rebuilt from the run's protocol)
    (out / "summary.json").unlink()
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert {k: again[k] for k in ("AR@1000", "AR_s", "AR_r", "AR_at")} == {k: s[k] for k in ("AR@1000", "AR_s", "AR_r", "AR_at")}


def test_oracle_reaching_every_object_gives_recall_one(tmp_path):
    root = tmp_path / "data"
    make_dataset(root, "lvis", rare_reachable=True)
    _, s = run(tmp_path, "oracle", root=root)
    for key in ("AR@1000", "AR_s", "AR_m", "AR_l", "AR_f", "AR_c", "AR_r"):
        assert s[key] == pytest.approx(1.0), key


def test_known_corruption_gives_known_recall(tmp_path, lvis_root):
    _, s = run(tmp_path, "keep", "--model-arg", "keep=0.5", root=lvis_root)
    objs = all_objects(scenes())
    hit = lambda o: half_iou(o.area) if o.reachable() else 0.0  # noqa: E731
    # every reachable even-area object is matched at IoU 0.50 exactly, never above: recall 1 of 10 thresholds
    assert s["AR@1000"] == pytest.approx(4 / 70)
    assert s["AR@1000"] == pytest.approx(expected_recall(objs, hit))
    for key, bucket in (("AR_s", "small"), ("AR_m", "medium"), ("AR_l", "large")):
        assert s[key] == pytest.approx(expected_recall([o for o in objs if o.bucket == bucket], hit)), key
    freq = {1: "f", 2: "c", 3: "r", 4: "c"}
    for key, f in (("AR_f", "f"), ("AR_c", "c"), ("AR_r", "r")):
        assert s[key] == pytest.approx(expected_recall([o for o in objs if freq[o.cat] == f], hit)), key
    assert s["AR_f"] == pytest.approx(0.1) and s["AR_r"] == 0.0


def test_storing_matched_proposals_only_is_exact(tmp_path, lvis_root):
    """Dropping proposals below IoU 0.5 with every ground truth changes no number; LVISEval run
    directly on every proposal (the lvis package, class-agnostic by hand) agrees."""
    out_all, s_all = run(tmp_path, "all", "--model-arg", "keep=0.5", "--store", "all", root=lvis_root)
    _, s_matched = run(tmp_path, "matched", "--model-arg", "keep=0.5", root=lvis_root)
    assert s_all["n_proposals_stored"] > s_matched["n_proposals_stored"]  # the odd-area object's half mask
    for key in ("AR@1000", "AR_s", "AR_m", "AR_l", "AR_f", "AR_c", "AR_r", "AR_at"):
        assert s_all[key] == s_matched[key], key

    from lvis import LVIS, LVISEval, LVISResults

    from sambench.metrics.coco_eval import _lvis_numpy_compat

    gt_json = json.loads((lvis_root / "annotations" / "lvis_v1_val.json").read_text())
    for a in gt_json["annotations"]:
        a["category_id"] = 1
    gt_json["categories"] = [{"id": 1, "name": "object", "frequency": "f", "synset": "object.n.01"}]
    gt_path = tmp_path / "agnostic.json"
    gt_path.write_text(json.dumps(gt_json))
    rec = pd.read_csv(out_all / "records" / "records-rank0.csv", dtype={"image_id": str})
    rec = rec[rec["kind"] == "proposal"]
    results = []
    for r in rec.itertuples():
        size, counts = r.rle.split(":", 1)
        h, w = size.split("x")
        results.append({"image_id": int(r.image_id), "category_id": 1, "score": float(r.score),
                        "segmentation": {"size": [int(h), int(w)], "counts": counts}})
    gt = LVIS(str(gt_path))
    ev = LVISEval(gt, LVISResults(gt, results, max_dets=1000), "segm")
    ev.params.max_dets = 1000
    with _lvis_numpy_compat():
        ev.run()
    assert ev.results["AR@1000"] == pytest.approx(s_all["AR@1000"])
    assert ev.results["ARs@1000"] == pytest.approx(s_all["AR_s"])


def test_coco_format_ground_truth_uses_pycocotools(tmp_path):
    root = tmp_path / "data"
    ann = make_dataset(root, "coco")
    _, s = run(tmp_path, "coco", root=root / "val2017", ann=ann)
    assert s["evaluator"] == "pycocotools" and s["annotation_format"] == "coco"
    assert (s["AR@1000"], s["AR_s"], s["AR_m"], s["AR_l"]) == pytest.approx((5 / 7, 0.5, 1.0, 1.0))
    assert s["AR_f"] is None and s["AR_r"] is None


def test_protocol_defaults_are_the_papers():
    from sambench.tasks.proposals import ProposalsTask

    p = ProposalsTask().protocol()
    assert p["amg"]["points_per_side"] == 64 and p["amg"]["box_nms_thresh"] == 0.9 and p["amg"]["multimask"]
    assert p["amg"]["pred_iou_thresh"] == 0.0 and p["amg"]["stability_score_thresh"] == 0.0
    assert p["amg"]["rank_by"] == "mean_iou_stability" and p["max_proposals"] == 1000 and p["crops"] is None
    q = ProposalsTask(variant="single").protocol()
    assert q["amg"]["points_per_side"] == 128 and q["amg"]["box_nms_thresh"] == 0.95
    assert q["amg"]["rank_by"] == "random" and not q["amg"]["multimask"]


def test_single_output_variant_with_sam_tiny_through_the_cli(tmp_path, lvis_root, capsys):
    from sambench.datasets import DATASETS

    if "lvis" not in DATASETS:
        pytest.skip("the lvis dataset adapter is not registered")
    args = ["run", "proposals", "--model", "sam-tiny", "--dataset", "lvis", "--root", str(lvis_root), "--variant",
            "single", "--points-per-side", "4", "--no-progress", "--cache-dir", "none", "--store", "all"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert "AR@1000=" in capsys.readouterr().out
    s = json.loads((tmp_path / "a" / "summary.json").read_text())
    for key in ("AR@1000", "AR_s", "AR_m", "AR_l", "AR_f", "AR_c", "AR_r", "AR_at"):
        assert key in s, key
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    amg = config["protocol"]["amg"]
    assert config["protocol"]["variant"] == "single" and amg["points_per_side"] == 4 and amg["box_nms_thresh"] == 0.95
    assert amg["rank_by"] == "random" and amg["multimask"] is False
    assert config["model"]["weights"] == "untrained"
    assert "untrained" in (tmp_path / "a" / "report.md").read_text()
    # the random ranking is seeded per image: same seed, same records
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    read = lambda p: (p / "records" / "records-rank0.csv").read_text()  # noqa: E731
    assert read(tmp_path / "a") == read(tmp_path / "b")
    rec = pd.read_csv(tmp_path / "a" / "records" / "records-rank0.csv")
    assert (rec["kind"] == "proposal").sum() > 0


def test_dataset_without_annotation_file_is_a_one_line_error(tmp_path, capsys):
    code = main(["run", "proposals", "--model", "oracle", "--dataset", "grabcut", "--root", str(tmp_path),
                 "--out", str(tmp_path / "x"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "annotation file" in err and "grabcut" in err


def test_only_lvis_v1_val_is_called_lvis_v1_val():
    """The Table 4 caveats follow the one rule of ``sambench.published.published_data``: the ``lvis``
    adapter's val split is LVIS v1 val; LVIS v0.5 or COCO-format data is another dataset."""
    from sambench.reporting import RunInfo
    from sambench.tasks.proposals import proposals_differences

    def run_on(name, split, fmt):
        config = {"datasets": [{"name": name, "split": split}], "protocol": {}, "model": {}}
        summary = {"dataset": name, "annotation_format": fmt, "n_images": 2}
        return RunInfo(Path("r"), config, summary)

    assert proposals_differences(run_on("lvis", "val", "lvis")) == ["2 of LVIS v1 val's 19,809 images"]
    v05 = proposals_differences(run_on("lvis_v05", "val", "lvis"))
    assert v05[0].startswith("another dataset: lvis_v05") and "frequency" not in v05[0] and v05[1] == "2 images (published: 19,809)"
    coco = proposals_differences(run_on("coco", "val2017", "coco"))
    assert coco[0].startswith("another dataset: coco (val2017 split, coco-format") and "no frequency groups" in coco[0]
