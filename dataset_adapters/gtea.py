"""GTEA (Fathi, Ren, Rehg, CVPR 2011; hand masks as in Li, Ye, Rehg, CVPR 2015): hands in egocentric video.

Release: the Georgia Tech Egocentric Activity hand-segmentation masks from the GT FPV page
(http://cbs.ic.gatech.edu/fpv/), redistributed as ``hand2K_dataset.zip`` (the archive the
hand-segmentation literature downloads, with ``GTEA/`` and ``GTEA_GAZE_PLUS/`` sub-folders). GTEA
shows four subjects doing seven daily activities (the SAM paper's description). Licence:
research use (GT FPV page terms). Cite: Fathi, Ren, Rehg, "Learning to Recognize Objects in
Egocentric Activities", CVPR 2011; Li, Ye, Rehg, "Delving into Egocentric Actions", CVPR 2015.

Layout under ``--root`` (the unpacked ``hand2K_dataset``)::

    ROOT/GTEA/Images/<name>.jpg     frames
    ROOT/GTEA/Masks/<name>.png      binary hand masks (0 background, hand > 0)
    ROOT/GTEA_GAZE_PLUS/...         (read only with --split all)

Choices:

* Instances: the masks are binary (no left/right or per-hand labels), while the paper counts
  1,208 masks in 652 images (about two per image: one per hand). Each 8-connected component of
  the hand mask is therefore one instance (two hands touching become one mask). A mask is "hand"
  where its value is > 127 (or > 0 for a 0/1 mask), which also discards JPEG-like edge noise.
  Components smaller than ``MIN_COMPONENT_AREA`` pixels (default 0, i.e. all kept) can be dropped
  by subclassing.
* Split: the paper's "Train (hand segmentation)" is not a file in the release; every image of
  ``GTEA/`` that has a mask is read (the GTEA part of the archive). ``--split all`` adds
  ``GTEA_GAZE_PLUS/Images/<folder>/`` + ``Masks/<folder>/``.

Instance ids are ``"1"``, ``"2"``, ... in raster order of each component's first pixel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np
from scipy import ndimage

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, image_loader, image_size, read_label_map, require

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def hand_components(mask_values: np.ndarray, min_area: int = 0) -> List[np.ndarray]:
    """Binary hand mask -> list of component masks (8-connectivity), in raster order."""
    if mask_values.ndim == 3:
        mask_values = mask_values[..., 0]
    hi = int(mask_values.max()) if mask_values.size else 0
    fg = mask_values > (0 if hi <= 1 else 127)
    labels, n = ndimage.label(fg, structure=EIGHT_CONNECTED)
    out = []
    for k in range(1, n + 1):
        m = labels == k
        if int(m.sum()) >= max(min_area, 1):
            out.append(m)
    return out


@DATASETS.register("gtea")
class GTEA(DatasetAdapter):
    """GTEA egocentric hand masks (one instance per hand component)"""

    title = "Georgia Tech Egocentric Activity (GTEA) hand masks"
    domain = "Egocentric"
    mask_type = "instance"
    split = "Train (hand segmentation)"
    layout = "ROOT/GTEA/Images/<name>.jpg and ROOT/GTEA/Masks/<name>.png (hand2K_dataset)"
    source = "http://cbs.ic.gatech.edu/fpv/ (GTEA hand masks; hand2K_dataset.zip)"
    license = "research use (GT FPV page terms)"
    citation = ("Fathi, Ren, Rehg, Learning to Recognize Objects in Egocentric Activities, CVPR 2011; "
                "Li, Ye, Rehg, Delving into Egocentric Actions, CVPR 2015")
    paper_images = 652
    paper_masks = 1208
    MIN_COMPONENT_AREA = 0

    def check_layout(self) -> None:
        require(self, "GTEA/Images", "GTEA/Masks")
        self._images: Dict[str, Path] = {}
        self._masks: Dict[str, Path] = {}
        pairs = [("GTEA", self.root / "GTEA" / "Images", self.root / "GTEA" / "Masks")]
        gaze = self.root / "GTEA_GAZE_PLUS"
        if str(self.split).lower() == "all" and (gaze / "Images").is_dir():
            pairs += [(f"GTEA_GAZE_PLUS/{d.name}", d, gaze / "Masks" / d.name)
                      for d in sorted((gaze / "Images").iterdir()) if d.is_dir()]
        for prefix, img_dir, mask_dir in pairs:
            if not (img_dir.is_dir() and mask_dir.is_dir()):
                continue
            for p in sorted(img_dir.iterdir()):
                if p.suffix.lower() in IMAGE_EXTENSIONS:
                    self._images.setdefault(f"{prefix}/{p.stem}", p)
            for p in sorted(mask_dir.iterdir()):
                if p.suffix.lower() in IMAGE_EXTENSIONS:
                    self._masks.setdefault(f"{prefix}/{p.stem}", p)

    def image_ids(self) -> List[str]:
        return sorted(self._masks)

    def load_sample(self, image_id: str) -> Sample:
        if image_id not in self._images:
            raise BadSampleError(f"{self.root}: no image for mask '{image_id}'")
        path = self._images[image_id]
        h, w = image_size(path)
        values = read_label_map(self._masks[image_id])
        if values.shape[:2] != (h, w):
            raise BadSampleError(f"{self._masks[image_id]}: mask is {values.shape[1]}x{values.shape[0]}, "
                                 f"image is {w}x{h}")
        comps = hand_components(values, self.MIN_COMPONENT_AREA)
        instances = [Instance(id=str(k + 1), rle=mask_utils.encode(m), extra={"category": "hand"})
                     for k, m in enumerate(comps)]
        return Sample(image_id=image_id, height=h, width=w, instances=instances,
                      loader=image_loader(path), image_path=path)
