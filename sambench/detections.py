"""Detections files: a detector's boxes as a COCO results json, ``[{"image_id", "bbox": [x, y, w, h],
"score", "category_id" | "phrase"}, ...]`` (other fields, such as a detector's own ``segmentation``,
are ignored).

One reader and one per-entry check for every place that takes such a file: the instances task
(``--detections``, boxes with a category) and the text routes' precomputed detector (boxes with
a category or a phrase). A file that is not json or not a list is a one-line error naming it; an
entry that cannot prompt a model is skipped with one of ``REASONS``, and the callers count and list
the skips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from sambench.hashing import sha256_file

NO_IMAGE_ID = "malformed entry (no image id)"
NO_BOX = "malformed entry (no bbox)"
BAD_BOX = "malformed entry (bbox not 4 numbers)"
NO_SCORE = "malformed entry (no score)"
BAD_SCORE = "malformed entry (score not a number)"
NONFINITE_SCORE = "non-finite score"
NONFINITE_BOX = "non-finite box"
EMPTY_BOX = "empty box (w or h <= 0)"
NO_CATEGORY = "malformed entry (no integer category_id)"
REASONS = (NO_IMAGE_ID, NO_BOX, BAD_BOX, NO_SCORE, BAD_SCORE, NONFINITE_SCORE, NONFINITE_BOX, EMPTY_BOX, NO_CATEGORY)
"""Why an entry is skipped, in the order the checks run (``Detections.reason`` holds 1 + the index):
``check_entry``'s, then ``load_detections``'s own (an entry without an integer ``category_id``)."""


class DetectionsFileError(ValueError):
    """A detections file that cannot be used at all (one line naming the file)."""


def read_detections_list(path, expected: str) -> list:
    """The entries of the detections json at ``path``.

    Arguments:
      path: the file; expected: the entry layout for the message, e.g. ``"{image_id, bbox, score, phrase}"``.
    Raises:
      DetectionsFileError (one line naming the file): missing, not json, not a list.
    """
    from sambench.metrics.coco_eval import EvaluationError, read_json

    path = Path(path).expanduser()
    if not path.is_file():
        raise DetectionsFileError(f"{path}: detections file not found")
    try:
        data = read_json(path, "detections json")
    except EvaluationError as exc:
        raise DetectionsFileError(str(exc)) from exc
    if not isinstance(data, list):
        raise DetectionsFileError(f"{path}: expected a COCO results list [{expected}, ...], "
                                  f"got a json {type(data).__name__}")
    return data


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_entry(d) -> Tuple[Optional[str], str, Optional[List[float]], float]:
    """One entry's image id, box and score, or why it cannot prompt a model.

    Returns:
      (reason or None, image id as a string ("" when there is none), [x, y, w, h] floats or None, score).
      The reason is the first of ``REASONS`` that applies; the caller checks its own key
      (``category_id`` or ``phrase``) on entries that pass.
    """
    img = d.get("image_id") if isinstance(d, dict) else None
    if not isinstance(img, (int, str)) or isinstance(img, bool) or str(img) == "":
        return NO_IMAGE_ID, "", None, math.nan
    box, score = d.get("bbox"), d.get("score")
    if box is None:
        return NO_BOX, str(img), None, math.nan
    if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(_number(v) for v in box):
        return BAD_BOX, str(img), None, math.nan
    box = [float(v) for v in box]
    if score is None:
        return NO_SCORE, str(img), box, math.nan
    if not _number(score):
        return BAD_SCORE, str(img), box, math.nan
    score = float(score)
    if not math.isfinite(score):
        return NONFINITE_SCORE, str(img), box, score
    if not all(math.isfinite(v) for v in box):
        return NONFINITE_BOX, str(img), box, score
    if box[2] <= 0 or box[3] <= 0:
        return EMPTY_BOX, str(img), box, score
    return None, str(img), box, score


def category_of(d) -> Optional[int]:
    """The entry's integer ``category_id``, or None."""
    c = d.get("category_id") if isinstance(d, dict) else None
    return int(c) if isinstance(c, int) and not isinstance(c, bool) else None


@dataclass
class Detections:
    """A detections file of boxes with categories, parsed once into compact arrays grouped by image.

    Attributes:
      path, sha256: the file.
      image_keys: (N,) image id as a string ("" when missing).
      index: (N,) position of the entry in the file.
      category: (N,) category id (-1 when missing).
      boxes: (N, 4) float64 [x, y, w, h] (NaN when missing).
      score: (N,) float64.
      reason: (N,) int8: 0 = usable, else 1 + the index of the reason in ``REASONS``.
      by_image: image key -> (start, stop) into the arrays (sorted by image, file order within one).
    """

    path: Path
    sha256: str
    image_keys: np.ndarray
    index: np.ndarray
    category: np.ndarray
    boxes: np.ndarray
    score: np.ndarray
    reason: np.ndarray
    by_image: Dict[str, Tuple[int, int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(len(self.index))

    @property
    def n_unattributed(self) -> int:
        """Entries without a usable image id (counted once, never reach an image)."""
        return int(np.count_nonzero(self.image_keys == ""))


def load_detections(path) -> Detections:
    """Parse a COCO results json of boxes with categories (an entry that passes ``check_entry`` but
    has no integer ``category_id`` is skipped as ``NO_CATEGORY``).

    Raises:
      DetectionsFileError: as ``read_detections_list``.
    """
    path = Path(path).expanduser()
    data = read_detections_list(path, "{image_id, category_id, bbox, score}")
    n = len(data)
    keys = np.empty(n, dtype=object)
    cat = np.full(n, -1, dtype=np.int64)
    boxes = np.full((n, 4), np.nan, dtype=np.float64)
    score = np.full(n, np.nan, dtype=np.float64)
    reason = np.zeros(n, dtype=np.int8)
    for i, d in enumerate(data):
        why, keys[i], box, score[i] = check_entry(d)
        c = category_of(d)
        if why is None and c is None:
            why = NO_CATEGORY
        if box is not None:
            boxes[i] = box
        cat[i] = -1 if c is None else c
        reason[i] = 0 if why is None else 1 + REASONS.index(why)
    del data
    order = np.argsort(keys.astype(str), kind="stable") if n else np.zeros(0, dtype=np.int64)
    dets = Detections(path=path, sha256=sha256_file(path), image_keys=keys[order].astype(str),
                      index=order.astype(np.int64), category=cat[order], boxes=boxes[order], score=score[order],
                      reason=reason[order])
    if n:
        k = dets.image_keys
        starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        stops = np.r_[starts[1:], n]
        dets.by_image = {str(k[s]): (int(s), int(e)) for s, e in zip(starts, stops) if k[s] != ""}
    return dets
