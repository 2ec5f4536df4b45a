"""Edge maps from promptable models (App. D.2), the classical baselines, and the ``edges`` task end to end."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import ndimage as ndi

from conftest import run_cli, shared
from sambench.metrics.bsds import read_prediction_png
from sambench.app.cli import main
from sambench.models import build_model
from sambench.models.base import (Capabilities, ImageEmbedding, Prediction, PromptableModel, PromptBatch,
                                  UnsupportedPromptError)
from sambench.generation.sam_edges import (EdgeRecipe, boundary_pixels, combine_contributions, mask_edge_contributions,
                                quantize_edges, sam_edge_map, sobel_magnitude, write_edge_png)


# ---------------------------------------------------------------------------------------------
# the recipe's pieces
# ---------------------------------------------------------------------------------------------

def test_sobel_magnitude_matches_scipy():
    x = torch.rand(2, 17, 23)
    ours = sobel_magnitude(x).numpy()
    for i in range(2):
        a = x[i].numpy().astype(np.float64)
        ref = np.hypot(ndi.sobel(a, axis=0, mode="nearest"), ndi.sobel(a, axis=1, mode="nearest"))
        assert np.allclose(ours[i], ref, atol=1e-5)


def test_boundary_pixel_modes_on_a_square():
    m = torch.zeros(1, 12, 12, dtype=torch.bool)
    m[0, 3:8, 4:9] = True  # 5 x 5
    outer = boundary_pixels(m, "outer")[0].numpy()
    inner = boundary_pixels(m, "inner")[0].numpy()
    both = boundary_pixels(m, "both")[0].numpy()
    assert outer.sum() == 7 * 7 - 25 and not (outer & m[0].numpy()).any()
    assert inner.sum() == 25 - 9 and (inner <= m[0].numpy()).all()
    assert np.array_equal(both, outer | inner)
    # a mask touching the image border: the border is not a boundary
    edge = torch.zeros(1, 6, 6, dtype=torch.bool)
    edge[0, :, :3] = True
    assert boundary_pixels(edge, "inner")[0].numpy()[:, :2].sum() == 0
    assert boundary_pixels(edge, "outer")[0].numpy().sum() == 6


def test_sparse_contributions_give_the_dense_pixelwise_max():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 20, 30, generator=g) * 4
    masks = logits > 0.3
    contrib = mask_edge_contributions(logits, masks, mask_threshold=0.3, boundary="outer")
    dense = sobel_magnitude(torch.sigmoid(logits - 0.3)) * boundary_pixels(masks, "outer")
    assert np.allclose(combine_contributions(contrib, (20, 30)), dense.max(0).values.numpy(), atol=1e-6)
    # each mask's list lies on its own outer boundary
    for (idx, val), m in zip(contrib, boundary_pixels(masks, "outer")):
        assert m.flatten()[torch.as_tensor(idx, dtype=torch.long)].all() and (val > 0).all()


class KnownMasks(PromptableModel):
    """Answers a point with the known mask containing it (logits +-6), for every one of its 3 outputs."""

    name = "known-masks"
    weights = "oracle"
    capabilities = Capabilities(points=True, negative_points=False, multimask=True)

    def __init__(self, masks):
        self.masks = masks

    def encode(self, image, sample=None):
        return ImageEmbedding(original_size=image.shape[:2])

    def decode(self, embedding, prompts: PromptBatch, multimask: bool) -> Prediction:
        self.check_prompts(prompts, multimask)
        h, w = embedding.original_size
        k = 3 if multimask else 1
        out = np.full((len(prompts), k, h, w), -6.0, np.float32)
        for b, (x, y) in enumerate(prompts.point_coords[:, 0]):
            for m in self.masks:
                if m[int(y), int(x)]:
                    out[b, :] = np.where(m, 6.0, -6.0)
                    break
        return Prediction(torch.from_numpy(out), torch.full((len(prompts), k), 0.9))


def test_edge_map_of_known_masks_peaks_on_their_outer_boundary():
    h, w = 60, 80
    m1 = np.zeros((h, w), bool)
    m1[10:30, 12:40] = True
    m2 = np.zeros((h, w), bool)
    m2[35:52, 45:70] = True
    model = KnownMasks([m1, m2])
    emb = model.encode(np.zeros((h, w, 3), np.uint8))
    ring = boundary_pixels(torch.from_numpy(np.stack([m1, m2])), "outer").any(0).numpy()

    raw = sam_edge_map(model, emb, EdgeRecipe(edge_nms=False).with_amg(points_per_side=8), keep_proposals=True)
    assert raw.counts["generated"] == 192 and raw.counts["after_nms"] == 2  # duplicates gone, both squares kept
    assert np.array_equal(raw.edges > 0, ring)                                # nothing off the outer boundary
    assert raw.edges.max() == 1.0 and raw.edges[ring].min() > 0.3
    assert len(raw.proposals) == 2 and raw.proposals.payloads is None

    res = sam_edge_map(model, emb, EdgeRecipe().with_amg(points_per_side=8))  # with edge NMS
    e = res.edges
    assert 0 < e.max() <= 1
    assert ring[np.unravel_index(np.argmax(e), e.shape)]
    strong = e > 0.6 * e.max()
    near = ndi.binary_dilation(ring, structure=np.ones((3, 3), bool))
    assert strong.any() and near[strong].all()                      # the maxima are on the known boundary
    assert ring[strong].mean() > 0.9                                # (the mask corners' smoothing: within 1 px)
    assert (e[ring] > 0.6 * e.max()).mean() > 0.9                   # and (nearly) all of it is a maximum
    nothing = sam_edge_map(KnownMasks([]), emb, EdgeRecipe().with_amg(points_per_side=4))
    assert nothing.counts["kept"] == 0 and nothing.edges.shape == (h, w) and not nothing.edges.any()
    inner = EdgeRecipe(boundary="inner", edge_nms=False).with_amg(points_per_side=8)
    e_in = sam_edge_map(model, emb, inner).edges
    assert np.array_equal(e_in > 0, boundary_pixels(torch.from_numpy(np.stack([m1, m2])), "inner").any(0).numpy())


def test_recipe_roundtrip_and_validation():
    r = EdgeRecipe().with_amg(points_per_side=8)
    assert EdgeRecipe.from_dict(r.to_dict()) == r
    d = EdgeRecipe().to_dict()
    assert d["amg"]["points_per_side"] == 16 and d["amg"]["box_nms_thresh"] == 0.7
    assert d["amg"]["pred_iou_thresh"] == 0 and d["amg"]["stability_score_thresh"] == 0
    assert d["boundary"] == "outer" and d["probability"] == "sigmoid" and d["edge_nms"] is True
    with pytest.raises(ValueError):
        EdgeRecipe(boundary="outside")


def test_png_roundtrip_is_what_the_benchmark_reads(tmp_path):
    e = np.linspace(0, 1, 12 * 7).reshape(12, 7)
    q = write_edge_png(tmp_path / "x.png", e)
    assert q.dtype == np.uint8 and q.max() == 255 and np.array_equal(q, quantize_edges(e))
    assert np.array_equal(read_prediction_png(tmp_path / "x.png"), q.astype(np.float64) / 255.0)


# ---------------------------------------------------------------------------------------------
# classical baselines as models
# ---------------------------------------------------------------------------------------------

def test_classical_detectors_are_weight_free_models_without_prompts():
    import sambench.tasks  # noqa: F401  (registers the edges task and its models)
    from sambench.tasks.edges import EdgesTask, has_edge_map

    img = (np.random.default_rng(1).random((30, 40, 3)) * 255).astype(np.uint8)
    for name in ("sobel", "canny", "felzenszwalb"):
        m = build_model(name)
        assert m.weights == "weight-free" and m.label() == f"{name} (weight-free)" and has_edge_map(m)
        assert not m.capabilities.points
        e = m.edge_map(m.encode(img))
        assert e.shape == (30, 40) and 0 <= e.min() and e.max() <= 1
        with pytest.raises(UnsupportedPromptError):
            m.decode(m.encode(img), PromptBatch(np.zeros((1, 1, 2)), np.ones((1, 1))), False)
        EdgesTask().check_model(m)
    canny = build_model("canny", sigmas="1,2", n_levels=5)
    assert canny.fingerprint()["params"]["sigmas"] == [1.0, 2.0] and canny.fingerprint()["params"]["n_levels"] == 5
    assert build_model("sobel", nms=0).params == {"nms": False}
    with pytest.raises(ValueError, match="no option"):
        build_model("sobel", radius=3)
    with pytest.raises(ValueError, match="checkpoint"):
        build_model("canny", checkpoint="x.pth")
    with pytest.raises(UnsupportedPromptError, match="--single-output"):
        EdgesTask().check_model(build_model("random-walker"))


def test_published_table3_rows():
    from sambench.tasks.edges import published_table3

    t = published_table3().set_index("method")
    assert t.loc["SAM", "ODS"] == 0.768 and t.loc["SAM", "R50"] == 0.928
    assert t.loc["Canny", "OIS"] == 0.640 and np.isnan(t.loc["Sobel filter", "OIS"])
    assert len(t) == 6


# ---------------------------------------------------------------------------------------------
# the task end to end on two BSDS500 test images
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bsds_two(tmp_path_factory):
    """Two BSDS500 test images and their ground truth in the release layout (copied from ../shared/data)."""
    src = shared("BSDS500", "data")
    root = tmp_path_factory.mktemp("bsds-two")
    ids = sorted(p.stem for p in (src / "images" / "test").glob("*.jpg"))[:2]
    for sub, ext in (("images", "jpg"), ("groundTruth", "mat")):
        (root / sub / "test").mkdir(parents=True)
        for i in ids:
            shutil.copy(src / sub / "test" / f"{i}.{ext}", root / sub / "test" / f"{i}.{ext}")
    return root, ids


def _run_args(root, out, model, *extra):
    return ["run", "edges", "--model", str(model), "--dataset", "bsds500", "--root", str(root), "--out", str(out),
            "--thresholds", "9", "--cache-dir", "none", "--no-progress", *map(str, extra)]


def test_sam_tiny_cli_run_resume_and_rescore(tmp_path, bsds_two):
    root, ids = bsds_two
    out = tmp_path / "tiny"
    proc = run_cli(*_run_args(root, out, "sam-tiny", "--points-per-side", "4"))
    assert "ODS=" in proc.stdout

    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "edges" and config["model"]["label"] == "SAM tiny [segment_anything] (untrained)"
    amg = config["protocol"]["recipe"]["amg"]
    assert (amg["points_per_side"], amg["multimask"], amg["box_nms_thresh"], amg["pred_iou_thresh"],
            amg["stability_score_thresh"]) == (4, True, 0.7, 0.0, 0.0)
    bench = config["protocol"]["benchmark"]
    assert (bench["thresholds"], bench["max_dist"], bench["thin"]) == (9, 0.0075, True)

    records = pd.read_csv(out / "records" / "records-rank0.csv", dtype={"image_id": str})
    assert len(records) == 2 * 9 and sorted(records["image_id"].unique()) == ids
    assert (records["n_masks_generated"] == 48).all() and (records["best_f"] >= 0).all()
    done = (out / "records" / "done-rank0.jsonl").read_text().splitlines()
    assert len(done) == 2

    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "edges" and summary["n_images"] == 2
    for k in ("ods", "ois", "ap", "r50"):
        assert 0.0 <= summary[k] <= 1.0
    assert len(summary["curve"]["recall"]) == 9

    table = pd.read_csv(out / "tables" / "edges_table3.csv")
    assert (table["source"] == "published (SAM paper Table 3)").sum() == 6
    assert table.loc[table["method"] == "SAM [published]", "ODS"].item() == pytest.approx(0.768)
    assert table.loc[table["method"] == "SAM tiny [segment_anything] (untrained)", "ODS"].item() == pytest.approx(summary["ods"])
    assert "[published]" in (out / "tables" / "edges_table3.md").read_text()
    assert (out / "plots" / "edges_pr.png").stat().st_size > 5000
    assert "edges_pr.png" in (out / "report.md").read_text()

    pngs = {}
    for i in ids:
        a = np.asarray(Image.open(out / "edge_maps" / f"{i}.png"))
        h, w = np.asarray(Image.open(root / "images" / "test" / f"{i}.jpg")).shape[:2]
        assert a.dtype == np.uint8 and a.shape == (h, w)
        pngs[i] = a

    # resume after losing the last image's done line (and its PNG): the same summary
    (out / "records" / "done-rank0.jsonl").write_text(done[0] + "\n")
    (out / "edge_maps" / f"{ids[1]}.png").unlink()
    assert main(_run_args(root, out, "sam-tiny", "--points-per-side", "4", "--resume")) == 0
    again = json.loads((out / "summary.json").read_text())
    for k in ("ods", "ois", "ap", "r50", "n_images", "curve"):
        assert again[k] == summary[k], k
    assert np.array_equal(np.asarray(Image.open(out / "edge_maps" / f"{ids[1]}.png")), pngs[ids[1]])
    assert len(pd.read_csv(out / "records" / "records-rank0.csv")) == 2 * 9

    # edges-eval on the written PNGs reproduces the run's numbers
    assert main(["edges-eval", "--pred", str(out / "edge_maps"), "--root", str(root), "--thresholds", "9",
                 "--out", str(tmp_path / "ev")]) == 0
    ev = json.loads((tmp_path / "ev" / "edges_eval.json").read_text())
    for k in ("ods", "ois", "ap", "r50"):
        assert ev[k] == pytest.approx(summary[k], abs=1e-12), k
    assert (tmp_path / "ev" / "eval_bdry.txt").is_file()
    # a run folder as --pred: its benchmark settings are used
    assert main(["edges-eval", "--pred", str(out), "--root", str(root), "--nproc", "1",
                 "--out", str(tmp_path / "ev2")]) == 0
    assert json.loads((tmp_path / "ev2" / "edges_eval.json").read_text())["ods"] == pytest.approx(summary["ods"], abs=1e-12)
    # a missing PNG is an error unless --present-only
    (out / "edge_maps" / f"{ids[0]}.png").unlink()
    assert main(["edges-eval", "--pred", str(out / "edge_maps"), "--root", str(root), "--thresholds", "9"]) == 2


class GroundTruthEdges(PromptableModel):
    """Edge map = the union of the annotators' boundaries (reads the ground truth): ODS must be ~1."""

    name = "gt-edges"
    weights = "oracle"
    capabilities = Capabilities(points=False, negative_points=False)

    def encode(self, image, sample=None):
        union = np.zeros(image.shape[:2], bool)
        for b in sample.extra["boundaries"]:
            union |= b
        return ImageEmbedding(original_size=image.shape[:2], features=union.astype(np.float64))

    def edge_map(self, embedding):
        return embedding.features

    def decode(self, embedding, prompts, multimask):
        raise UnsupportedPromptError("no prompts")


def build_gt_edges(checkpoint=None, device=None, download=False):
    return GroundTruthEdges()


def test_ground_truth_edges_score_one_and_sobel_runs_through_the_task(tmp_path, bsds_two):
    root, ids = bsds_two
    out = tmp_path / "gt"
    assert main(_run_args(root, out, f"{Path(__file__)}:build_gt_edges")) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["ods"] > 0.97 and s["ois"] > 0.97 and s["n_images"] == 2
    out = tmp_path / "sobel"
    assert main(_run_args(root, out, "sobel")) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["model"]["label"] == "sobel (weight-free)" and 0.1 < s["ods"] < 0.9
    assert sorted(p.stem for p in (out / "edge_maps").glob("*.png")) == ids
    assert "Sobel filter [published]" in (out / "tables" / "edges_table3.md").read_text()
