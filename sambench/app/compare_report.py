"""Tables and plots of a comparison (``sambench compare``): Table 8 layout, Fig. 9a-style bars.

Tables (Markdown, CSV, LaTeX, via ``sambench.reporting.write_table``):

* ``compare_table8_<metric>`` -- the layout of the SAM paper's Table 8 (per dataset: the delta of
  each run against the baseline, its 95 % and 99 % bootstrap intervals and the Holm-adjusted p),
  one table per metric (point task: per click count and oracle@1) or one table with a row per
  metric (edges, instances, proposals). Deltas in points (x100), B minus A.
* ``compare_deltas`` -- every number of every row, unformatted (fractions).
* ``compare_pairs`` -- the all-pairs significance matrix of the headline metric.

Plots: per-dataset delta bars with 95 % whiskers (Fig. 9a style), mIoU vs clicks with 95 % bands
and the delta vs clicks (point task), per-mask scatter of A vs B (per dataset too).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from sambench.reporting import RunInfo, save_plot, slug, write_table

MEAN_ROW = "mean over datasets"


def fmt_delta(v: Optional[float]) -> str:
    """A delta in points (x100) with its sign, '' when undefined."""
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:+.2f}"


def fmt_ci(lo: Optional[float], hi: Optional[float]) -> str:
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "n/a"
    return f"[{100 * lo:+.2f}, {100 * hi:+.2f}]"


def fmt_p(p: Optional[float]) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return f"{p:.3g}"


def table8(comp, metric_rows: bool, metric: Optional[str] = None) -> pd.DataFrame:
    """The Table 8 layout: rows datasets (or metrics), columns per compared run."""
    runs = [l for l in comp.labels if l != comp.baseline]
    rows = [r for r in comp.rows if metric is None or r["metric"] == metric]
    keys = list(dict.fromkeys((r["metric"] if metric_rows else r["dataset"]) for r in rows))
    out = []
    for key in keys:
        line: Dict[str, object] = {"metric" if metric_rows else "dataset": key}
        first = True
        for run in runs:
            r = next((x for x in rows if x["run"] == run and (x["metric"] if metric_rows else x["dataset"]) == key), None)
            if r is None:
                continue
            if first:
                line["images"] = r["n_images"]
                if not metric_rows:
                    line["masks"] = r["n_masks"]
                line[f"{comp.baseline} (baseline)"] = f"{100 * r['baseline']:.2f}"
                first = False
            prefix = f"{run}: " if len(runs) > 1 else ""
            line[f"{prefix}value"] = f"{100 * r['value']:.2f}"
            line[f"{prefix}delta"] = fmt_delta(r["delta"])
            line[f"{prefix}95% CI"] = fmt_ci(r["ci95_low"], r["ci95_high"])
            line[f"{prefix}99% CI"] = fmt_ci(r["ci99_low"], r["ci99_high"])
            p = r["p_holm"] if r["p_holm"] is not None else r["p"]
            line[f"{prefix}p" + (" (Holm)" if r["p_holm"] is not None else "")] = fmt_p(p)
        out.append(line)
    return pd.DataFrame(out)


def pairs_matrix(comp) -> pd.DataFrame:
    """Rows A, columns B: delta (B minus A, points) and the Holm-adjusted p over all pairs."""
    labels = comp.labels
    frame = pd.DataFrame("", index=labels, columns=labels)
    for p in comp.pairs:
        adj = p["p_holm"] if p["p_holm"] is not None else p["p"]
        star = "*" if adj is not None and not math.isnan(adj) and adj < 0.05 else ""
        frame.loc[p["a"], p["b"]] = f"{fmt_delta(p['delta'])}{star} (p={fmt_p(adj)})"
        frame.loc[p["b"], p["a"]] = f"{fmt_delta(-p['delta'])}{star} (p={fmt_p(adj)})"
    for l in labels:
        frame.loc[l, l] = "-"
    frame.insert(0, "row minus column", labels)
    return frame.reset_index(drop=True)


def write_comparison(comp, infos: Sequence[RunInfo], labels: Sequence[str], base_label: str, settings,
                     out: Path) -> Path:
    """Write compare.md with its tables and plots under ``out``; returns compare.md's path."""
    tables = out / "tables"
    s = settings
    lines = [f"# sambench comparison: {comp.task}", ""]
    for r, l in zip(infos, labels):
        fp = r.config["model"]
        lines.append(f"- **{l}**{' (baseline)' if l == base_label else ''}: `{r.path}`, {r.checkpoint}, "
                     f"weights {fp.get('weights', '?')}")
        lines += [f"  - {s}: not the full manifest a complete run evaluates" for s in r.subsets()]
    lines += ["", f"Deltas are B minus A (each run minus the baseline **{base_label}**), in points (x100). "
                  f"Intervals: {s.ci_method} bootstrap over images ({s.n_resamples} resamples, seed {s.seed}); "
                  f"p: paired {'permutation test, A and B swapped per image' if s.test == 'permutation' else 'Wilcoxon signed-rank test of per-image mean deltas'}"
                  f" ({s.n_permutations} swap patterns or all of them when fewer), two-sided, Holm-adjusted across "
                  f"datasets{' (the mean over datasets is one test, not adjusted)' if len(comp.datasets) > 1 else ''}.",
              ""]
    if any(r.config["model"].get("weights") not in (None, "trained") for r in infos):
        lines += ["Runs marked (untrained), (weight-free) or (oracle) are not trained checkpoints.", ""]
    if comp.evaluator:
        lines += [f"Evaluator: {comp.evaluator} (each resample and swap pattern runs its accumulate() and summarize() "
                  f"on its own per-image results; at the full image set it reproduces each run's summary, checked).", ""]
    if comp.notes:
        lines += ["**Notes:**"] + [f"- {n}" for n in comp.notes] + [""]
    if comp.seconds:
        lines += ["Time: " + ", ".join(f"{k} {v:.3g} s" for k, v in comp.seconds.items()), ""]

    metric_rows = comp.task not in ("point", "referring")  # those: a table per metric, a row per dataset
    if metric_rows:
        frame = table8(comp, True)
        write_table(frame, tables, "compare_table8", caption=f"Table 8 layout: {comp.task} metrics, each run minus "
                    f"{base_label} (points), bootstrap intervals over images, paired test")
        lines += ["## Deltas against the baseline (Table 8 layout)", "", (tables / "compare_table8.md").read_text(), ""]
    else:
        for m in comp.metrics:
            frame = table8(comp, False, m)
            if not len(frame):
                continue
            name = f"compare_table8_{slug(m)}"
            write_table(frame, tables, name, caption=f"Table 8 layout: {m}, each run minus {base_label} (IoU points), "
                        f"bootstrap intervals over images, paired test with Holm across datasets")
            lines += [f"## {m}: deltas against the baseline (Table 8 layout)", "", (tables / f"{name}.md").read_text(), ""]
    long = pd.DataFrame(comp.rows)
    write_table(long, tables, "compare_deltas", caption="Every delta (fractions, not points), intervals and p-values",
                float_format="{:.6g}")
    if comp.pairs:
        write_table(pairs_matrix(comp), tables, "compare_pairs",
                    caption=f"All pairs, {comp.headline}"
                            f"{' (mean over datasets)' if len(comp.datasets) > 1 else ''}: row minus column (points), "
                            f"p Holm-adjusted over the {len(comp.pairs)} pairs; * p < 0.05")
        lines += ["## All pairs", "", (tables / "compare_pairs.md").read_text(), ""]
    lines += ["## Plots", ""] + write_plots(comp, out)
    (out / "compare.md").write_text("\n".join(lines) + "\n")
    return out / "compare.md"


def write_plots(comp, out: Path) -> List[str]:
    """The comparison's plots under out/plots; returns their Markdown lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: List[str] = []
    runs = [l for l in comp.labels if l != comp.baseline]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    # Fig. 9a style: per-dataset (or per-metric) delta bars with 95 % whiskers
    metric = comp.headline
    per_dataset = comp.task in ("point", "referring")
    rows = [r for r in comp.rows if (r["metric"] == metric if per_dataset else True)]
    key = "dataset" if per_dataset else "metric"
    cats = list(dict.fromkeys(r[key] for r in rows))
    first = {r[key]: r["delta"] for r in rows if r["run"] == runs[0]} if runs else {}
    cats.sort(key=lambda c: (c == MEAN_ROW, -(first.get(c) or 0)))
    if cats:
        height = 0.8 / max(1, len(runs))
        fig, ax = plt.subplots(figsize=(7, 0.45 * len(cats) * max(1, len(runs)) ** 0.5 + 1.6))
        for j, run in enumerate(runs):
            ys, xs, lo, hi = [], [], [], []
            for i, c in enumerate(cats):
                r = next((x for x in rows if x["run"] == run and x[key] == c), None)
                if r is None:
                    continue
                ys.append(i + (j - (len(runs) - 1) / 2) * height)
                xs.append(100 * r["delta"])
                lo.append(100 * (r["delta"] - r["ci95_low"]) if not math.isnan(r["ci95_low"]) else 0)
                hi.append(100 * (r["ci95_high"] - r["delta"]) if not math.isnan(r["ci95_high"]) else 0)
            ax.barh(ys, xs, height=height, color=colors[comp.labels.index(run) % len(colors)], label=f"{run} - {comp.baseline}",
                    xerr=[lo, hi], error_kw={"ecolor": "k", "capsize": 2, "lw": 0.8})
        ax.set_yticks(range(len(cats)))
        ax.set_yticklabels(cats, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel(f"delta {metric if per_dataset else ''} (points), 95% bootstrap interval over images")
        ax.set_title(f"{comp.task}: each run minus the baseline {comp.baseline}", fontsize=9)
        ax.legend(fontsize=7)
        lines += save_plot(fig, out, "compare_delta_bars.png", "deltas with 95% intervals")

    if comp.task == "point" and comp.curves:
        clicks = [m for m in comp.metrics if m.startswith("mIoU@")]
        ks = [int(m.split("@")[1]) for m in clicks]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for j, label in enumerate(comp.labels):
            c = comp.curves.get(label, {})
            v = [c[m]["value"] if m in c else np.nan for m in clicks]
            lo = [c[m]["ci95"][0] if m in c else np.nan for m in clicks]
            hi = [c[m]["ci95"][1] if m in c else np.nan for m in clicks]
            col = colors[j % len(colors)]
            axes[0].plot(ks, v, marker="o", color=col, label=label + (" (baseline)" if label == comp.baseline else ""))
            axes[0].fill_between(ks, lo, hi, color=col, alpha=0.2)
        for ax in axes:
            ax.set_xticks(ks)
        axes[0].set_xlabel("number of points")
        axes[0].set_ylabel("mIoU" + (" (mean over datasets)" if len(comp.datasets) > 1 else ""))
        axes[0].set_ylim(0, 1)
        axes[0].set_title("mIoU vs points, 95% bands (image bootstrap)", fontsize=9)
        axes[0].legend(fontsize=7)
        target = MEAN_ROW if len(comp.datasets) > 1 else comp.datasets[0]
        for j, run in enumerate(runs):
            rs = [next((r for r in comp.rows if r["run"] == run and r["metric"] == m and r["dataset"] == target), None)
                  for m in clicks]
            d = [100 * r["delta"] if r else np.nan for r in rs]
            lo = [100 * r["ci95_low"] if r else np.nan for r in rs]
            hi = [100 * r["ci95_high"] if r else np.nan for r in rs]
            col = colors[(comp.labels.index(run)) % len(colors)]
            axes[1].plot(ks, d, marker="o", color=col, label=f"{run} - {comp.baseline}")
            axes[1].fill_between(ks, lo, hi, color=col, alpha=0.2)
        axes[1].axhline(0, color="k", lw=0.8)
        axes[1].set_xlabel("number of points")
        axes[1].set_ylabel("delta mIoU (points)")
        axes[1].set_title(f"delta vs points ({target}), 95% bands", fontsize=9)
        axes[1].legend(fontsize=7)
        lines += save_plot(fig, out, "compare_miou_vs_clicks.png", "mIoU vs clicks with intervals")

    if comp.scatter:
        lines += _scatter(plt, comp, runs, out, None, "compare_scatter.png")
        if len(comp.datasets) > 1:
            for name in comp.datasets:
                _scatter(plt, comp, runs, out, name, f"compare_scatter_{slug(name)}.png")
    return lines


def _scatter(plt, comp, runs, out: Path, dataset: Optional[str], name: str) -> List[str]:
    panels = [r for r in runs if r in comp.scatter]
    if not panels:
        return []
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    for ax, run in zip(axes[0], panels):
        for k, (ds, (a, b)) in enumerate(comp.scatter[run].items()):
            if dataset is not None and ds != dataset:
                continue
            ax.scatter(a, b, s=8, alpha=0.6, label=f"{ds} ({len(a)})")
        ax.plot([0, 1], [0, 1], color="k", lw=0.8)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.set_xlabel(f"{comp.baseline} (baseline)", fontsize=8)
        ax.set_ylabel(run, fontsize=8)
        ax.set_title(comp.scatter_label + (f", {dataset}" if dataset else ""), fontsize=8)
        ax.legend(fontsize=6, loc="lower right")
    return save_plot(fig, out, name, "per-mask scatter")
