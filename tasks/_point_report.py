"""Report of the point task (SAM paper §7.1): per-dataset tables, the side-by-side table of several
runs with deltas, the paper's Fig. 9a per-dataset deltas beside measured ones, mIoU vs points, and the
measured mean beside the published 23-dataset means with what differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import pandas as pd

from sambench.published import (fewer_masks_than_the_paper, published_point_deltas, published_point_means,
                                published_settings)
from sambench.reporting import (PUBLISHED_COLORS, RunInfo, count, delta_formats, labels_with_baseline, run_colors, save_plot,
                                side_by_side, slug, write_table)


def report_point(runs: List[RunInfo], base: Optional[RunInfo], out: Path) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    everything = list(runs) + ([base] if base is not None else [])
    all_labels = labels_with_baseline(runs, base)
    labels = all_labels[:len(runs)]
    colors = run_colors(all_labels)
    sections: List[str] = []
    long_rows = []
    for run, label in zip(everything, all_labels):  # the baseline gets its own table too
        s = run.summary
        points = [str(k) for k in run.config["protocol"]["points"]]
        rows = []
        for name, d in s["datasets"].items():
            row = {"dataset": name, "n_masks": d["n_masks"], "n_skipped": d["n_skipped"]}
            row.update({f"mIoU@{k}": d["miou"].get(k) for k in points})
            row["oracle@1"] = d["miou_oracle"].get("1")
            if "noc" in d:
                row.update({f"NoC@{t}": v for t, v in d["noc"].items()})
            rows.append(row)
        if len(rows) > 1:
            mean = {"dataset": "mean over datasets", "n_masks": sum(r["n_masks"] for r in rows),
                    "n_skipped": sum(r["n_skipped"] for r in rows)}
            mean.update({f"mIoU@{k}": s["mean_miou"].get(k) for k in points})
            mean["oracle@1"] = s["mean_miou_oracle"].get("1")
            rows.append(mean)
        frame = pd.DataFrame(rows)
        name = f"point_miou_{slug(label.split(' (incomplete')[0])}"
        caption = f"Point prompts, mIoU, {label}" + "".join(f"; {c}" for c in run.subsets())
        write_table(frame, out / "tables", name, caption=caption)
        sections += [f"## {label}", "", (out / "tables" / f"{name}.md").read_text(), ""]
    for run, label in zip(everything, all_labels):
        long_rows += _long_rows_for(run, label)

    if len(everything) > 1:
        sections += _side_by_side(everything, all_labels, base is not None, out)
    sections += _versus_published(everything, all_labels, out)

    # comparison at 1 point against the baseline run (Fig. 9a style)
    if base is not None:
        base_label = all_labels[-1]
        delta_rows = []
        for run, label in zip(runs, labels):
            for name, d in run.summary["datasets"].items():
                b = base.summary["datasets"].get(name)
                if b and "1" in d["miou"] and "1" in b["miou"]:
                    delta_rows.append({"run": label, "dataset": name, "mIoU@1": d["miou"]["1"],
                                       "baseline mIoU@1": b["miou"]["1"], "delta": d["miou"]["1"] - b["miou"]["1"]})
        if delta_rows:
            delta = pd.DataFrame(delta_rows)
            write_table(delta, out / "tables", "point_delta_vs_baseline", formats={"delta": "{:+.3f}"},
                        caption=f"IoU at 1 centre point, minus {base_label}")
            sections += [f"## Delta at 1 point against {base_label}", "",
                         (out / "tables" / "point_delta_vs_baseline.md").read_text(), ""]
            ref = published_point_deltas().rename(columns={"abbrev": "dataset"})
            ncols = 2 if len(ref) else 1
            fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 0.3 * max(len(delta), len(ref)) + 1.5))
            axes = [axes] if ncols == 1 else axes
            d_sorted = delta.sort_values("delta", ascending=False).assign(delta_points=lambda f: 100 * f["delta"])
            sns.barplot(data=d_sorted, y="dataset", x="delta_points", hue="run", ax=axes[0], orient="h", saturation=1,
                        palette={l: colors[l] for l in labels})
            axes[0].axvline(0, color="k", lw=0.8)
            axes[0].set_title(f"measured: IoU delta at 1 point vs {base_label}", fontsize=9)
            axes[0].set_xlabel("IoU delta (points), per dataset")
            if ncols == 2:
                r_sorted = ref.sort_values("delta_iou_sam_minus_ritm_1pt", ascending=False)
                sns.barplot(data=r_sorted, y="dataset", x="delta_iou_sam_minus_ritm_1pt", ax=axes[1], orient="h",
                            color="0.6")
                axes[1].axvline(0, color="k", lw=0.8)
                axes[1].set_title("published (SAM paper Fig. 9a): SAM - RITM, 23 datasets\n"
                                  "other models and datasets than the measured panel", fontsize=9)
                axes[1].set_xlabel("IoU delta (points)")
            sections += save_plot(fig, out, "point_delta_per_dataset.png", "per-dataset delta")

    # mIoU vs number of points (Fig. 9c/9d style): per run, the mean over its datasets
    if long_rows:
        frame = pd.DataFrame(long_rows)
        mean = frame.groupby(["run", "points", "mask"], as_index=False, sort=False)["mIoU"].mean()
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        default = mean[mean["mask"] == "default"]
        for label in all_labels:
            sel = default[default["run"] == label]
            if len(sel):
                ax.plot(sel["points"], sel["mIoU"], marker="o", color=colors[label], label=label)
            orc = mean[(mean["mask"] == "oracle") & (mean["run"] == label)]
            if len(orc):
                ax.scatter(orc["points"], orc["mIoU"], marker="*", s=120, color=colors[label], edgecolor="k", zorder=5)
        if (mean["mask"] == "oracle").any():
            ax.scatter([], [], marker="*", s=120, color="w", edgecolor="k", label="oracle mask @1 (run's colour)")
        n_sets = {len(r.summary["datasets"]) for r in everything}
        names = sorted({n for r in everything for n in r.summary["datasets"]})
        full_suite = min(n_sets) >= int(published_settings("point")["datasets"])
        if full_suite:  # published means are over the 23 datasets: drawn only beside a 23-dataset run
            for i, r in enumerate(published_point_means().itertuples(index=False)):
                ax.plot([1, 5], [r.miou_1 / 100, r.miou_5 / 100], ls="none", marker="x", markersize=9,
                        color=PUBLISHED_COLORS[i % len(PUBLISHED_COLORS)],
                        label=f"{r.method} (published, 23-dataset mean)")
        ax.set_xticks(sorted(set(frame["points"]) | ({1, 5} if full_suite else set())))
        ax.set_xlabel("number of points")
        ax.set_ylabel(f"mIoU over the masks of {names[0]}" if len(names) == 1 and n_sets == {1}
                      else "mIoU: mean over masks per dataset,\nthen over " + " / ".join(str(n) for n in sorted(n_sets))
                      + " datasets")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)
        ax.set_title("mIoU vs number of points" + ("" if full_suite else
                     "\n(published 23-dataset means not drawn: see point_vs_published)"), fontsize=9)
        sections += save_plot(fig, out, "point_miou_vs_points.png", "mIoU vs points")
        if not full_suite:
            sections += [f"Published 23-dataset means are not drawn in this plot: the runs evaluate "
                         f"{' / '.join(str(n) for n in sorted(n_sets))} "
                         f"dataset{'s' if max(n_sets) != 1 else ''}; they are in the table "
                         f"point_vs_published with what differs.", ""]
    return sections


def _fewer_masks_than_the_paper(run: RunInfo) -> List[str]:
    """"bbbc038: 1,669 masks in the manifest (the paper sampled 10,506)" for each dataset whose whole
    manifest (before any --limit-images subset) holds under 90% of the masks the paper sampled (Table 7):
    a partial copy or another split. The paper's own sampling (about 10k masks) is not flagged."""
    out = []
    for d in run.config.get("datasets", []):
        paper, full = d.get("paper_masks"), (d.get("subset_of") or d).get("n_masks")
        if fewer_masks_than_the_paper(full, paper):
            out.append(f"{d['name']}: {full:,} masks in the manifest (the paper sampled {paper:,})")
    return out


def run_caveats(run: RunInfo) -> List[str]:
    """What a run's numbers are not: incomplete, a subset of the manifest."""
    return ([run.incomplete] if run.incomplete else []) + run.subsets()


def _side_by_side(runs: List[RunInfo], labels: List[str], has_base: bool, out: Path) -> List[str]:
    """One table, a column per run, a delta column per run against the baseline (else the first run)."""
    values: Dict[str, Dict[str, float]] = {}
    order: List[str] = []
    for run, label in zip(runs, labels):
        vals = values.setdefault(label, {})
        sets = list(run.summary["datasets"].items())
        if len(sets) > 1:
            sets.append(("mean", {"miou": run.summary.get("mean_miou", {}),
                                  "miou_oracle": run.summary.get("mean_miou_oracle", {})}))
        for name, d in sets:
            keys = [(f"{name} mIoU@{k}", v) for k, v in sorted(d["miou"].items(), key=lambda kv: int(kv[0]))]
            keys += [(f"{name} oracle@1", d["miou_oracle"].get("1"))]
            keys += [(f"{name} NoC@{t}", v) for t, v in (d.get("noc") or {}).items()]
            for key, v in keys:
                vals[key] = v
                if key not in order:
                    order.append(key)
    order = sorted(order, key=lambda k: (k.startswith("mean "), order.index(k)))
    reference = labels[-1] if has_base else labels[0]
    frame = side_by_side(values, order, reference, row_name="dataset / metric")
    write_table(frame, out / "tables", "point_side_by_side", formats=delta_formats(frame),
                caption=f"Point prompts, mIoU side by side at every click count; Δ = run minus {reference}"
                        + "".join(f"; {l}: {c}" for r, l in zip(runs, labels) for c in r.subsets()))
    return ["## Side by side", "", (out / "tables" / "point_side_by_side.md").read_text(), ""]


def _versus_published(runs: List[RunInfo], labels: List[str], out: Path) -> List[str]:
    """Measured mean mIoU at 1 and 5 points beside the published 23-dataset means, saying what differs."""
    settings = published_settings("point")
    rows = []
    for run, label in zip(runs, labels):
        s = run.summary
        names = list(s["datasets"])
        mean = s.get("mean_miou", {})
        differs = []
        if len(names) != int(settings["datasets"]):
            differs.append(f"{len(names)} dataset{'s' if len(names) != 1 else ''} ({', '.join(names)}) vs the "
                           f"{settings['datasets']}-dataset mean")
        protocol = run.config.get("protocol", {})
        if protocol.get("first_point", "center") != settings["first_point"]:
            differs.append(f"first point {protocol.get('first_point')} (published: {settings['first_point']})")
        if bool(protocol.get("mask_input")) != (settings["mask_input"] == "True"):
            differs.append("mask input fed back (published: none)")
        differs += _fewer_masks_than_the_paper(run) + run_caveats(run)
        sizes = ", ".join(f"{n}: {count(d.get('n_images'), 'image')}, {count(d.get('n_masks'), 'mask')}"
                          for n, d in s["datasets"].items())
        rows.append({"method": label, "mIoU@1": _pct(mean.get("1")), "mIoU@5": _pct(mean.get("5")),
                     "measured on": f"mean over {len(names)} dataset{'s' if len(names) != 1 else ''} ({sizes})",
                     "differs from published": "; ".join(differs) or "-"})
    for r in published_point_means().itertuples(index=False):
        rows.append({"method": f"{r.method} (published)", "mIoU@1": float(r.miou_1), "mIoU@5": float(r.miou_5),
                     "measured on": f"mean over the {settings['datasets']} datasets ({r.source})",
                     "differs from published": ""})
    frame = pd.DataFrame(rows, columns=["method", "mIoU@1", "mIoU@5", "measured on", "differs from published"])
    write_table(frame, out / "tables", "point_vs_published", float_format="{:.1f}",
                caption="Point prompts: measured mean mIoU (x100) beside the published 23-dataset means; "
                        "the last column says what differs")
    return ["## Measured and published", "", (out / "tables" / "point_vs_published.md").read_text(), ""]


def _pct(v) -> Optional[float]:
    return None if v is None else 100.0 * float(v)


def _long_rows_for(run: RunInfo, label: str) -> List[Dict]:
    rows = []
    for name, d in run.summary["datasets"].items():
        for k, v in d["miou"].items():
            rows.append({"run": label, "dataset": name, "points": int(k), "mIoU": v, "mask": "default"})
        if "1" in d.get("miou_oracle", {}):
            rows.append({"run": label, "dataset": name, "points": 1, "mIoU": d["miou_oracle"]["1"], "mask": "oracle"})
    return rows
