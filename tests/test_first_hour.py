"""The first hour of a new user (issue 10), each point through the command line as a user types it:
quick subsets, incomplete runs, empty evaluations, corrupt official checkpoints, report folders,
caveats beside published rows, side-by-side tables, help text, and the demo / README promises."""

import argparse
import hashlib
import json
import math
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import REPO, run_cli, shared
from sambench import masks as mask_utils


def demo_anns(demo_root: Path) -> dict:
    """image id -> list of mask areas, from the demo dataset's own json (ground truth by construction)."""
    data = json.loads((demo_root / "instances.json").read_text())
    out = {}
    for a in data["annotations"]:
        out.setdefault(str(a["image_id"]), []).append(a["area"])
    return out


def one_line_error(proc, *fragments) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def point(out, demo_root, *extra, model="oracle"):
    return run_cli("run", "point", "--model", model, "--dataset", "demo", "--root", demo_root, "--out", out,
                   "--no-progress", *extra)


# 1. quick subsets ------------------------------------------------------------------------------

def test_limit_images_is_a_seeded_recorded_subset_of_the_full_manifest(tmp_path, demo_root):
    full = tmp_path / "full"
    point(full, demo_root, "--points", "1")
    full_manifest = json.loads((full / "manifest-demo.json").read_text())
    proc = point(tmp_path / "sub", demo_root, "--points", "1", "--limit-images", "3", "--seed", "5")
    assert "subset: 3 of 8 images" in proc.stdout
    point(tmp_path / "sub2", demo_root, "--points", "1", "--limit-images", "3", "--seed", "5")

    sub = json.loads((tmp_path / "sub" / "manifest-demo.json").read_text())
    assert sub == json.loads((tmp_path / "sub2" / "manifest-demo.json").read_text())  # seeded: the same draw
    assert sub["n_images"] == 3 and set(dict(sub["entries"])) < set(dict(full_manifest["entries"]))
    for image_id, masks in sub["entries"]:  # whole images, every mask of each
        assert masks == dict(full_manifest["entries"])[image_id]
    of = sub["subset_of"]
    assert of["checksum"] == full_manifest["checksum"] and of["n_images"] == 8 and of["n_masks"] == 41
    assert (of["selection"], of["limit"], of["seed"]) == ("limit-images", 3, 5)
    config = json.loads((tmp_path / "sub" / "config.json").read_text())
    assert config["datasets"][0]["subset_of"]["checksum"] == full_manifest["checksum"]
    s = json.loads((tmp_path / "sub" / "summary.json").read_text())["datasets"]["demo"]
    areas = demo_anns(demo_root)
    assert s["n_masks"] == sum(len(areas[i]) for i, _ in sub["entries"])

    # a comparison with the full run knows the subset differs
    run_cli("report", full, tmp_path / "sub", "--out", tmp_path / "rep")
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "evaluated a subset of the 'demo' masks" in report and "subset: 3 of 8 images" in report
    # a subset manifest passed back with --manifest evaluates exactly the same masks
    point(tmp_path / "again", demo_root, "--points", "1", "--manifest", tmp_path / "sub" / "manifest-demo.json")
    assert json.loads((tmp_path / "again" / "config.json").read_text())["datasets"][0]["manifest_checksum"] == \
        config["datasets"][0]["manifest_checksum"]


def test_image_ids_file_selects_exactly_those_images(tmp_path, demo_root):
    ids = tmp_path / "ids.txt"
    ids.write_text("# two images\n2\n\n6  # the last but one\n")
    point(tmp_path / "two", demo_root, "--points", "1", "--image-ids", ids)
    manifest = json.loads((tmp_path / "two" / "manifest-demo.json").read_text())
    assert [i for i, _ in manifest["entries"]] == ["2", "6"]
    assert manifest["subset_of"]["selection"] == "image-ids" and manifest["subset_of"]["file"].endswith("ids.txt")
    d = json.loads((tmp_path / "two" / "summary.json").read_text())["datasets"]["demo"]
    areas = demo_anns(demo_root)
    assert d["n_masks"] == len(areas["2"]) + len(areas["6"])

    ids.write_text("2\nnot-an-image\n")
    proc = run_cli("run", "point", "--model", "oracle", "--dataset", "demo", "--root", demo_root, "--image-ids", ids,
                   "--out", tmp_path / "bad", check=False)
    one_line_error(proc, str(ids), "'not-an-image'")


# 2. incomplete runs ----------------------------------------------------------------------------

def test_incomplete_run_says_so_everywhere_and_report_refuses_it(tmp_path, demo_root):
    args = ["--model-arg", "keep=0.5", "--points", "1,2"]
    out = tmp_path / "run"
    point(out, demo_root, *args)
    done = out / "records" / "done-rank0.jsonl"
    lines = done.read_text().splitlines()
    done.write_text("\n".join(lines[:3]) + "\n")  # as a killed run leaves it: 3 of 8 images finished
    (out / "summary.json").unlink()
    finished = [json.loads(l)["image_id"] for l in lines[:3]]

    proc = run_cli("report", out, check=False)
    one_line_error(proc, "incomplete: 3 of 8 images", "--allow-incomplete", "--resume")
    run_cli("report", out, "--allow-incomplete", "--out", tmp_path / "rep")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["incomplete"] == "incomplete: 3 of 8 images"
    areas = demo_anns(demo_root)
    n = sum(len(areas[i]) for i in finished)
    assert summary["datasets"]["demo"]["n_masks"] == n  # only the finished images count
    expected = float(np.mean([math.floor(0.5 * a) / a for i in finished for a in areas[i]]))
    assert summary["datasets"]["demo"]["miou"]["1"] == pytest.approx(expected, abs=1e-6)
    assert "**incomplete: 3 of 8 images**" in (tmp_path / "rep" / "report.md").read_text()
    for table in (tmp_path / "rep" / "tables").glob("*.md"):
        assert "incomplete: 3 of 8 images" in table.read_text(), table.name

    shutil.copytree(tmp_path / "rep", tmp_path / "rep-of-another-run")  # an incomplete report of other runs
    record = tmp_path / "rep-of-another-run" / ".sambench-report.json"
    owned = json.loads(record.read_text())
    assert owned["runs"] == [str(out.resolve())] and owned["incomplete"] is True
    record.write_text(json.dumps({**owned, "runs": [str(tmp_path / "elsewhere")]}))

    point(out, demo_root, *args, "--resume")  # finishing the run removes every mark
    assert json.loads((out / "summary.json").read_text())["incomplete"] is None
    run_cli("report", out, "--out", tmp_path / "rep2")
    assert "incomplete:" not in (tmp_path / "rep2" / "report.md").read_text()
    # the stale incomplete report of the same run is replaced without --force; a finished one is
    # not, and neither is an incomplete report of other runs
    run_cli("report", out, "--out", tmp_path / "rep")
    assert "incomplete:" not in (tmp_path / "rep" / "report.md").read_text()
    assert json.loads((tmp_path / "rep" / ".sambench-report.json").read_text())["incomplete"] is False
    for folder in ("rep", "rep-of-another-run"):
        proc = run_cli("report", out, "--out", tmp_path / folder, check=False)
        one_line_error(proc, "already holds a report", "--force")


# 3. empty evaluations --------------------------------------------------------------------------

def _coco(root: Path, n: int = 4) -> Path:
    images, anns = [], []
    (root / "images").mkdir(parents=True)
    for i in range(n):
        images.append({"id": i + 1, "file_name": f"img{i + 1}.png", "height": 30, "width": 40})
        m = np.zeros((30, 40), bool)
        m[5:20, 5:25] = True
        anns.append({"id": 100 + i, "image_id": i + 1, "category_id": 1, "segmentation": mask_utils.encode(m),
                     "area": int(m.sum()), "bbox": [5, 5, 20, 15], "iscrowd": 0})
    ann = root / "instances.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "x"}]}))
    return ann


def test_root_without_the_annotated_images_fails_with_one_line(tmp_path):
    ann = _coco(tmp_path / "data")
    wrong = tmp_path / "elsewhere"
    wrong.mkdir()
    proc = run_cli("run", "point", "--model", "oracle", "--dataset", "coco", "--root", wrong, "--ann", ann,
                   "--out", tmp_path / "o", "--no-progress", "--cache-dir", "none", check=False)
    one_line_error(proc, "all 4 images skipped", str(wrong / "img1.png"), "expects under --root")
    assert not (tmp_path / "o").exists()  # nothing ran


def test_more_than_the_allowed_fraction_of_unreadable_images_fails(tmp_path):
    ann = _coco(tmp_path / "data")
    rng = np.random.default_rng(0)
    for i in range(4):
        path = tmp_path / "data" / "images" / f"img{i + 1}.png"
        if i < 3:
            path.write_bytes(b"not an image")  # found while loading: the run goes on, then fails
        else:
            Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(path)
    base = ["run", "point", "--model", "oracle", "--dataset", "coco", "--root", tmp_path / "data" / "images",
            "--ann", ann, "--no-progress", "--cache-dir", "none", "--points", "1"]
    proc = run_cli(*base, "--out", tmp_path / "o", check=False)
    one_line_error(proc, "3 of 4 images skipped", "--max-skipped 0.5", "img1.png")
    # records are kept and summarised; a looser --max-skipped accepts the run, skips counted
    run_cli(*base, "--out", tmp_path / "o2", "--max-skipped", "0.8")
    d = json.loads((tmp_path / "o2" / "summary.json").read_text())["datasets"]["coco"]
    assert d["n_masks"] == 1 and d["miou"]["1"] == 1.0 and len(d["skipped"]) == 3


# 4. corrupt files with official names ----------------------------------------------------------

def test_corrupt_official_checkpoint_is_refused_by_hash_before_loading(tmp_path):
    ckpt = tmp_path / "sam_vit_b_01ec64.pth"
    import torch

    # a checkpoint holding a Python object: torch's safe loader refuses it and advises weights_only=False
    torch.save({"model": {"w": torch.zeros(2)}, "args": argparse.Namespace(lr=1e-4)}, ckpt)
    proc = run_cli("run", "point", "--model", "sam-vit-b", "--checkpoint", ckpt, "--dataset", "demo",
                   "--out", tmp_path / "o", check=False)
    line = one_line_error(proc, str(ckpt), "named like the official vit_b checkpoint", "SHA-256")
    assert "weights_only" not in proc.stderr and "Weights only" not in proc.stderr

    other = tmp_path / "my_finetune.pth"  # not an official name: loaded safely, refused with our own line
    shutil.copy(ckpt, other)
    proc = run_cli("run", "point", "--model", "sam-vit-b", "--checkpoint", other, "--dataset", "demo",
                   "--out", tmp_path / "o", check=False)
    line = one_line_error(proc, str(other), "Python objects", "argparse.Namespace", "state dict")
    assert "weights_only" not in proc.stderr and "Weights only" not in proc.stderr and "False" not in line

    garbage = tmp_path / "downloaded.pth"  # random bytes under an unofficial name: corrupt, not "Python objects"
    garbage.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))
    proc = run_cli("run", "point", "--model", "sam-vit-b", "--checkpoint", garbage, "--dataset", "demo",
                   "--out", tmp_path / "o", check=False)
    line = one_line_error(proc, str(garbage), "corrupt, truncated or another format")
    assert "Python objects" not in line and "weights_only" not in proc.stderr and "Weights only" not in proc.stderr


def test_checkpoint_helper_is_reusable_by_other_families(tmp_path):
    from sambench.models.checkpoint import CheckpointError, register_official, verify_before_load

    register_official("TestFamily", {"small": {"file": "family_small.pt", "sha256": hashlib.sha256(b"release bytes").hexdigest()}})
    named = tmp_path / "family_small.pt"
    named.write_bytes(b"release bytes")
    assert verify_before_load(named) == hashlib.sha256(b"release bytes").hexdigest()
    named.write_bytes(b"release byte")  # truncated
    with pytest.raises(CheckpointError, match="named like the official small checkpoint"):
        verify_before_load(named)


# 5. report folders -----------------------------------------------------------------------------

def test_report_writes_a_fresh_folder_refuses_to_overwrite_and_force_clears_only_its_files(tmp_path, demo_root):
    for name, extra in (("a", []), ("b", ["--model-arg", "keep=0.5"])):
        point(tmp_path / name, demo_root, "--points", "1", *extra)
    proc = run_cli("report", tmp_path / "a", tmp_path / "b")
    default = tmp_path / "report-a+b"
    assert str(default / "report.md") in proc.stdout and (default / "tables" / "point_side_by_side.csv").is_file()
    assert (tmp_path / "a" / "report.md").is_file()  # the run folders' own reports are untouched
    one_line_error(run_cli("report", tmp_path / "a", tmp_path / "b", check=False), str(default), "--force")

    out = tmp_path / "rep"
    run_cli("report", tmp_path / "b", "--baseline", tmp_path / "a", "--out", out)
    assert (out / "tables" / "point_delta_vs_baseline.csv").is_file()
    (out / "tables" / "my_notes.txt").write_text("mine")
    (out / "paper.tex").write_text("mine")
    run_cli("report", tmp_path / "b", "--out", out, "--force")
    assert not (out / "tables" / "point_delta_vs_baseline.csv").exists()  # stale: removed
    assert not (out / "plots" / "point_delta_per_dataset.png").exists()
    assert not (out / "tables" / "point_side_by_side.csv").exists()
    assert (out / "tables" / "my_notes.txt").read_text() == "mine" and (out / "paper.tex").read_text() == "mine"
    assert (out / "tables" / "point_vs_published.csv").is_file()


def test_a_report_in_its_run_folder_never_takes_the_runs_files_for_its_own(tmp_path, demo_root):
    """File times can be coarser than the gap between a run's summary.json and its report: here the run's
    files carry a time in the future, as a coarse or skewed clock gives them, and stay the run's."""
    import os

    out = tmp_path / "run"
    point(out, demo_root, "--points", "1")
    run_files = ["summary.json", "config.json", "manifest-demo.json", "records/done-rank0.jsonl",
                 "records/records-rank0.csv"]
    future = time.time() + 3600
    for rel in run_files:
        os.utime(out / rel, (future, future))
    run_cli("report", out, "--out", out, "--force")
    owned = json.loads((out / ".sambench-report.json").read_text())["files"]
    assert "report.md" in owned and not set(run_files) & set(owned)
    run_cli("report", out, "--out", out, "--force")  # a forced report again removes only its own files
    assert all((out / rel).is_file() for rel in run_files)


# 6. published rows with what differs --------------------------------------------------------------

def test_a_partial_copy_of_one_of_the_23_datasets_is_named_beside_the_published_means(tmp_path):
    import sys

    sys.path.insert(0, str(REPO / "tests" / "datasets"))
    from fixtures_a import write_bbbc038

    root, expected = write_bbbc038(tmp_path / "bbbc")  # 4 non-empty mask files (one on a corrupt image)
    out = tmp_path / "run"
    proc = run_cli("run", "point", "--model", "oracle", "--dataset", "bbbc038", "--root", root, "--out", out,
                   "--no-progress", "--cache-dir", "none")
    assert "model: oracle (oracle) -- not a trained checkpoint" in proc.stdout  # said even without progress bars
    table = pd.read_csv(out / "tables" / "point_vs_published.csv")
    row = table[table["method"] == "oracle (oracle)"].iloc[0]
    n_evaluated = sum(len(m) for m in expected.values())
    assert f"bbbc038: 2 images, {n_evaluated} masks" in row["measured on"]
    assert "bbbc038: 4 masks in the manifest (the paper sampled 10,506)" in row["differs from published"]


def test_a_report_of_other_runs_never_goes_into_a_run_folder(tmp_path, demo_root):
    for name in ("a", "b"):
        point(tmp_path / name, demo_root, "--points", "1")
    before = (tmp_path / "b" / "report.md").read_text()
    proc = run_cli("report", tmp_path / "a", "--out", tmp_path / "b", "--force", check=False)
    one_line_error(proc, str(tmp_path / "b"), "run folder of another run")
    assert (tmp_path / "b" / "report.md").read_text() == before


def test_compare_names_a_subset_and_says_how_to_compare_on_the_same_images(tmp_path, demo_root):
    point(tmp_path / "sub", demo_root, "--points", "1", "--limit-images", "3")
    point(tmp_path / "full", demo_root, "--points", "1", "--model-arg", "keep=0.5")
    proc = run_cli("compare", tmp_path / "sub", tmp_path / "full", "--out", tmp_path / "c1", check=False)
    one_line_error(proc, "is a subset (3 of 8 images)", f"--manifest {tmp_path / 'sub'}/manifest-demo.json")
    point(tmp_path / "same", demo_root, "--points", "1", "--model-arg", "keep=0.5",
          "--manifest", tmp_path / "sub" / "manifest-demo.json")
    run_cli("compare", tmp_path / "sub", tmp_path / "same", "--out", tmp_path / "c2")
    text = (tmp_path / "c2" / "compare.md").read_text()
    assert text.count("demo subset: 3 of 8 images (--limit-images, seed 0)") == 2


def test_point_published_rows_say_what_differs_and_are_not_drawn_on_one_dataset(tmp_path, demo_root):
    out = tmp_path / "run"
    point(out, demo_root, "--points", "1,5", "--limit-images", "4")
    table = pd.read_csv(out / "tables" / "point_vs_published.csv")
    measured = table[~table["method"].str.contains("published")].iloc[0]
    assert "1 dataset (demo) vs the 23-dataset mean" in measured["differs from published"]
    assert "subset: 4 of 8 images" in measured["differs from published"]
    published = table[table["method"] == "SAM ViT-H (published)"].iloc[0]
    assert published["mIoU@1"] == pytest.approx(58.1) and "23 datasets" in published["measured on"]
    report = (out / "report.md").read_text()
    assert "Published 23-dataset means are not drawn" in report


def test_plots_keep_one_colour_per_model_and_say_what_is_averaged(tmp_path, demo_root, monkeypatch):
    for name, extra in (("a", []), ("b", ["--model-arg", "keep=0.5"])):
        point(tmp_path / name, demo_root, "--points", "1,2", *extra)
    from sambench.app.summary import load_run
    from sambench.tasks import _point_report as point_module

    figures = {}

    def keep(fig, out, name, alt):
        figures[name] = fig
        return []

    monkeypatch.setattr(point_module, "save_plot", keep)
    point_module.report_point([load_run(tmp_path / "b")], load_run(tmp_path / "a"), tmp_path / "rep")
    colours = {}
    for name, fig in figures.items():
        ax = fig.axes[0]
        handles, labels = ax.get_legend_handles_labels()
        for h, l in zip(handles, labels):
            c = h.get_color() if hasattr(h, "get_color") else h.get_facecolor()
            colours.setdefault(l, set()).add(str(np.round(np.asarray(matplotlib_rgba(c)), 3).tolist()))
    assert "oracle (oracle) [a] (baseline)" in colours and "oracle (oracle) [b]" in colours
    assert all(len(v) == 1 for k, v in colours.items() if k.startswith("oracle (oracle)")), colours
    assert colours["oracle (oracle) [a] (baseline)"] != colours["oracle (oracle) [b]"]
    ylabel = figures["point_miou_vs_points.png"].axes[0].get_ylabel()
    assert "demo" in ylabel and "mIoU" in ylabel
    handles, labels = figures["point_miou_vs_points.png"].axes[0].get_legend_handles_labels()
    assert not any("published" in l for l in labels)  # one dataset: no 23-dataset means


def matplotlib_rgba(c):
    from matplotlib.colors import to_rgba

    arr = np.asarray(c, dtype=object)
    if arr.ndim == 2:  # a collection's facecolors
        c = tuple(arr[0])
    return to_rgba(c)


def test_edges_rows_say_thresholds_and_images_differ(tmp_path):
    src = shared("BSDS500", "data")
    root = tmp_path / "bsds"
    ids = sorted(p.stem for p in (src / "images" / "test").glob("*.jpg"))[:2]
    for sub, ext in (("images", "jpg"), ("groundTruth", "mat")):
        (root / sub / "test").mkdir(parents=True)
        for i in ids:
            shutil.copy(src / sub / "test" / f"{i}.{ext}", root / sub / "test" / f"{i}.{ext}")
    for model in ("sobel", "canny"):
        run_cli("run", "edges", "--model", model, "--dataset", "bsds500", "--root", root, "--out", tmp_path / model,
                "--thresholds", "19", "--cache-dir", "none", "--no-progress")
    table = pd.read_csv(tmp_path / "sobel" / "tables" / "edges_table3.csv")
    measured = table[table["method"] == "sobel (weight-free)"].iloc[0]
    assert "19 thresholds (published: 99)" in measured["differs from published"]
    assert "2 of 200 images" in measured["differs from published"]
    # several runs: one side-by-side table with deltas
    run_cli("report", tmp_path / "canny", "--baseline", tmp_path / "sobel", "--out", tmp_path / "rep")
    side = pd.read_csv(tmp_path / "rep" / "tables" / "edges_side_by_side.csv").set_index("metric")
    sob = json.loads((tmp_path / "sobel" / "summary.json").read_text())
    can = json.loads((tmp_path / "canny" / "summary.json").read_text())
    assert side.loc["ODS", "Δ canny (weight-free)"] == pytest.approx(can["ods"] - sob["ods"], abs=1e-9)


def test_instances_rows_say_how_many_of_the_published_images(tmp_path):
    root = shared("COCO-MINI")
    out = tmp_path / "inst"
    run_cli("run", "instances", "--model", "oracle", "--gt-boxes", "--dataset", "coco2017", "--root", root,
            "--limit-images", "5", "--out", out, "--no-progress", "--cache-dir", "none")
    table = pd.read_csv(out / "tables" / "instances_table5.csv")
    measured = table[~table["method"].str.contains("published")].iloc[0]
    assert "5 of COCO val2017's 5,000 images" in measured["differs from published"]
    assert "ground-truth boxes" in measured["differs from published"] and "subset: 5 of 79 images" in \
        measured["differs from published"]


# 7. side-by-side tables ------------------------------------------------------------------------

def test_several_runs_give_one_side_by_side_table_with_deltas_at_every_click_count(tmp_path, demo_root):
    for name, extra in (("exact", []), ("half", ["--model-arg", "keep=0.5"])):
        point(tmp_path / name, demo_root, "--points", "1,2,3", *extra)
    run_cli("report", tmp_path / "exact", tmp_path / "half", "--out", tmp_path / "rep")
    tables = tmp_path / "rep" / "tables"
    frame = pd.read_csv(tables / "point_side_by_side.csv").set_index("dataset / metric")
    a, b = "oracle (oracle) [exact]", "oracle (oracle) [half]"
    expected = float(np.mean([math.floor(0.5 * x) / x for v in demo_anns(demo_root).values() for x in v]))
    for k in (1, 2, 3):
        row = frame.loc[f"demo mIoU@{k}"]
        assert row[a] == pytest.approx(1.0) and row[b] == pytest.approx(expected, abs=1e-6)
        assert row[f"Δ {b}"] == pytest.approx(expected - 1.0, abs=1e-6)
    md = (tables / "point_side_by_side.md").read_text()
    assert md.startswith("Point prompts, mIoU side by side") and "|---|---:|---:|---:|" in md
    assert re.search(r"\| demo mIoU@2 \| 1\.000 \| 0\.\d{3} \| -0\.\d{3} \|", md)
    tex = (tables / "point_side_by_side.tex").read_text()
    for piece in ("\\begin{table}", "\\caption{Point prompts, mIoU side by side", "\\begin{tabular}{lrrr}",
                  "\\toprule", "\\midrule", "\\bottomrule", "$\\Delta$ oracle (oracle) [half]"):
        assert piece in tex, piece


# 8. help text and names ------------------------------------------------------------------------

def test_help_has_flag_metavars_examples_and_torchrun():
    from sambench.tasks import TASKS

    pages = [("--help",), ("run", "--help"), ("demo", "--help"), ("report", "--help"), ("list", "--help"),
             ("datasets", "--help"), ("edges-eval", "--help")] + [("run", t, "--help") for t in TASKS.names()]
    for args in pages:
        text = run_cli(*args).stdout
        assert "example" in text, args
        metavars = re.findall(r"--[a-z][a-z0-9-]* ([A-Z][A-Za-z_=]*)", text)
        assert metavars or args in (("--help",), ("run", "--help"), ("demo", "--help"), ("list", "--help")), args
        for m in metavars:
            assert "_" not in m, (args, m)  # a Python name such as IMAGES_PER_BATCH
        assert "Arguments:" not in text and "first_point_mode" not in text, args
    for args in (("--help",), ("run", "--help"), ("run", "point", "--help")):
        assert "torchrun --nproc_per_node" in run_cli(*args).stdout


def test_model_names_one_spelling_old_names_kept_and_closest_suggested(tmp_path):
    listing = run_cli("list", "models").stdout
    assert re.search(r"^sam-vit-h ", listing, re.M) and "sam-vit_h" in listing  # the old spelling is named as accepted
    assert not re.search(r"^sam-vit_", listing, re.M)
    # the old spelling still works: it reaches the checkpoint check of the same model
    for name in ("sam-vit_b", "sam-vit-b"):
        one_line_error(run_cli("run", "point", "--model", name, "--dataset", "demo", "--out", tmp_path / "o",
                               check=False), "sam-vit-b needs --checkpoint")
    one_line_error(run_cli("run", "point", "--model", "sam-vit-hh", "--dataset", "demo", "--out", tmp_path / "o",
                           check=False), "unknown model 'sam-vit-hh'", "did you mean 'sam-vit-h'?")
    one_line_error(run_cli("run", "point", "--model", "orcale", "--dataset", "demo", "--out", tmp_path / "o",
                           check=False), "did you mean 'oracle'?")


# 9. the demo and the README --------------------------------------------------------------------

@pytest.mark.slow
def test_demo_says_where_its_report_is_and_that_its_models_are_not_trained(tmp_path):
    out = tmp_path / "demo"
    proc = run_cli("demo", "--out", out, "--no-progress")
    report = out / "report" / "report.md"
    assert report.is_file()
    assert re.search(r"^report: +" + re.escape(str(report)), proc.stdout, re.M)
    assert "UNTRAINED" in proc.stdout and "weight-free" in proc.stdout and "not trained checkpoints" in proc.stdout
    # run again: the demo replaces its own report without asking
    run_cli("demo", "--out", out, "--no-progress")


def test_readme_quick_start_is_two_commands_and_states_install_cost():
    text = (REPO / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = quick.split("```bash", 1)[1].split("```", 1)[0]
    commands = [l for l in block.splitlines() if l.strip() and not l.strip().startswith("#")]
    assert len(commands) == 2, commands
    assert "--index-url https://download.pytorch.org/whl/cpu" in quick
    assert re.search(r"\d+(\.\d+)? GB", quick) and re.search(r"\d+ min", quick)


def test_text_task_reports_put_several_runs_side_by_side(tmp_path):
    from fixtures_refcoco import EXPECTED, write_refcoco

    root = write_refcoco(tmp_path / "refer")
    for name, extra in (("exact", []), ("corrupt", ["--model-arg", "keep_pixels=200"])):
        run_cli("run", "referring", "--model", "text-oracle", *extra, "--dataset", "refcoco", "--root", root,
                "--out", tmp_path / name, "--no-progress", "--cache-dir", "none")
    run_cli("report", tmp_path / "corrupt", "--baseline", tmp_path / "exact", "--out", tmp_path / "rep")
    frame = pd.read_csv(tmp_path / "rep" / "tables" / "referring_side_by_side.csv").set_index("metric")
    delta = [c for c in frame.columns if c.startswith("Δ ")]
    assert len(delta) == 1
    for split, want in EXPECTED.items():
        assert frame.loc[f"RefCOCO {split} mIoU", delta[0]] == pytest.approx(100 * (want["miou"] - 1.0), abs=1e-9)
        assert frame.loc[f"RefCOCO {split} cIoU", delta[0]] == pytest.approx(100 * (want["ciou"] - 1.0), abs=1e-9)
