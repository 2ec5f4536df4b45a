"""``sambench compare`` for referring-expression segmentation (RefCOCO/+/g): mIoU, cIoU, Precision@X.

Runs are paired per expression (dataset, split, image, ref, sentence) among the expressions both
runs scored (an expression answered with no mask counts IoU 0, as in the run's own summary). Each
(dataset, split) is one row group, the images its resampling unit:

* mIoU and Precision@X are means over expressions: the per-expression difference (IoU, or the
  indicator IoU >= X) goes through ``stats.clustered_mean_delta`` (image bootstrap, paired test);
* cIoU is a ratio of sums (sum of intersections / sum of unions): its delta is recomputed on each
  resample from the drawn images' sums, and the permutation test swaps an image's (intersection,
  union) between the runs.

Holm's correction runs across the (dataset, split) groups of each metric.
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np
import pandas as pd

from sambench.app.compare_core import MEAN_ROW, Comparison, Settings, apply_holm, make_row, pairs_holm
from sambench.app.store import RunFolder
from sambench.metrics import stats
from sambench.reporting import RunInfo

KEYS = ["dataset", "split", "image_id", "ref_id", "sent_id"]


def _scored(run: RunInfo) -> pd.DataFrame:
    rec = RunFolder(run.path).load_records()
    rec = rec[rec["status"].isin(["ok", "no mask"])]
    out = rec[KEYS].astype(str)
    return out.assign(i=rec["intersection"].astype(float).to_numpy(), u=rec["union"].astype(float).to_numpy())


def _ciou(pair: pd.DataFrame, settings: Settings):
    """(estimate, intervals, p) of the cIoU delta, images resampled / swapped."""
    g = pair.groupby("image_id", sort=False)[["i_a", "u_a", "i_b", "u_b"]].sum()
    ia, ua, ib, ub = (g[c].to_numpy() for c in ("i_a", "u_a", "i_b", "u_b"))

    def delta(idx, axis=-1):
        return ib[idx].sum(axis) / ub[idx].sum(axis) - ia[idx].sum(axis) / ua[idx].sum(axis)

    def swapped(s, axis=-1):
        j, keep = np.abs(s) - 1, s > 0
        a_i, a_u = np.where(keep, ia[j], ib[j]).sum(axis), np.where(keep, ua[j], ub[j]).sum(axis)
        b_i, b_u = np.where(keep, ib[j], ia[j]).sum(axis), np.where(keep, ub[j], ua[j]).sum(axis)
        return b_i / b_u - a_i / a_u

    boot = stats.bootstrap_intervals(delta, [len(g)], settings.n_resamples, settings.seed, settings.levels,
                                     settings.ci_method)
    p = stats.swap_permutation_test(swapped, len(g), settings.n_permutations, settings.seed)
    return boot.estimate, boot.intervals, p, len(g)


def compare_referring(runs: List[RunInfo], base: RunInfo, labels: List[str], base_label: str,
                      settings: Settings) -> Comparison:
    thresholds = [float(t) for t in base.config["protocol"].get("thresholds", [0.5, 0.6, 0.7, 0.8, 0.9])]
    metrics = ["mIoU", "cIoU"] + [f"P@{t:g}" for t in thresholds]
    all_runs, all_labels = [base] + runs, [base_label] + labels
    scored = {label: _scored(r) for r, label in zip(all_runs, all_labels)}
    groups = list(dict.fromkeys(zip(scored[base_label]["dataset"], scored[base_label]["split"])))
    names = [f"{d} {s}" for d, s in groups]
    comp = Comparison("referring", all_labels, base_label, metrics, "mIoU", names)

    def paired(la: str, lb: str, d: str, s: str) -> pd.DataFrame:
        a, b = scored[la], scored[lb]
        a, b = a[(a["dataset"] == d) & (a["split"] == s)], b[(b["dataset"] == d) & (b["split"] == s)]
        pair = a.merge(b, on=KEYS, suffixes=("_a", "_b"))
        note = f"{lb} vs {la}, {d} {s}: {len(pair)} paired expressions ({len(b)} and {len(a)} scored)"
        if (len(pair) != len(a) or len(pair) != len(b)) and note not in comp.notes:
            comp.notes.append(note)
        return pair.assign(iou_a=pair["i_a"] / pair["u_a"], iou_b=pair["i_b"] / pair["u_b"])

    for label in labels:
        comp.scatter[label] = {}
        for (d, s), name in zip(groups, names):
            pair = paired(base_label, label, d, s)
            if not len(pair):
                continue
            img = pair["image_id"].to_numpy()
            for m in metrics:
                if m == "cIoU":
                    est, intervals, p, n_img = _ciou(pair, settings)
                    a_val = pair["i_a"].sum() / pair["u_a"].sum()
                    b_val = pair["i_b"].sum() / pair["u_b"].sum()
                    comp.rows.append(make_row(label, name, m, a_val, b_val, est, intervals, p, n_img, len(pair)))
                    continue
                if m == "mIoU":
                    va, vb = pair["iou_a"].to_numpy(), pair["iou_b"].to_numpy()
                else:
                    t = float(m.split("@")[1])
                    va, vb = (pair["iou_a"] >= t).to_numpy(float), (pair["iou_b"] >= t).to_numpy(float)
                est = stats.clustered_mean_delta(vb - va, img, settings.n_resamples, settings.seed, settings.levels,
                                                 settings.ci_method, settings.test, settings.n_permutations)
                comp.rows.append(make_row(label, name, m, va.mean(), vb.mean(), est.delta, est.intervals, est.p_value,
                                          est.n_images, est.n_masks))
            comp.scatter[label][name] = (pair["iou_a"].to_numpy(), pair["iou_b"].to_numpy())
    comp.scatter_label = "IoU per expression"
    apply_holm(comp.rows)

    for i in range(len(all_labels)):
        for j in range(i + 1, len(all_labels)):
            pairs = [paired(all_labels[i], all_labels[j], d, s) for d, s in groups]
            pairs = [p for p in pairs if len(p)]
            if not pairs:
                continue
            deltas = [(p["iou_b"] - p["iou_a"]).to_numpy() for p in pairs]
            clusters = [p["image_id"].to_numpy() for p in pairs]
            if len(pairs) == 1:
                est = stats.clustered_mean_delta(deltas[0], clusters[0], settings.n_resamples, settings.seed,
                                                 settings.levels, settings.ci_method, settings.test,
                                                 settings.n_permutations)
            else:
                est = stats.stratified_mean_delta(deltas, clusters, settings.n_resamples, settings.seed,
                                                  settings.levels, settings.ci_method, "permutation",
                                                  settings.n_permutations)
            comp.pairs.append({"a": all_labels[i], "b": all_labels[j], "metric": "mIoU",
                               "dataset": names[0] if len(pairs) == 1 else MEAN_ROW, "delta": est.delta,
                               "ci95": list(est.intervals["95"]), "p": est.p_value, "p_holm": None})
    pairs_holm(comp.pairs)
    return comp


def referring_rows(run: RunInfo) -> Dict[str, Dict[str, object]]:
    """Per dataset, the run's numbers per split (the HTML dataset page)."""
    out: Dict[str, Dict[str, object]] = {}
    for name, d in run.summary.get("datasets", {}).items():
        row: Dict[str, object] = {}
        for split, m in d.get("splits", {}).items():
            for key, col in (("miou", "mIoU"), ("ciou", "cIoU"), ("precision@0.5", "P@0.5"), ("n_expressions", "n")):
                row[f"{split} {col}"] = m.get(key)
        out[name] = row
    return out
