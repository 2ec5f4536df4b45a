"""A user's own model in one file: ``sambench run point --model examples/my_model.py:build ...``.

This toy model answers every prompt set with a disk around its first positive click (radius
``radius`` pixels): replace ``encode``/``decode`` with your network. Everything else (prompts,
metrics, records, reports) comes from sambench.
"""

from typing import Optional

import numpy as np
import torch

from sambench.data import Sample
from sambench.models import Capabilities, ImageEmbedding, Prediction, PromptableModel, PromptBatch


class DiskModel(PromptableModel):
    name = "disk"
    weights = "weight-free"
    capabilities = Capabilities(points=True, negative_points=True, boxes=False, mask_input=False, multimask=False)

    def __init__(self, radius: float = 10.0):
        self.radius = float(radius)

    def encode(self, image: np.ndarray, sample: Optional[Sample] = None) -> ImageEmbedding:
        return ImageEmbedding(original_size=image.shape[:2])

    def decode(self, embedding: ImageEmbedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        h, w = embedding.original_size
        yy, xx = np.mgrid[:h, :w]
        logits = np.full((len(prompts), 1, h, w), -1.0, dtype=np.float32)
        for b in range(len(prompts)):
            x, y = prompts.point_coords[b][0]
            logits[b, 0][(xx - x) ** 2 + (yy - y) ** 2 <= self.radius ** 2] = 1.0
        return Prediction(logits=torch.from_numpy(logits), iou_predictions=torch.ones(len(prompts), 1))

    def fingerprint(self) -> dict:
        return dict(super().fingerprint(), params={"radius": self.radius})


def build(checkpoint=None, device=None, download=False, radius=10.0):
    """The builder sambench calls (checkpoint/device/download are passed to every builder)."""
    return DiskModel(radius=radius)
