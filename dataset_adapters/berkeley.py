"""Berkeley interactive segmentation set (McGuinness & O'Connor 2010): 96 images, 100 objects.

Layout under ``--root``: ``images/<id>.jpg`` and ``masks/<id>.png``; a mask id with a suffix
``a``/``b`` (e.g. ``124084a``) is a second object of the same photo ``124084.jpg``. Masks are
read by the rule of RITM's reader (the one the interactive benchmarks use for GrabCut and
Berkeley alike): value > 128 is the object, anything else background (Berkeley has no ignore
band). Values other than 0/255 (some released masks hold a few anti-aliased values) are read by
the same rule, with a warning once per dataset.
"""

from __future__ import annotations

from typing import List

from sambench.data import BadSampleError, Sample

from .base import DATASETS, DatasetAdapter, check_mask_values, read_label_map, require, sample_from_masks
from .grabcut import OBJECT_ABOVE, files_by_stem


@DATASETS.register("berkeley")
class Berkeley(DatasetAdapter):
    """Berkeley interactive set (96 images / 100 objects on BSDS photos)"""

    title = "Berkeley interactive segmentation"
    domain = "Interactive"
    split = "all"
    layout = "ROOT/images/<id>.jpg and ROOT/masks/<id>[a|b].png"
    source = "McGuinness & O'Connor masks on BSDS300 images (as distributed with RITM's datasets)"
    license = "research use"
    citation = "McGuinness, O'Connor, A comparative evaluation of interactive segmentation algorithms, Pattern Recognition 2010"
    paper_images = 96
    paper_masks = 100

    def check_layout(self) -> None:
        require(self, "images", "masks")
        self._images = files_by_stem(self.root / "images")
        self._masks = files_by_stem(self.root / "masks")

    def image_ids(self) -> List[str]:
        return sorted(self._masks)  # one sample per object; ids match mask names

    def load_sample(self, image_id: str) -> Sample:
        photo = image_id.rstrip("ab") if image_id not in self._images else image_id
        if photo not in self._images:
            raise BadSampleError(f"{self.root / 'images'}: no image '{photo}.jpg' for mask '{image_id}'")
        label = read_label_map(self._masks[image_id])
        if label.ndim == 3:
            label = label[..., 0]
        check_mask_values(self, self._masks[image_id], label, (0, 255), "> 128 object, otherwise background")
        return sample_from_masks(image_id, self._images[photo], {image_id: label > OBJECT_ABOVE})
