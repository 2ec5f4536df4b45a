"""Reports of the text-to-mask tasks (``referring``, ``text-instances``): tables laid out like the
referring-segmentation papers (rows: model route; columns: dataset/split), detail tables, the
precision-vs-IoU-threshold plot, AP tables for category prompts. Values are x100, as papers print.

Published rows: ``results/reference`` holds no referring-segmentation or open-vocabulary
instance-segmentation numbers yet, so none are shown (the report says so); nothing is invented.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from sambench.metrics.referring import precision_key
from sambench.published import percent
from sambench.reporting import RunInfo, save_plot, unique_labels, write_table

DATASET_TITLES = {"refcoco": "RefCOCO", "refcoco+": "RefCOCO+", "refcocog": "RefCOCOg"}
DATASET_ORDER = ("refcoco", "refcoco+", "refcocog")
NO_PUBLISHED = ("No published rows: results/reference holds no text-to-mask numbers yet (add them there, "
                "labelled with their source, to show them beside these).")


def route_label(run: RunInfo, label: str) -> str:
    """A table row's name: the model (its route) and the mode."""
    s = run.summary
    if s.get("mode") == "gt-boxes":
        return f"{label} [ground-truth boxes]"
    return label


def _columns(runs: List[RunInfo]) -> List[tuple]:
    seen = []
    for r in runs:
        for name, d in r.summary.get("datasets", {}).items():
            for split in d.get("splits", {}):
                if (name, split) not in seen:
                    seen.append((name, split))
    order = lambda ds: (DATASET_ORDER.index(ds[0]) if ds[0] in DATASET_ORDER else len(DATASET_ORDER), ds[0])  # noqa: E731
    return sorted(seen, key=lambda c: order(c))  # stable: splits keep the summary's order


def _col_name(name: str, split: str) -> str:
    suffix = " (U)" if name == "refcocog" else ""
    return f"{DATASET_TITLES.get(name, name)} {split}{suffix}"


def report_referring(runs: List[RunInfo], base: Optional[RunInfo], out: Path) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    all_runs = runs + ([base] if base else [])
    labels = [route_label(r, l) for r, l in zip(all_runs, unique_labels(all_runs))]
    cols = _columns(all_runs)
    sections: List[str] = []
    for metric, title in (("miou", "mIoU"), ("ciou", "cIoU")):
        rows = []
        for run, label in zip(all_runs, labels):
            row = {"route": label}
            for name, split in cols:
                m = run.summary.get("datasets", {}).get(name, {}).get("splits", {}).get(split, {})
                row[_col_name(name, split)] = percent(m.get(metric))
            rows.append(row)
        table = pd.DataFrame(rows, columns=["route"] + [_col_name(*c) for c in cols])
        write_table(table, out / "tables", f"referring_{metric}", float_format="{:.2f}",
                    caption=f"{title} (x100) per dataset and split; rows are model routes. {NO_PUBLISHED}")
        sections += [f"## Referring segmentation: {title}", "", (out / "tables" / f"referring_{metric}.md").read_text(), ""]

    detail, curves = [], []
    for run, label in zip(all_runs, labels):
        for name, split in cols:
            m = run.summary.get("datasets", {}).get(name, {}).get("splits", {}).get(split)
            if not m:
                continue
            thresholds = run.summary.get("protocol", {}).get("thresholds") or [0.5, 0.6, 0.7, 0.8, 0.9]
            d = {"route": label, "dataset": name, "split": split, "n": m.get("n_expressions"),
                 "mIoU": percent(m.get("miou")), "cIoU": percent(m.get("ciou"))}
            for t in thresholds:
                d[f"P@{t:g}"] = percent(m.get(precision_key(t)))
            d["box Acc@0.5"] = percent(m.get("box_acc@0.5"))
            d["no mask"] = m.get("n_no_mask")
            d["skipped"] = m.get("n_expressions_skipped")
            detail.append(d)
            curves.append((f"{label}: {_col_name(name, split)}", thresholds,
                           [percent(m.get(precision_key(t))) for t in thresholds]))
    write_table(pd.DataFrame(detail), out / "tables", "referring_detail", float_format="{:.2f}",
                caption="Per route, dataset and split: mIoU, cIoU, Precision@X, box accuracy (x100), expressions "
                        "answered with no mask, expressions skipped")
    sections += ["## Per dataset and split", "", (out / "tables" / "referring_detail.md").read_text(), ""]

    if curves:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for name, ts, ps in curves:
            ax.plot(ts, [np.nan if p is None else p for p in ps], marker="o", label=name)
        ax.set_xlabel("IoU threshold X")
        ax.set_ylabel("Precision@X (%)")
        ax.set_ylim(0, 100)
        ax.set_title("Referring segmentation: precision vs IoU threshold")
        ax.legend(fontsize=6)
        sections += save_plot(fig, out, "referring_precision.png", "precision vs IoU threshold")

    worst = []
    for run, label in zip(all_runs, labels):
        for w in (run.summary.get("worst") or [])[:10]:
            worst.append({"route": label, "dataset": w["dataset"], "split": w["split"], "image": w["image_id"],
                          "expression": w["expression"], "IoU": 100.0 * w["iou"]})
    if worst:
        write_table(pd.DataFrame(worst), out / "tables", "referring_worst", float_format="{:.1f}",
                    caption="Lowest-IoU expressions (records hold each one's predicted and ground-truth RLE and "
                            "image file for a gallery)")
        sections += ["## Worst expressions", "", (out / "tables" / "referring_worst.md").read_text(), ""]
    return sections


AP_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
LVIS_KEYS = ("APr", "APc", "APf")


def report_text_instances(runs: List[RunInfo], base: Optional[RunInfo], out: Path) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    all_runs = runs + ([base] if base else [])
    rows: Dict[str, Dict] = {}
    for run, label in zip(all_runs, unique_labels(all_runs)):
        s = run.summary
        prefix = "LVIS" if s.get("annotation_format") == "lvis" else "COCO"
        row = rows.setdefault(label, {"route": label})
        for k in AP_KEYS + (LVIS_KEYS if prefix == "LVIS" else ()):
            row[f"{prefix} {k}"] = percent(s.get(k))
    columns = ["route"] + [f"COCO {k}" for k in AP_KEYS] + [f"LVIS {k}" for k in AP_KEYS + LVIS_KEYS]
    table = pd.DataFrame(list(rows.values()), columns=columns).dropna(axis=1, how="all")
    write_table(table, out / "tables", "text_instances_ap", float_format="{:.1f}",
                caption="Mask AP (x100) with category names as prompts (pycocotools on COCO, LVISEval on LVIS); "
                        f"rows are model routes. {NO_PUBLISHED}")
    sections = ["## Category names as prompts: mask AP", "", (out / "tables" / "text_instances_ap.md").read_text(), ""]
    detail = []
    for run, label in zip(all_runs, unique_labels(all_runs)):
        s, p = run.summary, run.summary.get("protocol", {})
        detail.append({"route": label, "dataset": s.get("dataset"), "evaluator": s.get("evaluator"),
                       "template": p.get("template"), "cleaning": ",".join(p.get("name_cleaning") or []) or "none",
                       "names": p.get("category_names"), "LVIS prompts": p.get("lvis_prompts"),
                       "max/image": s.get("max_per_image"), "images": s.get("n_images"), "masks": s.get("n_masks")})
    write_table(pd.DataFrame(detail), out / "tables", "text_instances_detail",
                caption="Prompting options and counts per run")
    sections += ["## Prompts per run", "", (out / "tables" / "text_instances_detail.md").read_text(), ""]
    bars = [(label, k, v) for label, r in rows.items() for k, v in r.items() if k != "route" and v is not None]
    if bars:
        names = list(rows)
        keys = [c for c in table.columns if c != "route"]
        fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(keys) * max(1, len(names)) + 2), 4))
        width = 0.8 / max(1, len(names))
        for j, name in enumerate(names):
            vals = [rows[name].get(k) for k in keys]
            ax.bar(np.arange(len(keys)) + j * width, [np.nan if v is None else v for v in vals], width, label=name)
        ax.set_xticks(np.arange(len(keys)) + 0.4 - width / 2)
        ax.set_xticklabels(keys, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("mask AP (x100)")
        ax.set_title("Category names as prompts")
        ax.legend(fontsize=7)
        sections += save_plot(fig, out, "text_instances_ap.png", "AP with category-name prompts")
    return sections
