"""TimberSeg 1.0: wood logs in forestry scenes, densely annotated for log grasping.

Release: Mendeley Data https://data.mendeley.com/datasets/y5npsm3gkj (Fortin et al.; CC BY 4.0),
220 images, ~2,500 log instances, one class. Cite Fortin, Gamache, Grondin, Pomerleau, Giguere,
Instance segmentation for autonomous log grasping in forestry operations, IROS 2022.

Layout under ``--root`` (the unpacked archive, or one of its two image folders)::

    prescaled/*.png                        images downscaled by the authors (recommended)
    prescaled/coco_annotation.json         COCO instances json (polygons)
    prescaled/coco_annotation_rotated.json same masks, with rotated boxes (used if the first is absent)
    original/...                           full-resolution images, same structure

Split: ``prescaled`` by default (``original`` selects the full-resolution copy); the paper reports
split "N/A" and 220 images / 2,487 masks (all of it). Masks are the json's polygons rasterised at
the json's image size; ``--ann`` overrides the json. A polygon covering no pixel is skipped and
listed in ``Sample.extra["skipped_annotations"]`` ("zero-area mask"); crowd flags are kept as given.
"""

from __future__ import annotations

from pathlib import Path

from sambench.data import Sample

from .base import DATASETS, DatasetLayoutError
from .coco import CocoFormat

ANNOTATION_NAMES = ("coco_annotation.json", "coco_annotation_rotated.json")


@DATASETS.register("timberseg")
class TimberSeg(CocoFormat):
    """TimberSeg 1.0 wood logs (COCO json beside the images, prescaled by default)"""

    title = "TimberSeg 1.0"
    domain = "Logs"
    mask_type = "instance"
    split = "prescaled"
    paper_split = "N/A"
    splits = ("prescaled", "original")
    folder_names = ("timberseg", "y5npsm3gkj")
    layout = "ROOT/prescaled/*.png with ROOT/prescaled/coco_annotation.json (or ROOT/original/...)"
    source = "https://data.mendeley.com/datasets/y5npsm3gkj"
    license = "CC BY 4.0"
    citation = ("Fortin, Gamache, Grondin, Pomerleau, Giguere, Instance segmentation for autonomous log "
                "grasping in forestry operations, IROS 2022")
    paper_images = 220
    paper_masks = 2487

    def images_dir(self) -> Path:
        if any((self.root / n).is_file() for n in ANNOTATION_NAMES) and not (self.root / self.split).is_dir():
            return self.root  # --root is the image folder itself
        return self.root / self.split

    def annotation_file(self) -> Path:
        if self.ann is not None:
            return self.ann
        for n in ANNOTATION_NAMES:
            if (self.images_dir() / n).is_file():
                return self.images_dir() / n
        return self.images_dir() / ANNOTATION_NAMES[0]

    def annotation_files(self):
        return [self.annotation_file()]

    def check_layout(self) -> None:
        if not self.images_dir().is_dir():
            raise DatasetLayoutError(f"{self.images_dir()}: {self.split}/ not found; {self.name} expects {self.layout}")
        super().check_layout()

