"""``sambench compare`` end to end: known deltas from oracle runs, identical runs, the exact
permutation p, comparability errors in one line, every task through its official scoring, and the
HTML report of every task.

Point runs use the oracle on the demo dataset: with ``keep=F`` each mask's IoU is floor(F*a)/a
(a = mask area), so the delta of two runs is known per mask by hand arithmetic.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import shared  # noqa: E402
from fixtures_lvis import make_dataset  # noqa: E402

from sambench.app.cli import main  # noqa: E402


def demo_areas(demo_root: Path):
    return [a["area"] for a in json.loads((demo_root / "instances.json").read_text())["annotations"]]


def point_run(out: Path, demo_root: Path, *extra):
    assert main(["run", "point", "--model", "oracle", "--dataset", "demo", "--root", str(demo_root), "--points", "1,2",
                 "--out", str(out), "--no-progress", *map(str, extra)]) == 0
    return out


@pytest.fixture(scope="module")
def point_runs(tmp_path_factory, demo_root):
    root = tmp_path_factory.mktemp("point-runs")
    return {"a": point_run(root / "a", demo_root), "a2": point_run(root / "a2", demo_root),
            "b": point_run(root / "b", demo_root, "--model-arg", "keep=0.8"),
            "c": point_run(root / "c", demo_root, "--model-arg", "keep=0.9"), "root": root}


def compare(out, *runs, extra=()):
    assert main(["compare", *map(str, runs), "--out", str(out), *map(str, extra)]) == 0
    return json.loads((out / "compare.json").read_text())


def row(record, run_suffix, metric, dataset="demo"):
    return next(r for r in record["vs_baseline"]
                if run_suffix in r["run"] and r["metric"] == metric and r["dataset"] == dataset)


def test_known_shift_exact_delta_interval_and_exact_p(tmp_path, point_runs, demo_root):
    rec = compare(tmp_path / "cmp", point_runs["a"], point_runs["b"], extra=["--resamples", "500", "--permutations", "1000"])
    expected = float(np.mean([math.floor(0.8 * a) / a for a in demo_areas(demo_root)])) - 1.0
    for metric in ("mIoU@1", "mIoU@2", "oracle@1"):
        r = row(rec, "[b]", metric)
        assert r["delta"] == pytest.approx(expected, abs=2e-6)  # records keep 6 decimals
        assert r["ci95_low"] <= r["delta"] <= r["ci95_high"]
        assert r["ci99_low"] <= r["ci95_low"] and r["ci95_high"] <= r["ci99_high"]
        # every one of the 8 images is worse: the exact swap test gives 2 / 2^8
        assert r["p"] == pytest.approx(2 / 2 ** 8, abs=1e-12) and r["p"] < 0.01
        assert r["n_images"] == 8 and r["n_masks"] == len(demo_areas(demo_root))
    assert rec["settings"]["n_resamples"] == 500 and rec["settings"]["seed"] == 0
    for name in ("compare_table8_mIoU_1", "compare_deltas", "compare_pairs"):
        for ext in ("md", "csv", "tex"):
            assert (tmp_path / "cmp" / "tables" / f"{name}.{ext}").is_file()
    for plot in ("compare_delta_bars.png", "compare_miou_vs_clicks.png", "compare_scatter.png"):
        assert (tmp_path / "cmp" / "plots" / plot).is_file()
    assert "-20." in (tmp_path / "cmp" / "tables" / "compare_table8_mIoU_1.md").read_text()
    assert (tmp_path / "cmp" / "report.md").is_file()  # the runs' own tables come along


def test_identical_runs_give_zero_and_p_one(tmp_path, point_runs):
    rec = compare(tmp_path / "same", point_runs["a"], point_runs["a2"], extra=["--resamples", "200"])
    for r in rec["vs_baseline"]:
        assert r["delta"] == 0.0 and r["p"] == 1.0 and r["ci95_low"] == 0.0 == r["ci95_high"]


def test_many_runs_against_a_baseline_and_all_pairs(tmp_path, point_runs, demo_root):
    rec = compare(tmp_path / "three", point_runs["b"], point_runs["c"], extra=["--baseline", point_runs["a"],
                                                                              "--resamples", "200"])
    assert rec["baseline"].endswith("[a]") and len(rec["runs"]) == 3
    assert {r["run"][-3:] for r in rec["vs_baseline"]} == {"[b]", "[c]"}
    pairs = {(p["a"][-3:], p["b"][-3:]): p for p in rec["pairs"]}
    assert set(pairs) == {("[a]", "[b]"), ("[a]", "[c]"), ("[b]", "[c]")}
    areas = demo_areas(demo_root)
    want = np.mean([math.floor(0.9 * a) / a - math.floor(0.8 * a) / a for a in areas])
    assert pairs[("[b]", "[c]")]["delta"] == pytest.approx(want, abs=2e-6)
    assert all(p["p_holm"] >= p["p"] for p in rec["pairs"])
    matrix = pd.read_csv(tmp_path / "three" / "tables" / "compare_pairs.csv")
    assert matrix.shape == (3, 4)


def test_wilcoxon_option(tmp_path, point_runs):
    rec = compare(tmp_path / "w", point_runs["a"], point_runs["b"], extra=["--test", "wilcoxon", "--resamples", "100"])
    r = row(rec, "[b]", "mIoU@1")
    assert rec["settings"]["test"] == "wilcoxon" and 0 < r["p"] < 0.05


def test_different_protocol_or_manifest_is_one_line(tmp_path, point_runs, demo_root, capsys):
    other = point_run(tmp_path / "p13", demo_root)  # same protocol
    assert main(["run", "point", "--model", "oracle", "--dataset", "demo", "--root", str(demo_root), "--points", "1,3",
                 "--out", str(tmp_path / "p"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["compare", str(point_runs["a"]), str(tmp_path / "p"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "protocol.points" in err[0] and str(tmp_path / "p") in err[0]

    manifest = json.loads((other / "manifest-demo.json").read_text())
    manifest["entries"] = manifest["entries"][:-1]
    manifest.pop("checksum", None)
    (tmp_path / "subset.json").write_text(json.dumps(manifest))
    point_run(tmp_path / "sub", demo_root, "--manifest", tmp_path / "subset.json")
    capsys.readouterr()
    assert main(["compare", str(point_runs["a"]), str(tmp_path / "sub"), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "manifest" in err[0] and "demo" in err[0]

    assert main(["run", "instances", "--model", "oracle", "--gt-boxes", "--dataset", "demo", "--root", str(demo_root),
                 "--out", str(tmp_path / "inst"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["compare", str(point_runs["a"]), str(tmp_path / "inst"), "--out", str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "task" in err[0]


# --- other tasks: deltas through their official scoring --------------------------------------------------

def run_task(task, out, *args):
    assert main(["run", task, "--out", str(out), "--no-progress", "--cache-dir", "none", *map(str, args)]) == 0
    return json.loads((out / "summary.json").read_text())


def test_instances_ap_delta_through_pycocotools_and_html(tmp_path):
    root = tmp_path / "coco"
    ann = make_dataset(root, "coco")
    common = ["--model", "oracle", "--gt-boxes", "--dataset", "coco", "--root", root / "val2017", "--ann", ann]
    a = run_task("instances", tmp_path / "a", *common)
    b = run_task("instances", tmp_path / "b", *common, "--model-arg", "keep=0.5")
    rec = compare(tmp_path / "cmp", tmp_path / "a", tmp_path / "b", extra=["--resamples", "20", "--html"])
    assert rec["task"] == "instances" and rec["settings"]["n_resamples"] == 20
    for metric in ("AP", "AP50", "AP75"):
        r = row(rec, "[b]", metric, dataset="coco")
        assert r["baseline"] == pytest.approx(a[metric], abs=1e-12) and r["value"] == pytest.approx(b[metric], abs=1e-12)
        assert r["delta"] == pytest.approx(b[metric] - a[metric], abs=1e-12)
        assert 0 < r["p"] <= 1
    assert row(rec, "[b]", "AP", dataset="coco")["delta"] == pytest.approx(3 / 40 - 1.0)
    assert rec["seconds"]["per_evaluator_call"] > 0
    html = (tmp_path / "cmp" / "index.html").read_text()
    assert "Table 8 layout" in html and "dataset-coco.html" in html
    assert list((tmp_path / "cmp" / "gallery").rglob("*.png"))
    # the same resamples through pycocotools' own accumulate give the same numbers
    assert rec["evaluator"] == "faster-coco-eval"
    ref = compare(tmp_path / "cmp-py", tmp_path / "a", tmp_path / "b", extra=["--resamples", "20",
                                                                             "--evaluator", "pycocotools"])
    assert ref["evaluator"] == "pycocotools"
    for r, q in zip(rec["vs_baseline"], ref["vs_baseline"]):
        for k in ("delta", "ci95_low", "ci95_high", "ci99_low", "ci99_high", "p"):
            assert r[k] == pytest.approx(q[k], abs=1e-9), k


def test_class_agnostic_recall_on_a_coco_file(tmp_path):
    root = tmp_path / "coco"
    ann = make_dataset(root, "coco")
    common = ["--model", "oracle", "--dataset", "coco", "--root", root / "val2017", "--ann", ann,
              "--points-per-side", "8"]
    a = run_task("proposals", tmp_path / "a", *common)
    b = run_task("proposals", tmp_path / "b", *common, "--model-arg", "keep=0.5")
    rec = compare(tmp_path / "cmp", tmp_path / "a", tmp_path / "b", extra=["--resamples", "10"])
    assert rec["evaluator"] == "faster-coco-eval"
    for metric in ("AR@1000", "AR_s", "AR_m", "AR_l"):
        r = row(rec, "[b]", metric, dataset="coco")
        assert r["delta"] == pytest.approx(b[metric] - a[metric], abs=1e-12), metric


def test_proposals_ar_delta_through_lvis_eval_and_report_html(tmp_path):
    root = tmp_path / "lvis"
    ann = make_dataset(root, "lvis")
    common = ["--model", "oracle", "--dataset", "coco", "--root", root / "val2017", "--ann", ann,
              "--points-per-side", "8"]
    a = run_task("proposals", tmp_path / "a", *common)
    b = run_task("proposals", tmp_path / "b", *common, "--model-arg", "keep=0.5")
    rec = compare(tmp_path / "cmp", tmp_path / "a", tmp_path / "b", extra=["--resamples", "10"])
    r = row(rec, "[b]", "AR@1000", dataset="coco")
    assert r["delta"] == pytest.approx(b["AR@1000"] - a["AR@1000"], abs=1e-12) and r["delta"] < 0
    assert main(["report", str(tmp_path / "a"), "--out", str(tmp_path / "rep"), "--html"]) == 0
    assert (tmp_path / "rep" / "gallery.html").is_file() and list((tmp_path / "rep" / "gallery").rglob("*.png"))


@pytest.fixture(scope="module")
def bsds_two_images(tmp_path_factory):
    import shutil

    src = shared("BSDS500", "data")
    root = tmp_path_factory.mktemp("bsds")
    ids = sorted(p.stem for p in (src / "images" / "test").glob("*.jpg"))[:3]
    for sub, ext in (("images", "jpg"), ("groundTruth", "mat")):
        (root / sub / "test").mkdir(parents=True)
        for i in ids:
            shutil.copy(src / sub / "test" / f"{i}.{ext}", root / sub / "test" / f"{i}.{ext}")
    return root


def test_edges_deltas_rescored_from_counts_and_html(tmp_path, bsds_two_images):
    common = ["--dataset", "bsds500", "--root", bsds_two_images, "--thresholds", "9"]
    a = run_task("edges", tmp_path / "sobel", "--model", "sobel", *common)
    b = run_task("edges", tmp_path / "canny", "--model", "canny", *common)
    rec = compare(tmp_path / "cmp", tmp_path / "sobel", tmp_path / "canny", extra=["--resamples", "200", "--html"])
    for metric, key in (("ODS", "ods"), ("OIS", "ois"), ("AP", "ap")):
        r = row(rec, "canny", metric, dataset="bsds500")
        assert r["delta"] == pytest.approx(b[key] - a[key], abs=1e-12)
        assert r["n_images"] == 3
    assert (tmp_path / "cmp" / "dataset-bsds500.html").is_file()
    assert len(list((tmp_path / "cmp" / "gallery").rglob("*.png"))) >= 4


def test_several_datasets_mean_over_datasets_and_holm(tmp_path, demo_root):
    root = tmp_path / "coco"
    make_dataset(root, "coco")
    common = ["--model", "oracle", "--dataset", "demo", "--root", demo_root, "--dataset", "coco2017", "--root", root,
              "--points", "1", "--cache-dir", "none"]
    for name, extra in (("a", []), ("b", ["--model-arg", "keep=0.8"])):
        assert main(["run", "point", *map(str, common), *extra, "--out", str(tmp_path / name), "--no-progress"]) == 0
    rec = compare(tmp_path / "cmp", tmp_path / "a", tmp_path / "b", extra=["--resamples", "300"])
    rows = {r["dataset"]: r for r in rec["vs_baseline"] if r["metric"] == "mIoU@1"}
    assert set(rows) == {"demo", "coco2017", "mean over datasets"}
    mean = rows["mean over datasets"]
    assert mean["delta"] == pytest.approx((rows["demo"]["delta"] + rows["coco2017"]["delta"]) / 2, abs=1e-12)
    assert mean["n_images"] == rows["demo"]["n_images"] + rows["coco2017"]["n_images"]
    assert mean["ci95_low"] <= mean["delta"] <= mean["ci95_high"] and mean["p_holm"] is None
    for name in ("demo", "coco2017"):  # Holm over the two datasets: min(1, 2 * smaller p), then monotone
        assert rows[name]["p_holm"] >= rows[name]["p"]
    assert min(r["p_holm"] for n, r in rows.items() if n != "mean over datasets") == \
        pytest.approx(min(1.0, 2 * min(rows["demo"]["p"], rows["coco2017"]["p"])))
    for name in ("demo", "coco2017"):
        assert (tmp_path / "cmp" / "plots" / f"compare_scatter_{name}.png").is_file()


def test_incomplete_run_is_paired_on_what_it_finished_and_says_so(tmp_path, point_runs):
    import shutil

    part = tmp_path / "partial"
    shutil.copytree(point_runs["b"], part)
    rec_path = part / "records" / "records-rank0.csv"
    records = pd.read_csv(rec_path, dtype={"image_id": str, "instance_id": str}, keep_default_na=False)
    last = records["image_id"].iloc[-1]
    records[records["image_id"] != last].to_csv(rec_path, index=False)
    done = [json.loads(x) for x in (part / "records" / "done-rank0.jsonl").read_text().splitlines()]
    (part / "records" / "done-rank0.jsonl").write_text("".join(json.dumps(d) + "\n" for d in done if d["image_id"] != last))
    (part / "summary.json").unlink()
    rec = compare(tmp_path / "cmp", point_runs["a"], part, extra=["--resamples", "100"])
    r = row(rec, "[partial]", "mIoU@1")
    full = pd.read_csv(point_runs["b"] / "records" / "records-rank0.csv", dtype={"image_id": str})
    assert r["n_images"] == 7 and r["n_masks"] == int(((full.n_clicks == 1) & (full.image_id != last)).sum())
    assert any("paired masks" in n for n in rec["notes"])


def test_gallery_says_when_the_images_are_gone(tmp_path):
    import shutil

    root = tmp_path / "coco"
    ann = make_dataset(root, "coco")
    assert main(["run", "point", "--model", "oracle", "--dataset", "coco", "--root", str(root / "val2017"), "--ann",
                 str(ann), "--points", "1", "--cache-dir", "none", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    shutil.rmtree(root)
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "rep"), "--html"]) == 0
    page = (tmp_path / "rep" / "dataset-coco.html").read_text()
    assert "not available" in page and (tmp_path / "rep" / "index.html").is_file()


def test_referring_deltas_hand_computed_and_html(tmp_path):
    from fixtures_refcoco import EXPECTED, write_refcoco

    root = write_refcoco(tmp_path / "refer")
    common = ["--model", "text-oracle", "--dataset", "refcoco", "--root", root]
    run_task("referring", tmp_path / "a", *common)
    run_task("referring", tmp_path / "b", *common, "--model-arg", "keep_pixels=200")
    rec = compare(tmp_path / "cmp", tmp_path / "a", tmp_path / "b", extra=["--resamples", "200", "--html"])
    for split, want in EXPECTED.items():
        name = f"refcoco {split}"
        assert row(rec, "[b]", "mIoU", dataset=name)["delta"] == pytest.approx(want["miou"] - 1.0, abs=1e-12)
        assert row(rec, "[b]", "cIoU", dataset=name)["delta"] == pytest.approx(want["ciou"] - 1.0, abs=1e-12)
        assert row(rec, "[b]", "P@0.9", dataset=name)["delta"] == pytest.approx(want["precision"][0.9] - 1.0)
        assert row(rec, "[b]", "mIoU", dataset=name)["n_masks"] == want["n"]
    assert (tmp_path / "cmp" / "tables" / "compare_table8_cIoU.md").is_file()
    page = (tmp_path / "cmp" / "dataset-refcoco.html").read_text()
    assert "refcoco testA" in page and list((tmp_path / "cmp" / "gallery").rglob("*.png"))


def test_text_instances_ap_delta(tmp_path):
    root = tmp_path / "coco"
    ann = make_dataset(root, "coco")
    common = ["--model", "text-oracle", "--dataset", "coco", "--root", root / "val2017", "--ann", ann]
    a = run_task("text-instances", tmp_path / "a", *common)
    b = run_task("text-instances", tmp_path / "b", *common, "--model-arg", "keep=0.5")
    rec = compare(tmp_path / "cmp", tmp_path / "a", tmp_path / "b", extra=["--resamples", "10", "--html"])
    r = row(rec, "[b]", "AP", dataset="coco")
    assert r["delta"] == pytest.approx(b["AP"] - a["AP"], abs=1e-12) and r["delta"] < 0
    assert (tmp_path / "cmp" / "gallery.html").is_file()
