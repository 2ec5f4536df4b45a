"""DAVIS-345: the interactive-segmentation benchmark set of 345 frames from DAVIS 2016/2017 videos.

Release: the ``DAVIS`` folder distributed with the interactive-segmentation benchmarks of RITM
(https://github.com/SamsungLabs/ritm_interactive_segmentation, "datasets" section) and FocalClick;
frames selected by Jang & Kim (BRS, CVPR 2019) from DAVIS (Perazzi et al. CVPR 2016; Pont-Tuset et
al. 2017). Research use (DAVIS licence: CC BY-NC).

Layout under ``--root``::

    img/<id>.jpg     345 frames
    gt/<id>.png      one object per frame: nonzero (in any channel) = object

Each frame is one sample with one instance whose id is the frame's id; masks are read the way
RITM's ``DavisDataset`` reads them (max over channels, then > 0). A frame with no mask file, an
unreadable mask, or a mask of another size is a BadSample; an all-zero mask is skipped and counted
in ``Sample.extra["zero_area"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, drop_empty, image_loader, image_size, read_label_map, require
from .grabcut import files_by_stem


class ImgGtFolders(DatasetAdapter):
    """Shared reader of the RITM-style interactive sets: ``img/<id>.*`` + ``gt/<id>.png``, one object each."""

    images_dir = "img"
    masks_dir = "gt"

    def check_layout(self) -> None:
        require(self, self.images_dir, self.masks_dir)
        self._images: Dict[str, Path] = files_by_stem(self.root / self.images_dir)
        self._masks: Dict[str, Path] = files_by_stem(self.root / self.masks_dir)

    def image_ids(self) -> List[str]:
        return sorted(self._images)

    def load_sample(self, image_id: str) -> Sample:
        path = self._images[image_id]
        mask_path = self._masks.get(image_id)
        if mask_path is None:
            raise BadSampleError(f"{self.root / self.masks_dir}: no mask for image '{image_id}'")
        h, w = image_size(path)
        label = read_label_map(mask_path)
        if label.ndim == 3:
            label = label[..., :3].max(axis=2)
        if label.shape != (h, w):
            raise BadSampleError(f"{mask_path}: mask is {label.shape[1]}x{label.shape[0]}, image is {w}x{h}")
        kept, dropped = drop_empty([Instance(id=image_id, rle=mask_utils.encode(label > 0))])
        return Sample(image_id=image_id, height=h, width=w, instances=kept, loader=image_loader(path),
                      image_path=path, extra={"zero_area": dropped} if dropped else {})


@DATASETS.register("davis")
class Davis345(ImgGtFolders):
    """DAVIS-345 interactive set (RITM/FocalClick distribution: img/, gt/)"""

    title = "DAVIS-345 (interactive segmentation frames)"
    domain = "Interactive"
    mask_type = "instance"
    split = "all"
    splits = ("all",)
    folder_names = ("davis", "davis345")
    layout = "ROOT/img/<id>.jpg and ROOT/gt/<id>.png (one object per frame, nonzero = object)"
    source = "RITM / FocalClick interactive-segmentation dataset bundle (DAVIS.zip)"
    license = "CC BY-NC 4.0 (DAVIS); research use"
    citation = ("Perazzi et al., A benchmark dataset and evaluation methodology for video object segmentation, "
                "CVPR 2016; Jang & Kim, Interactive image segmentation via backpropagating refinement scheme, CVPR 2019")
    paper_images = 345
    paper_masks = 345
