"""The CLI side of the model families: the capability table, --dtype in configs and resumes,
and the GPU timing script's CPU mode."""

import importlib.util
import json

import pytest

from conftest import REPO
from sambench.app.cli import main


def test_list_models_is_a_capability_table(capsys):
    assert main(["list", "models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    for col in ("family", "size", "source", "weights", "points", "boxes", "masks", "input"):
        assert col in header
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["sam2.1-hiera-l"][1:6] == ["SAM", "2.1", "Hiera-L", "sam2", "trained"]
    hq = lines[[l.split()[0] for l in lines].index("sam-hq-vit_h")]
    assert " 1 " in hq and "segment_anything_hq" in hq  # one mask per prompt
    assert "config" in rows["hf"] and "untrained" in rows["hf-edgetam-tiny"]


def test_dtype_is_recorded_and_a_resume_in_another_dtype_is_refused(tmp_path, capsys):
    from sambench.datasets.demo import generate_demo

    root = tmp_path / "demo"
    generate_demo(root, n_images=1, height=64, width=96, seed=2)
    base = ["run", "point", "--model", "hf-sam-tiny", "--dataset", "demo", "--root", str(root), "--points", "1",
            "--no-progress", "--cache-dir", "none", "--device", "cpu"]
    args = base + ["--out", str(tmp_path / "r")]
    assert main(args + ["--dtype", "bf16"]) == 0
    model = json.loads((tmp_path / "r" / "config.json").read_text())["model"]
    assert model["dtype"] == "bf16" and model["autocast"] == "cpu" and model["label"].endswith("bf16 (untrained)")
    capsys.readouterr()
    assert main(args + ["--resume", "--dtype", "fp32"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot resume" in err[0]
    assert main(base + ["--out", str(tmp_path / "f"), "--dtype", "fp16"]) == 2
    assert "fp16 needs a CUDA device" in capsys.readouterr().err


def test_gpu_timing_script_runs_on_cpu_in_quick_mode(tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_models", REPO / "benchmarks" / "gpu_models.py")
    gpu_models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_models)
    table = gpu_models.run(["--quick", "--models", "sam-tiny,hf-sam2-tiny,sam-hq-tiny", "--images", "2",
                            "--prompts", "4", "--out", str(tmp_path / "t.md")])
    rows = [line for line in table.splitlines() if line.startswith("| ") and "model" not in line]
    assert len(rows) == 3 and not any("failed" in r for r in rows)
    assert "SAM 2 tiny [transformers] (untrained)" in table and "fp32" in table
    assert (tmp_path / "t.md").read_text().strip() == table.strip()
    assert set(gpu_models.REAL) >= {"sam-vit_h", "sam2.1-hiera-l", "sam-hq-vit_h", "hf-sam-h", "hf-sam2-l",
                                    "hf-sam3-tracker", "hf-edgetam"}
    with pytest.raises(SystemExit, match="unknown model"):
        gpu_models.run(["--quick", "--models", "nope"])


def test_every_in_tree_model_shows_its_capabilities():
    from sambench.models.catalog import model_rows

    for row in model_rows():
        assert row["source"] != "user plugin", row["name"]
        assert row["points"] != "?", f"{row['name']}: add it to sambench.models.catalog"
