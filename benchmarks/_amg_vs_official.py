"""bench_point.py's second comparison: sambench's ``generate_masks`` against segment-anything's
``SamAutomaticMaskGenerator`` with the released defaults, on the same embeddings; outputs compared
mask by mask, CPU (or, on CUDA, wall) seconds, min over repeats. See bench_point.py's docstring."""

from __future__ import annotations

import contextlib

import numpy as np

from _bench_timing import syncer, timed



def calibrate_for_filters(model, emb, h, w) -> dict:
    """Rescale the random decoder's mask logits and shift its IoU head until the released defaults
    (IoU > 0.88, stability >= 0.95) keep part of the masks; returns what was done."""
    import torch

    from sambench.generation.amg import AmgConfig, build_point_grid, grid_points, stability_score
    from sambench.models.base import PromptBatch

    pts = grid_points(build_point_grid(8), (h, w))
    prompts = PromptBatch(point_coords=pts[:, None, :], point_labels=np.ones((len(pts), 1), int))
    dec = model.sam.mask_decoder
    with torch.no_grad():
        iou = model.decode(emb, prompts, True).iou_predictions.float()
        shift = 0.88 - float(iou.median()) + 0.01
        dec.iou_prediction_head.layers[-1].bias.add_(shift)
        scale = 1.0
        for _ in range(20):
            stab = stability_score(model.decode(emb, prompts, True).logits.float(), model.mask_threshold, 1.0)
            if float((stab >= AmgConfig().stability_score_thresh).float().mean()) >= 0.3:
                break
            for mlp in dec.output_hypernetworks_mlps:
                mlp.layers[-1].weight.mul_(2.0)
                mlp.layers[-1].bias.mul_(2.0)
            scale *= 2.0
    return {"iou_shift": round(shift, 4), "logit_scale": scale}


def bench_amg(model, data, args, results):
    from segment_anything import SamAutomaticMaskGenerator

    from sambench.generation.amg import AmgConfig, generate_masks

    if args.dtype != "fp32":
        print(f"\nautomatic mask generator: not compared in {args.dtype} (SamAutomaticMaskGenerator fails under "
              f"autocast: its MaskData.to_numpy cannot convert bfloat16/float16); run with --dtype fp32")
        return
    sync = syncer(model)
    ctx = contextlib.nullcontext()  # fp32 here
    with ctx:
        embs = [model.encode(d[1]) for d in data]
        h, w = data[0][1].shape[:2]
        calibration = calibrate_for_filters(model, embs[0], h, w) if args.amg_calibrate else None
    cfg = AmgConfig.segment_anything(points_per_side=args.amg_points)
    official = SamAutomaticMaskGenerator(model.sam, points_per_side=args.amg_points, output_mode="coco_rle")
    current = {}

    def set_image(image, image_format="RGB"):  # the official generator re-encodes; give it our embedding
        p, emb = official.predictor, current["emb"]
        p.reset_image()
        p.original_size, p.input_size = tuple(image.shape[:2]), emb.extra["input_size"]
        p.features, p.is_image_set = emb.features, True

    official.predictor.set_image = set_image
    times = {"sambench": [], "official": []}
    ours, theirs, counts = {}, {}, {}
    for r in range(args.repeats):
        for name in (("sambench", "official") if r % 2 == 0 else ("official", "sambench")):
            cpu = wall = 0.0
            for j, ((_, image, _), emb) in enumerate(zip(data, embs)):
                current["emb"] = emb
                with ctx:
                    if name == "sambench":
                        (ours[j], counts[j]), dw, dc = timed(
                            lambda: (lambda props: (props.to_records(), props.counts))(generate_masks(model, emb, cfg)),
                            sync)
                    else:
                        theirs[j], dw, dc = timed(lambda: official.generate(image), sync)
                cpu += dc
                wall += dw
            times[name].append((cpu, wall))
    n_masks = sum(len(v) for v in theirs.values())
    same = all(len(ours[j]) == len(theirs[j]) and all(
        a["segmentation"]["counts"] == b["segmentation"]["counts"] and a["bbox"] == b["bbox"]
        and a["predicted_iou"] == b["predicted_iou"] and a["area"] == b["area"] for a, b in zip(ours[j], theirs[j]))
        for j in theirs)
    results["amg"] = {"calibration": calibration, "points_per_side": args.amg_points, "identical": bool(same),
                      "masks_compared": n_masks, "times": times, "counts": counts}
    key = 0 if model.device.type == "cpu" else 1
    o = min(t[key] for t in times["official"])
    s = min(t[key] for t in times["sambench"])
    unit = "CPU" if key == 0 else "wall"
    print(f"\nautomatic mask generator, {args.amg_points}x{args.amg_points} grid, released defaults, same embeddings "
          f"({len(data)} images; calibration {calibration}):")
    print(f"  SamAutomaticMaskGenerator {o:.2f} s {unit} (min of {args.repeats}), sambench generate_masks {s:.2f} s: "
          f"official/sambench = {o / s:.2f}x; outputs {'identical' if same else 'DIFFERENT'} "
          f"({n_masks} masks compared)", flush=True)
    print(f"  masks left after each stage (sambench's counts, per image): {list(counts.values())}")
