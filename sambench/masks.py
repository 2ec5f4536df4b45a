"""Binary masks as COCO run-length encodings (RLE), with small pure helpers.

Masks travel between adapters, tasks and records as COCO RLE dicts
(``{"size": [h, w], "counts": str}``), so a dataset's masks never need to sit in memory
decoded. All helpers wrap pycocotools.
"""

from __future__ import annotations

from typing import Iterable, List, Optional, Sequence

import numpy as np
from pycocotools import mask as mask_utils

RLE = dict


def encode(mask: np.ndarray) -> RLE:
    """Encode one HxW boolean mask.

    Arguments:
      mask: HxW array, nonzero = inside.
    Returns:
      COCO RLE with a ``str`` counts field (JSON-safe).
    """
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8, copy=False)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def encode_batch(masks: np.ndarray) -> List[RLE]:
    """Encode NxHxW boolean masks in one call (column-major copy made once)."""
    if masks.shape[0] == 0:
        return []
    arr = np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8, copy=False))
    rles = mask_utils.encode(arr)
    for r in rles:
        r["counts"] = r["counts"].decode("ascii")
    return rles


def _as_coco(rle: RLE) -> RLE:
    counts = rle["counts"]
    if isinstance(counts, list):  # uncompressed RLE, as COCO crowd annotations store it
        h, w = rle["size"]
        return mask_utils.frPyObjects(rle, h, w)
    if isinstance(counts, str):
        return {"size": list(rle["size"]), "counts": counts.encode("ascii")}
    return rle


def decode(rle: RLE) -> np.ndarray:
    """Decode one RLE to an HxW bool array."""
    return mask_utils.decode(_as_coco(rle)).astype(bool)


def area(rle: RLE) -> int:
    """Number of pixels inside."""
    return int(mask_utils.area(_as_coco(rle)))


def bbox(rle: RLE) -> List[float]:
    """Bounding box [x, y, w, h] in COCO convention."""
    return [float(v) for v in mask_utils.toBbox(_as_coco(rle))]


def from_polygons(polygons: Sequence[Sequence[float]], height: int, width: int) -> RLE:
    """Rasterise COCO polygons (list of flat [x0, y0, x1, y1, ...]) into one RLE with pycocotools.

    Parts with fewer than 3 points cover nothing and are left out (an empty mask when none is left).
    pycocotools does not check its input: validate untrusted polygons first with
    ``sambench.annotations.polygon_rle`` (finite coordinates, no vertex far outside the image).
    """
    parts = [list(p) for p in polygons if len(p) >= 6]
    if not parts:
        return encode(np.zeros((height, width), dtype=bool))
    rles = mask_utils.frPyObjects(parts, height, width)
    merged = mask_utils.merge(rles)
    merged["counts"] = merged["counts"].decode("ascii")
    return merged


def from_segmentation(segmentation, height: int, width: int) -> RLE:
    """Convert any COCO ``segmentation`` field (polygons, uncompressed or compressed RLE) to RLE."""
    if isinstance(segmentation, list):
        return from_polygons(segmentation, height, width)
    if isinstance(segmentation, dict):
        coco = _as_coco(segmentation)
        counts = coco["counts"]
        return {"size": list(coco["size"]), "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}
    raise ValueError(f"unsupported segmentation of type {type(segmentation).__name__}")


def iou(pred: np.ndarray, gt: np.ndarray, ignore: Optional[np.ndarray] = None) -> float:
    """IoU of two HxW boolean masks, pixels in ``ignore`` excluded from both.

    Returns 1.0 when both masks are empty outside ``ignore`` (nothing to get wrong).
    """
    if ignore is not None:
        valid = ~ignore
        inter = np.count_nonzero(pred & gt & valid)
        union = np.count_nonzero((pred | gt) & valid)
    else:
        inter = np.count_nonzero(pred & gt)
        union = np.count_nonzero(pred | gt)
    return 1.0 if union == 0 else inter / union


def batch_iou(preds: np.ndarray, gt: np.ndarray, ignore: Optional[np.ndarray] = None) -> np.ndarray:
    """IoU of each of K masks (KxHxW) against one ground truth (HxW)."""
    valid = np.ones_like(gt) if ignore is None else ~ignore
    g = (gt & valid).reshape(-1)
    p = (preds & valid[None]).reshape(preds.shape[0], -1)
    inter = (p & g[None]).sum(1)
    union = (p | g[None]).sum(1)
    out = np.ones(preds.shape[0], dtype=np.float64)
    nz = union > 0
    out[nz] = inter[nz] / union[nz]
    return out


def union(rles: Iterable[RLE]) -> Optional[RLE]:
    """Union of several RLEs of the same size (None for an empty list)."""
    items = [_as_coco(r) for r in rles]
    if not items:
        return None
    merged = mask_utils.merge(items, intersect=False)
    merged["counts"] = merged["counts"].decode("ascii")
    return merged
