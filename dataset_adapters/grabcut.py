"""GrabCut interactive segmentation set (Rother et al. 2004): 50 images, one object each.

Layout under ``--root``: ``data_GT/<id>.{jpg,JPG,bmp,...}`` images and ``boundary_GT/<id>.{bmp,png}``
masks with 0 = background, 255 = object, 128 = the unknown band around the boundary, which
interactive benchmarks (and sambench) treat as ignore: excluded from IoU and from clicks.

Mask values are read by the dataset's published rule (RITM's GrabCut reader): value > 128 is the
object, == 128 the ignore band, anything below background. A mask file with values outside
{0, 128, 255} (a lossy JPEG copy, an anti-aliased export) is read by the same rule, with a warning
once per dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

from sambench.data import BadSampleError, Sample

from .base import DATASETS, DatasetAdapter, check_mask_values, read_label_map, require, sample_from_masks

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
OBJECT_ABOVE, IGNORE_VALUE = 128, 128
MASK_VALUES = (0, 128, 255)
MASK_RULE = "> 128 object, == 128 ignore, below background"


def files_by_stem(folder: Path) -> Dict[str, Path]:
    """Map file stem -> path for the image-like files of a folder (extensions of mixed case)."""
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS}


@DATASETS.register("grabcut")
class GrabCut(DatasetAdapter):
    """GrabCut (50 images, 128 = ignore band)"""

    title = "GrabCut"
    domain = "Interactive"
    mask_type = "instance"
    split = "all"
    layout = "ROOT/data_GT/<id>.{jpg,bmp} and ROOT/boundary_GT/<id>.{bmp,png} (0 bg, 255 object, 128 ignore)"
    source = "https://www.microsoft.com/en-us/research/project/image-understanding/ (GrabCut ground truth)"
    license = "research use"
    citation = "Rother, Kolmogorov, Blake, GrabCut: interactive foreground extraction, SIGGRAPH 2004"
    paper_images = 50
    paper_masks = 50

    def check_layout(self) -> None:
        require(self, "data_GT", "boundary_GT")
        self._images = files_by_stem(self.root / "data_GT")
        self._masks = files_by_stem(self.root / "boundary_GT")

    def image_ids(self) -> List[str]:
        return sorted(self._images)

    def load_sample(self, image_id: str) -> Sample:
        if image_id not in self._masks:
            raise BadSampleError(f"{self.root / 'boundary_GT'}: no mask for image '{image_id}'")
        label = read_label_map(self._masks[image_id])
        if label.ndim == 3:
            label = label[..., 0]
        check_mask_values(self, self._masks[image_id], label, MASK_VALUES, MASK_RULE)
        return sample_from_masks(image_id, self._images[image_id], {image_id: label > OBJECT_ABOVE},
                                 ignore=label == IGNORE_VALUE)
