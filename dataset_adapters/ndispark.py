"""NDISPark, Night and Day Instance Segmented Park (Ciampi et al. 2021/2022): parked vehicles.

Release: Zenodo record 6560823 (https://zenodo.org/record/6560823), images of parking lots from
fixed cameras by day and night, vehicles annotated with instance masks in COCO format; official
splits train (day, 112 images), validation (night), test (night, counts only). Licence: Open Data
Commons Attribution (ODC-By, per the Zenodo record). Cite: Ciampi, Santiago, Costeira, Gennaro,
Amato, "Domain Adaptation for Traffic Density Estimation", VISAPP 2021, and Ciampi, Santiago,
Falchi, Gennaro, Amato, "Night and Day Instance Segmented Park (NDISPark) Dataset", Zenodo 2022.

Layout under ``--root`` (the unpacked archive)::

    ROOT/train/**/<name>.json           COCO instances json of the train split (up to 3 levels deep)
    ROOT/train/**/images/               train images next to (or one level above) the json
    ROOT/validation/...  ROOT/test/...  the other splits (same shape)

The inner file names of the archive could not be checked here, so inside the split folder every
COCO-looking json is read and the images are looked up in ``images/`` or ``imgs/`` beside or above
it (``file_name`` as a relative path first, then by basename); ``--ann FILE`` names the json.
Default split "Train" (SAM Table 7: 111 images, 2,577 masks; the one train image without any
vehicle gives no mask and drops out of the manifest). Every annotation is one vehicle instance.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from .base import DATASETS
from ._polygons import CocoJsonAdapter, discovered_coco_sources


@DATASETS.register("ndispark")
class NDISPark(CocoJsonAdapter):
    """NDISPark parking-lot vehicles, day+night (COCO json, train split)"""

    title = "Night and Day Instance Segmented Park (NDISPark)"
    domain = "Parking lots"
    mask_type = "instance"
    split = "Train"
    layout = "ROOT/<train|validation|test>/ with a COCO json (<= 3 levels deep) and images/ beside or above it"
    source = "https://zenodo.org/record/6560823"
    license = "ODC-By 1.0"
    citation = ("Ciampi et al., Domain Adaptation for Traffic Density Estimation, VISAPP 2021; "
                "NDISPark dataset, Zenodo 2022")
    paper_images = 111
    paper_masks = 2577

    def split_folder(self) -> str:
        return "train" if self.split == type(self).split else str(self.split).lower()

    def coco_sources(self) -> List[Tuple[Path, Path]]:
        return discovered_coco_sources(self, self.root / self.split_folder())
