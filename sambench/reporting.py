"""Writing report pieces: a run as a report sees it, tables (Markdown, CSV, LaTeX) and plots (PNG).

Core: each task module builds its report sections from these (``Task.report``); the application's
reporter (``sambench.app.report``) decides which runs go together and where a report is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pandas as pd


@dataclass
class RunInfo:
    """One run folder as the reporter sees it."""

    path: Path
    config: dict
    summary: dict

    @property
    def label(self) -> str:
        """The model's label (untrained, weight-free and oracle models say so)."""
        return self.config["model"].get("label") or self.config["model"].get("name", "?")

    @property
    def incomplete(self) -> Optional[str]:
        """"incomplete: N of M images" while the run has not finished its manifests, else None."""
        return self.summary.get("incomplete")

    @property
    def checkpoint(self) -> str:
        """"checkpoint sha256 `HEX`", or what the model has instead of a checkpoint file."""
        model = self.config["model"]
        digest = model.get("checkpoint_sha256")
        if digest:
            return f"checkpoint sha256 `{digest}`"
        return f"no checkpoint ({model.get('weights') or 'weights not recorded'})"

    def subsets(self) -> List[str]:
        """"coco subset: 20 of 79 images (...)" for each dataset evaluated on a user's subset."""
        return [f"{d['name']} {describe_subset(d['subset_of'], d.get('n_images'))}"
                for d in self.config.get("datasets", []) if d.get("subset_of")]


def count(n: Optional[int], noun: str) -> str:
    """"1 image", "79 images", "1,669 masks" ("?" for an unknown count)."""
    if n is None:
        return f"? {noun}s"
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def fmt_score(v: Optional[float], digits: int = 3) -> str:
    """An AP/AR-style score for a headline: "-" where it is undefined (None, or the official evaluators'
    -1 for "no ground truth in this range"), never a number."""
    return "-" if v is None or v < 0 else f"{v:.{digits}f}"


def describe_subset(subset_of: Optional[dict], n_images: Optional[int]) -> Optional[str]:
    """One phrase for a manifest's ``subset_of``: "subset: 20 of 79 images (--limit-images, seed 0)"."""
    if not subset_of:
        return None
    how = (f"--limit-images, seed {subset_of.get('seed')}" if subset_of.get("selection") == "limit-images"
           else f"--image-ids {Path(subset_of['file']).name}" if subset_of.get("file") else "chosen ids")
    return f"subset: {n_images} of {subset_of.get('n_images')} images ({how})"


def unique_labels(runs: Sequence[RunInfo]) -> List[str]:
    """Display labels of runs: the model label, the folder name where two runs share a model label,
    and "(incomplete: N of M images)" for a run that has not finished (so every table and plot says so)."""
    labels = [r.label for r in runs]
    out = [f"{l} [{r.path.name}]" if labels.count(l) > 1 else l for l, r in zip(labels, runs)]
    return [f"{l} ({r.incomplete})" if r.incomplete else l for l, r in zip(out, runs)]


# one colour per run, the same in every plot of a report (runs in order, then the baseline);
# published series are drawn in greys with their own markers
RUN_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
PUBLISHED_COLORS = ["0.25", "0.45", "0.6", "0.75"]


def run_colors(labels: Sequence[str]) -> Dict[str, str]:
    """Label -> colour for the runs of one report, in order (a model keeps its colour across plots)."""
    return {label: RUN_PALETTE[i % len(RUN_PALETTE)] for i, label in enumerate(labels)}


def labels_with_baseline(runs: Sequence[RunInfo], base: Optional[RunInfo]) -> List[str]:
    """``unique_labels`` of the runs and, last, of the baseline run marked "(baseline)"."""
    labels = unique_labels(list(runs) + ([base] if base is not None else []))
    if base is not None:
        labels[-1] = labels[-1] + " (baseline)"
    return labels


def write_table(frame: pd.DataFrame, out_dir: Path, name: str, caption: str = "", float_format: str = "{:.3f}",
                formats: Optional[Dict[str, str]] = None) -> Path:
    """Write ``frame`` as tables/NAME.md, .csv and .tex; returns the Markdown path.

    Markdown: the caption, then a pipe table with numeric columns right-aligned. CSV: the raw values.
    LaTeX: a ``table`` float with the caption and a booktabs ``tabular`` (numeric columns right-aligned;
    needs ``\\usepackage{booktabs}``).

    Arguments:
      float_format: format of float cells; ``formats`` overrides it per column (e.g. "{:+.3f}" for deltas).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_dir / f"{name}.csv", index=False)
    fmt = frame.copy()
    numeric = [pd.api.types.is_numeric_dtype(fmt[c]) and not pd.api.types.is_bool_dtype(fmt[c]) for c in fmt.columns]
    for c in fmt.columns:  # a missing or undefined value (None, NaN: e.g. an evaluator's -1) shows as "-"
        f = (formats or {}).get(c, float_format)
        if pd.api.types.is_float_dtype(fmt[c]):
            fmt[c] = fmt[c].map(lambda v, f=f: "-" if pd.isna(v) else f.format(v))
        else:
            fmt[c] = fmt[c].map(lambda v: "-" if v is None or (isinstance(v, float) and pd.isna(v)) else v)
    header = "| " + " | ".join(str(c) for c in fmt.columns) + " |"
    sep = "|" + "|".join("---:" if num else "---" for num in numeric) + "|"
    lines = [header, sep] + ["| " + " | ".join(str(v) for v in row) + " |" for row in fmt.itertuples(index=False)]
    md = (f"{caption}\n\n" if caption else "") + "\n".join(lines) + "\n"
    (out_dir / f"{name}.md").write_text(md)
    tex_cols = "".join("r" if num else "l" for num in numeric)
    tex = ["\\begin{table}[t]", "\\centering"]
    if caption:
        tex.append("\\caption{" + _tex(caption) + "}")
    tex += ["\\label{tab:" + name.replace("_", "-") + "}", "\\begin{tabular}{" + tex_cols + "}", "\\toprule",
            " & ".join(map(_tex, fmt.columns)) + " \\\\", "\\midrule"]
    tex += [" & ".join(_tex(v) for v in row) + " \\\\" for row in fmt.itertuples(index=False)]
    tex += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    (out_dir / f"{name}.tex").write_text("\n".join(tex) + "\n")
    return out_dir / f"{name}.md"


def side_by_side(values: Dict[str, Dict[str, Optional[float]]], rows: Sequence[str], reference: str,
                 row_name: str = "metric") -> pd.DataFrame:
    """One column per run and, for every other run, a delta column against ``reference``, at every row.

    Arguments:
      values: run label -> {row key -> value (None where the run has no such number)}, runs in column order.
      rows: the row keys in order (e.g. "coco mIoU@1", ..., "coco mIoU@9").
      reference: the label the deltas are taken against (the baseline run, else the first run).
    Returns:
      a frame: ``row_name``, then one column per run, then "Δ <run>" (the run minus ``reference``) per other run.
    """
    labels = list(values)
    frame = pd.DataFrame({row_name: list(rows)})
    for label in labels:
        frame[label] = [_num(values[label].get(r)) for r in rows]
    for label in labels:
        if label == reference:
            continue
        frame[f"Δ {label}"] = [
            (a - b) if a is not None and b is not None else None
            for a, b in ((_num(values[label].get(r)), _num(values[reference].get(r))) for r in rows)]
    for c in frame.columns[1:]:
        frame[c] = frame[c].astype(float)
    return frame


def delta_formats(frame: pd.DataFrame, digits: int = 3) -> Dict[str, str]:
    """Signed formats for the delta columns of a ``side_by_side`` frame."""
    return {c: f"{{:+.{digits}f}}" for c in frame.columns if str(c).startswith("Δ ")}


def _num(v) -> Optional[float]:
    try:
        return None if v is None or pd.isna(v) else float(v)
    except (TypeError, ValueError):
        return None


def save_plot(fig, out: Path, name: str, alt: str) -> List[str]:
    """Save ``fig`` as out/plots/NAME (PNG), close it; returns the report's Markdown lines for it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    (out / "plots").mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "plots" / name, dpi=120)
    plt.close(fig)
    return [f"![{alt}](plots/{name})", ""]


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "Δ": r"$\Delta$", "−": "$-$", "±": r"$\pm$", "×": r"$\times$"}


def _tex(v) -> str:
    """``v`` as LaTeX text (special characters escaped, one pass)."""
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(v))


def slug(text: str) -> str:
    """``text`` with every character but letters, digits, '-' and '_' replaced by '_' (a file name)."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text).strip("_")
