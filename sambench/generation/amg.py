"""Automatic mask generation from a regular grid of point prompts, for any ``PromptableModel``.

The recipe of Segment Anything's ``SamAutomaticMaskGenerator`` (without image crops), written
against the model-agnostic interface of :mod:`sambench.models.base` so every adapter can use it:

1. a regular ``n x n`` grid of points (cell centres, ``build_point_grid``) scaled to the image;
2. the points are decoded ``points_per_batch`` at a time against ONE image embedding, each as a
   single positive click, with multimask output (K masks per point, K = 3 for SAM) or not;
3. per batch: optional predicted-IoU filter (keep ``iou > pred_iou_thresh``) first, on the
   decoder's low-resolution output when the model can defer the upscaling
   (``PromptableModel.decode_low_res``), so only the survivors are brought to full resolution;
   then, on the survivors, stability score
   (IoU of the masks thresholded at ``mask_threshold + offset`` and ``mask_threshold - offset``),
   optional stability filter (keep ``score >= stability_score_thresh``), binarisation at the
   model's ``mask_threshold``, boxes (xyxy), empty masks dropped; then the full-resolution masks
   are reduced to what the caller keeps (RLEs, the logits, and/or a per-mask payload computed by
   ``mask_fn``, e.g. a sparse edge contribution) before the next batch is decoded, so memory stays
   bounded by one batch whatever the grid size;
4. after all batches: box NMS (``torchvision.ops.batched_nms``, one class; scores = ``nms_score``);
5. optional ranking (``rank_by``: predicted IoU, stability, their mean, or a seeded random order)
   and a cap (``max_masks``).

Presets: :meth:`AmgConfig.segment_anything` (the released generator's defaults),
:meth:`AmgConfig.edges` (paper App. D.2), :meth:`AmgConfig.proposals` and
:meth:`AmgConfig.proposals_single_output` (paper §7.3 / App. D.3 and the authors' guidance in
segment-anything issue 205).

The grid, stability score, boxes and NMS are in :mod:`sambench.generation.mask_ops`.

Box convention (as segment-anything): ``[x0, y0, x1, y1]`` are the column/row indices of the
extreme mask pixels (inclusive), so a mask's box is ``x1 - x0 + 1`` pixels wide.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from sambench import masks as mask_utils
from sambench.models.base import ImageEmbedding, PromptableModel, PromptBatch, UnsupportedPromptError

from .mask_ops import box_nms, build_point_grid, count_pixels, grid_points, masks_to_boxes, stability_score

if TYPE_CHECKING:  # annotations only
    import torch

__all__ = [
    "AmgConfig",
    "MaskProposals",
    "build_point_grid",
    "grid_points",
    "stability_score",
    "masks_to_boxes",
    "box_nms",
    "rank_order",
    "check_model",
    "generate_masks",
    "RANKINGS",
    "NMS_SCORES",
]

RANKINGS = ("none", "pred_iou", "stability", "mean_iou_stability", "random")
"""Orders of the output: ``none`` keeps the NMS order (decreasing NMS score)."""
NMS_SCORES = ("pred_iou", "stability", "mean_iou_stability", "random")
"""Scores NMS prefers when two boxes overlap (segment-anything: predicted IoU; ``random``: a seeded
uniform score per mask, for a model without an IoU prediction to rank by, paper App. D.3)."""

MaskFn = Callable[["torch.Tensor", "torch.Tensor"], Sequence[Any]]


@dataclass(frozen=True)
class AmgConfig:
    """Every parameter of the grid-of-points generator (all recorded by ``to_dict``).

    Attributes:
      points_per_side: grid size n (n x n points, cell centres); None when ``point_grid`` is given.
      point_grid: explicit points as ((x, y), ...) in [0, 1] image-relative coordinates.
      points_per_batch: points per decoder call (memory; results do not depend on it up to float noise).
      multimask: ask for the model's K masks per point (SAM: 3); False = one mask per point.
      pred_iou_thresh: keep masks whose predicted IoU is > this; 0 disables the filter.
      stability_score_thresh: keep masks whose stability score is >= this; 0 disables the filter.
      stability_score_offset: logit offset of the stability score (computed even when not filtering).
      box_nms_thresh: box IoU above which the lower-scored mask is removed; None disables NMS.
      nms_score: score NMS prefers (``NMS_SCORES``).
      drop_empty: drop masks with no pixel above the threshold (their box is undefined).
      rank_by: order of the output after NMS (``RANKINGS``).
      max_masks: keep the first ``max_masks`` after ranking; None keeps all.
      keep_rles: store each kept mask as COCO RLE.
      keep_logits: store each kept mask's full-resolution logits (N x H x W float32; memory!).
    """

    points_per_side: Optional[int] = 32
    point_grid: Optional[Tuple[Tuple[float, float], ...]] = None
    points_per_batch: int = 64
    multimask: bool = True
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    box_nms_thresh: Optional[float] = 0.7
    nms_score: str = "pred_iou"
    drop_empty: bool = True
    rank_by: str = "none"
    max_masks: Optional[int] = None
    keep_rles: bool = True
    keep_logits: bool = False

    def __post_init__(self):
        if (self.points_per_side is None) == (self.point_grid is None):
            raise ValueError("AmgConfig: give exactly one of points_per_side and point_grid")
        if self.points_per_side is not None and int(self.points_per_side) < 1:
            raise ValueError(f"AmgConfig: points_per_side must be >= 1, got {self.points_per_side}")
        if self.point_grid is not None:
            grid = tuple((float(x), float(y)) for x, y in self.point_grid)
            if not grid or any(not (0.0 <= v <= 1.0) for p in grid for v in p):
                raise ValueError("AmgConfig: point_grid must be a non-empty list of (x, y) in [0, 1]")
            object.__setattr__(self, "point_grid", grid)
        if int(self.points_per_batch) < 1:
            raise ValueError(f"AmgConfig: points_per_batch must be >= 1, got {self.points_per_batch}")
        if self.box_nms_thresh is not None and not 0.0 <= float(self.box_nms_thresh) <= 1.0:
            raise ValueError(f"AmgConfig: box_nms_thresh must be in [0, 1] or None, got {self.box_nms_thresh}")
        if self.nms_score not in NMS_SCORES:
            raise ValueError(f"AmgConfig: nms_score '{self.nms_score}': expected one of {', '.join(NMS_SCORES)}")
        if self.rank_by not in RANKINGS:
            raise ValueError(f"AmgConfig: rank_by '{self.rank_by}': expected one of {', '.join(RANKINGS)}")
        if self.max_masks is not None and int(self.max_masks) < 0:
            raise ValueError(f"AmgConfig: max_masks must be >= 0 or None, got {self.max_masks}")

    # -- presets ------------------------------------------------------------------------------
    @classmethod
    def segment_anything(cls, **overrides) -> "AmgConfig":
        """The released ``SamAutomaticMaskGenerator`` defaults (32x32, IoU 0.88, stability 0.95, NMS 0.7)."""
        return replace(cls(), **overrides)

    @classmethod
    def edges(cls, **overrides) -> "AmgConfig":
        """Paper App. D.2: 16x16 grid, 3 masks per point (768), no IoU/stability filtering, NMS 0.7."""
        base = cls(points_per_side=16, points_per_batch=64, multimask=True, pred_iou_thresh=0.0,
                   stability_score_thresh=0.0, stability_score_offset=1.0, box_nms_thresh=0.7,
                   nms_score="pred_iou", drop_empty=True, rank_by="none", max_masks=None,
                   keep_rles=False, keep_logits=False)
        return replace(base, **overrides)

    @classmethod
    def proposals(cls, **overrides) -> "AmgConfig":
        """Paper §7.3 (object proposals): 64x64 grid, multimask, no filtering, NMS 0.9, rank by the
        mean of predicted IoU and stability score, top 1000."""
        base = cls(points_per_side=64, points_per_batch=64, multimask=True, pred_iou_thresh=0.0,
                   stability_score_thresh=0.0, stability_score_offset=1.0, box_nms_thresh=0.9,
                   nms_score="pred_iou", drop_empty=True, rank_by="mean_iou_stability", max_masks=1000,
                   keep_rles=True, keep_logits=False)
        return replace(base, **overrides)

    @classmethod
    def proposals_single_output(cls, **overrides) -> "AmgConfig":
        """Paper §7.3 single-output variant: 128x128 grid, one mask per point, NMS 0.95, random
        ranking for NMS and for the output (App. D.3: no IoU score to rank by), top 1000."""
        settings = dict(points_per_side=128, multimask=False, box_nms_thresh=0.95, nms_score="random",
                        rank_by="random")
        settings.update(overrides)
        return cls.proposals(**settings)

    # -- record -------------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON-able dict (for run configs)."""
        d = asdict(self)
        if d["point_grid"] is not None:
            d["point_grid"] = [list(p) for p in d["point_grid"]]
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "AmgConfig":
        """Inverse of ``to_dict`` (unknown keys are an error)."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"AmgConfig: unknown parameters {sorted(unknown)}")
        d = dict(d)
        if d.get("point_grid") is not None:
            d["point_grid"] = tuple(tuple(p) for p in d["point_grid"])
        return cls(**d)

    def grid(self) -> np.ndarray:
        """The (P, 2) normalised grid this config prompts with."""
        if self.point_grid is not None:
            return np.asarray(self.point_grid, dtype=np.float64).reshape(-1, 2)
        return build_point_grid(int(self.points_per_side))


def rank_order(pred_iou: np.ndarray, stability: np.ndarray, method: str,
               rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """Indices ordering masks by ``method`` (``RANKINGS``), best first; ties keep the input order."""
    n = len(pred_iou)
    if method == "none":
        return np.arange(n)
    if method == "random":
        rng = rng if rng is not None else np.random.default_rng(0)
        return rng.permutation(n)
    score = _score(pred_iou, stability, method)
    return np.argsort(-score, kind="stable")


def _score(pred_iou: np.ndarray, stability: np.ndarray, method: str) -> np.ndarray:
    if method == "pred_iou":
        return np.asarray(pred_iou, dtype=np.float64)
    if method == "stability":
        return np.asarray(stability, dtype=np.float64)
    if method == "mean_iou_stability":
        return (np.asarray(pred_iou, dtype=np.float64) + np.asarray(stability, dtype=np.float64)) / 2.0
    raise ValueError(f"unknown score '{method}'")


def check_model(model: PromptableModel, config: AmgConfig) -> None:
    """Raise UnsupportedPromptError if ``model`` cannot be prompted as ``config`` asks."""
    caps = model.capabilities
    if not caps.points:
        raise UnsupportedPromptError(f"model '{model.name}' takes no point prompts; the grid-of-points "
                                     f"generator needs them")
    if config.multimask and not caps.multimask:
        raise UnsupportedPromptError(f"model '{model.name}' has no multimask output; use the single-output "
                                     f"setting (multimask=False)")


# ---------------------------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------------------------

@dataclass
class MaskProposals:
    """The masks the generator kept for one image, in output order.

    Attributes:
      image_size: (H, W).
      boxes: (N, 4) float32 xyxy, inclusive pixel indices (see module docstring).
      pred_iou: (N,) the model's predicted IoU.
      stability: (N,) stability score.
      points: (N, 2) float64 (x, y) pixel coordinates of the prompting point.
      point_index: (N,) index of that point in the grid.
      output_index: (N,) which of the K outputs of that point.
      areas: (N,) mask areas in pixels.
      rles: COCO RLEs (``keep_rles``) or None.
      logits: (N, H, W) float32 CPU tensor (``keep_logits``) or None.
      payloads: what ``mask_fn`` returned for each mask, or None.
      counts: masks left after each stage: points, generated, after_pred_iou, after_stability,
        after_empty, after_nms, kept.
    """

    image_size: Tuple[int, int]
    boxes: np.ndarray
    pred_iou: np.ndarray
    stability: np.ndarray
    points: np.ndarray
    point_index: np.ndarray
    output_index: np.ndarray
    areas: np.ndarray
    rles: Optional[List[dict]] = None
    logits: Optional[torch.Tensor] = None
    payloads: Optional[List[Any]] = None
    counts: Dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(len(self.pred_iou))

    def select(self, index: np.ndarray) -> "MaskProposals":
        """The proposals at ``index`` (an integer array), in that order."""
        idx = np.asarray(index, dtype=np.int64)
        torch = sys.modules.get("torch")  # present whenever logits were kept
        pick = lambda lst: None if lst is None else [lst[i] for i in idx]  # noqa: E731
        return MaskProposals(
            image_size=self.image_size, boxes=self.boxes[idx], pred_iou=self.pred_iou[idx],
            stability=self.stability[idx], points=self.points[idx], point_index=self.point_index[idx],
            output_index=self.output_index[idx], areas=self.areas[idx], rles=pick(self.rles),
            logits=None if self.logits is None else self.logits[torch.as_tensor(idx)],
            payloads=pick(self.payloads), counts=dict(self.counts))

    def masks(self) -> np.ndarray:
        """(N, H, W) boolean masks, decoded from the RLEs (or thresholded logits at 0 when only logits were kept)."""
        h, w = self.image_size
        if self.rles is not None:
            return np.stack([mask_utils.decode(r) for r in self.rles]) if self.rles else np.zeros((0, h, w), bool)
        raise ValueError("these proposals kept no RLEs (AmgConfig.keep_rles=False)")

    def scores(self, method: str = "mean_iou_stability") -> np.ndarray:
        """A per-mask score: pred_iou, stability or mean_iou_stability."""
        return _score(self.pred_iou, self.stability, method)

    def to_records(self) -> List[Dict[str, Any]]:
        """One dict per mask, in the layout of segment-anything's generator (bbox in XYWH)."""
        out = []
        for i in range(len(self)):
            x0, y0, x1, y1 = (float(v) for v in self.boxes[i])
            rec = {"bbox": [x0, y0, x1 - x0, y1 - y0], "area": int(self.areas[i]),
                   "predicted_iou": float(self.pred_iou[i]), "stability_score": float(self.stability[i]),
                   "point_coords": [[float(self.points[i, 0]), float(self.points[i, 1])]]}
            if self.rles is not None:
                rec["segmentation"] = self.rles[i]
            out.append(rec)
        return out


def _empty(image_size, counts, config: AmgConfig, with_payloads: bool) -> MaskProposals:
    import torch

    z = np.zeros(0)
    h, w = image_size
    return MaskProposals(image_size=(h, w), boxes=np.zeros((0, 4), np.float32), pred_iou=z.astype(np.float32),
                         stability=z.astype(np.float32), points=np.zeros((0, 2)), point_index=z.astype(np.int64),
                         output_index=z.astype(np.int64), areas=z.astype(np.int64),
                         rles=[] if config.keep_rles else None,
                         logits=torch.zeros((0, h, w)) if config.keep_logits else None,
                         payloads=[] if with_payloads else None, counts=counts)


def generate_masks(model: PromptableModel, embedding: ImageEmbedding, config: AmgConfig,
                   mask_fn: Optional[MaskFn] = None, seed: Optional[int] = None,
                   rng: Optional[np.random.Generator] = None) -> MaskProposals:
    """Masks of one image from a grid of single-point prompts (see module docstring).

    Arguments:
      model: any PromptableModel with point prompts (and multimask output if ``config.multimask``).
      embedding: ``model.encode(image)`` (encoded once, decoded for every batch of points).
      config: the generator's parameters.
      mask_fn: optional ``mask_fn(logits (n, H, W), masks (n, H, W) bool) -> n payloads``, called on
        each batch's masks that pass the filters (before NMS) while the full-resolution logits
        are in memory; the payloads of the kept masks come back in ``MaskProposals.payloads``.
      seed, rng: randomness of ``nms_score="random"`` and ``rank_by="random"`` (``rng`` wins; default seed 0).
    Returns:
      MaskProposals in output order.
    """
    import torch  # here, not at import: code that only reads results needs no torch

    with torch.no_grad():
        return _generate_masks(model, embedding, config, mask_fn, seed, rng)


def _generate_masks(model, embedding, config: AmgConfig, mask_fn, seed, rng) -> MaskProposals:
    import torch

    check_model(model, config)
    h, w = (int(v) for v in embedding.original_size)
    points = grid_points(config.grid(), (h, w))
    thr = float(model.mask_threshold)
    counts = {"points": int(len(points)), "generated": 0, "after_pred_iou": 0, "after_stability": 0,
              "after_empty": 0}
    parts: Dict[str, list] = {k: [] for k in ("boxes", "pred_iou", "stability", "points", "point_index",
                                              "output_index", "areas")}
    rles: List[dict] = []
    logits_kept: List[torch.Tensor] = []
    payloads: List[Any] = []
    bs = int(config.points_per_batch)
    for start in range(0, len(points), bs):
        pts = points[start:start + bs]
        prompts = PromptBatch(point_coords=pts[:, None, :], point_labels=np.ones((len(pts), 1), dtype=np.int64))
        pred = model.decode_low_res(embedding, prompts, config.multimask)
        shape = tuple((pred.logits if pred.logits is not None else pred.low_res_logits).shape)
        if len(shape) != 4 or (pred.logits is not None and shape[-2:] != (h, w)):
            raise ValueError(f"model '{model.name}' returned logits of shape {shape}, expected (B, K, {h}, {w})")
        b, k = shape[:2]
        device = (pred.logits if pred.logits is not None else pred.low_res_logits).device
        ious = pred.iou_predictions.reshape(b * k).float().to(device)
        pidx = torch.arange(start, start + b, device=device).repeat_interleave(k)
        oidx = torch.arange(k, device=device).repeat(b)
        counts["generated"] += b * k
        # 1. the predicted-IoU filter, before any full-resolution work (as segment-anything's generator)
        if config.pred_iou_thresh > 0.0:
            sel = torch.nonzero(ious > config.pred_iou_thresh).flatten()
            ious, pidx, oidx = ious[sel], pidx[sel], oidx[sel]
        n = len(ious)
        counts["after_pred_iou"] += n
        if pred.logits is not None:
            logits = pred.logits.reshape(b * k, h, w)
            logits = (logits if n == b * k else logits[sel]).float()
        elif n:  # only the survivors are upscaled to the original size
            low = pred.low_res_logits.reshape(b * k, 1, *shape[-2:])
            logits = model.upscale_logits(embedding, low if n == b * k else low[sel]).reshape(n, h, w).float()
        else:
            logits = torch.zeros((0, h, w), device=device)
        del pred
        # 2. stability score and filter, 3. binarisation, areas, empty masks, on the survivors only
        stab = stability_score(logits, thr, config.stability_score_offset)
        keep = torch.ones(n, dtype=torch.bool, device=device)
        if config.stability_score_thresh > 0.0:
            keep &= stab >= config.stability_score_thresh
        counts["after_stability"] += int(keep.sum())
        masks = logits > thr
        areas = count_pixels(masks)
        if config.drop_empty:
            keep &= areas > 0
        counts["after_empty"] += int(keep.sum())
        sel = torch.nonzero(keep).flatten()
        if len(sel) == 0:
            continue
        logits, masks = logits[sel], masks[sel]
        parts["boxes"].append(masks_to_boxes(masks).cpu().numpy())
        parts["pred_iou"].append(ious[sel].cpu().numpy())
        parts["stability"].append(stab[sel].cpu().numpy())
        parts["point_index"].append(pidx[sel].cpu().numpy())
        parts["output_index"].append(oidx[sel].cpu().numpy())
        parts["areas"].append(areas[sel].cpu().numpy())
        parts["points"].append(points[pidx[sel].cpu().numpy()])
        if config.keep_rles:
            rles.extend(mask_utils.encode_batch(masks.cpu().numpy()))
        if config.keep_logits:
            logits_kept.append(logits.cpu())
        if mask_fn is not None:
            out = list(mask_fn(logits, masks))
            if len(out) != len(sel):
                raise ValueError(f"mask_fn returned {len(out)} payloads for {len(sel)} masks")
            payloads.extend(out)
        del logits, masks
    if not parts["boxes"]:
        counts.update(after_nms=0, kept=0)
        return _empty((h, w), counts, config, mask_fn is not None)
    props = MaskProposals(
        image_size=(h, w), boxes=np.concatenate(parts["boxes"]).astype(np.float32),
        pred_iou=np.concatenate(parts["pred_iou"]).astype(np.float32),
        stability=np.concatenate(parts["stability"]).astype(np.float32),
        points=np.concatenate(parts["points"]), point_index=np.concatenate(parts["point_index"]).astype(np.int64),
        output_index=np.concatenate(parts["output_index"]).astype(np.int64),
        areas=np.concatenate(parts["areas"]).astype(np.int64),
        rles=rles if config.keep_rles else None,
        logits=torch.cat(logits_kept) if config.keep_logits else None,
        payloads=payloads if mask_fn is not None else None, counts=counts)
    if rng is None:
        rng = np.random.default_rng(0 if seed is None else seed)
    if config.box_nms_thresh is not None:
        nms_scores = rng.random(len(props)) if config.nms_score == "random" else props.scores(config.nms_score)
        keep_idx = box_nms(props.boxes, nms_scores, float(config.box_nms_thresh))
    else:
        keep_idx = np.arange(len(props))
    counts["after_nms"] = int(len(keep_idx))
    props = props.select(keep_idx)
    order = rank_order(props.pred_iou, props.stability, config.rank_by, rng)
    if config.max_masks is not None:
        order = order[: int(config.max_masks)]
    props = props.select(order)
    props.counts = dict(counts, kept=len(props))
    return props
