"""``sambench demo``: the point task end to end on the generated demo dataset.

Runs the paper's point protocol (1, 2, 3, 5, 9 clicks) with the weight-free ``random-walker``
baseline and the untrained ``sam-tiny`` (plumbing only, labelled as such), then writes a
comparison report with sam-tiny against the baseline (``report/``, Markdown and HTML) and the
statistical comparison (``compare/``: bootstrap intervals, paired test, HTML with a gallery).
Minutes on two CPU cores.
"""

from __future__ import annotations

from pathlib import Path

from sambench.app.runner import DatasetRun, run_task
from sambench.app.store import RunFolder

DEMO_MODELS = ("random-walker", "sam-tiny")


def run_demo(out: Path, progress: bool = True) -> Path:
    """Run the demo into ``out``; returns the comparison report's path."""
    from sambench.datasets import build_dataset
    from sambench.datasets.manifest import build_manifest
    from sambench.tasks.point import PointTask

    from sambench.models import build_model
    from sambench.app.report import write_report

    dataset = build_dataset("demo", None)
    manifest = build_manifest(dataset, seed=0)
    runs = []
    for name in DEMO_MODELS:
        run_dir = out / name
        resume = RunFolder(run_dir).exists()  # re-running the demo completes (or reuses) earlier runs
        run_task(PointTask(), build_model(name, device="cpu"), [DatasetRun(dataset, manifest)], run_dir,
                 seed=0, resume=resume, progress=progress)
        runs.append(run_dir)
    report = write_report([runs[1]], out / "report", baseline=runs[0], html=True)
    from sambench.app.compare import run_compare

    comparison = run_compare([runs[0], runs[1]], out / "compare", html=True)
    print(f"demo dataset: {dataset.root} ({manifest.n_images} images, {manifest.n_masks} masks)")
    for r in runs:
        print(f"run folder:   {r}")
    print(f"report:       {report} (HTML: {out / 'report' / 'index.html'})")
    print(f"comparison:   {comparison} (HTML: {out / 'compare' / 'index.html'})")
    print((out / "report" / "tables" / "point_delta_vs_baseline.md").read_text()
          if (out / "report" / "tables" / "point_delta_vs_baseline.md").exists() else "")
    return report
