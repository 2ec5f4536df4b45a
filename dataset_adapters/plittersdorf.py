"""Plittersdorf (Haucke, Kühl, Steinhage 2022): wildlife seen by the SOCRATES stereo camera trap.

Release: the labeled Plittersdorf instance-segmentation data, Zenodo doi:10.5281/zenodo.7035934
(raw recordings: doi:10.5281/zenodo.6992653; page https://timm.haucke.xyz/datasets/plittersdorf;
code https://github.com/timmh/socrates). Left rectified frames of the stereo pair with one
"animal" category, exported to COCO by the authors' ``utils/ritm_to_coco*.py`` (one json per split,
all images in one folder, disparity ``.exr`` files next to them). Licence: as stated on the Zenodo record (not checked here).
Cite: Haucke, Kühl, Steinhage, "SOCRATES: Introducing Depth in Visual Wildlife Monitoring Using
Stereo Vision", Sensors 22(23):9082, 2022.

Layout under ``--root``::

    ROOT/images/*.{jpg,png}                  left frames (``<video>_<frame>.jpg``; .exr files ignored)
    ROOT/{train,val,test}.json               COCO instances json, one per split

Masks: every annotation is one instance (the export writes each colour of the RITM mask PNG as one
annotation with contour polygons, rasterised back here). The SAM paper uses train, validation and
test together (187 images, 546 masks): the default split reads every one of ``train.json``,
``val.json``, ``test.json`` that exists (at least one must); ``--split train`` (or val / test) reads one.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from .base import DATASETS, DatasetLayoutError, require
from ._polygons import CocoJsonAdapter

SPLIT_FILES = ("train", "val", "test")


@DATASETS.register("plittersdorf")
class Plittersdorf(CocoJsonAdapter):
    """Plittersdorf stereo camera-trap wildlife (COCO json, train+val+test)"""

    title = "Plittersdorf dataset"
    domain = "Stereo images"
    mask_type = "instance"
    split = "Train, validation, test"
    layout = "ROOT/images/*.jpg and ROOT/{train,val,test}.json (COCO; all present files are read)"
    source = "https://doi.org/10.5281/zenodo.7035934 (https://timm.haucke.xyz/datasets/plittersdorf)"
    license = "see the Zenodo record 7035934"
    citation = ("Haucke, Kühl, Steinhage, SOCRATES: Introducing Depth in Visual Wildlife Monitoring Using "
                "Stereo Vision, Sensors 2022")
    paper_images = 187
    paper_masks = 546

    def coco_sources(self) -> List[Tuple[Path, Path]]:
        require(self, "images")
        if self.split == type(self).split:
            names = [s for s in SPLIT_FILES if (self.root / f"{s}.json").is_file()]
            if not names:
                raise DatasetLayoutError(
                    f"{self.root}: none of train.json, val.json, test.json found; "
                    f"{self.name} expects under --root {self.layout}")
        else:
            names = [str(self.split).lower()]
            require(self, f"{names[0]}.json")
        self.files_read = [f"{n}.json" for n in names]
        return [(self.root / f"{n}.json", self.root / "images") for n in names]

    def describe(self):
        d = super().describe()
        d["files"] = getattr(self, "files_read", [])
        return d
