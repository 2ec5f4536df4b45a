"""The HTML report's gallery: the worst and best results of each dataset, drawn on their images.

For each dataset of a run (or each run against the baseline in a comparison), the N lowest and N
highest scoring items are drawn as PNG thumbnails (longest side ``THUMB`` px) under
``OUT/gallery/``, cropped around the object with context:

* point: a mask at 1 click, ranked by IoU (comparison: by IoU of the run minus the baseline, the
  baseline drawn beside it). Ground truth green, prediction magenta, the click a dot (green
  positive, red negative). The prediction is the records' ``pred_rle``.
* instances: ground-truth-box runs rank masks by IoU (the prompt box in yellow); detection runs
  rank detections with score >= 0.5 by their best IoU with a ground truth of their category.
* proposals: ground-truth objects ranked by the IoU of their best stored proposal (magenta);
  objects without one had no proposal with IoU >= 0.5.
* edges: images ranked by their best F (the OIS point); human boundaries green, the edge map at
  the run's ODS threshold magenta.
* referring: expressions ranked by IoU (comparison: by IoU minus the baseline's), the expression
  as caption; text-instances: masks with score >= 0.5 as for detections.

Images and ground truth come from the dataset as the run's config recorded it (name, root,
annotation file); when they cannot be read the gallery says so for that dataset and draws nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from sambench import masks as mask_utils
from sambench.app.store import RunFolder
from sambench.reporting import RunInfo, slug

THUMB = 256
GT_COLOR = (40, 200, 80)
PRED_COLOR = (230, 40, 200)
BOX_COLOR = (250, 220, 30)


@dataclass
class Tile:
    """One drawn thumbnail: ``src`` relative to the report folder."""

    src: str
    label: str


@dataclass
class Item:
    """One gallery entry: a caption and one thumbnail per run shown."""

    caption: str
    tiles: List[Tile] = field(default_factory=list)


@dataclass
class DatasetGallery:
    """Worst and best entries of one dataset for one run (or run vs baseline)."""

    dataset: str
    run: str
    worst: List[Item] = field(default_factory=list)
    best: List[Item] = field(default_factory=list)
    note: str = ""


# ---------------------------------------------------------------------------------------------
# drawing
# ---------------------------------------------------------------------------------------------

def _outline(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return mask & ~ndimage.binary_erosion(mask, iterations=1, border_value=0)


def draw(image: np.ndarray, masks: Sequence[Tuple[np.ndarray, Tuple[int, int, int]]] = (),
         boxes: Sequence[Tuple[Sequence[float], Tuple[int, int, int]]] = (),
         points: Sequence[Tuple[float, float, bool]] = (), lines: Sequence[Tuple[np.ndarray, Tuple[int, int, int]]] = (),
         focus: Optional[np.ndarray] = None, size: int = THUMB):
    """An RGB PIL image: ``image`` (H, W, 3 uint8) with filled masks, outlines, boxes [x, y, w, h],
    clicks (x, y, positive) and pixel lines drawn, cropped around ``focus`` (bool mask) with
    context, longest side ``size``."""
    from PIL import Image, ImageDraw

    canvas = image.astype(np.float32).copy()
    for m, color in masks:
        if m is None or not m.any():
            continue
        canvas[m] = 0.55 * canvas[m] + 0.45 * np.asarray(color, np.float32)
        canvas[_outline(m)] = color
    for m, color in lines:
        canvas[m] = color
    h, w = image.shape[:2]
    x0, y0, x1, y1 = 0, 0, w, h
    if focus is not None and focus.any():
        ys, xs = np.nonzero(focus)
        bx0, bx1, by0, by1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        for x, y, _ in points:
            bx0, bx1, by0, by1 = min(bx0, int(x)), max(bx1, int(x) + 1), min(by0, int(y)), max(by1, int(y) + 1)
        side = max(bx1 - bx0, by1 - by0) * 1.6 + 32
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        x0, x1 = int(max(0, cx - side / 2)), int(min(w, cx + side / 2))
        y0, y1 = int(max(0, cy - side / 2)), int(min(h, cy + side / 2))
    pil = Image.fromarray(canvas.clip(0, 255).astype(np.uint8)[y0:y1, x0:x1])
    scale = size / max(pil.size)
    pil = pil.resize((max(1, round(pil.size[0] * scale)), max(1, round(pil.size[1] * scale))), Image.BILINEAR)
    d = ImageDraw.Draw(pil)
    for (bx, by, bw, bh), color in boxes:
        d.rectangle([(bx - x0) * scale, (by - y0) * scale, (bx + bw - x0) * scale, (by + bh - y0) * scale],
                    outline=color, width=2)
    for x, y, positive in points:
        px, py = (x - x0 + 0.5) * scale, (y - y0 + 0.5) * scale
        d.ellipse([px - 5, py - 5, px + 5, py + 5], fill=(40, 220, 60) if positive else (230, 30, 30),
                  outline=(0, 0, 0), width=1)
    return pil


def _rle(field_value) -> Optional[np.ndarray]:
    from sambench.metrics.coco_eval import rle_from_field

    if not isinstance(field_value, str) or ":" not in field_value:
        return None
    return mask_utils.decode(rle_from_field(field_value))


class Images:
    """Loads the samples of one dataset of a run's config (adapter built once)."""

    def __init__(self, entry: Dict):
        from sambench.datasets import build_dataset

        self.name = entry["name"]
        self.adapter = build_dataset(entry["name"], entry.get("root"), ann=entry.get("ann"), split=entry.get("split"))
        self._cache: Dict[str, object] = {}

    def sample(self, image_id: str):
        if image_id not in self._cache:
            s = self.adapter.load_sample(str(image_id))
            self._cache[image_id] = (s, s.image())
        return self._cache[image_id]

    def gt(self, image_id: str, instance_id: str) -> Optional[np.ndarray]:
        s, _ = self.sample(image_id)
        inst = next((i for i in s.instances if str(i.id) == str(instance_id)), None)
        return None if inst is None else inst.mask()


# ---------------------------------------------------------------------------------------------
# per task: rank, then draw
# ---------------------------------------------------------------------------------------------

def _ends(frame: pd.DataFrame, key: str, n: int) -> Tuple[pd.DataFrame, pd.DataFrame]:
    frame = frame.sort_values(key, kind="stable")
    worst = frame.head(n)
    best = frame.tail(min(n, max(0, len(frame) - len(worst)))).iloc[::-1]
    return worst, best


def _save(pil, out: Path, dataset: str, *parts) -> str:
    rel = Path("gallery") / slug(dataset) / (slug("_".join(str(p) for p in parts)) + ".png")
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    pil.save(out / rel)
    return rel.as_posix()


def point_gallery(run: RunInfo, label: str, out: Path, n: int, base: Optional[Tuple[RunInfo, str]] = None) -> List[DatasetGallery]:
    rec = RunFolder(run.path).load_records()
    one = rec[rec["n_clicks"] == 1].copy()
    one["iou"] = one["iou"].astype(float)
    brec = None
    if base is not None:
        b = RunFolder(base[0].path).load_records()
        brec = b[b["n_clicks"] == 1].copy()
        brec["iou"] = brec["iou"].astype(float)
    galleries = []
    for entry in run.config["datasets"]:
        name = entry["name"]
        g = DatasetGallery(name, label if base is None else f"{label} vs {base[1]}")
        sel = one[one["dataset"] == name]
        if brec is not None:
            sel = sel.merge(brec[brec["dataset"] == name], on=["dataset", "image_id", "instance_id"],
                            suffixes=("", "_base"))
            sel["key"] = sel["iou"] - sel["iou_base"]
        else:
            sel = sel.assign(key=sel["iou"])
        if not len(sel):
            g.note = "no masks evaluated"
            galleries.append(g)
            continue
        if "pred_rle" not in sel.columns or sel["pred_rle"].isna().all():
            g.note = "this run's records hold no predicted masks (recorded without pred_rle): ground truth and clicks only"
        try:
            images = Images(entry)
        except Exception as exc:  # a moved or missing dataset must not stop the report
            g.note = f"images of '{name}' not available ({str(exc).splitlines()[0]}): no thumbnails"
            galleries.append(g)
            continue
        worst, best = _ends(sel, "key", n)
        for frame, target in ((worst, g.worst), (best, g.best)):
            for r in frame.itertuples(index=False):
                item = Item(f"image {r.image_id}, mask {r.instance_id}: IoU at 1 click "
                            + (f"{r.iou_base:.3f} -> {r.iou:.3f} (delta {100 * r.key:+.1f} points)" if brec is not None
                               else f"{r.iou:.3f}"))
                shown = ([(base[1], "_base")] if brec is not None else []) + [(label, "")]
                try:
                    sample, img = images.sample(str(r.image_id))
                    gt = images.gt(str(r.image_id), str(r.instance_id))
                    preds = [_rle(getattr(r, "pred_rle" + sfx, None)) for _, sfx in shown]
                    focus = gt.copy() if gt is not None else np.zeros(img.shape[:2], bool)
                    for pm in preds:  # one crop for the pair
                        if pm is not None:
                            focus |= pm
                    for (who, sfx), pred in zip(shown, preds):
                        x, y, pos = (getattr(r, c + sfx) for c in ("click_x", "click_y", "click_positive"))
                        pts = [] if pd.isna(x) else [(float(x), float(y), bool(int(pos)))]
                        pil = draw(img, [(gt, GT_COLOR), (pred, PRED_COLOR)], points=pts, focus=focus)
                        item.tiles.append(Tile(_save(pil, out, name, who, r.image_id, r.instance_id), who))
                except Exception as exc:
                    item.caption += f" [not drawn: {str(exc).splitlines()[0]}]"
                target.append(item)
        galleries.append(g)
    return galleries


def instances_gallery(run: RunInfo, label: str, out: Path, n: int) -> List[DatasetGallery]:
    from pycocotools import mask as coco_mask

    from sambench.metrics.coco_eval import rle_from_field

    entry = run.config["datasets"][0]
    name = entry["name"]
    g = DatasetGallery(name, label)
    rec = RunFolder(run.path).load_records()
    if "status" in rec.columns:
        rec = rec[rec["status"].astype(str) == "ok"].copy()
    if "box_x0" in rec.columns:  # text-instances: xyxy boxes (empty where the route gives none), phrases
        x0, y0, x1, y1 = (pd.to_numeric(rec[c], errors="coerce") for c in ("box_x0", "box_y0", "box_x1", "box_y1"))
        rec = rec.assign(box_x=x0, box_y=y0, box_w=x1 - x0, box_h=y1 - y0, det_index=rec["row_index"])
    gt_mode = run.summary.get("mode") == "gt-boxes"
    try:
        images = Images(entry)
    except Exception as exc:
        g.note = f"images of '{name}' not available ({str(exc).splitlines()[0]}): no thumbnails"
        return [g]
    if gt_mode:
        rec["key"] = rec["iou"].astype(float)
        rec["match"] = rec["instance_id"]
    else:
        rec = rec[rec["score"].astype(float) >= 0.5].copy()
        keys, match = [], []
        for image_id, grp in rec.groupby("image_id", sort=False):
            sample, _ = images.sample(str(image_id))
            for r in grp.itertuples(index=False):
                same = [i for i in sample.instances if not i.iscrowd and str(i.category_id) == str(int(r.category_id))]
                if not same:
                    keys.append(0.0)
                    match.append("")
                    continue
                ious = coco_mask.iou([_coco(rle_from_field(r.rle))], [_coco(i.rle) for i in same], [0] * len(same))
                k = int(np.argmax(ious))
                keys.append(float(np.asarray(ious).reshape(-1)[k]))
                match.append(str(same[k].id))
        rec = rec.loc[[i for _, grp in rec.groupby("image_id", sort=False) for i in grp.index]]
        rec["key"], rec["match"] = keys, match
        g.note = "detections with score >= 0.5, ranked by their best IoU with a ground truth of their category"
    if not len(rec):
        g.note = (g.note + "; " if g.note else "") + "nothing to show"
        return [g]
    worst, best = _ends(rec, "key", n)
    for frame, target in ((worst, g.worst), (best, g.best)):
        for r in frame.itertuples(index=False):
            phrase = f" '{r.phrase}'" if hasattr(r, "phrase") else ""
            item = Item(f"image {r.image_id}, {'box ' + str(r.instance_id) if gt_mode else 'mask ' + str(r.det_index)}"
                        f"{phrase}: IoU {r.key:.3f}" + ("" if gt_mode else f", score {float(r.score):.2f}"))
            try:
                _, img = images.sample(str(r.image_id))
                gt = images.gt(str(r.image_id), str(r.match)) if str(r.match) else None
                pred = _rle(r.rle)
                box = [float(r.box_x), float(r.box_y), float(r.box_w), float(r.box_h)]
                boxes = [(box, BOX_COLOR)] if np.all(np.isfinite(box)) else []
                pil = draw(img, [(gt, GT_COLOR), (pred, PRED_COLOR)], boxes=boxes,
                           focus=pred if gt is None else (gt | pred))
                item.tiles.append(Tile(_save(pil, out, name, label, r.image_id, r.det_index), label))
            except Exception as exc:
                item.caption += f" [not drawn: {str(exc).splitlines()[0]}]"
            target.append(item)
    return [g]


def _coco(rle: dict) -> dict:
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def proposals_gallery(run: RunInfo, label: str, out: Path, n: int) -> List[DatasetGallery]:
    from pycocotools import mask as coco_mask

    from sambench.metrics.coco_eval import rle_from_field

    entry = run.config["datasets"][0]
    name = entry["name"]
    g = DatasetGallery(name, label, note="ground-truth objects ranked by the IoU of their best stored proposal")
    rec = RunFolder(run.path).load_records()
    props = rec[(rec["kind"] == "proposal")]
    try:
        images = Images(entry)
    except Exception as exc:
        g.note = f"images of '{name}' not available ({str(exc).splitlines()[0]}): no thumbnails"
        return [g]
    done = [d["image_id"] for d in RunFolder(run.path).load_done() if d.get("status") == "ok"]
    rows = []
    by_image = {str(k): v for k, v in props.groupby("image_id", sort=False)}
    for image_id in done:
        sample, _ = images.sample(str(image_id))
        objs = [i for i in sample.instances if not i.iscrowd]
        p = by_image.get(str(image_id))
        if p is not None and len(p) and objs:
            ious = np.asarray(coco_mask.iou([_coco(rle_from_field(x)) for x in p["rle"]], [_coco(o.rle) for o in objs],
                                            [0] * len(objs))).reshape(len(p), len(objs))
        for j, o in enumerate(objs):
            if p is None or not len(p):
                rows.append((str(image_id), str(o.id), 0.0, None))
            else:
                k = int(np.argmax(ious[:, j]))
                rows.append((str(image_id), str(o.id), float(ious[k, j]), p["rle"].iloc[k]))
    frame = pd.DataFrame(rows, columns=["image_id", "instance_id", "key", "rle"])
    if not len(frame):
        g.note = "nothing to show"
        return [g]
    worst, best = _ends(frame, "key", n)
    for part, target in ((worst, g.worst), (best, g.best)):
        for r in part.itertuples(index=False):
            cap = (f"image {r.image_id}, object {r.instance_id}: best proposal IoU {r.key:.3f}" if r.rle is not None
                   else f"image {r.image_id}, object {r.instance_id}: no stored proposal (IoU < 0.5 with all)")
            item = Item(cap)
            try:
                _, img = images.sample(r.image_id)
                gt = images.gt(r.image_id, r.instance_id)
                pred = _rle(r.rle)
                pil = draw(img, [(gt, GT_COLOR), (pred, PRED_COLOR)], focus=gt if pred is None else gt | pred)
                item.tiles.append(Tile(_save(pil, out, name, label, r.image_id, r.instance_id), label))
            except Exception as exc:
                item.caption += f" [not drawn: {str(exc).splitlines()[0]}]"
            target.append(item)
    return [g]


def edges_gallery(run: RunInfo, label: str, out: Path, n: int) -> List[DatasetGallery]:
    from PIL import Image

    entry = run.config["datasets"][0]
    name = entry["name"]
    t = run.summary.get("ods_threshold")
    g = DatasetGallery(name, label, note=f"images ranked by their best F; edges at the ODS threshold {t:.3g}"
                       if t is not None else "images ranked by their best F")
    rec = RunFolder(run.path).load_records()
    first = rec.groupby("image_id", sort=False).first().reset_index()
    first["key"] = first["best_f"].astype(float)
    try:
        images = Images(entry)
    except Exception as exc:
        g.note = f"images of '{name}' not available ({str(exc).splitlines()[0]}): no thumbnails"
        return [g]
    worst, best = _ends(first, "key", n)
    for part, target in ((worst, g.worst), (best, g.best)):
        for r in part.itertuples(index=False):
            item = Item(f"image {r.image_id}: best F {r.key:.3f} (threshold {float(r.best_threshold):.2f})")
            try:
                sample, img = images.sample(str(r.image_id))
                gts = sample.extra.get("boundaries") if sample.extra else None
                human = np.any([np.asarray(b).astype(bool) for b in gts], axis=0) if gts is not None and len(gts) else None
                png = Path(str(r.edge_png))
                png = png if png.is_absolute() else run.path / png
                pred = None
                if png.is_file():
                    pred = np.asarray(Image.open(png)).astype(np.float64) / 255.0 >= (t if t is not None else 0.5)
                lines = [(m, c) for m, c in ((human, GT_COLOR), (pred, PRED_COLOR)) if m is not None]
                pil = draw((img * 0.6).astype(np.uint8), lines=lines)
                item.tiles.append(Tile(_save(pil, out, name, label, r.image_id), label))
            except Exception as exc:
                item.caption += f" [not drawn: {str(exc).splitlines()[0]}]"
            target.append(item)
    return [g]


def referring_gallery(run: RunInfo, label: str, out: Path, n: int,
                      base: Optional[Tuple[RunInfo, str]] = None) -> List[DatasetGallery]:
    """Expressions ranked by IoU (or by IoU minus the baseline's), drawn from the records alone (image
    file, predicted and ground-truth RLE)."""
    from PIL import Image

    keys = ["dataset", "split", "image_id", "ref_id", "sent_id"]

    def scored(r: RunInfo) -> pd.DataFrame:
        rec = RunFolder(r.path).load_records()
        rec = rec[rec["status"].isin(["ok", "no mask"])].copy()
        rec[keys] = rec[keys].astype(str)
        return rec.assign(iou=rec["intersection"].astype(float) / rec["union"].astype(float))

    rec = scored(run)
    if base is not None:
        rec = rec.merge(scored(base[0]), on=keys, suffixes=("", "_base"))
        rec["key"] = rec["iou"] - rec["iou_base"]
    else:
        rec["key"] = rec["iou"]
    galleries = []
    for entry in run.config["datasets"]:
        name = entry["name"]
        g = DatasetGallery(name, label if base is None else f"{label} vs {base[1]}",
                           note="expressions ranked by IoU" + (" minus the baseline's" if base is not None else ""))
        sel = rec[rec["dataset"] == name]
        worst, best = _ends(sel, "key", n)
        for frame, target in ((worst, g.worst), (best, g.best)):
            for r in frame.itertuples(index=False):
                ious = f"{r.iou_base:.3f} -> {r.iou:.3f}" if base is not None else f"{r.iou:.3f}"
                item = Item(f"\"{r.expression}\" ({r.split}, image {r.image_id}): IoU {ious}")
                shown = ([(base[1], "_base")] if base is not None else []) + [(label, "")]
                try:
                    img = np.asarray(Image.open(r.image_file).convert("RGB"))
                    gt = _rle(r.gt_rle)
                    preds = [_rle(getattr(r, "rle" + sfx)) for _, sfx in shown]
                    focus = gt.copy()
                    for pm in preds:
                        if pm is not None:
                            focus |= pm
                    for (who, _), pred in zip(shown, preds):
                        pil = draw(img, [(gt, GT_COLOR), (pred, PRED_COLOR)], focus=focus)
                        item.tiles.append(Tile(_save(pil, out, name, who, r.split, r.ref_id, r.sent_id), who))
                except Exception as exc:
                    item.caption += f" [not drawn: {str(exc).splitlines()[0]}]"
                target.append(item)
        galleries.append(g)
    return galleries


def build_galleries(runs: Sequence[RunInfo], labels: Sequence[str], out: Path, n: int,
                    base: Optional[Tuple[RunInfo, str]] = None) -> List[DatasetGallery]:
    """Every dataset gallery of the report: per run (and for the point task in a comparison, per
    run against the baseline)."""
    out = Path(out)
    galleries: List[DatasetGallery] = []
    if n <= 0:
        return galleries
    for run, label in zip(runs, labels):
        task = run.config["task"]
        if task == "point":
            galleries += point_gallery(run, label, out, n, base)
        elif task in ("instances", "text-instances"):
            galleries += instances_gallery(run, label, out, n)
        elif task == "referring":
            galleries += referring_gallery(run, label, out, n, base)
        elif task == "proposals":
            galleries += proposals_gallery(run, label, out, n)
        elif task == "edges":
            galleries += edges_gallery(run, label, out, n)
        else:
            galleries.append(DatasetGallery("", label, note=f"no gallery for the task '{task}'"))
    return galleries
