"""Official state dicts -> transformers state dicts, by key mapping (sambench's own rules).

``sam_to_hf(state)``: a ``segment_anything`` SAM state dict -> ``SamModel``'s.
``sam2_to_hf(state)``: a ``sam2`` SAM2Base state dict -> ``Sam2Model``'s (the image model: the video
memory modules are dropped, as ``Sam2Model`` has none).

The equivalence tests load the same random weights into both implementations through these maps
and compare masks and IoU predictions, which is what lets "SAM via transformers" in sambench be
trusted as SAM. The rules were derived by lining up the two classes' parameter names and shapes:

- module renames (image_encoder -> vision_encoder, blocks -> layers, norm1 -> layer_norm1, ...);
- ``nn.Sequential`` indices -> named layers (neck.0 -> neck.conv1, output_upscaling.0 -> upscale_conv1,
  mask_downscaling.3 -> mask_embed.conv2, ...);
- MLPs of depth n: layers.0 -> proj_in, layers.i -> layers.(i-1), layers.(n-1) -> proj_out;
- the prompt encoder's random Fourier matrix is also the model's shared image positional embedding;
- SAM 2's four point embeddings (1, C) each -> one (4, C) embedding table.

Every key of the target is produced exactly once; ``check_complete`` says which are missing.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, Iterable, List, Tuple

import torch

Rule = Tuple[str, str]


def _apply(key: str, rules: Iterable[Rule]) -> str:
    for pattern, repl in rules:
        key = re.sub(pattern, repl, key)
    return key


def _mlp_renamer(prefixes: List[str], depth_of: Callable[[str], int]) -> Callable[[str], str]:
    """layers.i of the MLPs under ``prefixes`` -> proj_in / layers.(i-1) / proj_out."""
    pattern = re.compile(r"^(?P<p>(" + "|".join(prefixes) + r"))\.layers\.(?P<i>\d+)\.(?P<rest>.*)$")

    def rename(key: str) -> str:
        m = pattern.match(key)
        if not m:
            return key
        i, n = int(m["i"]), depth_of(m["p"])
        name = "proj_in" if i == 0 else "proj_out" if i == n - 1 else f"layers.{i - 1}"
        return f"{m['p']}.{name}.{m['rest']}"

    return rename


def _mlp_depths(state: Dict[str, torch.Tensor]) -> Dict[str, int]:
    depth: Dict[str, int] = {}
    for key in state:
        m = re.match(r"^(.*)\.layers\.(\d+)\.weight$", key)
        if m:
            depth[m[1]] = max(depth.get(m[1], 0), int(m[2]) + 1)
    return depth


SAM_RULES: List[Rule] = [
    (r"^image_encoder\.", "vision_encoder."),
    (r"^vision_encoder\.blocks\.", "vision_encoder.layers."),
    (r"^vision_encoder\.patch_embed\.proj\.", "vision_encoder.patch_embed.projection."),
    (r"^(vision_encoder\.layers\.\d+)\.norm(\d)\.", r"\1.layer_norm\2."),
    (r"^vision_encoder\.neck\.0\.", "vision_encoder.neck.conv1."),
    (r"^vision_encoder\.neck\.1\.", "vision_encoder.neck.layer_norm1."),
    (r"^vision_encoder\.neck\.2\.", "vision_encoder.neck.conv2."),
    (r"^vision_encoder\.neck\.3\.", "vision_encoder.neck.layer_norm2."),
    (r"^prompt_encoder\.pe_layer\.positional_encoding_gaussian_matrix$",
     "prompt_encoder.shared_embedding.positional_embedding"),
    (r"^prompt_encoder\.point_embeddings\.", "prompt_encoder.point_embed."),
    (r"^prompt_encoder\.mask_downscaling\.0\.", "prompt_encoder.mask_embed.conv1."),
    (r"^prompt_encoder\.mask_downscaling\.1\.", "prompt_encoder.mask_embed.layer_norm1."),
    (r"^prompt_encoder\.mask_downscaling\.3\.", "prompt_encoder.mask_embed.conv2."),
    (r"^prompt_encoder\.mask_downscaling\.4\.", "prompt_encoder.mask_embed.layer_norm2."),
    (r"^prompt_encoder\.mask_downscaling\.6\.", "prompt_encoder.mask_embed.conv3."),
    (r"^(mask_decoder\.transformer\.layers\.\d+)\.norm(\d)\.", r"\1.layer_norm\2."),
    (r"^mask_decoder\.transformer\.norm_final_attn\.", "mask_decoder.transformer.layer_norm_final_attn."),
    (r"^mask_decoder\.output_upscaling\.0\.", "mask_decoder.upscale_conv1."),
    (r"^mask_decoder\.output_upscaling\.1\.", "mask_decoder.upscale_layer_norm."),
    (r"^mask_decoder\.output_upscaling\.3\.", "mask_decoder.upscale_conv2."),
]


def sam_to_hf(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """A ``segment_anything`` Sam state dict in ``SamModel``'s key names (tensors shared, not copied)."""
    depths = _mlp_depths(state)
    heads = [re.escape(p) for p in depths if p.startswith("mask_decoder.output_hypernetworks_mlps.")
             or p == "mask_decoder.iou_prediction_head"]
    mlp = _mlp_renamer(heads, lambda p: depths[p])
    out: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key in ("pixel_mean", "pixel_std"):  # buffers: SamProcessor normalises instead
            continue
        new = _apply(mlp(key), SAM_RULES)
        out[new] = value
        if new == "prompt_encoder.shared_embedding.positional_embedding":
            out["shared_image_embedding.positional_embedding"] = value
    return out


SAM2_RULES: List[Rule] = [
    (r"^no_mem_embed$", "no_memory_embedding"),
    (r"^image_encoder\.trunk\.", "vision_encoder.backbone."),
    (r"^vision_encoder\.backbone\.patch_embed\.proj\.", "vision_encoder.backbone.patch_embed.projection."),
    (r"^(vision_encoder\.backbone\.blocks\.\d+)\.norm(\d)\.", r"\1.layer_norm\2."),
    (r"^image_encoder\.neck\.convs\.(\d+)\.conv\.", r"vision_encoder.neck.convs.\1."),
    (r"^sam_prompt_encoder\.pe_layer\.positional_encoding_gaussian_matrix$",
     "prompt_encoder.shared_embedding.positional_embedding"),
    (r"^sam_prompt_encoder\.", "prompt_encoder."),
    (r"^prompt_encoder\.mask_downscaling\.0\.", "prompt_encoder.mask_embed.conv1."),
    (r"^prompt_encoder\.mask_downscaling\.1\.", "prompt_encoder.mask_embed.layer_norm1."),
    (r"^prompt_encoder\.mask_downscaling\.3\.", "prompt_encoder.mask_embed.conv2."),
    (r"^prompt_encoder\.mask_downscaling\.4\.", "prompt_encoder.mask_embed.layer_norm2."),
    (r"^prompt_encoder\.mask_downscaling\.6\.", "prompt_encoder.mask_embed.conv3."),
    (r"^sam_mask_decoder\.", "mask_decoder."),
    (r"^(mask_decoder\.transformer\.layers\.\d+)\.norm(\d)\.", r"\1.layer_norm\2."),
    (r"^mask_decoder\.transformer\.norm_final_attn\.", "mask_decoder.transformer.layer_norm_final_attn."),
    (r"^(mask_decoder\.transformer\..*)\.out_proj\.", r"\1.o_proj."),
    (r"^mask_decoder\.output_upscaling\.0\.", "mask_decoder.upscale_conv1."),
    (r"^mask_decoder\.output_upscaling\.1\.", "mask_decoder.upscale_layer_norm."),
    (r"^mask_decoder\.output_upscaling\.3\.", "mask_decoder.upscale_conv2."),
]
SAM2_IMAGE_MODULES = ("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed")


def sam2_to_hf(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """A ``sam2`` SAM2Base state dict in ``Sam2Model``'s key names (video memory modules dropped)."""
    state = {k: v for k, v in state.items() if k.startswith(SAM2_IMAGE_MODULES)}
    depths = _mlp_depths(state)
    mlps = [re.escape(p) for p in depths if re.match(r"^image_encoder\.trunk\.blocks\.\d+\.mlp$", p)
            or re.match(r"^sam_mask_decoder\.transformer\.layers\.\d+\.mlp$", p)
            or p.startswith("sam_mask_decoder.output_hypernetworks_mlps.")
            or p in ("sam_mask_decoder.iou_prediction_head", "sam_mask_decoder.pred_obj_score_head")]
    mlp = _mlp_renamer(mlps, lambda p: depths[p])
    out: Dict[str, torch.Tensor] = {}
    points = {}
    for key, value in state.items():
        m = re.match(r"^sam_prompt_encoder\.point_embeddings\.(\d+)\.weight$", key)
        if m:
            points[int(m[1])] = value
            continue
        new = _apply(mlp(key), SAM2_RULES)
        out[new] = value
        if new == "prompt_encoder.shared_embedding.positional_embedding":
            out["shared_image_embedding.positional_embedding"] = value
    if points:
        out["prompt_encoder.point_embed.weight"] = torch.cat([points[i] for i in sorted(points)], dim=0)
    return out


def check_complete(converted: Dict[str, torch.Tensor], target: torch.nn.Module) -> List[str]:
    """Problems loading ``converted`` into ``target``: missing keys, unused keys, shape mismatches."""
    expected = target.state_dict()
    problems = [f"missing {k}" for k in expected if k not in converted]
    problems += [f"unused {k}" for k in converted if k not in expected]
    problems += [f"shape {k}: {tuple(converted[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
                 if k in converted and tuple(converted[k].shape) != tuple(v.shape)]
    return problems
