"""TrashCan 1.0 (Hong, Fulton, Sattar 2020): trash, ROVs and sea life in underwater ROV footage.

Release: ``dataset.zip`` from the University of Minnesota data repository (DRUM),
https://conservancy.umn.edu/handle/11299/214865 (doi:10.13020/g1gx-y834); images come from the
J-EDI deep-sea debris archive of JAMSTEC. Two annotation versions: "instance" (22 classes) and
"material" (16 classes); the SAM paper uses the instance task. Licence: per the DRUM record
(research use; J-EDI image terms apply). Cite: Hong, Fulton, Sattar, "TrashCan: A Semantically-
Segmented Dataset towards Visual Detection of Marine Debris", arXiv:2007.08097, 2020.

Layout under ``--root`` (the unpacked ``dataset`` folder)::

    ROOT/instance_version/instances_train_trashcan.json     COCO instances json
    ROOT/instance_version/train/*.jpg                       images
    ROOT/instance_version/{instances_val_trashcan.json,val/}
    ROOT/material_version/...                               (not used by default)

Masks: every annotation is one instance. Default split "Train (instance task)";
``--split val`` reads the instance-task val split; ``--split material_train`` /
``material_val`` read the material version.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from .base import DATASETS, require
from ._polygons import CocoJsonAdapter


@DATASETS.register("trashcan")
class TrashCan(CocoJsonAdapter):
    """TrashCan 1.0 underwater debris, instance task train (COCO json)"""

    title = "TrashCan 1.0"
    domain = "Underwater"
    mask_type = "instance"
    split = "Train (instance task)"
    layout = ("ROOT/instance_version/instances_train_trashcan.json and ROOT/instance_version/train/*.jpg "
              "(val: instances_val_trashcan.json, val/)")
    source = "https://conservancy.umn.edu/handle/11299/214865 (dataset.zip)"
    license = "research use (DRUM record terms; J-EDI images)"
    citation = ("Hong, Fulton, Sattar, TrashCan: A Semantically-Segmented Dataset towards Visual Detection "
                "of Marine Debris, arXiv:2007.08097, 2020")
    paper_images = 5936
    paper_masks = 9540

    def coco_sources(self) -> List[Tuple[Path, Path]]:
        split = "train" if self.split == type(self).split else str(self.split).lower()
        version = "instance_version"
        if split.startswith("material_"):
            version, split = "material_version", split[len("material_"):]
        base = f"{version}"
        ann = f"{base}/instances_{split}_trashcan.json"
        require(self, base, ann, f"{base}/{split}")
        return [(self.root / ann, self.root / base / split)]
