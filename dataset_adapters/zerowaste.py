"""ZeroWaste-f (Bashkirova et al., CVPR 2022): deformable recycling waste on a conveyor belt.

Release: ``zerowaste-f-final.zip`` from Zenodo record 6412647
(https://zenodo.org/record/6412647/files/zerowaste-f-final.zip; project page http://ai.bu.edu/zerowaste/),
the "fully supervised" ZeroWaste-f split, 4 object classes (rigid plastic, cardboard, metal, soft
plastic). Licence: CC BY-NC 4.0. Cite: Bashkirova, Abdelfattah, Zhu, Akl, Alladkani, Hu, Ablavsky,
Calli, Bargal, Saenko, "ZeroWaste Dataset: Towards Deformable Object Segmentation in Cluttered
Scenes", CVPR 2022.

Layout under ``--root`` (the folder the zip is unpacked into, as in the MESS benchmark's
``prepare_zerowaste.py``)::

    ROOT/splits_final_deblurred/{train,val,test}/data/*.PNG       images (1920x1080)
    ROOT/splits_final_deblurred/{train,val,test}/labels.json      COCO instances json
    ROOT/splits_final_deblurred/{train,val,test}/sem_seg/*.PNG    semantic maps (not used)

Masks: every annotation of ``labels.json`` is one instance (polygons or RLE rasterised at the
image size); the semantic PNGs are not read. The paper (SAM Table 7) uses the train split: that is
the default; ``--split val`` / ``--split test`` read the other folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from .base import DATASETS, require
from ._polygons import CocoJsonAdapter


@DATASETS.register("zerowaste")
class ZeroWaste(CocoJsonAdapter):
    """ZeroWaste-f recycling waste (COCO json, train split)"""

    title = "ZeroWaste-f"
    domain = "Recycling"
    mask_type = "instance"
    split = "Train"
    layout = "ROOT/splits_final_deblurred/<split>/{data/*.PNG, labels.json} (split train|val|test)"
    source = "https://zenodo.org/record/6412647/files/zerowaste-f-final.zip (http://ai.bu.edu/zerowaste/)"
    license = "CC BY-NC 4.0"
    citation = ("Bashkirova et al., ZeroWaste Dataset: Towards Deformable Object Segmentation in Cluttered "
                "Scenes, CVPR 2022")
    paper_images = 2947
    paper_masks = 6155

    def split_folder(self) -> str:
        return "train" if self.split == type(self).split else str(self.split).lower()

    def coco_sources(self) -> List[Tuple[Path, Path]]:
        base = f"splits_final_deblurred/{self.split_folder()}"
        require(self, base, f"{base}/data", f"{base}/labels.json")
        return [(self.root / base / "labels.json", self.root / base / "data")]
