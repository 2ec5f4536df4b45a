"""Classical edge detectors as models for the ``edges`` task: ``sobel``, ``canny``, ``felzenszwalb``.

They need no weights and never see the ground truth (``weights = "weight-free"``, so every label
says so). They take no prompts: ``encode`` computes the image's soft edge map in [0, 1] with
:mod:`sambench.generation.edge_maps` and ``edge_map(embedding)`` returns it; ``decode`` refuses. The edges
task scores any model that has an ``edge_map`` method directly, and every other model through
the App. D.2 recipe (:mod:`sambench.generation.sam_edges`).

Options (``--model-arg KEY=VALUE``) are the keyword arguments of the edge-map functions, e.g.
``--model canny --model-arg sigmas=1,2 --model-arg n_levels=20`` or ``--model sobel --model-arg nms=0``;
they are recorded in the model fingerprint.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Optional

import numpy as np

from ..data import Sample
from .base import Capabilities, ImageEmbedding, Prediction, PromptableModel, PromptBatch, UnsupportedPromptError


def _functions() -> Dict[str, Callable[..., np.ndarray]]:
    from sambench.generation.edge_maps import canny_edges, felzenszwalb_edges, sobel_edges

    return {"sobel": sobel_edges, "canny": canny_edges, "felzenszwalb": felzenszwalb_edges}


class EdgeDetector(PromptableModel):
    """A weight-free edge detector behind the model interface (no prompts; ``edge_map`` instead).

    Arguments:
      name: registry name.
      function: ``function(image, **params) -> HxW map in [0, 1]``.
      params: keyword arguments for ``function`` (recorded in the fingerprint).
    """

    weights = "weight-free"
    capabilities = Capabilities(points=False, negative_points=False, boxes=False, mask_input=False, multimask=False)

    def __init__(self, name: str, function: Callable[..., np.ndarray], params: Optional[Dict[str, Any]] = None):
        self.name = name
        self.function = function
        self.params = dict(params or {})
        sig = inspect.signature(function)
        unknown = [k for k in self.params if k not in sig.parameters or k == "image"]
        if unknown:
            allowed = [k for k in sig.parameters if k != "image"]
            raise ValueError(f"model '{name}' has no option {', '.join(unknown)}; options: {', '.join(allowed)}")

    def fingerprint(self) -> dict:
        fp = super().fingerprint()
        sig = inspect.signature(self.function)
        effective = {k: p.default for k, p in sig.parameters.items() if k != "image" and p.default is not inspect.Parameter.empty}
        effective.update(self.params)
        fp["params"] = {k: list(v) if isinstance(v, tuple) else v for k, v in effective.items()}
        fp["function"] = f"{self.function.__module__}.{self.function.__name__}"
        return fp

    def detect(self, image: np.ndarray) -> np.ndarray:
        """The HxW soft edge map of an RGB uint8 image, float64 in [0, 1]."""
        e = np.asarray(self.function(image, **self.params), dtype=np.float64)
        if e.shape != image.shape[:2]:
            raise ValueError(f"{self.name}: edge map of shape {e.shape} for an image of shape {image.shape[:2]}")
        return np.clip(np.nan_to_num(e, nan=0.0), 0.0, 1.0)

    def encode(self, image: np.ndarray, sample: Optional[Sample] = None) -> ImageEmbedding:
        return ImageEmbedding(original_size=tuple(image.shape[:2]), features={"edges": self.detect(image)})

    def edge_map(self, embedding: ImageEmbedding) -> np.ndarray:
        """The edge map computed at ``encode``."""
        return embedding.features["edges"]

    def decode(self, embedding: ImageEmbedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        raise UnsupportedPromptError(f"model '{self.name}' is an edge detector: it takes no prompts "
                                     f"(use it with the edges task)")


def _coerce(value: Any) -> Any:
    """``--model-arg`` values: '1,2,4' -> (1.0, 2.0, 4.0); numbers stay numbers."""
    if isinstance(value, str) and "," in value:
        return tuple(float(v) for v in value.split(",") if v.strip())
    return value


def build_edge_detector(name: str, checkpoint: Optional[str] = None, **params) -> EdgeDetector:
    """The classical detector ``name`` (sobel, canny, felzenszwalb) with ``params`` for its function."""
    if checkpoint is not None:
        raise ValueError(f"model '{name}' has no weights and takes no --checkpoint")
    funcs = _functions()
    if name not in funcs:
        raise ValueError(f"unknown edge detector '{name}'; known: {', '.join(funcs)}")
    params = {k: _coerce(v) for k, v in params.items()}
    if name == "sobel" and "nms" in params:
        params["nms"] = bool(params["nms"])
    return EdgeDetector(name, funcs[name], params)
