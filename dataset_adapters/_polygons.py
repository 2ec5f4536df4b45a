"""Shared helpers of the polygon- and COCO-json-based adapters (not an adapter; nothing registers here).

* ``polygon_rle`` / ``points_to_flat``: rasterise polygons given as ``[[x, y], ...]`` point lists or
  flat COCO lists with pycocotools, the same rasteriser ``sambench.masks.from_polygons`` uses, so
  every polygon dataset is rasterised identically (a polygon with integer corners ``x0 < x1``,
  ``y0 < y1`` covers pixel columns ``x0 .. x1-1`` and rows ``y0 .. y1-1``).
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
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Type

import numpy as np

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DatasetAdapter, DatasetLayoutError, image_loader, image_size


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
    """Union of polygons (point lists or flat lists) as one RLE; degenerate polygons (< 3 points) drop out."""
    flat = [points_to_flat(p) for p in polygons]
    flat = [p for p in flat if len(p) >= 6]
    if not flat:
        return empty_rle(height, width)
    return mask_utils.from_polygons(flat, height, width)


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
    record: dict
    path: Path
    source: Path
    anns: List[dict]


class CocoJsonAdapter(DatasetAdapter):
    """Base class: datasets released as COCO instances json (polygon or RLE segmentations).

    Subclasses implement ``coco_sources()`` -> list of (json path, images folder). Every image listed
    in the json files is a sample (images without annotations too; the manifest drops them).
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
        for json_path, images_dir in self.coco_sources():
            if not json_path.is_file():
                raise self.missing(json_path, "annotation file")
            if not images_dir.is_dir():
                raise self.missing(images_dir, "images folder")
            data = read_json(json_path, DatasetLayoutError)
            if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
                    or not isinstance(data.get("annotations"), list):
                raise DatasetLayoutError(
                    f"{json_path}: not a COCO instances json (expected lists 'images' and 'annotations'); "
                    f"{self.name} expects under --root {self.layout}")
            for c in data.get("categories") or []:
                if isinstance(c, dict) and "id" in c:
                    self.categories.setdefault(c["id"], c)
            anns_by_image: Dict[object, List[dict]] = defaultdict(list)
            for a in data["annotations"]:
                if isinstance(a, dict):
                    anns_by_image[a.get("image_id")].append(a)
            for im in data["images"]:
                if not isinstance(im, dict) or "file_name" not in im:
                    raise DatasetLayoutError(f"{json_path}: an 'images' entry has no file_name")
                key = image_key(im["file_name"])
                if key in self._images:  # same file name in two json files: keep both, apart
                    key = f"{json_path.stem}/{key}"
                entry = _CocoImage(im, self.resolve_image(images_dir, im["file_name"], json_path.parent), json_path,
                                   anns_by_image.get(im.get("id"), []))
                self._images[key] = entry

    def image_ids(self) -> List[str]:
        return sorted(self._images)

    def load_sample(self, image_id: str) -> Sample:
        if image_id not in self._images:
            raise BadSampleError(f"{self.root}: no image '{image_id}' in the annotation files")
        entry = self._images[image_id]
        path = entry.path
        if not path.is_file():
            raise BadSampleError(f"{path}: image file missing (listed in {entry.source.name})")
        h, w = image_size(path)  # header only; corrupt files fail here
        jh, jw = entry.record.get("height"), entry.record.get("width")
        if jh is not None and jw is not None and (int(jh), int(jw)) != (h, w):
            raise BadSampleError(f"{path}: image is {w}x{h}, {entry.source.name} says {jw}x{jh}")
        instances = []
        for a in entry.anns:
            try:
                seg = a["segmentation"]
                if isinstance(seg, list) and seg and not isinstance(seg[0], (list, tuple)):
                    seg = [seg]  # a single flat polygon written without the outer list
                if isinstance(seg, list):
                    rle = polygon_rle(seg, h, w)
                else:
                    rle = mask_utils.from_segmentation(seg, h, w)
                    if list(rle["size"]) != [h, w]:
                        raise ValueError(f"RLE size {rle['size']} != image {h}x{w}")
            except Exception as exc:
                raise BadSampleError(
                    f"{entry.source}: annotation {a.get('id')} of '{image_id}' has a bad segmentation ({exc})") from exc
            cat = self.categories.get(a.get("category_id"), {})
            instances.append(Instance(
                id=str(a.get("id", len(instances))), rle=rle, category_id=a.get("category_id"),
                iscrowd=bool(a.get("iscrowd", 0)), extra={"category": cat.get("name")} if cat else {},
            ))
        return Sample(image_id=image_id, height=h, width=w, instances=instances,
                      loader=image_loader(path), image_path=path)


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
