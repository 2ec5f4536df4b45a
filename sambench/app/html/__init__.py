"""The HTML report: a self-contained folder that opens from disk (no server, nothing fetched).

``write_html(runs, base, out, comparison=None)`` writes, beside the Markdown report in ``out``:

    index.html            the report (report.md) and the comparison (compare.md), with every table and plot
    runs.html             each run's config: model fingerprint, checkpoint SHA-256, versions, device,
                          protocol, datasets and manifest checksums, command line
    dataset-<name>.html   one page per dataset: each run's numbers, the comparison rows, the scatter
                          plot and the gallery of that dataset
    gallery.html          every dataset's gallery on one page
    assets/style.css, gallery/<dataset>/*.png (thumbnails; ``sambench.app.html.gallery``)

Pages are rendered from jinja2 templates (package data ``sambench/app/html/templates``); the
Markdown sections are converted with markdown-it-py (raw HTML in them is escaped). All links are
relative, so the folder can be zipped, moved or opened with ``file://``.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Dict, Optional, Sequence

from sambench.reporting import RunInfo, slug, unique_labels

TEMPLATES = Path(__file__).parent / "templates"


def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    env.filters["num"] = _num
    env.filters["delta"] = lambda v: "" if _bad(v) else f"{100 * v:+.2f}"
    env.filters["ci"] = lambda pair: "n/a" if pair is None or any(_bad(x) for x in pair) else \
        f"[{100 * pair[0]:+.2f}, {100 * pair[1]:+.2f}]"
    env.filters["pval"] = lambda v: "n/a" if _bad(v) else f"{v:.3g}"
    env.filters["pretty"] = lambda v: json.dumps(v, indent=1, default=str)
    env.filters["slug"] = slug
    return env


def _bad(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _num(v, digits: int = 3) -> str:
    if _bad(v):
        return ""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return str(v) if isinstance(v, int) else f"{v:.{digits}f}"


def markdown_html(text: str) -> str:
    """Markdown (headings, tables, lists, images) to an HTML fragment; raw HTML is escaped."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def dataset_metrics(run: RunInfo) -> Dict[str, Dict[str, object]]:
    """Per dataset, the run's headline numbers from its summary (what the dataset page shows)."""
    s = run.summary
    task = run.config["task"]
    if task == "point":
        out = {}
        for name, d in s.get("datasets", {}).items():
            row: Dict[str, object] = {"masks": d.get("n_masks"), "skipped": d.get("n_skipped")}
            row.update({f"mIoU@{k}": v for k, v in d.get("miou", {}).items()})
            row["oracle@1"] = d.get("miou_oracle", {}).get("1")
            row.update({f"NoC@{k}": v for k, v in (d.get("noc") or {}).items()})
            out[name] = row
        return out
    if task == "referring":
        from sambench.app.compare_referring import referring_rows

        return referring_rows(run)
    name = s.get("dataset") or run.config["datasets"][0]["name"]
    if task == "edges":
        keys = ["ods", "ois", "ap", "r50", "n_images", "n_skipped"]
    elif task in ("instances", "text-instances"):
        keys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "mIoU", "n_images", "n_masks"]
    elif task == "proposals":
        K = s.get("max_proposals", 1000)
        keys = [f"AR@{K}", "AR_s", "AR_m", "AR_l", "AR_f", "AR_c", "AR_r", "n_images", "n_gt"]
    else:
        keys = [k for k, v in s.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {name: {k: s.get(k) for k in keys if k in s}}


def write_html(runs: Sequence[RunInfo], base: Optional[RunInfo], out: Path, comparison=None, gallery: int = 4) -> Path:
    """Write the HTML report into ``out`` (see module docstring); returns index.html's path.

    Arguments:
      runs: the runs of the report (for a comparison: the runs compared with ``base``).
      base: the baseline run, or None.
      out: the report folder (already holding report.md / compare.md, tables/ and plots/).
      comparison: a ``sambench.app.compare.Comparison`` (rows, pairs) to show, or None.
      gallery: worst and best items per dataset (0: no gallery).
    """
    from sambench.app.html.gallery import build_galleries

    out = Path(out)
    all_runs = ([base] if base is not None else []) + list(runs)
    labels = unique_labels(all_runs)
    label_of = {id(r): l for r, l in zip(all_runs, labels)}
    base_label = label_of[id(base)] if base is not None else None
    (out / "assets").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATES / "style.css", out / "assets" / "style.css")
    if (out / "gallery").is_dir():
        shutil.rmtree(out / "gallery")
    task = all_runs[0].config["task"]
    if comparison is not None and task in ("point", "referring") and base is not None:
        galleries = build_galleries(list(runs), [label_of[id(r)] for r in runs], out, gallery,
                                    base=(base, base_label))
    else:
        galleries = build_galleries(all_runs, labels, out, gallery)

    datasets = list(dict.fromkeys(d["name"] for r in all_runs for d in r.config["datasets"]))
    pages = [{"name": d, "href": f"dataset-{slug(d)}.html"} for d in datasets]
    env = _env()
    common = {"task": task, "datasets": pages, "has_gallery": bool(galleries), "labels": labels,
              "base_label": base_label, "incomplete": [l for r, l in zip(all_runs, labels) if _incomplete(r)]}
    sections = []
    if comparison is not None and (out / "compare.md").is_file():
        sections.append({"id": "comparison", "title": "Comparison", "html": markdown_html(_body((out / "compare.md").read_text()))})
    if (out / "report.md").is_file():
        sections.append({"id": "report", "title": "Report", "html": markdown_html(_body((out / "report.md").read_text()))})
    referenced = "".join(s["html"] for s in sections)
    extra_plots = sorted(p.name for p in (out / "plots").glob("*.png")) if (out / "plots").is_dir() else []
    extra_plots = [p for p in extra_plots if f"plots/{p}" not in referenced]
    runs_info = [{"label": l, "run": r, "baseline": l == base_label, "metrics": dataset_metrics(r)}
                 for r, l in zip(all_runs, labels)]
    _write(out / "index.html", env.get_template("index.html.j2").render(
        page="index", title=f"sambench {'comparison' if comparison is not None else 'report'}: {task}",
        sections=sections, extra_plots=extra_plots, runs=runs_info, **common))
    _write(out / "runs.html", env.get_template("runs.html.j2").render(page="runs", title="Run configurations",
                                                                         runs=runs_info, **common))
    for d in datasets:
        rows = [r for r in (comparison.rows if comparison is not None else [])
                if r["dataset"] == d or r["dataset"].startswith(d + " ")]  # referring: "refcoco val", ...
        scatter = None
        for candidate in (f"compare_scatter_{slug(d)}.png", "compare_scatter.png"):
            if (out / "plots" / candidate).is_file():
                scatter = f"plots/{candidate}"
                break
        metrics = [(x["label"], x["metrics"].get(d)) for x in runs_info if x["metrics"].get(d)]
        columns = list(dict.fromkeys(k for _, m in metrics for k in m))
        _write(out / f"dataset-{slug(d)}.html", env.get_template("dataset.html.j2").render(
            page=f"dataset-{slug(d)}", title=f"Dataset {d}", dataset=d, metrics=metrics, columns=columns,
            rows=rows, scatter=scatter, galleries=[g for g in galleries if g.dataset == d], **common))
    if galleries:
        _write(out / "gallery.html", env.get_template("gallery.html.j2").render(
            page="gallery", title="Gallery: worst and best of each dataset", galleries=galleries, **common))
    return out / "index.html"


def _body(markdown: str) -> str:
    """A Markdown report without its first-level title (the page has its own)."""
    lines = markdown.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines)


def _incomplete(run: RunInfo) -> bool:
    s = run.summary
    return bool(s.get("incomplete")) or s.get("complete") is False


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
