#!/usr/bin/env python
"""Prompts per second of each text-to-mask route, batched (all prompts of an image in one call) vs one
prompt per call, on the RefCOCO fixture of the tests (or a real RefCOCO root).

For each route the images are encoded once (timed apart), every distinct expression's text
embedding is computed once (the routes' phrase caches; warmed before timing, so both timings
decode only), then: (a) batched: one ``segment_text`` call per image with all its expressions
(``--repeat`` copies of each, to get realistic batch sizes); (b) baseline: one call per
expression. Both give the same masks; the ratio is the batching gain on this machine. Routes
(tiny seeded random models unless real checkpoints are given; tiny ones are UNTRAINED and only
measure the plumbing): sam3, grounding-dino + mask model, owlv2 + mask model, clip-ranked
automatic masks, text-oracle.

Usage::

    python benchmarks/bench_text.py                         # tiny models, the tests' RefCOCO fixture, CPU
    python benchmarks/bench_text.py --threads 1 --repeat 8
    python benchmarks/bench_text.py --refcoco data/refer --split val --images 20 --device cuda \\
        --sam3 sam3_folder --mask-model sam-vit_h --checkpoint sam_vit_h_4b8939.pth \\
        --grounding-dino gdino_folder --owlv2 owlv2_folder --clip ViT-B-32 --clip-checkpoint clip.bin
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "tests"):
    if str(p) not in sys.path:
        sys.path.append(str(p))


def load_images(root: Path, split: str, n: int):
    from sambench.datasets import build_dataset

    adapter = build_dataset("refcoco", root, split=split)
    out = []
    for image_id in adapter.image_ids()[:n]:
        s = adapter.load_sample(image_id)
        out.append((s, s.image(), [x["sent"] for r in s.extra["refs"] for x in r["sentences"]],
                    [str(r["ann_id"]) for r in s.extra["refs"] for _ in r["sentences"]]))
    return out


def build_routes(args, tmp: Path):
    from sambench.models import build_model, text_tiny
    from sambench.models.text_routes import compose_text_route

    dev = args.device
    mask = lambda: build_model(args.mask_model, checkpoint=args.checkpoint, device=dev)  # noqa: E731
    sam3 = args.sam3 or text_tiny.save_tiny_sam3(tmp / "sam3")
    gd = args.grounding_dino or text_tiny.save_tiny_grounding_dino(tmp / "gd")
    owl = args.owlv2 or text_tiny.save_tiny_owlv2(tmp / "owl")
    clip = args.clip or f"local-dir:{text_tiny.save_tiny_open_clip(tmp / 'clip')}"
    clip_opts = {"points_per_side": args.clip_points}
    if not args.clip:
        clip_opts.update(pred_iou_thresh=0, stability_score_thresh=0)  # an untrained mask model passes no filter
    return {
        "sam3": lambda: build_model("sam3", checkpoint=str(sam3), device=dev),
        "grounding-dino+mask": lambda: compose_text_route(mask(), detector="grounding-dino", detector_checkpoint=str(gd),
                                                          device=dev),
        "owlv2+mask": lambda: compose_text_route(mask(), detector="owlv2", detector_checkpoint=str(owl), device=dev),
        "clip-ranked-amg": lambda: compose_text_route(mask(), clip=clip, clip_checkpoint=args.clip_checkpoint,
                                                      clip_options=clip_opts, device=dev),
        "text-oracle": lambda: build_model("text-oracle"),
    }


def sync(device: str) -> None:
    import torch

    if str(device).startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        torch.cuda.synchronize()


def bench_route(make, images, repeat: int, device: str) -> dict:
    from sambench.models.text import TextQuery

    model = make()
    t0 = time.perf_counter()
    embs = model.encode_batch([im for _, im, _, _ in images], [s for s, _, _, _ in images])
    sync(device)
    encode_s = time.perf_counter() - t0
    queries = [TextQuery(p * repeat, "referring", targets=t * repeat) for _, _, p, t in images]
    for emb, q in zip(embs, queries):  # warm the phrase caches: both timings below decode only
        model.segment_text(emb, q)
    n = sum(len(q) for q in queries)
    t0 = time.perf_counter()
    for emb, q in zip(embs, queries):
        model.segment_text(emb, q)
    sync(device)
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for emb, q in zip(embs, queries):
        for i in range(len(q)):
            model.segment_text(emb, TextQuery([q.phrases[i]], "referring", targets=[q.targets[i]]))
    sync(device)
    single = time.perf_counter() - t0
    return {"label": model.label(), "images": len(images), "prompts": n, "encode_s": encode_s,
            "batched_prompts_per_s": n / batched, "single_prompts_per_s": n / single, "speedup": single / batched,
            "stats": model.text_stats()}


def main(argv=None) -> int:
    import torch

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--refcoco", type=Path, help="a refer data root (default: the tests' fixture, written to a temp dir)")
    p.add_argument("--split", default="val,testA,testB")
    p.add_argument("--images", type=int, default=3)
    p.add_argument("--repeat", type=int, default=4, help="copies of each expression per image (batch size)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    p.add_argument("--routes", help="comma list (default: all)")
    p.add_argument("--mask-model", default="sam-tiny")
    p.add_argument("--checkpoint")
    p.add_argument("--sam3", help="Sam3Model save_pretrained folder (default: a tiny untrained one)")
    p.add_argument("--grounding-dino", help="GroundingDino folder (default: tiny untrained)")
    p.add_argument("--owlv2", help="Owlv2 folder (default: tiny untrained)")
    p.add_argument("--clip", help="open_clip name or local-dir:PATH (default: tiny untrained)")
    p.add_argument("--clip-checkpoint")
    p.add_argument("--clip-points", type=int, default=8, help="automatic-mask grid of the CLIP route")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = args.refcoco
        if root is None:
            from fixtures_refcoco import write_refcoco

            root = write_refcoco(tmp / "refer")
        images = load_images(root, args.split, args.images)
        routes = build_routes(args, tmp)
        wanted = args.routes.split(",") if args.routes else list(routes)
        results = {}
        print(f"{len(images)} images, {sum(len(x[2]) for x in images)} expressions x {args.repeat}; device "
              f"{args.device}, {torch.get_num_threads()} threads")
        print(f"{'route':<22} {'model':<58} {'encode s':>8} {'batched p/s':>12} {'1-by-1 p/s':>11} {'ratio':>6}")
        for name in wanted:
            r = bench_route(routes[name], images, args.repeat, args.device)
            results[name] = r
            print(f"{name:<22} {r['label'][:58]:<58} {r['encode_s']:8.2f} {r['batched_prompts_per_s']:12.1f} "
                  f"{r['single_prompts_per_s']:11.1f} {r['speedup']:6.2f}")
            print(f"{'':<22} counters: {r['stats']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
