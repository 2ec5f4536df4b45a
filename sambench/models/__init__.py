"""Model adapters: the only code that knows a model. ``MODELS`` maps short names to builders.

Every builder takes ``checkpoint`` and ``device`` keywords (and its own options) and returns a
``PromptableModel``. A user's own model registers through the ``sambench.models`` entry-point
group or is named as ``path/to/file.py:build`` / ``package.module:build`` on the command line.
"""

from __future__ import annotations

import functools
from typing import Optional

from ..registry import Registry, code_provenance
from .releases import OFFICIAL_HQ, OFFICIAL_SAM2
from .base import (Capabilities, ImageEmbedding, Prediction, PromptableModel, PromptBatch,  # noqa: F401
                   UnsupportedPromptError)

MODELS: Registry = Registry("model", entry_point_group="sambench.models")
MODEL_INFO: dict = {}  # name -> family/size/source/capabilities for `sambench list models` (sambench.models.table)


@MODELS.register("sam-vit-h", "Segment Anything ViT-H (official checkpoint sam_vit_h_4b8939.pth)",
                 aliases=("sam-vit_h",))
def _sam_vit_h(checkpoint=None, device=None, download=False, **kw):
    from .sam import build_official_sam
    return build_official_sam("vit_h", checkpoint, device, download, **kw)


@MODELS.register("sam-vit-l", "Segment Anything ViT-L (official checkpoint sam_vit_l_0b3195.pth)",
                 aliases=("sam-vit_l",))
def _sam_vit_l(checkpoint=None, device=None, download=False, **kw):
    from .sam import build_official_sam
    return build_official_sam("vit_l", checkpoint, device, download, **kw)


@MODELS.register("sam-vit-b", "Segment Anything ViT-B (official checkpoint sam_vit_b_01ec64.pth)",
                 aliases=("sam-vit_b",))
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


# -- the SAM family from the libraries its users install (extras: [sam2], [hq], [hf]) --------------

def _family(name: str, description: str, builder, aliases=(), **info) -> None:
    """Register ``builder`` as ``name`` (and older spellings ``aliases``) and what `sambench list models` says."""
    MODELS.register(name, description, aliases=aliases)(builder)
    MODEL_INFO[name] = info


def _official_sam2(variant, checkpoint=None, device=None, download=False, **kw):
    from .sam2_official import build_official_sam2
    return build_official_sam2(variant, checkpoint, device, download, **kw)


def _official_hq(arch, checkpoint=None, device=None, download=False, **kw):
    from .sam_hq import build_official_hq
    return build_official_hq(arch, checkpoint, device, download, **kw)


def _tiny_hf(model_type, checkpoint=None, device=None, download=False, seed=0, **kw):
    from .hf_tiny import build_tiny_hf
    return build_tiny_hf(model_type, checkpoint, device, seed=seed, **kw)


for _variant, _rel in OFFICIAL_SAM2.items():
    _family(_variant, f"{_rel.family} {_rel.size}, official sam2 package (Hydra config {_rel.config}; "
                      f"--checkpoint {_rel.file})", functools.partial(_official_sam2, _variant),
            family=_rel.family, size=_rel.size, source="sam2")
for _arch, _info in OFFICIAL_HQ.items():
    _family(f"sam-hq-{_arch.replace('_', '-')}", f"HQ-SAM {_info['size']}, official segment-anything-hq package "
                               f"(--checkpoint {_info['file']}); one mask per prompt", functools.partial(_official_hq, _arch),
            aliases=(f"sam-hq-{_arch}",), family="HQ-SAM", size=_info["size"], source="segment_anything_hq")
for _mt, _fam in (("sam", "SAM"), ("sam_hq", "HQ-SAM"), ("sam2", "SAM 2"), ("sam3_tracker", "SAM 3"),
                  ("edgetam", "EdgeTAM")):
    _family("hf-" + _mt.replace("_", "-") + "-tiny", f"transformers {_fam} class, tiny config, seeded random weights: "
            "UNTRAINED, for tests and plumbing", functools.partial(_tiny_hf, _mt),
            family=_fam, size="tiny", source="transformers", weights="untrained")


@MODELS.register("sam2-tiny", "SAM 2.1 modules (sam2 package, its Hydra config shrunk to 256 px), seeded random "
                              "weights: UNTRAINED, for tests and plumbing")
def _sam2_tiny(checkpoint=None, device=None, download=False, seed=0, **kw):
    from .sam2_official import build_tiny_sam2
    return build_tiny_sam2(checkpoint, device, seed=seed, **kw)


@MODELS.register("sam-hq-tiny", "HQ-SAM modules (segment-anything-hq), small encoder, seeded random weights: "
                                "UNTRAINED, for tests and plumbing")
def _sam_hq_tiny(checkpoint=None, device=None, download=False, seed=0, **kw):
    from .sam_hq import build_tiny_hq
    return build_tiny_hq(checkpoint, device, seed=seed, **kw)


@MODELS.register("hf", "any Hugging Face SAM-family checkpoint: --checkpoint DIR_OR_ID (SamModel, SamHQModel, "
                       "Sam2Model, Sam3TrackerModel, EdgeTamModel, read from config.json)")
def _hf(checkpoint=None, device=None, download=False, **kw):
    from .hf import build_hf
    return build_hf(checkpoint, device, download, **kw)


def _no_checkpoint(name: str, checkpoint: Optional[str]) -> None:
    if checkpoint is not None:
        raise ValueError(f"model '{name}' has no weights and takes no --checkpoint")


def build_model(name: str, checkpoint: Optional[str] = None, device: Optional[str] = None,
                download: bool = False, dtype: str = "fp32", **options) -> PromptableModel:
    """Build the model registered as ``name`` (or a ``file.py:NAME`` / ``module:NAME`` builder).

    Arguments:
      dtype: compute precision, "fp32", "bf16" or "fp16" (``PromptableModel.set_dtype``).
    A model from a user's file, module or plug-in package that does not name its source is
    labelled "user plugin".
    """
    builder = MODELS.get(name)
    model = builder(checkpoint=checkpoint, device=device, download=download, **options)
    if not isinstance(model, PromptableModel):
        raise TypeError(f"model builder '{name}' returned {type(model).__name__}, not a PromptableModel")
    module = getattr(builder, "__module__", None) or getattr(getattr(builder, "func", None), "__module__", "")
    if not str(module).startswith("sambench.models"):
        if model.source is None:
            model.source = "user plugin"
        model.code_provenance = code_provenance(builder)
    model.set_dtype(dtype)
    return model


