"""Shared helpers of the polygon- and COCO-json-based adapters (not an adapter; nothing registers here).

* ``polygon_rle`` / ``points_to_flat``: rasterise polygons given as ``[[x, y], ...]`` point lists or
  flat COCO lists with pycocotools, after the checks of ``sambench.annotations`` (finite
  coordinates, no vertex far outside the image), the same rasteriser ``sambench.masks.from_polygons``
  uses, so every polygon dataset is rasterised identically (a polygon with integer corners
  ``x0 < x1``, ``y0 < y1`` covers pixel columns ``x0 .. x1-1`` and rows ``y0 .. y1-1``).
* ``read_json``: read a json file, raising ``BadSampleError`` (per-image files) or
  ``DatasetLayoutError`` (files the whole split depends on) with a one-line reason.
* ``CocoJsonAdapter``: base of the adapters whose release is one or more COCO instances json files
  (ZeroWaste-f, PIDray, TrashCan, Plittersdorf, STREETS, NDISPark, IBD). Image ids are the image's
  ``file_name`` without extension (stable and readable; numeric COCO ids collide across files);
  the image header is read in ``load_sample`` so a missing, corrupt or resized image becomes a
  ``BadSample`` before any model sees it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Type

import numpy as np

from sambench import masks as mask_utils
from sambench.annotations import AnnotationDefect, CocoFormatError, CocoIndex, index_coco, polygon_rle as _safe_polygon_rle
from sambench.data import BadSampleError, Sample

from .base import DatasetAdapter, DatasetLayoutError, data_warning
from .coco import coco_sample


def points_to_flat(points: Sequence) -> List[float]:
    """``[[x, y], ...]`` (or an already flat ``[x0, y0, x1, y1, ...]``) -> flat list of floats."""
    if len(points) and isinstance(points[0], (list, tuple)):
        out: List[float] = []
        for p in points:
            if len(p) < 2:
                raise ValueError(f"polygon point {p!r} has fewer than 2 coordinates")
            out.extend((float(p[0]), float(p[1])))
        return out
    return [float(v) for v in points]


def empty_rle(height: int, width: int) -> dict:
    return mask_utils.encode(np.zeros((height, width), dtype=bool))


def polygon_rle(polygons: Iterable[Sequence], height: int, width: int) -> dict:
    """Union of polygons (point lists or flat lists) as one RLE, by ``sambench.annotations.polygon_rle``'s
    checks; polygons with fewer than 3 points cover nothing (an empty RLE when no polygon is left).

    Raises:
      AnnotationDefect (a ValueError): non-numeric or non-finite coordinates, a vertex far outside the
        image; callers skip that annotation with the reason.
    """
    flat = [points_to_flat(p) for p in polygons]
    flat = [p for p in flat if len(p) >= 6]
    if not flat:
        return empty_rle(height, width)
    try:
        return _safe_polygon_rle(flat, height, width)
    except AnnotationDefect as exc:
        if "wholly outside" in str(exc):
            return empty_rle(height, width)
        raise


def polygon_mask(polygons: Iterable[Sequence], height: int, width: int) -> np.ndarray:
    return mask_utils.decode(polygon_rle(polygons, height, width))


def read_json(path: Path, error: Type[Exception] = BadSampleError):
    """Parse a json file; ``error`` (BadSampleError or DatasetLayoutError) with a one-line reason otherwise."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8-sig"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error(f"{path}: unreadable json ({msg})") from exc


def image_key(file_name: str) -> str:
    """Image id of a COCO ``file_name``: the relative path without its extension, '/'-separated."""
    p = PurePosixPath(str(file_name).replace("\\", "/"))
    return str(p.with_suffix("")) if p.suffix else str(p)


@dataclass
class _CocoImage:
    path: Path
    index: CocoIndex
    key: str  # the image's id in its json, as a string


class CocoJsonAdapter(DatasetAdapter):
    """Base class: datasets released as COCO instances json (polygon or RLE segmentations).

    Subclasses implement ``coco_sources()`` -> list of (json path, images folder). Every image listed
    in the json files is a sample (images without annotations too; the manifest drops them).
    Annotations follow the rules of ``sambench.annotations`` (as the ``coco`` adapter); an image
    entry without ``height`` and ``width`` takes its file's size.
    """

    def coco_sources(self) -> List[Tuple[Path, Path]]:
        raise NotImplementedError

    def resolve_image(self, images_dir: Path, file_name: str, json_dir: Optional[Path] = None) -> Path:
        """Path of an image: ``images_dir/file_name``, else ``images_dir/<basename>``, else
        ``<json folder>/file_name`` (the first candidate when none exists)."""
        rel = str(file_name).replace("\\", "/")
        direct = images_dir / rel
        candidates = [direct, images_dir / PurePosixPath(rel).name]
        if json_dir is not None:
            candidates.append(json_dir / rel)
        for cand in candidates:
            if cand.is_file():
                return cand
        return direct

    def check_layout(self) -> None:
        self._images: Dict[str, _CocoImage] = {}
        self.categories: Dict[int, dict] = {}
        self._indexes: List[CocoIndex] = []
        for json_path, images_dir in self.coco_sources():
            if not json_path.is_file():
                raise self.missing(json_path, "annotation file")
            if not images_dir.is_dir():
                raise self.missing(images_dir, "images folder")
            data = read_json(json_path, DatasetLayoutError)
            try:
                index = index_coco(data, json_path)
            except CocoFormatError as exc:
                raise DatasetLayoutError(f"{exc}; {self.name} expects under --root {self.layout}") from exc
            self._indexes.append(index)
            for line in index.warnings():
                data_warning(line)
            for cid, c in index.categories.items():
                self.categories.setdefault(cid, c)
            for key_in_json, im in index.images.items():
                if not isinstance(im.get("file_name"), str) or not im["file_name"]:
                    raise DatasetLayoutError(f"{json_path}: an 'images' entry has no file_name")
                key = image_key(im["file_name"])
                if key in self._images:  # same file name in two json files: keep both, apart
                    key = f"{json_path.stem}/{key}"
                self._images[key] = _CocoImage(self.resolve_image(images_dir, im["file_name"], json_path.parent),
                                               index, key_in_json)

    def describe(self) -> Dict[str, object]:
        out = dict(super().describe())
        issues = [ix.describe() for ix in self._indexes]
        if any(issues):
            out["annotation_issues"] = {str(ix.path): d for ix, d in zip(self._indexes, issues) if d}
        n = sum(ix.n_unattached for ix in self._indexes)
        if n:  # where the task summaries count them (as the coco adapter's entry has them)
            out["n_unattached_annotations"] = n
            out["n_unattached_masks"] = sum(ix.n_unattached_masks for ix in self._indexes)
            out["unattached_annotations"] = [u for ix in self._indexes for u in ix.unattached]
        return out

    def image_ids(self) -> List[str]:
        return sorted(self._images)

    def load_sample(self, image_id: str) -> Sample:
        if image_id not in self._images:
            raise BadSampleError(f"{self.root}: no image '{image_id}' in the annotation files")
        entry = self._images[image_id]
        sample = coco_sample(entry.index, entry.key, entry.path, size_from_file=True)
        sample.image_id = image_id
        return sample


def find_coco_jsons(folder: Path, name_filter: Optional[str] = None, max_depth: int = 3) -> List[Path]:
    """COCO-looking ``*.json`` files under ``folder`` (at most ``max_depth`` levels), sorted.

    ``name_filter``: keep only files whose name contains it (case-insensitive). A file is
    COCO-looking if its first 4 kB mention both "images" and "annotations".
    """
    out = []
    for p in sorted(folder.rglob("*.json")):
        if len(p.relative_to(folder).parts) > max_depth:
            continue
        if name_filter and name_filter.lower() not in p.name.lower():
            continue
        try:
            with open(p, "rb") as f:
                head = f.read(4096)
        except OSError:
            continue
        if b'"images"' in head or b'"annotations"' in head:
            out.append(p)
    return out


def images_dir_near(json_path: Path, root: Path) -> Path:
    """The images folder belonging to a json found by ``find_coco_jsons``.

    Tried in order: ``<json dir>/images``, ``<json dir>/../images``, ``<json dir>/imgs``,
    ``<json dir>/../imgs``, ``<root>/images``, then the json's own folder.
    """
    d = json_path.parent
    for cand in (d / "images", d.parent / "images", d / "imgs", d.parent / "imgs", root / "images"):
        if cand.is_dir():
            return cand
    return d


def discovered_coco_sources(adapter: DatasetAdapter, folder: Path,
                            name_filter: Optional[str] = None) -> List[Tuple[Path, Path]]:
    """(json, images folder) pairs for a release whose exact file names are not pinned down.

    ``--ann FILE`` wins; otherwise every COCO-looking json under ``folder`` (``find_coco_jsons``)
    is read, each with the images folder ``images_dir_near`` finds for it.
    """
    if adapter.ann is not None:
        if not adapter.ann.is_file():
            raise DatasetLayoutError(f"{adapter.ann}: annotation file not found; {adapter.name} expects "
                                     f"under --root {adapter.layout}")
        return [(adapter.ann, images_dir_near(adapter.ann, adapter.root))]
    if not folder.is_dir():
        raise adapter.missing(folder, str(folder.relative_to(adapter.root)) if folder != adapter.root else "root")
    jsons = find_coco_jsons(folder, name_filter)
    if not jsons:
        what = f"no COCO instances json{' named *' + name_filter + '*' if name_filter else ''}"
        raise DatasetLayoutError(f"{folder}: {what} found; {adapter.name} expects under --root {adapter.layout}")
    return [(j, images_dir_near(j, folder)) for j in jsons]
