"""``sambench compare``: does checkpoint B beat checkpoint A? Paired deltas with uncertainty.

    sambench compare RUN_A RUN_B [RUN_C ...] [--baseline RUN] --out DIR [--resamples N] [--seed S]
                     [--ci percentile|BCa|basic] [--test permutation|wilcoxon] [--html]

Runs must share task, protocol and dataset manifests (otherwise one line per differing run, naming
the field). Every run is compared with the baseline (``--baseline``, default the first run), on
the masks / images both runs evaluated (paired), and every pair of runs is tested once for the
all-pairs significance matrix. Images are the resampling unit (``sambench.metrics.stats``):

* point: per mask and click count the IoU difference; per dataset the mean delta, percentile
  bootstrap intervals over images (95 % and 99 %), a paired permutation test (A and B swapped per
  image; or Wilcoxon on per-image mean deltas), Holm across the datasets of one metric; the mean
  over datasets with images resampled within each dataset. Oracle@1 is compared too.
* edges: ODS / OIS / AP deltas; resamples and swaps re-score the BSDS benchmark from the
  per-image counts in the records (``sambench.metrics.resample.BoundaryResampler``).
* instances / proposals: AP / AR deltas; resamples and swaps re-run the official evaluator's
  ``accumulate()`` on its own per-image results (``EvaluatorResampler``): one evaluator pass per
  resample, so the default resample count is lower (200) and the time per resample is recorded.

Outputs under DIR: ``compare.json`` (every number, the settings, the time taken), ``compare.md``,
``tables/compare_*.{md,csv,tex}``, ``plots/compare_*.png`` (``sambench.app.compare_report``;
edges, instances and proposals in ``sambench.app.compare_scored``),
the task's own report of the runs (``report.md``), and with ``--html`` the HTML report.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd

from sambench.app.compare_core import MEAN_ROW, Comparison, Settings, apply_holm, make_row, pairs_holm
from sambench.app.compare_referring import compare_referring
from sambench.app.compare_scored import compare_edges, compare_evaluated
from sambench.app.store import RunFolder, write_json_atomic
from sambench.app.summary import load_run
from sambench.metrics import stats
from sambench.reporting import RunInfo, unique_labels

DEFAULT_RESAMPLES = {"point": 2000, "edges": 2000, "instances": 200, "proposals": 200, "referring": 2000,
                     "text-instances": 200}


class NotComparableError(ValueError):
    """Runs that cannot be compared: one line per run, naming the field that differs."""


# ---------------------------------------------------------------------------------------------
# comparability
# ---------------------------------------------------------------------------------------------

def _differences(a, b, prefix: str) -> List[str]:
    """Dotted paths where two json-like values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(f"{prefix}.{k}")
            else:
                out += _differences(a[k], b[k], f"{prefix}.{k}")
        return out
    return [] if a == b else [prefix]


def _value_at(d, path: str):
    for key in path.split(".")[1:]:
        d = d.get(key, "(absent)") if isinstance(d, dict) else "(absent)"
    return d


def comparability_errors(runs: Sequence[RunInfo]) -> List[str]:
    """One line per run that cannot be compared with the first, naming the differing field."""
    ref = runs[0]
    lines = []
    for r in runs[1:]:
        a, b = ref.config, r.config
        if a.get("task") != b.get("task"):
            lines.append(f"{r.path}: task '{b.get('task')}' differs from {ref.path}'s '{a.get('task')}' (field: task)")
            continue
        diffs = _differences(a.get("protocol"), b.get("protocol"), "protocol")
        if diffs:
            shown = ", ".join(f"{p} {_value_at(b.get('protocol'), p)!r} vs {_value_at(a.get('protocol'), p)!r}"
                              for p in diffs[:3])
            lines.append(f"{r.path}: protocol differs from {ref.path}: {shown}" + (" ..." if len(diffs) > 3 else ""))
            continue
        da = [(d["name"], d["manifest_checksum"]) for d in a.get("datasets", [])]
        db = [(d["name"], d["manifest_checksum"]) for d in b.get("datasets", [])]
        if [n for n, _ in da] != [n for n, _ in db]:
            lines.append(f"{r.path}: datasets {[n for n, _ in db]} differ from {ref.path}'s {[n for n, _ in da]} "
                         f"(field: datasets)")
            continue
        for (name, ca), (_, cb) in zip(da, db):
            if ca != cb:
                lines.append(f"{r.path}: manifest of dataset '{name}' differs from {ref.path}'s "
                             f"(field: datasets.{name}.manifest_checksum {cb[:12]} vs {ca[:12]})"
                             + _subset_hint(name, (r, ref)))
                break
    return lines


def _subset_hint(name: str, runs) -> str:
    """"; RUN's manifest is a subset (10 of 79 images) of OTHER's: ..." when one run's manifest of
    dataset ``name`` is a recorded --limit-images / --image-ids subset of the other's, else ""."""
    entry = [{d["name"]: d for d in r.config.get("datasets", [])}.get(name, {}) for r in runs]
    for small, large in ((0, 1), (1, 0)):
        of = entry[small].get("subset_of") or {}
        if of.get("checksum") and of["checksum"] == entry[large].get("manifest_checksum"):
            return (f"; {runs[small].path}'s manifest is a subset ({entry[small].get('n_images')} of "
                    f"{of.get('n_images')} images) of {runs[large].path}'s: evaluate both on the same images (the "
                    f"same --limit-images and --seed, or --manifest {runs[small].path}/manifest-{name}.json)")
    return ""


# ---------------------------------------------------------------------------------------------
# point task
# ---------------------------------------------------------------------------------------------

def point_records(run: RunInfo) -> pd.DataFrame:
    """(dataset, image_id, instance_id, n_clicks, iou, iou_oracle) of a point run."""
    rec = RunFolder(run.path).load_records()
    cols = ["dataset", "image_id", "instance_id", "n_clicks", "iou", "iou_oracle"]
    return rec[cols].astype({"iou": float, "iou_oracle": float, "n_clicks": int})


def _point_values(rec: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per mask (dataset, image_id, instance_id) -> value of ``metric`` (mIoU@k or oracle@1)."""
    if metric == "oracle@1":
        sel = rec[rec["n_clicks"] == 1]
        return sel[["dataset", "image_id", "instance_id"]].assign(v=sel["iou_oracle"].to_numpy())
    k = int(metric.split("@")[1])
    sel = rec[rec["n_clicks"] == k]
    return sel[["dataset", "image_id", "instance_id"]].assign(v=sel["iou"].to_numpy())


def _paired(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    return a.merge(b, on=["dataset", "image_id", "instance_id"], suffixes=("_a", "_b"), how="inner")


def compare_point(runs: List[RunInfo], base: RunInfo, labels: List[str], base_label: str,
                  settings: Settings) -> Comparison:
    points = [int(k) for k in base.config["protocol"]["points"]]
    metrics = [f"mIoU@{k}" for k in points] + ["oracle@1"]
    datasets = [d["name"] for d in base.config["datasets"]]
    all_runs, all_labels = [base] + runs, [base_label] + labels
    recs = {label: point_records(r) for r, label in zip(all_runs, all_labels)}
    values = {label: {m: _point_values(recs[label], m) for m in metrics} for label in all_labels}
    comp = Comparison("point", all_labels, base_label, metrics, "mIoU@1", datasets)
    if settings.test == "wilcoxon" and len(datasets) > 1:
        comp.notes.append("the mean over datasets is tested by the permutation test: a rank test of pooled "
                          "images does not test a mean of dataset means")
    seed = settings.seed
    n_perm = settings.n_permutations

    def delta_of(pair: pd.DataFrame, test):
        return stats.clustered_mean_delta((pair["v_b"] - pair["v_a"]).to_numpy(), pair["image_id"].to_numpy(),
                                          settings.n_resamples, seed, settings.levels, settings.ci_method, test, n_perm)

    for label in labels:
        for m in metrics:
            per_ds, deltas, clusters = [], [], []
            for name in datasets:
                a = values[base_label][m]
                b = values[label][m]
                pair = _paired(a[a["dataset"] == name], b[b["dataset"] == name])
                n_a, n_b = int((a["dataset"] == name).sum()), int((b["dataset"] == name).sum())
                if n_a != len(pair) or n_b != len(pair):
                    comp.notes.append(f"{label} vs {base_label}, {name}, {m}: {len(pair)} paired masks "
                                      f"({n_b} in the run, {n_a} in the baseline; an incomplete run or other skips)")
                if not len(pair):
                    continue
                est = delta_of(pair, settings.test)
                comp.rows.append(make_row(label, name, m, pair["v_a"].mean(), pair["v_b"].mean(), est.delta,
                                      est.intervals, est.p_value, est.n_images, est.n_masks))
                per_ds.append(pair)
                deltas.append((pair["v_b"] - pair["v_a"]).to_numpy())
                clusters.append(pair["image_id"].to_numpy())
            if len(per_ds) > 1:
                est = stats.stratified_mean_delta(deltas, clusters, settings.n_resamples, seed, settings.levels,
                                                  settings.ci_method, "permutation", n_perm)
                comp.rows.append(make_row(label, MEAN_ROW, m, np.mean([p["v_a"].mean() for p in per_ds]),
                                      np.mean([p["v_b"].mean() for p in per_ds]), est.delta, est.intervals,
                                      est.p_value, est.n_images, est.n_masks))
        one = values[base_label]["mIoU@1"].merge(values[label]["mIoU@1"], on=["dataset", "image_id", "instance_id"],
                                                 suffixes=("_a", "_b"))
        comp.scatter[label] = {name: (g["v_a"].to_numpy(), g["v_b"].to_numpy()) for name, g in one.groupby("dataset")}
    comp.scatter_label = "IoU at 1 click, per mask"
    apply_holm(comp.rows)

    # each run's own mIoU vs clicks (mean over datasets), with image-bootstrap intervals
    for label in all_labels:
        curve = {}
        for m in metrics:
            v = values[label][m]
            parts = [g for _, g in v.groupby("dataset") if len(g)]
            if not parts:
                continue
            est = stats.stratified_mean_delta([g["v"].to_numpy() for g in parts], [g["image_id"].to_numpy() for g in parts],
                                              settings.n_resamples, seed, settings.levels, settings.ci_method, None)
            curve[m] = {"value": est.delta, "ci95": list(est.intervals["95"]), "ci99": list(est.intervals["99"])}
        comp.curves[label] = curve

    # all pairs, headline metric (mean over datasets when there are several)
    for i in range(len(all_labels)):
        for j in range(i + 1, len(all_labels)):
            a, b = values[all_labels[i]]["mIoU@1"], values[all_labels[j]]["mIoU@1"]
            pairs = [_paired(a[a["dataset"] == n], b[b["dataset"] == n]) for n in datasets]
            pairs = [p for p in pairs if len(p)]
            if not pairs:
                continue
            if len(pairs) == 1:
                est = delta_of(pairs[0], settings.test)
            else:
                est = stats.stratified_mean_delta([(p["v_b"] - p["v_a"]).to_numpy() for p in pairs],
                                                  [p["image_id"].to_numpy() for p in pairs], settings.n_resamples,
                                                  seed, settings.levels, settings.ci_method, "permutation", n_perm)
            comp.pairs.append({"a": all_labels[i], "b": all_labels[j], "metric": "mIoU@1",
                               "dataset": datasets[0] if len(pairs) == 1 else MEAN_ROW, "delta": est.delta,
                               "ci95": list(est.intervals["95"]), "p": est.p_value, "p_holm": None})
    pairs_holm(comp.pairs)
    return comp


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------

COMPARERS = {"point": compare_point, "edges": compare_edges, "instances": compare_evaluated,
             "proposals": compare_evaluated, "text-instances": compare_evaluated,  # sambench.app.compare_scored
             "referring": compare_referring}


def run_compare(run_paths: Sequence[Path], out: Path, baseline: Optional[Path] = None,
                n_resamples: Optional[int] = None, n_permutations: Optional[int] = None, seed: int = 0,
                ci_method: str = "percentile", test: str = "permutation", html: bool = False,
                gallery: int = 4, evaluator: str = "faster-coco-eval") -> Path:
    """Compare runs (each against the baseline, and all pairs); write tables, plots and compare.json.

    Arguments:
      run_paths: run folders (the first is the baseline unless ``baseline`` is given).
      out: output folder.
      n_resamples: bootstrap resamples (default per task: DEFAULT_RESAMPLES); n_permutations: swap
        patterns of the permutation test (default n_resamples).
      seed, ci_method, test: see ``sambench.metrics.stats``.
      evaluator: COCO-format instances / proposals: whose per-image results are resampled,
        "faster-coco-eval" (C++ accumulate, several times faster) or "pycocotools"; both must
        reproduce each run's summary exactly (checked). LVIS-format: always LVISEval.
      html: also write the HTML report (index.html) into ``out``; gallery: masks per dataset and
        end (worst / best) in its gallery.
    Returns:
      the path of compare.md.
    Raises:
      NotComparableError: runs of another task, protocol or manifest (one line per run).
    """
    from sambench.app.compare_report import write_comparison

    paths = [Path(p) for p in run_paths]
    if baseline is not None and Path(baseline) not in paths:
        paths = [Path(baseline)] + paths
    if len(paths) < 2:
        raise ValueError("compare needs at least two runs (RUN_A RUN_B ...)")
    base_path = Path(baseline) if baseline is not None else paths[0]
    infos = [load_run(p) for p in paths]
    errors = comparability_errors(infos)
    if errors:
        raise NotComparableError("\n".join(errors))
    task = infos[0].config["task"]
    if task not in COMPARERS:
        raise ValueError(f"compare does not know the task '{task}' (known: {', '.join(COMPARERS)})")
    labels = unique_labels(infos)
    bi = paths.index(base_path)
    base, base_label = infos[bi], labels[bi]
    others = [(r, l) for k, (r, l) in enumerate(zip(infos, labels)) if k != bi]
    n_res = DEFAULT_RESAMPLES[task] if n_resamples is None else int(n_resamples)
    settings = Settings(n_res, n_res if n_permutations is None else int(n_permutations), int(seed), ci_method, test,
                        evaluator=evaluator)
    if evaluator not in ("faster-coco-eval", "pycocotools"):
        raise ValueError(f"--evaluator '{evaluator}': expected faster-coco-eval or pycocotools")
    if test not in stats.TESTS:
        raise ValueError(f"--test '{test}': expected one of {', '.join(stats.TESTS)}")
    if ci_method not in stats.CI_METHODS:
        raise ValueError(f"--ci '{ci_method}': expected one of {', '.join(stats.CI_METHODS)}")
    t0 = time.perf_counter()
    comp = COMPARERS[task]([r for r, _ in others], base, [l for _, l in others], base_label, settings)
    comp.seconds["total"] = time.perf_counter() - t0
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"settings": settings.to_dict(), "runs": {l: str(r.path) for r, l in zip(infos, labels)},
              **comp.to_dict()}
    write_json_atomic(out / "compare.json", _finite(json.loads(json.dumps(record, default=_json_default))))
    md = write_comparison(comp, infos, labels, base_label, settings, out)
    from sambench.app.report import write_report

    # the runs' own tables and plots: the comparison folder is compare's own (rewritten on every call), and
    # an unfinished run is compared on its finished images, every label marked "incomplete: N of M images"
    write_report([r.path for r, _ in others], out, baseline=base.path, force=True, allow_incomplete=True)
    if html:
        from sambench.app.html import write_html

        write_html([r for r, _ in others], base, out, comparison=comp, gallery=gallery)
    return md


def _finite(v):
    """NaN (an undefined interval or p) as JSON null."""
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


def _json_default(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)
