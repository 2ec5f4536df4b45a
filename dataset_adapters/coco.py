"""Generic COCO-format instance segmentation dataset (any images folder + instances json).

Layout: ``--root`` is the images folder, ``--ann`` the COCO instances json (``images``,
``annotations`` with polygon or RLE ``segmentation``; ``iscrowd`` regions are kept but flagged).
``coco2017`` is the same reader with the official COCO 2017 layout.

Annotations are read by the rules of ``sambench.annotations`` (the same rules the COCO/LVIS
evaluators' ground truth gets): instance ids are the annotation ids, or ``<image id>#<position>``
for every annotation of a file whose ids are missing or not unique (a warning in the run config);
an annotation whose mask cannot be made (degenerate or far-outside polygon, RLE of another size,
zero area, ...) is listed in ``Sample.extra["skipped_annotations"]`` with the reason and the image's
other annotations are used; an image whose file, as displayed (EXIF orientation applied), is not
the json's ``width`` x ``height`` is a BadSample naming both sizes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

from sambench.annotations import AnnotationDefect, CocoFormatError, CocoIndex, category_of, crowd_flag, index_coco
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, DatasetLayoutError, check_image_size, data_warning, image_loader, image_size


def load_coco_json(path: Path) -> dict:
    """Read a COCO json; one-line error naming the file if it is not one."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8-sig"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetLayoutError(f"{path}: not a readable COCO json ({msg})") from exc
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise DatasetLayoutError(f"{path}: not a COCO instances json (expected keys 'images' and 'annotations')")
    return data


def index_coco_file(path: Path) -> CocoIndex:
    """Parse and index a COCO-format json by ``sambench.annotations`` (one-line DatasetLayoutError if unusable)."""
    try:
        return index_coco(load_coco_json(path), path)
    except CocoFormatError as exc:
        raise DatasetLayoutError(str(exc)) from exc


def warn_file_issues(index: CocoIndex) -> None:
    """Print the file-level issues (duplicate ids, unattached annotations) once, as the run config records them."""
    for line in index.warnings():
        data_warning(line)


def coco_sample(index: CocoIndex, image_id: str, path: Path, instance_extra=None,
                size_from_file: bool = False) -> Sample:
    """A Sample of one image of an indexed COCO file: usable annotations as instances (keyed by
    ``index``), defective ones in ``extra["skipped_annotations"]``; BadSampleError when the image
    has no valid size or its file, as displayed (EXIF applied), has another size than the json says.

    Arguments:
      instance_extra: ``f(annotation, category entry) -> Instance.extra`` (default: the category name).
      size_from_file: an image entry without height and width takes the file's size.
    """
    im = index.images[image_id]
    n_anns = len(index.annotations.get(image_id, []))  # lost with the image: counted as skipped masks
    try:
        if not path.is_file():
            raise BadSampleError(f"{path}: image file missing (listed in {index.path.name})")
        if size_from_file and im.get("height") is None and im.get("width") is None:
            h, w = image_size(path)
        else:
            try:
                h, w = index.image_hw(image_id)
            except AnnotationDefect as exc:
                raise BadSampleError(f"{index.path}: {exc}") from None
            check_image_size(path, h, w, index.path.name)
    except BadSampleError as exc:
        raise BadSampleError(str(exc), n_masks=n_anns) from None
    good, bad = index.instances(image_id, h, w)
    instances = []
    for key, a, rle in good:
        cid = category_of(a)
        cat = index.categories.get(cid, {})
        extra = instance_extra(a, cat) if instance_extra else ({"category": cat.get("name")} if cat else {})
        instances.append(Instance(id=key, rle=rle, category_id=cid if isinstance(cid, int) else None,
                                  iscrowd=crowd_flag(a), extra=extra))
    return Sample(image_id=image_id, height=h, width=w, instances=instances, loader=image_loader(path),
                  image_path=path, extra={"skipped_annotations": bad} if bad else {})


@DATASETS.register("coco")
class CocoFormat(DatasetAdapter):
    """Any dataset in COCO instances format: --root IMAGES_DIR --ann INSTANCES.json"""

    title = "COCO-format instance segmentation"
    domain = "any"
    mask_type = "instance"
    layout = "IMAGES_DIR with the image files named in --ann (a COCO instances json)"
    source = "any COCO-format export"
    license = "the dataset's own"

    def images_dir(self) -> Path:
        return self.root

    def annotation_file(self) -> Path:
        if self.ann is None:
            raise DatasetLayoutError(f"{self.root}: {self.name} needs --ann INSTANCES.json (a COCO instances json)")
        return self.ann

    def check_layout(self) -> None:
        ann = self.annotation_file()
        if not ann.is_file():
            raise DatasetLayoutError(f"{ann}: annotation file not found; {self.name} expects {self.layout}")
        if not self.images_dir().is_dir():
            raise DatasetLayoutError(f"{self.images_dir()}: images folder not found; {self.name} expects {self.layout}")
        self.index = index_coco_file(ann)
        self.categories = self.index.categories
        warn_file_issues(self.index)

    def describe(self) -> Dict[str, object]:
        return dict(super().describe(), **self.index.describe())

    def image_ids(self) -> List[str]:
        return sorted(self.index.images, key=lambda s: (len(s), s))

    def image_record(self, image_id: str) -> dict:
        return self.index.images[image_id]

    def load_sample(self, image_id: str) -> Sample:
        if image_id not in self.index.images:
            raise BadSampleError(f"{self.annotation_file()}: no image '{image_id}'")
        im = self.index.images[image_id]
        name = im.get("file_name")
        if not isinstance(name, str) or not name:
            raise BadSampleError(f"{self.annotation_file()}: image {im.get('id')!r} has no file_name")
        return coco_sample(self.index, image_id, self.images_dir() / name)


@DATASETS.register("coco2017")
class Coco2017(CocoFormat):
    """COCO 2017 val (instances), official layout: ROOT/val2017/*.jpg, ROOT/annotations/instances_val2017.json"""

    title = "Microsoft COCO 2017"
    domain = "Scenes"
    split = "val2017"
    layout = "ROOT/{val2017,train2017}/*.jpg and ROOT/annotations/instances_{val2017,train2017}.json"
    source = "https://cocodataset.org/#download (val2017.zip, annotations_trainval2017.zip)"
    license = "annotations CC BY 4.0; images under their Flickr licences"
    citation = "Lin et al., Microsoft COCO: Common Objects in Context, ECCV 2014"

    def images_dir(self) -> Path:
        return self.root / self.split

    def annotation_file(self) -> Path:
        return self.ann or self.root / "annotations" / f"instances_{self.split}.json"
