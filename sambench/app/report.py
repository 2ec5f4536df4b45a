"""The reporter: tables (Markdown, CSV, LaTeX) and plots (PNG) derived from run folders alone.

``write_report(runs, out, baseline)`` reads each run's config and summary (re-deriving the
summary from the records when missing or older than them), checks that the runs are comparable
(same task, protocol and manifests; it says so in the report when they are not) and calls the
task's report builder (``Task.report`` of the task registry). Published numbers from the papers
are always shown in rows or series labelled "published".

A report folder is the reporter's own: it refuses to write where a report already is unless
``force``, and then removes only the files it wrote there before (listed in ``.sambench-report.json``),
never other files. One report is replaced without ``force``: a report of the same runs written
before they were finished (``allow_incomplete``), which their completion has made stale. An unfinished run is refused unless ``allow_incomplete``; then every table and
plot label says "incomplete: N of M images".
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import List, Optional, Sequence

from sambench.app.summary import comparable_keys, load_run
from sambench.reporting import RunInfo

OWNED = ".sambench-report.json"  # the files a report wrote into its folder (removed on --force)
REPORT_PARTS = ("report.md", "index.html")  # an earlier report is there (tables/ and plots/ may be shared)


class ReportFolderError(ValueError):
    """A report would overwrite an earlier one (without --force), or a run is incomplete."""


def default_report_dir(run_paths: Sequence[Path], baseline: Optional[Path] = None) -> Path:
    """A fresh folder named after the runs: RUNS_PARENT/report-A+B[-vs-BASE] (shortened with a hash when long)."""
    names = [Path(p).resolve().name for p in run_paths]
    name = "report-" + "+".join(names) + (f"-vs-{Path(baseline).resolve().name}" if baseline else "")
    if len(name) > 80:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = name[:70] + "-" + digest
    return Path(run_paths[0]).resolve().parent / name


def comparability_notes(runs: Sequence[RunInfo]) -> List[str]:
    """Sentences naming what differs between runs that should be compared."""
    notes = []
    ref = comparable_keys(runs[0].config)
    ref_subsets = {d["name"]: d.get("subset_of") for d in runs[0].config.get("datasets", [])}
    for r in runs[1:]:
        other = comparable_keys(r.config)
        for key in ("task", "protocol"):
            if other[key] != ref[key]:
                notes.append(f"{r.path} differs from {runs[0].path} in {key}: numbers are not comparable")
        shared = set(n for n, _ in ref["datasets"]) & set(n for n, _ in other["datasets"])
        a, b = dict(ref["datasets"]), dict(other["datasets"])
        subsets = {d["name"]: d.get("subset_of") for d in r.config.get("datasets", [])}
        for name in sorted(shared):
            if a[name] == b[name]:
                continue
            sa, sb = ref_subsets.get(name) or {}, subsets.get(name) or {}
            if sb.get("checksum") == a[name]:
                notes.append(f"{r.path} evaluated a subset of the '{name}' masks {runs[0].path} evaluated "
                             f"({sb.get('selection')}): numbers are not comparable")
            elif sa.get("checksum") == b[name]:
                notes.append(f"{runs[0].path} evaluated a subset of the '{name}' masks {r.path} evaluated "
                             f"({sa.get('selection')}): numbers are not comparable")
            elif sa and sa.get("checksum") == sb.get("checksum"):
                notes.append(f"{r.path} and {runs[0].path} evaluated different subsets of the same '{name}' "
                             f"manifest: numbers are not comparable")
            else:
                notes.append(f"{r.path} evaluated other masks of '{name}' (manifest checksum differs)")
    return notes


def report_key(runs: Sequence[RunInfo], base: Optional[RunInfo]) -> dict:
    """What a report is of: its runs' and baseline's resolved folders."""
    return {"runs": [str(r.path.resolve()) for r in runs], "baseline": str(base.path.resolve()) if base else None}


def _read_owned(record: Path) -> dict:
    try:
        data = json.loads(record.read_text()) if record.is_file() else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def prepare_report_dir(out: Path, force: bool, key: Optional[dict] = None) -> None:
    """Refuse to write over an earlier report unless ``force`` (or unless it is a stale incomplete
    report of the same runs, ``key``); when replacing, remove only what it owned."""
    record = out / OWNED
    existing = [part for part in REPORT_PARTS if (out / part).exists()]
    if not existing and not record.exists():
        return
    earlier = _read_owned(record)
    stale = key is not None and bool(earlier.get("incomplete")) and \
        (earlier.get("runs"), earlier.get("baseline")) == (key["runs"], key["baseline"])
    if not force and not stale:
        raise ReportFolderError(f"{out}: already holds a report ({', '.join(existing) or OWNED}); pass --force to "
                                f"replace it (only the files the report wrote are removed) or choose another --out")
    if record.is_file():
        owned = earlier.get("files", [])
        for rel in owned:
            path = (out / rel).resolve()
            if out.resolve() in path.parents and path.is_file():
                path.unlink()
        for d in sorted((p for p in out.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            if not any(d.iterdir()) and any(str(d.relative_to(out)) == str(Path(rel).parent) for rel in owned):
                d.rmdir()  # a folder emptied of the report's files
        record.unlink()


def _file_states(out: Path) -> dict:
    """{relative path: (mtime_ns, size)} of every file under ``out``."""
    states = {}
    for f in out.rglob("*"):
        if f.is_file():
            st = f.stat()
            states[str(f.relative_to(out))] = (st.st_mtime_ns, st.st_size)
    return states


def _record_owned(out: Path, before: dict, key: dict, incomplete: bool) -> None:
    """List every file under ``out`` that is new or changed since the snapshot ``before`` (report.md,
    tables/, plots/, the HTML pages), with what the report is of and whether a run was unfinished.
    A snapshot, not a clock: a run's summary.json written a moment before its report is never taken
    for the report's own (file times can be coarser than the gap)."""
    files = sorted(rel for rel, state in _file_states(out).items() if rel != OWNED and before.get(rel) != state)
    (out / OWNED).write_text(json.dumps({"written_by": "sambench report", "files": files, **key,
                                         "incomplete": incomplete}, indent=1))


def write_report(run_paths: Sequence[Path], out: Path, baseline: Optional[Path] = None, html: bool = False,
                 gallery: int = 4, force: bool = False, allow_incomplete: bool = False) -> Path:
    """Tables and plots for ``run_paths`` (and a ``baseline`` run to compare against) under ``out``;
    with ``html``, also the HTML report (out/index.html, ``sambench.app.html``).

    Arguments:
      force: replace an earlier report in ``out`` (removing only the files it wrote); an earlier
        report of the same runs made while they were unfinished is replaced without it.
      allow_incomplete: report runs that have not finished (labelled "incomplete: N of M images").
    Returns:
      the path of the report's index (out/report.md).
    Raises:
      ReportFolderError (one line) for an earlier report without ``force``, or an unfinished run
      without ``allow_incomplete``.
    """
    runs = [load_run(Path(p)) for p in run_paths]
    base = load_run(Path(baseline)) if baseline else None
    everything = runs + ([base] if base else [])
    unfinished = [r for r in everything if r.incomplete]
    if unfinished and not allow_incomplete:
        r = unfinished[0]
        raise ReportFolderError(f"{r.path}: {r.incomplete}; complete it (the same sambench run command with "
                                f"--resume) or pass --allow-incomplete to report it marked as incomplete")
    tasks = {r.config["task"] for r in everything}
    if len(tasks) != 1:
        raise ValueError(f"cannot report runs of different tasks together: {sorted(tasks)}")
    task = tasks.pop()
    from sambench.tasks import TASKS

    builder = TASKS.get(task).report
    out = Path(out)
    if (out / "config.json").is_file() and out.resolve() not in {r.path.resolve() for r in everything}:
        raise ReportFolderError(f"{out}: is the run folder of another run (its config.json); a report of other "
                                f"runs never goes there, even with --force: choose another --out")
    key = report_key(runs, base)
    prepare_report_dir(out, force, key)
    before = _file_states(out) if out.is_dir() else {}  # what is new or changed after this is the report's own
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    notes = comparability_notes(everything)
    sections = builder(runs, base, out)
    lines = [f"# sambench report: {task}", ""]
    for r in unfinished:
        lines += [f"**{r.incomplete}** in `{r.path}`: its numbers cover only the finished images.", ""]
    for r in everything:
        fp = r.config["model"]
        lines.append(f"- `{r.path}`: model **{r.label}**, {r.checkpoint}, "
                     f"datasets {', '.join(d['name'] + ' (' + d['manifest_checksum'][:12] + ')' for d in r.config['datasets'])}, "
                     f"sambench {r.config.get('sambench_version')}, torch {r.config['versions'].get('torch')}, "
                     f"device {r.config['device'].get('device')}")
        for s in r.subsets():
            lines.append(f"  - {s}: not the full manifest a complete run evaluates")
    if any(r.config["model"].get("weights") != "trained" for r in everything):
        lines += ["", "Models marked (untrained), (weight-free) or (oracle) are not trained checkpoints: "
                      "their numbers test the pipeline or give a classical baseline."]
    if notes:
        lines += ["", "**Not comparable:**"] + [f"- {n}" for n in notes]
    lines += [""] + sections
    (out / "report.md").write_text("\n".join(lines) + "\n")
    if html:
        from sambench.app.html import write_html

        write_html(runs, base, out, gallery=gallery)
    _record_owned(out, before, key, incomplete=bool(unfinished))
    return out / "report.md"
