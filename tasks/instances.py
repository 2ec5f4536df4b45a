"""Zero-shot instance segmentation from a detector's boxes (SAM paper §7.4, Table 5).

Detections mode (``--detections FILE``): FILE is a COCO results json (``[{"image_id",
"category_id", "bbox": [x, y, w, h], "score"}, ...]``, e.g. ViTDet-H's boxes; other fields such as
a detector's own ``segmentation`` are ignored). Every box of an image prompts the model in one
batch (``--max-batch`` splits it only to bound memory). A lone box is a single prompt, so it is
decoded with multimask output and the most confident of the model's masks (highest predicted IoU)
is kept (SAM paper App. D.4 "the most confident predicted mask"; App. A: the single-output token
serves multiple prompts); ``--box-output single`` takes the single-output mask instead (recorded in
the config). With ``--refine``, one refinement pass: the kept mask's low-res logits are fed back
together with the same box and the single output is taken. Each mask keeps its box's score and
category. Masks are RLE-encoded per image
(``sambench.masks.encode_batch``) and appended to the records, so nothing of the dataset is held
in memory while the model runs.

Scoring (``summarize``) reads the ground truth from the dataset's annotation file (the adapter's
``annotation_file()``), writes the masks as a COCO results json (``coco_results.json`` in the run
folder: ``image_id``, ``category_id``, ``segmentation`` (RLE) and ``score``; no ``bbox``: as
detectron2 drops it for segm, so the evaluators take each detection's area, hence its size
bucket for APs/APm/APl, from its mask, not from the detector's box) and evaluates mask AP with the official evaluator of the
annotation format: pycocotools ``COCOeval`` (COCO, maxDets 100; ``stats`` kept) or ``LVISEval``
(LVIS, 300 detections per image). Only the images the run processed are evaluated.

Ground-truth-box mode (``--gt-boxes``): every non-crowd ground-truth box prompts the model; the
summary gives box-prompted mIoU overall and per object size (small < 32^2 <= medium < 96^2 <= large,
by the annotation file's ``area``, the buckets the evaluators use), and mask AP of those masks
(score 1) as a by-product.

Bad detections (the file is read and its entries checked by :mod:`sambench.detections`, as for the
text routes' precomputed boxes): a file that is not json or not a list is a one-line error naming it. Entries with
missing or malformed fields, a non-finite score or box, an empty box (w or h <= 0), a category not
in the annotation file (decided before decoding: the run's config names the annotation file), a box
wholly outside its image, or an image id not in the dataset are skipped, each for one reason, and
counted in ``summary.json`` (``detections``). Every entry of the file is counted once: prompted (and
in ``coco_results.json``), skipped, on a dataset image the run did not evaluate, or, without an image
id, skipped as unattributed (``n_total = n_prompted + n_skipped + n_on_images_not_evaluated``).
Boxes partly outside the image are clipped for prompting (``n_clipped``, a part of ``n_prompted``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from sambench.metrics import coco_eval
from sambench import masks as mask_utils
from sambench.data import Instance, Sample
from sambench.detections import NO_IMAGE_ID, REASONS, Detections, DetectionsFileError, load_detections
from sambench.models.base import ImageEmbedding, PromptableModel, PromptBatch, UnsupportedPromptError
from sambench.reporting import RunInfo, fmt_score

from ._instances_report import report_instances
from .base import TASKS, Task, skip_summary

SMALL, LARGE = 32 ** 2, 96 ** 2
BOX_OUTPUTS = ("multimask", "single")
OK = "ok"
UNKNOWN_CATEGORY = "category not in the annotation file"
OUTSIDE = "box outside the image"
UNKNOWN_IMAGE = "image id not in the dataset"
CLIP_TOLERANCE = 1.0  # px a box may stick out of the image before it counts as clipped


def clip_boxes(xywh: np.ndarray, height: int, width: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xyxy boxes clipped to the image, whether each is outside it, whether each was clipped."""
    xyxy = np.stack([xywh[:, 0], xywh[:, 1], xywh[:, 0] + xywh[:, 2], xywh[:, 1] + xywh[:, 3]], axis=1)
    clipped = xyxy.copy()
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0, width)
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0, height)
    outside = (clipped[:, 2] - clipped[:, 0] <= 0) | (clipped[:, 3] - clipped[:, 1] <= 0)
    moved = np.abs(clipped - xyxy).max(axis=1) > CLIP_TOLERANCE if len(xyxy) else np.zeros(0, bool)
    return clipped, outside, moved


def size_bucket(area: float) -> str:
    return "small" if area < SMALL else ("medium" if area < LARGE else "large")


@TASKS.register("instances", "box-prompted instance segmentation from detector boxes: mask AP (SAM paper §7.4, Table 5)")
class InstancesTask(Task):
    """Instance segmentation with detector boxes as prompts (paper §7.4), or ground-truth boxes.

    Arguments:
      detections: a COCO results json of boxes (detections mode).
      gt_boxes: prompt with the ground-truth boxes instead (box-prompted mIoU by object size).
      refine: one refinement pass feeding the kept mask's low-res logits back with the box (single output).
      box_output: "multimask" (default: the most confident of the multimask outputs, paper App. D.4)
        or "single" (the single-output mask).
      max_batch: boxes per decoder call; 0 = every box of an image in one call (the protocol).
      run_dir: where ``coco_results.json`` is written at summary time (the run folder).
    """

    name = "instances"
    subsample = False
    multi_dataset = False
    needs_annotation_file = True
    columns = ["det_index", "status", "category_id", "score", "box_x", "box_y", "box_w", "box_h", "clipped",
               "pred_iou", "mask_area", "instance_id", "gt_area", "iou", "rle"]

    def __init__(self, detections: Optional[str] = None, gt_boxes: bool = False, refine: bool = False,
                 max_batch: int = 0, run_dir: Optional[Path] = None, detections_sha256: Optional[str] = None,
                 detections_name: Optional[str] = None, box_output: str = "multimask"):
        if bool(detections or detections_sha256) == bool(gt_boxes):
            raise ValueError("instances: give exactly one of --detections FILE and --gt-boxes")
        self.detections_path = Path(detections).expanduser().resolve() if detections else None
        self._name = self.detections_path.name if self.detections_path else detections_name
        self.gt_boxes = bool(gt_boxes)
        self.refine = bool(refine)
        if box_output not in BOX_OUTPUTS:
            raise ValueError(f"--box-output '{box_output}': expected one of {', '.join(BOX_OUTPUTS)}")
        self.box_output = box_output
        self.max_batch = int(max_batch)
        if self.max_batch < 0:
            raise ValueError(f"--max-batch {max_batch}: expected 0 (one batch per image) or a positive count")
        self.run_dir = Path(run_dir) if run_dir else None
        self._detections: Optional[Detections] = None
        self._sha = detections_sha256
        self._categories: Dict[str, FrozenSet] = {}  # dataset name -> its annotation file's category ids

    @property
    def needs_instances(self) -> bool:
        """Detector boxes are prompted on every image, with ground truth or not (false positives count)."""
        return self.gt_boxes

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, group) -> None:
        group.add_argument("--detections", metavar="FILE",
                           help="COCO results json of detector boxes (image_id, category_id, bbox [x,y,w,h], score)")
        group.add_argument("--gt-boxes", action="store_true",
                           help="prompt with the ground-truth boxes instead: box-prompted mIoU by object size")
        group.add_argument("--refine", action="store_true",
                           help="one refinement pass: feed the kept mask's low-res logits back with the box "
                                "(single output)")
        group.add_argument("--box-output", choices=BOX_OUTPUTS, default="multimask",
                           help="mask of a box prompt: the most confident of the multimask outputs (default, "
                                "paper App. D.4) or the single-output mask")
        group.add_argument("--max-batch", type=int, default=0,
                           help="boxes per decoder call (0 = all boxes of an image in one call, the default)")

    @classmethod
    def from_args(cls, args) -> "InstancesTask":
        task = cls(args.detections, args.gt_boxes, args.refine, args.max_batch, run_dir=Path(args.out),
                   box_output=getattr(args, "box_output", "multimask"))
        if task.detections_path is not None:
            task.detections()  # parse now: a bad file fails before the model is built
        return task

    @classmethod
    def from_protocol(cls, protocol: Dict) -> "InstancesTask":
        det = protocol.get("detections") or {}
        return cls(None, protocol.get("mode") == "gt-boxes", protocol.get("refine", False),
                   protocol.get("max_batch", 0), detections_sha256=det.get("sha256"), detections_name=det.get("name"),
                   box_output=protocol.get("box_output", "single"))  # runs before the option: single output

    def detections(self) -> Detections:
        if self._detections is None:
            if self.detections_path is None:
                raise DetectionsFileError(f"{self._name}: the detections file's location is not part of the "
                                          f"protocol (only its name and SHA-256)")
            self._detections = load_detections(self.detections_path)
            if self._sha is None:
                self._sha = self._detections.sha256
        return self._detections

    def protocol(self) -> Dict:
        det = None
        if not self.gt_boxes:  # name and content, not the path: the same file elsewhere is the same protocol
            det = {"name": self._name, "sha256": self._sha or self.detections().sha256}
        return {"mode": "gt-boxes" if self.gt_boxes else "detections", "detections": det, "refine": self.refine,
                "box_output": self.box_output, "multimask": self.box_output == "multimask",
                "box_output_rule": "most confident (highest predicted IoU) of the multimask outputs"
                if self.box_output == "multimask" else "the single-output mask",
                "max_batch": self.max_batch,
                "refine_rule": "the kept mask's low-res logits + the same box, one pass, single output"
                if self.refine else None,
                "segm_results_bbox": "none (areas and size buckets from the masks)",
                "scores": "detector's score and category kept" if not self.gt_boxes else "1.0, ground-truth category",
                "evaluator": "pycocotools COCOeval segm (maxDets 100) or LVISEval (300 per image), by annotation format"}

    def check_model(self, model: PromptableModel) -> None:
        caps = model.capabilities
        if not caps.boxes:
            raise UnsupportedPromptError(f"model '{model.name}' takes no box prompts; the instances task needs them")
        if self.refine and not caps.mask_input:
            raise UnsupportedPromptError(f"model '{model.name}' takes no mask input; drop --refine")
        if self.box_output == "multimask" and not caps.multimask:
            raise UnsupportedPromptError(f"model '{model.name}' has no multimask output; pass --box-output single")

    def known_categories(self, dataset: str) -> Optional[FrozenSet]:
        """The category ids of ``dataset``'s annotation file (named by the run's ``config.json``, which
        the runner writes before the first image), read once per dataset; None outside a run folder or
        for a file without categories (every category then passes, as at scoring)."""
        if dataset not in self._categories:
            config = Path(self.run_dir) / "config.json" if self.run_dir else None
            cats: FrozenSet = frozenset()
            if config is not None and config.is_file():
                entries = [e for e in json.loads(config.read_text())["datasets"] if e.get("name") == dataset]
                if entries:
                    cats = frozenset(coco_eval.annotation_category_ids(annotation_file_of(entries[0])))
            self._categories[dataset] = cats
        return self._categories[dataset] or None

    # -- per image ------------------------------------------------------------------------------
    def _decode(self, model: PromptableModel, embedding: ImageEmbedding, boxes: np.ndarray,
                targets: Optional[List[str]]) -> Tuple[np.ndarray, np.ndarray]:
        """Masks (B, H, W) bool and predicted IoU (B,) for xyxy ``boxes``, chunked by max_batch."""
        import torch  # here, not at import: reading results (sambench report) needs no torch

        h, w = embedding.original_size
        n = len(boxes)
        step = self.max_batch or max(n, 1)
        masks, ious = [], []
        for start in range(0, n, step):
            sl = slice(start, start + step)
            tg = None if targets is None else targets[sl]
            pred = model.decode(embedding, PromptBatch(boxes=boxes[sl], targets=tg),
                                multimask=self.box_output == "multimask")
            best = pred.iou_predictions.float().argmax(dim=1)  # the most confident output (the only one if single)
            ar = torch.arange(len(best))
            logits, iou = pred.logits[ar, best], pred.iou_predictions[ar, best]
            if self.refine:
                low = pred.low_res_logits[ar, best][:, None]
                pred = model.decode(embedding, PromptBatch(boxes=boxes[sl], mask_input=low, targets=tg), multimask=False)
                logits, iou = pred.logits[:, 0], pred.iou_predictions[:, 0]
            masks.append((logits > model.mask_threshold).cpu().numpy())
            ious.append(iou.float().cpu().numpy())
            del pred, logits
        if not masks:
            return np.zeros((0, h, w), bool), np.zeros(0, np.float32)
        return np.concatenate(masks), np.concatenate(ious)

    def process(self, model: PromptableModel, sample: Sample, embedding: ImageEmbedding,
                instances: Sequence[Instance], seed: int, dataset: str) -> List[Dict]:
        if self.gt_boxes:
            return self._process_gt(model, sample, embedding, instances)
        dets = self.detections()
        span = dets.by_image.get(str(sample.image_id))
        if span is None:
            return []
        sl = slice(*span)
        xywh, reason = dets.boxes[sl], dets.reason[sl].copy()
        xyxy, outside, clipped = clip_boxes(np.nan_to_num(xywh), sample.height, sample.width)
        usable = reason == 0
        status = np.array([OK if r == 0 else REASONS[int(r) - 1] for r in reason], dtype=object)
        cats = self.known_categories(dataset)
        if cats is not None:  # decided before decoding: such a box is never prompted
            unknown = usable & ~np.array([c in cats for c in dets.category[sl].tolist()], dtype=bool)
            status[unknown] = UNKNOWN_CATEGORY
            usable &= ~unknown
        status[usable & outside] = OUTSIDE
        usable &= ~outside
        use = np.flatnonzero(usable)
        masks, ious = self._decode(model, embedding, xyxy[use].astype(np.float64), None)
        rles = mask_utils.encode_batch(masks)
        areas = masks.reshape(len(masks), -1).sum(1) if len(masks) else np.zeros(0, np.int64)
        del masks
        rows: List[Dict] = []
        pos = {int(j): k for k, j in enumerate(use)}
        for j in range(sl.stop - sl.start):
            k = pos.get(j)
            b = xywh[j]
            rows.append({
                "det_index": int(dets.index[sl.start + j]), "status": status[j],
                "category_id": int(dets.category[sl.start + j]), "score": _fmt(dets.score[sl.start + j]),
                "box_x": _fmt(b[0]), "box_y": _fmt(b[1]), "box_w": _fmt(b[2]), "box_h": _fmt(b[3]),
                "clipped": int(bool(clipped[j]) and k is not None),
                "pred_iou": "" if k is None else f"{float(ious[k]):.6f}",
                "mask_area": "" if k is None else int(areas[k]),
                "instance_id": "", "gt_area": "", "iou": "",
                "rle": "" if k is None else coco_eval.rle_field(rles[k])})
        return rows

    def _process_gt(self, model, sample: Sample, embedding, instances: Sequence[Instance]) -> List[Dict]:
        insts = [i for i in instances if not i.iscrowd]
        if not insts:
            return []
        xywh = np.array([i.bbox for i in insts], dtype=np.float64).reshape(-1, 4)
        xyxy = np.stack([xywh[:, 0], xywh[:, 1], xywh[:, 0] + xywh[:, 2], xywh[:, 1] + xywh[:, 3]], axis=1)
        masks, ious = self._decode(model, embedding, xyxy, [i.id for i in insts])
        ignore = sample.ignore_mask()
        rles = mask_utils.encode_batch(masks)
        rows = []
        for k, inst in enumerate(insts):
            iou = mask_utils.iou(masks[k], inst.mask(), ignore)
            b = xywh[k]
            rows.append({"det_index": k, "status": OK, "category_id": "" if inst.category_id is None else int(inst.category_id),
                         "score": "1.0", "box_x": _fmt(b[0]), "box_y": _fmt(b[1]), "box_w": _fmt(b[2]),
                         "box_h": _fmt(b[3]), "clipped": 0, "pred_iou": f"{float(ious[k]):.6f}",
                         "mask_area": int(masks[k].sum()), "instance_id": inst.id, "gt_area": inst.area,
                         "iou": f"{iou:.6f}", "rle": coco_eval.rle_field(rles[k])})
        return rows

    # -- summary --------------------------------------------------------------------------------
    def headline(self, summary: Dict) -> str:
        m = summary.get("metrics", {})
        parts = [f"{k}={fmt_score(m[k])}" for k in ("AP", "AP50", "AP75", "APs", "APm", "APl") if k in m]
        line = f"{summary.get('dataset')}: mask AP ({summary.get('evaluator')}): " + ", ".join(parts)
        if summary.get("mode") == "gt-boxes":
            line += "\n" + ", ".join(f"{k}={summary[k]:.3f}" for k in ("mIoU", "mIoU_s", "mIoU_m", "mIoU_l")
                                     if summary.get(k) is not None)
        det = summary.get("detections") or {}
        if det:
            line += "\n" + detections_line(det)
        return line

    @staticmethod
    def report(runs: List[RunInfo], base: Optional[RunInfo], out: Path) -> List[str]:
        return report_instances(runs, base, out)

    def summarize(self, records: pd.DataFrame, done: List[Dict], config: Dict) -> Dict:
        entry = config["datasets"][0]
        name = entry["name"]
        rec = records[records["dataset"] == name] if len(records) else records
        processed = [d["image_id"] for d in done if d["dataset"] == name and d.get("status") == "ok"]
        gt = coco_eval.GroundTruth(annotation_file_of(entry), scope=processed)
        img_ids = [gt.image_ids[i] for i in processed if i in gt.image_ids]
        status = rec["status"].astype(str) if len(rec) else pd.Series(dtype=str)
        if len(rec):  # a category the process step could not check (no run config then): never in the results
            cat = pd.to_numeric(rec["category_id"], errors="coerce")
            known_cat = cat.isin(gt.category_ids) if gt.category_ids else cat.notna()
            status = status.where(~((status == OK) & ~known_cat), UNKNOWN_CATEGORY)
        ok = rec[status == OK] if len(rec) else rec
        skipped_by_reason: Dict[str, int] = {str(k): int(v) for k, v in status[status != OK].value_counts().items()}

        results = []  # no "bbox": the evaluators then take areas (size buckets) from the masks, as detectron2
        for r in ok.itertuples(index=False):
            results.append({"image_id": gt.image_ids[str(r.image_id)], "category_id": int(r.category_id),
                            "score": float(r.score), "segmentation": coco_eval.rle_from_field(r.rle)})
        results_path = None
        if self.run_dir is not None:
            results_path = self.run_dir / "coco_results.json"
            coco_eval.write_results_json(results_path, results)
        ev = coco_eval.mask_ap(gt, [dict(r) for r in results], img_ids=img_ids)

        summary: Dict = {"task": "instances", "dataset": name, "mode": "gt-boxes" if self.gt_boxes else "detections",
                         "model_label": config["model"].get("label"), "evaluator": ev["evaluator"],
                         "annotation_file": str(gt.path), "annotation_format": gt.format}
        metrics = {k: float(v) for k, v in ev["metrics"].items()}
        summary.update({k: metrics.get(k) for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")})
        if gt.format == "lvis":
            summary.update({k: metrics.get(k) for k in ("APr", "APc", "APf")})
        summary["metrics"] = metrics
        if "stats" in ev:
            summary["stats"] = ev["stats"]
        summary["evaluator_log"] = ev["log"]
        summary["results_json"] = str(results_path) if results_path else None
        summary["n_images"] = len(img_ids)
        summary["n_masks"] = len(results)

        if self.gt_boxes:
            summary.update(self._miou_by_size(ok, gt))
        else:
            not_processed = {str(d["image_id"]) for d in done if d["dataset"] == name and d.get("status") != "ok"}
            summary["detections"] = self._detection_counts(rec, status, skipped_by_reason, gt, set(processed),
                                                           not_processed)
        summary.update(skip_summary(done, config, name))
        summary["protocol"] = config["protocol"]
        return summary

    @staticmethod
    def _miou_by_size(ok: pd.DataFrame, gt: coco_eval.GroundTruth) -> Dict:
        if not len(ok):
            return {"mIoU": None, "mIoU_s": None, "mIoU_m": None, "mIoU_l": None, "n_s": 0, "n_m": 0, "n_l": 0}
        areas = gt.annotation_areas()
        src = [areas.get(str(i)) for i in ok["instance_id"]]
        area = np.array([a if a is not None else float(m) for a, m in zip(src, ok["gt_area"])], dtype=np.float64)
        buckets = np.array([size_bucket(a) for a in area])
        iou = ok["iou"].astype(float).to_numpy()
        out = {"mIoU": float(iou.mean()), "area_source": "annotation file 'area'" if all(a is not None for a in src)
               else "mask pixel count where the annotation file has no 'area'"}
        for key, b in (("s", "small"), ("m", "medium"), ("l", "large")):
            sel = buckets == b
            out[f"mIoU_{key}"] = float(iou[sel].mean()) if sel.any() else None
            out[f"n_{key}"] = int(sel.sum())
        return out

    def _detection_counts(self, rec: pd.DataFrame, status: pd.Series, skipped_by_reason: Dict[str, int],
                          gt: coco_eval.GroundTruth, processed: set, skipped_images: set) -> Dict:
        """Every entry of the detections file counted once: prompted (``status`` ok: in the results),
        skipped (a record's reason, no image id, an image id not in the dataset) or on a dataset image
        the run did not evaluate; ``n_clipped`` is a part of ``n_prompted``."""
        out: Dict = {"file": str(self.detections_path) if self.detections_path else self._name, "sha256": self._sha}
        prompted = (status == OK).to_numpy() if len(rec) else np.zeros(0, bool)
        n_unknown_image = n_not_evaluated = n_unattributed = None
        total = None
        by_cause: Dict[str, int] = {}
        try:
            dets = self.detections()
            if self._sha and dets.sha256 != self._sha:
                out["note"] = "the detections file changed since the run; counts below are of the current file"
            total = len(dets)
            n_unattributed = dets.n_unattributed
            keys = dets.image_keys
            known = np.isin(keys, np.array(list(gt.image_ids), dtype=str)) if total else np.zeros(0, bool)
            n_unknown_image = int(np.count_nonzero(~known & (keys != "")))
            evaluated = np.isin(keys, np.array(sorted(processed), dtype=str)) if total else np.zeros(0, bool)
            not_evaluated = known & ~evaluated
            n_not_evaluated = int(np.count_nonzero(not_evaluated))
            on_skipped = np.isin(keys, np.array(sorted(skipped_images), dtype=str)) if total else np.zeros(0, bool)
            by_cause = {"on images the run skipped (unreadable, or no usable ground truth; listed in 'skipped')":
                        int(np.count_nonzero(not_evaluated & on_skipped)),
                        "on images outside the run's images (its --image-ids / --limit-images subset, or not "
                        "yet processed)": int(np.count_nonzero(not_evaluated & ~on_skipped))}
        except (DetectionsFileError, OSError) as exc:
            out["note"] = f"detections file not readable now ({exc}); file-level counts unknown"
        if n_unattributed:
            skipped_by_reason[NO_IMAGE_ID] = n_unattributed
        if n_unknown_image:
            skipped_by_reason[UNKNOWN_IMAGE] = n_unknown_image
        with_boxes = set(rec.loc[prompted, "image_id"].astype(str)) if len(rec) else set()
        n_prompted, n_skipped = int(prompted.sum()), int(sum(skipped_by_reason.values()))
        out.update({"n_total": total, "n_prompted": n_prompted,
                    "n_images_without_detections": len(set(map(str, processed)) - with_boxes),
                    "n_clipped": int(rec.loc[prompted, "clipped"].fillna(0).astype(int).sum()) if len(rec) else 0,
                    "n_skipped": n_skipped, "skipped_by_reason": skipped_by_reason,
                    "n_on_images_not_evaluated": n_not_evaluated})
        if n_not_evaluated:
            out["on_images_not_evaluated_by_cause"] = {k: v for k, v in by_cause.items() if v}
            out["note_not_evaluated"] = ("detections on dataset images the run did not evaluate (outside the run's "
                                         "--image-ids / --limit-images subset or not yet processed, or skipped by "
                                         "the run: unreadable, or no usable ground truth): not prompted and not in "
                                         "the results, so they cannot count as false positives")
        if total is not None and n_prompted + n_skipped + n_not_evaluated != total:
            out["note_counts"] = (f"prompted + skipped + on images not evaluated = "
                                  f"{n_prompted + n_skipped + n_not_evaluated}, not the file's {total} entries: "
                                  f"the records do not match the current file")
        return out


def detections_line(det: Dict) -> str:
    """The run's terminal line on its detections file: every entry once (prompted, skipped, on images
    not evaluated), the clipped ones among the prompted."""
    reasons = "; ".join(f"{r}: {n}" for r, n in (det.get("skipped_by_reason") or {}).items())
    total = det.get("n_total")
    parts = [f"{det.get('n_prompted')} prompted ({det.get('n_clipped', 0)} of them clipped to the image)",
             f"{det.get('n_skipped', 0)} skipped" + (f" ({reasons})" if reasons else "")]
    if det.get("n_on_images_not_evaluated"):
        parts.append(f"{det['n_on_images_not_evaluated']} on images not evaluated")
    return ("detections: " + (f"{total} in the file: " if total is not None else "") + ", ".join(parts)
            + f"; {det.get('n_images_without_detections', 0)} evaluated images without any detection "
              f"(their objects count as missed)")


def _fmt(v) -> str:
    return repr(float(v))


def annotation_file_of(entry: Dict) -> Path:
    """The annotation json of a run's dataset, as the runner recorded it in the config (``annotation_file``)."""
    path = entry.get("annotation_file")
    if not path:
        raise ValueError(f"dataset '{entry['name']}' of this run has no annotation file; COCO/LVIS evaluation "
                         f"needs one (use coco, coco2017 or lvis)")
    return Path(path)
