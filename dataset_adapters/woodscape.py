"""WoodScape (Yogamani et al., ICCV 2019): fisheye surround-view driving images, instance polygons.

Release: https://github.com/valeoai/WoodScape (Google Drive folder linked from its README /
``data/download.txt``). The "first set of tasks" released in March 2021: 8.2K RGB images of the
four fisheye cameras (FV, RV, MVL, MVR) with polygon instance annotations of 40+ classes (the
remaining 1.8K test images are held out). Licence: the repository is MIT; the data's terms are
those of the download page.
Cite: Yogamani et al., "WoodScape: A multi-task, multi-camera fisheye dataset for autonomous
driving", ICCV 2019.

Layout under ``--root``::

    ROOT/rgb_images/<name>.png                 e.g. 00000_FV.png (FV/RV/MVL/MVR cameras)
    ROOT/instance_annotations/<name>.json      one json per image

Json format (MightyAI export, read by the repo's ``scripts/parsers``): ``{<key>: {"image_width",
"image_height", "annotation": [{"id", "tags": [class], "segmentation": [[x, y], ...], "z_order",
"group_id"?, "states"?}]}}`` with a single top-level key.

Choices (the paper says "Set 1" and "instance" only):

* "Set 1" = that first released set (``rgb_images`` + ``instance_annotations``); every image
  with an annotation json is read (paper: 107 images / 10,266 masks, i.e. the manifest
  subsamples; ~96 masks per image means all 40 classes count, stuff like road and curb included).
* One instance per annotation entry, its polygon rasterised at the image size. Entries sharing a
  ``group_id`` and the same class are the pieces of one object split by an occluder and are
  merged, as the repo's detection parser does (id = the first piece's id).
* Occlusion: annotations are drawn in ``z_order`` (the repo's semantic-map generator paints them
  in that order), so each instance keeps only its pixels not covered by an entry of a higher
  ``z_order`` (ties: the later entry in the file is on top). Instances left empty are dropped.
* Entries with no class tag or a polygon of fewer than 3 points are skipped. Image ids are the
  file stems.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, image_loader, image_size, require
from ._polygons import polygon_mask, read_json


@DATASETS.register("woodscape")
class WoodScape(DatasetAdapter):
    """WoodScape fisheye driving, set 1 (per-image json polygons, z-ordered)"""

    title = "WoodScape"
    domain = "Fisheye driving"
    mask_type = "instance"
    split = "Set 1"
    layout = "ROOT/rgb_images/<name>.png and ROOT/instance_annotations/<name>.json"
    source = "https://github.com/valeoai/WoodScape (rgb_images.zip, instance_annotations.zip)"
    license = "code MIT; data per the WoodScape download page"
    citation = ("Yogamani et al., WoodScape: A multi-task, multi-camera fisheye dataset for autonomous driving, "
                "ICCV 2019")
    paper_images = 107
    paper_masks = 10266

    def check_layout(self) -> None:
        require(self, "rgb_images", "instance_annotations")
        self._anns: Dict[str, Path] = {p.stem: p for p in sorted((self.root / "instance_annotations").glob("*.json"))}
        self._images: Dict[str, Path] = {}
        for p in sorted((self.root / "rgb_images").iterdir()):
            if p.suffix.lower() in (".png", ".jpg", ".jpeg"):
                self._images.setdefault(p.stem, p)

    def image_ids(self) -> List[str]:
        return sorted(self._anns)

    def load_sample(self, image_id: str) -> Sample:
        if image_id not in self._images:
            raise BadSampleError(f"{self.root / 'rgb_images'}: no image for annotation '{image_id}'")
        path = self._images[image_id]
        h, w = image_size(path)
        ann_path = self._anns[image_id]
        data = read_json(ann_path)
        try:
            record = next(iter(data.values()))
            entries = record["annotation"]
            if not isinstance(entries, list):
                raise TypeError("'annotation' is not a list")
        except Exception as exc:
            raise BadSampleError(f"{ann_path}: not a WoodScape annotation json ({exc})") from exc
        jh, jw = record.get("image_height"), record.get("image_width")
        if jh is not None and jw is not None and (int(jh), int(jw)) != (h, w):
            raise BadSampleError(f"{path}: image is {w}x{h}, {ann_path.name} says {jw}x{jh}")
        objs = []  # (z_order, file position, id, tag, group, mask)
        for k, e in enumerate(entries):
            try:
                tags = e.get("tags") or []
                if not tags:
                    continue
                m = polygon_mask([e["segmentation"]], h, w)
                z = float(e.get("z_order", 0) or 0)
            except Exception as exc:
                raise BadSampleError(f"{ann_path}: entry {k} has a bad polygon ({exc})") from exc
            if m.any():
                objs.append((z, k, str(e.get("id", k)), str(tags[0]), e.get("group_id"), m))
        # visible part: remove what any entry drawn later (higher z, or same z later in the file) covers
        order = sorted(range(len(objs)), key=lambda i: (objs[i][0], objs[i][1]))
        covered = np.zeros((h, w), dtype=bool)
        visible = [None] * len(objs)
        for i in reversed(order):
            visible[i] = objs[i][5] & ~covered
            covered |= objs[i][5]
        merged: Dict[object, int] = {}  # (group, tag) -> index in out
        out: List[list] = []  # [id, tag, mask]
        for i, (_, _, inst_id, tag, group, _) in enumerate(objs):
            key = (group, tag) if group not in (None, "", 0) else None
            if key is not None and key in merged:
                out[merged[key]][2] |= visible[i]
                continue
            if key is not None:
                merged[key] = len(out)
            out.append([inst_id, tag, visible[i].copy()])
        instances, used = [], set()
        for inst_id, tag, m in out:
            if not m.any():
                continue
            if inst_id in used:
                inst_id = f"{inst_id}_{len(used)}"
            used.add(inst_id)
            instances.append(Instance(id=inst_id, rle=mask_utils.encode(m), extra={"category": tag}))
        return Sample(image_id=image_id, height=h, width=w, instances=instances,
                      loader=image_loader(path), image_path=path)
