"""iShape (Yang et al. 2021): irregular-shape instance segmentation, six sub-datasets, val split.

Release: ``ishape_dataset.tar`` (4.5 GB) linked from https://ishape.github.io (project repo
https://github.com/iShape/iShape.github.io; synthetic scenes rendered with Blender by
https://github.com/iShape/build_synthetic_ishape). Sub-datasets: antenna (real photos), branch,
fence, hanger, log, wire (synthetic); each has train and val (val: 500 images for the synthetic
ones). Licence: public domain (CC0). Cite: Yang, Yan, He, Sun, Huang, Zhang, Huang, Fan,
"Irregular Shape Instance Segmentation" (iShape), arXiv:2109.15068 / OpenReview 2021.

Layout under ``--root`` (the unpacked ``ishape_dataset`` folder)::

    ROOT/<sub>/val/image/<name>.jpg           images
    ROOT/<sub>/val/instance_map/<name>.png    16-bit instance maps (Cityscapes ``*_instanceIds`` style)
    (sub = antenna, branch, fence, hanger, log, wire, any letter case; all six must be present)

Masks: the Cityscapes-style instance maps are read, not the COCO json (the authors store the same
masks there as RLE). A pixel value ``v >= 1000`` is instance ``v`` of category ``v // 1000``; values
below 1000 are background, as in the authors' own ``tool/instance_map_to_coco.py``. One instance
per distinct value; an instance may have many connected components (that is the point of iShape).
Image ids are ``<sub>/<name>``. Default split "Validation" (val folders of all six sub-datasets;
the paper samples 754 images / 9,742 masks, i.e. the manifest subsamples); ``--split train``
reads the train folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, image_loader, image_size, read_label_map, require

SUBSETS = ("antenna", "branch", "fence", "hanger", "log", "wire")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


@DATASETS.register("ishape")
class IShape(DatasetAdapter):
    """iShape irregular shapes, six sub-datasets (16-bit instance maps, val split)"""

    title = "iShape"
    domain = "Irregular shapes"
    mask_type = "instance"
    split = "Validation"
    layout = "ROOT/<antenna|branch|fence|hanger|log|wire>/val/{image/*.jpg, instance_map/*.png (16-bit)}"
    source = "https://ishape.github.io (ishape_dataset.tar)"
    license = "CC0 (public domain)"
    citation = "Yang et al., Irregular Shape Instance Segmentation (iShape), 2021"
    paper_images = 754
    paper_masks = 9742

    def split_folder(self) -> str:
        return "val" if self.split == type(self).split else str(self.split).lower()

    def check_layout(self) -> None:
        split = self.split_folder()
        self._images: Dict[str, Path] = {}
        self._maps: Dict[str, Path] = {}
        folders = {p.name.lower(): p.name for p in self.root.iterdir() if p.is_dir()}
        for sub in SUBSETS:
            folder = folders.get(sub, sub)  # sub-dataset folder names matched case-insensitively
            require(self, f"{folder}/{split}/image", f"{folder}/{split}/instance_map")
            for p in sorted((self.root / folder / split / "image").iterdir()):
                if p.suffix.lower() in IMAGE_EXTENSIONS:
                    self._images[f"{sub}/{p.stem}"] = p
            for p in sorted((self.root / folder / split / "instance_map").iterdir()):
                if p.suffix.lower() == ".png":
                    self._maps[f"{sub}/{p.stem}"] = p

    def image_ids(self) -> List[str]:
        return sorted(self._images)

    def load_sample(self, image_id: str) -> Sample:
        if image_id not in self._maps:
            raise BadSampleError(f"{self.root}: no instance_map for image '{image_id}'")
        path = self._images[image_id]
        h, w = image_size(path)
        labels = read_label_map(self._maps[image_id])
        if labels.ndim != 2:
            raise BadSampleError(f"{self._maps[image_id]}: instance map has {labels.ndim} dims, expected 2")
        if labels.shape != (h, w):
            raise BadSampleError(f"{self._maps[image_id]}: instance map is {labels.shape[1]}x{labels.shape[0]}, "
                                 f"image is {w}x{h}")
        instances = []
        for value in np.unique(labels):
            v = int(value)
            if v < 1000:
                continue
            instances.append(Instance(id=str(v), rle=mask_utils.encode(labels == value), category_id=v // 1000,
                                      extra={"subset": image_id.split("/", 1)[0]}))
        return Sample(image_id=image_id, height=h, width=w, instances=instances,
                      loader=image_loader(path), image_path=path)
