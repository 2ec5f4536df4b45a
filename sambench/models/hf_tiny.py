"""Tiny, seeded, randomly initialised members of every transformers SAM-family class (UNTRAINED).

Built from the classes' own config objects at a small input size (256 pixels; SAM 3: 224 with its
14-pixel patches) so every task runs end to end on a CPU in seconds. They test plumbing: geometry,
batching, capabilities, reports. Their numbers mean nothing and every output labels them
"untrained". ``save_tiny_hf`` writes one as a ``save_pretrained`` folder (model + processor) with a
``sambench.json`` marker saying it is untrained, so ``--model hf --checkpoint DIR`` labels it too.

EdgeTAM's tiny backbone is timm's ``test_convnext`` (strides 4-32 like EdgeTAM's RepViT-M1, 0.2 M
parameters) instead of RepViT-M1 itself (5 M parameters), to keep the test suite fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Tuple

import torch

from .hf import HF_ARCHITECTURES, MARKER, import_transformers
from .sam import CheckpointError, resolve_device

TINY_SIZE = 256
TINY_SIZE_SAM3 = 224  # a multiple of SAM 3's 14-pixel patch
TINY_TYPES = ("sam", "sam_hq", "sam2", "sam3_tracker", "edgetam")


def tiny_config(model_type: str):
    """The config object of a tiny ``model_type`` (one of TINY_TYPES)."""
    tf = import_transformers()
    s, d = TINY_SIZE, 32
    decoder = dict(hidden_size=d, mlp_dim=64, num_hidden_layers=2, num_attention_heads=2, iou_head_hidden_dim=32)
    if model_type in ("sam", "sam_hq"):
        hq = model_type == "sam_hq"
        vision = (tf.SamHQVisionConfig if hq else tf.SamVisionConfig)(
            hidden_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=s, mlp_ratio=2.0, window_size=4,
            global_attn_indexes=[1], output_channels=d, num_pos_feats=d // 2, initializer_range=0.02)
        prompt = (tf.SamHQPromptEncoderConfig if hq else tf.SamPromptEncoderConfig)(
            hidden_size=d, image_size=s, mask_input_channels=8)
        mask = (tf.SamHQMaskDecoderConfig(vit_dim=64, **decoder) if hq else tf.SamMaskDecoderConfig(**decoder))
        return (tf.SamHQConfig if hq else tf.SamConfig)(vision_config=vision, prompt_encoder_config=prompt,
                                                         mask_decoder_config=mask)
    if model_type == "sam2":
        e = 16
        backbone = tf.Sam2HieraDetConfig(
            hidden_size=e, num_attention_heads=1, image_size=[s, s], blocks_per_stage=[1, 1, 2, 1],
            embed_dim_per_stage=[e, 2 * e, 4 * e, 8 * e], num_attention_heads_per_stage=[1, 2, 4, 8],
            global_attention_blocks=[3])
        vision = tf.Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[8 * e, 4 * e, 2 * e, e],
                                     backbone_feature_sizes=[[s // 4] * 2, [s // 8] * 2, [s // 16] * 2],
                                     fpn_hidden_size=d)
        # the decoder as SAM2Base builds it (MLP 2048, 8 heads, IoU head 256), so sam2-tiny's weights fit it
        sam2_decoder = dict(decoder, mlp_dim=2048, num_attention_heads=8, iou_head_hidden_dim=256)
        return tf.Sam2Config(vision_config=vision, prompt_encoder_config=tf.Sam2PromptEncoderConfig(hidden_size=d, image_size=s),
                             mask_decoder_config=tf.Sam2MaskDecoderConfig(**sam2_decoder))
    if model_type == "sam3_tracker":
        s3, patch = TINY_SIZE_SAM3, 14
        n = s3 // patch
        backbone = tf.Sam3ViTConfig(hidden_size=d, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                    image_size=s3, patch_size=patch, window_size=8, global_attn_indexes=[1],
                                    pretrain_image_size=s3)
        vision = tf.Sam3VisionConfig(backbone_config=backbone, fpn_hidden_size=d,
                                     backbone_feature_sizes=[[4 * n] * 2, [2 * n] * 2, [n] * 2])
        return tf.Sam3TrackerConfig(
            vision_config=vision,
            prompt_encoder_config=tf.Sam3TrackerPromptEncoderConfig(hidden_size=d, image_size=s3, patch_size=patch),
            mask_decoder_config=tf.Sam3TrackerMaskDecoderConfig(**decoder))
    if model_type == "edgetam":
        backbone = tf.TimmWrapperConfig(architecture="test_convnext",
                                        model_args={"in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]})
        vision = tf.EdgeTamVisionConfig(backbone_config=backbone, backbone_channel_list=[64, 48, 32, 24],
                                        backbone_feature_sizes=[[s // 4] * 2, [s // 8] * 2, [s // 16] * 2],
                                        fpn_hidden_size=d)
        return tf.EdgeTamConfig(vision_config=vision,
                                prompt_encoder_config=tf.EdgeTamPromptEncoderConfig(hidden_size=d, image_size=s),
                                mask_decoder_config=tf.EdgeTamMaskDecoderConfig(**decoder))
    raise ValueError(f"no tiny config for model_type '{model_type}' (known: {', '.join(TINY_TYPES)})")


def processor_for(model_type: str, size: int):
    """The class's own processor at input side ``size`` (SamProcessor pads to it; the others resize to it)."""
    tf = import_transformers()
    low = size // 4
    if model_type in ("sam", "sam_hq"):
        image = tf.SamImageProcessor(size={"longest_edge": size}, pad_size={"height": size, "width": size},
                                     mask_size={"longest_edge": low}, mask_pad_size={"height": low, "width": low})
        return (tf.SamHQProcessor if model_type == "sam_hq" else tf.SamProcessor)(image)
    if model_type == "sam3_tracker":
        image = tf.Sam3ImageProcessor(size={"height": size, "width": size}, mask_size={"height": low, "width": low})
        return tf.Sam3TrackerProcessor(image)
    image = tf.Sam2ImageProcessor(size={"height": size, "width": size}, mask_size={"height": low, "width": low})
    return tf.Sam2Processor(image)


def build_tiny_hf_model(model_type: str, seed: int = 0) -> Tuple[torch.nn.Module, object]:
    """(model, processor) of a tiny ``model_type`` with weights drawn from ``seed``."""
    tf = import_transformers()
    config = tiny_config(model_type)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = getattr(tf, HF_ARCHITECTURES[model_type].model_class)(config).eval()
    size = TINY_SIZE_SAM3 if model_type == "sam3_tracker" else TINY_SIZE
    return model, processor_for(model_type, size)


def build_tiny_hf(model_type: str, checkpoint: Optional[str] = None, device: Optional[str] = None, seed: int = 0,
                  **options):
    """The registered ``hf-*-tiny`` models: an UNTRAINED adapter of a tiny ``model_type``."""
    from .hf_adapters import make_adapter

    if checkpoint is not None:
        raise CheckpointError(f"the tiny {model_type} model has seeded random weights and takes no --checkpoint "
                              f"(real checkpoints: --model hf --checkpoint DIR_OR_ID)")
    model, processor = build_tiny_hf_model(model_type, int(seed))
    model = model.to(resolve_device(device))
    name = "hf-" + model_type.replace("_", "-") + "-tiny"
    return make_adapter(model, processor, model_type, name=name, weights="untrained",
                        family=HF_ARCHITECTURES[model_type].family, size="tiny", checkpoint_tag=None,
                        provenance={"checkpoint": None, "checkpoint_sha256": None, "seed": int(seed)}, **options)


def save_tiny_hf(model_type: str, folder: Path, seed: int = 0) -> Path:
    """Write a tiny ``model_type`` as a save_pretrained folder (model, processor, untrained marker)."""
    model, processor = build_tiny_hf_model(model_type, seed)
    folder = Path(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    (folder / MARKER).write_text(json.dumps({"weights": "untrained", "built_by": f"sambench tiny {model_type}",
                                             "seed": int(seed)}))
    return folder
