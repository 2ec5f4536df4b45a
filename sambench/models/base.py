"""The one interface every promptable model implements.

A model adapter encodes an image once and decodes any number of prompt sets against that
embedding in one batched call. It declares what it can do (``Capabilities``) so tasks can refuse
clearly, and a fingerprint (architecture + checkpoint SHA-256) that travels with every number.
Tasks only ever talk to this interface.
"""

from __future__ import annotations

import contextlib
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

import numpy as np

from ..data import Sample
from ..hashing import sha256_file  # noqa: F401  (adapters import it from here)

if TYPE_CHECKING:  # torch is imported by the adapters that use it, not by code that only reads results
    import torch


class UnsupportedPromptError(ValueError):
    """A task asked a model for a prompt kind it does not declare."""


@dataclass(frozen=True)
class Capabilities:
    """What prompts and outputs a model supports.

    Attributes:
      points: positive point prompts.
      negative_points: negative (background) point prompts.
      boxes: box prompts.
      mask_input: low-res mask logits from a previous prediction as an extra prompt.
      multimask: several candidate masks (with predicted IoU) for one ambiguous prompt.
      n_multimask: how many masks the multimask output has.
      input_size: the side (pixels) the model resizes images to, None if it works at any size.
    """

    points: bool = True
    negative_points: bool = True
    boxes: bool = False
    mask_input: bool = False
    multimask: bool = False
    n_multimask: int = 3
    input_size: Optional[int] = None


@dataclass
class PromptBatch:
    """B prompt sets against one image; coordinates in original-image pixels.

    Attributes:
      point_coords: (B, N, 2) float (x, y), or None.
      point_labels: (B, N) int, 1 = positive, 0 = negative, or None.
      boxes: (B, 4) float (x0, y0, x1, y1), or None.
      mask_input: (B, 1, h, w) low-res logits as returned in Prediction.low_res_logits, or None.
      targets: the ground-truth instance id each prompt set aims at, when the task knows it.
        Real models never look at it; ground-truth oracles use it to answer exactly.
    """

    point_coords: Optional[np.ndarray] = None
    point_labels: Optional[np.ndarray] = None
    boxes: Optional[np.ndarray] = None
    mask_input: Optional[torch.Tensor] = None
    targets: Optional[List[str]] = None

    def __len__(self) -> int:
        for v in (self.point_coords, self.boxes, self.mask_input):
            if v is not None:
                return int(v.shape[0])
        return 0

    def select(self, index: slice) -> "PromptBatch":
        """The prompt sets ``index`` (a slice) of this batch."""
        pick = lambda v: None if v is None else v[index]  # noqa: E731
        return PromptBatch(pick(self.point_coords), pick(self.point_labels), pick(self.boxes),
                           pick(self.mask_input), pick(self.targets))


@dataclass
class Prediction:
    """Outputs for a PromptBatch of size B with K masks per prompt set.

    Attributes:
      logits: (B, K, H, W) float mask logits at the original image size (threshold: model.mask_threshold);
        None only from ``decode_low_res`` of a model that defers the upscaling.
      iou_predictions: (B, K) the model's own quality estimate of each mask.
      low_res_logits: (B, K, h, w) logits to feed back as mask_input, or None if unsupported.
    """

    logits: Optional[torch.Tensor]
    iou_predictions: torch.Tensor
    low_res_logits: Optional[torch.Tensor] = None


@dataclass
class ImageEmbedding:
    """What ``encode`` returns: opaque to tasks, reused for every decode of the image.

    Attributes:
      original_size: (H, W) of the image.
      features: the model's own payload (tensors, the sample for an oracle, ...).
    """

    original_size: tuple
    features: Any = None
    extra: Dict[str, Any] = field(default_factory=dict)


DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
"""--dtype names and the torch dtype each stands for (by name: this module does not import torch)."""


class PromptableModel(ABC):
    """Base class of all model adapters.

    Subclasses set ``name``, ``capabilities``, ``weights`` and implement ``encode`` and ``decode``.
    ``fingerprint`` identifies the exact weights; it is written beside every result.

    ``weights`` says what the numbers mean: "trained" (a real checkpoint), "untrained" (random
    weights, plumbing only), "weight-free" (a classical algorithm) or "oracle" (reads the ground truth).

    ``family`` / ``size`` / ``source`` (e.g. "SAM 2.1", "Hiera-L", "sam2") and ``checkpoint_tag``
    (a fine-tune's file name, a hub id) make the label every table shows. ``dtype`` is the compute
    precision set by ``set_dtype`` (``--dtype``); adapters that support it (``supports_dtype``)
    run their forward passes inside ``self.autocast()`` and return float32 outputs.
    """

    name: str = ""
    capabilities: Capabilities = Capabilities()
    weights: str = "trained"
    mask_threshold: float = 0.0
    device: "torch.device | str" = "cpu"  # adapters set their torch.device
    family: Optional[str] = None
    size: Optional[str] = None
    source: Optional[str] = None
    checkpoint_tag: Optional[str] = None
    dtype: str = "fp32"
    supports_dtype: bool = False

    @abstractmethod
    def encode(self, image: np.ndarray, sample: Optional[Sample] = None) -> ImageEmbedding:
        """Encode one HxWx3 uint8 RGB image.

        Arguments:
          image: the image.
          sample: the sample it comes from; only ground-truth oracles may look at it.
        Returns:
          an ImageEmbedding to pass to ``decode`` any number of times.
        """

    def encode_batch(self, images: Sequence[np.ndarray], samples: Optional[Sequence[Sample]] = None) -> List[ImageEmbedding]:
        """Encode several images (adapters that batch the encoder override this)."""
        samples = samples if samples is not None else [None] * len(images)
        return [self.encode(im, s) for im, s in zip(images, samples)]

    @abstractmethod
    def decode(self, embedding: ImageEmbedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        """Decode B prompt sets against one embedding in one call.

        Arguments:
          embedding: from ``encode``.
          prompts: B prompt sets.
          multimask: return ``capabilities.n_multimask`` masks per prompt set (else one).
        Returns:
          a Prediction with K = n_multimask or 1.
        """

    def decode_low_res(self, embedding: ImageEmbedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        """``decode`` that may skip the upscaling to the original size: a model that overrides it
        returns ``logits=None`` with ``low_res_logits``, and ``upscale_logits`` makes the
        full-resolution logits of only the masks a caller keeps (the automatic mask generator
        filters by predicted IoU first). The default is ``decode``.
        """
        return self.decode(embedding, prompts, multimask)

    def upscale_logits(self, embedding: ImageEmbedding, low_res_logits: torch.Tensor) -> torch.Tensor:
        """(N, K, h, w) low-res logits -> (N, K, H, W) logits at the original size, exactly as ``decode``
        returns them (models that override ``decode_low_res`` implement it)."""
        raise NotImplementedError(f"model '{self.name}' does not defer upscaling")

    def fingerprint(self) -> Dict[str, Any]:
        """Identity of the model for run configs: name, architecture, checkpoint and its SHA-256, trained flag,
        family/size/source, compute dtype."""
        return {"name": self.name, "architecture": self.name, "checkpoint": None, "checkpoint_sha256": None,
                "weights": self.weights, "family": self.family, "size": self.size, "source": self.source,
                "dtype": self.dtype, "autocast": self._autocast_device(), "label": self.label()}

    def label(self) -> str:
        """Display name: family, size and source when known ("SAM 2.1 Hiera-L [sam2]"), else the registry
        name; anything but a trained checkpoint says what it is ("(untrained)"); a reduced precision too."""
        base = " ".join(p for p in (self.family, self.size) if p) if self.family else self.name
        tags = [t for t in (self.source if self.source != "sambench" else None, self.checkpoint_tag) if t]
        if tags:
            base += f" [{', '.join(tags)}]"
        if self.dtype != "fp32":
            base += f" {self.dtype}"
        return base if self.weights == "trained" else f"{base} ({self.weights})"

    def set_dtype(self, dtype: str) -> None:
        """Compute precision for every forward pass: "fp32" (default), "bf16" or "fp16" (autocast).

        On a CUDA device both bf16 and fp16 autocast; on CPU only bf16 (torch's CPU autocast), and
        fp16 is refused. Raises ValueError (one line) for an unknown dtype or a model that cannot.
        """
        if dtype not in DTYPES:
            raise ValueError(f"--dtype {dtype}: expected one of {', '.join(DTYPES)}")
        if dtype != "fp32":
            if not self.supports_dtype:
                raise ValueError(f"model '{self.name}' runs in fp32 only (no autocast support); use --dtype fp32")
            if _device_type(self.device) == "cpu" and dtype == "fp16":
                raise ValueError("--dtype fp16 needs a CUDA device; on CPU use bf16 (CPU autocast) or fp32")
        self.dtype = dtype

    def _autocast_device(self) -> Optional[str]:
        return None if self.dtype == "fp32" else _device_type(self.device)

    def autocast(self):
        """The autocast context of ``dtype`` on this model's device (a no-op in fp32)."""
        if self.dtype == "fp32":
            return contextlib.nullcontext()
        import torch

        return torch.autocast(device_type=_device_type(self.device), dtype=getattr(torch, DTYPES[self.dtype]))

    def check_prompts(self, prompts: PromptBatch, multimask: bool) -> None:
        """Raise UnsupportedPromptError if ``prompts`` use a kind this model does not declare."""
        caps = self.capabilities
        problems = []
        if prompts.point_coords is not None and not caps.points:
            problems.append("point prompts")
        if prompts.point_labels is not None and (prompts.point_labels == 0).any() and not caps.negative_points:
            problems.append("negative points")
        if prompts.boxes is not None and not caps.boxes:
            problems.append("box prompts")
        if prompts.mask_input is not None and not caps.mask_input:
            problems.append("mask input")
        if multimask and not caps.multimask:
            problems.append("multimask output")
        if problems:
            raise UnsupportedPromptError(f"model '{self.name}' does not support {', '.join(problems)}")


def _device_type(device) -> str:
    """The device type: 'cuda' for cuda, cuda:1 or torch.device('cuda', 1); 'cpu' for cpu."""
    return getattr(device, "type", None) or str(device).split(":")[0]


def to_numpy(x) -> np.ndarray:
    torch = sys.modules.get("torch")  # a tensor can only exist if torch was imported
    return x.detach().cpu().numpy() if torch is not None and isinstance(x, torch.Tensor) else np.asarray(x)


def model_identity(model: "PromptableModel") -> Dict[str, Any]:
    """``model.fingerprint()`` plus, for a model built from a user's file, module or plug-in, the
    builder's source file and its SHA-256 (``model.code_provenance``, set by ``build_model``): edited
    model code is a different model in run configs and in the embedding cache's key."""
    fp = model.fingerprint()
    code = getattr(model, "code_provenance", None)
    return dict(fp, code=code) if code else fp
