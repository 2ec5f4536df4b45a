"""Package layout: one installed namespace, one-way layers, no import cycles.

The wheel is built and installed (``pip install --no-deps --target``) once for this module; the
layer contracts are checked on that installed tree with import-linter (the repository's
``tasks/`` and ``dataset_adapters/`` folders only become ``sambench.tasks`` / ``sambench.datasets``
once installed), and the cycle check walks the same import graph with grimp (import-linter's own
graph library). Each check also runs on a copy with a planted violation, to show it can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APP_AND_ABOVE = {"app", "tasks", "datasets"}
NOT_CODE = {"reference_tables", "__main__", "__pycache__"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile",
                           "--disable-pip-version-check", "--target", str(target), str(REPO)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return target


def core_modules(root: Path) -> list:
    """Every direct child of the installed ``sambench`` that is not app, tasks or datasets: the core."""
    out = []
    for p in sorted((root / "sambench").iterdir()):
        name = p.stem if p.suffix == ".py" else p.name
        if name in APP_AND_ABOVE or name in NOT_CODE or name == "__init__":
            continue
        if p.suffix == ".py" or (p / "__init__.py").is_file():
            out.append(f"sambench.{name}")
    return out


def contracts(root: Path) -> str:
    core = "\n".join(f"    {m}" for m in core_modules(root))
    return textwrap.dedent("""\
        [importlinter]
        root_package = sambench

        [importlinter:contract:core]
        name = core imports no task, dataset or application module
        type = forbidden
        source_modules =
        CORE
        forbidden_modules =
            sambench.app
            sambench.tasks
            sambench.datasets

        [importlinter:contract:tasks]
        name = tasks import no dataset or application module
        type = forbidden
        source_modules = sambench.tasks
        forbidden_modules =
            sambench.app
            sambench.datasets

        [importlinter:contract:datasets]
        name = datasets import no task or application module
        type = forbidden
        source_modules = sambench.datasets
        forbidden_modules =
            sambench.app
            sambench.tasks
        """).replace("CORE", core)


def lint_imports(root: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    config = tmp_path / "importlinter.ini"
    config.write_text(contracts(root))
    code = "import sys; from importlinter.cli import lint_imports_command; sys.argv = ['lint-imports', " \
           f"{str(config)!r}, '--no-cache']; lint_imports_command()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(root)), cwd=tmp_path)


CYCLES = """
import sys
import grimp
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

g = grimp.build_graph("sambench", cache_dir=None)
assert g.direct_import_exists(importer="sambench.app.cli", imported="sambench.app.demo"), "lazy imports not seen"
mods = sorted(g.modules)
index = {m: i for i, m in enumerate(mods)}
edges = [(index[m], index[t]) for m in mods for t in g.find_modules_directly_imported_by(m)]
rows, cols = zip(*edges)
n, label = connected_components(csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(mods),) * 2),
                                directed=True, connection="strong")
cycles = [sorted(m for m, l in zip(mods, label) if l == k) for k in set(label) if list(label).count(k) > 1]
print(len(mods), "modules")
for c in cycles:
    print("cycle:", " <-> ".join(c))
sys.exit(1 if cycles else 0)
"""


def find_cycles(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CYCLES], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(root)), cwd=root)


def test_wheel_installs_only_the_sambench_namespace(installed):
    top = {p.name for p in installed.iterdir()}
    assert top == {"sambench", "sambench-0.1.0.dist-info", "bin"}, top
    for rel in ("tasks/point.py", "datasets/coco.py", "reference_tables/published_results.md", "app/cli.py",
                "metrics/bsds/matching.py", "app/html/templates/index.html.j2", "app/html/templates/style.css",
                "metrics/stats.py"):
        assert (installed / "sambench" / rel).is_file(), rel
    assert not (installed / "tasks").exists() and not (installed / "dataset_adapters").exists()
    entry_points = (installed / "sambench-0.1.0.dist-info" / "entry_points.txt").read_text()
    assert "sambench = sambench.app.cli:main" in entry_points


def _user_folder(tmp_path: Path) -> Path:
    """A project folder with an invoke-style tasks.py and a dataset_adapters.py of its own."""
    user = tmp_path / "user_project"
    user.mkdir()
    (user / "tasks.py").write_text("from invoke import task  # an invoke tasks file: invoke is not installed\n")
    (user / "dataset_adapters.py").write_text("raise ImportError('the user file was imported')\n")
    return user


def test_cli_works_from_a_folder_holding_a_tasks_py(installed, tmp_path):
    user = _user_folder(tmp_path)
    editable = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for env in (dict(editable, PYTHONPATH=str(installed)), editable):  # the wheel, then the editable install
        proc = subprocess.run([sys.executable, "-m", "sambench", "list", "tasks"], capture_output=True, text=True,
                              cwd=user, env=env)
        assert proc.returncode == 0, proc.stderr
        assert {"point", "edges", "proposals", "instances"} <= {line.split()[0] for line in proc.stdout.splitlines()}


def test_import_layers(installed, tmp_path):
    assert {"sambench.models", "sambench.metrics", "sambench.generation", "sambench.data"} <= set(core_modules(installed))
    proc = lint_imports(installed, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 kept, 0 broken" in proc.stdout


def test_import_layers_catch_upward_imports(installed, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(installed, bad)
    with open(bad / "sambench" / "rng.py", "a") as f:  # core importing the application
        f.write("\n\ndef _planted():\n    from sambench.app import runner  # noqa\n")
    with open(bad / "sambench" / "tasks" / "point.py", "a") as f:  # a task importing a dataset adapter
        f.write("\n\ndef _planted():\n    from sambench.datasets import coco  # noqa\n")
    proc = lint_imports(bad, tmp_path)
    assert proc.returncode != 0
    assert "1 kept, 2 broken" in proc.stdout, proc.stdout[-3000:]
    assert "sambench.rng -> sambench.app.runner" in proc.stdout
    assert "sambench.tasks.point -> sambench.datasets.coco" in proc.stdout


def test_no_import_cycles(installed, tmp_path):
    proc = find_cycles(installed)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = tmp_path / "cyclic"
    shutil.copytree(installed, bad)
    with open(bad / "sambench" / "app" / "store.py", "a") as f:  # store -> runner -> store
        f.write("\n\ndef _planted():\n    from sambench.app import runner  # noqa\n")
    proc = find_cycles(bad)
    assert proc.returncode == 1 and "sambench.app.runner <-> sambench.app.store" in proc.stdout, proc.stdout
