"""``sambench compare`` for tasks scored by an aggregate metric: edges (BSDS), instances and proposals.

The delta statistic of a resample (images drawn with replacement) or of a swap pattern (A and B
exchanged image by image) is recomputed by the task's own scoring: the BSDS benchmark from the
per-image counts in the records (``BoundaryResampler``), or the official evaluator's
``accumulate()`` / ``summarize()`` on its per-image results (``EvaluatorResampler``; pycocotools
for COCO-format, LVISEval for LVIS-format annotation files). One evaluator resample costs about
one ``accumulate()`` of the run's images, so ``seconds.per_evaluator_call`` is recorded.
"""

from __future__ import annotations

import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from sambench.app.compare_core import Comparison, Settings, make_row, pairs_holm
from sambench.app.store import RunFolder
from sambench.app.summary import summarize_run, task_from_config
from sambench.metrics import stats
from sambench.reporting import RunInfo

def _vector_comparison(comp: Comparison, metrics: List[str], n_images: int, n_units: int, dataset: str,
                       delta_stat, observed: Dict[str, Tuple[float, float]], label: str, settings: Settings,
                       swap_stat) -> None:
    """Rows for one run vs the baseline from a vector-valued delta statistic over image indices."""
    method = settings.ci_method
    if method == "BCa" and comp.task in ("instances", "proposals", "text-instances"):
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
        comp.rows.append(make_row(label, dataset, m, a, b, np.asarray(boot.estimate).reshape(-1)[i], boot.intervals,
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
    pairs_holm(comp.pairs)
    return comp


def _best_f(c) -> float:
    from sambench.metrics.bsds import collect_results

    return float(collect_results([c]).image_best[0][3])


def compare_evaluated(runs: List[RunInfo], base: RunInfo, labels: List[str], base_label: str,
                      settings: Settings) -> Comparison:
    """Instances (mask AP) and proposals (mask AR@K) through the official evaluators."""
    from sambench.metrics import coco_eval
    from sambench.metrics.resample import EvaluatorResampler, faster_coco_evaluate
    from sambench.tasks.instances import annotation_file_of

    task = base.config["task"]
    entry = base.config["datasets"][0]
    gt = coco_eval.GroundTruth(annotation_file_of(entry))
    all_runs, all_labels = [base] + runs, [base_label] + labels
    K = int(base.config["protocol"].get("max_proposals", 1000)) if task == "proposals" else None
    if task != "proposals":  # instances, text-instances: mask AP
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
    faster = gt.format == "coco" and settings.evaluator == "faster-coco-eval"
    comp.evaluator = "faster-coco-eval" if faster else gt.evaluator
    evaluators, t0 = {}, time.perf_counter()
    for label, (results, ids) in inputs.items():
        if not results:
            raise ValueError(f"{label}: no masks to evaluate; nothing to compare")
        if faster:  # the same per-image evaluation in C++, checked against the run's pycocotools summary below
            evaluators[label] = faster_coco_evaluate(gt.data, results, common, use_cats=task != "proposals",
                                                     max_dets=None if task != "proposals" else [K, K, K])
            continue
        ev = (coco_eval.mask_ap(gt, results, img_ids=common, return_evaluator=True) if task != "proposals" else
              coco_eval.proposal_recall(gt, results, K, img_ids=common, return_evaluator=True))
        if "evaluator_object" not in ev:
            raise ValueError(f"{label}: no masks to evaluate; nothing to compare")
        evaluators[label] = ev["evaluator_object"]
    comp.seconds["evaluate"] = time.perf_counter() - t0
    names = _evaluator_metric_names(gt, task, K)
    _check_against_summaries(all_runs, all_labels, evaluators, names, metrics, common, inputs, task, K)

    def paired(la: str, lb: str):
        res = EvaluatorResampler([evaluators[la], evaluators[lb]], names)
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
    pairs_holm(comp.pairs)
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
    if task != "proposals":  # instances, text-instances: the results json their summary evaluated
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
        res = EvaluatorResampler([evaluators[label]], names)
        fmt = "lvis" if res.kind == "lvis" else "coco"
        got = res.metrics([(0, i) for i in range(res.n_images)])
        for key in metrics:
            want, have = run.summary.get(key), got.get(_evaluator_key(key, fmt, K))
            if want is None or have is None:
                continue
            if abs(float(want) - float(have)) > 1e-9:
                hint = " (or pass --evaluator pycocotools)" if res.kind == "faster" else ""
                raise ValueError(f"{run.path}: re-evaluating its records gives {key}={have:.6f}, its summary.json "
                                 f"says {float(want):.6f}; re-summarise the run (sambench report {run.path}) and "
                                 f"compare again{hint}")
