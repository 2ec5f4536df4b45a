"""NDD20: the Northumberland Dolphin Dataset 2020 (above- and below-water dolphin images).

Release: https://doi.org/10.25405/data.ncl.c.4982342 (Newcastle University; ``NDD20.zip``;
CC BY-NC-SA 4.0). Cite Trotter et al., NDD20: a large-scale few-shot dolphin dataset for coarse and
fine-grained categorisation, arXiv:2005.13359, 2020.

Layout under ``--root``::

    ABOVE/<file>.jpg      2,201 above-water images (dorsal fins)
    BELOW/<file>.jpg      2,201 below-water images (whole bodies)
    ABOVE_LABELS.json     VGG Image Annotator (VIA) export: {key: {"filename", "size", "regions"}}
    BELOW_LABELS.json     each region: shape_attributes {name: polygon|polyline, all_points_x,
                          all_points_y} and region_attributes (species, id, out of focus, ...)

The paper uses both halves ("N/A" split, 4,402 images / 6,100 masks), so does ``split="all"``;
``above`` or ``below`` selects one half. Image id ``ABOVE/<file stem>``; each region is one
instance, id = its index in the file's region list (``regions`` given as a dict in old VIA exports
are read in key order); its polygon is closed and rasterised with pycocotools. ``extra`` keeps the
region attributes (species, identity). The image size comes from the image header (VIA stores no
size). A region with fewer than 3 points, or covering no pixel, is skipped and counted in
``Sample.extra["zero_area"]``; a region that is not a polygon/polyline, or whose coordinates are
malformed or far outside the image, is skipped and listed in ``Sample.extra["skipped_annotations"]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Tuple

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, DatasetLayoutError, image_loader, image_size
from ._polygons import polygon_rle

HALVES = ("ABOVE", "BELOW")


def via_regions(entry: dict) -> List[dict]:
    regions = entry.get("regions") or []
    if isinstance(regions, dict):  # VIA 1.x
        regions = [regions[k] for k in sorted(regions, key=lambda s: (len(s), s))]
    return list(regions)


@DATASETS.register("ndd20")
class NDD20(DatasetAdapter):
    """NDD20 dolphins above and below water (VIA polygons)"""

    title = "Northumberland Dolphin Dataset 2020"
    domain = "Underwater"
    mask_type = "instance"
    split = "all"
    paper_split = "N/A"
    splits = ("all", "above", "below")
    folder_names = ("ndd20",)
    layout = "ROOT/{ABOVE,BELOW}/*.jpg and ROOT/{ABOVE,BELOW}_LABELS.json (VIA polygons)"
    source = "https://doi.org/10.25405/data.ncl.c.4982342 (NDD20.zip)"
    license = "CC BY-NC-SA 4.0"
    citation = ("Trotter et al., NDD20: a large-scale few-shot dolphin dataset for coarse and fine-grained "
                "categorisation, arXiv:2005.13359, 2020")
    paper_images = 4402
    paper_masks = 6100

    def halves(self) -> Tuple[str, ...]:
        if self.split == "all":
            return HALVES
        if self.split.upper() not in HALVES:
            raise DatasetLayoutError(f"{self.root}: unknown split '{self.split}' for {self.name}; use all, above or below")
        return (self.split.upper(),)

    def annotation_files(self) -> List[Path]:
        return [self.root / f"{h}_LABELS.json" for h in self.halves()]

    def check_layout(self) -> None:
        self._entries: Dict[str, Tuple[Path, dict]] = {}
        for half in self.halves():
            folder, ann = self.root / half, self.root / f"{half}_LABELS.json"
            if not folder.is_dir():
                raise self.missing(folder, f"{half}/ image folder")
            if not ann.is_file():
                raise self.missing(ann, f"{half}_LABELS.json")
            try:
                data = json.loads(ann.read_text())
                if not isinstance(data, dict):
                    raise ValueError("top level is not an object")
            except (OSError, ValueError) as exc:
                raise DatasetLayoutError(f"{ann}: not a readable VIA json ({exc}); {self.name} expects {self.layout}")
            for entry in data.values():
                if not isinstance(entry, dict) or "filename" not in entry:
                    continue
                path = folder / entry["filename"]
                self._entries[f"{half}/{Path(entry['filename']).stem}"] = (path, entry)

    def image_ids(self) -> List[str]:
        return sorted(self._entries)

    def load_sample(self, image_id: str) -> Sample:
        path, entry = self._entries[image_id]
        if not path.is_file():
            raise BadSampleError(f"{path}: image file missing")
        h, w = image_size(path)
        instances, dropped, skipped = [], [], []
        for k, region in enumerate(via_regions(entry)):
            shape = region.get("shape_attributes") or {}
            if shape.get("name") not in ("polygon", "polyline"):
                skipped.append({"instance_id": str(k), "reason": f"region is a '{shape.get('name')}', expected a polygon"})
                continue
            xs, ys = shape.get("all_points_x") or [], shape.get("all_points_y") or []
            if len(xs) != len(ys):
                skipped.append({"instance_id": str(k), "reason": f"{len(xs)} x and {len(ys)} y coordinates"})
                continue
            if len(xs) < 3:
                dropped.append(str(k))
                continue
            try:
                poly = [v for xy in zip(xs, ys) for v in xy]
                rle = polygon_rle([poly], h, w)
            except (ValueError, TypeError) as exc:
                skipped.append({"instance_id": str(k), "reason": str(exc).splitlines()[0]})
                continue
            if mask_utils.area(rle) == 0:
                dropped.append(str(k))
                continue
            attrs = region.get("region_attributes") or {}
            instances.append(Instance(id=str(k), rle=rle, extra={k2: v for k2, v in attrs.items() if v not in ("", None)}))
        return Sample(image_id=image_id, height=h, width=w, instances=instances, loader=image_loader(path),
                      image_path=path, extra={**({"zero_area": dropped} if dropped else {}),
                                              **({"skipped_annotations": skipped} if skipped else {})})
