import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI (.ci/run sets SAMBENCH_CI=1): property tests draw the same examples every run and keep no
# example database, so a CI result is repeatable; locally they explore new examples each run.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("SAMBENCH_CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared(*parts) -> Path:
    """A path under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not present: {path} (../shared/data beside the checkout; CI has it)")
    return path


def run_cli(*args, check=True, env=None, timeout=600):
    """Run ``python -m sambench ARGS``; returns the CompletedProcess."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    proc = subprocess.run([sys.executable, "-m", "sambench", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env=full_env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"sambench {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """The generated demo dataset in a per-session folder."""
    from sambench.datasets.demo import ensure_demo

    return ensure_demo(tmp_path_factory.mktemp("demo-data"))


def cocoeval_stats(ann, results_json, img_ids=None):
    """pycocotools' own segm ``COCOeval.stats`` of a results file: the reference the instance tasks' AP is checked against."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann))
        ev = COCOeval(gt, gt.loadRes(str(results_json)), "segm")
        if img_ids is not None:
            ev.params.imgIds = sorted(img_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats]
