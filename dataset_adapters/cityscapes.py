"""Cityscapes fine annotations as panoptic masks: one mask per thing instance and per stuff class.

Release: ``leftImg8bit_trainvaltest.zip`` and ``gtFine_trainvaltest.zip`` from
https://www.cityscapes-dataset.com/ (registration; Cityscapes terms, non-commercial). Cite Cordts et
al., The Cityscapes dataset for semantic urban scene understanding, CVPR 2016.

Layout under ``--root``::

    leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png   (uint16)

Split: ``val`` by default (the paper's choice: 500 images, 293 images / 9,973 masks sampled).
Image id: ``<city>_<seq>_<frame>``.

How ``instanceIds`` values become masks (the paper says only "panoptic"; we follow the official
cityscapesScripts panoptic conversion and evaluation):

- value >= 1000 (``class*1000 + k``) of an evaluated thing class (person, rider, car, truck, bus,
  train, motorcycle, bicycle): one instance, id ``str(value)``, ``category_id`` = label id;
- value < 1000 of an evaluated stuff class (road, sidewalk, building, wall, fence, pole, traffic
  light, traffic sign, vegetation, terrain, sky): one segment per class, id ``str(value)``;
- value < 1000 of an evaluated thing class (a group region without instance ids, e.g. a crowd of
  people): kept as a crowd instance (``iscrowd=True``), never prompted, as the panoptic
  conversion marks it;
- void: label ids 0-6 (unlabeled, ego vehicle, rectification border, out of roi, static, dynamic,
  ground) and every class with ``ignoreInEval`` (parking, rail track, guard rail, bridge, tunnel,
  polegroup, caravan, trailer, license plate): no mask; their pixels form ``Sample.void``. By
  default they count as ordinary background (plain per-mask IoU, as the SAM paper states); the
  point task's ``--ignore-void`` excludes them from IoU and clicks, as the panoptic quality
  evaluation excludes void pixels (recorded in the run config).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, drop_empty, encode_label_map, image_loader, image_size, read_label_map

# label id -> (name, is thing, evaluated); from cityscapesScripts' labels.py
LABELS: Dict[int, tuple] = {
    0: ("unlabeled", False, False), 1: ("ego vehicle", False, False), 2: ("rectification border", False, False),
    3: ("out of roi", False, False), 4: ("static", False, False), 5: ("dynamic", False, False),
    6: ("ground", False, False), 7: ("road", False, True), 8: ("sidewalk", False, True),
    9: ("parking", False, False), 10: ("rail track", False, False), 11: ("building", False, True),
    12: ("wall", False, True), 13: ("fence", False, True), 14: ("guard rail", False, False),
    15: ("bridge", False, False), 16: ("tunnel", False, False), 17: ("pole", False, True),
    18: ("polegroup", False, False), 19: ("traffic light", False, True), 20: ("traffic sign", False, True),
    21: ("vegetation", False, True), 22: ("terrain", False, True), 23: ("sky", False, True),
    24: ("person", True, True), 25: ("rider", True, True), 26: ("car", True, True), 27: ("truck", True, True),
    28: ("bus", True, True), 29: ("caravan", True, False), 30: ("trailer", True, False), 31: ("train", True, True),
    32: ("motorcycle", True, True), 33: ("bicycle", True, True),
}
IMAGE_SUFFIX = "_leftImg8bit.png"
INSTANCE_SUFFIX = "_gtFine_instanceIds.png"


def panoptic_instances(ids: np.ndarray) -> tuple:
    """(instances, void mask) from a Cityscapes ``instanceIds`` array (see the module docstring)."""
    kept, void_values = [], []
    for v in np.unique(ids).tolist():
        label = v // 1000 if v >= 1000 else v
        name, isthing, evaluated = LABELS.get(label, ("unknown", False, False))
        if not evaluated or (v >= 1000 and not isthing):  # a stuff class never carries instance ids
            void_values.append(v)
        else:
            kept.append((v, label, name, isthing))
    rles = encode_label_map(ids, [v for v, *_ in kept])
    instances = [Instance(id=str(v), rle=rle, category_id=label, iscrowd=isthing and v < 1000,
                          extra={"category": name, "isthing": isthing})
                 for (v, label, name, isthing), rle in zip(kept, rles)]
    return instances, np.isin(ids, void_values)


@DATASETS.register("cityscapes")
class Cityscapes(DatasetAdapter):
    """Cityscapes gtFine val, panoptic (thing instances + stuff segments; void pixels in Sample.void)"""

    title = "Cityscapes"
    domain = "Driving"
    mask_type = "panoptic"
    split = "val"
    paper_split = "Validation"
    splits = ("val", "train", "test")
    folder_names = ("cityscapes",)
    layout = ("ROOT/leftImg8bit/<split>/<city>/*_leftImg8bit.png and "
              "ROOT/gtFine/<split>/<city>/*_gtFine_instanceIds.png")
    source = "https://www.cityscapes-dataset.com/ (leftImg8bit_trainvaltest.zip, gtFine_trainvaltest.zip)"
    license = "Cityscapes terms of use (non-commercial)"
    citation = "Cordts et al., The Cityscapes dataset for semantic urban scene understanding, CVPR 2016"
    paper_images = 293
    paper_masks = 9973

    def check_layout(self) -> None:
        img_dir = self.root / "leftImg8bit" / self.split
        gt_dir = self.root / "gtFine" / self.split
        if not img_dir.is_dir():
            raise self.missing(img_dir, f"leftImg8bit/{self.split}/")
        if not gt_dir.is_dir():
            raise self.missing(gt_dir, f"gtFine/{self.split}/")
        self._images: Dict[str, Path] = {}
        for p in sorted(img_dir.glob(f"*/*{IMAGE_SUFFIX}")):
            self._images[p.name[: -len(IMAGE_SUFFIX)]] = p
        self.gt_dir = gt_dir

    def image_ids(self) -> List[str]:
        return sorted(self._images)

    def load_sample(self, image_id: str) -> Sample:
        path = self._images[image_id]
        h, w = image_size(path)
        gt = self.gt_dir / path.parent.name / f"{image_id}{INSTANCE_SUFFIX}"
        if not gt.is_file():
            raise BadSampleError(f"{gt}: instanceIds annotation missing")
        ids = read_label_map(gt)
        if ids.ndim != 2:
            raise BadSampleError(f"{gt}: expected a single-channel 16-bit instanceIds image, got shape {ids.shape}")
        if ids.shape != (h, w):
            raise BadSampleError(f"{gt}: annotation is {ids.shape[1]}x{ids.shape[0]}, image is {w}x{h}")
        instances, void = panoptic_instances(ids.astype(np.int32))
        kept, dropped = drop_empty(instances)
        return Sample(image_id=image_id, height=h, width=w, instances=kept, loader=image_loader(path),
                      image_path=path, void=mask_utils.encode(void) if void.any() else None,
                      extra={"zero_area": dropped} if dropped else {})
