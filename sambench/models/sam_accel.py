"""Speed knobs for ``segment_anything`` models: fused attention (SDPA) and a compiled image encoder.

Both change how the official modules compute, never what: the weights, the geometry and the
operations are the official ones. They do change float rounding (a fused attention kernel sums
in another order; ``torch.compile`` may fuse elementwise operations), so records of a run with a
knob are close to, not bit-identical with, a run without; every knob is recorded in the run's
``config.json["speed"]``. Off by default.

- ``use_sdpa(sam)``: every attention module of the image encoder (``image_encoder.Attention``, with
  its decomposed relative-position bias given to the kernel as an additive mask) and of the mask
  decoder (``transformer.Attention``) computes ``softmax(q k^T / sqrt(d) + bias) v`` with
  ``torch.nn.functional.scaled_dot_product_attention`` (flash / memory-efficient kernels on GPU)
  instead of materialising the attention matrix in Python-level operations.
- ``compile_encoder(sam)``: ``torch.compile`` of the image encoder (the first batch of each
  size pays the compilation).
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F
from segment_anything.modeling import image_encoder as sam_image_encoder
from segment_anything.modeling import transformer as sam_transformer

__all__ = ["use_sdpa", "compile_encoder"]


def _encoder_attention_sdpa(self, x: torch.Tensor) -> torch.Tensor:
    """``image_encoder.Attention.forward`` through SDPA. x: (B, H, W, dim) -> (B, H, W, dim)."""
    b, h, w, _ = x.shape
    heads = self.num_heads
    qkv = self.qkv(x).reshape(b, h * w, 3, heads, -1).permute(2, 0, 3, 1, 4)  # 3, B, heads, HW, d
    q, k, v = qkv.unbind(0)
    bias = None
    if self.use_rel_pos:
        # the decomposed relative-position term of the official block, as an additive mask
        rh = sam_image_encoder.get_rel_pos(h, h, self.rel_pos_h)  # (h, h, d)
        rw = sam_image_encoder.get_rel_pos(w, w, self.rel_pos_w)  # (w, w, d)
        rq = q.reshape(b, heads, h, w, -1)
        rel_h = torch.einsum("bnhwc,hkc->bnhwk", rq, rh)
        rel_w = torch.einsum("bnhwc,wkc->bnhwk", rq, rw)
        bias = (rel_h[..., :, None] + rel_w[..., None, :]).reshape(b, heads, h * w, h * w).to(q.dtype)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # scale 1/sqrt(d), as the official
    out = out.reshape(b, heads, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)
    return self.proj(out)


def _decoder_attention_sdpa(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``transformer.Attention.forward`` through SDPA. q: (B, Nq, C), k, v: (B, Nk, C) -> (B, Nq, C)."""
    heads = self.num_heads

    def split(t: torch.Tensor) -> torch.Tensor:
        n, m, c = t.shape
        return t.reshape(n, m, heads, c // heads).transpose(1, 2)

    q, k, v = split(self.q_proj(q)), split(self.k_proj(k)), split(self.v_proj(v))
    out = F.scaled_dot_product_attention(q, k, v)
    n, _, m, d = out.shape
    return self.out_proj(out.transpose(1, 2).reshape(n, m, heads * d))


def use_sdpa(sam: torch.nn.Module) -> int:
    """Route every attention module of ``sam`` through SDPA (in place); returns how many were switched."""
    switched = 0
    for module in sam.modules():
        if isinstance(module, sam_image_encoder.Attention):
            module.forward = types.MethodType(_encoder_attention_sdpa, module)
            switched += 1
        elif isinstance(module, sam_transformer.Attention):
            module.forward = types.MethodType(_decoder_attention_sdpa, module)
            switched += 1
    return switched


def compile_encoder(sam: torch.nn.Module, mode: str = "default"):
    """``torch.compile`` of ``sam.image_encoder`` (returned; the module itself is unchanged)."""
    return torch.compile(sam.image_encoder, mode=mode, dynamic=False)
