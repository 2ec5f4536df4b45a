"""HQ-SAM through the official ``segment-anything-hq`` package (``pip install 'sambench[hq]'``).

``--model sam-hq-vit_h --checkpoint sam_hq_vit_h.pth`` (also vit_l, vit_b, and vit_tiny = Light
HQ-SAM with a TinyViT encoder). The package's own modules, ``ResizeLongestSide``, ``preprocess`` and
``postprocess_masks`` are used. Weights load with ``torch.load(..., weights_only=True)`` (the
package's builder would unpickle without that guard, so sambench never passes it a checkpoint)
and must fit every key.

Capabilities, read from ``MaskDecoderHQ.forward``: one mask per prompt set. With
``multimask_output=True`` the decoder picks the SAM mask with the highest predicted IoU among its
three and adds the HQ token's mask, so it never returns three candidates: the adapter declares no
multimask output. ``--model-arg single_mask=best-of-3`` selects that decoder path for every
single-mask request (default ``token0``: the single-mask token, the package predictor's default);
``hq_token_only=1`` returns the HQ token's mask alone. Both are recorded in the fingerprint.

Checkpoint identity: the file's SHA-256 is computed before loading and recorded. sambench knows no
published SHA-256 of the HQ-SAM files (they are distributed without checksums), so a file with an
official name is checked by name and architecture only, and the report says so
(``official_digest_known: false``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ..data import Sample
from .base import Capabilities, ImageEmbedding, Prediction, PromptableModel, PromptBatch, sha256_file
from .extras import require
from .releases import HQ_URL, OFFICIAL_HQ, load_fitting
from .sam import CheckpointError, load_state_dict, resolve_device

ENCODER_WIDTH = {1280: "vit_h", 1024: "vit_l", 768: "vit_b"}
SINGLE_MASK_MODES = ("token0", "best-of-3")


def guess_hq_architecture(state: Dict[str, torch.Tensor]) -> Optional[str]:
    w = state.get("image_encoder.patch_embed.proj.weight")
    if w is not None:
        return ENCODER_WIDTH.get(int(w.shape[0]))
    return "vit_tiny" if any(k.startswith("image_encoder.patch_embed.seq") for k in state) else None


def build_official_hq(arch: str, checkpoint: Optional[str] = None, device: Optional[str] = None,
                      download: bool = False, single_mask: str = "token0", hq_token_only: bool = False,
                      encoder_batch_size: int = 4) -> "HQSamAdapter":
    """HQ-SAM ``arch`` (vit_h, vit_l, vit_b, vit_tiny) from a local checkpoint.

    Raises:
      CheckpointError (one line): no --checkpoint, missing file, another architecture's file,
      weights that do not fit; MissingExtraError without segment-anything-hq.
    """
    hq = require("segment_anything_hq", "hq")
    info = OFFICIAL_HQ[arch]
    if download:
        raise CheckpointError(f"sam-hq-{arch}: sambench does not download HQ-SAM checkpoints; fetch "
                              f"{HQ_URL.format(file=info['file'])} and pass --checkpoint PATH")
    if checkpoint is None:
        raise CheckpointError(f"sam-hq-{arch} needs --checkpoint PATH (official file: {HQ_URL.format(file=info['file'])})")
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found (expected an HQ-SAM .pth file such as {info['file']})")
    for other, o in OFFICIAL_HQ.items():
        if path.name == o["file"] and other != arch:
            raise CheckpointError(f"{path}: this is the official {o['file']}; use --model sam-hq-{other}")
    digest = sha256_file(path)  # recorded; no published digest to compare with
    state = load_state_dict(path)
    found = guess_hq_architecture(state)
    if found is not None and found != arch:
        raise CheckpointError(f"{path}: this is a {found} checkpoint, not {arch} (use --model sam-hq-{found})")
    if not any(k.startswith("mask_decoder.hf_token") for k in state):
        raise CheckpointError(f"{path}: has no HQ output token (mask_decoder.hf_token); a plain SAM checkpoint? "
                              f"use --model sam-{arch}")
    sam = hq.sam_model_registry[arch](checkpoint=None)
    load_fitting(sam, state, path, f"HQ-SAM {arch}")
    provenance = {"checkpoint": str(path), "checkpoint_sha256": digest,
                  "official_release": arch if path.name == info["file"] else None, "official_digest_known": False}
    return HQSamAdapter(sam, name=f"sam-hq-{arch}", size=info["size"], device=resolve_device(device),
                        weights="trained", provenance=provenance,
                        checkpoint_tag=None if path.name == info["file"] else path.name,
                        single_mask=single_mask, hq_token_only=hq_token_only, encoder_batch_size=encoder_batch_size)


def build_tiny_hq_module(seed: int = 0, img_size: int = 256):
    """A small HQ-SAM from the package's modules (ViT encoder, MaskDecoderHQ), weights drawn from ``seed``."""
    require("segment_anything_hq", "hq")
    from segment_anything_hq.modeling import ImageEncoderViT, MaskDecoderHQ, PromptEncoder, Sam, TwoWayTransformer

    dim, embed = 32, 64
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return Sam(
            image_encoder=ImageEncoderViT(depth=2, embed_dim=embed, img_size=img_size, mlp_ratio=2.0, num_heads=2,
                                          patch_size=16, qkv_bias=True, use_rel_pos=True, global_attn_indexes=[1],
                                          window_size=4, out_chans=dim),
            prompt_encoder=PromptEncoder(embed_dim=dim, image_embedding_size=(img_size // 16, img_size // 16),
                                         input_image_size=(img_size, img_size), mask_in_chans=8),
            mask_decoder=MaskDecoderHQ(num_multimask_outputs=3, transformer_dim=dim, iou_head_depth=3,
                                       iou_head_hidden_dim=32, vit_dim=embed,
                                       transformer=TwoWayTransformer(depth=2, embedding_dim=dim, mlp_dim=64,
                                                                     num_heads=2)),
            pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375]).eval()


def build_tiny_hq(checkpoint: Optional[str] = None, device: Optional[str] = None, seed: int = 0,
                  single_mask: str = "token0", hq_token_only: bool = False) -> "HQSamAdapter":
    """``sam-hq-tiny``: HQ-SAM's modules at 256 pixels with seeded random weights (UNTRAINED)."""
    if checkpoint is not None:
        raise CheckpointError("sam-hq-tiny has seeded random weights and takes no --checkpoint")
    return HQSamAdapter(build_tiny_hq_module(int(seed)), name="sam-hq-tiny", size="tiny",
                        device=resolve_device(device), weights="untrained",
                        provenance={"checkpoint": None, "checkpoint_sha256": None, "seed": int(seed)},
                        single_mask=single_mask, hq_token_only=hq_token_only)


class HQSamAdapter(PromptableModel):
    """A ``segment_anything_hq`` Sam behind the PromptableModel interface (one mask per prompt set).

    Arguments:
      single_mask: "token0" (the single-mask token + HQ) or "best-of-3" (the decoder's multimask path:
        the most confident of SAM's three masks + HQ).
      hq_token_only: the HQ token's mask alone.
    """

    family, source = "HQ-SAM", "segment_anything_hq"
    supports_dtype = True
    cacheable = False  # the decoder needs the ViT's early features as well

    def __init__(self, sam, name: str, size: str, device: torch.device, weights: str, provenance: dict,
                 checkpoint_tag: Optional[str] = None, single_mask: str = "token0", hq_token_only: bool = False,
                 encoder_batch_size: int = 4):
        from segment_anything_hq.utils.transforms import ResizeLongestSide

        if single_mask not in SINGLE_MASK_MODES:
            raise ValueError(f"single_mask '{single_mask}': expected one of {', '.join(SINGLE_MASK_MODES)}")
        self.sam = sam.to(device).eval()
        self.name, self.size, self.device, self.weights = name, size, device, weights
        self.provenance, self.checkpoint_tag = provenance, checkpoint_tag
        self.single_mask, self.hq_token_only = single_mask, bool(int(hq_token_only))
        self.encoder_batch_size = max(1, int(encoder_batch_size))
        self.mask_threshold = float(sam.mask_threshold)
        self.transform = ResizeLongestSide(sam.image_encoder.img_size)
        n_points = len(sam.prompt_encoder.point_embeddings)
        self.capabilities = Capabilities(points=True, negative_points=n_points >= 2, boxes=n_points >= 4,
                                         mask_input=True, multimask=False, n_multimask=1,
                                         input_size=int(sam.image_encoder.img_size))

    def fingerprint(self) -> dict:
        from importlib import metadata

        fp = super().fingerprint()
        fp.update({"architecture": f"segment_anything_hq.{self.name}", "single_mask": self.single_mask,
                   "hq_token_only": self.hq_token_only,
                   "segment_anything_hq_version": metadata.version("segment-anything-hq"), **self.provenance})
        return fp

    @torch.no_grad()
    def encode_batch(self, images: Sequence[np.ndarray], samples: Optional[Sequence[Sample]] = None) -> List[ImageEmbedding]:
        out: List[ImageEmbedding] = []
        for start in range(0, len(images), self.encoder_batch_size):
            chunk = images[start:start + self.encoder_batch_size]
            batch, sizes = [], []
            for im in chunk:
                t = torch.as_tensor(self.transform.apply_image(im), device=self.device).permute(2, 0, 1).contiguous()
                sizes.append(tuple(t.shape[-2:]))
                batch.append(self.sam.preprocess(t[None].float())[0])
            with self.autocast():
                feats, interm = self.sam.image_encoder(torch.stack(batch))
            early = interm[0].float()  # the decoder reads the first global block's output
            for i, im in enumerate(chunk):
                out.append(ImageEmbedding(original_size=tuple(im.shape[:2]),
                                          features=(feats[i:i + 1].float(), early[i:i + 1]),
                                          extra={"input_size": sizes[i]}))
        return out

    def encode(self, image: np.ndarray, sample: Optional[Sample] = None) -> ImageEmbedding:
        return self.encode_batch([image])[0]

    @torch.no_grad()
    def decode(self, embedding: ImageEmbedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        self.check_prompts(prompts, multimask)
        size = embedding.original_size
        points = boxes = masks = None
        if prompts.point_coords is not None:
            coords = self.transform.apply_coords(np.asarray(prompts.point_coords, dtype=np.float64), size)
            points = (torch.as_tensor(coords, dtype=torch.float, device=self.device),
                      torch.as_tensor(prompts.point_labels, dtype=torch.int, device=self.device))
        if prompts.boxes is not None:
            b = self.transform.apply_boxes(np.asarray(prompts.boxes, dtype=np.float64), size)
            boxes = torch.as_tensor(b, dtype=torch.float, device=self.device)
        if prompts.mask_input is not None:
            masks = torch.as_tensor(prompts.mask_input, dtype=torch.float, device=self.device)
        feats, early = embedding.features
        with self.autocast():
            sparse, dense = self.sam.prompt_encoder(points=points, boxes=boxes, masks=masks)
            low, iou = self.sam.mask_decoder(
                image_embeddings=feats, image_pe=self.sam.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                multimask_output=self.single_mask == "best-of-3", hq_token_only=self.hq_token_only,
                interm_embeddings=[early])
        low, iou = low.float(), iou.float()
        logits = self.sam.postprocess_masks(low, embedding.extra["input_size"], size)
        return Prediction(logits=logits, iou_predictions=iou, low_res_logits=low)
