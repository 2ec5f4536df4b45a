"""Referring-expression segmentation (text-to-mask, SAM paper §7.5 measured the way the field does).

Each expression of RefCOCO / RefCOCO+ / RefCOCOg (or any dataset whose samples carry
``Sample.extra["refs"]``: ``{ref_id, ann_id, split, category_id, sentences: [{sent_id, sent}]}``)
asks for ONE object's mask. Per image, every expression goes to the model in one
``segment_text`` call (a ``TextQuery`` in referring mode: the model keeps its best mask per
phrase). Any route that answers text works (``sambench.models.text``: SAM 3, detector + mask
model, CLIP-ranked automatic masks, the text oracle).

Ground-truth-box mode (``--gt-boxes``): the mask model (any box-capable ``PromptableModel``) is
prompted with the referred object's true box (the tight box of its mask), all objects of an image
in one batch, one mask per box; so detector errors and mask errors can be reported apart.

Scores (``sambench.metrics.referring``): per expression, intersection and union with the referred
object's mask at the original resolution; per dataset and split: mIoU (mean IoU, "gIoU"), cIoU
(summed intersection / summed union), Precision@0.5..0.9 (IoU >= X), and box Acc@0.5 where the
route gives a box. An expression answered with no mask counts with IoU 0. An expression whose
referred mask cannot be evaluated (empty, wrong size) is skipped and counted.

Records (one row per expression) keep the expression text, the predicted mask and the ground-truth
mask as RLE and the image file, so a gallery can draw any expression without the dataset;
``summary.json`` lists the worst expressions (``worst``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import pandas as pd

from sambench import masks as mask_utils
from sambench.data import Instance, Sample
from sambench.metrics.coco_eval import rle_field
from sambench.metrics.referring import THRESHOLDS, box_iou_xyxy, referring_scores
from sambench.models.base import ImageEmbedding, PromptableModel, PromptBatch, UnsupportedPromptError
from sambench.models.text import TextPromptableModel, TextQuery, mask_box
from sambench.reporting import count

from .base import TASKS, Task, skipped_entries

OK, NO_MASK = "ok", "no mask"
SPLIT_ORDER = ("val", "testA", "testB", "test", "train")
N_WORST = 25


@TASKS.register("referring", "referring-expression segmentation: mIoU, cIoU, Precision@0.5-0.9 (RefCOCO/+/g)")
class ReferringTask(Task):
    """Referring-expression segmentation: one expression -> one object's mask.

    Arguments:
      gt_boxes: prompt the mask model with the referred object's ground-truth box instead of text.
      thresholds: the Precision@X thresholds.
    """

    name = "referring"
    subsample = False
    multi_dataset = True
    text_prompts = True  # the command line offers --detector / --detections / --clip for this task
    columns = ["split", "ref_id", "sent_id", "instance_id", "category_id", "expression", "status", "score",
               "intersection", "union", "iou", "pred_area", "gt_area", "box_x0", "box_y0", "box_x1", "box_y1",
               "box_iou", "image_file", "rle", "gt_rle"]

    def __init__(self, gt_boxes: bool = False, thresholds: Sequence[float] = THRESHOLDS):
        self.gt_boxes = bool(gt_boxes)
        self.thresholds = tuple(float(t) for t in thresholds)
        if not self.thresholds or any(not 0.0 < t <= 1.0 for t in self.thresholds):
            raise ValueError(f"--thresholds {thresholds}: expected IoU thresholds in (0, 1]")

    @classmethod
    def add_arguments(cls, group) -> None:
        group.add_argument("--gt-boxes", action="store_true",
                           help="prompt the mask model with each referred object's ground-truth box (no text): "
                                "separates mask errors from grounding errors")
        group.add_argument("--thresholds", default=",".join(f"{t:g}" for t in THRESHOLDS),
                           help="Precision@X thresholds, comma separated (default 0.5,0.6,0.7,0.8,0.9)")

    @classmethod
    def from_args(cls, args) -> "ReferringTask":
        try:
            thresholds = [float(t) for t in str(args.thresholds).split(",") if t.strip()]
        except ValueError:
            raise ValueError(f"--thresholds {args.thresholds}: expected comma-separated numbers")
        return cls(args.gt_boxes, thresholds)

    @classmethod
    def from_protocol(cls, protocol: Dict) -> "ReferringTask":
        return cls(protocol.get("mode") == "gt-boxes", protocol.get("thresholds", THRESHOLDS))

    def protocol(self) -> Dict:
        return {"mode": "gt-boxes" if self.gt_boxes else "text", "thresholds": list(self.thresholds),
                "unit": "one expression (sentence) of a ref; its referred annotation is the ground truth",
                "prompt": "each referred object's ground-truth box, one mask per box" if self.gt_boxes
                else "all expressions of an image in one segment_text call; best mask per expression",
                "iou": "at the original image resolution; no mask = IoU 0",
                "miou": "mean of per-expression IoU", "ciou": "sum of intersections / sum of unions",
                "precision": "fraction of expressions with IoU >= X",
                "box_acc": "fraction with predicted-box IoU >= 0.5 with the ground-truth box (routes with boxes)"}

    def check_model(self, model: PromptableModel) -> None:
        if self.gt_boxes:
            if not model.capabilities.boxes:
                raise UnsupportedPromptError(f"model '{model.name}' takes no box prompts; --gt-boxes needs a "
                                             f"box-capable model")
        elif not isinstance(model, TextPromptableModel):
            raise UnsupportedPromptError(
                f"model '{model.name}' does not answer text: add --detector NAME --detector-checkpoint DIR, "
                f"--detections FILE or --clip NAME to build a text route around it, use a text model (sam3, "
                f"text-oracle), or --gt-boxes")

    # -- one image ----------------------------------------------------------------------------------
    def process(self, model: PromptableModel, sample: Sample, embedding: ImageEmbedding,
                instances: Sequence[Instance], seed: int, dataset: str) -> List[Dict]:
        by_id = {i.id: i for i in instances}
        exprs = [(ref, s) for ref in sample.extra.get("refs", []) for s in ref.get("sentences", [])]
        usable = [(ref, s) for ref, s in exprs if str(ref["ann_id"]) in by_id]
        preds = self._predict_gt_boxes(model, embedding, usable, by_id) if self.gt_boxes \
            else self._predict_text(model, embedding, usable)
        image_file = str(Path(sample.image_path).resolve()) if sample.image_path else ""
        ignore = sample.ignore_mask()
        gt_cache: Dict[str, tuple] = {}
        rows, k = [], 0
        for ref, s in exprs:
            inst = by_id.get(str(ref["ann_id"]))
            row = {"split": ref.get("split", ""), "ref_id": ref.get("ref_id"), "sent_id": s.get("sent_id"),
                   "instance_id": str(ref["ann_id"]), "category_id": ref.get("category_id"),
                   "expression": s.get("sent", ""), "image_file": image_file}
            if inst is None:
                rows.append(dict(row, status="skipped: referred mask not evaluable", **_empty_fields()))
                continue
            rle, score, box = preds[k]
            k += 1
            if inst.id not in gt_cache:
                gt = inst.mask()
                gx, gy, gw, gh = inst.bbox
                gt_cache[inst.id] = (gt, np.array([gx, gy, gx + gw, gy + gh], dtype=np.float64))
            gt, gt_box = gt_cache[inst.id]
            pred = mask_utils.decode(rle) if rle is not None else np.zeros_like(gt)
            valid = np.ones_like(gt) if ignore is None else ~ignore
            inter = int(np.count_nonzero(pred & gt & valid))
            union = int(np.count_nonzero((pred | gt) & valid))
            b = np.full(4, np.nan) if box is None else np.asarray(box, dtype=np.float64)
            row.update({"status": OK if rle is not None else NO_MASK, "score": "" if score is None else f"{score:.6f}",
                        "intersection": inter, "union": union, "iou": f"{inter / union:.6f}" if union else "",
                        "pred_area": int(pred.sum()), "gt_area": int(gt.sum()),
                        "box_x0": _num(b[0]), "box_y0": _num(b[1]), "box_x1": _num(b[2]), "box_y1": _num(b[3]),
                        "box_iou": "" if box is None else f"{float(box_iou_xyxy(b, gt_box)[0]):.6f}",
                        "rle": rle_field(rle) if rle is not None else "", "gt_rle": rle_field(inst.rle)})
            rows.append(row)
        return rows

    @staticmethod
    def _predict_text(model, embedding, usable) -> List[tuple]:
        if not usable:
            return []
        query = TextQuery([s["sent"] for _, s in usable], mode="referring",
                          targets=[str(ref["ann_id"]) for ref, _ in usable])
        answers = model.segment_text(embedding, query)
        if len(answers) != len(usable):
            raise RuntimeError(f"model '{model.name}' answered {len(answers)} of {len(usable)} expressions")
        out = []
        for a in answers:
            if len(a):
                out.append((a.rles[0], float(a.scores[0]), a.boxes[0] if len(a.boxes) else mask_box(a.rles[0])))
            else:
                out.append((None, None, None))
        return out

    @staticmethod
    def _predict_gt_boxes(model, embedding, usable, by_id) -> List[tuple]:
        ids = list(dict.fromkeys(str(ref["ann_id"]) for ref, _ in usable))
        if not ids:
            return []
        boxes = np.array([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in (by_id[i].bbox for i in ids)], dtype=np.float64)
        pred = model.decode(embedding, PromptBatch(boxes=boxes, targets=ids), multimask=False)
        masks = (pred.logits[:, 0] > model.mask_threshold).cpu().numpy()
        rles = mask_utils.encode_batch(masks)
        quality = pred.iou_predictions[:, 0].float().cpu().numpy()
        answer = {i: (rles[j], float(quality[j]), boxes[j]) for j, i in enumerate(ids)}
        return [answer[str(ref["ann_id"])] for ref, _ in usable]

    # -- summary ------------------------------------------------------------------------------------
    def headline(self, summary: Dict) -> str:
        lines = list(summary.get("notes", []))
        for name, d in summary.get("datasets", {}).items():
            for split, m in d.get("splits", {}).items():
                if m.get("miou") is not None:
                    lines.append(f"{name} {split}: mIoU={m['miou']:.3f} cIoU={m['ciou']:.3f} "
                                 f"P@0.5={m.get('precision@0.5', float('nan')):.3f} ({count(m['n_expressions'], 'expression')})")
        return "\n".join(lines)

    def summarize(self, records: pd.DataFrame, done: List[Dict], config: Dict) -> Dict:
        skipped = skipped_entries(done)
        out: Dict = {"task": "referring", "mode": "gt-boxes" if self.gt_boxes else "text",
                     "route": "gt-boxes" if self.gt_boxes else config["model"].get("route"),
                     "model_label": config["model"].get("label"), "datasets": {}}
        for entry in config["datasets"]:
            name = entry["name"]
            rec = records[records["dataset"] == name] if len(records) else records
            splits: Dict[str, Dict] = {}
            for split in _ordered(rec["split"].astype(str).unique() if len(rec) else []):
                r = rec[rec["split"].astype(str) == split]
                scored = r[r["status"].isin([OK, NO_MASK])]
                m = referring_scores(scored["intersection"].astype(float), scored["union"].astype(float),
                                     self.thresholds, pd.to_numeric(scored["box_iou"], errors="coerce"))
                n = m.pop("n")
                m.update({"n_expressions": n, "n_refs": int(scored["ref_id"].nunique()),
                          "n_images": int(scored["image_id"].nunique()), "n_no_mask": int((scored["status"] == NO_MASK).sum()),
                          "n_expressions_skipped": int((~r["status"].isin([OK, NO_MASK])).sum())})
                splits[split] = m
            skip = skipped.get(name, [])
            if not len(rec):
                out.setdefault("notes", []).append(
                    f"{name}: no referring expression was evaluated (its samples carry no Sample.extra['refs']: "
                    f"use refcoco, refcoco+ or refcocog)")
            out["datasets"][name] = {
                "splits": splits, "n_images_skipped": sum(1 for s in skip if s["instance_id"] is None),
                "skipped": skip, "refs_skipped_by_reason": entry.get("refs_skipped_by_reason", {}),
                "n_refs_skipped": entry.get("n_refs_skipped", 0)}
        out["worst"] = worst_expressions(records, N_WORST)
        out["protocol"] = config["protocol"]
        return out

    @staticmethod
    def report(runs, base, out: Path) -> List[str]:
        from ._text_report import report_referring

        return report_referring(runs, base, out)


def _empty_fields() -> Dict:
    return {k: "" for k in ("score", "intersection", "union", "iou", "pred_area", "gt_area", "box_x0", "box_y0",
                            "box_x1", "box_y1", "box_iou", "rle", "gt_rle")}


def _num(v: float) -> str:
    return "" if not np.isfinite(v) else repr(float(v))


def _ordered(splits) -> List[str]:
    return sorted(splits, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), s))


def worst_expressions(records: pd.DataFrame, n: int = N_WORST) -> List[Dict]:
    """The ``n`` lowest-IoU expressions (for a gallery: image file, expression, and the record's row to
    draw the predicted and ground-truth RLEs from)."""
    if not len(records):
        return []
    scored = records[records["status"].isin([OK, NO_MASK])].copy()
    scored["iou_f"] = scored["iou"].astype(float)
    worst = scored.sort_values(["iou_f", "dataset_index", "image_index", "row_index"], kind="stable").head(n)
    return [{"dataset": r.dataset, "split": str(r.split), "image_id": str(r.image_id), "image_file": r.image_file,
             "ref_id": r.ref_id, "sent_id": r.sent_id, "expression": r.expression, "iou": float(r.iou_f),
             "row_index": int(r.row_index)} for r in worst.itertuples(index=False)]
