"""Open-vocabulary detectors: text in, boxes and scores out (the first half of the detector route).

A :class:`Detector` prepares an image once (``prepare``: preprocessing, image features) and answers
all phrases of the image at once (``detect``), returning, per phrase, candidate boxes
([x0, y0, x1, y1] in original-image pixels) with a score for that phrase. What is kept is decided
by the caller (``sambench.models.text.DetectorPromptedModel``: best box per phrase, or boxes above
a score). Registered detectors (``DETECTORS``; ``--detector NAME --detector-checkpoint FOLDER``):

- ``grounding-dino`` / ``mm-grounding-dino``: transformers ``GroundingDinoForObjectDetection`` /
  ``MMGroundingDinoForObjectDetection`` with their processor. Captions are lower-cased phrases
  joined as ``"a . b . c ."`` (the models' own convention). Referring mode: one caption per phrase,
  all captions of an image in one batch (the image tensor shared, not copied). Instances mode:
  the phrases packed greedily into as few captions as fit ``max_text_len`` tokens, in one batch.
  The score of a query for a phrase is the mean over the phrase's tokens of ``sigmoid(logits)``
  (Grounding DINO's positive-map scoring); boxes are the queries' boxes (cx, cy, w, h relative to
  the image) in pixels. The text backbone (BERT) runs inside the fused forward; its outputs are
  memoised per tokenised caption, so a caption seen before (e.g. COCO's category captions on every
  image) is not encoded again.
- ``owlv2``: transformers ``Owlv2ForObjectDetection``. The image embedding, class-head features
  and boxes are computed once per image (``image_embedder``, ``box_predictor``); each distinct
  phrase's query embedding once per run (``get_text_features``, ``PhraseCache``; OWLv2's text
  encoder reads 16 tokens, so longer expressions are truncated, as its processor does); one
  ``class_predictor`` call scores every patch box for all phrases of the image. Scores are
  ``sigmoid(logits)``; boxes are relative to the padded square input, so they scale by
  ``max(H, W)`` (as ``Owlv2ImageProcessor`` does).
- ``precomputed``: a detections file in COCO results format for detectors sambench does not wrap
  (``[{"image_id", "bbox": [x, y, w, h], "score", "phrase" | "category_id"}, ...]``). Entries are
  matched to a prompt by ``category_id`` when the task gives categories, else by ``phrase``
  (case-insensitive, whitespace collapsed). Malformed entries (no image id, no phrase or category,
  a box that is not 4 finite numbers with w, h > 0, a non-finite score; the checks of
  :mod:`sambench.detections`, shared with the instances task) are skipped and counted by
  reason in the model fingerprint (``detector.skipped_by_reason``), which goes into the run config.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..registry import Registry
from .base import sha256_file
from .text import PhraseCache, TextQuery
from .text_hf import load_hf_folder

DETECTORS: Registry = Registry("detector")


@dataclass
class Boxes:
    """Candidate detections for one phrase: boxes (N, 4) float64 xyxy pixels, scores (N,) float64."""

    boxes: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> "Boxes":
        return cls(np.zeros((0, 4)), np.zeros(0))


class Detector(ABC):
    """Base class of open-vocabulary detectors (see the module docstring)."""

    name: str = ""
    weights: str = "trained"

    def label(self) -> str:
        return self.name if self.weights == "trained" else f"{self.name} ({self.weights})"

    def fingerprint(self) -> Dict[str, Any]:
        return {"name": self.name, "weights": self.weights, "label": self.label()}

    def stats(self) -> Dict[str, int]:
        return {}

    @abstractmethod
    def prepare(self, image: np.ndarray, sample=None) -> Any:
        """Per-image state (preprocessed pixels, image features); called once per image at encode time."""

    @abstractmethod
    def detect(self, state: Any, query: TextQuery) -> List[Boxes]:
        """Candidate boxes with scores for every phrase of ``query`` (one Boxes per phrase)."""


def build_detector(name: str, checkpoint=None, device=None, **options) -> Detector:
    """The detector registered as ``name``, loaded from ``checkpoint``."""
    from .sam import resolve_device

    return DETECTORS.get(name)(checkpoint=checkpoint, device=resolve_device(device), **options)


# ---------------------------------------------------------------------------------------------
# Grounding DINO / MM-Grounding-DINO
# ---------------------------------------------------------------------------------------------

class _MemoTextBackbone(torch.nn.Module):
    """Wraps a Grounding DINO text backbone: each tokenised caption (one row of its inputs) is encoded
    once; the last ``capacity`` captions are kept (least recently used dropped first)."""

    def __init__(self, inner: torch.nn.Module, capacity: int = 256):
        super().__init__()
        self.inner = inner
        self.capacity = int(capacity)
        self.table: "OrderedDict[bytes, torch.Tensor]" = OrderedDict()
        self.n_encoded = 0
        self.n_requested = 0

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, **kwargs):
        from transformers.modeling_outputs import BaseModelOutput

        parts = [t for t in (input_ids, attention_mask, token_type_ids, position_ids) if t is not None]
        keys = [b"|".join(t[i].detach().cpu().numpy().tobytes() for t in parts) for i in range(input_ids.shape[0])]
        self.n_requested += len(keys)
        todo = [k for k in dict.fromkeys(keys) if k not in self.table]
        fresh: Dict[bytes, torch.Tensor] = {}
        if todo:
            sel = torch.tensor([keys.index(k) for k in todo], device=input_ids.device)
            pick = lambda t: None if t is None else t.index_select(0, sel)  # noqa: E731
            out = self.inner(pick(input_ids), pick(attention_mask), pick(token_type_ids), pick(position_ids))
            hidden = out[0] if isinstance(out, tuple) else out.last_hidden_state
            fresh = {k: hidden[j] for j, k in enumerate(todo)}
            self.n_encoded += len(todo)
        rows = []
        for k in keys:
            if k in fresh:
                rows.append(fresh[k])
            else:
                self.table.move_to_end(k)
                rows.append(self.table[k])
        for k, v in fresh.items():
            self.table[k] = v
        while len(self.table) > self.capacity:
            self.table.popitem(last=False)
        hidden = torch.stack(rows)
        return BaseModelOutput(last_hidden_state=hidden) if kwargs.get("return_dict", True) is not False else (hidden,)


def pack_captions(phrases: Sequence[str], n_tokens: Sequence[int], budget: int, one_per_caption: bool) -> List[List[int]]:
    """Group phrase indices into captions: one each, or greedily as many as fit ``budget`` tokens."""
    if one_per_caption:
        return [[i] for i in range(len(phrases))]
    groups: List[List[int]] = []
    used = budget + 1
    for i, n in enumerate(n_tokens):
        need = n + 1  # the phrase and its " ." separator
        if used + need > budget:
            groups.append([])
            used = 2  # [CLS] and [SEP]
        groups[-1].append(i)
        used += need
    return groups


class GroundingDetector(Detector):
    """Grounding DINO or MM-Grounding-DINO through transformers (see the module docstring)."""

    def __init__(self, checkpoint, device: torch.device, mm: bool = False):
        from transformers import AutoProcessor, GroundingDinoForObjectDetection, MMGroundingDinoForObjectDetection

        cls = MMGroundingDinoForObjectDetection if mm else GroundingDinoForObjectDetection
        self.name = "mm-grounding-dino" if mm else "grounding-dino"
        self.device = device
        self.model, self.processor, self.info = load_hf_folder(checkpoint, cls, AutoProcessor, device, self.name)
        self.weights = self.info["weights"]
        self.max_text_len = int(self.model.config.max_text_len)
        self.memo = _MemoTextBackbone(self.model.model.text_backbone)
        self.model.model.text_backbone = self.memo
        self.token_counts = PhraseCache(self._count_tokens)
        self.n_forward = 0

    def fingerprint(self) -> Dict[str, Any]:
        fp = super().fingerprint()
        fp.update({k: self.info[k] for k in ("checkpoint", "checkpoint_sha256", "weight_files", "config_files",
                                              "class")})
        fp["scoring"] = "mean over the phrase's tokens of sigmoid(logits)"
        return fp

    def stats(self) -> Dict[str, int]:
        return {"captions_requested": self.memo.n_requested, "captions_encoded": self.memo.n_encoded,
                "detector_forwards": self.n_forward}

    def _count_tokens(self, phrases: List[str]) -> List[int]:
        return [len(self.processor.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in phrases]

    @torch.no_grad()
    def prepare(self, image: np.ndarray, sample=None) -> Any:
        enc = self.processor.image_processor(images=np.array(image), return_tensors="pt")
        return {"pixel_values": enc["pixel_values"].to(self.device),
                "pixel_mask": enc["pixel_mask"].to(self.device) if "pixel_mask" in enc else None,
                "size": tuple(image.shape[:2])}

    @torch.no_grad()
    def detect(self, state: Any, query: TextQuery) -> List[Boxes]:
        if not len(query):
            return []
        phrases = [" ".join(p.lower().split()).rstrip(" .") for p in query.phrases]
        counts = self.token_counts.get(phrases)
        groups = pack_captions(phrases, counts, self.max_text_len, query.mode == "referring")
        captions, spans = [], []
        for g in groups:
            text, sp = "", []
            for i in g:
                sp.append((len(text), len(text) + len(phrases[i])))
                text += phrases[i] + " . "
            captions.append(text.strip())
            spans.append(sp)
        tok = self.processor.tokenizer(captions, padding="longest", truncation=True, max_length=self.max_text_len,
                                       return_offsets_mapping=True, return_tensors="pt")
        offsets = tok.pop("offset_mapping").numpy()
        tok = {k: v.to(self.device) for k, v in tok.items()}
        n = len(captions)
        pix = state["pixel_values"].expand(n, *state["pixel_values"].shape[1:])
        mask = state["pixel_mask"].expand(n, *state["pixel_mask"].shape[1:]) if state["pixel_mask"] is not None else None
        out = self.model(pixel_values=pix, pixel_mask=mask, **tok)
        self.n_forward += 1
        probs = out.logits.sigmoid().float().cpu().numpy()  # (n, Q, max_text_len)
        h, w = state["size"]
        cx, cy, bw, bh = np.moveaxis(out.pred_boxes.float().cpu().numpy(), -1, 0)
        boxes = np.stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], axis=-1)
        result: List[Boxes] = [Boxes.empty() for _ in phrases]
        for c, g in enumerate(groups):
            starts, ends = offsets[c, :, 0], offsets[c, :, 1]
            for (a, b), i in zip(spans[c], g):
                tokens = np.flatnonzero((starts >= a) & (ends <= b) & (ends > starts))
                tokens = tokens[tokens < probs.shape[2]]
                if not len(tokens):  # truncated away: no score for this phrase
                    continue
                score = probs[c][:, tokens].mean(axis=1).astype(np.float64)
                order = np.argsort(-score, kind="stable")
                result[i] = Boxes(boxes[c][order].astype(np.float64), score[order])
        return result


@DETECTORS.register("grounding-dino", "Grounding DINO (transformers GroundingDinoForObjectDetection folder)")
def _grounding_dino(checkpoint=None, device=None):
    return GroundingDetector(checkpoint, device, mm=False)


@DETECTORS.register("mm-grounding-dino", "MM-Grounding-DINO (transformers MMGroundingDinoForObjectDetection folder)")
def _mm_grounding_dino(checkpoint=None, device=None):
    return GroundingDetector(checkpoint, device, mm=True)


# ---------------------------------------------------------------------------------------------
# OWLv2
# ---------------------------------------------------------------------------------------------

class Owlv2Detector(Detector):
    """OWLv2 through transformers (see the module docstring)."""

    name = "owlv2"

    def __init__(self, checkpoint, device: torch.device):
        from transformers import AutoProcessor, Owlv2ForObjectDetection

        self.device = device
        self.model, self.processor, self.info = load_hf_folder(checkpoint, Owlv2ForObjectDetection, AutoProcessor,
                                                               device, "OWLv2")
        self.weights = self.info["weights"]
        self.text_len = int(self.model.config.text_config.max_position_embeddings)
        self.text_cache = PhraseCache(self._encode_phrases)
        self.n_class_calls = 0

    def fingerprint(self) -> Dict[str, Any]:
        fp = super().fingerprint()
        fp.update({k: self.info[k] for k in ("checkpoint", "checkpoint_sha256", "weight_files", "config_files",
                                              "class")})
        return fp

    def stats(self) -> Dict[str, int]:
        return dict(self.text_cache.stats(), class_head_calls=self.n_class_calls)

    @torch.no_grad()
    def _encode_phrases(self, phrases: List[str]) -> List[torch.Tensor]:
        tok = self.processor.tokenizer(list(phrases), padding="max_length", max_length=self.text_len,
                                       truncation=True, return_tensors="pt").to(self.device)
        emb = self.model.owlv2.get_text_features(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
        return list(emb.pooler_output)

    @torch.no_grad()
    def prepare(self, image: np.ndarray, sample=None) -> Any:
        pixels = self.processor.image_processor(images=np.array(image), return_tensors="pt")["pixel_values"].to(self.device)
        feature_map = self.model.image_embedder(pixel_values=pixels)[0]
        b, gh, gw, d = feature_map.shape
        feats = feature_map.reshape(b, gh * gw, d)
        boxes = self.model.box_predictor(feats, feature_map)[0].float().cpu().numpy()  # (N, 4) cxcywh of the square
        side = float(max(image.shape[:2]))
        cx, cy, bw, bh = boxes.T
        xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1) * side
        return {"feats": feats, "boxes": xyxy.astype(np.float64)}

    @torch.no_grad()
    def detect(self, state: Any, query: TextQuery) -> List[Boxes]:
        if not len(query):
            return []
        q = torch.stack(self.text_cache.get(list(query.phrases)))[None]  # (1, P, D)
        logits, _ = self.model.class_predictor(state["feats"], q, torch.ones(q.shape[:2], dtype=torch.bool,
                                                                                device=q.device))
        self.n_class_calls += 1
        scores = logits[0].sigmoid().float().cpu().numpy().T.astype(np.float64)  # (P, N)
        out = []
        for row in scores:
            order = np.argsort(-row, kind="stable")
            out.append(Boxes(state["boxes"][order], row[order]))
        return out


@DETECTORS.register("owlv2", "OWLv2 (transformers Owlv2ForObjectDetection folder)")
def _owlv2(checkpoint=None, device=None):
    return Owlv2Detector(checkpoint, device)


# ---------------------------------------------------------------------------------------------
# precomputed detections
# ---------------------------------------------------------------------------------------------

def _phrase_key(text: str) -> str:
    return " ".join(str(text).lower().split())


class PrecomputedDetector(Detector):
    """A detections file in COCO results format (see the module docstring)."""

    name = "precomputed"
    weights = "trained"

    def __init__(self, path):
        from ..detections import read_detections_list

        self.path = Path(path).expanduser()
        data = read_detections_list(self.path, "{image_id, bbox, score, phrase|category_id}")
        self.sha256 = sha256_file(self.path)
        self.skipped: Counter = Counter()
        self.by_phrase: Dict[Tuple[str, str], List[Tuple[List[float], float]]] = defaultdict(list)
        self.by_category: Dict[Tuple[str, int], List[Tuple[List[float], float]]] = defaultdict(list)
        for d in data:
            reason = self._add(d)
            if reason:
                self.skipped[reason] += 1
        self.n_entries = len(data)

    def _add(self, d) -> Optional[str]:
        """File the entry under its phrase and/or category; the reason it is skipped, else None."""
        from ..detections import category_of, check_entry

        reason, key, box, score = check_entry(d)
        if reason:
            return reason
        cat, phrase = category_of(d), d.get("phrase")
        if cat is not None:
            self.by_category[(key, cat)].append((box, score))
        if isinstance(phrase, str) and phrase.strip():
            self.by_phrase[(key, _phrase_key(phrase))].append((box, score))
        elif cat is None:
            return "malformed entry (no phrase or category_id)"
        return None

    def label(self) -> str:
        return f"detections:{self.path.name}"

    def fingerprint(self) -> Dict[str, Any]:
        fp = super().fingerprint()
        fp.update({"file": str(self.path.resolve()), "sha256": self.sha256, "n_entries": self.n_entries,
                   "n_skipped": int(sum(self.skipped.values())), "skipped_by_reason": dict(self.skipped)})
        return fp

    def prepare(self, image: np.ndarray, sample=None) -> Any:
        if sample is None:
            raise ValueError("precomputed detections are matched by image id: the sample is needed at encode time")
        return {"image_id": str(sample.image_id), "size": tuple(image.shape[:2])}

    def detect(self, state: Any, query: TextQuery) -> List[Boxes]:
        out = []
        for p, phrase in enumerate(query.phrases):
            cat = query.category_ids[p] if query.category_ids is not None else None
            entries = (self.by_category.get((state["image_id"], int(cat)), []) if cat is not None
                       else self.by_phrase.get((state["image_id"], _phrase_key(phrase)), []))
            if not entries:
                out.append(Boxes.empty())
                continue
            xywh = np.array([e[0] for e in entries], dtype=np.float64)
            score = np.array([e[1] for e in entries], dtype=np.float64)
            xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
            order = np.argsort(-score, kind="stable")
            out.append(Boxes(xyxy[order], score[order]))
        return out


@DETECTORS.register("precomputed", "a detections json in COCO results format (phrase or category_id per box)")
def _precomputed(checkpoint=None, device=None):
    if checkpoint is None:
        raise ValueError("--detector precomputed needs --detector-checkpoint FILE (or use --detections FILE)")
    return PrecomputedDetector(checkpoint)
