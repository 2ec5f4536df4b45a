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


def completeness(folder: RunFolder, config: dict, done: list) -> dict:
    """How much of the manifests a run has finished: ``{"n_done", "n_images", "complete", "datasets", "text"}``.

    M counts every image of each dataset's manifest (``manifest-<dataset>.json``: images to evaluate plus
    those found unreadable while building it); N the images with a done line (evaluated or skipped).
    ``text`` is "incomplete: N of M images" until N == M, else None.
    """
    per: dict = {}
    for d in config.get("datasets", []):
        name = d["name"]
        total = int(d.get("n_images") or 0)
        mpath = folder.path / f"manifest-{name}.json"
        if mpath.is_file():
            m = json.loads(mpath.read_text())
            total = len(m.get("entries", [])) + len(m.get("skipped", {}))
        finished = {x["image_id"] for x in done if x.get("dataset") == name}
        per[name] = {"n_done": len(finished), "n_images": total}
    n_done = sum(v["n_done"] for v in per.values())
    n_images = sum(v["n_images"] for v in per.values())
    complete = all(v["n_done"] >= v["n_images"] for v in per.values())
    return {"n_done": n_done, "n_images": n_images, "complete": complete, "datasets": per,
            "text": None if complete else f"incomplete: {n_done} of {n_images} images"}


def summarize_run(task, out: Path) -> dict:
    """(Re)derive summary.json from a run folder's records (an unfinished run's says "incomplete: N of M images")."""
    folder = RunFolder(out)
    config = folder.read_config()
    task.run_dir = Path(out)
    records = folder.load_records()
    done = folder.load_done()
    if len(records) and "image_id" in records.columns:  # rows of an image without its done line (a killed write) do not count
        finished = {f"{x.get('dataset')}\0{x.get('image_id')}" for x in done}
        keep = (records["dataset"].astype(str) + "\0" + records["image_id"].astype(str)).isin(finished)
        if not keep.all():
            records = records[keep.to_numpy()].reset_index(drop=True)
    summary = task.summarize(records, done, config)
    summary.setdefault("task", task.name)
    summary["model"] = config["model"]
    summary["run"] = str(Path(out))
    summary["completeness"] = completeness(folder, config, done)
    summary["incomplete"] = summary["completeness"]["text"]
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
    """A run folder's config and summary (re-derived from the records when missing or older than them)."""
    folder = RunFolder(path)
    config = folder.read_config()
    summary_path = Path(path) / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    n_done = len({(x.get("dataset"), x.get("image_id")) for x in folder.load_done()}) if folder.records_dir.is_dir() else 0
    if summary is None or (summary.get("completeness") or {}).get("n_done") != n_done:
        summary = summarize_run(task_from_config(config), Path(path))
    return RunInfo(Path(path), config, summary)
