"""``oracle``: a model that answers with the ground truth, optionally corrupted in a known way.

It validates metrics end to end: with no corruption every IoU must be exactly 1; with
``keep=f`` it returns the first ``floor(f * area)`` pixels of the target mask in row-major order,
so each IoU is exactly ``floor(f * area) / area`` (no ignore pixels inside the mask).

Which instance a prompt set means: the task's ``targets`` when given (point task); else, for a
box, the ground-truth instance whose box has the highest IoU with it; for points, the smallest
instance containing the most positive points. A box that overlaps no ground-truth box, or points
on no instance, get an empty mask (predicted IoU 0): the oracle never invents an answer.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..data import Sample
from .base import Capabilities, ImageEmbedding, Prediction, PromptableModel, PromptBatch

LOGIT = 10.0


def keep_fraction(mask: np.ndarray, fraction: float) -> np.ndarray:
    """The first floor(fraction * area) pixels of ``mask`` in row-major order."""
    flat = mask.reshape(-1)
    idx = np.flatnonzero(flat)[: int(np.floor(fraction * np.count_nonzero(flat)))]
    out = np.zeros_like(flat)
    out[idx] = True
    return out.reshape(mask.shape)



def _box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0]); y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2]); y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)


class Oracle(PromptableModel):
    """Ground truth back as the prediction (``keep=f`` corrupts it to a known IoU)."""

    name = "oracle"
    weights = "oracle"
    capabilities = Capabilities(points=True, negative_points=True, boxes=True, mask_input=True, multimask=True)

    def __init__(self, keep: float = 1.0):
        if not 0.0 <= float(keep) <= 1.0:
            raise ValueError(f"oracle keep={keep}: expected a fraction in [0, 1]")
        self.keep = float(keep)

    def fingerprint(self) -> dict:
        fp = super().fingerprint()
        fp["corruption"] = {"keep": self.keep}
        return fp

    def encode(self, image: np.ndarray, sample: Optional[Sample] = None) -> ImageEmbedding:
        if sample is None:
            raise ValueError("the oracle needs the sample (ground truth) at encode time")
        inst = [i for i in sample.instances]
        masks = np.stack([i.mask() for i in inst]) if inst else np.zeros((0,) + image.shape[:2], bool)
        boxes = np.array([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in (i.bbox for i in inst)]).reshape(-1, 4)
        return ImageEmbedding(original_size=image.shape[:2], features={
            "ids": [i.id for i in inst], "masks": masks, "boxes": boxes})

    def _pick(self, feats: dict, prompts: PromptBatch, b: int) -> Optional[int]:
        ids, masks = feats["ids"], feats["masks"]
        if not ids:
            return None
        if prompts.targets is not None and prompts.targets[b] in ids:
            return ids.index(prompts.targets[b])
        if prompts.boxes is not None:
            overlap = _box_iou(np.asarray(prompts.boxes[b], float), feats["boxes"])
            if not np.isfinite(overlap).any() or overlap.max() <= 0:
                return None  # a box on no object: an empty mask (a false positive), never object 0
            return int(np.nanargmax(overlap))
        coords = np.asarray(prompts.point_coords[b]); labels = np.asarray(prompts.point_labels[b])
        pos = coords[labels == 1]
        h, w = masks.shape[1:]
        xs = np.clip(np.round(pos[:, 0]).astype(int), 0, w - 1); ys = np.clip(np.round(pos[:, 1]).astype(int), 0, h - 1)
        hits = masks[:, ys, xs].sum(1) if len(pos) else np.zeros(len(ids))
        if hits.max() == 0:
            return None
        areas = masks.reshape(len(ids), -1).sum(1)
        candidates = np.flatnonzero(hits == hits.max())
        return int(candidates[np.argmin(areas[candidates])])

    def decode(self, embedding: ImageEmbedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        self.check_prompts(prompts, multimask)
        feats = embedding.features
        h, w = embedding.original_size
        k = self.capabilities.n_multimask if multimask else 1
        out = np.zeros((len(prompts), k, h, w), dtype=bool)
        quality = np.zeros((len(prompts), k), dtype=np.float32)
        for b in range(len(prompts)):
            j = self._pick(feats, prompts, b)
            if j is None:
                continue
            gt = feats["masks"][j]
            pred = keep_fraction(gt, self.keep) if self.keep < 1.0 else gt
            out[b, :] = pred
            area = max(int(gt.sum()), 1)
            quality[b, :] = pred.sum() / area
        import torch  # here, not at import: tasks that import this module's helpers need no torch

        logits = torch.from_numpy(np.where(out, LOGIT, -LOGIT).astype(np.float32))
        low_res = torch.nn.functional.interpolate(logits, size=(256, 256), mode="bilinear", align_corners=False) if len(prompts) else None
        return Prediction(logits=logits, iou_predictions=torch.from_numpy(quality), low_res_logits=low_res)
