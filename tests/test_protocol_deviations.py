"""The five protocol points fixed after review, each with a value known by construction.

* instances: a lone box is decoded with multimask output and the most confident mask kept; the
  refinement pass feeds that mask's low-res logits back and takes the single output;
  ``--box-output single`` keeps the single-output mask (recorded);
* segm results carry no detector ``bbox``: areas and APs/APm/APl come from the masks;
* R50 as the edge toolbox computes it;
* single-output proposals: random ranking for NMS too, seeded and recorded;
* void pixels (Cityscapes, DRAM): plain per-mask IoU by default, ``--ignore-void`` recorded.
"""

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sambench import masks as mask_utils
from sambench.data import Instance, Sample
from sambench.models.base import Capabilities, ImageEmbedding, Prediction, PromptableModel

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def rect(h, w, x0, y0, x1, y1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def write_coco(root: Path, h: int, w: int, objects, n_images: int = 1) -> Path:
    """A COCO-format dataset: ``n_images`` noise images and ``objects`` = [(x0, y0, x1, y1)] rectangles
    (RLE, so areas are exact) on image 1."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = []
    for i in range(1, n_images + 1):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        images.append({"id": i, "file_name": f"{i}.png", "height": h, "width": w})
    anns = []
    for k, (x0, y0, x1, y1) in enumerate(objects):
        rle = mask_utils.encode(rect(h, w, x0, y0, x1, y1))
        anns.append({"id": k + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": rle,
                     "area": float((x1 - x0) * (y1 - y0)), "bbox": [x0, y0, x1 - x0, y1 - y0]})
    ann = root / "instances.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}))
    return ann


def run_instances(tmp_path, root, ann, model, *extra):
    from sambench.app.cli import build_datasets
    from sambench.app.runner import run_task
    from sambench.tasks import TASKS
    import argparse

    out = tmp_path / "run"
    args = argparse.Namespace(dataset="coco", root=str(root / "images"), ann=str(ann), split=None, manifest=None,
                              cache_dir="none", seed=0, out=str(out), detections=None, gt_boxes=False, refine=False,
                              max_batch=0, box_output="multimask")
    for k, v in extra:
        setattr(args, k, v)
    task = TASKS.get("instances").from_args(args)
    datasets = build_datasets(args, subsample=False, keep_empty=not task.needs_instances)
    summary = run_task(task, model, datasets, out, progress=False, report=False)
    return summary, json.loads((out / "config.json").read_text())


class BoxModel(PromptableModel):
    """Box prompts -> known masks. Multimask output j (of 3) is a (5+5j)-px square at the box's
    top-left corner with predicted IoU (0.2, 0.9, 0.5)[j]; the single output is an 8-px square (0.7);
    with a mask input (refinement) the single output is a 12-px square. ``big_box_mask``: a box
    of 40x40 gets a 20 (w) x 25 (h) mask instead, any other box its own rectangle (for the AP test)."""

    name = "box-model"
    weights = "oracle"
    capabilities = Capabilities(points=False, negative_points=False, boxes=True, mask_input=True, multimask=True)

    def __init__(self, big_box_mask: bool = False):
        self.big_box_mask = big_box_mask
        self.calls = []

    def encode(self, image, sample=None):
        return ImageEmbedding(original_size=image.shape[:2])

    def decode(self, embedding, prompts, multimask):
        h, w = embedding.original_size
        k = 3 if multimask else 1
        masks = np.zeros((len(prompts), k, h, w), bool)
        iou = np.zeros((len(prompts), k), np.float32)
        low = np.zeros((len(prompts), k, 16, 16), np.float32)
        refine = prompts.mask_input is not None
        self.calls.append({"multimask": multimask, "mask_input": None if not refine else
                           [float(m.mean()) for m in prompts.mask_input]})
        for b, box in enumerate(np.asarray(prompts.boxes, float)):
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            for j in range(k):
                if self.big_box_mask:
                    bw, bh = (20, 25) if (x1 - x0, y1 - y0) == (40, 40) else (x1 - x0, y1 - y0)
                elif refine:
                    bw = bh = 12
                else:
                    bw = bh = (5 + 5 * j) if multimask else 8
                masks[b, j] = rect(h, w, x0, y0, x0 + bw, y0 + bh)
                iou[b, j] = (0.2, 0.9, 0.5)[j] if multimask else 0.7
                low[b, j] = 100 + j if multimask else 200  # tells which output was fed back
        logits = torch.from_numpy(np.where(masks, 10.0, -10.0).astype(np.float32))
        return Prediction(logits=logits, iou_predictions=torch.from_numpy(iou), low_res_logits=torch.from_numpy(low))


# ---------------------------------------------------------------------------------------------
# instances: box output
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("box_output,refine,side", [("multimask", False, 10), ("single", False, 8),
                                                     ("multimask", True, 12)])
def test_box_output_most_confident_multimask_and_refinement(tmp_path, box_output, refine, side):
    """Default: the most confident of the 3 outputs (index 1, a 10-px square); --box-output single: the
    single output (8 px); --refine: output 1's low-res logits go back with the box, single output (12 px)."""
    root = tmp_path / "data"
    ann = write_coco(root, 64, 64, [(4, 4, 40, 40)])
    model = BoxModel()
    s, config = run_instances(tmp_path, root, ann, model, ("gt_boxes", True), ("box_output", box_output),
                              ("refine", refine))
    import pandas as pd

    rec = pd.read_csv(tmp_path / "run" / "records" / "records-rank0.csv")
    assert list(rec["mask_area"]) == [side * side]
    assert model.calls[0]["multimask"] == (box_output == "multimask")
    if refine:
        assert model.calls[1] == {"multimask": False, "mask_input": [101.0]}  # output 1 fed back
    else:
        assert len(model.calls) == 1
    p = config["protocol"]
    assert p["box_output"] == box_output and p["refine"] == refine
    assert s["protocol"]["box_output"] == box_output


def test_box_output_multimask_needs_a_multimask_model(tmp_path):
    from sambench.models.base import UnsupportedPromptError
    from sambench.tasks.instances import InstancesTask

    class Single(BoxModel):
        capabilities = Capabilities(points=False, negative_points=False, boxes=True, mask_input=True, multimask=False)

    with pytest.raises(UnsupportedPromptError, match="--box-output single"):
        InstancesTask(gt_boxes=True).check_model(Single())
    InstancesTask(gt_boxes=True, box_output="single").check_model(Single())


# ---------------------------------------------------------------------------------------------
# mask AP: size buckets from the masks
# ---------------------------------------------------------------------------------------------


def test_segm_results_carry_no_detector_bbox_so_aps_comes_from_masks(tmp_path):
    """GT: a 30x30 square (900 px, small). Detection A (score .9): a 40x40 box elsewhere whose mask is
    20x25 (500 px, small); B (.8): the GT's box, whose mask is the GT. A is a small false positive
    ranked first, so APs = 0.5 (with A's 40x40 box as its area it would be 'medium' and APs 1.0)."""
    root = tmp_path / "data"
    ann = write_coco(root, 128, 128, [(10, 10, 40, 40)])
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [60, 60, 40, 40], "score": 0.9},
                                {"image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30], "score": 0.8}]))
    s, _ = run_instances(tmp_path, root, ann, BoxModel(big_box_mask=True), ("detections", str(dets)))
    assert s["APs"] == pytest.approx(0.5) and s["APm"] == -1.0 and s["APl"] == -1.0
    assert s["AP50"] == pytest.approx(0.5)
    written = json.loads((tmp_path / "run" / "coco_results.json").read_text())
    assert all("bbox" not in r for r in written)

    # the same results with the detector's box: pycocotools puts A in the medium bucket (APs 1.0)
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with_box = [dict(r, bbox=b) for r, b in zip(written, ([60, 60, 40, 40], [10, 10, 30, 30]))]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann))
        ev = COCOeval(gt, gt.loadRes(with_box), "segm")
        ev.evaluate(), ev.accumulate(), ev.summarize()
    assert ev.stats[3] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# R50
# ---------------------------------------------------------------------------------------------


def test_r50_as_the_edge_toolbox_computes_it():
    """R = [.9, .8, .6, .3], P = [.4, .6, .55, .7]: over the unique-precision curve (sorted by P),
    recall interpolated at P = max(min P, 0.5) = 0.5 between (.4, .9) and (.55, .6): 0.70 (the
    largest recall with P >= 0.5 would say 0.8 or, interpolated in threshold order, 0.85)."""
    from sambench.metrics.bsds import BoundaryCounts, collect_results

    c = BoundaryCounts(np.array([0.2, 0.4, 0.6, 0.8]), np.array([9, 8, 6, 3.0]), np.array([10, 10, 10, 10.0]),
                       np.array([4, 6, 11, 7.0]), np.array([10, 10, 20, 10.0]))
    res = collect_results([c])
    np.testing.assert_allclose(res.recall, [0.9, 0.8, 0.6, 0.3])
    np.testing.assert_allclose(res.precision, [0.4, 0.6, 0.55, 0.7])
    assert res.r50 == pytest.approx(0.70)
    # minimum precision above 0.5: recall at that precision (x = max(min P, .5) = min P)
    c2 = BoundaryCounts(np.array([0.3, 0.6]), np.array([9, 4.0]), np.array([10, 10.0]), np.array([6, 9.0]),
                        np.array([10, 10.0]))
    assert collect_results([c2]).r50 == pytest.approx(0.9)


# ---------------------------------------------------------------------------------------------
# single-output proposals: random NMS ranking
# ---------------------------------------------------------------------------------------------


class SameBoxModel(PromptableModel):
    """Every point prompt gets the same 40x40 square (so NMS keeps exactly one), single output,
    predicted IoU increasing with the prompt's x + y."""

    name = "same-box"
    weights = "oracle"
    capabilities = Capabilities(points=True, negative_points=True, boxes=False, mask_input=False, multimask=False)

    def encode(self, image, sample=None):
        return ImageEmbedding(original_size=image.shape[:2])

    def decode(self, embedding, prompts, multimask):
        h, w = embedding.original_size
        m = torch.from_numpy(np.where(rect(h, w, 10, 10, 50, 50), 10.0, -10.0).astype(np.float32))
        coords = torch.as_tensor(np.asarray(prompts.point_coords, np.float32))[:, 0]
        return Prediction(logits=m[None, None].repeat(len(prompts), 1, 1, 1),
                          iou_predictions=(coords.sum(1, keepdim=True) / (h + w)).float())


def test_single_output_proposals_rank_nms_at_random_seeded():
    from sambench.generation.amg import AmgConfig, generate_masks
    from sambench.tasks.proposals import ProposalsTask

    model = SameBoxModel()
    emb = model.encode(np.zeros((64, 64, 3), np.uint8))
    cfg = AmgConfig.proposals_single_output(points_per_side=4)
    assert cfg.nms_score == "random" and cfg.rank_by == "random"
    kept = [int(generate_masks(model, emb, cfg, seed=s).point_index[0]) for s in range(12)]
    assert len(set(kept)) > 2  # the winner of NMS is drawn, not the highest predicted IoU (point 15)
    assert kept == [int(generate_masks(model, emb, cfg, seed=s).point_index[0]) for s in range(12)]  # seeded
    by_iou = generate_masks(model, emb, AmgConfig.proposals_single_output(points_per_side=4, nms_score="pred_iou"))
    assert int(by_iou.point_index[0]) == 15
    p = ProposalsTask(variant="single").protocol()
    assert p["amg"]["nms_score"] == "random" and p["nms_ranking"].startswith("random")
    assert ProposalsTask().protocol()["amg"]["nms_score"] == "pred_iou"


# ---------------------------------------------------------------------------------------------
# void pixels
# ---------------------------------------------------------------------------------------------


class WholeImage(PromptableModel):
    """Predicts every pixel, whatever the clicks."""

    name = "whole-image"
    weights = "oracle"
    capabilities = Capabilities(points=True, negative_points=True, boxes=False, mask_input=False, multimask=False)

    def encode(self, image, sample=None):
        return ImageEmbedding(original_size=image.shape[:2])

    def decode(self, embedding, prompts, multimask):
        h, w = embedding.original_size
        return Prediction(logits=torch.full((len(prompts), 1, h, w), 10.0), iou_predictions=torch.ones(len(prompts), 1))


@pytest.mark.parametrize("ignore_void", [False, True])
def test_void_is_plain_background_unless_ignore_void(ignore_void):
    """20x20 image, GT a 10x10 square; void = a 5x20 strip (100 px); a dataset ignore band (GrabCut
    style) of 20 px always excluded. A whole-image prediction: plain IoU = 100 / (400 - 20); with
    --ignore-void: 100 / (400 - 20 - 100)."""
    from sambench.tasks.point import PointTask

    h = w = 20
    gt = rect(h, w, 0, 0, 10, 10)
    void = rect(h, w, 0, 15, 20, 20)
    band = rect(h, w, 10, 10, 20, 12)
    sample = Sample("x", h, w, [Instance("1", mask_utils.encode(gt))], loader=lambda: np.zeros((h, w, 3), np.uint8),
                    ignore=mask_utils.encode(band), void=mask_utils.encode(void))
    task = PointTask(points=[1], ignore_void=ignore_void)
    model = WholeImage()
    rows = task.process(model, sample, model.encode(np.zeros((h, w, 3), np.uint8)), sample.instances, 0, "d")
    expected = 100 / (400 - 20 - (100 if ignore_void else 0))
    assert float(rows[0]["iou"]) == pytest.approx(expected, abs=1e-6)
    p = task.protocol()
    assert p["ignore_void"] is ignore_void and PointTask.from_protocol(p).ignore_void is ignore_void


def test_ignore_void_option_is_recorded_in_the_run_config(tmp_path):
    import argparse

    from sambench.tasks import TASKS

    parser = argparse.ArgumentParser()
    TASKS.get("point").add_arguments(parser)
    assert TASKS.get("point").from_args(parser.parse_args([])).protocol()["ignore_void"] is False
    task = TASKS.get("point").from_args(parser.parse_args(["--ignore-void"]))
    assert task.protocol()["ignore_void"] is True and "excluded" in task.protocol()["void_pixels"]


# ---------------------------------------------------------------------------------------------
# oracle honesty
# ---------------------------------------------------------------------------------------------


def test_oracle_box_on_no_object_returns_an_empty_mask():
    from sambench.models.base import PromptBatch
    from sambench.models.oracle import Oracle

    h = w = 64
    sample = Sample("x", h, w, [Instance("a", mask_utils.encode(rect(h, w, 2, 2, 12, 12))),
                                Instance("b", mask_utils.encode(rect(h, w, 30, 30, 40, 40)))],
                    loader=lambda: np.zeros((h, w, 3), np.uint8))
    model = Oracle()
    emb = model.encode(np.zeros((h, w, 3), np.uint8), sample)
    boxes = np.array([[50, 2, 60, 12], [30, 30, 40, 40]], float)  # nothing there; exactly b
    pred = model.decode(emb, PromptBatch(boxes=boxes), multimask=False)
    masks = (pred.logits > 0).numpy()
    assert not masks[0].any() and float(pred.iou_predictions[0, 0]) == 0.0
    assert np.array_equal(masks[1, 0], rect(h, w, 30, 30, 40, 40))
