"""The grid-of-points automatic mask generator (sambench.generation.amg) on cases with known answers."""

import numpy as np
import pytest
import torch

from sambench import masks as mask_utils
from sambench.generation.amg import (AmgConfig, box_nms, build_point_grid, generate_masks, grid_points, masks_to_boxes,
                          rank_order, stability_score)
from sambench.data import Instance, Sample
from sambench.models import build_model
from sambench.models.base import (Capabilities, ImageEmbedding, Prediction, PromptableModel, PromptBatch,
                                  UnsupportedPromptError)


# ---------------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------------

def test_point_grid_is_cell_centres_x_fastest():
    g = build_point_grid(2)
    assert np.array_equal(g, [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])
    g16 = build_point_grid(16)
    assert g16.shape == (256, 2)
    assert g16.min() == pytest.approx(1 / 32) and g16.max() == pytest.approx(31 / 32)
    assert np.allclose(np.diff(np.unique(g16[:, 0])), 1 / 16)
    assert np.all(g16[:16, 1] == g16[0, 1]) and np.all(np.diff(g16[:16, 0]) > 0)  # first row, left to right
    # the same points as segment-anything's generator
    from segment_anything.utils.amg import build_point_grid as sa_grid

    assert np.allclose(g16, sa_grid(16))
    # pixel coordinates: (x * W, y * H)
    assert np.array_equal(grid_points(g, (100, 200)), [[50, 25], [150, 25], [50, 75], [150, 75]])
    assert len(AmgConfig.edges().grid()) == 256 and len(AmgConfig.proposals().grid()) == 64 * 64


def test_stability_score_on_constructed_logits():
    logits = torch.full((10, 10), -3.0)
    logits[2:8, 2:8] = 0.5   # 36 px above -1 (and above 0)
    logits[3:7, 3:7] = 3.0   # 16 px above +1
    assert stability_score(logits, 0.0, 1.0).item() == pytest.approx(16 / 36)
    assert stability_score(logits, 0.0, 0.4).item() == pytest.approx(1.0)  # both thresholds give the 36 px
    # the threshold shifts the two cut-offs: t = 2, offset 1 -> (> 3: none) / (> 1: 16 px)
    assert stability_score(logits, 2.0, 1.0).item() == pytest.approx(0.0)
    assert stability_score(logits, 1.0, 1.0).item() == pytest.approx(16 / 36)  # > 2: 16 px, > 0: 36 px
    # an all-background map scores 0, not NaN
    assert stability_score(torch.full((5, 5), -9.0)).item() == 0.0
    # batched shape (B, K, H, W) -> (B, K), equal to segment-anything's definition
    from segment_anything.utils.amg import calculate_stability_score

    rnd = torch.randn(2, 3, 20, 30) * 2
    s = stability_score(rnd, 0.0, 1.0)
    assert s.shape == (2, 3)
    assert torch.allclose(s, calculate_stability_score(rnd, 0.0, 1.0).float())


def test_masks_to_boxes_inclusive_and_empty():
    m = torch.zeros(3, 8, 10, dtype=torch.bool)
    m[0, 2:5, 3:7] = True     # rows 2..4, cols 3..6
    m[1, 7, 9] = True         # a single pixel in the corner
    boxes = masks_to_boxes(m)
    assert boxes.tolist() == [[3, 2, 6, 4], [9, 7, 9, 7], [0, 0, 0, 0]]
    from segment_anything.utils.amg import batched_mask_to_box

    assert torch.equal(boxes, batched_mask_to_box(m).float())


def test_box_nms_removes_an_exact_duplicate():
    a, b = [0, 0, 10, 10], [20, 20, 40, 30]
    boxes = np.array([a, b, a], dtype=np.float32)
    keep = box_nms(boxes, np.array([0.5, 0.9, 0.8]), 0.7)
    assert keep.tolist() == [1, 2]  # the lower-scored copy of a goes, by decreasing score
    # equal scores: the earlier copy stays
    assert box_nms(np.array([a, a, b], np.float32), np.ones(3), 0.7).tolist() == [0, 2]
    # IoU 0.5 < 0.7 survives, > 0.7 does not
    half = [0, 0, 10, 20]
    assert box_nms(np.array([[0, 0, 10, 10], half], np.float32), np.array([1.0, 0.5]), 0.7).tolist() == [0, 1]
    assert box_nms(np.array([[0, 0, 10, 10], half], np.float32), np.array([1.0, 0.5]), 0.4).tolist() == [0]
    assert box_nms(np.zeros((0, 4)), np.zeros(0), 0.7).tolist() == []


def test_rank_order():
    iou = np.array([0.2, 0.9, 0.5])
    stab = np.array([0.9, 0.1, 0.6])
    assert rank_order(iou, stab, "pred_iou").tolist() == [1, 2, 0]
    assert rank_order(iou, stab, "stability").tolist() == [0, 2, 1]
    assert rank_order(iou, stab, "mean_iou_stability").tolist() == [0, 2, 1]  # 0.55, 0.5, 0.55 (tie: input order)
    exact = rank_order(np.array([0.25, 0.875, 0.5]), np.array([0.75, 0.0, 0.75]), "mean_iou_stability")
    assert exact.tolist() == [2, 0, 1]  # means 0.5, 0.4375, 0.625
    assert rank_order(np.array([0.5, 0.25, 0.5]), np.array([0.5, 0.5, 0.5]), "mean_iou_stability").tolist() == [0, 2, 1]
    assert rank_order(iou, stab, "none").tolist() == [0, 1, 2]
    r1 = rank_order(iou, stab, "random", np.random.default_rng(3))
    r2 = rank_order(iou, stab, "random", np.random.default_rng(3))
    assert r1.tolist() == r2.tolist() and sorted(r1.tolist()) == [0, 1, 2]


def test_config_presets_roundtrip_and_validation():
    e = AmgConfig.edges()
    assert (e.points_per_side, e.multimask, e.pred_iou_thresh, e.stability_score_thresh, e.box_nms_thresh) == \
        (16, True, 0.0, 0.0, 0.7)
    p = AmgConfig.proposals()
    assert (p.points_per_side, p.box_nms_thresh, p.rank_by, p.max_masks, p.pred_iou_thresh) == \
        (64, 0.9, "mean_iou_stability", 1000, 0.0)
    s = AmgConfig.proposals_single_output()
    assert (s.points_per_side, s.multimask, s.box_nms_thresh, s.rank_by, s.max_masks) == (128, False, 0.95, "random", 1000)
    d = AmgConfig.segment_anything()
    assert (d.points_per_side, d.pred_iou_thresh, d.stability_score_thresh, d.box_nms_thresh) == (32, 0.88, 0.95, 0.7)
    for cfg in (e, p, s, d, AmgConfig(points_per_side=None, point_grid=[(0.5, 0.5), (0.1, 0.9)])):
        assert AmgConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        AmgConfig(rank_by="best")
    with pytest.raises(ValueError):
        AmgConfig(points_per_side=None)
    with pytest.raises(ValueError):
        AmgConfig.from_dict({**e.to_dict(), "crop_n_layers": 1})


# ---------------------------------------------------------------------------------------------
# the generator end to end
# ---------------------------------------------------------------------------------------------

H, W = 48, 64


def rect(y0, y1, x0, x1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


GT = {"left": rect(4, 40, 2, 20), "mid": rect(10, 30, 26, 44), "right": rect(2, 46, 48, 62)}


def make_sample() -> Sample:
    insts = [Instance(id=k, rle=mask_utils.encode(m)) for k, m in GT.items()]
    image = np.zeros((H, W, 3), np.uint8)
    return Sample(image_id="synthetic", height=H, width=W, instances=insts, loader=lambda: image)


def test_oracle_through_the_generator_returns_the_ground_truth_masks():
    sample = make_sample()
    oracle = build_model("oracle")
    emb = oracle.encode(sample.image(), sample)
    props = generate_masks(oracle, emb, AmgConfig.segment_anything(points_per_side=8))
    got = props.masks()
    assert len(props) == len(GT)  # 3 identical outputs per point and many points per object: NMS leaves one each
    for name, gt in GT.items():
        assert sum(np.array_equal(m, gt) for m in got) == 1, name
    assert np.all(props.pred_iou == 1.0) and np.all(props.stability == 1.0)
    c = props.counts
    assert c["points"] == 64 and c["generated"] == 192 and c["kept"] == 3
    assert c["after_empty"] < c["generated"]  # background points give empty masks, dropped
    # boxes, areas and the prompting point agree with the masks
    for i, m in enumerate(got):
        ys, xs = np.nonzero(m)
        assert props.boxes[i].tolist() == [xs.min(), ys.min(), xs.max(), ys.max()]
        assert props.areas[i] == m.sum()
        x, y = props.points[i]
        assert m[int(y), int(x)]
    recs = props.to_records()
    assert recs[0]["bbox"][2] == props.boxes[0][2] - props.boxes[0][0] and "segmentation" in recs[0]


def test_results_do_not_depend_on_points_per_batch_and_ranking_caps():
    sample = make_sample()
    oracle = build_model("oracle")
    emb = oracle.encode(sample.image(), sample)
    a = generate_masks(oracle, emb, AmgConfig.edges(points_per_side=8, points_per_batch=1, keep_rles=True))
    b = generate_masks(oracle, emb, AmgConfig.edges(points_per_side=8, points_per_batch=64, keep_rles=True))
    assert a.rles == b.rles and np.array_equal(a.boxes, b.boxes) and a.counts == b.counts
    top = generate_masks(oracle, emb, AmgConfig.proposals(points_per_side=8, max_masks=2))
    assert len(top) == 2 and top.counts["after_nms"] == 3 and top.counts["kept"] == 2
    single = AmgConfig.proposals_single_output(points_per_side=8)
    r1 = generate_masks(oracle, emb, single, seed=5)
    r2 = generate_masks(oracle, emb, single, seed=5)
    assert r1.rles == r2.rles and len(r1) == 3 and r1.counts["generated"] == 64


class ShiftedSquares(PromptableModel):
    """For a point: K masks, all a 10x10 square whose corner is the point (rounded); iou = 0.5 + k/10.

    Points 8 px apart never overlap beyond box IoU 0.7, so nothing but the K identical copies goes.
    """

    name = "shifted-squares"
    weights = "oracle"
    capabilities = Capabilities(points=True, negative_points=False, multimask=True)

    def __init__(self):
        self.calls = []

    def encode(self, image, sample=None):
        return ImageEmbedding(original_size=image.shape[:2])

    def decode(self, embedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        self.check_prompts(prompts, multimask)
        h, w = embedding.original_size
        k = 3 if multimask else 1
        self.calls.append(len(prompts))
        out = torch.full((len(prompts), k, h, w), -5.0)
        for b, (x, y) in enumerate(prompts.point_coords[:, 0]):
            out[b, :, int(y):int(y) + 10, int(x):int(x) + 10] = 5.0
        iou = torch.tensor([[0.5 + j / 10 for j in range(k)]] * len(prompts))
        return Prediction(out, iou)


def test_duplicates_go_filters_apply_and_payloads_follow_the_kept_masks():
    model = ShiftedSquares()
    emb = model.encode(np.zeros((64, 64, 3), np.uint8))
    seen = []

    def fn(logits, masks):
        seen.append(len(masks))
        return [int(m.sum()) for m in masks]

    cfg = AmgConfig.edges(points_per_side=8, points_per_batch=10)
    props = generate_masks(model, emb, cfg, mask_fn=fn)
    assert model.calls == [10] * 6 + [4]          # bounded batches
    assert max(seen) <= 30                          # mask_fn sees one batch at a time
    assert props.counts["generated"] == 192 and len(props) == 64   # one of each point's 3 copies
    assert np.all(props.output_index == 2)          # the copy with the highest predicted IoU stays
    assert props.payloads == [int(a) for a in props.areas]
    # the predicted-IoU filter (strict >) keeps only output 2 (iou 0.7) at 0.65, nothing at 0.7
    assert generate_masks(model, emb, AmgConfig.edges(points_per_side=8, pred_iou_thresh=0.65)).counts["after_pred_iou"] == 64
    assert len(generate_masks(model, emb, AmgConfig.edges(points_per_side=8, pred_iou_thresh=0.7))) == 0
    none = generate_masks(model, emb, AmgConfig.proposals(points_per_side=8, pred_iou_thresh=0.9), mask_fn=fn)
    assert len(none) == 0 and none.rles == [] and none.payloads == [] and none.counts["kept"] == 0
    # NMS off keeps the copies
    assert len(generate_masks(model, emb, AmgConfig.edges(points_per_side=8, box_nms_thresh=None))) == 192
    # the stability filter: logits are +-5, so every mask is perfectly stable at offset 1
    assert generate_masks(model, emb, AmgConfig.edges(points_per_side=8, stability_score_thresh=0.99)).counts["after_stability"] == 192


def test_model_capabilities_are_checked():
    rw = build_model("random-walker")
    emb = rw.encode(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(UnsupportedPromptError, match="multimask"):
        generate_masks(rw, emb, AmgConfig.edges(points_per_side=2))


def test_sam_tiny_runs_through_the_generator():
    model = build_model("sam-tiny", device="cpu")
    image = (np.random.default_rng(0).random((40, 56, 3)) * 255).astype(np.uint8)
    emb = model.encode(image)
    props = generate_masks(model, emb, AmgConfig.edges(points_per_side=3, points_per_batch=4, keep_rles=True,
                                                       keep_logits=True))
    assert props.counts["generated"] == 27
    assert props.logits.shape == (len(props), 40, 56)
    assert len(props) == props.counts["kept"] <= props.counts["after_empty"]
    for m, r in zip(props.masks(), props.logits):
        assert np.array_equal(m, (r > model.mask_threshold).numpy())
