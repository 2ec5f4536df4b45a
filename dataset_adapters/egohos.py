"""EgoHOS (Zhang, Zhou, Stent, Shi, ECCV 2022): egocentric hands and interacting objects, train split.

Release: https://github.com/owenzlz/EgoHOS (dataset archive linked from the README /
``download_datasets.sh``). Frames from Ego4D, EPIC-KITCHENS, THU-READ and escape-room videos
(in-domain) plus YouTube cooking videos (out-of-domain test). Licence: per the EgoHOS release
(research use; the source videos keep their own licences). Cite: Zhang, Zhou, Stent, Shi,
"Fine-Grained Egocentric Hand-Object Segmentation: Dataset, Model, and Applications", ECCV 2022.

Layout under ``--root`` (the unpacked dataset)::

    ROOT/train/image/<source>_<name>.jpg     images
    ROOT/train/label/<source>_<name>.png     label maps
    ROOT/train/contact/...                   contact maps (not used)
    ROOT/{val,test_indomain,test_outdomain}/...

Label values: 0 background, 1 left hand, 2 right hand, 3/4/5 first-order interacting object of the
left / right / both hands, 6/7/8 second-order interacting object of the left / right / both hands.

Choices:

* Sources: the SAM paper keeps only Ego4D and THU-READ frames. The authors' merge script names
  every file ``<source>_<original name>`` with source in {``ego4d``, ``thu``, ``epic``,
  ``escape``}; the adapter keeps the files starting with ``ego4d_`` or ``thu_``.
* Instances: one mask per label value present (1..8): left hand, right hand and up to six object
  masks. Two distinct objects with the same role (e.g. two first-order objects of the left hand)
  share a value in the label map and therefore form one mask; they are not split into connected
  components (a hand or object occluded into two pieces would be split wrongly). Instance ids are
  the label values; ``extra['category']`` names them.

Default split "Train (Ego4D and THU-READ only)"; ``--split val`` (or ``test_indomain``...) reads
another folder with the same source filter. The paper samples 2,940 images / 9,961 masks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, image_loader, image_size, read_label_map, require

SOURCES = ("ego4d_", "thu_")
LABELS = {
    1: "left hand",
    2: "right hand",
    3: "1st-order object of left hand",
    4: "1st-order object of right hand",
    5: "1st-order object of both hands",
    6: "2nd-order object of left hand",
    7: "2nd-order object of right hand",
    8: "2nd-order object of both hands",
}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


@DATASETS.register("egohos")
class EgoHOS(DatasetAdapter):
    """EgoHOS egocentric hands + objects, train (Ego4D and THU-READ frames only)"""

    title = "Egocentric Hand-Object Segmentation (EgoHOS)"
    domain = "Egocentric"
    mask_type = "instance"
    split = "Train (Ego4D and THU-READ only)"
    layout = "ROOT/train/{image/<src>_<name>.jpg, label/<src>_<name>.png} (src ego4d|thu kept)"
    source = "https://github.com/owenzlz/EgoHOS"
    license = "research use (EgoHOS release terms; source videos keep their licences)"
    citation = ("Zhang, Zhou, Stent, Shi, Fine-Grained Egocentric Hand-Object Segmentation: Dataset, Model, "
                "and Applications, ECCV 2022")
    paper_images = 2940
    paper_masks = 9961

    def split_folder(self) -> str:
        return "train" if self.split == type(self).split else str(self.split).lower()

    def check_layout(self) -> None:
        split = self.split_folder()
        require(self, f"{split}/image", f"{split}/label")
        self._labels: Dict[str, Path] = {}
        for p in sorted((self.root / split / "label").iterdir()):
            if p.suffix.lower() == ".png" and p.name.startswith(SOURCES):
                self._labels[p.stem] = p
        self._images: Dict[str, Path] = {}
        for p in sorted((self.root / split / "image").iterdir()):
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.name.startswith(SOURCES):
                self._images.setdefault(p.stem, p)

    def image_ids(self) -> List[str]:
        return sorted(self._labels)

    def load_sample(self, image_id: str) -> Sample:
        if image_id not in self._images:
            raise BadSampleError(f"{self.root / self.split_folder() / 'image'}: no image for label '{image_id}'")
        path = self._images[image_id]
        h, w = image_size(path)
        label = read_label_map(self._labels[image_id])
        if label.ndim == 3:
            label = label[..., 0]
        if label.shape != (h, w):
            raise BadSampleError(f"{self._labels[image_id]}: label is {label.shape[1]}x{label.shape[0]}, "
                                 f"image is {w}x{h}")
        unknown = sorted(set(int(v) for v in np.unique(label)) - set(LABELS) - {0})
        if unknown:
            raise BadSampleError(f"{self._labels[image_id]}: unexpected label values {unknown[:5]} (expected 0-8)")
        instances = []
        for value in sorted(int(v) for v in np.unique(label) if v != 0):
            instances.append(Instance(id=str(value), rle=mask_utils.encode(label == value), category_id=value,
                                      extra={"category": LABELS[value]}))
        return Sample(image_id=image_id, height=h, width=w, instances=instances,
                      loader=image_loader(path), image_path=path)
