"""The reporter: tables (Markdown, CSV, LaTeX) and plots (PNG) derived from run folders alone.

``write_report(runs, out, baseline)`` reads each run's config and summary (re-deriving the
summary from the records when missing), checks that the runs are comparable (same task,
protocol and manifests; it says so in the report when they are not) and calls the task's report
builder from ``REPORTS``. Published numbers from the papers are always shown in rows or series
labelled "published".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import pandas as pd

from .published import published_point_deltas
from .registry import Registry
from .store import RunFolder

REPORTS: Registry = Registry("report")


@dataclass
class RunInfo:
    """One run folder as the reporter sees it."""

    path: Path
    config: dict
    summary: dict

    @property
    def label(self) -> str:
        """Model label plus, for several runs of one model, the folder name."""
        return self.config["model"].get("label") or self.config["model"].get("name", "?")


def load_run(path: Path) -> RunInfo:
    folder = RunFolder(path)
    config = folder.read_config()
    summary_path = Path(path) / "summary.json"
    if not summary_path.is_file():
        from tasks import TASKS  # noqa: F401  (registers tasks)
        from .runner import summarize_run
        from .cli import task_from_config

        summarize_run(task_from_config(config), Path(path))
    return RunInfo(Path(path), config, json.loads(summary_path.read_text()))


def comparability_notes(runs: Sequence[RunInfo]) -> List[str]:
    """Sentences naming what differs between runs that should be compared."""
    from .runner import comparable_keys

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


def unique_labels(runs: Sequence[RunInfo]) -> List[str]:
    labels = [r.label for r in runs]
    return [f"{l} [{r.path.name}]" if labels.count(l) > 1 else l for l, r in zip(labels, runs)]


def write_table(frame: pd.DataFrame, out_dir: Path, name: str, caption: str = "", float_format: str = "{:.3f}") -> Path:
    """Write ``frame`` as tables/NAME.md, .csv and .tex; returns the Markdown path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_dir / f"{name}.csv", index=False)
    fmt = frame.copy()
    for c in fmt.columns:
        if pd.api.types.is_float_dtype(fmt[c]):
            fmt[c] = fmt[c].map(lambda v: "" if pd.isna(v) else float_format.format(v))
    header = "| " + " | ".join(str(c) for c in fmt.columns) + " |"
    sep = "|" + "|".join("---" for _ in fmt.columns) + "|"
    lines = [header, sep] + ["| " + " | ".join(str(v) for v in row) + " |" for row in fmt.itertuples(index=False)]
    md = (f"{caption}\n\n" if caption else "") + "\n".join(lines) + "\n"
    (out_dir / f"{name}.md").write_text(md)
    tex_cols = "l" * len(fmt.columns)
    tex = ["\\begin{tabular}{" + tex_cols + "}", "\\hline", " & ".join(map(_tex, fmt.columns)) + " \\\\", "\\hline"]
    tex += [" & ".join(_tex(v) for v in row) + " \\\\" for row in fmt.itertuples(index=False)]
    tex += ["\\hline", "\\end{tabular}"]
    (out_dir / f"{name}.tex").write_text("\n".join(tex) + "\n")
    return out_dir / f"{name}.md"


def save_plot(fig, out: Path, name: str, alt: str) -> List[str]:
    """Save ``fig`` as out/plots/NAME (PNG), close it; returns the report's Markdown lines for it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    (out / "plots").mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "plots" / name, dpi=120)
    plt.close(fig)
    return [f"![{alt}](plots/{name})", ""]


def _tex(v) -> str:
    return str(v).replace("_", "\\_").replace("%", "\\%").replace("&", "\\&")


def write_report(run_paths: Sequence[Path], out: Path, baseline: Optional[Path] = None) -> Path:
    """Tables and plots for ``run_paths`` (and a ``baseline`` run to compare against) under ``out``.

    Returns:
      the path of the report's index (out/report.md).
    """
    runs = [load_run(Path(p)) for p in run_paths]
    base = load_run(Path(baseline)) if baseline else None
    tasks = {r.config["task"] for r in runs + ([base] if base else [])}
    if len(tasks) != 1:
        raise ValueError(f"cannot report runs of different tasks together: {sorted(tasks)}")
    task = tasks.pop()
    builder: Callable = REPORTS.get(task)
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
    return out / "report.md"


# ---------------------------------------------------------------------------------------------
# point task
# ---------------------------------------------------------------------------------------------

@REPORTS.register("point")
def report_point(runs: List[RunInfo], base: Optional[RunInfo], out: Path) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    labels = unique_labels(runs)
    sections: List[str] = []
    long_rows = []
    for run, label in zip(runs, labels):
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
            for k in points:
                if k in d["miou"]:
                    long_rows.append({"run": label, "dataset": name, "points": int(k), "mIoU": d["miou"][k], "mask": "default"})
            if "1" in d["miou_oracle"]:
                long_rows.append({"run": label, "dataset": name, "points": 1, "mIoU": d["miou_oracle"]["1"], "mask": "oracle"})
        if len(rows) > 1:
            mean = {"dataset": "mean over datasets", "n_masks": sum(r["n_masks"] for r in rows),
                    "n_skipped": sum(r["n_skipped"] for r in rows)}
            mean.update({f"mIoU@{k}": s["mean_miou"].get(k) for k in points})
            mean["oracle@1"] = s["mean_miou_oracle"].get("1")
            rows.append(mean)
        frame = pd.DataFrame(rows)
        name = f"point_miou_{_slug(label)}"
        write_table(frame, out / "tables", name, caption=f"Point prompts, mIoU, {label}")
        sections += [f"## {label}", "", (out / "tables" / f"{name}.md").read_text(), ""]

    # comparison at 1 point against the baseline run (Fig. 9a style)
    if base is not None:
        base_label = base.label + " (baseline)"
        delta_rows = []
        for run, label in zip(runs, labels):
            for name, d in run.summary["datasets"].items():
                b = base.summary["datasets"].get(name)
                if b and "1" in d["miou"] and "1" in b["miou"]:
                    delta_rows.append({"run": label, "dataset": name, "mIoU@1": d["miou"]["1"],
                                       "baseline mIoU@1": b["miou"]["1"], "delta": d["miou"]["1"] - b["miou"]["1"]})
        if delta_rows:
            delta = pd.DataFrame(delta_rows)
            write_table(delta, out / "tables", "point_delta_vs_baseline",
                        caption=f"IoU at 1 centre point, minus the baseline {base_label}")
            sections += [f"## Delta at 1 point against {base_label}", "",
                         (out / "tables" / "point_delta_vs_baseline.md").read_text(), ""]
            ref = published_point_deltas().rename(columns={"abbrev": "dataset"})
            ncols = 2 if len(ref) else 1
            fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 0.3 * max(len(delta), len(ref)) + 1.5))
            axes = [axes] if ncols == 1 else axes
            d_sorted = delta.sort_values("delta", ascending=False).assign(delta_points=lambda f: 100 * f["delta"])
            sns.barplot(data=d_sorted, y="dataset", x="delta_points", hue="run", ax=axes[0], orient="h")
            axes[0].axvline(0, color="k", lw=0.8)
            axes[0].set_title(f"measured: IoU delta at 1 point vs {base.label}", fontsize=9)
            axes[0].set_xlabel("IoU delta (points)")
            if ncols == 2:
                r_sorted = ref.sort_values("delta_iou_sam_minus_ritm_1pt", ascending=False)
                sns.barplot(data=r_sorted, y="dataset", x="delta_iou_sam_minus_ritm_1pt", ax=axes[1], orient="h",
                            color="0.6")
                axes[1].axvline(0, color="k", lw=0.8)
                axes[1].set_title("published (SAM paper Fig. 9a): SAM - RITM, 23 datasets", fontsize=9)
                axes[1].set_xlabel("IoU delta (points)")
            sections += save_plot(fig, out, "point_delta_per_dataset.png", "per-dataset delta")
        for row in _long_rows_for(base, base_label):
            long_rows.append(row)

    # mIoU vs number of points (Fig. 9c/9d style), mean over datasets
    if long_rows:
        frame = pd.DataFrame(long_rows)
        mean = frame.groupby(["run", "points", "mask"], as_index=False)["mIoU"].mean()
        fig, ax = plt.subplots(figsize=(6, 4))
        sns.lineplot(data=mean[mean["mask"] == "default"], x="points", y="mIoU", hue="run", marker="o", ax=ax)
        orc = mean[mean["mask"] == "oracle"]
        if len(orc):
            ax.scatter(orc["points"], orc["mIoU"], marker="*", s=120, c="k", label="oracle mask @1", zorder=5)
        pub = {"SAM ViT-H (published, SAM 2 paper)": (0.581, 0.813), "SAM ViT-B (published, SAM 2 paper)": (0.559, 0.809)}
        for name, (one, five) in pub.items():
            ax.plot([1, 5], [one, five], ls="none", marker="x", markersize=9, label=name)
        ax.set_xlabel("number of points")
        ax.set_ylabel("mIoU (mean over datasets)")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)
        ax.set_title("mIoU vs number of points (published: 23-dataset mean)")
        sections += save_plot(fig, out, "point_miou_vs_points.png", "mIoU vs points")
    return sections


def _long_rows_for(run: RunInfo, label: str) -> List[Dict]:
    rows = []
    for name, d in run.summary["datasets"].items():
        for k, v in d["miou"].items():
            rows.append({"run": label, "dataset": name, "points": int(k), "mIoU": v, "mask": "default"})
    return rows


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text).strip("_")
