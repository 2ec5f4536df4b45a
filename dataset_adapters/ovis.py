"""OVIS, Occluded Video Instance Segmentation (Qi et al., IJCV 2022): single frames of the train videos.

Release: https://songbai.site/ovis/ (frames ``train.zip`` + ``annotations_train.json``; also on
CodaLab / Google Drive from the same page). 607 train videos, 25 categories, heavy occlusion.
Licence: CC BY-NC-SA 4.0 (OVIS page). Cite: Qi, Gao, Hu, Wang, Liu, Bai, Belongie, Yuille, Torr,
Bai, "Occluded Video Instance Segmentation: A Benchmark", IJCV 2022.

Layout under ``--root``::

    ROOT/annotations_train.json            YouTube-VIS style json
    ROOT/train/<video>/img_XXXXXXX.jpg     frames, as named in each video's ``file_names``

Annotation format (YouTube-VIS 2019): ``videos`` = [{id, file_names, height, width, length}],
``annotations`` = [{id, video_id, category_id, iscrowd, segmentations: [RLE or null per frame]}],
``categories``. RLE counts may be compressed strings or uncompressed lists.

Frames (the paper evaluates single images and does not say which frames): **every frame that
has at least one non-null segmentation is a sample**, in (video file name, frame) order; the
manifest then subsamples images with its fixed seed exactly as for any other dataset, so the
choice is reproducible. Image id = the frame's ``file_name`` without extension
(``<video>/img_0000001``); instance id = the OVIS track (annotation) id, so the same object keeps
its id across frames; ``extra['video']`` and ``extra['frame_index']`` are kept. A frame whose
segmentation is corrupt becomes a BadSample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

from sambench import masks as mask_utils
from sambench.annotations import AnnotationDefect, segmentation_rle
from sambench.data import BadSampleError, Instance, Sample

from .base import DATASETS, DatasetAdapter, DatasetLayoutError, image_loader, image_size, require
from ._polygons import image_key, read_json


@DATASETS.register("ovis")
class OVIS(DatasetAdapter):
    """OVIS occluded video instances, train frames with annotations (YouTube-VIS json)"""

    title = "Occluded Video Instance Segmentation (OVIS)"
    domain = "Occlusions"
    mask_type = "instance"
    split = "Train"
    layout = "ROOT/annotations_train.json and ROOT/train/<video>/img_*.jpg"
    source = "https://songbai.site/ovis/ (train.zip, annotations_train.json)"
    license = "CC BY-NC-SA 4.0"
    citation = "Qi et al., Occluded Video Instance Segmentation: A Benchmark, IJCV 2022"
    paper_images = 2044
    paper_masks = 10011

    def split_folder(self) -> str:
        return "train" if self.split == type(self).split else str(self.split).lower()

    def annotation_file(self) -> Path:
        return self.ann or self.root / f"annotations_{self.split_folder()}.json"

    def check_layout(self) -> None:
        split = self.split_folder()
        require(self, split)
        ann = self.annotation_file()
        if not ann.is_file():
            raise self.missing(ann, ann.name)
        data = read_json(ann, DatasetLayoutError)
        if not isinstance(data, dict) or not isinstance(data.get("videos"), list) \
                or not isinstance(data.get("annotations"), list):
            raise DatasetLayoutError(f"{ann}: not a YouTube-VIS/OVIS json (expected lists 'videos' and "
                                     f"'annotations'); {self.name} expects under --root {self.layout}")
        self.categories = {c["id"]: c for c in data.get("categories") or [] if isinstance(c, dict) and "id" in c}
        tracks: Dict[object, List[dict]] = {}
        for a in data["annotations"]:
            if isinstance(a, dict):
                tracks.setdefault(a.get("video_id"), []).append(a)
        # frame id -> (video record, frame index, annotation list)
        self._frames: Dict[str, Tuple[dict, int, List[dict]]] = {}
        for video in data["videos"]:
            anns = tracks.get(video.get("id"), [])
            names = video.get("file_names") or []
            for t, file_name in enumerate(names):
                if any(isinstance(a.get("segmentations"), list) and t < len(a["segmentations"])
                       and a["segmentations"][t] for a in anns):
                    self._frames[image_key(file_name)] = (video, t, anns)
        self._image_dir = self.root / split

    def image_ids(self) -> List[str]:
        return sorted(self._frames)

    def load_sample(self, image_id: str) -> Sample:
        if image_id not in self._frames:
            raise BadSampleError(f"{self.annotation_file()}: no annotated frame '{image_id}'")
        video, t, anns = self._frames[image_id]
        path = self._image_dir / video["file_names"][t]
        if not path.is_file():
            raise BadSampleError(f"{path}: frame file missing")
        h, w = int(video["height"]), int(video["width"])
        if image_size(path) != (h, w):  # header only; a corrupt frame fails here too
            ih, iw = image_size(path)
            raise BadSampleError(f"{path}: frame is {iw}x{ih}, the video record says {w}x{h}")
        instances, skipped = [], []
        for a in anns:
            seg = a["segmentations"][t] if t < len(a.get("segmentations") or []) else None
            if not seg:
                continue
            try:  # validated before pycocotools sees it; only this track's mask is skipped
                rle = segmentation_rle(seg, h, w)
                if mask_utils.area(rle) == 0:
                    raise AnnotationDefect("zero-area mask")
            except AnnotationDefect as exc:
                skipped.append({"instance_id": str(a.get("id")), "reason": str(exc)})
                continue
            cat = self.categories.get(a.get("category_id"), {})
            instances.append(Instance(id=str(a.get("id")), rle=rle, category_id=a.get("category_id"),
                                      iscrowd=bool(a.get("iscrowd", 0)),
                                      extra={"category": cat.get("name")} if cat else {}))
        return Sample(image_id=image_id, height=h, width=w, instances=instances, loader=image_loader(path),
                      image_path=path, extra={"video": video.get("id"), "frame_index": t,
                                              **({"skipped_annotations": skipped} if skipped else {})})
