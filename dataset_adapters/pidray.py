"""PIDray (Wang et al., ICCV 2021): prohibited items in X-ray baggage scans, "hard" test subset.

Release: the PIDray archive of https://github.com/bywang2018/security-dataset (Google Drive /
Baidu links in that README; 47,677 images: train 29,457, test easy 9,482 / hard 3,733 / hidden
5,005), 12 categories with instance masks. Licence: non-commercial research use per the
dataset page (terms not re-checked here). Cite: Wang, Zhang, Zhang, Du, Wen, Guo, Zhang,
"Towards Real-World Prohibited Item Detection: A Large-Scale X-ray Benchmark", ICCV 2021.

Layout under ``--root`` (the unpacked ``pidray`` folder)::

    ROOT/annotations/xray_test_hard.json      COCO instances json (also xray_train / _easy / _hidden)
    ROOT/hard/*.png                           the hard test images (also train/, easy/, hidden/)

Masks: every annotation of the json is one instance (polygons rasterised at the image size).
Default split "Test (hard)" (SAM Table 7: all 3,733 hard images); ``--split easy|hidden|train``
reads the other subsets (``annotations/xray_<split>.json`` for train, ``xray_test_<split>.json``
for the test subsets).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from .base import DATASETS, require
from ._polygons import CocoJsonAdapter


@DATASETS.register("pidray")
class PIDray(CocoJsonAdapter):
    """PIDray X-ray prohibited items, test hard (COCO json)"""

    title = "PIDray"
    domain = "X-ray"
    mask_type = "instance"
    split = "Test (hard)"
    layout = "ROOT/annotations/xray_test_hard.json and ROOT/hard/*.png (or <easy|hidden|train>)"
    source = "https://github.com/bywang2018/security-dataset (PIDray archive)"
    license = "non-commercial research use (dataset page terms)"
    citation = ("Wang et al., Towards Real-World Prohibited Item Detection: A Large-Scale X-ray Benchmark, "
                "ICCV 2021")
    paper_images = 3733
    paper_masks = 8892

    def split_folder(self) -> str:
        return "hard" if self.split == type(self).split else str(self.split).lower()

    def coco_sources(self) -> List[Tuple[Path, Path]]:
        sub = self.split_folder()
        ann = f"annotations/xray_{sub}.json" if sub == "train" else f"annotations/xray_test_{sub}.json"
        require(self, ann, sub)
        return [(self.root / ann, self.root / sub)]
