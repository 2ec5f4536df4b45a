"""COCO-format annotations as sambench reads them: unique keys, per-annotation validation, safe rasterisation.

One set of rules for every reader of a COCO-style json (the ``coco``/``coco2017``/``lvis``
adapters, the COCO-json adapters of the point suite, and the ground truth handed to pycocotools /
LVIS by ``sambench.metrics.coco_eval``), so the point task, ``instances --gt-boxes`` and
``proposals`` evaluate exactly the same masks:

* **Keys.** An instance is keyed by ``str(annotation id)`` when every annotation of the file has a
  usable (int or str) id and the ids are unique. Otherwise (annotation tools that write every id as
  0, missing ids) *every* annotation of that file is keyed ``"<image id>#<position>"`` (position =
  order among that image's annotations in the file), the evaluators get a corrected copy of the
  ground truth with ids renumbered 1..N in file order, and the run config carries a warning.
* **Per-annotation defects** (:func:`annotation_rle`): the annotation is skipped with a one-line
  reason, the image's other annotations are used. Polygons: every part a list of finite numbers
  of even length; parts with fewer than 3 points (they cover no area) are dropped, and an
  annotation left with no part is a defect; a vertex farther outside the image than the image's own
  width/height (``x < -W or x > 2W``, same for y) is a defect (pycocotools' rasteriser allocates
  memory in proportion to the polygon's perimeter and dies on a diverged vertex); a polygon wholly
  outside the image is a defect. Vertices slightly outside are fine (the rasteriser clips to the
  image). RLE: ``size`` must be the image's ``[height, width]``; counts must be non-negative and sum
  to ``height * width`` (a corrupt compressed string is parsed here first, never handed to the C
  decoder, which does not bound-check). ``iscrowd`` must be 0/1. Zero-area masks are defects.
* **Entries that belong to no image** (not an object, no usable ``image_id``, an image id not in
  ``images``) are listed as unattached, with the reason; category ids not in ``categories`` are
  counted (the point and proposal tasks are class-agnostic and use them; mask AP, which evaluates
  the listed categories, does not).
* A file that is not a COCO json, an ``images`` entry without a usable id, or an image id listed
  twice is a one-line :class:`CocoFormatError` naming the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import masks as mask_utils

FAR = 1.0
"""A polygon vertex may lie outside the image by at most FAR x the image's width (x) / height (y)."""
MAX_LISTED = 1000
"""At most this many unattached annotations are listed individually (all are counted)."""


class CocoFormatError(ValueError):
    """A COCO-format file that cannot be used at all (one line naming the file)."""


class AnnotationDefect(ValueError):
    """One annotation that cannot be evaluated; the message is the reason (one line)."""


def _is_number(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _usable_id(v) -> bool:
    return (isinstance(v, Integral) and not isinstance(v, bool)) or (isinstance(v, str) and v != "")


def category_of(ann: dict):
    """The annotation's ``category_id`` when it is a usable id (int or str), else None."""
    v = ann.get("category_id")
    return v if _usable_id(v) else None


def _fmt(v: float) -> str:
    return f"{v:.6g}"


# ---------------------------------------------------------------------------------------------
# segmentations
# ---------------------------------------------------------------------------------------------

def _polygon_parts(segmentation: list) -> List[np.ndarray]:
    """Flat float arrays of the polygon parts (a flat number list is one part); raises AnnotationDefect."""
    if segmentation and all(_is_number(v) for v in segmentation):
        segmentation = [segmentation]  # one polygon written without the outer list
    parts = []
    for part in segmentation:
        if not isinstance(part, (list, tuple)) or not all(_is_number(v) for v in part):
            raise AnnotationDefect("polygon with non-numeric coordinates")
        arr = np.asarray(part, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise AnnotationDefect("polygon with a non-finite coordinate (NaN or inf)")
        if len(arr) % 2:
            raise AnnotationDefect(f"polygon with an odd number of coordinates ({len(arr)})")
        parts.append(arr)
    return parts


def polygon_rle(segmentation: list, height: int, width: int) -> dict:
    """Rasterise COCO polygons after the checks of the module docstring.

    Arguments:
      segmentation: ``[[x0, y0, x1, y1, ...], ...]`` (pixel coordinates, x right, y down) or one flat list.
      height, width: the image size.
    Returns:
      the union of the parts as COCO RLE (str counts), pycocotools' rasterisation.
    Raises:
      AnnotationDefect: with the reason.
    """
    parts = _polygon_parts(segmentation)
    parts = [p for p in parts if len(p) >= 6]
    if not parts:
        raise AnnotationDefect("polygon with fewer than 3 points")
    xs = np.concatenate([p[0::2] for p in parts])
    ys = np.concatenate([p[1::2] for p in parts])
    far_x = (xs < -FAR * width) | (xs > (1 + FAR) * width)
    far_y = (ys < -FAR * height) | (ys > (1 + FAR) * height)
    far = np.flatnonzero(far_x | far_y)
    if len(far):
        i = int(far[0])
        raise AnnotationDefect(f"polygon vertex ({_fmt(xs[i])}, {_fmt(ys[i])}) far outside the "
                               f"{width}x{height} image")
    if xs.max() <= 0 or ys.max() <= 0 or xs.min() >= width or ys.min() >= height:
        raise AnnotationDefect("polygon wholly outside the image")
    return mask_utils.from_polygons([p.tolist() for p in parts], height, width)


def compressed_counts(counts: str) -> List[int]:
    """Run lengths of a COCO compressed RLE string (5 bits per character, offset 48, delta-coded
    from the third run on). Raises AnnotationDefect for a malformed string."""
    out: List[int] = []
    p, n = 0, len(counts)
    while p < n:
        x = k = 0
        more = True
        while more:
            if p >= n:
                raise AnnotationDefect("corrupt compressed RLE (string ends inside a run length)")
            c = ord(counts[p]) - 48
            if not 0 <= c < 64:
                raise AnnotationDefect(f"corrupt compressed RLE (character {counts[p]!r})")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(out) > 2:
            x += out[-2]
        out.append(x)
    return out


def rle_segmentation(segmentation: dict, height: int, width: int) -> dict:
    """Validate a COCO RLE (compressed or uncompressed) against the image; returns it with str counts."""
    size, counts = segmentation.get("size"), segmentation.get("counts")
    if not isinstance(size, (list, tuple)) or len(size) != 2 or not all(_is_number(v) for v in size):
        raise AnnotationDefect(f"RLE without a valid size ({size!r})")
    if [float(v) for v in size] != [float(height), float(width)]:
        raise AnnotationDefect(f"RLE size [{_fmt(size[0])}, {_fmt(size[1])}] differs from the image's "
                               f"[{height}, {width}]")
    if isinstance(counts, bytes):
        try:
            counts = counts.decode("ascii")
        except UnicodeDecodeError:
            raise AnnotationDefect("corrupt compressed RLE (not ASCII)") from None
    if isinstance(counts, str):
        runs = compressed_counts(counts)
    elif isinstance(counts, (list, tuple)):
        if not all(isinstance(v, Integral) and not isinstance(v, bool) for v in counts):
            raise AnnotationDefect("uncompressed RLE with non-integer counts")
        runs = [int(v) for v in counts]
    else:
        raise AnnotationDefect(f"RLE counts of type {type(counts).__name__}")
    if any(v < 0 for v in runs):
        raise AnnotationDefect("RLE with a negative run length")
    if sum(runs) != height * width:
        raise AnnotationDefect(f"RLE covers {sum(runs)} pixels, the {width}x{height} image has {height * width}")
    if isinstance(counts, str):
        return {"size": [height, width], "counts": counts}
    return mask_utils.from_segmentation({"size": [height, width], "counts": runs}, height, width)


def segmentation_rle(segmentation, height: int, width: int) -> dict:
    """Any COCO ``segmentation`` (polygons, uncompressed or compressed RLE) as a validated RLE of
    the image's size. Raises AnnotationDefect with the reason."""
    if isinstance(segmentation, list):
        if not segmentation:
            raise AnnotationDefect("empty segmentation")
        return polygon_rle(segmentation, height, width)
    if isinstance(segmentation, dict):
        return rle_segmentation(segmentation, height, width)
    if segmentation is None:
        raise AnnotationDefect("no segmentation")
    raise AnnotationDefect(f"segmentation of type {type(segmentation).__name__}")


def crowd_flag(ann: dict) -> bool:
    """The ``iscrowd`` flag (missing = 0); AnnotationDefect unless it is 0/1 or a bool."""
    v = ann.get("iscrowd", 0)
    if v is None:
        return False
    if isinstance(v, bool) or (_is_number(v) and v in (0, 1)):
        return bool(v)
    raise AnnotationDefect(f"iscrowd must be 0 or 1, got {v!r}")


def annotation_rle(ann: dict, height: int, width: int) -> dict:
    """The validated mask of one COCO annotation (see module docstring); AnnotationDefect otherwise."""
    if "segmentation" not in ann:
        raise AnnotationDefect("no segmentation")
    crowd_flag(ann)
    rle = segmentation_rle(ann["segmentation"], height, width)
    if mask_utils.area(rle) == 0:
        raise AnnotationDefect("zero-area mask")
    return rle


def image_hw(entry: dict) -> Tuple[int, int]:
    """(height, width) of an ``images`` entry; AnnotationDefect unless both are positive integers."""
    h, w = entry.get("height"), entry.get("width")
    ok = all(_is_number(v) and math.isfinite(v) and v == int(v) and 0 < v < 2 ** 31 for v in (h, w))
    if not ok:
        raise AnnotationDefect(f"image {entry.get('id')!r} has no valid height/width ({h!r} x {w!r})")
    return int(h), int(w)


# ---------------------------------------------------------------------------------------------
# the index of one file
# ---------------------------------------------------------------------------------------------

@dataclass
class CocoIndex:
    """One COCO-format json, indexed once (see module docstring).

    Attributes:
      path: the file (for messages).
      images: str(image id) -> the ``images`` entry.
      annotations: str(image id) -> [(key, annotation dict)] in file order.
      categories: category id -> the ``categories`` entry.
      eval_ids: key -> the annotation id the evaluators see (the file's id, or 1..N when re-keyed).
      rekeyed: True when keys are ``"<image id>#<position>"`` (ids missing or not unique).
      duplicate_ids: str(id) -> count, for ids used more than once.
      n_missing_ids: annotations without a usable id.
      unattached: ``{"image_id", "instance_id", "reason", "iscrowd"}`` for annotations that belong to
        no image (the first MAX_LISTED); ``n_unattached`` counts all, ``n_unattached_masks`` those
        that are not crowd regions (masks a task would have evaluated).
      n_unknown_category: annotations whose category id is not in ``categories``.
    """

    path: Path
    images: Dict[str, dict]
    annotations: Dict[str, List[Tuple[str, dict]]]
    categories: Dict[object, dict]
    eval_ids: Dict[str, object]
    rekeyed: bool = False
    duplicate_ids: Dict[str, int] = field(default_factory=dict)
    n_missing_ids: int = 0
    unattached: List[dict] = field(default_factory=list)
    n_unattached: int = 0
    n_unattached_masks: int = 0
    n_unknown_category: int = 0

    def warnings(self) -> List[str]:
        """One line per file-level issue (for the run config and the terminal)."""
        out = []
        if self.rekeyed:
            dup = ", ".join(f"id {k} x{v}" for k, v in list(self.duplicate_ids.items())[:5])
            what = []
            if self.duplicate_ids:
                what.append(f"{len(self.duplicate_ids)} annotation id(s) used more than once ({dup}"
                            f"{', ...' if len(self.duplicate_ids) > 5 else ''})")
            if self.n_missing_ids:
                what.append(f"{self.n_missing_ids} annotation(s) without a usable id")
            out.append(f"{self.path}: {'; '.join(what)}: every annotation keyed by (image id, position) as "
                       f"'<image id>#<position>', evaluators given ids 1..N in file order")
        if self.n_unattached:
            out.append(f"{self.path}: {self.n_unattached} annotation(s) belong to no image (skipped, listed)")
        if self.n_unknown_category:
            out.append(f"{self.path}: {self.n_unknown_category} annotation(s) with a category id not in "
                       f"'categories' (used by class-agnostic tasks, not evaluated by mask AP)")
        return out

    def describe(self) -> Dict[str, object]:
        """The file's issues for a run config (empty when there are none)."""
        out: Dict[str, object] = {}
        if self.rekeyed:
            out["annotation_keys"] = "<image id>#<position> (annotation ids missing or not unique)"
            out["duplicate_annotation_ids"] = dict(self.duplicate_ids)
            out["n_annotations_without_id"] = self.n_missing_ids
        if self.n_unattached:
            out["n_unattached_annotations"] = self.n_unattached
            out["n_unattached_masks"] = self.n_unattached_masks
            out["unattached_annotations"] = list(self.unattached)
        if self.n_unknown_category:
            out["n_unknown_category"] = self.n_unknown_category
        warn = self.warnings()
        if warn:
            out["warnings"] = warn
        return out

    def image_hw(self, image_id: str) -> Tuple[int, int]:
        return image_hw(self.images[image_id])

    def instances(self, image_id: str, height: int, width: int) -> Tuple[List[Tuple[str, dict, dict]], List[dict]]:
        """([(key, annotation, rle)], [{"instance_id", "reason", "iscrowd"}]) of one image, in file order."""
        good, bad = [], []
        for key, ann in self.annotations.get(image_id, []):
            try:
                good.append((key, ann, annotation_rle(ann, height, width)))
            except AnnotationDefect as exc:
                try:
                    crowd = crowd_flag(ann)
                except AnnotationDefect:
                    crowd = False
                bad.append({"instance_id": key, "reason": str(exc), "iscrowd": crowd})
        return good, bad


def category_index(data, path) -> Dict[object, dict]:
    """Category id -> ``categories`` entry of a parsed COCO-format json (entries without a usable id
    left out); CocoFormatError when ``categories`` is not a list."""
    cats = data.get("categories") if isinstance(data, dict) else None
    if cats is not None and not isinstance(cats, list):
        raise CocoFormatError(f"{path}: 'categories' is not a list")
    return {c["id"]: c for c in cats or [] if isinstance(c, dict) and _usable_id(c.get("id"))}


def index_coco(data, path) -> CocoIndex:
    """Index a parsed COCO-format json (see module docstring); CocoFormatError for an unusable file."""
    path = Path(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise CocoFormatError(f"{path}: not a COCO instances json (expected lists 'images' and 'annotations')")
    categories = category_index(data, path)
    images: Dict[str, dict] = {}
    for i, im in enumerate(data["images"]):
        if not isinstance(im, dict) or not _usable_id(im.get("id")):
            raise CocoFormatError(f"{path}: images[{i}] has no usable id (expected an int or str 'id')")
        key = str(im["id"])
        if key in images:
            raise CocoFormatError(f"{path}: image id {im['id']!r} is listed twice in 'images'")
        images[key] = im
    by_image: Dict[str, List[dict]] = {}
    unattached: List[dict] = []
    n_unattached = n_unattached_masks = 0
    ids: Dict[str, int] = {}
    n_missing = n_unknown_cat = 0
    order: List[Tuple[str, int, dict]] = []  # (image key, position, ann) in file order
    for i, a in enumerate(data["annotations"]):
        reason = None
        if not isinstance(a, dict):
            reason, image_key = f"annotations[{i}] is not an object", None
        else:
            img = a.get("image_id")
            image_key = str(img) if _usable_id(img) else None
            if image_key is None:
                reason = f"annotations[{i}] has no usable image_id ({img!r})"
            elif image_key not in images:
                reason = f"image id {img!r} is not in 'images'"
        if isinstance(a, dict):
            if _usable_id(a.get("id")):
                ids[str(a["id"])] = ids.get(str(a["id"]), 0) + 1
            else:
                n_missing += 1
        if reason is not None:
            try:
                crowd = isinstance(a, dict) and crowd_flag(a)
            except AnnotationDefect:
                crowd = False
            n_unattached += 1
            n_unattached_masks += not crowd
            if len(unattached) < MAX_LISTED:
                aid = a.get("id") if isinstance(a, dict) and _usable_id(a.get("id")) else f"annotations[{i}]"
                unattached.append({"image_id": image_key, "instance_id": str(aid), "reason": reason, "iscrowd": crowd})
            continue
        if categories and category_of(a) not in categories:
            n_unknown_cat += 1
        lst = by_image.setdefault(image_key, [])
        order.append((image_key, len(lst), a))
        lst.append(a)
    duplicates = {k: v for k, v in ids.items() if v > 1}
    rekeyed = bool(duplicates or n_missing)
    annotations: Dict[str, List[Tuple[str, dict]]] = {}
    eval_ids: Dict[str, object] = {}
    for n, (image_key, pos, a) in enumerate(order):
        key = f"{image_key}#{pos}" if rekeyed else str(a["id"])
        annotations.setdefault(image_key, []).append((key, a))
        eval_ids[key] = n + 1 if rekeyed else a["id"]
    return CocoIndex(path=path, images=images, annotations=annotations, categories=categories, eval_ids=eval_ids,
                     rekeyed=rekeyed, duplicate_ids=duplicates, n_missing_ids=n_missing, unattached=unattached,
                     n_unattached=n_unattached, n_unattached_masks=n_unattached_masks,
                     n_unknown_category=n_unknown_cat)


def annotation_area(ann: dict, rle: dict) -> float:
    """The area the evaluators bucket by: the file's ``area`` when it is a finite non-negative number,
    else the mask's pixel count."""
    a = ann.get("area")
    if _is_number(a) and math.isfinite(a) and a >= 0:
        return float(a)
    return float(mask_utils.area(rle))


def evaluator_dataset(index: CocoIndex, image_ids: Optional[Sequence[str]] = None) -> Tuple[dict, List[dict]]:
    """The ground truth the official evaluators get: the usable annotations of ``image_ids`` (sambench
    string ids; default every image) with validated RLE segmentations, unique ids (``index.eval_ids``),
    the evaluators' ``area`` (:func:`annotation_area`) and ``iscrowd``. Images with an invalid size
    are left out.

    Returns:
      (dataset dict with images, annotations, categories and every other top-level key of the file
      left out; skipped ``{"image_id", "instance_id", "reason"}`` entries).
    """
    keys = list(index.images) if image_ids is None else [str(i) for i in image_ids if str(i) in index.images]
    images, anns, skipped = [], [], []
    for image_key in keys:
        entry = index.images[image_key]
        try:
            h, w = index.image_hw(image_key)
        except AnnotationDefect as exc:
            skipped.extend({"image_id": image_key, "instance_id": k, "reason": str(exc)}
                           for k, _ in index.annotations.get(image_key, []))
            continue
        images.append(entry)
        good, bad = index.instances(image_key, h, w)
        skipped.extend({"image_id": image_key, "instance_id": b["instance_id"], "reason": b["reason"]} for b in bad)
        for key, a, rle in good:
            x, y, bw, bh = mask_utils.bbox(rle)
            anns.append({"id": index.eval_ids[key], "image_id": entry["id"], "category_id": category_of(a),
                         "iscrowd": int(crowd_flag(a)), "area": annotation_area(a, rle), "bbox": [x, y, bw, bh],
                         "segmentation": rle, "sambench_key": key})
    cats = list(index.categories.values())
    return {"images": images, "annotations": anns, "categories": cats}, skipped
