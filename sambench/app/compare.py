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
``tables/compare_*.{md,csv,tex}``, ``plots/compare_*.png`` (``sambench.app.compare_report``),
the task's own report of the runs (``report.md``), and with ``--html`` the HTML report.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from sambench.app.store import RunFolder, write_json_atomic
from sambench.app.summary import load_run, summarize_run, task_from_config
from sambench.metrics import stats
from sambench.reporting import RunInfo, unique_labels

DEFAULT_RESAMPLES = {"point": 2000, "edges": 2000, "instances": 200, "proposals": 200}
MEAN_ROW = "mean over datasets"


class NotComparableError(ValueError):
    """Runs that cannot be compared: one line per run, naming the field that differs."""


@dataclass
class Settings:
    """How a comparison was made (recorded in compare.json)."""

    n_resamples: int
    n_permutations: int
    seed: int = 0
    ci_method: str = "percentile"
    test: str = "permutation"
    levels: Tuple[float, ...] = stats.LEVELS

    def to_dict(self) -> Dict:
        d = asdict(self)
        d["levels"] = list(self.levels)
        d["unit"] = "image (masks of one image are resampled and swapped together)"
        return d


@dataclass
class Comparison:
    """Everything a comparison found; rows and pairs feed the tables, the rest the plots."""

    task: str
    labels: List[str]
    baseline: str
    metrics: List[str]
    headline: str
    datasets: List[str]
    rows: List[Dict] = field(default_factory=list)
    pairs: List[Dict] = field(default_factory=list)
    curves: Dict[str, Dict] = field(default_factory=dict)
    scatter: Dict[str, Dict[str, Tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    scatter_label: str = ""
    notes: List[str] = field(default_factory=list)
    seconds: Dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> Dict:
        return {"task": self.task, "runs": self.labels, "baseline": self.baseline, "metrics": self.metrics,
                "headline": self.headline, "datasets": self.datasets, "vs_baseline": self.rows,
                "pairs": self.pairs, "curves": self.curves, "notes": self.notes, "seconds": self.seconds}


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
                             f"(field: datasets.{name}.manifest_checksum {cb[:12]} vs {ca[:12]})")
                break
    return lines


# ---------------------------------------------------------------------------------------------
# shared row building
# ---------------------------------------------------------------------------------------------

def _ci(intervals: Dict, key: str, i: Optional[int] = None) -> Tuple[float, float]:
    lo, hi = intervals.get(key, (float("nan"), float("nan")))
    if i is not None:
        lo, hi = np.asarray(lo).reshape(-1)[i], np.asarray(hi).reshape(-1)[i]
    return float(lo), float(hi)


def _row(label: str, dataset: str, metric: str, base_value: float, value: float, delta: float,
         intervals: Dict, p: Optional[float], n_images: int, n_masks: int, i: Optional[int] = None) -> Dict:
    row = {"run": label, "dataset": dataset, "metric": metric, "baseline": float(base_value), "value": float(value),
           "delta": float(delta)}
    for key in ("95", "99"):
        lo, hi = _ci(intervals, key, i)
        row[f"ci{key}_low"], row[f"ci{key}_high"] = lo, hi
    row.update({"p": None if p is None else float(p), "p_holm": None, "n_images": int(n_images),
                "n_masks": int(n_masks)})
    return row


def _apply_holm(rows: List[Dict]) -> None:
    """Holm across the datasets of each (run, metric); the mean-over-datasets row stays unadjusted."""
    groups: Dict[Tuple[str, str], List[Dict]] = {}
    for r in rows:
        if r["dataset"] != MEAN_ROW:
            groups.setdefault((r["run"], r["metric"]), []).append(r)
    for members in groups.values():
        for r, adj in zip(members, stats.holm([m["p"] for m in members])):
            r["p_holm"] = adj


def _pairs_holm(pairs: List[Dict]) -> None:
    for r, adj in zip(pairs, stats.holm([p["p"] for p in pairs])):
        r["p_holm"] = adj


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
                comp.rows.append(_row(label, name, m, pair["v_a"].mean(), pair["v_b"].mean(), est.delta,
                                      est.intervals, est.p_value, est.n_images, est.n_masks))
                per_ds.append(pair)
                deltas.append((pair["v_b"] - pair["v_a"]).to_numpy())
                clusters.append(pair["image_id"].to_numpy())
            if len(per_ds) > 1:
                est = stats.stratified_mean_delta(deltas, clusters, settings.n_resamples, seed, settings.levels,
                                                  settings.ci_method, "permutation", n_perm)
                comp.rows.append(_row(label, MEAN_ROW, m, np.mean([p["v_a"].mean() for p in per_ds]),
                                      np.mean([p["v_b"].mean() for p in per_ds]), est.delta, est.intervals,
                                      est.p_value, est.n_images, est.n_masks))
        one = values[base_label]["mIoU@1"].merge(values[label]["mIoU@1"], on=["dataset", "image_id", "instance_id"],
                                                 suffixes=("_a", "_b"))
        comp.scatter[label] = {name: (g["v_a"].to_numpy(), g["v_b"].to_numpy()) for name, g in one.groupby("dataset")}
    comp.scatter_label = "IoU at 1 click, per mask"
    _apply_holm(comp.rows)

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
    _pairs_holm(comp.pairs)
    return comp


# ---------------------------------------------------------------------------------------------
# metrics recomputed from per-image results (edges, instances, proposals)
# ---------------------------------------------------------------------------------------------

def _vector_comparison(comp: Comparison, metrics: List[str], n_images: int, n_units: int, dataset: str,
                       delta_stat, observed: Dict[str, Tuple[float, float]], label: str, settings: Settings,
                       swap_stat) -> None:
    """Rows for one run vs the baseline from a vector-valued delta statistic over image indices."""
    method = settings.ci_method
    if method == "BCa" and comp.task in ("instances", "proposals"):
        method = "percentile"  # BCa's jackknife would cost one evaluator pass per image
        note = f"{comp.task}: BCa needs one evaluator pass per image (jackknife); percentile intervals instead"
        if note not in comp.notes:
            comp.notes.append(note)
    boot = stats.bootstrap_intervals(delta_stat, [n_images], settings.n_resamples, settings.seed, settings.levels,
                                     method)
    ps = stats.swap_permutation_test(swap_stat, n_images, settings.n_permutations, settings.seed,
                                     n_outputs=len(metrics))
    for i, m in enumerate(metrics):
        a, b = observed[m]
        comp.rows.append(_row(label, dataset, m, a, b, np.asarray(boot.estimate).reshape(-1)[i], boot.intervals,
                              ps[i], n_images, n_units, i))


def _nan_undefined(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.where(x < 0, np.nan, x)  # the evaluators' -1: undefined (no ground truth of that kind)


def compare_edges(runs: List[RunInfo], base: RunInfo, labels: List[str], base_label: str,
                  settings: Settings) -> Comparison:
    from sambench.metrics.bsds import BoundaryCounts
    from sambench.metrics.resample import BOUNDARY_METRICS, BoundaryResampler, index_weights, swap_weights
    from sambench.tasks.edges import _threshold_values

    thr = _threshold_values(base.config["protocol"]["benchmark"])
    all_runs, all_labels = [base] + runs, [base_label] + labels

    def per_image(run: RunInfo) -> Dict[str, BoundaryCounts]:
        rec = RunFolder(run.path).load_records()
        out = {}
        for image_id, g in rec.groupby("image_id", sort=False):
            g = g.sort_values("threshold_index")
            out[str(image_id)] = BoundaryCounts(thr.copy(), *(g[k].to_numpy(dtype=np.float64)
                                                             for k in ("cnt_r", "sum_r", "cnt_p", "sum_p")))
        return out

    counts = {label: per_image(r) for r, label in zip(all_runs, all_labels)}
    dataset = base.summary.get("dataset") or base.config["datasets"][0]["name"]
    metrics = list(BOUNDARY_METRICS)
    comp = Comparison("edges", all_labels, base_label, metrics, "ODS", [dataset])

    def paired_stats(la: str, lb: str):
        ids = [i for i in counts[la] if i in counts[lb]]
        if len(ids) != len(counts[la]) or len(ids) != len(counts[lb]):
            comp.notes.append(f"{lb} vs {la}: {len(ids)} paired images ({len(counts[lb])} and {len(counts[la])} scored)")
        res = BoundaryResampler([counts[la][i] for i in ids] + [counts[lb][i] for i in ids])
        J = len(ids)
        zero = np.zeros((1, J))

        def delta(idx, axis=-1):
            w = index_weights(idx, J)
            z = np.zeros_like(w)
            d = res.scores(np.hstack([z, w])) - res.scores(np.hstack([w, z]))
            return d if np.ndim(idx) > 1 else d[:, 0]

        def swapped(s, axis=-1):
            keep, swap = swap_weights(s)
            d = res.scores(np.hstack([swap, keep])) - res.scores(np.hstack([keep, swap]))
            return d if np.ndim(s) > 1 else d[:, 0]

        ones = np.ones((1, J))
        obs_a = res.scores(np.hstack([ones, zero]))[:, 0]
        obs_b = res.scores(np.hstack([zero, ones]))[:, 0]
        return ids, delta, swapped, {m: (obs_a[i], obs_b[i]) for i, m in enumerate(metrics)}

    t0 = time.perf_counter()
    for label in labels:
        ids, delta, swapped, observed = paired_stats(base_label, label)
        _vector_comparison(comp, metrics, len(ids), len(ids), dataset, delta, observed, label, settings, swapped)
        # per-image best F (the OIS point of each image), A vs B
        fa = np.array([_best_f(counts[base_label][i]) for i in ids])
        fb = np.array([_best_f(counts[label][i]) for i in ids])
        comp.scatter[label] = {dataset: (fa, fb)}
    comp.scatter_label = "per-image best F (OIS point)"
    comp.seconds["vs_baseline"] = time.perf_counter() - t0
    for i in range(len(all_labels)):
        for j in range(i + 1, len(all_labels)):
            ids, delta, swapped, _ = paired_stats(all_labels[i], all_labels[j])
            boot = stats.bootstrap_intervals(delta, [len(ids)], settings.n_resamples, settings.seed, (0.95,),
                                             "percentile")
            p = stats.swap_permutation_test(swapped, len(ids), settings.n_permutations, settings.seed, n_outputs=3)[0]
            comp.pairs.append({"a": all_labels[i], "b": all_labels[j], "metric": "ODS", "dataset": dataset,
                               "delta": float(np.asarray(boot.estimate)[0]),
                               "ci95": [float(np.asarray(boot.intervals["95"][0])[0]),
                                        float(np.asarray(boot.intervals["95"][1])[0])], "p": p, "p_holm": None})
    _pairs_holm(comp.pairs)
    return comp


def _best_f(c) -> float:
    from sambench.metrics.bsds import collect_results

    return float(collect_results([c]).image_best[0][3])


def compare_evaluated(runs: List[RunInfo], base: RunInfo, labels: List[str], base_label: str,
                      settings: Settings) -> Comparison:
    """Instances (mask AP) and proposals (mask AR@K) through the official evaluators."""
    from sambench.metrics import coco_eval
    from sambench.metrics.resample import EvaluatorResampler
    from sambench.tasks.instances import annotation_file_of

    task = base.config["task"]
    entry = base.config["datasets"][0]
    gt = coco_eval.GroundTruth(annotation_file_of(entry))
    all_runs, all_labels = [base] + runs, [base_label] + labels
    K = int(base.config["protocol"].get("max_proposals", 1000)) if task == "proposals" else None
    if task == "instances":
        metrics = ["AP", "AP50", "AP75", "APs", "APm", "APl"] + (["APr", "APc", "APf"] if gt.format == "lvis" else [])
        headline = "AP"
    else:
        metrics = [f"AR@{K}", "AR_s", "AR_m", "AR_l"]
        headline = f"AR@{K}"
    inputs = {label: _evaluator_inputs(r, gt, task) for r, label in zip(all_runs, all_labels)}
    common = sorted(set.intersection(*[set(ids) for _, ids in inputs.values()]))
    comp = Comparison(task, all_labels, base_label, metrics, headline, [entry["name"]])
    for label, (_, ids) in inputs.items():
        if len(ids) != len(common):
            comp.notes.append(f"{label}: {len(ids)} images evaluated, {len(common)} in common with every run")
    evaluators, t0 = {}, time.perf_counter()
    for label, (results, ids) in inputs.items():
        ev = (coco_eval.mask_ap(gt, results, img_ids=common, return_evaluator=True) if task == "instances" else
              coco_eval.proposal_recall(gt, results, K, img_ids=common, return_evaluator=True))
        if "evaluator_object" not in ev:
            raise ValueError(f"{label}: no masks to evaluate; nothing to compare")
        evaluators[label] = ev["evaluator_object"]
    comp.seconds["evaluate"] = time.perf_counter() - t0
    names = _evaluator_metric_names(gt, task, K)
    _check_against_summaries(all_runs, all_labels, evaluators, names, metrics, common, inputs, task, K)

    def paired(la: str, lb: str):
        res = EvaluatorResampler([evaluators[la], evaluators[lb]], names if gt.format == "coco" else ())
        keys = [_evaluator_key(m, gt.format, K) for m in metrics]

        def delta(idx, axis=-1):
            idx2 = np.atleast_2d(idx)
            d = _nan_undefined(res.resampled(1, idx2, keys)) - _nan_undefined(res.resampled(0, idx2, keys))
            return d if np.ndim(idx) > 1 else d[:, 0]

        def swapped(s, axis=-1):
            return res.swapped(0, 1, np.atleast_2d(s), keys)

        observed_a = res.metrics([(0, i) for i in range(res.n_images)])
        observed_b = res.metrics([(1, i) for i in range(res.n_images)])
        observed = {m: (observed_a[k], observed_b[k]) for m, k in zip(metrics, keys)}
        return res, delta, swapped, observed

    t0 = time.perf_counter()
    for label in labels:
        res, delta, swapped, observed = paired(base_label, label)
        _vector_comparison(comp, metrics, res.n_images, res.n_images, entry["name"], delta, observed, label, settings,
                           swapped)
    n_calls = 2 * (settings.n_resamples + settings.n_permutations) * max(1, len(labels))
    comp.seconds["vs_baseline"] = time.perf_counter() - t0
    comp.seconds["per_evaluator_call"] = comp.seconds["vs_baseline"] / max(1, n_calls)
    for i in range(len(all_labels)):
        for j in range(i + 1, len(all_labels)):
            if i == 0:  # the baseline pairs are the rows above
                r = next(r for r in comp.rows if r["run"] == all_labels[j] and r["metric"] == headline)
                comp.pairs.append({"a": all_labels[i], "b": all_labels[j], "metric": headline, "dataset": entry["name"],
                                   "delta": r["delta"], "ci95": [r["ci95_low"], r["ci95_high"]], "p": r["p"],
                                   "p_holm": None})
                continue
            res, delta, swapped, _ = paired(all_labels[i], all_labels[j])
            boot = stats.bootstrap_intervals(delta, [res.n_images], settings.n_resamples, settings.seed, (0.95,),
                                             "percentile")
            p = stats.swap_permutation_test(swapped, res.n_images, settings.n_permutations, settings.seed,
                                            n_outputs=len(metrics))[0]
            comp.pairs.append({"a": all_labels[i], "b": all_labels[j], "metric": headline, "dataset": entry["name"],
                               "delta": float(np.asarray(boot.estimate)[0]),
                               "ci95": [float(np.asarray(boot.intervals["95"][0])[0]),
                                        float(np.asarray(boot.intervals["95"][1])[0])], "p": p, "p_holm": None})
    _pairs_holm(comp.pairs)
    if task == "instances" and all(r.summary.get("mode") == "gt-boxes" for r in all_runs):
        for label in labels:
            a = _gt_box_ious(base)
            b = _gt_box_ious(runs[labels.index(label)])
            pair = a.merge(b, on=["image_id", "instance_id"], suffixes=("_a", "_b"))
            comp.scatter[label] = {entry["name"]: (pair["iou_a"].to_numpy(), pair["iou_b"].to_numpy())}
        comp.scatter_label = "box-prompted IoU, per ground-truth box"
    return comp


def _gt_box_ious(run: RunInfo) -> pd.DataFrame:
    rec = RunFolder(run.path).load_records()
    rec = rec[rec["status"].astype(str) == "ok"]
    return rec[["image_id", "instance_id"]].assign(iou=rec["iou"].astype(float).to_numpy())


def _evaluator_inputs(run: RunInfo, gt, task: str) -> Tuple[List[dict], List]:
    """(COCO results, evaluated image ids of the json) of a run, as its summary evaluated them."""
    from sambench.metrics import coco_eval

    folder = RunFolder(run.path)
    done = folder.load_done()
    name = run.config["datasets"][0]["name"]
    processed = [d["image_id"] for d in done if d["dataset"] == name and d.get("status") == "ok"]
    ids = sorted({gt.image_ids[i] for i in processed if i in gt.image_ids})
    if task == "instances":
        path = run.path / "coco_results.json"
        if not path.is_file():  # written when the run is summarised
            summarize_run(task_from_config(run.config), run.path)
        results = coco_eval.read_json(path, "COCO results json")
        return results, ids
    rec = folder.load_records()
    props = rec[(rec["dataset"] == name) & (rec["kind"] == "proposal")]
    results = [{"image_id": gt.image_ids[str(r.image_id)], "category_id": 1,
                "segmentation": coco_eval.rle_from_field(r.rle), "score": float(r.score)}
               for r in props.itertuples(index=False)]
    return results, ids


def _evaluator_metric_names(gt, task: str, K: Optional[int]) -> List[str]:
    from sambench.metrics.coco_eval import COCO_STAT_NAMES

    if task == "proposals" and gt.format == "coco":  # stats[8:12] are AR and ARs/m/l at maxDets K
        names = list(COCO_STAT_NAMES)
        names[8:12] = [f"AR@{K}", "AR_s", "AR_m", "AR_l"]
        names[6:8] = ["_ar1", "_ar10"]
        return names
    return list(COCO_STAT_NAMES)


def _evaluator_key(metric: str, fmt: str, K: Optional[int]) -> str:
    """The evaluator's own name of a compared metric."""
    if fmt == "lvis" and K is not None:
        return {f"AR@{K}": f"AR@{K}", "AR_s": f"ARs@{K}", "AR_m": f"ARm@{K}", "AR_l": f"ARl@{K}"}[metric]
    return metric


def _check_against_summaries(runs, labels, evaluators, names, metrics, common, inputs, task, K) -> None:
    """The evaluators here must reproduce each complete run's summary (same results, same images)."""
    from sambench.metrics.resample import EvaluatorResampler

    for run, label in zip(runs, labels):
        if len(inputs[label][1]) != len(common):
            continue
        fmt = "lvis" if hasattr(evaluators[label], "eval_imgs") else "coco"
        res = EvaluatorResampler([evaluators[label]], names if fmt == "coco" else ())
        got = res.metrics([(0, i) for i in range(res.n_images)])
        key = metrics[0]
        want = run.summary.get(key) if task == "instances" else run.summary.get(f"AR@{K}")
        have = got[_evaluator_key(key, fmt, K)]
        if want is not None and abs(float(want) - float(have)) > 1e-9:
            raise ValueError(f"{run.path}: re-evaluating its records gives {key}={have:.6f}, its summary.json says "
                             f"{float(want):.6f}; re-summarise the run (sambench report {run.path}) and compare again")


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------

COMPARERS = {"point": compare_point, "edges": compare_edges, "instances": compare_evaluated,
             "proposals": compare_evaluated}


def run_compare(run_paths: Sequence[Path], out: Path, baseline: Optional[Path] = None,
                n_resamples: Optional[int] = None, n_permutations: Optional[int] = None, seed: int = 0,
                ci_method: str = "percentile", test: str = "permutation", html: bool = False,
                gallery: int = 4) -> Path:
    """Compare runs (each against the baseline, and all pairs); write tables, plots and compare.json.

    Arguments:
      run_paths: run folders (the first is the baseline unless ``baseline`` is given).
      out: output folder.
      n_resamples: bootstrap resamples (default per task: DEFAULT_RESAMPLES); n_permutations: swap
        patterns of the permutation test (default n_resamples).
      seed, ci_method, test: see ``sambench.metrics.stats``.
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
    settings = Settings(n_res, n_res if n_permutations is None else int(n_permutations), int(seed), ci_method, test)
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

    write_report([r.path for r, _ in others], out, baseline=base.path)  # the runs' own tables and plots
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
