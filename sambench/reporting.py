"""Writing report pieces: a run as a report sees it, tables (Markdown, CSV, LaTeX) and plots (PNG).

Core: each task module builds its report sections from these (``Task.report``); the application's
reporter (``sambench.app.report``) decides which runs go together and where a report is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

import pandas as pd


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


def unique_labels(runs: Sequence[RunInfo]) -> List[str]:
    """Run labels, with the folder name added where two runs share a model label."""
    labels = [r.label for r in runs]
    return [f"{l} [{r.path.name}]" if labels.count(l) > 1 else l for l, r in zip(labels, runs)]


def write_table(frame: pd.DataFrame, out_dir: Path, name: str, caption: str = "", float_format: str = "{:.3f}") -> Path:
    """Write ``frame`` as tables/NAME.md, .csv and .tex; returns the Markdown path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_dir / f"{name}.csv", index=False)
    fmt = frame.copy()
    for c in fmt.columns:  # a missing or undefined value (None, NaN: e.g. an evaluator's -1) shows as "-"
        if pd.api.types.is_float_dtype(fmt[c]):
            fmt[c] = fmt[c].map(lambda v: "-" if pd.isna(v) else float_format.format(v))
        else:
            fmt[c] = fmt[c].map(lambda v: "-" if v is None or (isinstance(v, float) and pd.isna(v)) else v)
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


def slug(text: str) -> str:
    """``text`` with every character but letters, digits, '-' and '_' replaced by '_' (a file name)."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text).strip("_")
