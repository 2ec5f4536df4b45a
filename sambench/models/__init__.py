"""Model adapters: the only code that knows a model. ``MODELS`` maps short names to builders.

Every builder takes ``checkpoint`` and ``device`` keywords (and its own options) and returns a
``PromptableModel``. A user's own model registers through the ``sambench.models`` entry-point
group or is named as ``path/to/file.py:build`` / ``package.module:build`` on the command line.
"""

from __future__ import annotations

from typing import Optional

from ..registry import Registry
from .base import (Capabilities, ImageEmbedding, Prediction, PromptableModel, PromptBatch,  # noqa: F401
                   UnsupportedPromptError)

MODELS: Registry = Registry("model", entry_point_group="sambench.models")


@MODELS.register("sam-vit_h", "Segment Anything ViT-H (official checkpoint sam_vit_h_4b8939.pth)")
def _sam_vit_h(checkpoint=None, device=None, download=False, **kw):
    from .sam import build_official_sam
    return build_official_sam("vit_h", checkpoint, device, download, **kw)


@MODELS.register("sam-vit_l", "Segment Anything ViT-L (official checkpoint sam_vit_l_0b3195.pth)")
def _sam_vit_l(checkpoint=None, device=None, download=False, **kw):
    from .sam import build_official_sam
    return build_official_sam("vit_l", checkpoint, device, download, **kw)


@MODELS.register("sam-vit_b", "Segment Anything ViT-B (official checkpoint sam_vit_b_01ec64.pth)")
def _sam_vit_b(checkpoint=None, device=None, download=False, **kw):
    from .sam import build_official_sam
    return build_official_sam("vit_b", checkpoint, device, download, **kw)


@MODELS.register("sam-tiny", "SAM modules, small encoder, seeded random weights: UNTRAINED, for tests and plumbing")
def _sam_tiny(checkpoint=None, device=None, download=False, seed=0):
    from .sam import build_tiny_sam
    return build_tiny_sam(checkpoint, device, seed=seed)


@MODELS.register("random-walker", "weight-free classical baseline: random walker from the clicks (scikit-image)")
def _random_walker(checkpoint=None, device=None, download=False, **kw):
    from .classical import RandomWalker
    _no_checkpoint("random-walker", checkpoint)
    return RandomWalker(**kw)


@MODELS.register("oracle", "returns the ground truth (keep=F: a known corruption), to validate metrics")
def _oracle(checkpoint=None, device=None, download=False, keep=1.0):
    from .oracle import Oracle
    _no_checkpoint("oracle", checkpoint)
    return Oracle(keep=float(keep))


@MODELS.register("sam3", "SAM 3 through transformers Sam3Model (--checkpoint: its save_pretrained folder): text -> masks")
def _sam3(checkpoint=None, device=None, download=False, **kw):
    from .text_hf import build_sam3
    return build_sam3(checkpoint, device, download, **kw)


@MODELS.register("text-oracle", "answers text prompts with the ground truth (keep=F, keep_pixels=N: known corruption)")
def _text_oracle(checkpoint=None, device=None, download=False, keep=1.0, keep_pixels=0):
    from .text import TextOracle
    _no_checkpoint("text-oracle", checkpoint)
    return TextOracle(keep=float(keep), keep_pixels=int(keep_pixels))


@MODELS.register("sobel", "weight-free edge detector: Sobel gradient magnitude + edge NMS (edges task; no prompts)")
def _sobel(checkpoint=None, device=None, download=False, **kw):
    from .edge_baselines import build_edge_detector
    return build_edge_detector("sobel", checkpoint=checkpoint, **kw)


@MODELS.register("canny", "weight-free edge detector: soft multi-scale Canny (edges task; no prompts)")
def _canny(checkpoint=None, device=None, download=False, **kw):
    from .edge_baselines import build_edge_detector
    return build_edge_detector("canny", checkpoint=checkpoint, **kw)


@MODELS.register("felzenszwalb", "weight-free edge detector: Felzenszwalb-Huttenlocher multi-scale boundaries "
                                 "(edges task; no prompts)")
def _felzenszwalb(checkpoint=None, device=None, download=False, **kw):
    from .edge_baselines import build_edge_detector
    return build_edge_detector("felzenszwalb", checkpoint=checkpoint, **kw)


def _no_checkpoint(name: str, checkpoint: Optional[str]) -> None:
    if checkpoint is not None:
        raise ValueError(f"model '{name}' has no weights and takes no --checkpoint")


def build_model(name: str, checkpoint: Optional[str] = None, device: Optional[str] = None,
                download: bool = False, **options) -> PromptableModel:
    """Build the model registered as ``name`` (or a ``file.py:NAME`` / ``module:NAME`` builder)."""
    builder = MODELS.get(name)
    model = builder(checkpoint=checkpoint, device=device, download=download, **options)
    if not isinstance(model, PromptableModel):
        raise TypeError(f"model builder '{name}' returned {type(model).__name__}, not a PromptableModel")
    return model
