"""A tiny RefCOCO in the refer API's native layout, with every answer known by construction.

``write_refcoco(root)`` writes::

    ROOT/refcoco/instances.json       COCO-style images / annotations (polygons) / categories
    ROOT/refcoco/refs(unc).p          the refs list, pickled the way Python 2's cPickle wrote the
                                      official files (protocol 2, str as BINSTRING bytes)
    ROOT/images/mscoco/images/train2014/COCO_train2014_<id>.jpg

Objects are axis-aligned rectangles (a COCO polygon [x0, y0, x1, y0, x1, y1, x0, y1] rasterises to
exactly columns x0..x1-1, rows y0..y1-1). Object E is two polygons (two 15x10 rectangles).

=====  ======  ======  =====  =========  ==========================================
image  split   object  area   sentences  IoU with text-oracle keep_pixels=200 (=min(200, a)/a)
=====  ======  ======  =====  =========  ==========================================
1      val     A       100    2          1
1      val     B       400    1          0.5
2      testA   C       1600   2          0.125
2      testA   D       64     1          1
3      testB   E       300    1          2/3
4      train   F       100    1          (not evaluated by default)
=====  ======  ======  =====  =========  ==========================================

Hand-computed (``EXPECTED``): val mIoU = (1 + 1 + .5) / 3, cIoU = (100 + 100 + 200) / (100 + 100 +
400); testA mIoU = (.125 + .125 + 1) / 3, cIoU = (200 + 200 + 64) / (1600 + 1600 + 64); testB
mIoU = cIoU = 200 / 300. The refs file also holds two refs that cannot be used: one whose ann_id is
not in instances.json, one without any sentence (counted, never evaluated).
"""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path
from typing import Dict

import numpy as np
from PIL import Image

SIZE = (64, 80)  # (height, width)
IMAGES = {1: "val", 2: "testA", 3: "testB", 4: "train"}
# object name -> (image id, annotation id, category id, list of (x0, y0, x1, y1) rectangles)
OBJECTS = {
    "A": (1, 11, 1, [(5, 5, 15, 15)]),
    "B": (1, 12, 2, [(30, 20, 50, 40)]),
    "C": (2, 21, 1, [(10, 10, 50, 50)]),
    "D": (2, 22, 3, [(60, 40, 68, 48)]),
    "E": (3, 31, 2, [(20, 20, 35, 30), (35, 20, 50, 30)]),
    "F": (4, 41, 1, [(5, 5, 15, 15)]),
}
CATEGORIES = {1: "person", 2: "dog", 3: "umbrella"}
SENTENCES = {
    "A": ["the small square top left", "tiny thing near the corner"],
    "B": ["dog in the middle"],
    "C": ["big person", "the largest object, café colour"],
    "D": ["umbrella on the right"],
    "E": ["dog made of two parts"],
    "F": ["train object"],
}
EXPECTED = {
    "val": {"miou": (1 + 1 + 0.5) / 3, "ciou": 400 / 600, "n": 3,
            "precision": {0.5: 1.0, 0.6: 2 / 3, 0.7: 2 / 3, 0.8: 2 / 3, 0.9: 2 / 3}},
    "testA": {"miou": (0.125 + 0.125 + 1) / 3, "ciou": 464 / 3264, "n": 3,
              "precision": {0.5: 1 / 3, 0.6: 1 / 3, 0.7: 1 / 3, 0.8: 1 / 3, 0.9: 1 / 3}},
    "testB": {"miou": 2 / 3, "ciou": 2 / 3, "n": 1,
              "precision": {0.5: 1.0, 0.6: 1.0, 0.7: 0.0, 0.8: 0.0, 0.9: 0.0}},
}


def rect_mask(rects) -> np.ndarray:
    m = np.zeros(SIZE, dtype=bool)
    for x0, y0, x1, y1 in rects:
        m[y0:y1, x0:x1] = True
    return m


def expected_masks() -> Dict[str, Dict[str, np.ndarray]]:
    """image id -> {annotation id: mask} for the default (evaluation) splits."""
    out: Dict[str, Dict[str, np.ndarray]] = {}
    for name, (img, ann, _, rects) in OBJECTS.items():
        if IMAGES[img] != "train":
            out.setdefault(str(img), {})[str(ann)] = rect_mask(rects)
    return out


def refs() -> list:
    out, sent_id = [], 0
    for ref_id, (name, (img, ann, cat, _)) in enumerate(OBJECTS.items()):
        sents = []
        for s in SENTENCES[name]:
            sents.append({"tokens": s.split(), "raw": s.upper(), "sent_id": sent_id, "sent": s})
            sent_id += 1
        out.append({"sent_ids": [s["sent_id"] for s in sents], "file_name": f"COCO_train2014_{img:012d}_{ann}.jpg",
                    "ann_id": ann, "ref_id": ref_id, "image_id": img, "split": IMAGES[img], "sentences": sents,
                    "category_id": cat})
    out.append({"sent_ids": [90], "file_name": "x.jpg", "ann_id": 999, "ref_id": 90, "image_id": 1, "split": "val",
                "sentences": [{"tokens": ["ghost"], "raw": "ghost", "sent_id": 90, "sent": "ghost"}], "category_id": 1})
    out.append({"sent_ids": [], "file_name": "y.jpg", "ann_id": 12, "ref_id": 91, "image_id": 1, "split": "val",
                "sentences": [], "category_id": 2})
    return out


class Py2Pickler(pickle._Pickler):
    """Protocol 2 with every str written as a Python 2 byte string (BINSTRING), as cPickle did."""

    def save_str(self, obj):
        b = obj.encode("utf-8")
        if len(b) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(b)]) + b)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(b)) + b)
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[str] = save_str


def py2_pickle(obj, path: Path) -> Path:
    with open(path, "wb") as f:
        Py2Pickler(f, protocol=2).dump(obj)
    return path


def write_refcoco(root: Path, folder: str = "refcoco", refs_name: str = "refs(unc).p") -> Path:
    """Write the fixture under ``root`` (see the module docstring); returns root."""
    root = Path(root)
    data_dir = root / folder
    img_dir = root / "images" / "mscoco" / "images" / "train2014"
    data_dir.mkdir(parents=True, exist_ok=True)
    img_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images, anns = [], []
    for img, split in IMAGES.items():
        name = f"COCO_train2014_{img:012d}.jpg"
        pixels = rng.integers(0, 80, size=SIZE + (3,), dtype=np.uint8)
        for obj, (i, ann, cat, rects) in OBJECTS.items():
            if i == img:
                pixels[rect_mask(rects)] = (60 * cat, 200 - 40 * cat, 120)
        Image.fromarray(pixels).save(img_dir / name, quality=95)
        images.append({"id": img, "file_name": name, "height": SIZE[0], "width": SIZE[1]})
    for obj, (img, ann, cat, rects) in OBJECTS.items():
        polys = [[x0, y0, x1, y0, x1, y1, x0, y1] for x0, y0, x1, y1 in rects]
        area = int(rect_mask(rects).sum())
        xs = [r[0] for r in rects] + [r[2] for r in rects]
        ys = [r[1] for r in rects] + [r[3] for r in rects]
        anns.append({"id": ann, "image_id": img, "category_id": cat, "segmentation": polys, "area": area,
                     "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)], "iscrowd": 0})
    cats = [{"id": k, "name": v, "supercategory": "thing"} for k, v in CATEGORIES.items()]
    (data_dir / "instances.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    py2_pickle(refs(), data_dir / refs_name)
    return root
