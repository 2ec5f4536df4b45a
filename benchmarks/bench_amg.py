#!/usr/bin/env python
"""Seconds per image of the grid-of-points mask generator and of the App. D.2 edge map.

For each ``--points-per-batch`` value: the mean wall time over ``--images`` images of
(a) ``generate_masks`` with the edges preset (16x16 grid, 768 masks, NMS 0.7; masks reduced to
RLE) and (b) ``sam_edge_map`` (the same generation with the sparse Sobel reduction, then max,
normalisation and edge NMS). The image encoder runs once per image and is timed separately.
Numbers depend on the model (``sam-tiny`` is untrained: its masks are meaningless, its cost is
that of the decoder and the post-processing at the image's resolution) and on the machine.

Usage::

    python benchmarks/bench_amg.py                                  # sam-tiny, 2 BSDS500 test images
    python benchmarks/bench_amg.py --model sam-vit_h --checkpoint sam_vit_h_4b8939.pth --device cuda
    python benchmarks/bench_amg.py --batches 16,64,256 --images 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # after the installed sambench (its tasks/ and datasets need the install)
    sys.path.append(str(REPO))

DEFAULT_DATA = REPO.parent / "shared" / "data" / "BSDS500" / "data" / "images" / "test"


def load_images(folder: Path, n: int):
    from PIL import Image

    paths = sorted(folder.glob("*.jpg"))[:n]
    if paths:
        return [(p.stem, np.asarray(Image.open(p).convert("RGB"))) for p in paths]
    rng = np.random.default_rng(0)  # no data: synthetic 481x321 images
    return [(f"synthetic{i}", (rng.random((321, 481, 3)) * 255).astype(np.uint8)) for i in range(n)]


def main(argv=None) -> int:
    import torch

    from sambench.generation.amg import AmgConfig, generate_masks
    from sambench.models import build_model
    from sambench.generation.sam_edges import EdgeRecipe, sam_edge_map

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="sam-tiny")
    p.add_argument("--checkpoint")
    p.add_argument("--device", default="auto")
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of .jpg images (default: BSDS500 test)")
    p.add_argument("--points-per-side", type=int, default=16)
    p.add_argument("--batches", default="16,64,256", help="points_per_batch values")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)

    model = build_model(args.model, checkpoint=args.checkpoint, device=args.device)
    images = load_images(args.data, args.images)
    sync = (lambda: torch.cuda.synchronize()) if str(model.device).startswith("cuda") else (lambda: None)
    t0 = time.perf_counter()
    embs = [model.encode(im) for _, im in images]
    sync()
    enc = (time.perf_counter() - t0) / len(images)
    # warm-up (numba compilation of edge NMS, allocator)
    sam_edge_map(model, embs[0], EdgeRecipe().with_amg(points_per_side=2))
    rows = []
    for bs in [int(b) for b in args.batches.split(",")]:
        cfg = AmgConfig.edges(points_per_side=args.points_per_side, points_per_batch=bs, keep_rles=True)
        recipe = EdgeRecipe(amg=AmgConfig.edges(points_per_side=args.points_per_side, points_per_batch=bs))
        t_gen, t_edge, kept = [], [], []
        for emb in embs:
            t = time.perf_counter()
            props = generate_masks(model, emb, cfg)
            sync()
            t_gen.append(time.perf_counter() - t)
            kept.append(len(props))
            t = time.perf_counter()
            sam_edge_map(model, emb, recipe)
            sync()
            t_edge.append(time.perf_counter() - t)
        row = {"points_per_batch": bs, "generate_s": float(np.mean(t_gen)), "edge_map_s": float(np.mean(t_edge)),
               "masks_after_nms": float(np.mean(kept))}
        rows.append(row)
        print(f"points_per_batch={bs:4d}  generate_masks {row['generate_s']:.2f} s/img  "
              f"sam_edge_map {row['edge_map_s']:.2f} s/img  ({row['masks_after_nms']:.0f} masks after NMS)", flush=True)
    print(f"encoder: {enc:.2f} s/img  model {model.label()}  device {model.device}  "
          f"images {[i for i, _ in images]} {images[0][1].shape[1]}x{images[0][1].shape[0]}")
    if args.json:
        args.json.write_text(json.dumps({"model": model.label(), "device": str(model.device), "encoder_s": enc,
                                         "points_per_side": args.points_per_side, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
