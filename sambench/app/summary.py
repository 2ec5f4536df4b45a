"""Run folders as finished results: which runs are comparable, and summary.json derived from records.

Used by the runner (at the end of a run), the reporter and ``compare``; nothing here runs a model.
"""

from __future__ import annotations

import json
from pathlib import Path

from sambench.app.store import RunFolder, read_jsonl
from sambench.reporting import RunInfo
from sambench.timing import merge_reports


def comparable_keys(config: dict) -> dict:
    """What must match for two runs (or a run and its resume) to be comparable."""
    return {
        "task": config.get("task"),
        "protocol": config.get("protocol"),
        "datasets": [(d["name"], d["manifest_checksum"]) for d in config.get("datasets", [])],
    }


def task_from_config(config: dict):
    """Rebuild the Task of a run from its config (for re-summarising)."""
    from sambench.tasks import TASKS

    return TASKS.get(config["task"]).from_protocol(config["protocol"])


def summarize_run(task, out: Path) -> dict:
    """(Re)derive summary.json from a run folder's records."""
    folder = RunFolder(out)
    config = folder.read_config()
    task.run_dir = Path(out)
    records = folder.load_records()
    summary = task.summarize(records, folder.load_done(), config)
    summary.setdefault("task", task.name)
    summary["model"] = config["model"]
    summary["run"] = str(Path(out))
    summary["timing"] = read_timing(Path(out))  # where the time went, every session and rank
    folder.write_summary(summary)
    return summary


def read_timing(out: Path) -> dict:
    """Every session's timing report of a run folder, per rank, and their aggregate ({} when none)."""
    per_rank = {}
    for path in sorted((Path(out) / "records").glob("timing-rank*.jsonl")):
        per_rank[path.stem.replace("timing-rank", "")] = read_jsonl(path)
    reports = [r for rs in per_rank.values() for r in rs]
    if not reports:
        return {}
    return {"total": merge_reports(reports), "sessions": per_rank}


def load_run(path: Path) -> RunInfo:
    """A run folder's config and summary (the summary re-derived from the records when missing)."""
    folder = RunFolder(path)
    config = folder.read_config()
    summary_path = Path(path) / "summary.json"
    if not summary_path.is_file():
        summarize_run(task_from_config(config), Path(path))
    return RunInfo(Path(path), config, json.loads(summary_path.read_text()))
