"""LVIS (Large Vocabulary Instance Segmentation) on COCO 2017 images: v0.5 val and v1 val.

Release: annotations ``lvis_v0.5_val.json.zip`` / ``lvis_v1_val.json.zip`` from
https://www.lvisdataset.org/dataset ; images are COCO 2017 (``train2017.zip``, ``val2017.zip`` from
https://cocodataset.org). Annotations CC BY 4.0, images under their Flickr licences. Cite Gupta,
Dollar, Girshick, LVIS: a dataset for large vocabulary instance segmentation, CVPR 2019.

Layout under ``--root`` (a COCO 2017 root)::

    val2017/*.jpg, train2017/*.jpg          (v1 val draws from both; v0.5 val from val2017 only)
    annotations/lvis_v0.5_val.json          or lvis_v1_val.json (also found at ROOT/ or ROOT/lvis/;
                                            --ann overrides)

Two registry entries: ``lvis_v05`` is LVIS v0.5 val, the paper's point-prompt set (945 images /
9,642 masks sampled from it); ``lvis`` is LVIS v1 val, the set of the paper's object-proposal and
instance-segmentation experiments (used in full). The json is COCO-like: each image's file comes
from its ``coco_url`` (``.../<train2017|val2017>/<file>``, the way detectron2 resolves it), falling
back to ``file_name``. Polygons are rasterised with pycocotools. ``Instance.extra`` keeps the
category ``name``, ``synset`` and ``frequency`` (``r``/``c``/``f``); ``Sample.extra`` keeps the
image's ``not_exhaustive_category_ids`` and ``neg_category_ids`` (needed by LVIS-style AP).
LVIS has no crowd regions. Annotations are read by the rules of ``sambench.annotations`` (as the
``coco`` adapter: unique keys, defective annotations skipped and listed in
``Sample.extra["skipped_annotations"]``, image size checked against the json). The json is parsed
on first use, so building the adapter (and reopening an Arrow cache) stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterator, List

from sambench.data import BadSampleError, Sample

from .base import DATASETS, DatasetAdapter, DatasetLayoutError
from .coco import coco_sample, index_coco_file, warn_file_issues

IMAGE_DIRS = ("val2017", "train2017")


@DATASETS.register("lvis")
class LVIS(DatasetAdapter):
    """LVIS v1 val on COCO 2017 images (proposal and instance tasks)"""

    title = "LVIS v1 (Large Vocabulary Instance Segmentation)"
    domain = "Scenes"
    mask_type = "instance"
    split = "val"
    splits = ("val",)
    version = "v1"
    folder_names = ("lvis", "coco")
    layout = "ROOT/{val2017,train2017}/*.jpg and ROOT/annotations/lvis_v1_val.json (or --ann FILE)"
    source = "https://www.lvisdataset.org/dataset (lvis_v1_val.json.zip) + COCO 2017 images"
    license = "annotations CC BY 4.0; images under their Flickr licences"
    citation = "Gupta, Dollar, Girshick, LVIS: a dataset for large vocabulary instance segmentation, CVPR 2019"
    paper_images = None  # used in full, not sampled
    paper_masks = None

    def annotation_name(self) -> str:
        return f"lvis_{self.version}_{self.split}.json"

    def annotation_file(self) -> Path:
        if self.ann is not None:
            return self.ann
        for folder in (self.root / "annotations", self.root, self.root / "lvis"):
            if (folder / self.annotation_name()).is_file():
                return folder / self.annotation_name()
        return self.root / "annotations" / self.annotation_name()

    def annotation_files(self) -> List[Path]:
        return [self.annotation_file()]

    def check_layout(self) -> None:
        ann = self.annotation_file()
        if not ann.is_file():
            raise DatasetLayoutError(f"{ann}: annotation file not found; {self.name} expects under --root {self.layout}")
        if not any((self.root / d).is_dir() for d in IMAGE_DIRS):
            raise self.missing(self.root / "val2017", "val2017/ (COCO 2017 images)")
        self._index = None

    def _load(self):
        if self._index is None:
            self._index = index_coco_file(self.annotation_file())
            warn_file_issues(self._index)
        return self._index

    def describe(self) -> Dict[str, object]:
        return dict(super().describe(), **self._load().describe())

    def source_files(self) -> Iterator[Path]:
        """Image files of the COCO folders (for the Arrow cache's signature; the json is hashed)."""
        for d in IMAGE_DIRS:
            if (self.root / d).is_dir():
                yield from sorted((self.root / d).iterdir())

    def image_ids(self) -> List[str]:
        return sorted(self._load().images, key=lambda s: (len(s), s))

    def image_file(self, im: dict) -> Path:
        url = im.get("coco_url") or ""
        parts = url.rstrip("/").split("/")
        candidates = []
        if len(parts) >= 2 and parts[-2] in IMAGE_DIRS:
            candidates.append(self.root / parts[-2] / parts[-1])
        name = im.get("file_name") or (parts[-1] if parts else "")
        if name:
            name = Path(name).name
            candidates += [self.root / d / name for d in IMAGE_DIRS]
        for c in candidates:
            if c.is_file():
                return c
        raise BadSampleError(f"{candidates[0] if candidates else self.root}: image file missing (image {im.get('id')})")

    def load_sample(self, image_id: str) -> Sample:
        index = self._load()
        if image_id not in index.images:
            raise BadSampleError(f"{self.annotation_file()}: no image '{image_id}'")
        im = index.images[image_id]
        sample = coco_sample(index, image_id, self.image_file(im), instance_extra=_lvis_extra)
        sample.extra.update({"not_exhaustive_category_ids": list(im.get("not_exhaustive_category_ids") or []),
                             "neg_category_ids": list(im.get("neg_category_ids") or [])})
        return sample


def _lvis_extra(ann: dict, cat: dict) -> dict:
    return {k: cat[k] for k in ("name", "synset", "frequency") if k in cat}


@DATASETS.register("lvis_v05")
class LVISv05(LVIS):
    """LVIS v0.5 val on COCO val2017 images (the paper's point-prompt set)"""

    title = "LVIS v0.5 (Large Vocabulary Instance Segmentation)"
    version = "v0.5"
    split = "val"
    paper_split = "Validation (v0.5)"
    layout = "ROOT/val2017/*.jpg and ROOT/annotations/lvis_v0.5_val.json (or --ann FILE)"
    source = "https://www.lvisdataset.org/dataset (lvis_v0.5_val.json.zip) + COCO 2017 images"
    paper_images = 945
    paper_masks = 9642
