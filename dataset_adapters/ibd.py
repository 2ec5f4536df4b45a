"""InstanceBuilding 2D (Chen et al., IEEE TGRS 2022): building roofs in high-resolution drone (UAV) images.

Release: the InstanceBuilding dataset page https://californiachen.github.io/datasets/InstanceBuilding
(download: Baidu Cloud link on that page). It holds a 2D part, 608 DJI Phantom 4 Pro images from
10+ cities with every roof (about 16k) annotated as an instance and split 524 train / 84
validation, and a 3D part (4 annotated MVS mesh scenes, not used here). The SAM paper evaluates
the train split of the 2D annotations. Licence: not stated on the dataset page (research use).
Cite: Chen, Xu, Lu, Liang, Nan, "3D Instance Segmentation of MVS Buildings", IEEE Transactions on
Geoscience and Remote Sensing, 2022 (doi:10.1109/TGRS.2022.3183567).

Layout under ``--root``::

    ROOT/2D/**/*train*.json     COCO instances json of the 2D train split (up to 3 levels deep)
    ROOT/2D/**/images/          the images next to (or one level above) the json

The archive's file names and annotation format could not be checked here; the adapter
therefore reads every COCO-looking json whose name contains the split name (``train`` by default)
under ``ROOT/2D`` (or under ROOT itself when there is no ``2D`` folder), and finds images in
``images/`` or ``imgs/`` beside or above the json. ``--ann FILE`` names the json explicitly; if
the archive's 2D annotations are not COCO json, convert them to COCO first. Every annotation is
one roof instance (polygons or RLE). The paper reports 467 images / 11,953 masks for this split
while the dataset page lists 524 train images; the difference is not explained (images without
masks drop out of the manifest; more than 15k masks would be subsampled to ~10k).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from .base import DATASETS
from ._polygons import CocoJsonAdapter, discovered_coco_sources


@DATASETS.register("ibd")
class InstanceBuilding2D(CocoJsonAdapter):
    """InstanceBuilding 2D drone roofs (COCO json, train split)"""

    title = "InstanceBuilding 2D"
    domain = "Drones"
    mask_type = "instance"
    split = "Train (2D annotations)"
    layout = "ROOT/2D/**/*train*.json (COCO, <= 3 levels deep) with images/ beside or above it"
    source = "https://californiachen.github.io/datasets/InstanceBuilding (Baidu Cloud download)"
    license = "not stated on the dataset page (research use)"
    citation = "Chen, Xu, Lu, Liang, Nan, 3D Instance Segmentation of MVS Buildings, IEEE TGRS 2022"
    paper_images = 467
    paper_masks = 11953

    def split_name(self) -> str:
        return "train" if self.split == type(self).split else str(self.split).lower()

    def coco_sources(self) -> List[Tuple[Path, Path]]:
        folder = self.root / "2D" if (self.root / "2D").is_dir() else self.root
        return discovered_coco_sources(self, folder, name_filter=self.split_name())
