"""PromptableModel adapters for transformers' SAM-family classes (loading: ``sambench.models.hf``).

Two decoder APIs cover the five classes:

- ``HFSamAdapter``: ``SamModel`` and ``SamHQModel`` (one image-embedding map; SAM-HQ adds the ViT's
  early features). The processor (``SamProcessor``) resizes the longest side to 1024 and pads;
  prompt coordinates go through its own ``_normalize_coordinates``; masks come back through its
  ``post_process_masks`` (upscale to the padded input, crop, resize to the original image).
- ``HFSam2Adapter``: ``Sam2Model``, ``Sam3TrackerModel``, ``EdgeTamModel`` (three feature levels).
  The processor (``Sam2Processor`` / ``Sam3TrackerProcessor``) resizes to a square (1024, SAM 3:
  1008) and normalises prompts given the original size; ``post_process_masks`` resizes back.

Coordinates in, as everywhere in sambench: (x, y) pixels of the original image, boxes x0, y0, x1, y1.
One ``decode`` call runs the prompt encoder and mask decoder once for all B prompt sets: the
model's point-batch axis holds them, or, with a mask prompt (one per prompt set), the image-batch
axis does (the class adds dense mask embeddings per image, not per prompt). ``encode_batch`` runs
the vision encoder on up to ``encoder_batch_size`` images per forward. Capabilities are read from
the model's own modules (number of point embeddings, a mask embedding, the decoder's multimask
outputs, the processor's input size).
"""

from __future__ import annotations

import hashlib
import json
from typing import List, Optional, Sequence

import numpy as np
import torch

from ..data import Sample
from .base import Capabilities, ImageEmbedding, Prediction, PromptableModel, PromptBatch


def settings_digest(settings: dict) -> str:
    """SHA-256 of a config/processor dict, ignoring bookkeeping keys (versions, paths, commit hashes)."""
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in sorted(v.items())
                    if not str(k).startswith("_") and k not in ("transformers_version", "name_or_path", "processor_class")}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    return hashlib.sha256(json.dumps(clean(settings), sort_keys=True, default=str).encode()).hexdigest()


def read_capabilities(model, processor) -> Capabilities:
    """What the model's modules support: point labels (0/1 embeddings), boxes (corner embeddings),
    mask input (a mask embedding), multimask (decoder outputs), input side (the processor's)."""
    prompt_encoder = model.prompt_encoder
    embeds = prompt_encoder.point_embed
    n_point_embeddings = len(embeds) if isinstance(embeds, torch.nn.ModuleList) else embeds.num_embeddings
    n_multi = int(model.config.mask_decoder_config.num_multimask_outputs)
    size = processor.image_processor.size
    return Capabilities(points=n_point_embeddings >= 2, negative_points=n_point_embeddings >= 2,
                        boxes=n_point_embeddings >= 4, mask_input=hasattr(prompt_encoder, "mask_embed"),
                        multimask=n_multi > 1, n_multimask=n_multi,
                        input_size=int(size.get("longest_edge") or size.get("height")))


class _HFAdapter(PromptableModel):
    """What both decoder APIs share: provenance, fingerprint, dtype, prompt tensors."""

    supports_dtype = True
    source = "transformers"

    def __init__(self, model, processor, model_type: str, name: str, weights: str, family: str, size: str,
                 checkpoint_tag: Optional[str], provenance: dict, encoder_batch_size: int = 4):
        self.model = model.eval()
        self.processor = processor
        self.model_type = model_type
        self.name = name
        self.weights = weights
        self.family, self.size, self.checkpoint_tag = family, size, checkpoint_tag
        self.provenance = provenance
        self.encoder_batch_size = max(1, int(encoder_batch_size))
        self.device = next(model.parameters()).device
        self.capabilities = read_capabilities(model, processor)

    def fingerprint(self) -> dict:
        from importlib import metadata

        fp = super().fingerprint()
        fp.update({"architecture": f"transformers.{type(self.model).__name__}", "model_type": self.model_type,
                   "config_sha256": settings_digest(self.model.config.to_dict()),
                   "processor_sha256": settings_digest(self.processor.image_processor.to_dict()),
                   "transformers_version": metadata.version("transformers"), **self.provenance})
        return fp

    def _prompt_arrays(self, prompts: PromptBatch):
        pts = None if prompts.point_coords is None else np.asarray(prompts.point_coords, dtype=np.float64)
        labels = None if prompts.point_labels is None else np.asarray(prompts.point_labels, dtype=np.int64)
        boxes = None if prompts.boxes is None else np.asarray(prompts.boxes, dtype=np.float64)
        masks = None if prompts.mask_input is None else torch.as_tensor(prompts.mask_input, dtype=torch.float32,
                                                                         device=self.device)
        return pts, labels, boxes, masks

    def encode(self, image: np.ndarray, sample: Optional[Sample] = None) -> ImageEmbedding:
        return self.encode_batch([image])[0]

    def _pixel_batches(self, images: Sequence[np.ndarray]):
        """Yield (images of a chunk, their pixel_values on the device, the processor's whole output),
        ``encoder_batch_size`` images at a time, through the class's own processor."""
        for start in range(0, len(images), self.encoder_batch_size):
            # writable arrays: torch.from_numpy in the processor warns about read-only ones (cached images)
            chunk = [np.require(im, requirements="W") for im in images[start:start + self.encoder_batch_size]]
            enc = self.processor(images=chunk, return_tensors="pt", input_data_format="channels_last")
            yield chunk, enc["pixel_values"].to(self.device), enc


class HFSamAdapter(_HFAdapter):
    """``SamModel`` / ``SamHQModel`` with their ``SamProcessor`` / ``SamHQProcessor``.

    Arguments:
      hq_token_only: SamHQModel: the HQ output token's mask alone instead of SAM's mask + HQ's
        (the default of both the official HQ-SAM predictor and transformers).
    Note: SamHQModel's multimask output is transformers' own: SAM's three masks (sorted by
    predicted IoU) each plus the HQ mask; the official HQ-SAM decoder returns one mask instead
    (``sambench.models.sam_hq``).
    """

    def __init__(self, *args, hq_token_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.hq = self.model_type == "sam_hq"
        self.hq_token_only = bool(hq_token_only)
        self.cacheable = not self.hq  # one tensor per image: the embedding cache can hold it

    def fingerprint(self) -> dict:
        fp = super().fingerprint()
        if self.hq:
            fp["hq_token_only"] = self.hq_token_only
        return fp

    @torch.no_grad()
    def encode_batch(self, images: Sequence[np.ndarray], samples: Optional[Sequence[Sample]] = None) -> List[ImageEmbedding]:
        out: List[ImageEmbedding] = []
        for chunk, pixels, enc in self._pixel_batches(images):
            with self.autocast():
                emb = self.model.get_image_embeddings(pixels)
            interm = None
            if self.hq:  # (embeddings, per-global-block ViT features); the decoder reads the first
                emb, interm = emb[0], emb[1][0].float()
            emb = emb.float()
            for i, im in enumerate(chunk):
                feats = emb[i:i + 1] if interm is None else (emb[i:i + 1], interm[i:i + 1])
                out.append(ImageEmbedding(original_size=tuple(im.shape[:2]), features=feats,
                                          extra={"input_size": tuple(int(v) for v in enc["reshaped_input_sizes"][i])}))
        return out

    @torch.no_grad()
    def decode(self, embedding: ImageEmbedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        self.check_prompts(prompts, multimask)
        pts, labels, boxes, masks = self._prompt_arrays(prompts)
        b = len(prompts)
        size = self.processor.target_size
        feats, interm = embedding.features if self.hq else (embedding.features, None)
        per_image = masks is not None  # dense mask prompts: one "image" per prompt set
        kwargs = {}
        if pts is not None:
            coords = self.processor._normalize_coordinates(size, pts, embedding.original_size)
            kwargs["input_points"] = torch.as_tensor(coords, dtype=torch.float32, device=self.device)
            kwargs["input_labels"] = torch.as_tensor(labels, device=self.device)
        if boxes is not None:
            norm = self.processor._normalize_coordinates(size, boxes, embedding.original_size, is_bounding_box=True)
            kwargs["input_boxes"] = torch.as_tensor(norm, dtype=torch.float32, device=self.device)
        for key in kwargs:  # (B, ...) prompt sets -> (1, B, ...) point batch, or (B, 1, ...) image batch
            kwargs[key] = kwargs[key][:, None] if per_image else kwargs[key][None]
        if per_image:
            kwargs["input_masks"] = masks
            feats = feats.expand(b, -1, -1, -1)
            interm = None if interm is None else interm.expand(b, -1, -1, -1)
        if self.hq:
            kwargs.update(hq_token_only=self.hq_token_only, intermediate_embeddings=[interm])
        with self.autocast():
            out = self.model(image_embeddings=feats, multimask_output=multimask, **kwargs)
        low = out.pred_masks.float()
        low = low[:, 0] if per_image else low[0]
        iou = out.iou_scores.float()
        iou = iou[:, 0] if per_image else iou[0]
        logits = self.processor.post_process_masks([low], [embedding.original_size], [embedding.extra["input_size"]],
                                                   binarize=False)[0]
        return Prediction(logits=logits, iou_predictions=iou, low_res_logits=low)


class HFSam2Adapter(_HFAdapter):
    """``Sam2Model`` / ``Sam3TrackerModel`` / ``EdgeTamModel`` with their processor.

    Single-mask output follows the class (and the official SAM 2 predictor): when the single-mask
    token's mask is unstable, the best multimask output replaces it (``dynamic_multimask_via_stability``).
    """

    cacheable = False  # three feature levels per image, not one tensor

    @torch.no_grad()
    def encode_batch(self, images: Sequence[np.ndarray], samples: Optional[Sequence[Sample]] = None) -> List[ImageEmbedding]:
        out: List[ImageEmbedding] = []
        for chunk, pixels, _ in self._pixel_batches(images):
            with self.autocast():
                levels = self.model.get_image_embeddings(pixels)
            levels = [f.float() for f in levels]
            for i, im in enumerate(chunk):
                out.append(ImageEmbedding(original_size=tuple(im.shape[:2]), features=[f[i:i + 1] for f in levels]))
        return out

    @torch.no_grad()
    def decode(self, embedding: ImageEmbedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        self.check_prompts(prompts, multimask)
        pts, labels, boxes, masks = self._prompt_arrays(prompts)
        b = len(prompts)
        per_image = masks is not None
        h, w = embedding.original_size
        # (1 image, B objects, ...) or, with dense mask prompts, (B images, 1 object, ...)
        shape = (lambda a: a[:, None]) if per_image else (lambda a: a[None])
        enc = self.processor(images=None, original_sizes=[[h, w]] * (b if per_image else 1),
                             input_points=None if pts is None else shape(pts),
                             input_labels=None if labels is None else shape(labels),
                             input_boxes=None if boxes is None else shape(boxes), return_tensors="pt")
        kwargs = {k: enc[k].to(self.device) for k in ("input_points", "input_labels", "input_boxes") if k in enc}
        feats = embedding.features
        if per_image:
            kwargs["input_masks"] = masks
            feats = [f.expand(b, -1, -1, -1) for f in feats]
        with self.autocast():
            out = self.model(image_embeddings=feats, multimask_output=multimask, **kwargs)
        low = out.pred_masks.float()
        low = low[:, 0] if per_image else low[0]
        iou = out.iou_scores.float()
        iou = iou[:, 0] if per_image else iou[0]
        logits = self.processor.post_process_masks([low], [[h, w]], binarize=False)[0]
        return Prediction(logits=logits, iou_predictions=iou, low_res_logits=low)


def make_adapter(model, processor, model_type: str, **kwargs) -> _HFAdapter:
    """The adapter for ``model_type`` (see ``sambench.models.hf.HF_ARCHITECTURES``): SamModel's decoder API for
    sam and sam_hq, Sam2Model's for the others."""
    hq_token_only = kwargs.pop("hq_token_only", False)
    if model_type in ("sam", "sam_hq"):
        return HFSamAdapter(model, processor, model_type, hq_token_only=hq_token_only, **kwargs)
    return HFSam2Adapter(model, processor, model_type, **kwargs)
