"""DRAM, Diverse Realism in Art Movements (Cohen, Newman, Shamir, Eurographics 2022): paintings, test split.

Release: ``DRAM_processed.zip`` (a RAR inside a ZIP) from the dataset page
https://faculty.runi.ac.il/arik/site/artseg/Dram-Dataset.html (code:
https://github.com/Nadavc220/SemanticSegmentationInArtPaintings). Figurative paintings of four art
movements (realism, impressionism, post-impressionism, expressionism) plus unseen movements; the
train set is unlabeled, the test set has PASCAL VOC 2012-style semantic label maps. Licence:
non-commercial research use, citation required (dataset page). Cite: Cohen, Newman, Shamir,
"Semantic Segmentation in Art Paintings", Computer Graphics Forum 41(2), 2022.

Layout under ``--root`` (the unpacked ``DRAM_processed`` folder, as in the MESS benchmark's
``prepare_dram.py``)::

    ROOT/test/<movement>/<name>.jpg       paintings (any depth below test/)
    ROOT/labels/<movement>/<name>.png     VOC label maps (palette PNG: 0 background, 1-20 VOC
                                          classes, 255 void/boundary)

Choice: DRAM is a SEMANTIC dataset (SAM Table 7: mask type "semantic", 718 images, 1,179 masks,
i.e. 1.6 masks per image). With ``mask_mode = "class"`` (the default) **each class present in a
painting is one mask** (all pixels of that VOC label, however many pieces or objects): the ratio
of 1,179 masks to 718 images matches one mask per class present (mostly "person", sometimes a
second class), while connected components would give many more, small masks. ``mask_mode =
"component"`` (set on a subclass or the instance) makes each 8-connected component of each class
one mask instead. In both modes value 255 (void) becomes the sample's void region (``Sample.void``): ordinary
background by default (plain per-mask IoU, as the SAM paper states), excluded from IoU and clicks
with the point task's ``--ignore-void``; background (0) is never a mask. Instance ids are the VOC class id (``"15"``)
or ``"<class>_<k>"`` in component mode; ``extra['category']`` names the class. Image ids are
``<movement>/<name>``. Default split "Test" (every labeled image under ``test/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np
from scipy import ndimage

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, image_loader, image_size, read_label_map, require

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
VOID = 255
MASK_MODES = ("class", "component")
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@DATASETS.register("dram")
class DRAM(DatasetAdapter):
    """DRAM art paintings, test (semantic VOC labels; one mask per class present)"""

    title = "Diverse Realism in Art Movements (DRAM)"
    domain = "Paintings"
    mask_type = "semantic"
    split = "Test"
    layout = "ROOT/test/<movement>/<name>.jpg and ROOT/labels/<movement>/<name>.png (VOC ids, 255 void)"
    source = "https://faculty.runi.ac.il/arik/site/artseg/Dram-Dataset.html (DRAM_processed.zip)"
    license = "non-commercial research use, citation required (dataset page)"
    citation = "Cohen, Newman, Shamir, Semantic Segmentation in Art Paintings, Computer Graphics Forum 2022"
    paper_images = 718
    paper_masks = 1179
    mask_mode = "class"

    def split_folder(self) -> str:
        return "test" if self.split == type(self).split else str(self.split).lower()

    def check_layout(self) -> None:
        if self.mask_mode not in MASK_MODES:
            raise ValueError(f"dram: mask_mode must be one of {MASK_MODES}, got {self.mask_mode!r}")
        split = self.split_folder()
        require(self, split, "labels")
        self._images: Dict[str, Path] = {}
        for p in sorted((self.root / split).rglob("*")):
            if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.is_file():
                rel = p.relative_to(self.root / split)
                self._images.setdefault(str(rel.with_suffix("").as_posix()), p)

    def image_ids(self) -> List[str]:
        return sorted(self._images)

    def label_path(self, image_id: str) -> Path:
        return self.root / "labels" / f"{image_id}.png"

    def load_sample(self, image_id: str) -> Sample:
        if image_id not in self._images:
            raise BadSampleError(f"{self.root}: no painting '{image_id}'")
        path = self._images[image_id]
        lpath = self.label_path(image_id)
        if not lpath.is_file():
            raise BadSampleError(f"{lpath}: no label map for painting '{image_id}'")
        h, w = image_size(path)
        label = read_label_map(lpath)
        if label.ndim != 2:
            raise BadSampleError(f"{lpath}: label map is not a single-channel (palette) PNG")
        if label.shape != (h, w):
            raise BadSampleError(f"{lpath}: label map is {label.shape[1]}x{label.shape[0]}, image is {w}x{h}")
        values = set(int(v) for v in np.unique(label))
        bad = sorted(v for v in values if v != VOID and v >= len(VOC_CLASSES))
        if bad:
            raise BadSampleError(f"{lpath}: label values {bad[:5]} are not VOC ids (0-20, 255)")
        instances = []
        for c in sorted(v for v in values if 0 < v < len(VOC_CLASSES)):
            cls_mask = label == c
            if self.mask_mode == "class":
                parts = [(str(c), cls_mask)]
            else:
                comp, n = ndimage.label(cls_mask, structure=EIGHT_CONNECTED)
                parts = [(f"{c}_{k}", comp == k) for k in range(1, n + 1)]
            for inst_id, m in parts:
                instances.append(Instance(id=inst_id, rle=mask_utils.encode(m), category_id=c,
                                          extra={"category": VOC_CLASSES[c]}))
        void = label == VOID
        return Sample(image_id=image_id, height=h, width=w, instances=instances, loader=image_loader(path),
                      void=mask_utils.encode(void) if void.any() else None, image_path=path)
