"""Report of the instances task (SAM paper §7.4, Table 5): mask AP of each run, side by side with
deltas, beside the published Table 5 rows with what differs (images, boxes, evaluator).

Only a run on the data of a published column (COCO val2017 or LVIS v1 val, by the one rule of
``sambench.published.published_data``) is a row of the Table 5 layout; a run on other COCO- or
LVIS-format data is left out of it, named below it, and reported in the per-run table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from sambench.published import percent, published_data, published_rows, published_settings
from sambench.reporting import RunInfo, labels_with_baseline, save_plot, side_by_side, write_table


TABLE5_COLUMNS = ["method", "COCO AP", "COCO APs", "COCO APm", "COCO APl", "LVIS AP", "LVIS APs", "LVIS APm", "LVIS APl"]


def published_table5() -> List[Dict]:
    """Table 5 rows from results/reference (methods marked published), in this task's column names."""
    size = {"APS": "APs", "APM": "APm", "APL": "APl"}
    return [{" ".join(size.get(w, w) for w in k.split()): v for k, v in r.items()} for r in published_rows(5)]


TABLE5_GROUPS = ("COCO", "LVIS")


def table5_group(run: RunInfo) -> Optional[str]:
    """"COCO" or "LVIS" when the run's dataset is the data of that Table 5 column group, else None."""
    return published_data("5", (run.config.get("datasets") or [{}])[0], TABLE5_GROUPS)


def data_of(run: RunInfo) -> str:
    """What the run was measured on: "COCO val2017", or "other COCO-format data (coco)"."""
    group = table5_group(run)
    if group is not None:
        return published_settings("5")[f"{group} name"]
    fmt = "LVIS" if run.summary.get("annotation_format") == "lvis" else "COCO"
    return f"other {fmt}-format data ({run.summary.get('dataset')})"


def instances_differences(run: RunInfo) -> List[str]:
    """What a measured instances run differs in from the published Table 5 numbers (data, images, boxes, ...)."""
    pub = published_settings("5")
    s = run.summary
    group = table5_group(run)
    out = []
    if group is None:
        published = " and ".join(pub[f"{g} name"] for g in TABLE5_GROUPS)
        out.append(f"{data_of(run)}, {s.get('n_images')} images (published: {published})")
    elif s.get("n_images") is not None and s.get("n_images") != int(pub[f"{group} images"]):
        out.append(f"{s.get('n_images')} of {pub[f'{group} name']}'s {int(pub[f'{group} images']):,} images "
                   f"({s.get('dataset')})")
    if s.get("mode") == "gt-boxes":
        out.append(f"ground-truth boxes (published: {pub['boxes']})")
    else:
        det = (s.get("detections") or {}).get("file")
        if det:
            out.append(f"boxes from {Path(str(det)).name} (published: {pub['boxes']})")
    if (run.config.get("protocol") or {}).get("refine"):
        out.append("one refinement pass")
    return out + ([run.incomplete] if run.incomplete else []) + run.subsets()


def report_instances(runs: List[RunInfo], base: Optional[RunInfo], out: Path) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    all_runs = runs + ([base] if base else [])
    labels = labels_with_baseline(runs, base)
    sections: List[str] = []
    # Table 5 layout: one row per model, COCO and LVIS columns filled from the runs that have them
    rows: Dict[str, Dict] = {}
    other_data: List[str] = []  # runs on data that is not a published column's: not lined up under it
    detail = []
    for run, label in zip(all_runs, labels):
        s = run.summary
        mode = s.get("mode")
        tag = label + (" [gt boxes]" if mode == "gt-boxes" else "") + (" [refine]" if run.config["protocol"].get("refine") else "")
        prefix = table5_group(run)
        if prefix is None:
            other_data.append(f"{tag} on {data_of(run)}")
        else:
            row = rows.setdefault(tag, {"method": tag, "differs from published": ""})
            row.update({f"{prefix} AP": percent(s.get("AP")), f"{prefix} APs": percent(s.get("APs")),
                        f"{prefix} APm": percent(s.get("APm")), f"{prefix} APl": percent(s.get("APl"))})
            row["differs from published"] = "; ".join(
                x for x in [row["differs from published"]] + instances_differences(run) if x) or "-"
        d = {"run": label, "dataset": s.get("dataset"), "data": data_of(run), "mode": mode,
             "evaluator": s.get("evaluator")}
        for k in ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf"):
            if s.get(k) is not None:
                d[k] = percent(s.get(k))
        if mode == "gt-boxes":
            d.update({k: percent(s.get(k)) for k in ("mIoU", "mIoU_s", "mIoU_m", "mIoU_l")})
        det = s.get("detections") or {}
        d["n_masks"] = s.get("n_masks")
        if det:
            d.update({"detections in the file": det.get("n_total"), "detections prompted": det.get("n_prompted"),
                      "clipped to the image": det.get("n_clipped", 0), "detections skipped": det.get("n_skipped", 0),
                      "on images not evaluated": det.get("n_on_images_not_evaluated"),
                      "images without detections": det.get("n_images_without_detections")})
        detail.append(d)
    pub = published_settings("5")
    data = ", and on ".join(f"{pub[f'{g} name']}, {int(pub[f'{g} images']):,} images" for g in TABLE5_GROUPS)
    published = [dict(r, **{"differs from published": ""}) for r in published_table5()]
    table = pd.DataFrame(published + list(rows.values()), columns=TABLE5_COLUMNS + ["differs from published"])
    write_table(table, out / "tables", "instances_table5", float_format="{:.1f}",
                caption=f"Table 5 layout: mask AP (x100) with boxes as prompts; published rows from the SAM paper "
                        f"({pub['boxes']} on {data}); the last column says what a measured row differs in")
    sections += ["## Instance segmentation (Table 5 layout)", "", (out / "tables" / "instances_table5.md").read_text(), ""]
    if other_data:
        sections += [f"Not in this table: {'; '.join(other_data)}. Only runs on "
                     f"{' or '.join(pub[f'{g} name'] for g in TABLE5_GROUPS)} (the {pub['COCO adapter']} dataset with "
                     f"split {pub['COCO split']}, the {pub['LVIS adapter']} dataset with split {pub['LVIS split']}) "
                     f"stand beside the published rows; other data's mask AP is in the per-run table below.", ""]
    if len(all_runs) > 1:
        reference = labels[-1] if base is not None else labels[0]
        keys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "mIoU", "mIoU_s", "mIoU_m", "mIoU_l"]
        values = {d["run"]: {k: d.get(k) for k in keys} for d in detail}
        present = [k for k in keys if any(v.get(k) is not None for v in values.values())]
        side = side_by_side(values, present, reference)
        write_table(side, out / "tables", "instances_side_by_side", float_format="{:.1f}",
                    formats={c: "{:+.1f}" for c in side.columns if str(c).startswith("Δ ")},
                    caption=f"Instance segmentation side by side (x100); Δ = run minus {reference}")
        sections += ["## Side by side", "", (out / "tables" / "instances_side_by_side.md").read_text(), ""]
    frame = pd.DataFrame(detail)
    write_table(frame, out / "tables", "instances_detail", float_format="{:.1f}",
                caption="Per run: mask AP metrics from the official evaluator and box-prompted mIoU "
                        "(ground-truth boxes), all x100")
    sections += ["## Per run", "", (out / "tables" / "instances_detail.md").read_text(), ""]

    # AP by object size, measured and published (colours: object size; each bar group is one run)
    bars = []
    for d in detail:
        for k in ("APs", "APm", "APl"):
            if d.get(k) is not None:
                bars.append((d["run"] + f" ({d['data']})", k, d[k]))
    for pub in published_table5():
        for ds in ("COCO", "LVIS"):
            for k in ("APs", "APm", "APl"):
                bars.append((f"{pub['method']} ({ds} val, all images)", k, pub[f"{ds} {k}"]))
    if bars:
        names = list(dict.fromkeys(b[0] for b in bars))
        fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(names) + 2), 4))
        width = 0.27
        for j, k in enumerate(("APs", "APm", "APl")):
            vals = [next((v for n, kk, v in bars if n == name and kk == k), np.nan) for name in names]
            ax.bar(np.arange(len(names)) + (j - 1) * width, vals, width, label=k)
        ax.set_xticks(np.arange(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("mask AP (x100), over the run's images")
        ax.set_title("AP by object size (published: SAM paper Table 5)")
        ax.legend(fontsize=7)
        sections += save_plot(fig, out, "instances_ap_by_size.png", "AP by size")
    return sections
