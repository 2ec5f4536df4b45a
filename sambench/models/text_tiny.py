"""Tiny, seeded, randomly initialised text-route models, written as real checkpoint folders.

For tests, benchmarks and plumbing (no weights can be downloaded here): each ``save_tiny_*``
builds the real transformers / open_clip class from a small config with seeded random weights,
a small local tokenizer (a character-level CLIP BPE or WordPiece vocabulary; open_clip uses the
BPE vocabulary that ships inside the package) and a small image processor, and writes everything
with ``save_pretrained`` (open_clip: ``open_clip_config.json`` + ``open_clip_pytorch_model.bin``)
into a folder, so the same loading code as for official checkpoints reads it back. Every folder
carries ``sambench.json`` = ``{"weights": "untrained"}``: the loaders label these models
UNTRAINED in every output; their numbers test the plumbing and mean nothing.

Grounding DINO's modelling code hard-codes BERT-base token ids for [CLS] (101), [SEP] (102), "."
(1012) and "?" (1029), so its tiny WordPiece vocabulary keeps those ids.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Dict, Union

import torch

from .hf import MARKER

PathLike = Union[str, Path]
UNTRAINED = {"weights": "untrained", "note": "seeded random tiny config written by sambench.models.text_tiny"}


def _quiet() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _mark(folder: Path, seed: int) -> Path:
    (folder / MARKER).write_text(json.dumps(dict(UNTRAINED, seed=int(seed))))
    return folder


def clip_char_vocab() -> Dict[str, int]:
    """A character-level CLIP BPE vocabulary: each character alone and word-final, then the specials
    last as in CLIP's own vocabulary (OWLv2 reads a query whose first token id is 0 as padding)."""
    vocab: Dict[str, int] = {}
    for ch in string.ascii_lowercase + string.digits + ".,'-!?&":
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def clip_char_tokenizer(model_max_length: int):
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=clip_char_vocab(), merges=[], model_max_length=model_max_length)


def bert_char_tokenizer(folder: Path):
    """A WordPiece vocabulary with BERT-base's ids for [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103,
    "." 1012, "?" 1029, and single characters (alone and as ##continuations) elsewhere."""
    from transformers import BertTokenizer

    fixed = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]", 1012: ".", 1029: "?"}
    chars = list(string.ascii_lowercase + string.digits + ",'-!&")
    pieces = chars + ["##" + c for c in chars]
    tokens = []
    it = iter(pieces)
    for i in range(1030):
        if i in fixed:
            tokens.append(fixed[i])
        elif 1 <= i < 100 or 104 <= i < 1012:
            tokens.append(next(it, f"[unused{i}]"))
        else:
            tokens.append(f"[unused{i}]")
    path = folder / "vocab.txt"
    path.write_text("\n".join(tokens) + "\n")
    return BertTokenizer(vocab=str(path))


def save_tiny_sam3(folder: PathLike, seed: int = 0, image_size: int = 112) -> Path:
    """A tiny ``Sam3Model`` + ``Sam3Processor`` folder (untrained)."""
    from transformers import Sam3Config, Sam3ImageProcessor, Sam3Model, Sam3Processor

    _quiet()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = clip_char_tokenizer(32)
    grid = image_size // 14
    cfg = Sam3Config(
        vision_config=dict(backbone_config=dict(model_type="sam3_vit_model", hidden_size=32, intermediate_size=64,
                                                num_hidden_layers=2, num_attention_heads=2, image_size=image_size,
                                                patch_size=14, window_size=4, global_attn_indexes=[1],
                                                pretrain_image_size=56),
                           fpn_hidden_size=32, backbone_feature_sizes=[[4 * grid] * 2, [2 * grid] * 2, [grid] * 2]),
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, projection_dim=32,
                         num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=32,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        geometry_encoder_config=dict(hidden_size=32, num_layers=1, num_attention_heads=2, intermediate_size=64),
        detr_encoder_config=dict(hidden_size=32, num_layers=1, num_attention_heads=2, intermediate_size=64),
        detr_decoder_config=dict(hidden_size=32, num_layers=1, num_queries=12, num_attention_heads=2, intermediate_size=64),
        mask_decoder_config=dict(hidden_size=32, num_upsampling_stages=3, num_attention_heads=2),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Sam3Model(cfg).eval()
    model.save_pretrained(folder)
    proc = Sam3Processor(Sam3ImageProcessor(size={"height": image_size, "width": image_size},
                                            mask_size={"height": 4 * grid, "width": 4 * grid}), tok)
    proc.save_pretrained(folder)
    return _mark(folder, seed)


def _grounding_config(cls, vocab_size: int):
    return cls(
        backbone_config=dict(model_type="swin", embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                             window_size=4, image_size=64, out_features=["stage2", "stage3", "stage4"],
                             out_indices=[2, 3, 4]),
        text_config=dict(model_type="bert", vocab_size=vocab_size, hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=32, max_position_embeddings=64),
        num_queries=20, encoder_layers=1, decoder_layers=2, d_model=32, encoder_ffn_dim=32, decoder_ffn_dim=32,
        encoder_attention_heads=2, decoder_attention_heads=2, num_feature_levels=4, encoder_n_points=2,
        decoder_n_points=2, max_text_len=32)


def save_tiny_grounding_dino(folder: PathLike, seed: int = 0, mm: bool = False) -> Path:
    """A tiny ``GroundingDinoForObjectDetection`` (``mm=True``: ``MMGroundingDinoForObjectDetection``) folder."""
    from transformers import (GroundingDinoConfig, GroundingDinoForObjectDetection, GroundingDinoImageProcessor,
                              GroundingDinoProcessor, MMGroundingDinoConfig, MMGroundingDinoForObjectDetection)

    _quiet()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = bert_char_tokenizer(folder)
    cfg_cls, model_cls = ((MMGroundingDinoConfig, MMGroundingDinoForObjectDetection) if mm
                          else (GroundingDinoConfig, GroundingDinoForObjectDetection))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(_grounding_config(cfg_cls, len(tok))).eval()
    model.save_pretrained(folder)
    GroundingDinoProcessor(GroundingDinoImageProcessor(size={"shortest_edge": 128, "longest_edge": 160}),
                           tok).save_pretrained(folder)
    return _mark(folder, seed)


def save_tiny_owlv2(folder: PathLike, seed: int = 0) -> Path:
    """A tiny ``Owlv2ForObjectDetection`` + ``Owlv2Processor`` folder (untrained)."""
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    _quiet()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = clip_char_tokenizer(16)
    cfg = Owlv2Config(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=16, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=64, patch_size=16),
        projection_dim=32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Owlv2ForObjectDetection(cfg).eval()
    model.save_pretrained(folder)
    Owlv2Processor(Owlv2ImageProcessor(size={"height": 64, "width": 64}), tok).save_pretrained(folder)
    return _mark(folder, seed)


def save_tiny_open_clip(folder: PathLike, seed: int = 0) -> Path:
    """A tiny open_clip CLIP as a ``local-dir:`` folder (open_clip_config.json + weights; untrained)."""
    import open_clip

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_cfg = {"embed_dim": 16,
                 "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
                 "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.CLIP(**{k: v for k, v in model_cfg.items()})
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {}}))
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    return _mark(folder, seed)
