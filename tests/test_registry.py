"""Plug-ins: a model registered through the ``sambench.models`` entry-point group."""

from importlib import metadata

import pytest

from sambench.models import MODELS, build_model
from sambench.registry import Registry


def test_entry_point_models_are_listed_and_built(monkeypatch):
    ep = metadata.EntryPoint(name="disk-plugin", value="tests_plugin_target:build", group="sambench.models")

    def fake_entry_points(group=None):
        return [ep] if group == "sambench.models" else []

    import sys
    import types

    module = types.ModuleType("tests_plugin_target")
    module.build = lambda checkpoint=None, device=None, download=False, **kw: build_model("oracle")
    module.build.__doc__ = "a plug-in model for the test"
    monkeypatch.setitem(sys.modules, "tests_plugin_target", module)
    monkeypatch.setattr("sambench.registry.metadata.entry_points", fake_entry_points)
    fresh = Registry("model", entry_point_group="sambench.models")
    assert "disk-plugin" in fresh.names() and fresh.describe()["disk-plugin"] == "a plug-in model for the test"
    assert fresh.get("disk-plugin")().name == "oracle"
    assert "oracle" in MODELS.names()


PLUGIN = '''
"""A third-party package registering one model, one dataset and one task through entry points."""
from sambench.datasets.coco import CocoFormat
from sambench.models import build_model as _build
from sambench.tasks.point import PointTask


class PlugCoco(CocoFormat):
    """a plug-in dataset (COCO format under another name)"""
    name = "plug-coco"


class PlugPoint(PointTask):
    """a plug-in task (the point protocol under another name)"""
    name = "plug-point"


def build(checkpoint=None, device=None, download=False, **kw):
    """a plug-in model (the oracle under another name)"""
    return _build("oracle")
'''


def test_third_party_models_datasets_and_tasks_register_through_entry_points(tmp_path):
    """A real installed distribution (a dist-info with entry_points.txt on the path), used from the CLI."""
    import json
    import os
    import subprocess
    import sys

    from sambench.datasets.demo import ensure_demo

    site = tmp_path / "site"
    site.mkdir()
    (site / "sb_plugin.py").write_text(PLUGIN)
    info = site / "sb_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sb-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[sambench.models]\nplug-oracle = sb_plugin:build\n\n"
                                           "[sambench.datasets]\nplug-coco = sb_plugin:PlugCoco\n\n"
                                           "[sambench.tasks]\nplug-point = sb_plugin:PlugPoint\n")
    env = dict(os.environ, PYTHONPATH=str(site))
    listed = {}
    for kind in ("models", "datasets", "tasks"):
        proc = subprocess.run([sys.executable, "-m", "sambench", "list", kind], capture_output=True, text=True,
                              env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        listed[kind] = {line.split()[0] for line in proc.stdout.splitlines()}
    assert "plug-oracle" in listed["models"] and "plug-coco" in listed["datasets"] and "plug-point" in listed["tasks"]
    demo = ensure_demo(tmp_path / "demo")
    proc = subprocess.run([sys.executable, "-m", "sambench", "run", "plug-point", "--model", "plug-oracle",
                           "--dataset", "plug-coco", "--root", str(demo / "images"), "--ann",
                           str(demo / "instances.json"), "--points", "1", "--cache-dir", "none", "--no-progress",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["datasets"]["plug-coco"]["miou"]["1"] == 1.0  # the oracle returns the ground truth
    assert (tmp_path / "run" / "report.md").is_file()


def test_file_specs_fail_in_one_line_and_a_copied_adapter_runs_from_its_own_file(tmp_path, demo_root):
    """``--model/--dataset path/to/file.py:NAME``: a missing name or a relative import is one line;
    NAME may be the class or the name the file registers."""
    from conftest import REPO, run_cli

    model_file = tmp_path / "my_model.py"
    model_file.write_text((REPO / "examples" / "my_model.py").read_text())
    proc = run_cli("run", "point", "--model", f"{model_file}:nobuild", "--dataset", "demo", "--root", demo_root,
                   "--out", tmp_path / "o1", check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "defines no 'nobuild'" in lines[0] and "build" in lines[0]

    copied = tmp_path / "my_grabcut.py"  # dataset_adapters/grabcut.py copied as docs/architecture.md says
    source = (REPO / "dataset_adapters" / "grabcut.py").read_text()
    # a file that cannot be imported never falls back to the built-in entry of the same name
    copied.write_text(source)
    proc = run_cli("run", "point", "--model", "oracle", "--dataset", f"{copied}:grabcut", "--root",
                   REPO.parent / "shared" / "data" / "GrabCut", "--out", tmp_path / "o0", check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and str(copied) in lines[0] and "from sambench.datasets.base" in lines[0]
    broken = tmp_path / "broken.py"
    broken.write_text("x = 1\nthis is not python(\n")
    proc = run_cli("run", "point", "--model", "oracle", "--dataset", f"{broken}:grabcut", "--root", tmp_path,
                   "--out", tmp_path / "o00", check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "SyntaxError" in lines[0] and "line 2" in lines[0]
    copied.write_text(source.replace('@DATASETS.register("grabcut")', '@DATASETS.register("my-grabcut")'))
    root = tmp_path / "gc"
    (root / "data_GT").mkdir(parents=True)
    (root / "boundary_GT").mkdir()
    proc = run_cli("run", "point", "--model", "oracle", "--dataset", f"{copied}:my-grabcut", "--root", root,
                   "--out", tmp_path / "o2", check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "from sambench.datasets.base import" in lines[0]

    absolute = source.replace("from .", "from sambench.datasets.").replace(
        '@DATASETS.register("grabcut")', '@DATASETS.register("my-grabcut")')  # the name, once
    copied.write_text(absolute)
    import numpy as np
    from PIL import Image

    img = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    mask = np.zeros((40, 50), np.uint8)
    mask[10:30, 15:35] = 255
    Image.fromarray(img).save(root / "data_GT" / "toy.png")
    Image.fromarray(mask).save(root / "boundary_GT" / "toy.png")
    out = tmp_path / "o3"
    run_cli("run", "point", "--model", "oracle", "--dataset", f"{copied}:my-grabcut", "--root", root, "--out", out,
            "--points", "1", "--no-progress", "--cache-dir", "none")
    import json

    d = json.loads((out / "summary.json").read_text())["datasets"]
    assert list(d) == ["my-grabcut"] and d["my-grabcut"]["miou"]["1"] == 1.0 and d["my-grabcut"]["n_masks"] == 1
    code = json.loads((out / "config.json").read_text())["datasets"][0]["code"]  # the user's adapter, hashed
    assert code["file"] == str(copied) and len(code["sha256"]) == 64
    copied.write_text(absolute + "\n# edited\n")
    proc = run_cli("run", "point", "--model", "oracle", "--dataset", f"{copied}:my-grabcut", "--root", root, "--out",
                   out, "--points", "1", "--no-progress", "--cache-dir", "none", "--resume", check=False)
    assert proc.returncode == 2 and "the code of dataset 'my-grabcut' changed" in proc.stderr


def test_a_dataset_is_named_once_by_its_decorator_or_by_the_spec():
    """``@DATASETS.register("x")`` names the class; a disagreeing class ``name`` is refused; an
    unregistered class given as ``module:NAME`` is named NAME."""
    import sys
    import types

    from sambench.datasets.base import DatasetAdapter, DatasetRegistry

    reg = DatasetRegistry("dataset")

    @reg.register("named-once")
    class A(DatasetAdapter):
        pass

    assert A.name == "named-once" and reg.get("named-once") is A
    with pytest.raises(ValueError, match="registered as 'other' but says name = 'mine'"):
        @reg.register("other")
        class B(DatasetAdapter):
            name = "mine"

    module = types.ModuleType("sambench_test_unregistered_ds")

    class Plain(DatasetAdapter):
        pass

    module.Plain = Plain
    sys.modules[module.__name__] = module
    try:
        assert reg.get(f"{module.__name__}:Plain").name == "Plain"
    finally:
        del sys.modules[module.__name__]
