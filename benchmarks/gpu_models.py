#!/usr/bin/env python
"""Encoder and decoder time per image of every SAM-family adapter, at real size, in one table.

Each family is built at its released size with random weights (the official SAM ViT-B/L/H, SAM 2.1
Hiera-T/S/B+/L and HQ-SAM ViT-H modules; transformers' SamModel ViT-H, SamHQModel ViT-H,
Sam2Model Hiera-T and Hiera-L, Sam3TrackerModel, EdgeTamModel), or loaded from real checkpoints
found in ``--checkpoints DIR`` (official file names such as ``sam_vit_h_4b8939.pth``,
``sam2.1_hiera_large.pt``, ``sam_hq_vit_h.pth``, and ``save_pretrained`` folders), and timed
through sambench's own adapters (what a run executes):

- encode: ``encode_batch`` of one image (latency) and of ``--batch`` images (per image);
- decode: one ``decode`` call with ``--prompts`` single-point prompt sets, multimask where the
  model has it (the point task's first round; the AMG's batches), per call and per prompt;
- peak GPU memory.

Timings are medians over ``--repeat`` runs after one warm-up, CUDA-synchronised. Random weights
cost what trained ones cost (same shapes, same kernels); their masks mean nothing.

Usage::

    python benchmarks/gpu_models.py                                # all families, CUDA, bf16 autocast
    python benchmarks/gpu_models.py --checkpoints /data/ckpts      # real checkpoints instead of random
    python benchmarks/gpu_models.py --models sam-vit_h,hf-sam2-l --dtype fp32 --out table.md
    python benchmarks/gpu_models.py --quick                        # CPU: the tiny configs, to test the script
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # after the installed sambench (its tasks/ and datasets need the install)
    sys.path.append(str(REPO))


# -- real-size members with random weights ------------------------------------------------------------

def _official_sam(arch: str, device):
    from segment_anything import sam_model_registry

    from sambench.models.sam import SamAdapter

    adapter = SamAdapter(sam_model_registry[arch](checkpoint=None), name=f"sam-{arch}", device=device,
                         weights="untrained", architecture=f"sam_{arch}")
    return adapter


def _official_sam2(variant: str, device):
    from sambench.models.releases import OFFICIAL_SAM2
    from sambench.models.sam2_official import Sam2OfficialAdapter, build_sam2_module

    rel = OFFICIAL_SAM2[variant]
    return Sam2OfficialAdapter(build_sam2_module(rel.config), name=variant, family=rel.family, size=rel.size,
                               device=device, weights="untrained", provenance={})


def _official_hq(arch: str, device):
    import segment_anything_hq

    from sambench.models.sam_hq import HQSamAdapter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sam = segment_anything_hq.sam_model_registry[arch](checkpoint=None)
    return HQSamAdapter(sam, name=f"sam-hq-{arch}", size={"vit_h": "ViT-H", "vit_l": "ViT-L", "vit_b": "ViT-B"}[arch],
                        device=device, weights="untrained", provenance={})


def _hf(model_type: str, size: str, device):
    import transformers as tf

    from sambench.models.hf import HF_ARCHITECTURES
    from sambench.models.hf_adapters import make_adapter

    vit_h = dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=16, global_attn_indexes=[7, 15, 23, 31])
    if model_type in ("sam", "sam_hq"):
        hq = model_type == "sam_hq"
        config = (tf.SamHQConfig if hq else tf.SamConfig)(
            vision_config=(tf.SamHQVisionConfig if hq else tf.SamVisionConfig)(**vit_h),
            **({"mask_decoder_config": tf.SamHQMaskDecoderConfig(vit_dim=1280)} if hq else {}))
        processor = (tf.SamHQProcessor if hq else tf.SamProcessor)(tf.SamImageProcessor())
    elif model_type == "sam2":
        backbone = {} if size == "Hiera-T" else dict(
            hidden_size=144, num_attention_heads=2, blocks_per_stage=[2, 6, 36, 4],
            embed_dim_per_stage=[144, 288, 576, 1152], num_attention_heads_per_stage=[2, 4, 8, 16],
            window_size_per_stage=[8, 4, 16, 8], global_attention_blocks=[23, 33, 43])
        vision = tf.Sam2VisionConfig(backbone_config=tf.Sam2HieraDetConfig(**backbone),
                                     backbone_channel_list=[1152, 576, 288, 144] if backbone else None)
        config, processor = tf.Sam2Config(vision_config=vision), tf.Sam2Processor(tf.Sam2ImageProcessor())
    elif model_type == "sam3_tracker":
        config, processor = tf.Sam3TrackerConfig(), tf.Sam3TrackerProcessor(tf.Sam3ImageProcessor())
    else:  # EdgeTAM: its RepViT-M1 backbone through timm, named explicitly
        backbone = tf.TimmWrapperConfig(architecture="repvit_m1",
                                        model_args={"in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]})
        config = tf.EdgeTamConfig(vision_config=tf.EdgeTamVisionConfig(backbone_config=backbone,
                                                                       backbone_channel_list=[384, 192, 96, 48]))
        processor = tf.Sam2Processor(tf.Sam2ImageProcessor())
    model = getattr(tf, HF_ARCHITECTURES[model_type].model_class)(config).eval()
    return make_adapter(model, processor, model_type, name=f"hf-{model_type}", weights="untrained",
                        family=HF_ARCHITECTURES[model_type].family, size=size, checkpoint_tag=None, provenance={})


REAL: Dict[str, Callable] = {
    "sam-vit_b": lambda d: _official_sam("vit_b", d),
    "sam-vit_l": lambda d: _official_sam("vit_l", d),
    "sam-vit_h": lambda d: _official_sam("vit_h", d),
    "sam2.1-hiera-t": lambda d: _official_sam2("sam2.1-hiera-t", d),
    "sam2.1-hiera-s": lambda d: _official_sam2("sam2.1-hiera-s", d),
    "sam2.1-hiera-b+": lambda d: _official_sam2("sam2.1-hiera-b+", d),
    "sam2.1-hiera-l": lambda d: _official_sam2("sam2.1-hiera-l", d),
    "sam-hq-vit_h": lambda d: _official_hq("vit_h", d),
    "hf-sam-h": lambda d: _hf("sam", "ViT-H", d),
    "hf-sam-hq-h": lambda d: _hf("sam_hq", "ViT-H", d),
    "hf-sam2-t": lambda d: _hf("sam2", "Hiera-T", d),
    "hf-sam2-l": lambda d: _hf("sam2", "Hiera-L", d),
    "hf-sam3-tracker": lambda d: _hf("sam3_tracker", "tracker", d),
    "hf-edgetam": lambda d: _hf("edgetam", "RepViT-M1", d),
}
QUICK = ["sam-tiny", "sam2-tiny", "sam-hq-tiny", "hf-sam-tiny", "hf-sam-hq-tiny", "hf-sam2-tiny",
         "hf-sam3-tracker-tiny", "hf-edgetam-tiny"]
OFFICIAL_FILES = {"sam_vit_h_4b8939.pth": "sam-vit_h", "sam_vit_l_0b3195.pth": "sam-vit_l",
                  "sam_vit_b_01ec64.pth": "sam-vit_b", "sam_hq_vit_h.pth": "sam-hq-vit_h",
                  "sam_hq_vit_l.pth": "sam-hq-vit_l", "sam_hq_vit_b.pth": "sam-hq-vit_b"}


def checkpoint_builders(folder: Path, dtype: str) -> Dict[str, Callable]:
    """Builders for the real checkpoints in ``folder`` (official file names, save_pretrained subfolders)."""
    from sambench.models import build_model
    from sambench.models.releases import OFFICIAL_SAM2

    names = dict(OFFICIAL_FILES, **{rel.file: variant for variant, rel in OFFICIAL_SAM2.items()})
    out: Dict[str, Callable] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name in names:
            out[names[path.name]] = (lambda n, p: lambda d: build_model(n, checkpoint=str(p), device=str(d), dtype=dtype))(
                names[path.name], path)
        elif path.is_dir() and (path / "config.json").is_file():
            out[f"hf:{path.name}"] = (lambda p: lambda d: build_model("hf", checkpoint=str(p), device=str(d),
                                                                       dtype=dtype))(path)
    return out


# -- timing ---------------------------------------------------------------------------------------

def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _median_ms(fn, repeat: int, device) -> float:
    fn()  # warm-up
    _sync(device)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def test_images(n: int, h: int, w: int) -> List[np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w]
    base = np.stack([xx * 255 // w, yy * 255 // h, (xx ^ yy) & 255], -1)
    return [np.clip(base + rng.integers(0, 40, (h, w, 3)), 0, 255).astype(np.uint8) for _ in range(n)]


def time_model(model, images: List[np.ndarray], prompts: int, repeat: int) -> dict:
    from sambench.models import PromptBatch

    device = model.device
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    h, w = images[0].shape[:2]
    rng = np.random.default_rng(1)
    pb = PromptBatch(point_coords=rng.uniform([0, 0], [w - 1, h - 1], size=(prompts, 1, 2)),
                     point_labels=np.ones((prompts, 1), dtype=np.int64))
    enc1 = _median_ms(lambda: model.encode_batch(images[:1]), repeat, device)
    encb = _median_ms(lambda: model.encode_batch(images), repeat, device) / len(images)
    emb = model.encode_batch(images[:1])[0]
    multimask = model.capabilities.multimask
    dec = _median_ms(lambda: model.decode(emb, pb, multimask), repeat, device)
    params = sum(p.numel() for p in _modules(model).parameters()) / 1e6
    peak = torch.cuda.max_memory_allocated(device) / 2 ** 30 if torch.device(device).type == "cuda" else float("nan")
    return {"params_m": params, "encode_ms": enc1, "encode_batch_ms": encb, "decode_ms": dec,
            "decode_per_prompt_ms": dec / prompts, "masks": model.capabilities.n_multimask if multimask else 1,
            "peak_gib": peak}


def _modules(model) -> torch.nn.Module:
    for attr in ("sam", "module", "model"):
        if isinstance(getattr(model, attr, None), torch.nn.Module):
            return getattr(model, attr)
    return torch.nn.Module()


def format_table(rows: List[dict], header: str) -> str:
    cols = ["model", "label", "params (M)", "dtype", "encode ms (1 img)", "encode ms/img (batch)",
            "decode ms (call)", "decode ms/prompt", "masks/prompt", "peak GiB"]
    lines = [header, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | failed: {r['error']} |" + " |" * (len(cols) - 2))
            continue
        lines.append(f"| {r['model']} | {r['label']} | {r['params_m']:.1f} | {r['dtype']} | {r['encode_ms']:.1f} | "
                     f"{r['encode_batch_ms']:.1f} | {r['decode_ms']:.1f} | {r['decode_per_prompt_ms']:.3f} | "
                     f"{r['masks']} | {'-' if r['peak_gib'] != r['peak_gib'] else format(r['peak_gib'], '.2f')} |")
    return "\n".join(lines)


def run(argv: Optional[List[str]] = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="the tiny configs on CPU (tests the script; no GPU needed)")
    p.add_argument("--checkpoints", type=Path, help="folder of real checkpoints to time instead of random weights")
    p.add_argument("--models", help="comma-separated subset of the model names")
    p.add_argument("--device", default=None, help="default: cuda when present, else cpu")
    p.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], help="default: bf16 (fp32 with --quick or on CPU)")
    p.add_argument("--images", type=int, default=4, help="images per batched encode (default 4)")
    p.add_argument("--size", default="768x1024", help="image HxW (default 768x1024; --quick: 96x128)")
    p.add_argument("--prompts", type=int, default=64, help="prompt sets per decode call (default 64)")
    p.add_argument("--repeat", type=int, default=5, help="timed repetitions (default 5; --quick: 1)")
    p.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    args = p.parse_args(argv)

    from sambench.models import build_model

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() and not args.quick else "cpu"))
    dtype = args.dtype or ("fp32" if args.quick or device.type == "cpu" else "bf16")
    if args.quick:
        builders = {n: (lambda n: lambda d: build_model(n, device=str(d)))(n) for n in QUICK}
        size, repeat = ("96x128" if args.size == "768x1024" else args.size), (args.repeat if args.repeat != 5 else 1)
    else:
        builders = checkpoint_builders(args.checkpoints, dtype) if args.checkpoints else dict(REAL)
        size, repeat = args.size, args.repeat
    if args.models:
        wanted = [m.strip() for m in args.models.split(",") if m.strip()]
        unknown = [m for m in wanted if m not in builders]
        if unknown:
            raise SystemExit(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(builders)}")
        builders = {m: builders[m] for m in wanted}
    h, w = (int(v) for v in size.lower().split("x"))
    images = test_images(args.images, h, w)
    rows = []
    for name, build in builders.items():
        try:
            with (torch.device(device) if device.type == "cuda" else _null()):  # random init on the GPU: fast
                model = build(device)
            if model.dtype != dtype:
                model.set_dtype(dtype)
            row = time_model(model, images, args.prompts, repeat)
            rows.append(dict(row, model=name, label=model.label(), dtype=model.dtype))
            print(f"{name}: encode {row['encode_ms']:.1f} ms, decode {row['decode_ms']:.1f} ms", file=sys.stderr)
        except Exception as exc:  # one failing family must not hide the others' numbers
            rows.append({"model": name, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"})
            print(f"{name}: FAILED {rows[-1]['error']}", file=sys.stderr)
        finally:
            model = None
            if device.type == "cuda":
                torch.cuda.empty_cache()
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    header = (f"SAM-family adapters on {gpu}, torch {torch.__version__}, {dtype}, images {h}x{w}, "
              f"batch {args.images}, {args.prompts} prompts/decode, median of {repeat}"
              + (" (tiny untrained configs: --quick)" if args.quick else
                 " (real checkpoints)" if args.checkpoints else " (real sizes, random weights)"))
    table = format_table(rows, header)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return table


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    run()
