"""Synthetic COCO/LVIS-format datasets whose evaluation answers are known by construction.

Images are 160x160 with axis-aligned rectangles as objects (masks stored as RLE, so every area is
exact). An 8x8 point grid on a 160x160 image prompts at x, y in {10, 30, ..., 150}: an object
that contains none of those points can never be proposed by a point-prompted oracle.

Layout written under ``root``::

    val2017/000000000001.png ...
    annotations/lvis_v1_val.json         (fmt="lvis": categories with frequency r/c/f)
    annotations/instances_val2017.json   (fmt="coco")

so it reads with ``--dataset lvis --root ROOT``, ``--dataset coco2017 --root ROOT`` or
``--dataset coco --root ROOT/val2017 --ann ROOT/annotations/<file>``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image
from pycocotools import mask as coco_mask

SIZE = 160
GRID = 8
GRID_COORDS = [(i + 0.5) * SIZE / GRID for i in range(GRID)]  # 10, 30, ..., 150

CATEGORIES = {1: ("thing_f", "f"), 2: ("thing_c", "c"), 3: ("thing_r", "r"), 4: ("odd_c", "c")}


@dataclass(frozen=True)
class Obj:
    """A rectangle object: x, y, w, h in pixels and a category id."""

    x: int
    y: int
    w: int
    h: int
    cat: int

    @property
    def area(self) -> int:
        return self.w * self.h

    def reachable(self) -> bool:
        """Whether some point of the 8x8 grid falls inside (the oracle's rounding: exact here)."""
        xs = [c for c in GRID_COORDS if self.x <= round(c) < self.x + self.w]
        ys = [c for c in GRID_COORDS if self.y <= round(c) < self.y + self.h]
        return bool(xs and ys)

    @property
    def bucket(self) -> str:
        return "small" if self.area < 32 ** 2 else ("medium" if self.area < 96 ** 2 else "large")


def scenes(rare_reachable: bool = False) -> Dict[int, List[Obj]]:
    """image id -> objects. Areas are even except object E (961, category 4).

    Rare objects (category 3) contain no grid point unless ``rare_reachable``.
    """
    rare1 = Obj(144, 144, 10, 10, 3) if rare_reachable else Obj(138, 138, 8, 8, 3)
    rare2 = Obj(4, 144, 10, 10, 3) if rare_reachable else Obj(4, 140, 4, 4, 3)
    return {
        1: [Obj(0, 0, 100, 100, 1),      # A large, frequent
            Obj(110, 0, 40, 40, 2),      # B medium, common
            Obj(104, 104, 20, 20, 1),    # C small, frequent
            rare1],                      # R small, rare
        2: [Obj(0, 60, 160, 60, 2),      # D large, common
            Obj(20, 5, 31, 31, 4),       # E small, odd area 961, common
            rare2],                      # R2 small, rare
        3: [],                           # no objects
    }


def rect_mask(o: Obj) -> np.ndarray:
    m = np.zeros((SIZE, SIZE), dtype=np.uint8)
    m[o.y:o.y + o.h, o.x:o.x + o.w] = 1
    return m


def make_dataset(root: Path, fmt: str = "lvis", rare_reachable: bool = False,
                 layout: Optional[Dict[int, List[Obj]]] = None) -> Path:
    """Write images and the annotation json under ``root``; returns the json path."""
    root = Path(root)
    (root / "val2017").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    layout = layout if layout is not None else scenes(rare_reachable)
    rng = np.random.default_rng(0)
    images, anns = [], []
    ann_id = 1
    for image_id, objs in layout.items():
        name = f"{image_id:012d}.png"
        pixels = rng.integers(0, 60, size=(SIZE, SIZE, 3), dtype=np.uint8)
        for o in objs:
            pixels[o.y:o.y + o.h, o.x:o.x + o.w] = 60 + 40 * o.cat
        Image.fromarray(pixels).save(root / "val2017" / name)
        im = {"id": image_id, "width": SIZE, "height": SIZE, "file_name": name,
              "coco_url": f"http://images.cocodataset.org/val2017/{name}"}
        if fmt == "lvis":
            im.update({"neg_category_ids": [], "not_exhaustive_category_ids": []})
        images.append(im)
        for o in objs:
            rle = coco_mask.encode(np.asfortranarray(rect_mask(o)))
            rle["counts"] = rle["counts"].decode("ascii")
            a = {"id": ann_id, "image_id": image_id, "category_id": o.cat, "segmentation": rle,
                 "area": float(o.area), "bbox": [float(o.x), float(o.y), float(o.w), float(o.h)]}
            if fmt == "coco":
                a["iscrowd"] = 0
            anns.append(a)
            ann_id += 1
    cats = []
    for cid, (name, freq) in CATEGORIES.items():
        c = {"id": cid, "name": name, "supercategory": "thing"}
        if fmt == "lvis":
            c.update({"frequency": freq, "synset": f"{name}.n.01", "image_count": 1, "instance_count": 1})
        cats.append(c)
    data = {"images": images, "annotations": anns, "categories": cats}
    path = root / "annotations" / ("lvis_v1_val.json" if fmt == "lvis" else "instances_val2017.json")
    path.write_text(json.dumps(data))
    return path


def gt_detections(ann_path: Path, out: Path, extra: Sequence[dict] = (), score: float = 0.9) -> Path:
    """A detections file (COCO results) with every non-crowd ground-truth box, plus ``extra`` entries."""
    data = json.loads(Path(ann_path).read_text())
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": score}
            for a in data["annotations"] if not a.get("iscrowd", 0)]
    out = Path(out)
    out.write_text(json.dumps(dets + list(extra)))
    return out


def all_objects(layout: Dict[int, List[Obj]]) -> List[Obj]:
    return [o for objs in layout.values() for o in objs]


def half_iou(area: int) -> float:
    """IoU of the oracle's keep=0.5 corruption: the first floor(area/2) pixels of the mask."""
    return math.floor(0.5 * area) / area
