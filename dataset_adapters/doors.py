"""DOORS: Dataset fOr bOuldeRs Segmentation (synthetic boulders on small bodies), DS1.

Release: https://doi.org/10.5281/zenodo.7107409 (Pugliatti & Topputo 2022; CC BY 4.0). Cite
Pugliatti, Topputo, DOORS: Dataset fOr bOuldeRs Segmentation. Statistical properties and Blender
setup, arXiv:2210.16253, 2022.

The release has two datasets: DS1 (the ``Regression`` folder: images of a single boulder, two sets
of 5,000) and DS2 (``Segmentation``: many boulders per image). The paper uses DS1 (10,000 images,
10,000 masks), so this adapter reads DS1. Layout under ``--root`` (the DOORS folder, or its
``Regression`` folder)::

    Regression/<set>/img/<name>.png          e.g. <set> = "Te1_5000_b_2022-08-02 11.16.00"
    Regression/<set>/Rock_all/<name>.png     the boulder's mask (nonzero = boulder)

Each image is one sample, id ``<set>/<name>``, with one instance (id ``<name>``): the nonzero
pixels of ``Rock_all/<name>.png``, i.e. the whole boulder. Only the layout above was seen in
public evaluation configs; the other mask folders a set may carry are not used. A missing or
unreadable mask is a BadSample; an empty one is skipped and counted in ``extra["zero_area"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, drop_empty, image_loader, image_size, read_label_map

MASK_DIR = "Rock_all"


@DATASETS.register("doors")
class DOORS(DatasetAdapter):
    """DOORS DS1 boulders (Regression/<set>/img + Rock_all masks, one boulder per image)"""

    title = "DOORS: Dataset fOr bOuldeRs Segmentation"
    domain = "Boulders"
    mask_type = "instance"
    split = "DS1"
    paper_split = "DS1"
    splits = ("DS1",)
    folder_names = ("doors",)
    layout = "ROOT/Regression/<set>/img/<name>.png and ROOT/Regression/<set>/Rock_all/<name>.png"
    source = "https://doi.org/10.5281/zenodo.7107409"
    license = "CC BY 4.0"
    citation = ("Pugliatti, Topputo, DOORS: Dataset fOr bOuldeRs Segmentation. Statistical properties and "
                "Blender setup, arXiv:2210.16253, 2022")
    paper_images = 10000
    paper_masks = 10000

    def check_layout(self) -> None:
        base = self.root / "Regression" if (self.root / "Regression").is_dir() else self.root
        sets = sorted(p for p in base.iterdir() if (p / "img").is_dir() and (p / MASK_DIR).is_dir())
        if not sets:
            raise self.missing(base / "<set>" / "img", f"DS1 sets <set>/img/ and <set>/{MASK_DIR}/")
        self.base = base
        self._images: Dict[str, Path] = {}
        for s in sets:
            for p in sorted((s / "img").glob("*.png")):
                self._images[f"{s.name}/{p.stem}"] = p

    def image_ids(self) -> List[str]:
        return sorted(self._images)

    def load_sample(self, image_id: str) -> Sample:
        path = self._images[image_id]
        h, w = image_size(path)
        mask_path = path.parent.parent / MASK_DIR / path.name
        if not mask_path.is_file():
            raise BadSampleError(f"{mask_path}: boulder mask missing")
        label = read_label_map(mask_path)
        if label.ndim == 3:
            label = label[..., :3].max(axis=2)
        if label.shape != (h, w):
            raise BadSampleError(f"{mask_path}: mask is {label.shape[1]}x{label.shape[0]}, image is {w}x{h}")
        kept, dropped = drop_empty([Instance(id=path.stem, rle=mask_utils.encode(label > 0))])
        return Sample(image_id=image_id, height=h, width=w, instances=kept, loader=image_loader(path),
                      image_path=path, extra={"zero_area": dropped} if dropped else {})
