"""Tiny datasets written in each dataset's native on-disk format, with masks known by construction.

Each ``write_<dataset>(root)`` creates the files under ``root`` and returns ``root`` plus the
expectations the tests compare against: ``{image_id: {instance_id: HxW bool mask}}`` and any other
facts (categories, extras). Sizes are a few dozen pixels so everything runs in milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
from PIL import Image

# the project root is parents[2] (tests/datasets/ -> tests/ -> root); ../shared/data sits beside it
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

Masks = Dict[str, Dict[str, np.ndarray]]


def rect(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def rect_polygon(y0: int, y1: int, x0: int, x1: int) -> list:
    """COCO polygon whose pycocotools rasterisation is exactly rect(..., y0, y1, x0, x1)."""
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def noise_image(h: int, w: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, channels), dtype=np.uint8)


def save(path: Path, array: np.ndarray, mode: str = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(array, mode) if mode else Image.fromarray(array)
    im.save(path)
    return path


def save_palette(path: Path, labels: np.ndarray) -> Path:
    """An indexed (mode P) PNG, as the Plant Phenotyping label files are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(labels.astype(np.uint8), "P")
    im.putpalette(list(np.random.default_rng(1).integers(0, 256, 768)))
    im.save(path)
    return path


def corrupt(path: Path) -> Path:
    """Overwrite a file with bytes no image reader accepts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not an image\x00\x01")
    return path


# -- BBBC038 --------------------------------------------------------------------------------------
def write_bbbc038(root: Path) -> Tuple[Path, Masks]:
    """Three samples: 'aaa' (two nuclei + one empty mask file), 'bbb' (one nucleus), 'ccc' (corrupt image)."""
    base = root / "stage1_train"
    h, w = 20, 24
    expected: Masks = {
        "aaa": {"m1": rect(h, w, 2, 6, 3, 9), "m2": rect(h, w, 10, 18, 12, 20)},
        "bbb": {"n1": rect(h, w, 0, 20, 0, 5)},
    }
    for i, (sid, masks) in enumerate(expected.items()):
        save(base / sid / "images" / f"{sid}.png", noise_image(h, w, i, channels=4), "RGBA")
        for mid, m in masks.items():
            save(base / sid / "masks" / f"{mid}.png", (m * 255).astype(np.uint8))
    save(base / "aaa" / "masks" / "empty.png", np.zeros((h, w), np.uint8))
    corrupt(base / "ccc" / "images" / "ccc.png")
    save(base / "ccc" / "masks" / "x.png", (rect(h, w, 1, 3, 1, 3) * 255).astype(np.uint8))
    return root, expected


# -- BSDS500 --------------------------------------------------------------------------------------
def write_bsds500(root: Path) -> Tuple[Path, dict]:
    """BSR/BSDS500/data with test images '100' (2 annotators) and '2001' (corrupt .mat), val image '5'."""
    from scipy.io import savemat

    data = root / "BSR" / "BSDS500" / "data"
    h, w = 12, 16
    seg_a = np.ones((h, w), np.uint16)
    seg_a[:, 8:] = 2
    seg_b = np.ones((h, w), np.uint16)
    seg_b[6:, :] = 3
    bnd_a = np.zeros((h, w), np.uint8)
    bnd_a[:, 8] = 1
    bnd_b = np.zeros((h, w), np.uint8)
    bnd_b[6, :] = 1
    cells = np.empty((1, 2), dtype=object)
    cells[0, 0] = {"Segmentation": seg_a, "Boundaries": bnd_a}
    cells[0, 1] = {"Segmentation": seg_b, "Boundaries": bnd_b}
    for split, sid in (("test", "100"), ("val", "5")):
        save(data / "images" / split / f"{sid}.jpg", noise_image(h, w, 3))
        (data / "groundTruth" / split).mkdir(parents=True, exist_ok=True)
        savemat(str(data / "groundTruth" / split / f"{sid}.mat"), {"groundTruth": cells})
    save(data / "images" / "test" / "2001.jpg", noise_image(h, w, 4))
    (data / "groundTruth" / "test" / "2001.mat").write_bytes(b"MATLAB 5.0 MAT-file, truncated")
    expected = {
        "masks": {"a0_s1": seg_a == 1, "a0_s2": seg_a == 2, "a1_s1": seg_b == 1, "a1_s3": seg_b == 3},
        "boundaries": [bnd_a.astype(bool), bnd_b.astype(bool)],
    }
    return root, expected


# -- ADE20K ---------------------------------------------------------------------------------------
def ade_rgb(cls: np.ndarray, inst: np.ndarray) -> np.ndarray:
    """Encode class and instance maps the ADE20K way: R/10*256 + G = class, B = instance."""
    r = (cls // 256) * 10
    g = cls % 256
    return np.stack([r, g, inst], axis=-1).astype(np.uint8)


def write_ade20k(root: Path) -> Tuple[Path, dict]:
    """ADE20K_2021_17_01 with one validation image (2 objects, 1 part) and one with a corrupt _seg.png."""
    folder = root / "ADE20K_2021_17_01" / "images" / "ADE" / "validation" / "urban" / "street"
    h, w = 16, 20
    stem = "ADE_val_00000001"
    car, wheel, road = rect(h, w, 2, 10, 2, 12), rect(h, w, 7, 10, 3, 6), rect(h, w, 10, 16, 0, 20)
    cls = np.zeros((h, w), np.int32)
    inst = np.zeros((h, w), np.int32)
    cls[car], inst[car] = 401, 85        # class 401 = 1*256 + 145 -> R = 10, G = 145
    cls[road], inst[road] = 2131, 170    # class 2131 = 8*256 + 83 -> R = 80, G = 83
    pcls = np.zeros((h, w), np.int32)
    pinst = np.zeros((h, w), np.int32)
    pcls[wheel], pinst[wheel] = 3050, 255
    save(folder / f"{stem}.jpg", noise_image(h, w, 5))
    save(folder / f"{stem}_seg.png", ade_rgb(cls, inst))
    save(folder / f"{stem}_parts_1.png", ade_rgb(pcls, pinst))
    (folder / stem).mkdir(exist_ok=True)
    save(folder / stem / f"instance_000_{stem}.png", (car * 255).astype(np.uint8))  # amodal masks: not read
    objects = [
        {"id": 0, "name": "car, auto", "name_ndx": 401, "parts": {"part_level": 0}},
        {"id": 1, "name": "wheel", "name_ndx": 3050, "parts": {"part_level": 1, "ispartof": 0}},
        {"id": 2, "name": "road, route", "name_ndx": 2131, "parts": {"part_level": 0}},
    ]
    (folder / f"{stem}.json").write_text(json.dumps({"annotation": {"filename": f"{stem}.jpg", "object": objects}}))
    bad = "ADE_val_00000002"
    save(folder / f"{bad}.jpg", noise_image(h, w, 6))
    corrupt(folder / f"{bad}_seg.png")
    expected = {
        stem: {"o85": (car, 401, 0, "car, auto"), "o170": (road, 2131, 0, "road, route"),
               "p1_255": (wheel, 3050, 1, "wheel")},
    }
    return root, expected


# -- Cityscapes -----------------------------------------------------------------------------------
def write_cityscapes(root: Path) -> Tuple[Path, dict]:
    """One val frame: road (stuff), sky (stuff), two cars, a person group (crowd), ego vehicle + caravan (void)."""
    h, w = 16, 32
    ids = np.full((h, w), 7, np.uint16)           # road
    ids[:4, :] = 23                               # sky
    ids[6:10, 2:8] = 26000                        # car 0
    ids[6:10, 10:16] = 26001                      # car 1
    ids[5:9, 20:24] = 24                          # person group without instance ids -> crowd
    ids[14:, :] = 1                               # ego vehicle -> void
    ids[5:8, 26:30] = 29000                       # caravan (ignoreInEval) -> void
    city, fid = "aachen", "aachen_000000_000019"
    save(root / "leftImg8bit" / "val" / city / f"{fid}_leftImg8bit.png", noise_image(h, w, 7))
    save(root / "gtFine" / "val" / city / f"{fid}_gtFine_instanceIds.png", ids)
    save(root / "leftImg8bit" / "val" / city / "aachen_000001_000019_leftImg8bit.png", noise_image(h, w, 8))
    save(root / "gtFine" / "val" / city / "aachen_000001_000019_gtFine_instanceIds.png", np.ones((h // 2, w), np.uint16))
    expected = {
        "7": (ids == 7, False), "23": (ids == 23, False), "26000": (ids == 26000, False),
        "26001": (ids == 26001, False), "24": (ids == 24, True),
    }
    void = (ids == 1) | (ids == 29000)
    return root, {"image_id": fid, "masks": expected, "void": void, "mismatched": "aachen_000001_000019"}


# -- LVIS -----------------------------------------------------------------------------------------
def write_lvis(root: Path, version: str = "v1") -> Tuple[Path, dict]:
    """COCO-style root with LVIS json: image 1 in val2017, image 2 in train2017 (v1 style), image 3 missing."""
    h, w = 20, 30
    save(root / "val2017" / "000000000001.jpg", noise_image(h, w, 9))
    save(root / "train2017" / "000000000002.jpg", noise_image(h, w, 10))
    url = "http://images.cocodataset.org/{}/{:012d}.jpg"
    images = [
        {"id": 1, "height": h, "width": w, "coco_url": url.format("val2017", 1),
         "not_exhaustive_category_ids": [2], "neg_category_ids": [3]},
        {"id": 2, "height": h, "width": w, "coco_url": url.format("train2017", 2),
         "not_exhaustive_category_ids": [], "neg_category_ids": []},
        {"id": 3, "height": h, "width": w, "coco_url": url.format("val2017", 3),
         "not_exhaustive_category_ids": [], "neg_category_ids": []},
    ]
    if version == "v0.5":  # v0.5 also carries file_name
        for im in images:
            im["file_name"] = f"{im['id']:012d}.jpg"
    anns = [
        {"id": 11, "image_id": 1, "category_id": 1, "segmentation": [rect_polygon(2, 8, 3, 10)], "area": 42, "bbox": []},
        {"id": 12, "image_id": 1, "category_id": 2, "segmentation": [rect_polygon(10, 15, 0, 4), rect_polygon(16, 20, 25, 30)],
         "area": 40, "bbox": []},
        {"id": 13, "image_id": 1, "category_id": 2, "segmentation": [[5, 5, 5, 5, 5, 5]], "area": 0, "bbox": []},
        {"id": 21, "image_id": 2, "category_id": 3, "segmentation": [rect_polygon(0, 20, 0, 30)], "area": 600, "bbox": []},
        {"id": 31, "image_id": 3, "category_id": 1, "segmentation": [rect_polygon(0, 2, 0, 2)], "area": 4, "bbox": []},
    ]
    cats = [{"id": 1, "name": "apple", "synset": "apple.n.01", "frequency": "f"},
            {"id": 2, "name": "kazoo", "synset": "kazoo.n.01", "frequency": "r"},
            {"id": 3, "name": "zebra", "synset": "zebra.n.01", "frequency": "c"}]
    name = "lvis_v0.5_val.json" if version == "v0.5" else "lvis_v1_val.json"
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / name).write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    m12 = rect(h, w, 10, 15, 0, 4) | rect(h, w, 16, 20, 25, 30)
    expected = {"1": {"11": (rect(h, w, 2, 8, 3, 10), 1, "f"), "12": (m12, 2, "r")},
                "2": {"21": (np.ones((h, w), bool), 3, "c")}}
    return root, expected


# -- PPDLS ----------------------------------------------------------------------------------------
def write_ppdls(root: Path) -> Tuple[Path, Masks]:
    """Plant_Phenotyping_Datasets with two labelled plants (palette and RGB labels) and one unlabelled tray image."""
    base = root / "Plant_Phenotyping_Datasets"
    h, w = 14, 18
    lab1 = np.zeros((h, w), np.uint8)
    lab1[1:5, 1:6] = 1
    lab1[6:12, 8:16] = 2
    lab1[12:14, 0:3] = 7
    save(base / "Plant" / "Ara2012" / "ara2012_plant001_rgb.png", noise_image(h, w, 11))
    save_palette(base / "Plant" / "Ara2012" / "ara2012_plant001_label.png", lab1)
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[0:7, :] = (255, 0, 0)
    rgb[7:14, 9:] = (0, 0, 255)
    save(base / "Plant" / "Tobacco" / "tobacco_plant001_rgb.png", noise_image(h, w, 12))
    save(base / "Plant" / "Tobacco" / "tobacco_plant001_label.png", rgb)
    save(base / "Tray" / "Ara2012" / "ara2012_tray01_rgb.png", noise_image(h, w, 13))
    save(base / "Tray" / "Ara2012" / "ara2012_tray01_fg.png", np.zeros((h, w), np.uint8))
    red = (255 << 16)
    expected: Masks = {
        "Plant/Ara2012/ara2012_plant001": {"1": lab1 == 1, "2": lab1 == 2, "7": lab1 == 7},
        "Plant/Tobacco/tobacco_plant001": {str(red): rgb[..., 0] == 255, "255": rgb[..., 2] == 255},
    }
    return base, expected


# -- DOORS ----------------------------------------------------------------------------------------
def write_doors(root: Path) -> Tuple[Path, Masks]:
    """DOORS/Regression with two DS1 sets; one image lacks its mask, one mask is empty."""
    base = root / "DOORS" / "Regression"
    h, w = 16, 16
    expected: Masks = {}
    for k, s in enumerate(("Te1_5000_b_2022-08-02 11.16.00", "Te2_5000_ub_2022-08-02 11.16.11")):
        m = rect(h, w, 2 + k, 9 + k, 4, 12)
        save(base / s / "img" / "0001.png", noise_image(h, w, 14 + k, channels=1)[..., 0])
        save(base / s / "Rock_all" / "0001.png", (m * 255).astype(np.uint8))
        expected[f"{s}/0001"] = {"0001": m}
    s = "Te1_5000_b_2022-08-02 11.16.00"
    save(base / s / "img" / "0002.png", noise_image(h, w, 16))
    save(base / s / "img" / "0003.png", noise_image(h, w, 17))
    save(base / s / "Rock_all" / "0003.png", np.zeros((h, w), np.uint8))
    return root / "DOORS", expected


# -- TimberSeg ------------------------------------------------------------------------------------
def write_timberseg(root: Path) -> Tuple[Path, Masks]:
    """Mendeley layout: prescaled/ with two images and coco_annotation.json (one zero-area polygon)."""
    base = root / "y5npsm3gkj-2"
    folder = base / "prescaled"
    h, w = 18, 24
    save(folder / "log_001.png", noise_image(h, w, 18))
    save(folder / "log_002.png", noise_image(h, w, 19))
    images = [{"id": 1, "file_name": "log_001.png", "height": h, "width": w},
              {"id": 2, "file_name": "log_002.png", "height": h, "width": w}]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 0, "segmentation": [rect_polygon(1, 5, 2, 20)], "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 0, "segmentation": [rect_polygon(6, 10, 2, 20)], "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 0, "segmentation": [rect_polygon(0, 18, 10, 14)], "iscrowd": 0},
        {"id": 4, "image_id": 2, "category_id": 0, "segmentation": [[3, 3, 3, 3, 3, 3]], "iscrowd": 0},
    ]
    (folder / "coco_annotation.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 0, "name": "log"}]}))
    expected: Masks = {"1": {"1": rect(h, w, 1, 5, 2, 20), "2": rect(h, w, 6, 10, 2, 20)},
                       "2": {"3": rect(h, w, 0, 18, 10, 14)}}
    return base, expected


# -- NDD20 ----------------------------------------------------------------------------------------
def write_ndd20(root: Path) -> Tuple[Path, dict]:
    """NDD20 with one ABOVE image (polyline fin + a 2-point region) and two BELOW images (one file missing)."""
    base = root / "NDD20"
    h, w = 20, 26
    save(base / "ABOVE" / "1.jpg", noise_image(h, w, 20))
    save(base / "BELOW" / "7.jpg", noise_image(h, w, 21))
    def region(y0, y1, x0, x1, kind="polygon", **attrs):
        return {"shape_attributes": {"name": kind, "all_points_x": [x0, x1, x1, x0], "all_points_y": [y0, y0, y1, y1]},
                "region_attributes": {"species": "white-beaked", **attrs}}
    above = {"1.jpg1234": {"filename": "1.jpg", "size": 1234, "regions": [
        region(2, 9, 3, 12, kind="polyline", id="42"),
        {"shape_attributes": {"name": "polygon", "all_points_x": [1, 2], "all_points_y": [1, 2]},
         "region_attributes": {}},
        region(10, 18, 14, 25),
    ]}}
    below = {"7.jpg99": {"filename": "7.jpg", "size": 99, "regions": {"0": region(0, 20, 0, 5)}},
             "8.jpg98": {"filename": "8.jpg", "size": 98, "regions": []}}
    (base / "ABOVE_LABELS.json").write_text(json.dumps(above))
    (base / "BELOW_LABELS.json").write_text(json.dumps(below))
    expected = {"ABOVE/1": {"0": rect(h, w, 2, 9, 3, 12), "2": rect(h, w, 10, 18, 14, 25)},
                "BELOW/7": {"0": rect(h, w, 0, 20, 0, 5)}}
    return base, {"masks": expected, "zero_area": {"ABOVE/1": ["1"]}, "missing": "BELOW/8"}


# -- DAVIS / COCO-MVal ----------------------------------------------------------------------------
def write_img_gt(root: Path) -> Tuple[Path, Masks]:
    """RITM-style img/ + gt/: 'a' (3-channel 0/255 mask), 'b' (grey mask), 'c' (no mask), 'd' (size mismatch)."""
    h, w = 12, 14
    ma, mb = rect(h, w, 1, 6, 2, 9), rect(h, w, 4, 12, 0, 14)
    save(root / "img" / "a.jpg", noise_image(h, w, 22))
    save(root / "gt" / "a.png", np.repeat((ma * 255).astype(np.uint8)[..., None], 3, axis=2))
    save(root / "img" / "b.jpg", noise_image(h, w, 23))
    save(root / "gt" / "b.png", (mb * 1).astype(np.uint8))
    save(root / "img" / "c.jpg", noise_image(h, w, 24))
    save(root / "img" / "d.jpg", noise_image(h, w, 25))
    save(root / "gt" / "d.png", np.zeros((h + 1, w), np.uint8))
    return root, {"a": {"a": ma}, "b": {"b": mb}}
