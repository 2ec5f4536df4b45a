"""SAM 3 through Hugging Face transformers (``Sam3Model``: text -> instance masks + scores), and the
loading of ``save_pretrained`` folders shared by the transformers-based text routes.

Loading (:func:`load_hf_folder`): ``--checkpoint`` is a folder written by ``save_pretrained``
(``config.json``, ``model.safetensors``, the processor's files), loaded by the one loader of
every transformers model, ``sambench.models.hf.load_pretrained``: nothing is downloaded
(``local_files_only``), only ``.safetensors`` weights are read, the SHA-256 of every weight file is
computed and combined into one ``checkpoint_sha256`` (a single file's own SHA-256, else the
SHA-256 of the sorted ``name:sha256`` lines) before the model is built, and a folder leaving any
weight uninitialised is refused. The SHA-256 of the config, tokenizer and processor files
(``config_files``) goes into the fingerprint too, so runs with different tokenizer or processor
files are told apart; a tokenizer that cannot tokenize ordinary words (its vocabulary missing) is
refused. A folder carrying a ``sambench.json`` with
``{"weights": "untrained"}`` (what ``sambench.models.text_tiny`` writes for its seeded random tiny
configs) is labelled untrained in every output.

SAM 3 (:class:`Sam3Text`), following transformers' ``Sam3Model`` / ``Sam3Processor`` (the
model card's "reuse vision / text embeddings" usage): each image goes through
``Sam3Processor``'s image processor (resize to the model's square input, ImageNet-style
normalisation) and ``get_vision_features`` once; each distinct phrase through the processor's
tokenizer (padded to 32 tokens, longer phrases truncated, as ``Sam3Processor`` does) and
``get_text_features`` once per run (:class:`PhraseCache`); all
phrases of an image then run through the DETR encoder/decoder and mask decoder in ONE batch
(the image features expanded to the number of phrases). Scores follow
``Sam3ImageProcessor.post_process_instance_segmentation``: ``sigmoid(pred_logits) *
sigmoid(presence_logits)``; masks are the selected queries' mask logits resized (bilinear) to the
original image and kept where ``sigmoid > mask_threshold`` (0.5); boxes are the predicted xyxy
boxes scaled to the original size. Referring mode keeps each phrase's highest-scoring query;
instances mode its queries scoring >= ``min_score`` (at most ``max_per_phrase``, and ``max_total`` over
all phrases); only the kept queries' masks are resized to the image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .. import masks as mask_utils
from ..data import Sample
from .base import ImageEmbedding
from .checkpoint import CheckpointError
from .hf import load_pretrained
from .text import PhraseCache, TextAnswer, TextPromptableModel, TextQuery, answers_from_rles, cap_total, select

def load_hf_folder(checkpoint, model_cls, processor_cls, device: torch.device, what: str):
    """(model in eval mode on ``device``, processor, provenance dict) from the ``save_pretrained``
    folder ``checkpoint``, through ``sambench.models.hf.load_pretrained`` (safetensors only, every
    weight accounted for); provenance adds the folder and the class.

    Raises:
      CheckpointError (one line): no such folder, no config.json, or what ``load_pretrained`` refuses.
    """
    if checkpoint is None:
        raise CheckpointError(f"{what} needs --checkpoint (or --detector-checkpoint) FOLDER: a save_pretrained folder "
                              f"(config.json, model.safetensors, processor files)")
    folder = Path(checkpoint).expanduser()
    if not folder.exists():
        raise CheckpointError(f"{folder}: no such folder (expected a save_pretrained folder of {what}: config.json, "
                              f"model.safetensors, processor files)")
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise CheckpointError(f"{folder}: not a save_pretrained folder of {what} (expected config.json and weights)")
    model, processor, info = load_pretrained(folder, model_cls, processor_cls, device, what)
    return model, processor, {"checkpoint": str(folder.resolve()), "class": model_cls.__name__, **info}


class Sam3Text(TextPromptableModel):
    """SAM 3 (transformers ``Sam3Model``) answering text prompts (see the module docstring).

    Arguments:
      checkpoint: a ``save_pretrained`` folder of ``Sam3Model`` + ``Sam3Processor``.
      device: torch device.
      mask_threshold: probability threshold of the masks (the processor's default 0.5).
      encoder_batch_size: images per vision-encoder call.
      phrase_batch: distinct phrases per detector/mask-decoder call (memory bound; answers do not
        change); 0 = all phrases of an image in one call.
    """

    name = "sam3"
    route = "text-native"
    family = "SAM 3"
    source = "transformers"

    def __init__(self, checkpoint, device: torch.device, mask_threshold: float = 0.5, encoder_batch_size: int = 2,
                 phrase_batch: int = 32):
        from transformers import Sam3Model, Sam3Processor

        self.device = device
        self.model, self.processor, self.info = load_hf_folder(checkpoint, Sam3Model, Sam3Processor, device, "SAM 3")
        self.weights = self.info["weights"]
        self.prob_threshold = float(mask_threshold)
        self.encoder_batch_size = int(encoder_batch_size)
        self.phrase_batch = int(phrase_batch)
        self.text_cache = PhraseCache(self._encode_phrases)
        self.n_decoder_calls = 0
        self.n_image_encodes = 0

    def fingerprint(self) -> dict:
        fp = super().fingerprint()
        fp.update({k: self.info[k] for k in ("checkpoint", "checkpoint_sha256", "weight_files", "config_files")})
        fp.update({"architecture": "Sam3Model", "mask_threshold": self.prob_threshold, "phrase_batch": self.phrase_batch})
        return fp

    # -- encoders ---------------------------------------------------------------------------------
    @torch.no_grad()
    def _encode_phrases(self, phrases: List[str]) -> List[tuple]:
        tok = self.processor.tokenizer(list(phrases), padding="max_length", max_length=32, truncation=True,
                                       return_tensors="pt").to(self.device)
        feats = self.model.get_text_features(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
        return [(feats.pooler_output[i:i + 1], tok["attention_mask"][i:i + 1]) for i in range(len(phrases))]

    @torch.no_grad()
    def encode_batch(self, images: Sequence[np.ndarray], samples: Optional[Sequence[Sample]] = None) -> List[ImageEmbedding]:
        out: List[ImageEmbedding] = []
        for start in range(0, len(images), self.encoder_batch_size):
            chunk = [np.array(im) for im in images[start:start + self.encoder_batch_size]]  # writable copies
            pixels = self.processor.image_processor(images=chunk, return_tensors="pt")["pixel_values"].to(self.device)
            vision = self.model.get_vision_features(pixel_values=pixels)
            self.n_image_encodes += len(chunk)
            for i, im in enumerate(chunk):
                out.append(ImageEmbedding(original_size=tuple(im.shape[:2]), features=_slice_vision(vision, i)))
        return out

    def encode(self, image: np.ndarray, sample: Optional[Sample] = None) -> ImageEmbedding:
        return self.encode_batch([image])[0]

    # -- one batch of phrases ---------------------------------------------------------------------
    @torch.no_grad()
    def segment_text(self, embedding: ImageEmbedding, query: TextQuery) -> List[TextAnswer]:
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        h, w = embedding.original_size
        if not len(query):
            return []
        distinct = list(dict.fromkeys(query.phrases))
        cached = self.text_cache.get(distinct)
        step = self.phrase_batch if self.phrase_batch > 0 else len(distinct)
        kept: Dict[int, tuple] = {}  # distinct phrase -> (scores, low-res mask logits, boxes) of its selected queries
        for start in range(0, len(distinct), step):  # one call unless more than phrase_batch distinct phrases
            part = cached[start:start + step]
            text = BaseModelOutputWithPooling(pooler_output=torch.cat([c[0] for c in part]))
            out = self.model(vision_embeds=_expand_vision(embedding.features, len(part)), text_embeds=text,
                             attention_mask=torch.cat([c[1] for c in part]))
            self.n_decoder_calls += 1
            sc = out.pred_logits.sigmoid()
            if out.presence_logits is not None:
                sc = sc * out.presence_logits.sigmoid()
            sc = sc.float().cpu().numpy()  # (U, Q)
            for u, idx in enumerate(select(sc, query.mode, query.max_per_phrase, query.min_score)):
                sel = torch.as_tensor(idx, dtype=torch.long, device=out.pred_masks.device)
                kept[start + u] = (sc[u, idx].astype(np.float64), out.pred_masks[u, sel].float(),
                                   out.pred_boxes[u, sel].float().cpu().numpy())
            if query.max_total is not None:  # only the image's best max_total queries can be kept: drop the rest now
                rows = sorted(kept)
                best = cap_total([np.arange(len(kept[r][0])) for r in rows], [kept[r][0] for r in rows], query.max_total)
                kept = {r: (kept[r][0][b], kept[r][1][torch.as_tensor(b, dtype=torch.long, device=kept[r][1].device)],
                            kept[r][2][b]) for r, b in zip(rows, best)}
        row_of = {p: i for i, p in enumerate(distinct)}
        owner = [p for p, phrase in enumerate(query.phrases) for _ in range(len(kept[row_of[phrase]][0]))]
        if not owner:
            return [TextAnswer() for _ in query.phrases]
        rows = [row_of[phrase] for phrase in query.phrases]
        logits = torch.cat([kept[r][1] for r in rows])  # (N, h', w')
        rles: List[dict] = []
        for start in range(0, len(logits), 64):  # full-resolution masks 64 at a time (memory)
            probs = torch.nn.functional.interpolate(logits[None, start:start + 64], size=(h, w), mode="bilinear",
                                                    align_corners=False)[0].sigmoid()
            rles += mask_utils.encode_batch((probs > self.prob_threshold).cpu().numpy())
        box = np.concatenate([kept[r][2] for r in rows]).astype(np.float64) * np.array([w, h, w, h], dtype=np.float64)
        score = np.concatenate([kept[r][0] for r in rows])
        return answers_from_rles(rles, score, box, owner, len(query))

    def text_stats(self) -> Dict[str, int]:
        return dict(self.text_cache.stats(), decoder_calls=self.n_decoder_calls, images_encoded=self.n_image_encodes)


def _slice_vision(vision, i: int):
    """Image ``i`` of a batched ``Sam3VisionEncoderOutput`` (the tensors the detector heads read)."""
    from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput

    return Sam3VisionEncoderOutput(last_hidden_state=vision.last_hidden_state[i:i + 1],
                                   fpn_hidden_states=tuple(t[i:i + 1] for t in vision.fpn_hidden_states),
                                   fpn_position_encoding=tuple(t[i:i + 1] for t in vision.fpn_position_encoding))


def _expand_vision(vision, n: int):
    """One image's vision features repeated for ``n`` phrases (views, no copy)."""
    from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput

    grow = lambda t: t.expand(n, *t.shape[1:])  # noqa: E731
    return Sam3VisionEncoderOutput(last_hidden_state=grow(vision.last_hidden_state),
                                   fpn_hidden_states=tuple(grow(t) for t in vision.fpn_hidden_states),
                                   fpn_position_encoding=tuple(grow(t) for t in vision.fpn_position_encoding))


def build_sam3(checkpoint=None, device=None, download=False, **options) -> Sam3Text:
    """The ``sam3`` registry entry: ``--checkpoint`` a Sam3Model save_pretrained folder."""
    from .sam import resolve_device

    if download:
        raise CheckpointError("sam3: --download is not supported; pass --checkpoint FOLDER (a Sam3Model "
                              "save_pretrained folder, e.g. a local copy of facebook/sam3)")
    return Sam3Text(checkpoint, resolve_device(device), **options)
