"""The nouns that flow from dataset adapters to tasks: `Instance`, `Sample`, `BadSample`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from . import masks as mask_utils


class BadSampleError(Exception):
    """A sample that cannot be used (unreadable image, broken annotation); it is skipped and counted.

    Arguments:
      message: one line naming the file and what was expected.
      n_masks: how many ground-truth masks the sample held, when the adapter knows (e.g. a COCO image
        whose file is unreadable: its annotations), so a run counts them as skipped masks.
    """

    def __init__(self, message: str = "", n_masks: int = 0):
        super().__init__(message)
        self.n_masks = int(n_masks)


@dataclass
class Instance:
    """One ground-truth object mask.

    Attributes:
      id: stable id within the dataset (annotation id, mask file stem, label value).
      rle: COCO RLE of the mask at the image's resolution.
      category_id: the dataset's category, when it has one.
      iscrowd: COCO crowd flag (crowd regions are never prompted).
      extra: dataset-specific fields worth keeping (category name, frequency, ...).
    """

    id: str
    rle: dict
    category_id: Optional[int] = None
    iscrowd: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def area(self) -> int:
        return mask_utils.area(self.rle)

    @property
    def bbox(self) -> List[float]:
        """[x, y, w, h]"""
        return mask_utils.bbox(self.rle)

    def mask(self) -> np.ndarray:
        return mask_utils.decode(self.rle)


@dataclass
class Sample:
    """One image with its instances, loaded lazily.

    Attributes:
      image_id: stable id within the dataset (the same across runs and machines).
      height, width: image size; every RLE has this size.
      instances: ground-truth masks.
      ignore: RLE of pixels the dataset's own rule excludes from scoring (GrabCut's unknown band), or None.
      void: RLE of the dataset's void/unlabelled pixels (Cityscapes, DRAM), or None. Scored as ordinary
        background by default (plain per-mask IoU, as the paper states); tasks exclude them only when
        asked (the point task's ``--ignore-void``).
      image_path: the file the image comes from, when there is one.
      loader: returns the HxWx3 uint8 RGB image; called by `image()`.
      extra: dataset-specific fields. ``extra["skipped_annotations"]``: ``[{"instance_id", "reason"}]``
        for annotations of this image that could not be made into a mask (see
        ``skipped_annotations``); ``extra["zero_area"]``: ids of zero-area masks an adapter dropped.
    """

    image_id: str
    height: int
    width: int
    instances: List[Instance]
    loader: Callable[[], np.ndarray]
    ignore: Optional[dict] = None
    image_path: Optional[Path] = None
    extra: dict = field(default_factory=dict)
    void: Optional[dict] = None

    def image(self) -> np.ndarray:
        """Load the image as HxWx3 uint8 RGB; raises BadSampleError if unreadable or of the wrong size."""
        try:
            img = self.loader()
        except BadSampleError:
            raise
        except Exception as exc:  # unreadable file: the caller skips and counts this sample
            raise BadSampleError(f"{self.image_path or self.image_id}: unreadable image ({exc})") from exc
        if img.shape[:2] != (self.height, self.width):
            raise BadSampleError(
                f"{self.image_path or self.image_id}: image is {img.shape[1]}x{img.shape[0]}, "
                f"annotations are {self.width}x{self.height}"
            )
        return img

    def ignore_mask(self, include_void: bool = False) -> Optional[np.ndarray]:
        """HxW bool mask of the pixels excluded from scoring (``ignore``, plus ``void`` when asked), or None."""
        parts = [r for r in (self.ignore, self.void if include_void else None) if r is not None]
        if not parts:
            return None
        out = mask_utils.decode(parts[0])
        for r in parts[1:]:
            out = out | mask_utils.decode(r)
        return out

    def skipped_annotations(self) -> List[dict]:
        """``[{"instance_id", "reason"}]``: the annotations of this image that are not instances because
        they could not be made into a mask (adapter's ``extra["skipped_annotations"]``, and the ids in
        ``extra["zero_area"]`` as "zero-area mask")."""
        extra = self.extra or {}
        out = [dict(s) for s in extra.get("skipped_annotations") or []]
        listed = {s["instance_id"] for s in out}
        out += [{"instance_id": str(i), "reason": "zero-area mask"} for i in extra.get("zero_area") or []
                if str(i) not in listed]
        return out


@dataclass
class BadSample:
    """A sample that was skipped, with the reason (recorded in the run's summary)."""

    image_id: str
    reason: str
