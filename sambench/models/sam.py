"""Segment Anything (official ``segment_anything`` package): vit_h, vit_l, vit_b, and ``sam-tiny``.

The adapter reuses the package's own modules (image encoder, prompt encoder, mask decoder,
``ResizeLongestSide``, ``preprocess``, ``postprocess_masks``) so geometry and normalisation are the
official ones, but batches freely: several images per encoder call, any number of prompt sets per
decoder call against one embedding.

Checkpoints load with ``torch.load(..., weights_only=True)``. Any checkpoint that fits the
architecture is accepted (fine-tunes are the point of comparing checkpoints) and its SHA-256 is
recorded; a file named like an official release must match that release's SHA-256.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
from segment_anything.build_sam import sam_model_registry
from segment_anything.utils.transforms import ResizeLongestSide

from ..data import Sample
from .base import Capabilities, ImageEmbedding, Prediction, PromptableModel, PromptBatch, sha256_file
from .checkpoint import CheckpointError, load_torch_file, official_release_of, register_official, verify_before_load

DEFAULT_CHECKPOINT_DIR = Path("~/.cache/sambench/checkpoints").expanduser()

OFFICIAL_CHECKPOINTS: Dict[str, dict] = {
    "vit_h": {"file": "sam_vit_h_4b8939.pth", "bytes": 2564550879,
              "sha256": "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e"},
    "vit_l": {"file": "sam_vit_l_0b3195.pth", "bytes": 1249524607,
              "sha256": "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622"},
    "vit_b": {"file": "sam_vit_b_01ec64.pth", "bytes": 375042383,
              "sha256": "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912"},
}
OFFICIAL_URL = "https://dl.fbaipublicfiles.com/segment_anything/{file}"
ENCODER_WIDTH = {1280: "vit_h", 1024: "vit_l", 768: "vit_b"}
register_official("SAM", OFFICIAL_CHECKPOINTS)


def model_name(arch: str) -> str:
    """The registry name of official SAM ``arch``: vit_h -> sam-vit-h."""
    return "sam-" + arch.replace("_", "-")


def resolve_device(device: Optional[str] = None) -> torch.device:
    """'auto' (or None) picks CUDA when present, else CPU; under torchrun, the local rank's GPU."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    return torch.device(device)


def download_checkpoint(arch: str, cache_dir: Optional[Path] = None, url: Optional[str] = None) -> Path:
    """Fetch the official checkpoint of ``arch`` into ``cache_dir`` and verify its SHA-256.

    Returns:
      the verified local path (an already present, verified file is reused).
    Raises:
      CheckpointError with one line when offline or when the download does not verify.
    """
    info = OFFICIAL_CHECKPOINTS[arch]
    cache_dir = Path(cache_dir or DEFAULT_CHECKPOINT_DIR)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / info["file"]
    if target.is_file() and sha256_file(target) == info["sha256"]:
        return target
    url = url or OFFICIAL_URL.format(file=info["file"])
    part = target.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise CheckpointError(f"could not download {url} ({getattr(exc, 'reason', exc)}); "
                              f"download it by hand and pass --checkpoint PATH") from exc
    digest = sha256_file(part)
    if digest != info["sha256"]:
        part.unlink(missing_ok=True)
        raise CheckpointError(f"{url}: downloaded file has SHA-256 {digest}, expected {info['sha256']}")
    part.replace(target)
    return target


def load_state_dict(path: Path) -> Dict[str, torch.Tensor]:
    """Load a checkpoint's state dict safely (weights_only); unwraps {'model': ...}/{'state_dict': ...}.

    Callers check an official name's SHA-256 first (``verify_before_load``); this only loads.
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found (expected a SAM .pth file)")
    obj = load_torch_file(path)
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    return obj


def guess_architecture(state: Dict[str, torch.Tensor]) -> Optional[str]:
    w = state.get("image_encoder.patch_embed.proj.weight")
    return ENCODER_WIDTH.get(int(w.shape[0])) if w is not None else None


def official_release(digest: str) -> Optional[str]:
    """The official SAM release (vit_h, vit_l, vit_b) with SHA-256 ``digest``, or None."""
    entry = official_release_of(digest)
    return entry.release if entry is not None and entry.family == "SAM" else None


class SamAdapter(PromptableModel):
    """Any ``segment_anything.Sam`` module behind the PromptableModel interface.

    Arguments:
      sam: the module (weights loaded).
      name: registry name (``sam-vit-h``, ``sam-tiny`` ...).
      device: torch device.
      weights: "trained" or "untrained".
      checkpoint, checkpoint_sha256: provenance for the fingerprint.
      encoder_batch_size: images per encoder forward in ``encode_batch``.
    """

    capabilities = Capabilities(points=True, negative_points=True, boxes=True, mask_input=True, multimask=True,
                                input_size=1024)
    cacheable = True  # embeddings are tensors: sambench.app.embedding_cache may store them
    supports_dtype = True  # --dtype bf16/fp16: forward passes under autocast
    family, source = "SAM", "segment_anything"

    def __init__(self, sam: Sam, name: str, device: torch.device, weights: str = "trained",
                 checkpoint: Optional[Path] = None, checkpoint_sha256: Optional[str] = None,
                 architecture: Optional[str] = None, encoder_batch_size: int = 4, extra_fingerprint: Optional[dict] = None):
        self.sam = sam.to(device).eval()
        self.name = name
        self.device = device
        self.weights = weights
        self.checkpoint = checkpoint
        self.checkpoint_sha256 = checkpoint_sha256
        self.architecture = architecture or name
        self.encoder_batch_size = encoder_batch_size
        self.extra_fingerprint = extra_fingerprint or {}
        self.mask_threshold = float(sam.mask_threshold)
        self.transform = ResizeLongestSide(sam.image_encoder.img_size)
        arch = self.architecture.replace("sam_", "")
        self.size = {"vit_h": "ViT-H", "vit_l": "ViT-L", "vit_b": "ViT-B"}.get(arch, arch)
        if checkpoint is not None and official_release(checkpoint_sha256 or "") is None:
            self.checkpoint_tag = Path(checkpoint).name  # a fine-tune: its file name tells runs apart
        if sam.image_encoder.img_size != 1024:
            self.capabilities = dataclasses.replace(self.capabilities, input_size=sam.image_encoder.img_size)
        self._encoder = self.sam.image_encoder
        self._knobs = {"compile": False, "attention": "official"}

    def configure_speed(self, compile: bool = False, sdpa: bool = False, encoder_batch_size: Optional[int] = None) -> dict:
        """Speed knobs (``sambench.models.sam_accel``): compiled encoder, SDPA attention, images per
        encoder call. They change float rounding, not the computation; returns the settings."""
        from .sam_accel import compile_encoder, use_sdpa

        if sdpa and self._knobs["attention"] != "sdpa":
            use_sdpa(self.sam)
            self._knobs["attention"] = "sdpa"
        if compile and not self._knobs["compile"]:
            self._encoder = compile_encoder(self.sam)
            self._knobs["compile"] = True
        if encoder_batch_size:
            self.encoder_batch_size = int(encoder_batch_size)
        return self.speed_settings()

    def speed_settings(self) -> dict:
        """What decides this adapter's speed, for the run config."""
        return {"dtype": self.dtype, "encoder_batch_size": self.encoder_batch_size,
                "compiled_encoder": self._knobs["compile"], "attention": self._knobs["attention"],
                "pinned_memory": self.device.type == "cuda"}

    def fingerprint(self) -> dict:
        fp = super().fingerprint()
        fp.update({"architecture": self.architecture,
                   "checkpoint": str(self.checkpoint) if self.checkpoint else None,
                   "checkpoint_sha256": self.checkpoint_sha256,
                   "official_release": official_release(self.checkpoint_sha256 or "")})
        fp.update(self.extra_fingerprint)
        return fp

    def _preprocess(self, image: np.ndarray) -> tuple:
        resized = self.transform.apply_image(image)
        if self.device.type == "cuda":  # page-locked copy: the transfer to the device runs asynchronously
            t = torch.from_numpy(resized).pin_memory().to(self.device, non_blocking=True)
        else:
            t = torch.as_tensor(resized, device=self.device)
        t = t.permute(2, 0, 1).contiguous()
        input_size = tuple(t.shape[-2:])
        return self.sam.preprocess(t[None].float())[0], input_size

    @torch.no_grad()
    def encode_batch(self, images: Sequence[np.ndarray], samples: Optional[Sequence[Sample]] = None) -> List[ImageEmbedding]:
        out: List[ImageEmbedding] = []
        for start in range(0, len(images), self.encoder_batch_size):
            chunk = images[start:start + self.encoder_batch_size]
            prepped = [self._preprocess(im) for im in chunk]
            with self.autocast():
                feats = self._encoder(torch.stack([p[0] for p in prepped])).float()
            for im, (_, input_size), f in zip(chunk, prepped, feats):
                out.append(ImageEmbedding(original_size=tuple(im.shape[:2]), features=f[None],
                                          extra={"input_size": input_size}))
        return out

    def encode(self, image: np.ndarray, sample: Optional[Sample] = None) -> ImageEmbedding:
        return self.encode_batch([image])[0]

    @torch.no_grad()
    def decode(self, embedding: ImageEmbedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        pred = self.decode_low_res(embedding, prompts, multimask)
        pred.logits = self.upscale_logits(embedding, pred.low_res_logits)
        return pred

    @torch.no_grad()
    def decode_low_res(self, embedding: ImageEmbedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        """Prompt encoder + mask decoder only: ``low_res_logits`` (B, K, 256, 256), ``logits`` None."""
        self.check_prompts(prompts, multimask)
        original_size = embedding.original_size
        points = None
        if prompts.point_coords is not None:
            coords = self.transform.apply_coords(np.asarray(prompts.point_coords, dtype=np.float64), original_size)
            points = (torch.as_tensor(coords, dtype=torch.float, device=self.device),
                      torch.as_tensor(prompts.point_labels, dtype=torch.int, device=self.device))
        boxes = None
        if prompts.boxes is not None:
            b = self.transform.apply_boxes(np.asarray(prompts.boxes, dtype=np.float64), original_size)
            boxes = torch.as_tensor(b, dtype=torch.float, device=self.device)
        mask_input = None
        if prompts.mask_input is not None:
            mask_input = torch.as_tensor(prompts.mask_input, dtype=torch.float, device=self.device)
        with self.autocast():
            sparse, dense = self.sam.prompt_encoder(points=points, boxes=boxes, masks=mask_input)
            low_res, iou = self.sam.mask_decoder(
                image_embeddings=embedding.features, image_pe=self.sam.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=multimask)
            low_res, iou = low_res.float(), iou.float()
        return Prediction(logits=None, iou_predictions=iou, low_res_logits=low_res)

    @torch.no_grad()
    def upscale_logits(self, embedding: ImageEmbedding, low_res_logits: torch.Tensor) -> torch.Tensor:
        """The official ``postprocess_masks``: to the padded input size, crop, to the original size."""
        return self.sam.postprocess_masks(low_res_logits, embedding.extra["input_size"], embedding.original_size)


def build_official_sam(arch: str, checkpoint: Optional[str] = None, device: Optional[str] = None,
                       download: bool = False, cache_dir: Optional[str] = None) -> SamAdapter:
    """Build official SAM ``arch`` (vit_h, vit_l, vit_b) from a local or downloaded checkpoint."""
    if checkpoint is None:
        if not download:
            raise CheckpointError(f"{model_name(arch)} needs --checkpoint PATH (official file: "
                                  f"{OFFICIAL_URL.format(file=OFFICIAL_CHECKPOINTS[arch]['file'])}) or --download")
        path = download_checkpoint(arch, Path(cache_dir) if cache_dir else None)
    else:
        path = Path(checkpoint).expanduser()
    digest = verify_before_load(path, "SAM .pth file")  # an official name must hash right before anything is unpickled
    state = load_state_dict(path)
    found = guess_architecture(state)
    if found is not None and found != arch:
        raise CheckpointError(f"{path}: this is a {found} checkpoint, not {arch} (use --model {model_name(found)})")
    sam = sam_model_registry[arch](checkpoint=None)
    result = sam.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        problems = result.missing_keys[:3] + result.unexpected_keys[:3]
        raise CheckpointError(f"{path}: does not fit SAM {arch} ({len(result.missing_keys)} missing, "
                              f"{len(result.unexpected_keys)} unexpected keys, e.g. {', '.join(problems)})")
    return SamAdapter(sam, name=model_name(arch), device=resolve_device(device), weights="trained",
                      checkpoint=path, checkpoint_sha256=digest, architecture=f"sam_{arch}")


def build_tiny_sam_module(seed: int = 0, img_size: int = 256) -> Sam:
    """A small SAM from the official modules with seeded random weights (for tests and plumbing).

    Same geometry code as the official models, at a 256-pixel input (16x16 embedding, 64x64 low-res masks).
    """
    dim, embed = 32, 64
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        sam = Sam(
            image_encoder=ImageEncoderViT(
                depth=2, embed_dim=embed, img_size=img_size, mlp_ratio=2.0, num_heads=2, patch_size=16,
                qkv_bias=True, use_rel_pos=True, global_attn_indexes=[1], window_size=4, out_chans=dim),
            prompt_encoder=PromptEncoder(
                embed_dim=dim, image_embedding_size=(img_size // 16, img_size // 16),
                input_image_size=(img_size, img_size), mask_in_chans=8),
            mask_decoder=MaskDecoder(
                num_multimask_outputs=3, transformer=TwoWayTransformer(depth=2, embedding_dim=dim, mlp_dim=64, num_heads=2),
                transformer_dim=dim, iou_head_depth=3, iou_head_hidden_dim=32),
        )
    return sam


def build_tiny_sam(checkpoint: Optional[str] = None, device: Optional[str] = None, seed: int = 0) -> SamAdapter:
    """sam-tiny: SAM's modules with a small encoder and seeded random weights (untrained)."""
    if checkpoint is not None:
        raise CheckpointError("sam-tiny has seeded random weights and takes no --checkpoint")
    seed = int(seed)
    sam = build_tiny_sam_module(seed)
    return SamAdapter(sam, name="sam-tiny", device=resolve_device(device), weights="untrained",
                      architecture="sam_tiny", extra_fingerprint={"seed": seed})
