"""STREETS (Snyder & Do, NeurIPS 2019 Datasets): vehicles in suburban traffic-camera images.

Release: Illinois Data Bank, doi:10.13012/B2IDB-3671567_V1
(https://databank.illinois.edu/datasets/IDB-3671567). The full release is 4M+ web-camera images
of Lake County, IL with traffic graphs; only ``vehicleannotations.zip`` has masks. The SAM
authors confirm that this is the archive they evaluated ("contains images and instance
segmentation masks for the vehicles", segment-anything issue #143), with no split ("N/A"):
every annotated image is read. Licence: as stated on the Illinois Data Bank record (not checked
here). Cite: Snyder, Do,
"STREETS: A Novel Camera Network Dataset for Traffic Flow", NeurIPS 2019.

Layout under ``--root`` (the folder ``vehicleannotations.zip`` is unpacked into)::

    ROOT/**/<name>.json      COCO instances json(s), searched up to 3 levels deep
    ROOT/**/images/          the images, next to (or one level above) each json

The archive's inner file names could not be checked here: the adapter reads every COCO-looking
json under ROOT and looks for the images in ``images/`` (or ``imgs/``) beside or above the json,
then in the json's own folder, matching ``file_name`` first as a relative path, then by basename.
``--ann FILE`` names the json explicitly. Every annotation is one vehicle instance.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from .base import DATASETS
from ._polygons import CocoJsonAdapter, discovered_coco_sources


@DATASETS.register("streets")
class Streets(CocoJsonAdapter):
    """STREETS traffic-camera vehicles (vehicleannotations.zip, COCO json)"""

    title = "STREETS"
    domain = "Traffic camera"
    mask_type = "instance"
    split = "N/A (vehicleannotations)"
    layout = "ROOT = unpacked vehicleannotations.zip: COCO json(s) within 3 levels + images/ beside or above them"
    source = "https://databank.illinois.edu/datasets/IDB-3671567 (vehicleannotations.zip)"
    license = "see the Illinois Data Bank record"
    citation = "Snyder, Do, STREETS: A Novel Camera Network Dataset for Traffic Flow, NeurIPS 2019"
    paper_images = 819
    paper_masks = 9854

    def coco_sources(self) -> List[Tuple[Path, Path]]:
        return discovered_coco_sources(self, self.root)
