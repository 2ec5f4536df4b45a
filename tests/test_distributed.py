"""Two processes of a torchrun-style job give exactly the single-process records."""

import os
import socket
import subprocess
import sys

import pandas as pd

from conftest import REPO, run_cli
from sambench.app.store import RunFolder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_merge_to_the_single_process_result(tmp_path, demo_root):
    args = ["run", "point", "--model", "oracle", "--model-arg", "keep=0.6", "--dataset", "demo", "--root", str(demo_root),
            "--points", "1,2", "--first-point", "random", "--seed", "7", "--no-progress"]
    run_cli(*args, "--out", tmp_path / "single")
    port = str(_free_port())
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=port, PYTHONUNBUFFERED="1")
        procs.append(subprocess.Popen([sys.executable, "-m", "sambench", *args, "--out", str(tmp_path / "dist")],
                                      cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    shards = sorted(p.name for p in (tmp_path / "dist" / "records").glob("records-rank*.csv"))
    assert shards == ["records-rank0.csv", "records-rank1.csv"]
    for rank in range(2):  # each rank really did part of the work
        assert len(pd.read_csv(tmp_path / "dist" / "records" / f"records-rank{rank}.csv")) > 0
    pd.testing.assert_frame_equal(RunFolder(tmp_path / "single").load_records(), RunFolder(tmp_path / "dist").load_records())
    a = (tmp_path / "single" / "summary.json").read_text()
    b = (tmp_path / "dist" / "summary.json").read_text()
    import json
    strip = lambda s: {k: v for k, v in json.loads(s).items() if k not in ("run", "model", "timing")}  # noqa: E731
    assert strip(a) == strip(b)
    timing = json.loads(b)["timing"]  # measurements, not results: each rank's session, and their sum
    assert set(timing["sessions"]) == {"0", "1"}
    assert timing["total"]["counters"]["images"] == sum(s[0]["counters"]["images"] for s in timing["sessions"].values())
