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
WHAT = {"untrained": "UNTRAINED (seeded random weights; its numbers mean nothing)",
        "weight-free": "weight-free classical baseline (no learned weights)",
        "oracle": "oracle (reads the ground truth)", "trained": "trained checkpoint"}


def run_demo(out: Path, progress: bool = True) -> Path:
    """Run the demo into ``out``; returns the comparison report's path."""
    from sambench.datasets import build_dataset
    from sambench.datasets.manifest import build_manifest
    from sambench.tasks.point import PointTask

    from sambench.models import build_model
    from sambench.app.report import write_report

    dataset = build_dataset("demo", None)
    manifest = build_manifest(dataset, seed=0)
    runs, models = [], []
    for name in DEMO_MODELS:
        run_dir = out / name
        resume = RunFolder(run_dir).exists()  # re-running the demo completes (or reuses) earlier runs
        model = build_model(name, device="cpu")
        run_task(PointTask(), model, [DatasetRun(dataset, manifest)], run_dir, seed=0, resume=resume, progress=progress)
        runs.append(run_dir)
        models.append(model)
    report = write_report([runs[1]], out / "report", baseline=runs[0], html=True, force=True)  # the demo owns its folder
    from sambench.app.compare import run_compare

    comparison = run_compare([runs[0], runs[1]], out / "compare", html=True)
    print(f"demo dataset: {dataset.root} ({manifest.n_images} images, {manifest.n_masks} masks)")
    for model, r in zip(models, runs):
        print(f"run folder:   {r}  -- {model.label()}: {WHAT[model.weights]}")
    print(f"comparison:   {comparison} (HTML: {out / 'compare' / 'index.html'})")
    print((out / "report" / "tables" / "point_delta_vs_baseline.md").read_text()
          if (out / "report" / "tables" / "point_delta_vs_baseline.md").exists() else "")
    print("These models are not trained checkpoints: the numbers test the pipeline, they say nothing about SAM.")
    print(f"report:       {report}  (tables/, plots/ beside it; HTML: {out / 'report' / 'index.html'})")
    return report
