"""SAM 2 and SAM 2.1 through the official ``sam2`` package (``pip install 'sambench[sam2]'``).

``--model sam2.1-hiera-l --checkpoint sam2.1_hiera_large.pt``: the model is built from the package's
own Hydra config (``configs/sam2.1/sam2.1_hiera_l.yaml``, with the image predictor's settings:
single-mask output falls back to the best multimask output when unstable, as ``build_sam2`` sets
it), the weights are read with ``torch.load(..., weights_only=True)`` and must fit every key.

Checkpoint identity: the SHA-256 of the file is computed before it is loaded and recorded. A file
carrying an official SAM 2.1 name must be byte-identical to the release (the digests in
``sambench.models.releases`` are the
ones other pipelines verify downloads against, e.g. micro-sam's registry, and agree with the sizes
published for the files). For the July 2024 SAM 2 (2.0) files sambench knows no published digest:
their names and architecture are checked, their SHA-256 recorded, nothing more is claimed.

The adapter drives the package's ``SAM2ImagePredictor``: its ``SAM2Transforms`` (resize to a
1024 square, ImageNet normalisation), its prompt preparation (``_prep_prompts``: pixel (x, y) ->
the model's frame) and ``_predict`` (all prompt sets of an image in one decoder call, masks
resized to the original size, low-res logits clamped to +-32 as the predictor returns them).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch

from ..data import Sample
from .base import Capabilities, ImageEmbedding, Prediction, PromptableModel, PromptBatch, sha256_file
from .extras import require
from .releases import OFFICIAL_SAM2, load_fitting
from .sam import CheckpointError, load_state_dict, resolve_device

# build_sam2(..., apply_postprocessing=True): what the package's image predictor runs with
PREDICTOR_OVERRIDES = [
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
]


def build_sam2_module(config: str, overrides: Sequence[str] = ()) -> torch.nn.Module:
    """The package's SAM2Base from Hydra config ``config`` (+ overrides), random weights, eval mode."""
    require("sam2", "sam2")
    from hydra import compose
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = compose(config_name=config, overrides=list(PREDICTOR_OVERRIDES) + list(overrides))
    OmegaConf.resolve(cfg)
    return instantiate(cfg.model, _recursive_=True).eval()


def tiny_sam2_overrides(size: int = 256, dim: int = 32, embed: int = 16, mem: int = 16) -> List[str]:
    """Hydra overrides that shrink ``sam2.1_hiera_t.yaml`` to a tiny model (every flag of SAM 2.1 kept)."""
    e, d, g = embed, dim, size // 16
    return [
        f"++model.image_size={size}", f"++model.image_encoder.trunk.embed_dim={e}",
        "++model.image_encoder.trunk.num_heads=1", "++model.image_encoder.trunk.stages=[1,1,2,1]",
        "++model.image_encoder.trunk.global_att_blocks=[3]", f"++model.image_encoder.neck.d_model={d}",
        f"++model.image_encoder.neck.backbone_channel_list=[{8 * e},{4 * e},{2 * e},{e}]",
        f"++model.image_encoder.neck.position_encoding.num_pos_feats={d}",
        f"++model.memory_attention.d_model={d}", "++model.memory_attention.num_layers=1",
        f"++model.memory_attention.layer.d_model={d}", "++model.memory_attention.layer.dim_feedforward=64",
        f"++model.memory_attention.layer.self_attention.embedding_dim={d}",
        f"++model.memory_attention.layer.self_attention.feat_sizes=[{g},{g}]",
        f"++model.memory_attention.layer.cross_attention.embedding_dim={d}",
        f"++model.memory_attention.layer.cross_attention.feat_sizes=[{g},{g}]",
        f"++model.memory_attention.layer.cross_attention.kv_in_dim={mem}",
        f"++model.memory_encoder.in_dim={d}", f"++model.memory_encoder.out_dim={mem}",
        f"++model.memory_encoder.position_encoding.num_pos_feats={mem}",
        f"++model.memory_encoder.mask_downsampler.embed_dim={d}", f"++model.memory_encoder.fuser.layer.dim={d}",
    ]


def build_tiny_sam2_module(seed: int = 0, size: int = 256) -> torch.nn.Module:
    """A tiny SAM 2.1 from the package's own config and modules, weights drawn from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build_sam2_module(OFFICIAL_SAM2["sam2.1-hiera-t"].config, tiny_sam2_overrides(size))


def check_official_file(variant: str, path: Path, digest: str) -> Optional[str]:
    """Which official release ``path`` is (its variant name) or None; CheckpointError when the name lies.

    Raises when the file carries an official name but not its digest (where the digest is known), or
    when it is (by name or digest) the official file of another variant.
    """
    for other, rel in OFFICIAL_SAM2.items():
        same_bytes = rel.sha256 is not None and digest == rel.sha256
        if path.name == rel.file and rel.sha256 is not None and not same_bytes:
            raise CheckpointError(f"{path}: named like the official {rel.file} but its SHA-256 is {digest}, not "
                                  f"{rel.sha256} (corrupt, truncated or renamed file)")
        if (path.name == rel.file or same_bytes) and other != variant:
            raise CheckpointError(f"{path}: this is the official {rel.file}; use --model {other}")
        if same_bytes:
            return other
    return None


def build_official_sam2(variant: str, checkpoint: Optional[str] = None, device: Optional[str] = None,
                        download: bool = False, encoder_batch_size: int = 4) -> "Sam2OfficialAdapter":
    """SAM 2 / 2.1 ``variant`` (a key of OFFICIAL_SAM2) from a local .pt checkpoint.

    Raises:
      CheckpointError (one line): no --checkpoint, missing/corrupt file, official name with another
      digest, weights that do not fit the variant's config; MissingExtraError without ``sam2``.
    """
    rel = OFFICIAL_SAM2[variant]
    require("sam2", "sam2")
    if download:
        raise CheckpointError(f"{variant}: sambench does not download SAM 2 checkpoints; fetch "
                              f"{rel.url.format(file=rel.file)} and pass --checkpoint PATH")
    if checkpoint is None:
        raise CheckpointError(f"{variant} needs --checkpoint PATH (official file: {rel.url.format(file=rel.file)})")
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found (expected a SAM 2 .pt file such as {rel.file})")
    digest = sha256_file(path)  # before anything is unpickled
    release = check_official_file(variant, path, digest)
    state = load_state_dict(path)
    module = build_sam2_module(rel.config)
    hint = ""
    if rel.family == "SAM 2" and any(k.startswith(("no_obj_embed_spatial", "obj_ptr_tpos_proj")) for k in state):
        hint = f" (a SAM 2.1 checkpoint? use --model {variant.replace('sam2-', 'sam2.1-')})"
    load_fitting(module, state, path, variant, hint)
    provenance = {"checkpoint": str(path), "checkpoint_sha256": digest, "official_release": release,
                  "official_digest_known": rel.sha256 is not None, "hydra_config": rel.config}
    return Sam2OfficialAdapter(module, name=variant, family=rel.family, size=rel.size, device=resolve_device(device),
                               weights="trained", provenance=provenance,
                               checkpoint_tag=None if release else path.name,
                               encoder_batch_size=encoder_batch_size)


def build_tiny_sam2(checkpoint: Optional[str] = None, device: Optional[str] = None, seed: int = 0,
                    encoder_batch_size: int = 4) -> "Sam2OfficialAdapter":
    """``sam2-tiny``: the package's SAM 2.1 modules and config shrunk to 256 pixels, seeded random weights (UNTRAINED)."""
    if checkpoint is not None:
        raise CheckpointError("sam2-tiny has seeded random weights and takes no --checkpoint")
    module = build_tiny_sam2_module(int(seed))
    return Sam2OfficialAdapter(module, name="sam2-tiny", family="SAM 2.1", size="tiny", device=resolve_device(device),
                               weights="untrained", provenance={"checkpoint": None, "checkpoint_sha256": None,
                                                                "seed": int(seed), "hydra_config": "tiny overrides of "
                                                                + OFFICIAL_SAM2["sam2.1-hiera-t"].config},
                               encoder_batch_size=encoder_batch_size)


class Sam2OfficialAdapter(PromptableModel):
    """A ``sam2`` SAM2Base behind the PromptableModel interface, through its SAM2ImagePredictor.

    Capabilities are read from the module: point/box/mask prompts of its prompt encoder, the mask
    decoder's number of multimask outputs, the model's input side (``image_size``).
    """

    source = "sam2"
    supports_dtype = True
    cacheable = False  # features are three levels per image, not one tensor

    def __init__(self, module: torch.nn.Module, name: str, family: str, size: str, device: torch.device,
                 weights: str, provenance: dict, checkpoint_tag: Optional[str] = None, encoder_batch_size: int = 4):
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        self.module = module.to(device).eval()
        with warnings.catch_warnings():  # the package's transforms call torch.jit.script: torch's deprecation, not ours
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
            self.predictor = SAM2ImagePredictor(self.module, mask_threshold=0.0)
        s, stride = int(self.module.image_size), int(self.module.backbone_stride)
        self.predictor._bb_feat_sizes = [(4 * s // stride,) * 2, (2 * s // stride,) * 2, (s // stride,) * 2]
        self.name, self.family, self.size, self.device, self.weights = name, family, size, device, weights
        self.provenance, self.checkpoint_tag = provenance, checkpoint_tag
        self.encoder_batch_size = max(1, int(encoder_batch_size))
        n_multi = int(self.module.sam_mask_decoder.num_multimask_outputs)
        n_points = len(self.module.sam_prompt_encoder.point_embeddings)
        self.capabilities = Capabilities(points=True, negative_points=n_points >= 2, boxes=n_points >= 4,
                                         mask_input=hasattr(self.module.sam_prompt_encoder, "mask_downscaling"),
                                         multimask=n_multi > 1, n_multimask=n_multi, input_size=s)

    def fingerprint(self) -> dict:
        from importlib import metadata

        fp = super().fingerprint()
        fp.update({"architecture": f"sam2.{self.name}", "sam2_version": metadata.version("sam2"), **self.provenance})
        return fp

    @torch.no_grad()
    def encode_batch(self, images: Sequence[np.ndarray], samples: Optional[Sequence[Sample]] = None) -> List[ImageEmbedding]:
        out: List[ImageEmbedding] = []
        for start in range(0, len(images), self.encoder_batch_size):
            chunk = [np.ascontiguousarray(im) for im in images[start:start + self.encoder_batch_size]]
            with self.autocast():
                self.predictor.set_image_batch(chunk)
            feats = self.predictor._features
            for i, im in enumerate(chunk):
                out.append(ImageEmbedding(original_size=tuple(im.shape[:2]), features={
                    "image_embed": feats["image_embed"][i:i + 1].float(),
                    "high_res_feats": [f[i:i + 1].float() for f in feats["high_res_feats"]]}))
            self.predictor.reset_predictor()
        return out

    def encode(self, image: np.ndarray, sample: Optional[Sample] = None) -> ImageEmbedding:
        return self.encode_batch([image])[0]

    @torch.no_grad()
    def decode(self, embedding: ImageEmbedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        self.check_prompts(prompts, multimask)
        p = self.predictor
        p._features, p._orig_hw, p._is_image_set, p._is_batch = embedding.features, [embedding.original_size], True, False
        try:
            mask_in, coords, labels, boxes = p._prep_prompts(
                None if prompts.point_coords is None else np.asarray(prompts.point_coords, dtype=np.float32),
                None if prompts.point_labels is None else np.asarray(prompts.point_labels),
                None if prompts.boxes is None else np.asarray(prompts.boxes, dtype=np.float32),
                prompts.mask_input, normalize_coords=True)
            with self.autocast():
                masks, iou, low = p._predict(coords, labels, boxes, mask_in, multimask_output=multimask,
                                             return_logits=True)
        finally:
            p.reset_predictor()
        return Prediction(logits=masks.float(), iou_predictions=iou.float(), low_res_logits=low.float())
