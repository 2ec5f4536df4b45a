"""COCO-MVal: the interactive-segmentation set of 800 COCO val objects (10 per category).

Release: the ``COCO_MVal`` folder distributed with RITM's interactive-segmentation datasets
(https://github.com/SamsungLabs/ritm_interactive_segmentation, "datasets" section); objects chosen by
Xu et al. (Deep interactive object selection, CVPR 2016) / Jang & Kim (BRS) from COCO val. COCO
annotations CC BY 4.0, images under their Flickr licences.

Layout under ``--root``::

    img/<id>.jpg     800 images (one object each; an image may appear once per chosen object)
    gt/<id>.png      binary mask of that object (nonzero in any channel = object)

Read exactly like DAVIS-345 (same RITM ``DavisDataset`` reader): one sample per image, one instance
whose id is the image id; BadSample for a missing/unreadable/mis-sized mask; an all-zero mask is
skipped and counted in ``Sample.extra["zero_area"]``.
"""

from __future__ import annotations

from .base import DATASETS
from .davis import ImgGtFolders


@DATASETS.register("coco_mval")
class CocoMVal(ImgGtFolders):
    """COCO-MVal interactive set (800 objects; img/, gt/)"""

    title = "COCO-MVal (interactive segmentation, 800 COCO objects)"
    domain = "Interactive"
    mask_type = "instance"
    split = "all"
    splits = ("all",)
    folder_names = ("coco_mval", "cocomval")
    layout = "ROOT/img/<id>.jpg and ROOT/gt/<id>.png (one object per image, nonzero = object)"
    source = "RITM interactive-segmentation dataset bundle (COCO_MVal.zip)"
    license = "annotations CC BY 4.0; images under their Flickr licences"
    citation = ("Lin et al., Microsoft COCO, ECCV 2014; Xu et al., Deep interactive object selection, CVPR 2016; "
                "Jang & Kim, Interactive image segmentation via backpropagating refinement scheme, CVPR 2019")
    paper_images = 800
    paper_masks = 800
