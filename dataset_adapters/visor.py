"""EPIC-KITCHENS VISOR (Darkhalil et al., NeurIPS 2022 Datasets): hands and active objects, val split.

Release: https://epic-kitchens.github.io/VISOR (downloads hosted on data.bris.ac.uk), archive
``GroundTruth-SparseAnnotations`` (sparse, manually annotated frames; the dense
interpolations are not used). Licence: CC BY-NC 4.0. Cite: Darkhalil, Shan, Zhu, Ma, Kar,
Higgins, Fidler, Fouhey, Damen, "EPIC-KITCHENS VISOR Benchmark: VIdeo Segmentations and Object
Relations", NeurIPS 2022 Datasets and Benchmarks, and Damen et al., "Rescaling Egocentric Vision",
IJCV 2022.

Layout under ``--root`` (``GroundTruth-SparseAnnotations`` itself, or the folder holding it)::

    ROOT/annotations/val/<video>.json                    e.g. P01_107.json
    ROOT/rgb_frames/val/<video>/<video>_frame_XXXXXXXXXX.jpg   (per-video zips unpacked; also found
                                                           under rgb_frames/val/<participant>/[<video>/])

Json format (one file per video): ``{"video_annotations": [{"image": {"name", "video",
"subsequence", "image_path"}, "annotations": [{"id", "name", "class_id", "segments":
[[[x, y], ...], ...], ...}]}]}``; polygons are in the 1920x1080 frame's pixel coordinates.

Masks: every entry of a frame's ``annotations`` (a hand, a glove, an active object...) is one
instance, the union of its ``segments`` polygons; entries without any polygon of 3+ points are
dropped. Instance id = the entry's ``id`` (made unique within the frame). Image id =
``<video>/<frame name without .jpg>``. Default split "Validation" (``val``; paper: 1,864 images /
10,141 masks, i.e. the manifest subsamples); ``--split train`` reads ``train``. A video json that
cannot be parsed appears as the single id ``<video>`` whose sample is a BadSample with the reason.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Tuple

from sambench import masks as mask_utils
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, image_loader, image_size, require
from ._polygons import polygon_rle, read_json


@lru_cache(maxsize=4)
def _video_frames(path: str, mtime: float) -> Dict[str, dict]:
    """Frame name -> datapoint of a VISOR video json (cached: consecutive frames share a file)."""
    data = read_json(Path(path))
    if not isinstance(data, dict) or not isinstance(data.get("video_annotations"), list):
        raise BadSampleError(f"{path}: not a VISOR annotation json (no 'video_annotations' list)")
    out = {}
    for dp in data["video_annotations"]:
        try:
            out[dp["image"]["name"]] = dp
        except (KeyError, TypeError) as exc:
            raise BadSampleError(f"{path}: a 'video_annotations' entry has no image name") from exc
    return out


@DATASETS.register("visor")
class Visor(DatasetAdapter):
    """EPIC-KITCHENS VISOR hands and active objects (sparse polygons, val split)"""

    title = "EPIC-KITCHENS VISOR"
    domain = "Egocentric"
    mask_type = "instance"
    split = "Validation"
    layout = "ROOT/annotations/val/<video>.json and ROOT/rgb_frames/val/<video>/<frame>.jpg (GroundTruth-SparseAnnotations)"
    source = "https://epic-kitchens.github.io/VISOR (GroundTruth-SparseAnnotations)"
    license = "CC BY-NC 4.0"
    citation = ("Darkhalil et al., EPIC-KITCHENS VISOR Benchmark: VIdeo Segmentations and Object Relations, "
                "NeurIPS 2022 Datasets and Benchmarks")
    paper_images = 1864
    paper_masks = 10141

    def split_folder(self) -> str:
        return "val" if self.split == type(self).split else str(self.split).lower()

    def check_layout(self) -> None:
        if (self.root / "GroundTruth-SparseAnnotations").is_dir() and not (self.root / "annotations").is_dir():
            self.root = self.root / "GroundTruth-SparseAnnotations"
        split = self.split_folder()
        require(self, f"annotations/{split}", f"rgb_frames/{split}")
        self._ann_dir = self.root / "annotations" / split
        self._img_dir = self.root / "rgb_frames" / split
        self._frames: Dict[str, Tuple[Path, str]] = {}  # id -> (video json, frame name)
        self._broken: Dict[str, str] = {}
        for js in sorted(self._ann_dir.glob("*.json")):
            try:
                frames = _video_frames(str(js), js.stat().st_mtime)
            except BadSampleError as exc:
                self._broken[js.stem] = str(exc)
                continue
            for frame_name in frames:
                self._frames[f"{js.stem}/{Path(frame_name).stem}"] = (js, frame_name)

    def image_ids(self) -> List[str]:
        return sorted(list(self._frames) + list(self._broken))

    def frame_path(self, video: str, frame_name: str) -> Path:
        """``<video>/<frame>``, else ``<participant>/<video>/<frame>`` or ``<participant>/<frame>``
        (how per-video zips unpack depends on the unzip command)."""
        participant = video.split("_")[0]
        direct = self._img_dir / video / frame_name
        for cand in (direct, self._img_dir / participant / video / frame_name, self._img_dir / participant / frame_name):
            if cand.is_file():
                return cand
        return direct

    def load_sample(self, image_id: str) -> Sample:
        if image_id in self._broken:
            raise BadSampleError(self._broken[image_id])
        if image_id not in self._frames:
            raise BadSampleError(f"{self._ann_dir}: no annotated frame '{image_id}'")
        js, frame_name = self._frames[image_id]
        dp = _video_frames(str(js), js.stat().st_mtime)[frame_name]
        path = self.frame_path(js.stem, frame_name)
        if not path.is_file():
            raise BadSampleError(f"{path}: frame file missing")
        h, w = image_size(path)
        instances, used, skipped = [], set(), []
        entities = dp.get("annotations")
        if not isinstance(entities, list):
            raise BadSampleError(f"{js}: frame '{frame_name}' has no 'annotations' list")
        for k, entity in enumerate(entities):
            inst_id = str(entity.get("id", k)) if isinstance(entity, dict) else str(k)
            if inst_id in used:
                inst_id = f"{inst_id}_{k}"
            used.add(inst_id)
            try:
                if not isinstance(entity, dict):
                    raise ValueError("entity is not an object")
                rle = polygon_rle(entity.get("segments") or [], h, w)
            except (ValueError, TypeError) as exc:  # only this entity is skipped, with the reason
                skipped.append({"instance_id": inst_id, "reason": f"bad polygons ({str(exc).splitlines()[0]})"})
                continue
            if mask_utils.area(rle) == 0:
                skipped.append({"instance_id": inst_id, "reason": "zero-area mask"})
                continue
            instances.append(Instance(id=inst_id, rle=rle, category_id=entity.get("class_id"),
                                      extra={"category": entity.get("name")}))
        return Sample(image_id=image_id, height=h, width=w, instances=instances, loader=image_loader(path),
                      image_path=path, extra={"subsequence": (dp.get("image") or {}).get("subsequence"),
                                              **({"skipped_annotations": skipped} if skipped else {})})
