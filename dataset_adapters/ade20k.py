"""ADE20K, full release ``ADE20K_2021_17_01``: scene images with object AND part instance masks.

Release: ``ADE20K_2021_17_01.zip`` from https://groups.csail.mit.edu/vision/datasets/ADE20K/ (needs
registration; ADE20K terms of use, non-commercial research). Cite Zhou et al., Scene parsing through
ADE20K dataset, CVPR 2017, and Semantic understanding of scenes through the ADE20K dataset, IJCV 2019.

Layout under ``--root`` (the folder ``ADE20K_2021_17_01`` or the folder holding it)::

    images/ADE/{training,validation}/<scene category>/<scene>/ADE_<split>_<8 digits>.jpg
        ... _seg.png        objects: class = R/10*256 + G, instance = B (distinct B per object)
        ... _parts_<N>.png  parts of level N (same encoding), N = 1, 2, ...
        ... .json           per-object metadata (names, part hierarchy, polygons)
        ... <stem>/instance_NNN_<stem>.png   per-object amodal masks (not used)

Split: ``validation`` by default (the paper's choice; 2000 images). The paper uses objects and
parts (302 images / 10,128 masks sampled). Every distinct non-zero B value of ``_seg.png`` on
labelled pixels (class > 0) is one object instance, id ``o<B>``; every distinct B of
``_parts_<N>.png`` is one part instance, id ``p<N>_<B>``. Masks are the visible pixels as the
``_seg``/``_parts`` files give them (the amodal ``instance_NNN`` files are not used), so a part
overlaps its object. ``category_id`` is the class index (R/10*256+G, equal to the json's
``name_ndx``); ``extra`` holds ``level`` (0 = object, N = part level) and the class ``name`` when the
json is there. If two classes share one B value (more than 255 objects), the instance is split by
class and the id gets a ``_c<class>`` suffix. The ``index_ade20k.pkl`` index is not needed (and
not unpickled): images are found by walking ``images/ADE/<split>``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Iterator, List

import numpy as np

from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, drop_empty, encode_label_map, image_loader, image_size, read_label_map

RELEASE = "ADE20K_2021_17_01"


def decode_ade_png(rgb: np.ndarray) -> tuple:
    """(class map, instance map) of an ADE20K ``_seg``/``_parts`` RGB array."""
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    return r // 10 * 256 + g, b


def instances_from_ade_png(rgb: np.ndarray, prefix: str, level: int, names: Dict[int, str]) -> List[Instance]:
    """One instance per distinct instance value (B) on labelled pixels, split by class if shared."""
    cls, inst = decode_ade_png(rgb)
    # (instance, class) pairs on labelled pixels; class < 6656 and B < 256, so the key fits int32
    key = np.where(cls > 0, inst * 65536 + cls, -1)
    pairs = np.unique(key)  # few values: hash-based, no sort of the pixels
    index_map = np.searchsorted(pairs, key).astype(np.int32)  # pixel -> position of its pair in `pairs`
    by_b: Dict[int, List[tuple]] = {}
    for position, k in enumerate(pairs.tolist()):
        if k >= 0:
            by_b.setdefault(k // 65536, []).append((k % 65536, position))
    todo = []  # (instance id, class, position in pairs)
    for b in sorted(by_b):
        if b == 0:
            continue  # B = 0 is "no instance"
        classes = by_b[b]
        for c, position in classes:
            todo.append((f"{prefix}{b}" if len(classes) == 1 else f"{prefix}{b}_c{c}", c, position))
    out = []
    for (inst_id, c, _), rle in zip(todo, encode_label_map(index_map, [p for _, _, p in todo])):
        extra = {"level": level}
        if c in names:
            extra["name"] = names[c]
        out.append(Instance(id=inst_id, rle=rle, category_id=c, extra=extra))
    return out


@DATASETS.register("ade20k")
class ADE20K(DatasetAdapter):
    """ADE20K 2021_17_01 objects and parts (validation split)"""

    title = "ADE20K"
    domain = "Scenes"
    mask_type = "instance (objects and parts)"
    split = "validation"
    paper_split = "Validation"
    splits = ("validation", "training")
    folder_names = ("ade20k", "ade")
    layout = (f"ROOT/{RELEASE}/images/ADE/<split>/<category>/<scene>/ADE_*.jpg with _seg.png, _parts_N.png, .json "
              "beside each image")
    source = "https://groups.csail.mit.edu/vision/datasets/ADE20K/ (ADE20K_2021_17_01.zip, registration)"
    license = "ADE20K terms of use (non-commercial research)"
    citation = "Zhou et al., Semantic understanding of scenes through the ADE20K dataset, IJCV 2019"
    paper_images = 302
    paper_masks = 10128

    def check_layout(self) -> None:
        for base in (self.root, self.root / RELEASE):
            if (base / "images" / "ADE").is_dir():
                break
        else:
            raise self.missing(self.root / RELEASE / "images" / "ADE", "images/ADE/")
        self.base = base
        split_dir = base / "images" / "ADE" / self.split
        if not split_dir.is_dir():
            raise self.missing(split_dir, f"images/ADE/{self.split}/")
        self.split_dir = split_dir
        self._images: Dict[str, Path] = {p.stem: p for p in self._walk_images()}

    def _walk_images(self) -> Iterator[Path]:
        for dirpath, dirnames, filenames in os.walk(self.split_dir):
            stems = {f[:-4] for f in filenames if f.endswith(".jpg")}
            dirnames[:] = sorted(d for d in dirnames if d not in stems)  # skip per-image instance folders
            for f in sorted(filenames):
                if f.endswith(".jpg"):
                    yield Path(dirpath) / f

    def source_files(self) -> Iterator[Path]:
        """The files the samples come from (for the Arrow cache's signature): no instance folders."""
        for path in self._images.values():
            stem = path.with_suffix("")
            yield path
            for extra in (Path(f"{stem}_seg.png"), stem.with_suffix(".json")):
                if extra.exists():
                    yield extra
            yield from sorted(path.parent.glob(f"{path.stem}_parts_*.png"))

    def image_ids(self) -> List[str]:
        return sorted(self._images)

    def _names(self, json_path: Path) -> Dict[int, str]:
        """Class index -> name from the image's json (empty if missing or unreadable)."""
        try:
            with open(json_path) as f:
                objects = json.load(f)["annotation"]["object"]
            return {int(o["name_ndx"]): str(o["name"]) for o in objects}
        except Exception:
            return {}

    def load_sample(self, image_id: str) -> Sample:
        path = self._images[image_id]
        h, w = image_size(path)
        stem = str(path.with_suffix(""))
        seg_path = Path(f"{stem}_seg.png")
        if not seg_path.is_file():
            raise BadSampleError(f"{seg_path}: object annotation missing")
        names = self._names(Path(f"{stem}.json"))
        files = [(seg_path, "o", 0)]
        level = 1
        while Path(f"{stem}_parts_{level}.png").is_file():
            files.append((Path(f"{stem}_parts_{level}.png"), f"p{level}_", level))
            level += 1
        instances: List[Instance] = []
        for ann_path, prefix, lvl in files:
            rgb = read_label_map(ann_path)
            if rgb.ndim != 3 or rgb.shape[2] < 3:
                raise BadSampleError(f"{ann_path}: expected an RGB annotation, got shape {rgb.shape}")
            if rgb.shape[:2] != (h, w):
                raise BadSampleError(f"{ann_path}: annotation is {rgb.shape[1]}x{rgb.shape[0]}, image is {w}x{h}")
            instances.extend(instances_from_ade_png(rgb, prefix, lvl, names))
        kept, dropped = drop_empty(instances)
        return Sample(image_id=image_id, height=h, width=w, instances=kept, loader=image_loader(path),
                      image_path=path, extra={"zero_area": dropped} if dropped else {})
