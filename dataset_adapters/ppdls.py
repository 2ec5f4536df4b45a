"""PPDLS: Plant Phenotyping Datasets, leaf segmentation (Minervini, Fischbach, Scharr, Tsaftaris).

Release: ``Plant_Phenotyping_Datasets.zip`` from https://www.plant-phenotyping.org/datasets (CVPPP;
research use under the dataset's licence agreement). Cite Minervini et al., Finely-grained annotated
datasets for image-based plant phenotyping, Pattern Recognition Letters 2016, and Scharr et al.,
Leaf segmentation in plant phenotyping: a collation study, MVA 2016.

Layout under ``--root`` (``Plant_Phenotyping_Datasets/`` or any folder below it, e.g. ``Plant/``)::

    Plant/{Ara2012,Ara2013-Canon,Tobacco}/<prefix>_plantNNN_rgb.png     the plant image
    Plant/{Ara2012,Ara2013-Canon,Tobacco}/<prefix>_plantNNN_label.png   leaf labels (indexed PNG,
                                                                         0 = background, k = leaf k)
    (the CVPPP 2017 LSC layout ``A1..A4/plantNNN_{rgb,label}.png`` is read the same way)

Every ``*_rgb.png`` below ``--root`` that has a ``*_label.png`` beside it is one sample (images
without leaf labels, e.g. the Tray set's ``_fg.png``-only files, are not listed); image id = the
relative path without ``_rgb.png``. Each non-zero label value is one leaf, id ``str(value)``. A
label PNG stored as RGB instead of indexed is read by colour (black = background). The paper
reports 182 images / 2,347 leaves with split "N/A"; it does not say which subsets, so all labelled
plant images found are listed (the released training sets: A1 128 + A2 31 + A3 27 = 186 images).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List

import numpy as np

from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, drop_empty, encode_label_map, image_loader, image_size, read_label_map

RGB_SUFFIX = "_rgb.png"
LABEL_SUFFIX = "_label.png"


def leaf_labels(label: np.ndarray) -> np.ndarray:
    """Integer label map of a leaf annotation (palette indices, grey values, or RGB colours packed)."""
    if label.ndim == 3:
        rgb = label[..., :3].astype(np.int64)
        return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return label.astype(np.int64)


@DATASETS.register("ppdls")
class PPDLS(DatasetAdapter):
    """Plant Phenotyping Datasets, leaf segmentation (*_rgb.png + *_label.png)"""

    title = "Plant Phenotyping Datasets Leaf Segmentation"
    domain = "Plants"
    mask_type = "instance"
    split = "all"
    paper_split = "N/A"
    splits = ("all",)
    folder_names = ("ppdls", "plant_phenotyping_datasets", "plantphenotyping", "cvppp")
    layout = "ROOT/**/<name>_rgb.png with <name>_label.png beside it (e.g. ROOT/Plant/Ara2012/ara2012_plant001_rgb.png)"
    source = "https://www.plant-phenotyping.org/datasets (Plant_Phenotyping_Datasets.zip)"
    license = "CVPPP dataset licence agreement (research use)"
    citation = ("Minervini, Fischbach, Scharr, Tsaftaris, Finely-grained annotated datasets for image-based "
                "plant phenotyping, Pattern Recognition Letters 2016")
    paper_images = 182
    paper_masks = 2347

    def check_layout(self) -> None:
        self._images: Dict[str, Path] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            names = set(filenames)
            for f in sorted(filenames):
                if f.endswith(RGB_SUFFIX) and f[: -len(RGB_SUFFIX)] + LABEL_SUFFIX in names:
                    path = Path(dirpath) / f
                    rel = path.relative_to(self.root).as_posix()
                    self._images[rel[: -len(RGB_SUFFIX)]] = path
        if not self._images:
            raise self.missing(self.root / "Plant", "*_rgb.png images with *_label.png leaf labels")

    def image_ids(self) -> List[str]:
        return sorted(self._images)

    def load_sample(self, image_id: str) -> Sample:
        path = self._images[image_id]
        h, w = image_size(path)
        label_path = path.with_name(path.name[: -len(RGB_SUFFIX)] + LABEL_SUFFIX)
        labels = leaf_labels(read_label_map(label_path))
        if labels.shape != (h, w):
            raise BadSampleError(f"{label_path}: labels are {labels.shape[1]}x{labels.shape[0]}, image is {w}x{h}")
        values = [int(v) for v in np.unique(labels) if v != 0]
        rles = encode_label_map(labels, values)
        instances = [Instance(id=str(v), rle=r) for v, r in zip(values, rles)]
        kept, dropped = drop_empty(instances)
        return Sample(image_id=image_id, height=h, width=w, instances=kept, loader=image_loader(path),
                      image_path=path, extra={"zero_area": dropped} if dropped else {})
