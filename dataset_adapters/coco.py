"""Generic COCO-format instance segmentation dataset (any images folder + instances json).

Layout: ``--root`` is the images folder, ``--ann`` the COCO instances json (``images``,
``annotations`` with polygon or RLE ``segmentation``; ``iscrowd`` regions are kept but flagged).
``coco2017`` is the same reader with the official COCO 2017 layout.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, DatasetLayoutError, image_loader


def load_coco_json(path: Path) -> dict:
    """Read a COCO json; one-line error naming the file if it is not one."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetLayoutError(f"{path}: not a readable COCO json ({exc})") from exc
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise DatasetLayoutError(f"{path}: not a COCO instances json (expected keys 'images' and 'annotations')")
    return data


@DATASETS.register("coco")
class CocoFormat(DatasetAdapter):
    """Any dataset in COCO instances format: --root IMAGES_DIR --ann INSTANCES.json"""

    name = "coco"
    title = "COCO-format instance segmentation"
    domain = "any"
    mask_type = "instance"
    layout = "IMAGES_DIR with the image files named in --ann (a COCO instances json)"
    source = "any COCO-format export"
    license = "the dataset's own"

    def images_dir(self) -> Path:
        return self.root

    def annotation_file(self) -> Path:
        if self.ann is None:
            raise DatasetLayoutError(f"{self.root}: {self.name} needs --ann INSTANCES.json (a COCO instances json)")
        return self.ann

    def check_layout(self) -> None:
        ann = self.annotation_file()
        if not ann.is_file():
            raise DatasetLayoutError(f"{ann}: annotation file not found; {self.name} expects {self.layout}")
        if not self.images_dir().is_dir():
            raise DatasetLayoutError(f"{self.images_dir()}: images folder not found; {self.name} expects {self.layout}")
        data = load_coco_json(ann)
        self.categories = {c["id"]: c for c in data.get("categories", [])}
        self._images: Dict[str, dict] = {}
        for im in data["images"]:
            self._images[str(im["id"])] = im
        self._anns: Dict[str, List[dict]] = defaultdict(list)
        for a in data["annotations"]:
            self._anns[str(a["image_id"])].append(a)

    def image_ids(self) -> List[str]:
        return sorted(self._images, key=lambda s: (len(s), s))

    def image_record(self, image_id: str) -> dict:
        return self._images[image_id]

    def load_sample(self, image_id: str) -> Sample:
        im = self._images[image_id]
        h, w = int(im["height"]), int(im["width"])
        path = self.images_dir() / im["file_name"]
        if not path.is_file():
            raise BadSampleError(f"{path}: image file missing")
        instances = []
        for a in self._anns.get(image_id, []):
            try:
                rle = mask_utils.from_segmentation(a["segmentation"], h, w)
            except Exception as exc:
                raise BadSampleError(f"{self.annotation_file()}: annotation {a.get('id')} has a bad segmentation ({exc})")
            cat = self.categories.get(a.get("category_id"), {})
            instances.append(Instance(
                id=str(a["id"]), rle=rle, category_id=a.get("category_id"), iscrowd=bool(a.get("iscrowd", 0)),
                extra={"category": cat.get("name")} if cat else {},
            ))
        return Sample(image_id=image_id, height=h, width=w, instances=instances,
                      loader=image_loader(path), image_path=path)


@DATASETS.register("coco2017")
class Coco2017(CocoFormat):
    """COCO 2017 val (instances), official layout: ROOT/val2017/*.jpg, ROOT/annotations/instances_val2017.json"""

    name = "coco2017"
    title = "Microsoft COCO 2017"
    domain = "Scenes"
    split = "val2017"
    layout = "ROOT/{val2017,train2017}/*.jpg and ROOT/annotations/instances_{val2017,train2017}.json"
    source = "https://cocodataset.org/#download (val2017.zip, annotations_trainval2017.zip)"
    license = "annotations CC BY 4.0; images under their Flickr licences"
    citation = "Lin et al., Microsoft COCO: Common Objects in Context, ECCV 2014"

    def images_dir(self) -> Path:
        return self.root / self.split

    def annotation_file(self) -> Path:
        return self.ann or self.root / "annotations" / f"instances_{self.split}.json"
