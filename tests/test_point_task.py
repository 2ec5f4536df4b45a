"""The point task end to end through the CLI: oracle, known corruption, outputs, seeds, resume."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO, run_cli
from sambench.reporting import slug


def demo_areas(demo_root: Path):
    data = json.loads((demo_root / "instances.json").read_text())
    return [a["area"] for a in data["annotations"]]


def test_oracle_gives_exactly_one(tmp_path, demo_root):
    out = tmp_path / "oracle"
    run_cli("run", "point", "--model", "oracle", "--dataset", "demo", "--root", demo_root, "--out", out, "--no-progress")
    s = json.loads((out / "summary.json").read_text())
    d = s["datasets"]["demo"]
    assert d["n_masks"] == len(demo_areas(demo_root)) and d["n_skipped"] == 0
    assert d["miou"] == {k: 1.0 for k in ("1", "2", "3", "5", "9")}
    assert d["miou_oracle"] == {"1": 1.0}
    assert s["model"]["weights"] == "oracle" and "oracle" in s["model"]["label"]


def test_known_corruption_gives_its_analytic_iou(tmp_path, demo_root):
    out = tmp_path / "keep"
    run_cli("run", "point", "--model", "oracle", "--model-arg", "keep=0.37", "--dataset", "demo", "--root", demo_root,
            "--points", "1,3", "--out", out, "--no-progress")
    expected = float(np.mean([math.floor(0.37 * a) / a for a in demo_areas(demo_root)]))
    d = json.loads((out / "summary.json").read_text())["datasets"]["demo"]
    assert d["miou"]["1"] == pytest.approx(expected, abs=1e-6)
    assert d["miou"]["3"] == pytest.approx(expected, abs=1e-6)
    assert expected < 0.4


def test_sam_tiny_run_writes_every_output(tmp_path, demo_root):
    out = tmp_path / "tiny"
    proc = run_cli("run", "point", "--model", "sam-tiny", "--dataset", "demo", "--root", demo_root,
                   "--points", "1,2,3", "--out", out, "--no-progress")
    assert "mIoU@1" in proc.stdout
    config = json.loads((out / "config.json").read_text())
    for key in ("task", "model", "datasets", "protocol", "seed", "versions", "device", "command"):
        assert key in config
    assert config["model"]["weights"] == "untrained" and config["model"]["label"] == "SAM tiny [segment_anything] (untrained)"
    assert config["datasets"][0]["manifest_checksum"] and (out / "manifest-demo.json").is_file()
    assert config["versions"]["torch"] and config["versions"]["segment-anything"]
    records = pd.read_csv(out / "records" / "records-rank0.csv")
    n = len(demo_areas(demo_root))
    assert len(records) == 3 * n and set(records["n_clicks"]) == {1, 2, 3}
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["datasets"]["demo"]["miou"]) == {"1", "2", "3"}
    assert summary["mean_miou"]["1"] == pytest.approx(records[records.n_clicks == 1].iou.mean(), abs=1e-9)
    table = "tables/point_miou_" + slug(config["model"]["label"])
    for f in ("report.md", f"{table}.md", f"{table}.csv", f"{table}.tex", "plots/point_miou_vs_points.png"):
        assert (out / f).is_file(), f
    assert "untrained" in (out / "report.md").read_text()


def test_same_seed_same_records_and_seed_changes_random_points(tmp_path, demo_root):
    args = ["run", "point", "--model", "oracle", "--model-arg", "keep=0.8", "--dataset", "demo", "--root", demo_root,
            "--points", "1", "--first-point", "random", "--no-progress"]
    run_cli(*args, "--seed", "3", "--out", tmp_path / "a")
    run_cli(*args, "--seed", "3", "--out", tmp_path / "b")
    run_cli(*args, "--seed", "4", "--out", tmp_path / "c")
    read = lambda p: (p / "records" / "records-rank0.csv").read_text()  # noqa: E731
    assert read(tmp_path / "a") == read(tmp_path / "b")
    assert read(tmp_path / "a") != read(tmp_path / "c")


def _records(out: Path) -> pd.DataFrame:
    from sambench.app.store import RunFolder

    return RunFolder(out).load_records()


def test_killed_run_resumed_equals_uninterrupted(tmp_path, demo_root):
    base = ["run", "point", "--model", "sam-tiny", "--dataset", "demo", "--root", demo_root, "--points", "1,2",
            "--no-progress"]
    run_cli(*base, "--out", tmp_path / "full")
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "sambench", *map(str, base), "--out", str(killed)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = killed / "records" / "done-rank0.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if done.exists() and len(done.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = len(done.read_text().splitlines())
    assert 2 <= n_done < 8
    # a resume without --resume is refused, with --resume it completes the run
    refused = run_cli(*base, "--out", killed, check=False)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    run_cli(*base, "--out", killed, "--resume")
    pd.testing.assert_frame_equal(_records(tmp_path / "full"), _records(killed))
    shard = Path("records") / "records-rank0.csv"  # byte for byte: the first session's rows are not rewritten
    assert (killed / shard).read_bytes() == (tmp_path / "full" / shard).read_bytes()
    a = json.loads((tmp_path / "full" / "summary.json").read_text())["datasets"]
    b = json.loads((killed / "summary.json").read_text())["datasets"]
    assert a == b


def test_orphan_records_of_an_unfinished_image_are_dropped_on_resume(tmp_path, demo_root):
    args = ["run", "point", "--model", "oracle", "--model-arg", "keep=0.5", "--dataset", "demo", "--root", demo_root,
            "--points", "1,2", "--no-progress"]
    out = tmp_path / "run"
    run_cli(*args, "--out", out)
    reference = _records(out)
    done = out / "records" / "done-rank0.jsonl"
    lines = done.read_text().splitlines()
    done.write_text("\n".join(lines[:-2]) + "\n" + lines[-2][:10])  # last two images unfinished, one line torn
    shard = out / "records" / "records-rank0.csv"
    before = shard.read_bytes()
    run_cli(*args, "--out", out, "--resume")
    pd.testing.assert_frame_equal(reference, _records(out))
    assert shard.read_bytes() == before


def test_resume_with_another_protocol_is_refused(tmp_path, demo_root):
    out = tmp_path / "run"
    run_cli("run", "point", "--model", "oracle", "--dataset", "demo", "--root", demo_root, "--points", "1",
            "--out", out, "--no-progress")
    proc = run_cli("run", "point", "--model", "oracle", "--dataset", "demo", "--root", demo_root, "--points", "1,2",
                   "--out", out, "--resume", "--no-progress", check=False)
    assert proc.returncode == 2 and "cannot resume" in proc.stderr


def test_resume_of_records_with_other_columns_is_refused_with_one_line(tmp_path, demo_root):
    """Records of an older sambench (here: without the pred_rle column) cannot be completed in place."""
    args = ["run", "point", "--model", "oracle", "--model-arg", "keep=0.5", "--dataset", "demo", "--root", demo_root,
            "--points", "1", "--no-progress"]
    out = tmp_path / "run"
    run_cli(*args, "--out", out)
    rec = out / "records" / "records-rank0.csv"
    pd.read_csv(rec, keep_default_na=False).drop(columns=["pred_rle"]).to_csv(rec, index=False)
    done = out / "records" / "done-rank0.jsonl"
    done.write_text("\n".join(done.read_text().splitlines()[:-1]) + "\n")
    proc = run_cli(*args, "--out", out, "--resume", check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert str(rec) in proc.stderr and "missing: pred_rle" in proc.stderr and "new --out" in proc.stderr


def test_noc_with_oracle(tmp_path, demo_root):
    out = tmp_path / "noc"
    run_cli("run", "point", "--model", "oracle", "--dataset", "demo", "--root", demo_root, "--points", "1",
            "--noc", "--out", out, "--no-progress")
    d = json.loads((out / "summary.json").read_text())["datasets"]["demo"]
    assert d["noc"] == {"85": 1.0, "90": 1.0}


def test_report_compares_runs_against_a_baseline(tmp_path, demo_root):
    for name, extra in (("a", []), ("b", ["--model-arg", "keep=0.5"])):
        run_cli("run", "point", "--model", "oracle", *extra, "--dataset", "demo", "--root", demo_root, "--points", "1,2",
                "--out", tmp_path / name, "--no-progress")
    run_cli("report", tmp_path / "b", "--baseline", tmp_path / "a", "--out", tmp_path / "rep")
    delta = pd.read_csv(tmp_path / "rep" / "tables" / "point_delta_vs_baseline.csv")
    expected = float(np.mean([math.floor(0.5 * a) / a for a in demo_areas(demo_root)])) - 1.0
    assert delta["delta"].iloc[0] == pytest.approx(expected, abs=1e-6)
    assert (tmp_path / "rep" / "plots" / "point_delta_per_dataset.png").is_file()


def test_a_users_model_in_one_file_runs(tmp_path, demo_root):
    out = tmp_path / "disk"
    run_cli("run", "point", "--model", REPO / "examples" / "my_model.py:build", "--model-arg", "radius=4",
            "--dataset", "demo", "--root", demo_root, "--points", "1", "--out", out, "--no-progress")
    s = json.loads((out / "summary.json").read_text())
    assert s["model"]["name"] == "disk" and s["model"]["params"] == {"radius": 4}
    assert 0.0 < s["datasets"]["demo"]["miou"]["1"] < 1.0


def test_a_users_model_file_is_hashed_and_edited_code_cannot_resume_the_run(tmp_path, demo_root):
    import hashlib

    code = tmp_path / "my_model.py"
    code.write_text((REPO / "examples" / "my_model.py").read_text())
    args = ["run", "point", "--model", f"{code}:build", "--model-arg", "radius=4", "--dataset", "demo", "--root",
            demo_root, "--points", "1", "--no-progress"]
    out = tmp_path / "disk"
    run_cli(*args, "--out", out)
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["code"]["sha256"] == hashlib.sha256(code.read_bytes()).hexdigest()
    assert config["model"]["code"]["file"] == str(code)
    done = out / "records" / "done-rank0.jsonl"
    done.write_text("\n".join(done.read_text().splitlines()[:2]) + "\n")
    code.write_text(code.read_text() + "\n# edited\n")
    proc = run_cli(*args, "--out", out, "--resume", check=False)
    assert proc.returncode == 2 and "the model's code changed" in proc.stderr and str(code) in proc.stderr
