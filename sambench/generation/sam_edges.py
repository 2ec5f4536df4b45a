"""Edge maps from a promptable model, the Segment Anything paper's recipe (App. D.2).

1. Automatic masks from a 16 x 16 grid of single-point prompts, 3 masks per point (768 masks),
   no predicted-IoU or stability filtering, duplicates removed by box NMS at IoU 0.7
   (:meth:`sambench.generation.amg.AmgConfig.edges`).
2. For every mask: the unthresholded probability map ``sigmoid(logits - mask_threshold)`` (SAM's
   threshold is 0, so this is the sigmoid of the logits); its Sobel gradient magnitude; set to
   zero everywhere except on the mask's *outer boundary pixels* (default: the pixels outside the
   binary mask that touch it in a 3 x 3 neighbourhood, ``dilate(mask) & ~mask``; ``inner`` and
   ``both`` are the alternatives, since the paper does not define the term).
3. Pixel-wise maximum over the masks kept by NMS, linear normalisation to [0, 1], edge NMS
   (:func:`sambench.generation.edge_maps.edge_nms`, the structured-edge toolbox convention used by the HED /
   SE evaluation scripts: ``convTri(E, 1)``, orientation from ``convTri(E, 4)``, radius 1,
   5-pixel border, tolerance 1.01). Thinning is the benchmark's own (every thresholded map is
   thinned by :func:`sambench.metrics.bsds.evaluate_boundary_image`, ``thin=True``). As in the paper
   (normalise, then NMS) and the HED/SE scripts, the NMS output is not normalised again: the
   ``convTri`` pre-smoothing lowers thin ridges, so the map's maximum is usually below 1.

Memory stays bounded: the Sobel response on the boundary is computed per decoder batch (in
:func:`sambench.generation.amg.generate_masks`' ``mask_fn``) and kept as a sparse (pixel index, value) list
per mask, so the 768 full-resolution probability maps never coexist; NMS then decides which
masks' lists enter the maximum.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from sambench.generation.amg import AmgConfig, MaskProposals, check_model, generate_masks
from sambench.models.base import ImageEmbedding, PromptableModel

if TYPE_CHECKING:  # torch is imported where it is used: scoring saved edge maps needs none
    import torch

__all__ = [
    "EdgeRecipe",
    "EdgeMapResult",
    "BOUNDARY_MODES",
    "sobel_magnitude",
    "boundary_pixels",
    "mask_edge_contributions",
    "combine_contributions",
    "postprocess_edges",
    "sam_edge_map",
    "quantize_edges",
    "write_edge_png",
]

BOUNDARY_MODES = ("outer", "inner", "both")
"""Where a mask's Sobel response is kept: outside pixels touching the mask (``outer``, default),
mask pixels touching the outside (``inner``), or both."""

_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


@dataclass(frozen=True)
class EdgeRecipe:
    """Every parameter of the App. D.2 edge-map recipe (recorded by ``to_dict``).

    Attributes:
      amg: the mask generator's parameters (default ``AmgConfig.edges()``).
      probability: ``sigmoid`` of ``logits - model.mask_threshold`` (the only choice; recorded).
      sobel: the gradient operator (``sobel3x3``: magnitude of the 3x3 Sobel pair, replicate padding).
      boundary: ``outer`` / ``inner`` / ``both`` (``BOUNDARY_MODES``), 3x3 (8-connected) neighbourhood.
      combine: ``max`` over masks (the only choice; recorded).
      normalize: ``minmax`` (linear to [0, 1]) or ``max`` (divide by the maximum), see
        :func:`sambench.generation.edge_maps.normalize_edges`.
      edge_nms: apply edge NMS.
      nms_radius, nms_border, nms_multiplier, nms_presmooth, nms_orient_radius: the arguments of
        :func:`sambench.generation.edge_maps.edge_nms` (radius, border, multiplier, presmooth, orient_radius).
    """

    amg: AmgConfig = field(default_factory=AmgConfig.edges)
    probability: str = "sigmoid"
    sobel: str = "sobel3x3"
    boundary: str = "outer"
    combine: str = "max"
    normalize: str = "minmax"
    edge_nms: bool = True
    nms_radius: int = 1
    nms_border: int = 5
    nms_multiplier: float = 1.01
    nms_presmooth: float = 1.0
    nms_orient_radius: float = 4.0

    def __post_init__(self):
        if self.probability != "sigmoid":
            raise ValueError(f"EdgeRecipe: probability '{self.probability}': only 'sigmoid' is implemented")
        if self.sobel != "sobel3x3":
            raise ValueError(f"EdgeRecipe: sobel '{self.sobel}': only 'sobel3x3' is implemented")
        if self.boundary not in BOUNDARY_MODES:
            raise ValueError(f"EdgeRecipe: boundary '{self.boundary}': expected one of {', '.join(BOUNDARY_MODES)}")
        if self.combine != "max":
            raise ValueError(f"EdgeRecipe: combine '{self.combine}': only 'max' is implemented")
        if self.normalize not in ("minmax", "max"):
            raise ValueError(f"EdgeRecipe: normalize '{self.normalize}': expected minmax or max")

    def to_dict(self) -> Dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "amg"}
        d["amg"] = self.amg.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "EdgeRecipe":
        d = dict(d)
        amg = AmgConfig.from_dict(d.pop("amg")) if "amg" in d else AmgConfig.edges()
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"EdgeRecipe: unknown parameters {sorted(unknown)}")
        return cls(amg=amg, **d)

    def with_amg(self, **overrides) -> "EdgeRecipe":
        """A copy with some generator parameters changed."""
        return replace(self, amg=replace(self.amg, **overrides))


@dataclass
class EdgeMapResult:
    """An edge map and how it was made.

    Attributes:
      edges: (H, W) float64 final map in [0, 1] (after normalisation and edge NMS).
      combined: (H, W) float32 pixel-wise maximum before normalisation.
      counts: the generator's mask counts per stage (points, generated, ..., after_nms, kept).
      proposals: the kept masks' metadata (boxes, scores, points; payloads dropped).
    """

    edges: np.ndarray
    combined: np.ndarray
    counts: Dict[str, int]
    proposals: Optional[MaskProposals] = None


# ---------------------------------------------------------------------------------------------
# per-mask pieces (batched, on the logits' device)
# ---------------------------------------------------------------------------------------------

def sobel_magnitude(maps: torch.Tensor) -> torch.Tensor:
    """3x3 Sobel gradient magnitude ``sqrt(gx^2 + gy^2)`` of (N, H, W) maps (replicate padding)."""
    import torch
    import torch.nn.functional as F

    x = maps.float()[:, None]
    x = F.pad(x, (1, 1, 1, 1), mode="replicate")
    sobel_x = torch.tensor(_SOBEL_X)
    kernel = torch.stack([sobel_x, sobel_x.t().contiguous()])[:, None].to(device=x.device, dtype=x.dtype)
    g = F.conv2d(x, kernel)
    return torch.sqrt(g[:, 0] ** 2 + g[:, 1] ** 2)


def _dilate(masks: torch.Tensor) -> torch.Tensor:
    """3x3 binary dilation of (N, H, W) bool masks; outside the image counts as empty."""
    import torch
    import torch.nn.functional as F

    n, h, w = masks.shape
    p = F.pad(masks.to(torch.uint8), (1, 1, 1, 1)).bool()
    out = torch.zeros_like(masks)
    for dy in range(3):
        for dx in range(3):
            out |= p[:, dy:dy + h, dx:dx + w]
    return out


def boundary_pixels(masks: torch.Tensor, mode: str = "outer") -> torch.Tensor:
    """Boundary pixels of (N, H, W) bool masks in a 3x3 neighbourhood.

    ``outer``: pixels outside the mask with a mask pixel among their 8 neighbours
    (``dilate(m) & ~m``); ``inner``: mask pixels with an outside pixel among their 8 neighbours
    (``m & dilate(~m)``; the image border is not a boundary); ``both``: the union.
    """
    import torch

    if mode not in BOUNDARY_MODES:
        raise ValueError(f"boundary mode '{mode}': expected one of {', '.join(BOUNDARY_MODES)}")
    m = masks.bool()
    out = torch.zeros_like(m)
    if mode in ("outer", "both"):
        out |= _dilate(m) & ~m
    if mode in ("inner", "both"):
        out |= m & _dilate(~m)
    return out


def mask_edge_contributions(logits: torch.Tensor, masks: torch.Tensor, mask_threshold: float = 0.0,
                            boundary: str = "outer") -> List[Tuple[np.ndarray, np.ndarray]]:
    """Each mask's edge response as a sparse list: Sobel of ``sigmoid(logits - t)`` on its boundary pixels.

    Equal to ``sobel_magnitude(sigmoid(logits - t)) * boundary_pixels(masks, boundary)`` (replicate
    padding at the image border), computed only at the boundary pixels.

    Arguments:
      logits: (N, H, W) float mask logits.
      masks: (N, H, W) bool, ``logits > t``.
      mask_threshold: t.
      boundary: see :func:`boundary_pixels`.
    Returns:
      N pairs ``(flat pixel indices int32, values float32)`` (zero values left out), pixels in raster order.
    """
    import torch

    n, h, w = logits.shape
    nz = torch.nonzero(boundary_pixels(masks, boundary))  # (M, 3): mask, y, x in raster order per mask
    if len(nz) == 0:
        return [(np.zeros(0, np.int32), np.zeros(0, np.float32)) for _ in range(n)]
    b, y, x = nz.unbind(1)
    lg = logits.float().reshape(-1)
    base = b * (h * w)
    rows = [base + torch.clamp(y + d, 0, h - 1) * w for d in (-1, 0, 1)]  # replicate padding
    cols = [torch.clamp(x + d, 0, w - 1) for d in (-1, 0, 1)]
    p = [[torch.sigmoid(lg[rows[i] + cols[j]] - float(mask_threshold)) for j in range(3)] for i in range(3)]
    gx = (p[0][2] + 2 * p[1][2] + p[2][2]) - (p[0][0] + 2 * p[1][0] + p[2][0])
    gy = (p[2][0] + 2 * p[2][1] + p[2][2]) - (p[0][0] + 2 * p[0][1] + p[0][2])
    mag = torch.sqrt(gx * gx + gy * gy)
    keep = mag > 0
    b, flat, mag = b[keep], (y * w + x)[keep], mag[keep]
    counts = torch.bincount(b, minlength=n).cpu().numpy()
    flat = flat.cpu().numpy().astype(np.int32)
    mag = mag.cpu().numpy().astype(np.float32)
    cuts = np.cumsum(counts)[:-1]
    return list(zip(np.split(flat, cuts), np.split(mag, cuts)))


def combine_contributions(contributions: Sequence[Tuple[np.ndarray, np.ndarray]], image_size: Tuple[int, int]) -> np.ndarray:
    """Pixel-wise maximum of sparse per-mask responses; (H, W) float32, 0 where no mask contributes."""
    h, w = image_size
    flat = np.zeros(h * w, dtype=np.float32)
    if contributions:
        idx = np.concatenate([c[0] for c in contributions]).astype(np.int64)
        val = np.concatenate([c[1] for c in contributions]).astype(np.float32)
        if len(idx):
            np.maximum.at(flat, idx, val)
    return flat.reshape(h, w)


def postprocess_edges(combined: np.ndarray, recipe: EdgeRecipe) -> np.ndarray:
    """Normalisation to [0, 1] then (optionally) edge NMS, as ``recipe`` says; float64 (H, W)."""
    from sambench.generation.edge_maps import edge_nms, normalize_edges

    e = normalize_edges(combined, recipe.normalize)
    if recipe.edge_nms:
        e = edge_nms(e, radius=recipe.nms_radius, border=recipe.nms_border, multiplier=recipe.nms_multiplier,
                     presmooth=recipe.nms_presmooth, orient_radius=recipe.nms_orient_radius)
    return np.clip(e, 0.0, 1.0)


def sam_edge_map(model: PromptableModel, embedding: ImageEmbedding, recipe: Optional[EdgeRecipe] = None,
                 keep_proposals: bool = False) -> EdgeMapResult:
    """The App. D.2 edge map of one encoded image.

    Arguments:
      model: a promptable model with point prompts (multimask unless ``recipe.amg.multimask`` is False).
      embedding: ``model.encode(image)``.
      recipe: parameters (default ``EdgeRecipe()``, the paper's).
      keep_proposals: return the kept masks' metadata too.
    Returns:
      EdgeMapResult (``edges`` in [0, 1]).
    """
    recipe = recipe or EdgeRecipe()
    check_model(model, recipe.amg)
    t = float(model.mask_threshold)
    props = generate_masks(model, embedding, recipe.amg,
                           mask_fn=lambda logits, masks: mask_edge_contributions(logits, masks, t, recipe.boundary))
    h, w = (int(v) for v in embedding.original_size)
    combined = combine_contributions(props.payloads or [], (h, w))
    edges = postprocess_edges(combined, recipe)
    if keep_proposals:
        props.payloads = None
    return EdgeMapResult(edges=edges, combined=combined, counts=dict(props.counts),
                         proposals=props if keep_proposals else None)


# ---------------------------------------------------------------------------------------------
# 8-bit maps (what the benchmark reads)
# ---------------------------------------------------------------------------------------------

def quantize_edges(edges: np.ndarray) -> np.ndarray:
    """An edge map in [0, 1] as uint8 ``round(255 * e)`` (the benchmark reads ``v / 255``)."""
    e = np.nan_to_num(np.asarray(edges, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    return np.round(np.clip(e, 0.0, 1.0) * 255.0).astype(np.uint8)


def write_edge_png(path, edges: np.ndarray) -> np.ndarray:
    """Write an edge map as an 8-bit grey PNG (atomically); returns the uint8 array written."""
    from PIL import Image

    q = edges if np.asarray(edges).dtype == np.uint8 else quantize_edges(edges)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(np.ascontiguousarray(q)).save(tmp, format="PNG")
    tmp.replace(path)
    return q
