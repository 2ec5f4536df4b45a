"""``random-walker``: a weight-free point-prompted segmenter (Grady 2006), a real baseline.

For each prompt set: positive clicks seed the object (disks of radius ``click_radius`` px at the
working scale), negative clicks and the image's outer frame seed the background (the frame is the
usual assumption of click-based classical methods: an object rarely fills the whole border), and
scikit-image's random walker on the CIELAB image (exact sparse solve, mode 'bf') gives, for every pixel, the probability of
reaching an object seed first. The image is processed with its longest side at ``work_size``
pixels (speed), and the probability map is resized back; logits are ``log(p / (1 - p))``.
It needs no weights and never sees the ground truth.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from skimage.color import rgb2lab
from skimage.segmentation import random_walker
from skimage.transform import resize

from ..data import Sample
from .base import Capabilities, ImageEmbedding, Prediction, PromptableModel, PromptBatch

EPS = 1e-4


class RandomWalker(PromptableModel):
    """Weight-free random-walker segmentation from clicks (scikit-image)."""

    name = "random-walker"
    weights = "weight-free"
    capabilities = Capabilities(points=True, negative_points=True, boxes=False, mask_input=False, multimask=False)

    def __init__(self, beta: float = 130.0, work_size: int = 256, click_radius: int = 3):
        self.beta = float(beta)
        self.work_size = int(work_size)
        self.click_radius = int(click_radius)

    def fingerprint(self) -> dict:
        fp = super().fingerprint()
        fp["params"] = {"beta": self.beta, "work_size": self.work_size, "click_radius": self.click_radius}
        return fp

    def encode(self, image: np.ndarray, sample: Optional[Sample] = None) -> ImageEmbedding:
        h, w = image.shape[:2]
        scale = min(1.0, self.work_size / max(h, w))
        small = resize(image, (max(1, round(h * scale)), max(1, round(w * scale))), anti_aliasing=True) if scale < 1 else image / 255.0
        lab = rgb2lab(small)
        lab = (lab - lab.reshape(-1, 3).mean(0)) / (lab.reshape(-1, 3).std(0).mean() + 1e-6)
        return ImageEmbedding(original_size=(h, w), features={"lab": lab, "scale": scale})

    def _seeds(self, shape, coords: np.ndarray, labels: np.ndarray, scale: float) -> np.ndarray:
        hs, ws = shape
        seeds = np.zeros((hs, ws), dtype=np.int32)
        seeds[0, :] = seeds[-1, :] = seeds[:, 0] = seeds[:, -1] = 2
        yy, xx = np.ogrid[:hs, :ws]
        r = self.click_radius
        for (x, y), lab in zip(coords, labels):
            if lab < 0:
                continue
            cx, cy = (x + 0.5) * scale - 0.5, (y + 0.5) * scale - 0.5
            disk = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
            seeds[disk] = 1 if lab == 1 else 2
        return seeds

    def decode(self, embedding: ImageEmbedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        self.check_prompts(prompts, multimask)
        lab, scale = embedding.features["lab"], embedding.features["scale"]
        h, w = embedding.original_size
        probs = np.zeros((len(prompts), 1, h, w), dtype=np.float32)
        for b in range(len(prompts)):
            seeds = self._seeds(lab.shape[:2], np.asarray(prompts.point_coords[b]), np.asarray(prompts.point_labels[b]), scale)
            if not (seeds == 1).any():
                continue  # no positive click: nothing is object
            p = random_walker(lab, seeds, beta=self.beta, mode="bf", channel_axis=-1, return_full_prob=True)[0]
            probs[b, 0] = resize(p, (h, w), order=1) if scale < 1 else p
        p = np.clip(probs, EPS, 1 - EPS)
        logits = torch.from_numpy(np.log(p / (1 - p)))
        confidence = torch.from_numpy(np.abs(probs - 0.5).mean(axis=(2, 3)) * 2)  # a crude self-estimate
        return Prediction(logits=logits, iou_predictions=confidence, low_res_logits=None)
