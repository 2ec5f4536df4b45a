"""The reporter: tables (Markdown, CSV, LaTeX) and plots (PNG) derived from run folders alone.

``write_report(runs, out, baseline)`` reads each run's config and summary (re-deriving the
summary from the records when missing), checks that the runs are comparable (same task,
protocol and manifests; it says so in the report when they are not) and calls the task's report
builder (``Task.report`` of the task registry). Published numbers from the papers are always shown
in rows or series labelled "published".
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

from sambench.app.summary import comparable_keys, load_run
from sambench.reporting import RunInfo


def comparability_notes(runs: Sequence[RunInfo]) -> List[str]:
    """Sentences naming what differs between runs that should be compared."""
    notes = []
    ref = comparable_keys(runs[0].config)
    for r in runs[1:]:
        other = comparable_keys(r.config)
        for key in ("task", "protocol"):
            if other[key] != ref[key]:
                notes.append(f"{r.path} differs from {runs[0].path} in {key}: numbers are not comparable")
        shared = set(n for n, _ in ref["datasets"]) & set(n for n, _ in other["datasets"])
        a, b = dict(ref["datasets"]), dict(other["datasets"])
        for name in sorted(shared):
            if a[name] != b[name]:
                notes.append(f"{r.path} evaluated other masks of '{name}' (manifest checksum differs)")
    return notes


def write_report(run_paths: Sequence[Path], out: Path, baseline: Optional[Path] = None, html: bool = False,
                 gallery: int = 4) -> Path:
    """Tables and plots for ``run_paths`` (and a ``baseline`` run to compare against) under ``out``;
    with ``html``, also the HTML report (out/index.html, ``sambench.app.html``).

    Returns:
      the path of the report's index (out/report.md).
    """
    runs = [load_run(Path(p)) for p in run_paths]
    base = load_run(Path(baseline)) if baseline else None
    tasks = {r.config["task"] for r in runs + ([base] if base else [])}
    if len(tasks) != 1:
        raise ValueError(f"cannot report runs of different tasks together: {sorted(tasks)}")
    task = tasks.pop()
    from sambench.tasks import TASKS

    builder = TASKS.get(task).report
    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    notes = comparability_notes(runs + ([base] if base else []))
    sections = builder(runs, base, out)
    lines = [f"# sambench report: {task}", ""]
    for r in runs + ([base] if base else []):
        fp = r.config["model"]
        lines.append(f"- `{r.path}`: model **{r.label}**, checkpoint sha256 `{fp.get('checkpoint_sha256')}`, "
                     f"datasets {', '.join(d['name'] + ' (' + d['manifest_checksum'][:12] + ')' for d in r.config['datasets'])}, "
                     f"sambench {r.config.get('sambench_version')}, torch {r.config['versions'].get('torch')}, "
                     f"device {r.config['device'].get('device')}")
    if any(r.config["model"].get("weights") != "trained" for r in runs):
        lines += ["", "Models marked (untrained), (weight-free) or (oracle) are not trained checkpoints: "
                      "their numbers test the pipeline or give a classical baseline."]
    if notes:
        lines += ["", "**Not comparable:**"] + [f"- {n}" for n in notes]
    lines += [""] + sections
    (out / "report.md").write_text("\n".join(lines) + "\n")
    if html:
        from sambench.app.html import write_html

        write_html(runs, base, out, gallery=gallery)
    return out / "report.md"
