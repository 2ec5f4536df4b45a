"""Text prompts: the interface of models that answer a phrase with masks, and how routes are composed.

A text-to-mask task (``sambench.tasks.referring``, ``sambench.tasks.text_instances``) sees only
:class:`TextPromptableModel`: it encodes an image once (``encode_batch``, as every model does) and
then asks :meth:`TextPromptableModel.segment_text` for ALL the phrases of that image in one call
(a :class:`TextQuery`), getting one :class:`TextAnswer` per phrase. Two modes:

- ``referring``: each phrase describes one object; the answer holds at most one mask, the
  model's best (referring-expression segmentation: RefCOCO/+/g).
- ``instances``: each phrase names a category; the answer holds every instance the model
  finds, each with a score (open-vocabulary instance segmentation on COCO / LVIS, scored by AP).

Routes (every one a ``TextPromptableModel``):

- text-native: SAM 3 (``sambench.models.text_sam3``);
- detector + promptable model (:class:`DetectorPromptedModel`): an open-vocabulary detector
  (``sambench.models.detectors``: Grounding DINO, MM-Grounding-DINO, OWLv2, or a precomputed
  detections file) gives boxes and scores for each phrase; all boxes of an image prompt any
  box-capable ``PromptableModel`` (SAM, SAM 2, HQ-SAM, ...) in one decoder batch;
- CLIP-ranked automatic masks (``sambench.models.text_clip``);
- :class:`TextOracle`: the ground truth (tests), optionally corrupted in a known way.

:func:`sambench.models.text_routes.compose_text_route` builds the detector and CLIP routes around
a mask model (the command line's ``--detector`` / ``--detections`` / ``--clip``).
:class:`PhraseCache` is how routes compute a text embedding once per distinct phrase per run.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .. import masks as mask_utils
from ..data import Sample
from .base import (Capabilities, ImageEmbedding, Prediction, PromptableModel, PromptBatch, UnsupportedPromptError)
from .oracle import keep_fraction

MODES = ("referring", "instances")
ROUTES = ("text-native", "detector+mask", "clip-ranked-amg", "oracle")


@dataclass
class TextQuery:
    """The text prompts of one image, answered in one call.

    Attributes:
      phrases: B phrases.
      mode: "referring" (at most one mask per phrase: the object it describes) or "instances"
        (every instance of the category the phrase names).
      vocabulary: instances mode: the dataset's whole label space as phrases (``phrases`` is a
        subset); routes that normalise scores across classes (CLIP's softmax) normalise over it,
        so prompting a subset of categories changes no score.
      category_ids: instances mode: the category each phrase names (precomputed detections keyed
        by ``category_id``; the oracle).
      targets: referring mode: the ground-truth instance id each phrase refers to. Only the
        oracle reads it (and a mask model prompted with ground-truth boxes); real routes never do.
      max_per_phrase: instances mode: at most this many instances per phrase (highest scores).
      min_score: instances mode: drop instances scoring below this.
      max_total: instances mode: at most this many instances over all phrases (highest scores), or
        None. A task that keeps only the image's best N masks by score sets it, so routes whose
        score is known before the mask (detector boxes, SAM 3 queries) decode only those N.
    """

    phrases: List[str]
    mode: str = "referring"
    vocabulary: Optional[List[str]] = None
    category_ids: Optional[List[Optional[int]]] = None
    targets: Optional[List[Optional[str]]] = None
    max_per_phrase: int = 100
    min_score: float = 0.0
    max_total: Optional[int] = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"TextQuery mode '{self.mode}': expected one of {', '.join(MODES)}")
        for name in ("category_ids", "targets"):
            v = getattr(self, name)
            if v is not None and len(v) != len(self.phrases):
                raise ValueError(f"TextQuery: {name} has {len(v)} entries for {len(self.phrases)} phrases")

    def __len__(self) -> int:
        return len(self.phrases)


@dataclass
class TextAnswer:
    """A model's answer to one phrase: N instances (N <= 1 in referring mode), best first.

    Attributes:
      rles: N COCO RLEs (str counts) at the image's size.
      scores: (N,) float64, the route's confidence (detector score, SAM 3 score, CLIP similarity...).
      boxes: (N, 4) float64 [x0, y0, x1, y1] in original-image pixels: the detector box that
        prompted the mask, or the model's own box.
    """

    rles: List[dict] = field(default_factory=list)
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))

    def __len__(self) -> int:
        return len(self.rles)


def answers_from_masks(masks: np.ndarray, scores: np.ndarray, boxes: Optional[np.ndarray],
                       owner: Sequence[int], n_phrases: int) -> List[TextAnswer]:
    """Group N masks (N x H x W bool) into one TextAnswer per phrase (``owner[i]`` = phrase of mask i),
    best score first; a mask's box is its tight box when ``boxes`` is None."""
    rles = mask_utils.encode_batch(np.asarray(masks, dtype=bool)) if len(masks) else []
    return answers_from_rles(rles, scores, boxes, owner, n_phrases)


def answers_from_rles(rles: List[dict], scores: np.ndarray, boxes: Optional[np.ndarray],
                      owner: Sequence[int], n_phrases: int) -> List[TextAnswer]:
    """``answers_from_masks`` for masks already run-length encoded."""
    if boxes is None:
        boxes = np.array([mask_box(r) for r in rles], dtype=np.float64).reshape(-1, 4)
    out = [TextAnswer() for _ in range(n_phrases)]
    owner = np.asarray(owner, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    for p in range(n_phrases):
        idx = np.flatnonzero(owner == p)
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        out[p] = TextAnswer([rles[i] for i in idx], scores[idx], np.asarray(boxes, np.float64).reshape(-1, 4)[idx])
    return out


def mask_box(rle: dict) -> List[float]:
    """[x0, y0, x1, y1] of a mask (COCO box, x1 = x0 + w); zeros for an empty mask."""
    x, y, w, h = mask_utils.bbox(rle)
    return [x, y, x + w, y + h]


def select(scores: np.ndarray, mode: str, max_per_phrase: int, min_score: float) -> List[np.ndarray]:
    """Which candidates answer each phrase, from a (P, N) score matrix (phrase x candidate).

    referring: the single best candidate (first on ties); instances: candidates scoring >=
    ``min_score``, the ``max_per_phrase`` best. Returns P index arrays, best first.
    """
    scores = np.asarray(scores, dtype=np.float64)
    out = []
    for row in scores:
        if row.size == 0:
            out.append(np.zeros(0, dtype=np.int64))
            continue
        order = np.argsort(-row, kind="stable")
        if mode == "referring":
            out.append(order[:1])
        else:
            keep = order[row[order] >= min_score]
            out.append(keep[:max(int(max_per_phrase), 0)])
    return out


def cap_total(chosen: List[np.ndarray], scores: List[np.ndarray], max_total: Optional[int]) -> List[np.ndarray]:
    """Keep, over all phrases, the ``max_total`` highest-scored of the selections ``chosen[p]`` (whose
    scores are ``scores[p]``, in the same order); ties go to the earlier phrase, then the earlier rank."""
    n = sum(len(c) for c in chosen)
    if max_total is None or n <= int(max_total):
        return chosen
    flat = sorted((-float(s), p, r) for p, sc in enumerate(scores) for r, s in enumerate(sc))[: int(max_total)]
    keep: Dict[int, List[int]] = {}
    for _, p, r in flat:
        keep.setdefault(p, []).append(r)
    return [np.asarray(c)[sorted(keep.get(p, []))] for p, c in enumerate(chosen)]


class PhraseCache:
    """Text embeddings computed once per distinct phrase per run.

    Arguments:
      encode: maps a list of distinct phrases to one embedding per phrase (one batched call).
    Attributes:
      n_encoded: phrases encoded so far (= distinct phrases seen); n_requested: phrases asked for.
    """

    def __init__(self, encode: Callable[[List[str]], Sequence[Any]]):
        self._encode = encode
        self._table: Dict[str, Any] = {}
        self.n_encoded = 0
        self.n_requested = 0
        self.n_calls = 0

    def get(self, phrases: Sequence[str]) -> List[Any]:
        """One embedding per phrase (the missing distinct ones encoded in one call)."""
        self.n_requested += len(phrases)
        missing = [p for p in dict.fromkeys(phrases) if p not in self._table]
        if missing:
            values = self._encode(missing)
            if len(values) != len(missing):
                raise RuntimeError(f"text encoder returned {len(values)} embeddings for {len(missing)} phrases")
            self._table.update(zip(missing, values))
            self.n_encoded += len(missing)
            self.n_calls += 1
        return [self._table[p] for p in phrases]

    def stats(self) -> Dict[str, int]:
        return {"phrases_requested": self.n_requested, "phrases_encoded": self.n_encoded, "encoder_calls": self.n_calls}


def worst_weights(*kinds: str) -> str:
    """What a composite's numbers mean: the least trained of its parts."""
    for kind in ("oracle", "untrained", "weight-free"):
        if kind in kinds:
            return kind
    return "trained"


class TextPromptableModel(PromptableModel):
    """A model that answers text prompts with masks (see the module docstring).

    Subclasses set ``name``, ``route`` (one of ``ROUTES``), ``weights`` and implement ``encode`` /
    ``encode_batch`` and :meth:`segment_text`. They take no geometric prompts unless they say so.
    """

    route: str = "text-native"
    capabilities = Capabilities(points=False, negative_points=False, boxes=False)

    @abstractmethod
    def segment_text(self, embedding: ImageEmbedding, query: TextQuery) -> List[TextAnswer]:
        """Answer every phrase of ``query`` against one image embedding.

        Returns:
          one TextAnswer per phrase, in order (referring mode: at most one mask each).
        """

    def decode(self, embedding: ImageEmbedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        raise UnsupportedPromptError(f"model '{self.name}' answers text prompts only")

    def text_stats(self) -> Dict[str, int]:
        """Counters for benchmarks (phrases encoded, decoder calls, ...)."""
        return {}

    def fingerprint(self) -> dict:
        fp = super().fingerprint()
        fp["route"] = self.route
        return fp


# ---------------------------------------------------------------------------------------------
# detector + promptable model
# ---------------------------------------------------------------------------------------------

class DetectorPromptedModel(TextPromptableModel):
    """An open-vocabulary detector's boxes prompting a box-capable mask model.

    Per image: the detector answers all phrases at once (``Detector.detect``); referring mode
    keeps each phrase's best box, instances mode its boxes with score >= ``query.min_score``
    (at most ``query.max_per_phrase`` per phrase, ``query.max_total`` in all); the kept boxes of
    the image prompt the mask model in one decoder call of up to ``max_batch`` boxes (more boxes:
    several calls, to bound memory; the masks do not change), one mask per box (multimask off),
    binarised at the mask model's threshold and turned into RLE call by call. Each mask keeps its
    box's score; the answer's box is the detector's.

    Arguments:
      detector: a ``sambench.models.detectors.Detector``.
      mask_model: any PromptableModel with box prompts.
      max_batch: boxes per decoder call (default 256); 0 = all boxes of an image in one call.
    """

    route = "detector+mask"

    def __init__(self, detector, mask_model: PromptableModel, max_batch: int = 256):
        if not mask_model.capabilities.boxes:
            raise UnsupportedPromptError(f"model '{mask_model.name}' takes no box prompts; the detector route "
                                         f"needs a box-capable model (SAM, SAM 2, HQ-SAM, ...)")
        self.detector = detector
        self.mask_model = mask_model
        self.max_batch = int(max_batch)
        self.name = f"{mask_model.name}+{detector.name}"
        self.weights = worst_weights(mask_model.weights, detector.weights)
        self.device = mask_model.device  # every PromptableModel has one (its class default: "cpu")
        self.mask_threshold = mask_model.mask_threshold
        self.capabilities = mask_model.capabilities  # ground-truth-box prompts go straight to the mask model
        self.n_decoder_calls = 0

    def label(self) -> str:
        return f"{self.mask_model.label()} + {self.detector.label()}"

    def fingerprint(self) -> dict:
        inner = self.mask_model.fingerprint()
        return {"name": self.name, "architecture": f"{inner.get('architecture')}+{self.detector.name}",
                "route": self.route, "checkpoint": inner.get("checkpoint"),
                "checkpoint_sha256": inner.get("checkpoint_sha256"), "weights": self.weights, "label": self.label(),
                "mask_model": inner, "detector": self.detector.fingerprint(), "max_batch": self.max_batch}

    def encode_batch(self, images, samples=None) -> List[ImageEmbedding]:
        samples = list(samples) if samples is not None else [None] * len(images)
        inner = self.mask_model.encode_batch(images, samples)
        return [ImageEmbedding(original_size=e.original_size,
                               features={"mask": e, "detector": self.detector.prepare(im, s)})
                for im, s, e in zip(images, samples, inner)]

    def encode(self, image: np.ndarray, sample: Optional[Sample] = None) -> ImageEmbedding:
        return self.encode_batch([image], [sample])[0]

    def decode(self, embedding: ImageEmbedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        return self.mask_model.decode(embedding.features["mask"], prompts, multimask)

    def segment_text(self, embedding: ImageEmbedding, query: TextQuery) -> List[TextAnswer]:
        dets = self.detector.detect(embedding.features["detector"], query)
        chosen = select_rows(dets, query)
        chosen = cap_total(chosen, [d.scores[c] for d, c in zip(dets, chosen)], query.max_total)
        boxes = np.concatenate([d.boxes[c] for d, c in zip(dets, chosen)] + [np.zeros((0, 4))]).reshape(-1, 4)
        score = np.concatenate([d.scores[c] for d, c in zip(dets, chosen)] + [np.zeros(0)])
        owner = np.concatenate([np.full(len(c), p) for p, c in enumerate(chosen)] + [np.zeros(0)]).astype(np.int64)
        rles = self._decode_boxes(embedding, boxes)
        return answers_from_rles(rles, score, boxes, owner, len(query))

    def _decode_boxes(self, embedding: ImageEmbedding, boxes: np.ndarray) -> List[dict]:
        if not len(boxes):
            return []
        step = self.max_batch if self.max_batch > 0 else len(boxes)
        rles: List[dict] = []
        for start in range(0, len(boxes), step):
            pred = self.mask_model.decode(embedding.features["mask"], PromptBatch(boxes=boxes[start:start + step]),
                                          multimask=False)
            self.n_decoder_calls += 1
            rles += mask_utils.encode_batch((pred.logits[:, 0] > self.mask_model.mask_threshold).cpu().numpy())
        return rles

    def text_stats(self) -> Dict[str, int]:
        return dict(self.detector.stats(), mask_decoder_calls=self.n_decoder_calls)


def select_rows(dets, query: TextQuery) -> List[np.ndarray]:
    """Per phrase, the indices of its detections that answer ``query`` (``select`` on each phrase's scores)."""
    return [select(d.scores[None, :], query.mode, query.max_per_phrase, query.min_score)[0] for d in dets]


# ---------------------------------------------------------------------------------------------
# oracle
# ---------------------------------------------------------------------------------------------

class TextOracle(TextPromptableModel):
    """The ground truth as the answer to text prompts (tests), optionally corrupted in a known way.

    Referring mode: the target instance's mask (``query.targets``). Instances mode: every non-crowd
    ground-truth instance of the phrase's category (``query.category_ids``), score 1.

    Arguments:
      keep: keep the first ``floor(keep * area)`` pixels of each mask (row-major): IoU = that / area.
      keep_pixels: keep at most this many first pixels of each mask: IoU = min(n, area) / area
        (large objects lose more, so mIoU and cIoU differ in a known way). 0 = off.
    """

    name = "text-oracle"
    weights = "oracle"
    route = "oracle"
    capabilities = Capabilities(points=False, negative_points=False, boxes=False)

    def __init__(self, keep: float = 1.0, keep_pixels: int = 0):
        if not 0.0 <= float(keep) <= 1.0 or int(keep_pixels) < 0:
            raise ValueError(f"text-oracle keep={keep} keep_pixels={keep_pixels}: expected keep in [0, 1] and "
                             f"keep_pixels >= 0")
        self.keep = float(keep)
        self.keep_pixels = int(keep_pixels)

    def fingerprint(self) -> dict:
        fp = super().fingerprint()
        fp["corruption"] = {"keep": self.keep, "keep_pixels": self.keep_pixels}
        return fp

    def encode(self, image: np.ndarray, sample: Optional[Sample] = None) -> ImageEmbedding:
        if sample is None:
            raise ValueError("the text oracle needs the sample (ground truth) at encode time")
        return ImageEmbedding(original_size=image.shape[:2], features={"instances": list(sample.instances)})

    def _corrupt(self, mask: np.ndarray) -> np.ndarray:
        if self.keep < 1.0:
            mask = keep_fraction(mask, self.keep)
        if self.keep_pixels:
            flat = mask.reshape(-1)
            idx = np.flatnonzero(flat)[: self.keep_pixels]
            out = np.zeros_like(flat)
            out[idx] = True
            mask = out.reshape(mask.shape)
        return mask

    def segment_text(self, embedding: ImageEmbedding, query: TextQuery) -> List[TextAnswer]:
        insts = embedding.features["instances"]
        by_id = {i.id: i for i in insts}
        out = []
        for p in range(len(query)):
            if query.mode == "referring":
                target = by_id.get(query.targets[p]) if query.targets is not None else None
                chosen = [target] if target is not None else []
            else:
                cat = query.category_ids[p] if query.category_ids is not None else None
                chosen = [i for i in insts if not i.iscrowd and cat is not None and i.category_id == cat]
            masks = [self._corrupt(i.mask()) for i in chosen][: max(int(query.max_per_phrase), 1)]
            rles = [mask_utils.encode(m) for m in masks]
            out.append(TextAnswer(rles, np.ones(len(rles)), np.array([mask_box(r) for r in rles]).reshape(-1, 4)))
        return out
