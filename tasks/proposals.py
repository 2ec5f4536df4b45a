"""Zero-shot object proposals (SAM paper §7.3, Table 4): class-agnostic mask AR@1000 on LVIS v1 val.

Per image, the automatic mask generator (``sambench.generation.amg``) with the paper's settings: a 64x64
point grid, 3 masks per point, no crops, no predicted-IoU or stability filtering, box NMS 0.9,
ranked by the mean of predicted IoU and stability score (the authors' guidance, segment-anything
issue 205), top 1000 kept. ``--variant single``: the single-output model setting, a 128x128 grid,
one mask per point, NMS 0.95, random ranking for NMS and for the output (App. D.3: there is no
predicted IoU to rank by), seeded per image by (seed, dataset, image id) and recorded. Grid, NMS threshold and the number
kept are options (small grids for tests), all recorded in the protocol.

Scoring uses the official evaluator on the dataset's annotation file: LVISEval made class-agnostic
(every category mapped to one; see ``sambench.metrics.coco_eval``), ``max_dets = 1000``: AR over IoU
0.50:0.95 overall, by object area (small/medium/large, LVIS's ranges) and by category frequency
(frequent/common/rare: recall against the ground truth of those categories only). A COCO-format
annotation file is scored with pycocotools (``useCats=0``) and has no frequency groups.

Scale (LVIS val: ~20k images x 1000 proposals): masks stay RLE and the records keep, per image,
only the proposals that can count for recall: those whose mask IoU with some ground-truth mask of
the image is >= 0.5, the lowest IoU threshold of AR. A proposal below 0.5 with every ground truth
never matches anything, so leaving it out changes no match of any other proposal and no recall
(``--store all`` keeps every proposal, to check that on small runs). The summary then evaluates
these proposals with their original rank: AR@k for k < K uses the proposals of rank < k. Memory
therefore grows with the number of ground-truth objects, never with images x proposals.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
from pycocotools import mask as coco_mask

from sambench.metrics import coco_eval
from sambench.generation.amg import AmgConfig, check_model as amg_check_model, generate_masks
from sambench.data import Instance, Sample
from sambench.models.base import ImageEmbedding, PromptableModel
from sambench.published import percent, published_data, published_rows, published_settings
from sambench.reporting import (PUBLISHED_COLORS, RunInfo, count, delta_formats, fmt_score, labels_with_baseline,
                                run_colors, save_plot, side_by_side, write_table)
from sambench.rng import stable_seed

from .base import TASKS, Task, skip_summary
from .instances import annotation_file_of

VARIANTS = ("default", "single")
MATCH_IOU = 0.5  # the lowest IoU threshold of AR; proposals below it with every ground truth cannot count
CURVE = (1, 10, 100, 1000)


def _coco_rle(rle: dict) -> dict:
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


@TASKS.register("proposals", "automatic masks as object proposals: class-agnostic mask AR@1000 (SAM paper §7.3, Table 4)")
class ProposalsTask(Task):
    """Object proposals from the automatic mask generator (paper §7.3, Table 4).

    Arguments:
      variant: "default" (64x64, multimask, NMS 0.9, mean of predicted IoU and stability) or
        "single" (128x128, one mask per point, NMS 0.95, random ranking).
      points_per_side, box_nms_thresh: override the variant's grid / NMS threshold.
      max_proposals: proposals kept per image (K of AR@K).
      points_per_batch: points per decoder call (memory only).
      store: "matched" (proposals with IoU >= 0.5 to some ground truth) or "all".
      run_dir: the run folder (unused by scoring; kept for symmetry with the instances task).
    """

    name = "proposals"
    subsample = False
    multi_dataset = False
    needs_annotation_file = True
    columns = ["kind", "rank", "score", "pred_iou", "stability", "area", "box_x", "box_y", "box_w", "box_h",
               "max_gt_iou", "n_points", "n_generated", "n_after_nms", "n_kept", "rle"]

    def __init__(self, variant: str = "default", points_per_side: Optional[int] = None,
                 box_nms_thresh: Optional[float] = None, max_proposals: int = 1000, points_per_batch: int = 64,
                 store: str = "matched", run_dir: Optional[Path] = None):
        if variant not in VARIANTS:
            raise ValueError(f"--variant '{variant}': expected one of {', '.join(VARIANTS)}")
        if store not in ("matched", "all"):
            raise ValueError(f"--store '{store}': expected matched or all")
        if int(max_proposals) < 1:
            raise ValueError(f"--max-proposals {max_proposals}: expected a positive count")
        self.variant = variant
        self.max_proposals = int(max_proposals)
        self.store = store
        self.run_dir = Path(run_dir) if run_dir else None
        preset = AmgConfig.proposals() if variant == "default" else AmgConfig.proposals_single_output()
        overrides = {"max_masks": self.max_proposals, "points_per_batch": int(points_per_batch)}
        if points_per_side is not None:
            overrides["points_per_side"] = int(points_per_side)
        if box_nms_thresh is not None:
            overrides["box_nms_thresh"] = float(box_nms_thresh)
        self.amg = replace(preset, **overrides)

    @classmethod
    def add_arguments(cls, group) -> None:
        group.add_argument("--variant", choices=VARIANTS, default="default",
                           help="default: 64x64 grid, 3 masks/point, NMS 0.9, ranked by mean(pred IoU, stability); "
                                "single: 128x128, 1 mask/point, NMS 0.95, random ranking")
        group.add_argument("--points-per-side", type=int, help="grid size (default: 64, or 128 for --variant single)")
        group.add_argument("--box-nms", type=float, help="box NMS threshold (default: 0.9, or 0.95 for --variant single)")
        group.add_argument("--max-proposals", type=int, default=1000, help="proposals kept per image (default 1000)")
        group.add_argument("--points-per-batch", type=int, default=64, help="grid points per decoder call (memory only)")
        group.add_argument("--store", choices=["matched", "all"], default="matched",
                           help="records keep the proposals with IoU >= 0.5 to some ground truth (default; exact "
                                "for AR) or all of them (small runs)")

    @classmethod
    def from_args(cls, args) -> "ProposalsTask":
        return cls(args.variant, args.points_per_side, args.box_nms, args.max_proposals, args.points_per_batch,
                   args.store, run_dir=Path(args.out))

    @classmethod
    def from_protocol(cls, protocol: Dict) -> "ProposalsTask":
        amg = protocol["amg"]
        return cls(protocol["variant"], amg["points_per_side"], amg["box_nms_thresh"], protocol["max_proposals"],
                   amg["points_per_batch"], protocol["store"])

    def protocol(self) -> Dict:
        return {"variant": self.variant, "amg": self.amg.to_dict(), "crops": None, "max_proposals": self.max_proposals,
                "store": self.store, "match_iou_for_storage": MATCH_IOU if self.store == "matched" else None,
                "ranking": "random (seeded per image)" if self.amg.rank_by == "random"
                else "mean of predicted IoU and stability score",
                "nms_ranking": "random (seeded per image)" if self.amg.nms_score == "random"
                else self.amg.nms_score,
                "metric": "class-agnostic mask AR@K, IoU 0.50:0.95 (LVISEval / COCOeval)"}

    def check_model(self, model: PromptableModel) -> None:
        amg_check_model(model, self.amg)

    # -- per image ------------------------------------------------------------------------------
    def process(self, model: PromptableModel, sample: Sample, embedding: ImageEmbedding,
                instances: Sequence[Instance], seed: int, dataset: str) -> List[Dict]:
        rng = np.random.default_rng(stable_seed(seed, dataset, sample.image_id, "proposals"))
        props = generate_masks(model, embedding, self.amg, rng=rng)
        n = len(props)
        if self.amg.rank_by == "random":
            scores = (self.max_proposals - np.arange(n, dtype=np.float64)) / self.max_proposals
        else:
            scores = props.scores("mean_iou_stability")
        gts = [_coco_rle(i.rle) for i in sample.instances if not i.iscrowd]
        if n and gts:
            ious = coco_mask.iou([_coco_rle(r) for r in props.rles], gts, [0] * len(gts))
            best = np.asarray(ious, dtype=np.float64).reshape(n, len(gts)).max(axis=1)
        else:
            best = np.zeros(n)
        keep = np.arange(n) if self.store == "all" else np.flatnonzero(best >= MATCH_IOU - 1e-9)
        c = props.counts
        rows: List[Dict] = [{"kind": "image", "rank": "", "score": "", "pred_iou": "", "stability": "", "area": "",
                             "box_x": "", "box_y": "", "box_w": "", "box_h": "", "max_gt_iou": "",
                             "n_points": c.get("points", ""), "n_generated": c.get("generated", ""),
                             "n_after_nms": c.get("after_nms", ""), "n_kept": n, "rle": ""}]
        for i in keep:
            x0, y0, x1, y1 = (float(v) for v in props.boxes[i])
            rows.append({"kind": "proposal", "rank": int(i), "score": repr(float(scores[i])),
                         "pred_iou": f"{float(props.pred_iou[i]):.6f}", "stability": f"{float(props.stability[i]):.6f}",
                         "area": int(props.areas[i]), "box_x": x0, "box_y": y0, "box_w": x1 - x0 + 1, "box_h": y1 - y0 + 1,
                         "max_gt_iou": f"{float(best[i]):.6f}", "n_points": "", "n_generated": "", "n_after_nms": "",
                         "n_kept": "", "rle": coco_eval.rle_field(props.rles[i])})
        return rows

    # -- summary --------------------------------------------------------------------------------
    def headline(self, summary: Dict) -> str:
        K = summary.get("max_proposals", self.max_proposals)
        keys = [f"AR@{K}", "AR_s", "AR_m", "AR_l", "AR_f", "AR_c", "AR_r"]
        return f"{summary.get('dataset')}: " + ", ".join(f"{k}={fmt_score(summary[k])}" for k in keys
                                                        if summary.get(k) is not None)

    @staticmethod
    def report(runs: List[RunInfo], base: Optional[RunInfo], out: Path) -> List[str]:
        return report_proposals(runs, base, out)

    def summarize(self, records: pd.DataFrame, done: List[Dict], config: Dict) -> Dict:
        entry = config["datasets"][0]
        name = entry["name"]
        K = self.max_proposals
        rec = records[records["dataset"] == name] if len(records) else records
        processed = [d["image_id"] for d in done if d["dataset"] == name and d.get("status") == "ok"]
        gt = coco_eval.GroundTruth(annotation_file_of(entry), scope=processed)
        img_ids = sorted({gt.image_ids[i] for i in processed if i in gt.image_ids})
        props = rec[rec["kind"] == "proposal"] if len(rec) else rec
        images = rec[rec["kind"] == "image"] if len(rec) else rec
        results, ranks = [], []
        for r in props.itertuples(index=False):
            results.append({"image_id": gt.image_ids[str(r.image_id)], "category_id": 1,
                            "segmentation": coco_eval.rle_from_field(r.rle), "score": float(r.score)})
            ranks.append(int(r.rank))
        ranks = np.asarray(ranks, dtype=np.int64)

        main = coco_eval.proposal_recall(gt, results, K, img_ids=img_ids)
        summary: Dict = {"task": "proposals", "dataset": name, "variant": self.variant,
                         "model_label": config["model"].get("label"), "evaluator": gt.evaluator,
                         "annotation_file": str(gt.path), "annotation_format": gt.format, "max_proposals": K,
                         f"AR@{K}": main["AR"], "AR_s": main["AR_s"], "AR_m": main["AR_m"], "AR_l": main["AR_l"]}
        logs = {"all": main["log"]}
        if gt.format == "lvis":
            for key, f in (("AR_f", "f"), ("AR_c", "c"), ("AR_r", "r")):
                ev = coco_eval.proposal_recall(gt, results, K, img_ids=img_ids, frequencies=[f], area_all_only=True)
                summary[key] = ev["AR"]
                logs[key] = ev["log"]
        else:
            summary.update({"AR_f": None, "AR_c": None, "AR_r": None})
        curve = {str(K): main["AR"]}
        for k in CURVE:
            if k < K:
                sel = [res for res, rk in zip(results, ranks) if rk < k]
                curve[str(k)] = coco_eval.proposal_recall(gt, sel, k, img_ids=img_ids, area_all_only=True)["AR"]
        summary["AR_at"] = {k: curve[k] for k in sorted(curve, key=int)}
        id_set = set(img_ids)
        n_gt = sum(1 for a in gt.data["annotations"] if a["image_id"] in id_set and not a.get("iscrowd", 0))
        n_kept = images["n_kept"].astype(float) if len(images) else pd.Series(dtype=float)
        summary.update({
            "n_images": len(img_ids), "n_gt": n_gt,
            "mean_proposals_per_image": float(n_kept.mean()) if len(n_kept) else 0.0,
            "n_proposals_stored": len(results),
            "evaluator_log": logs,
        })
        summary.update(skip_summary(done, config, name))
        summary["protocol"] = config["protocol"]
        return summary


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------



def proposals_differences(run: RunInfo) -> List[str]:
    """What a measured proposals run differs in from the published Table 4 numbers (data, images, grid, ...)."""
    pub = published_settings("4")
    s = run.summary
    amg = (run.config.get("protocol") or {}).get("amg", {})
    preset = AmgConfig.proposals() if s.get("variant", "default") == "default" else AmgConfig.proposals_single_output()
    out = []
    entry = next((d for d in run.config.get("datasets", []) if d.get("name") == s.get("dataset")), {})
    on_lvis_v1 = published_data("4", entry, ["LVIS"]) is not None  # the one rule (sambench.published)
    if not on_lvis_v1:
        out.append(f"another dataset: {s.get('dataset')} ({entry.get('split') or '-'} split, "
                   f"{s.get('annotation_format')}-format ground truth; published: LVIS v1 val"
                   + ("" if s.get("annotation_format") == pub["dataset"] else "; no frequency groups") + ")")
    if s.get("n_images") is not None and s.get("n_images") != int(pub["images"]):
        out.append(f"{s.get('n_images')} of LVIS v1 val's {int(pub['images']):,} images"
                   if on_lvis_v1 else f"{count(s.get('n_images'), 'image')} (published: {int(pub['images']):,})")
    if s.get("max_proposals", 1000) != int(pub["max_proposals"]):
        out.append(f"AR@{s.get('max_proposals')} (published: AR@{pub['max_proposals']})")
    if amg.get("points_per_side") not in (None, preset.points_per_side):
        out.append(f"{amg['points_per_side']}x{amg['points_per_side']} grid (published: "
                   f"{preset.points_per_side}x{preset.points_per_side})")
    if amg.get("box_nms_thresh") not in (None, preset.box_nms_thresh):
        out.append(f"box NMS {amg['box_nms_thresh']} (published: {preset.box_nms_thresh})")
    return out + ([run.incomplete] if run.incomplete else []) + run.subsets()


def report_proposals(runs: List[RunInfo], base: Optional[RunInfo], out: Path) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    all_runs = runs + ([base] if base else [])
    labels = labels_with_baseline(runs, base)
    colors = run_colors(labels)
    rows = [dict(r, **{"differs from published": ""}) for r in published_rows(4)]
    for run, label in zip(all_runs, labels):
        s = run.summary
        K = s.get("max_proposals", 1000)
        tag = label + (" single out." if s.get("variant") == "single" else "") + f" [{s.get('dataset')}]"
        if K != 1000:
            tag += f" (AR@{K})"
        rows.append({"method": tag, "all": percent(s.get(f"AR@{K}")), "small": percent(s.get("AR_s")),
                     "med": percent(s.get("AR_m")), "large": percent(s.get("AR_l")), "freq": percent(s.get("AR_f")),
                     "com": percent(s.get("AR_c")), "rare": percent(s.get("AR_r")),
                     "differs from published": "; ".join(proposals_differences(run)) or "-"})
    table = pd.DataFrame(rows, columns=["method", "all", "small", "med", "large", "freq", "com", "rare",
                                        "differs from published"])
    write_table(table, out / "tables", "proposals_table4", float_format="{:.1f}",
                caption="Table 4 layout: class-agnostic mask AR@1000 (x100); published rows on LVIS v1 val "
                        "(19,809 images); the last column says what a measured row differs in")
    sections = ["## Object proposals (Table 4 layout)", "", (out / "tables" / "proposals_table4.md").read_text(), ""]
    if len(all_runs) > 1:
        reference = labels[-1] if base is not None else labels[0]
        keys = ["AR", "AR_s", "AR_m", "AR_l", "AR_f", "AR_c", "AR_r"]
        values = {}
        for run, label in zip(all_runs, labels):
            s = run.summary
            v = {"AR": s.get(f"AR@{s.get('max_proposals', 1000)}"), **{k: s.get(k) for k in keys[1:]}}
            v.update({f"AR@{k}": a for k, a in (s.get("AR_at") or {}).items()})
            values[label] = v
        ks = sorted({k for v in values.values() for k in v if k.startswith("AR@")}, key=lambda k: int(k[3:]))
        side = side_by_side(values, keys + ks, reference)
        write_table(side, out / "tables", "proposals_side_by_side", formats=delta_formats(side),
                    caption=f"Object proposals side by side (AR as fractions; AR = AR at the run's maximum number "
                            f"of proposals); Δ = run minus {reference}")
        sections += ["## Side by side", "", (out / "tables" / "proposals_side_by_side.md").read_text(), ""]
    detail = []
    for run, label in zip(all_runs, labels):
        s = run.summary
        detail.append({"run": label, "dataset": s.get("dataset"), "variant": s.get("variant"),
                       "grid": run.config["protocol"]["amg"]["points_per_side"],
                       "nms": run.config["protocol"]["amg"]["box_nms_thresh"], "n_images": s.get("n_images"),
                       "n_gt": s.get("n_gt"), "proposals/image": s.get("mean_proposals_per_image"),
                       **{f"AR@{k}": v for k, v in (s.get("AR_at") or {}).items()}})
    write_table(pd.DataFrame(detail), out / "tables", "proposals_detail", float_format="{:.3f}",
                caption="Per run: protocol, counts and AR at k proposals per image (fractions)")
    sections += ["## Per run", "", (out / "tables" / "proposals_detail.md").read_text(), ""]

    fig, ax = plt.subplots(figsize=(6, 4))
    for run, label in zip(all_runs, labels):
        curve = run.summary.get("AR_at") or {}
        if curve:
            ks = sorted(int(k) for k in curve)
            ax.plot(ks, [curve[str(k)] for k in ks], marker="o", color=colors[label],
                    label=f"{label} ({run.summary.get('n_images')} images of {run.summary.get('dataset')})")
    for i, pub in enumerate(published_rows(4)):
        ax.scatter([1000], [pub["all"] / 100], marker="x", s=60, color=PUBLISHED_COLORS[i % len(PUBLISHED_COLORS)],
                   label=f"{pub['method']} AR@1000, LVIS v1 val")
    ax.set_xscale("log")
    ax.set_xlabel("proposals per image")
    ax.set_ylabel("class-agnostic mask AR (IoU 0.5:0.95)")
    ax.set_ylim(0, 1)
    ax.set_title("AR vs number of proposals (published: LVIS v1 val, 19,809 images)", fontsize=9)
    ax.legend(fontsize=6)
    sections += save_plot(fig, out, "proposals_ar_vs_proposals.png", "AR vs proposals")
    return sections
