"""CLIP-ranked automatic masks: the Segment Anything paper's CLIP-alignment idea (§7.5) as a baseline.

Per image: the automatic mask generator (``sambench.generation.amg``, segment-anything's released
defaults unless overridden: 32x32 grid, predicted IoU > 0.88, stability >= 0.95, box NMS 0.7)
runs on the mask model's embedding; each kept mask is cut out as a crop (its box, optionally
enlarged by ``context`` of its size; ``crop="masked"`` paints the pixels outside the mask with
CLIP's mean colour, ``crop="box"`` keeps them) and embedded with an open_clip image encoder, all
crops of an image in batches. Each distinct phrase is embedded once per run (open_clip's tokenizer
and text encoder, :class:`PhraseCache`). Similarities are cosines of the L2-normalised embeddings.

- referring mode: the mask with the highest cosine similarity to the phrase (top-1); its score is
  that cosine.
- instances mode: each mask is classified zero-shot over the query's whole vocabulary (softmax of
  ``temperature`` x cosine over every category phrase of the dataset, so prompting a subset of
  categories changes no score); a mask answers a phrase when its probability for it is >=
  ``threshold`` (and >= the task's ``min_score``); the probability is its score.

The open_clip model is ``--clip NAME`` (a built-in config such as ``ViT-B-32``, with
``--clip-checkpoint FILE``: weights loaded with ``weights_only=True``; or ``local-dir:PATH``, a
folder with ``open_clip_config.json`` and weights). Without weights the model is randomly
initialised and labelled untrained, as is a folder with a ``sambench.json`` saying so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .. import masks as mask_utils
from ..data import Sample
from .base import ImageEmbedding, PromptableModel, UnsupportedPromptError, sha256_file
from .text import (PhraseCache, TextAnswer, TextPromptableModel, TextQuery, cap_total, mask_box, select,
                   worst_weights)
from .hf import MARKER, weights_kind

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)


class ClipRankedMasks(TextPromptableModel):
    """Automatic masks of ``mask_model`` ranked by open_clip similarity to each phrase (module docstring).

    Arguments:
      mask_model: a point-promptable model (the generator prompts a grid of points).
      clip_name: open_clip model name or ``local-dir:PATH``.
      clip_checkpoint: weights file for a built-in name (None: random weights, labelled untrained).
      device: torch device string.
      points_per_side, pred_iou_thresh, stability_score_thresh, box_nms_thresh, points_per_batch,
        multimask: the generator's settings (segment-anything defaults).
      crop: "masked" or "box"; context: box enlargement (fraction of its width/height on each side).
      threshold: instances mode: minimum zero-shot probability of a mask for a phrase.
      temperature: logit scale of the zero-shot softmax (CLIP's 100).
      crop_batch: crops per image-encoder call.
    """

    route = "clip-ranked-amg"

    def __init__(self, mask_model: PromptableModel, clip_name: str, clip_checkpoint: Optional[str] = None,
                 device=None, points_per_side: int = 32, pred_iou_thresh: float = 0.88,
                 stability_score_thresh: float = 0.95, box_nms_thresh: float = 0.7, points_per_batch: int = 64,
                 multimask: Optional[bool] = None, crop: str = "masked", context: float = 0.0,
                 threshold: float = 0.1, temperature: float = 100.0, crop_batch: int = 64):
        import open_clip

        from ..generation.amg import AmgConfig, check_model
        from .sam import resolve_device

        if crop not in ("masked", "box"):
            raise ValueError(f"--clip-arg crop={crop}: expected masked or box")
        self.mask_model = mask_model
        multimask = bool(mask_model.capabilities.multimask) if multimask is None else bool(multimask)
        self.amg = AmgConfig.segment_anything(points_per_side=int(points_per_side), pred_iou_thresh=float(pred_iou_thresh),
                                              stability_score_thresh=float(stability_score_thresh),
                                              box_nms_thresh=float(box_nms_thresh), points_per_batch=int(points_per_batch),
                                              multimask=multimask, keep_rles=True)
        try:
            check_model(mask_model, self.amg)
        except UnsupportedPromptError as exc:
            raise UnsupportedPromptError(f"CLIP-ranked masks: {exc}") from exc
        self.crop, self.context = crop, float(context)
        self.threshold, self.temperature, self.crop_batch = float(threshold), float(temperature), int(crop_batch)
        self.device = resolve_device(device)
        self.clip_name = clip_name
        local = clip_name.startswith("local-dir:")
        if clip_checkpoint is not None and not Path(clip_checkpoint).expanduser().is_file():
            raise FileNotFoundError(f"{clip_checkpoint}: open_clip checkpoint file not found")
        try:
            self.clip, _, self.preprocess = open_clip.create_model_and_transforms(
                clip_name, pretrained=None if local else clip_checkpoint, device=self.device, weights_only=True)
            self.tokenizer = open_clip.get_tokenizer(clip_name)
        except (RuntimeError, ValueError, FileNotFoundError, OSError) as exc:
            raise ValueError(f"open_clip could not build '{clip_name}' ({str(exc).splitlines()[0][:300]})") from exc
        self.clip.eval()
        self.clip_info = self._provenance(clip_name, clip_checkpoint)
        self.name = f"{mask_model.name}+clip"
        self.weights = worst_weights(mask_model.weights, self.clip_info["weights"])
        self.mask_threshold = mask_model.mask_threshold
        self.text_cache = PhraseCache(self._encode_phrases)
        self.n_crops = 0
        self.n_images = 0

    @staticmethod
    def _provenance(name: str, checkpoint: Optional[str]) -> Dict:
        if name.startswith("local-dir:"):
            folder = Path(name[len("local-dir:"):]).expanduser()
            files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".pth", ".pt"))
            if not files:
                return {"checkpoint": str(folder), "checkpoint_sha256": None, "weights": "untrained"}
            return {"checkpoint": str(files[0].resolve()), "checkpoint_sha256": sha256_file(files[0]),
                    "weights": weights_kind(folder) if (folder / MARKER).is_file() else "trained"}
        if checkpoint is None:
            return {"checkpoint": None, "checkpoint_sha256": None, "weights": "untrained"}
        path = Path(checkpoint).expanduser()
        return {"checkpoint": str(path.resolve()), "checkpoint_sha256": sha256_file(path), "weights": "trained"}

    def label(self) -> str:
        clip = "clip:" + Path(self.clip_name.replace("local-dir:", "")).name
        if self.clip_info["weights"] != "trained":
            clip += f" ({self.clip_info['weights']})"
        return f"{self.mask_model.label()} + {clip}"

    def fingerprint(self) -> dict:
        inner = self.mask_model.fingerprint()
        return {"name": self.name, "architecture": f"{inner.get('architecture')}+open_clip:{self.clip_name}",
                "route": self.route, "checkpoint": inner.get("checkpoint"),
                "checkpoint_sha256": inner.get("checkpoint_sha256"), "weights": self.weights, "label": self.label(),
                "mask_model": inner, "clip": dict(self.clip_info, name=self.clip_name),
                "amg": self.amg.to_dict(), "crop": self.crop, "context": self.context,
                "threshold": self.threshold, "temperature": self.temperature}

    # -- encoders ---------------------------------------------------------------------------------
    @torch.no_grad()
    def _encode_phrases(self, phrases: List[str]) -> List[torch.Tensor]:
        tokens = self.tokenizer(list(phrases)).to(self.device)
        emb = self.clip.encode_text(tokens).float()
        return list(torch.nn.functional.normalize(emb, dim=-1))

    def _crop(self, image: np.ndarray, rle: dict):
        from PIL import Image

        x0, y0, x1, y1 = mask_box(rle)
        h, w = image.shape[:2]
        dx, dy = (x1 - x0) * self.context, (y1 - y0) * self.context
        x0, y0 = int(max(0, np.floor(x0 - dx))), int(max(0, np.floor(y0 - dy)))
        x1, y1 = int(min(w, np.ceil(x1 + dx))), int(min(h, np.ceil(y1 + dy)))
        patch = image[y0:y1, x0:x1].copy()
        if self.crop == "masked":
            inside = mask_utils.decode(rle)[y0:y1, x0:x1]
            patch[~inside] = np.array(CLIP_MEAN) * 255
        return Image.fromarray(patch)

    @torch.no_grad()
    def encode_batch(self, images: Sequence[np.ndarray], samples: Optional[Sequence[Sample]] = None) -> List[ImageEmbedding]:
        from ..generation.amg import generate_masks

        samples = list(samples) if samples is not None else [None] * len(images)
        out = []
        for image, inner in zip(images, self.mask_model.encode_batch(images, samples)):
            props = generate_masks(self.mask_model, inner, self.amg)
            rles = list(props.rles or [])
            feats = []
            for start in range(0, len(rles), self.crop_batch):
                crops = torch.stack([self.preprocess(self._crop(image, r)) for r in rles[start:start + self.crop_batch]])
                feats.append(torch.nn.functional.normalize(self.clip.encode_image(crops.to(self.device)).float(), dim=-1))
            self.n_crops += len(rles)
            self.n_images += 1
            emb = torch.cat(feats) if feats else torch.zeros((0, 1), device=self.device)
            out.append(ImageEmbedding(original_size=tuple(image.shape[:2]),
                                      features={"rles": rles, "crops": emb, "counts": props.counts}))
        return out

    def encode(self, image: np.ndarray, sample: Optional[Sample] = None) -> ImageEmbedding:
        return self.encode_batch([image], [sample])[0]

    # -- ranking ----------------------------------------------------------------------------------
    @torch.no_grad()
    def segment_text(self, embedding: ImageEmbedding, query: TextQuery) -> List[TextAnswer]:
        rles, crops = embedding.features["rles"], embedding.features["crops"]
        if not len(query):
            return []
        if not rles:
            return [TextAnswer() for _ in query.phrases]
        if query.mode == "referring":
            text = torch.stack(self.text_cache.get(list(query.phrases)))
            scores = (text @ crops.T).cpu().numpy()  # (P, N) cosine similarity
            chosen = select(scores, "referring", 1, -np.inf)
        else:
            vocab = list(query.vocabulary or query.phrases)
            missing = [p for p in query.phrases if p not in vocab]
            if missing:
                raise ValueError(f"phrases not in the query's vocabulary: {missing[:3]}")
            text = torch.stack(self.text_cache.get(vocab))
            probs = torch.softmax(self.temperature * crops @ text.T, dim=1).cpu().numpy()  # (N, V)
            col = {p: i for i, p in enumerate(vocab)}
            scores = np.stack([probs[:, col[p]] for p in query.phrases])
            chosen = select(scores, "instances", query.max_per_phrase, max(self.threshold, query.min_score))
            chosen = cap_total(chosen, [scores[p, idx] for p, idx in enumerate(chosen)], query.max_total)
        out = []
        for p, idx in enumerate(chosen):
            picked = [rles[i] for i in idx]
            out.append(TextAnswer(picked, scores[p, idx].astype(np.float64),
                                  np.array([mask_box(r) for r in picked], dtype=np.float64).reshape(-1, 4)))
        return out

    def text_stats(self) -> Dict[str, int]:
        return dict(self.text_cache.stats(), crops_embedded=self.n_crops, images=self.n_images)
