"""Every SAM-family adapter behind the one PromptableModel interface (tiny seeded random members).

What is checked for each: the declared capabilities are what the model does (number of masks,
negative points, boxes, mask input), batched decode = one by one, batched encode = one by one,
coordinates (x, y) on a non-square image land where the model's own geometry puts them, labels
and fingerprints say family, size, source and "untrained", --dtype bf16/fp16 behave as documented.
"""

import dataclasses

import numpy as np
import pytest
import torch

from sambench.models import PromptBatch, UnsupportedPromptError, build_model
from sambench.models.catalog import model_info

TINY = ["sam-tiny", "sam2-tiny", "sam-hq-tiny", "hf-sam-tiny", "hf-sam-hq-tiny", "hf-sam2-tiny",
        "hf-sam3-tracker-tiny", "hf-edgetam-tiny"]
H, W = 120, 170  # non-square on purpose
_CACHE = {}


def tiny(name):
    if name not in _CACHE:
        _CACHE[name] = build_model(name, device="cpu")
    return _CACHE[name]


def image(seed=0, h=H, w=W):
    yy, xx = np.mgrid[:h, :w]
    smooth = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], -1)
    noise = np.random.default_rng(seed).integers(0, 60, size=(h, w, 3))
    return np.clip(smooth + noise, 0, 255).astype(np.uint8)


def points(n_sets=3):
    coords = np.array([[[30.0, 40.0], [100.0, 80.0]], [[0.0, 0.0], [169.0, 119.0]], [[85.0, 60.0], [10.0, 110.0]]])
    labels = np.array([[1, 0], [1, 1], [1, 0]])
    return PromptBatch(point_coords=coords[:n_sets], point_labels=labels[:n_sets])


@pytest.mark.parametrize("name", TINY)
def test_declared_capabilities_are_what_the_model_does(name):
    model = tiny(name)
    caps = model.capabilities
    assert caps == model_info(name)["caps"], "sambench list models must show what the adapter declares"
    emb = model.encode(image())
    single = model.decode(emb, points(), multimask=False)
    assert single.logits.shape == (3, 1, H, W) and single.iou_predictions.shape == (3, 1)
    assert single.logits.dtype == torch.float32 and single.low_res_logits.shape[:2] == (3, 1)
    if caps.multimask:
        multi = model.decode(emb, points(), multimask=True)
        assert multi.logits.shape == (3, caps.n_multimask, H, W)
        assert multi.iou_predictions.shape == (3, caps.n_multimask)
    else:
        with pytest.raises(UnsupportedPromptError, match="multimask"):
            model.decode(emb, points(), multimask=True)
    # negative points: flipping a label changes the answer
    flipped = PromptBatch(point_coords=points().point_coords, point_labels=1 - points().point_labels)
    flipped.point_labels[:, 0] = 1
    assert not torch.allclose(model.decode(emb, flipped, False).logits, single.logits)
    # boxes, alone and with points, at the image border
    box = model.decode(emb, PromptBatch(boxes=np.array([[0.0, 0.0, W - 1, H - 1], [20.0, 10.0, 90.0, 70.0]])), False)
    assert box.logits.shape == (2, 1, H, W) and torch.isfinite(box.logits).all()
    both = PromptBatch(point_coords=points(2).point_coords, point_labels=points(2).point_labels,
                       boxes=np.array([[0.0, 0.0, W - 1, H - 1], [20.0, 10.0, 90.0, 70.0]]))
    assert not torch.allclose(model.decode(emb, both, False).logits, model.decode(emb, points(2), False).logits)
    # mask input: one low-res mask per prompt set changes the answer
    masked = PromptBatch(point_coords=points().point_coords, point_labels=points().point_labels,
                         mask_input=torch.randn(3, 1, *single.low_res_logits.shape[-2:]) * 5)
    with_mask = model.decode(emb, masked, False)
    assert with_mask.logits.shape == (3, 1, H, W) and not torch.allclose(with_mask.logits, single.logits)


@pytest.mark.parametrize("name", TINY)
def test_all_prompt_sets_in_one_call_equal_one_by_one(name):
    model = tiny(name)
    emb = model.encode(image())
    pb = points()
    mask_in = torch.randn(3, 1, *model.decode(emb, pb, False).low_res_logits.shape[-2:])
    for prompts in (pb, PromptBatch(point_coords=pb.point_coords, point_labels=pb.point_labels, mask_input=mask_in)):
        batch = model.decode(emb, prompts, multimask=False)
        for b in range(3):
            one = model.decode(emb, prompts.select(slice(b, b + 1)), multimask=False)
            torch.testing.assert_close(batch.logits[b], one.logits[0], atol=1e-3, rtol=1e-3)
            torch.testing.assert_close(batch.iou_predictions[b], one.iou_predictions[0], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", TINY)
def test_images_encoded_together_equal_one_by_one(name):
    model = tiny(name)
    images = [image(1), image(2, 90, 60)]
    together = model.encode_batch(images)
    alone = model.decode(model.encode(images[1]), points(1), False)
    from_batch = model.decode(together[1], points(1), False)
    assert together[1].original_size == (90, 60)
    torch.testing.assert_close(from_batch.logits, alone.logits, atol=1e-3, rtol=1e-3)


def _capture_coordinates(model):
    """Patch the positional encoder of ``model``'s prompt encoder; returns a list that collects the
    normalised (x, y) in [0, 1] of the model frame that every prompt point lands on."""
    seen = []
    if hasattr(model, "model"):  # transformers: shared_embedding(coords, input_shape)
        pe = model.model.prompt_encoder.shared_embedding

        def hook(module, args, output):
            coords, shape = args[0], args[1]
            seen.append(torch.stack([coords[..., 0] / shape[1], coords[..., 1] / shape[0]], -1).detach().clone())
        pe.register_forward_hook(hook)
        return seen
    module = model.module if hasattr(model, "module") else model.sam
    pe = (module.sam_prompt_encoder if hasattr(module, "sam_prompt_encoder") else module.prompt_encoder).pe_layer
    original = pe._pe_encoding

    def encode(coords):
        seen.append(coords.detach().clone())
        return original(coords)
    pe._pe_encoding = encode
    return seen


def _expected(model, xy):
    """Normalised model-frame position of pixel centres ``xy`` (x, y) on an H x W image."""
    s = model.capabilities.input_size
    if isinstance(model.source, str) and (model.source.startswith("segment_anything") or
                                          getattr(model, "model_type", "") in ("sam", "sam_hq")):
        scale = s / max(H, W)  # longest side resized to s, then padded (SAM, HQ-SAM)
        sx, sy = int(W * scale + 0.5) / W, int(H * scale + 0.5) / H
    else:
        sx, sy = s / W, s / H  # resized to an s x s square (SAM 2, SAM 3, EdgeTAM)
    xy = np.asarray(xy, dtype=np.float64)
    return np.stack([(xy[..., 0] * sx + 0.5) / s, (xy[..., 1] * sy + 0.5) / s], -1)


@pytest.mark.parametrize("name", TINY)
def test_points_and_border_boxes_land_where_the_models_geometry_puts_them(name):
    model = build_model(name, device="cpu")  # a fresh one: its prompt encoder gets patched
    emb = model.encode(image())
    seen = _capture_coordinates(model)
    pts = np.array([[[W - 1.0, 0.0], [0.0, H - 1.0], [37.0, 101.0]]])
    model.decode(emb, PromptBatch(point_coords=pts, point_labels=np.array([[1, 1, 0]])), False)
    got = seen[0].reshape(-1, 2)[:3].numpy()  # the prompt points (later calls: the dense positional grid)
    np.testing.assert_allclose(got, _expected(model, pts[0]), atol=1e-5)
    seen.clear()
    model.decode(emb, PromptBatch(boxes=np.array([[0.0, 0.0, W - 1.0, H - 1.0]])), False)
    corners = [c.reshape(-1, 2).numpy() for c in seen]
    want = _expected(model, [[0.0, 0.0], [W - 1.0, H - 1.0]])
    assert any(len(c) >= 2 and np.allclose(c[:2], want, atol=1e-5) for c in corners), (corners, want)


@pytest.mark.parametrize("name", TINY)
def test_labels_and_fingerprints_name_family_size_source_and_untrained(name):
    model = tiny(name)
    info = model_info(name)
    fp = model.fingerprint()
    assert model.label() == f"{info['family']} tiny [{info['source']}] (untrained)"
    assert fp["weights"] == "untrained" and fp["family"] == info["family"] and fp["source"] == info["source"]
    assert fp["dtype"] == "fp32" and fp["label"] == model.label()


@pytest.mark.parametrize("name", ["sam-tiny", "hf-sam2-tiny"])
def test_bf16_runs_on_cpu_under_autocast_and_is_recorded(name):
    fp32 = tiny(name)
    bf16 = build_model(name, device="cpu", dtype="bf16")
    assert bf16.fingerprint()["dtype"] == "bf16" and bf16.fingerprint()["autocast"] == "cpu"
    assert bf16.label().endswith("bf16 (untrained)")
    a = fp32.decode(fp32.encode(image()), points(), False)
    b = bf16.decode(bf16.encode(image()), points(), False)
    assert b.logits.dtype == torch.float32 and b.iou_predictions.dtype == torch.float32
    assert not torch.equal(a.logits, b.logits), "bf16 must actually run in bf16"
    scale = float(a.logits.abs().max())
    assert float((a.logits - b.logits).abs().max()) < 0.1 * scale + 0.05


def test_fp16_on_cpu_and_reduced_precision_of_a_classical_model_are_refused():
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        build_model("sam-tiny", device="cpu", dtype="fp16")
    with pytest.raises(ValueError, match="fp32 only"):
        build_model("random-walker", dtype="bf16")
    with pytest.raises(ValueError, match="expected one of"):
        build_model("sam-tiny", device="cpu", dtype="int8")


def test_hq_sam_single_mask_modes_are_the_decoder_paths():
    token0 = tiny("sam-hq-tiny")
    best = build_model("sam-hq-tiny", device="cpu", single_mask="best-of-3")
    hq_only = build_model("sam-hq-tiny", device="cpu", hq_token_only=1)
    emb = token0.encode(image())
    a, b, c = (m.decode(emb, points(), False) for m in (token0, best, hq_only))
    assert a.logits.shape == b.logits.shape == c.logits.shape == (3, 1, H, W)
    assert not torch.allclose(a.logits, b.logits) and not torch.allclose(a.logits, c.logits)
    assert best.fingerprint()["single_mask"] == "best-of-3" and hq_only.fingerprint()["hq_token_only"] is True


def test_a_user_plugin_is_labelled_as_one(tmp_path):
    plugin = tmp_path / "plug.py"
    plugin.write_text("from sambench.models.sam import build_tiny_sam\n"
                      "def build(checkpoint=None, device=None, download=False):\n"
                      "    m = build_tiny_sam(None, device)\n"
                      "    m.source = None\n"
                      "    return m\n")
    model = build_model(f"{plugin}:build", device="cpu")
    assert model.source == "user plugin" and "[user plugin]" in model.label()


def test_capability_flags_of_real_size_official_modules(monkeypatch):
    """The table's flags for the checkpoint families, read from real-size modules with random weights."""
    from sambench.models.releases import OFFICIAL_SAM2
    from sambench.models.sam2_official import Sam2OfficialAdapter, build_sam2_module

    module = build_sam2_module(OFFICIAL_SAM2["sam2.1-hiera-t"].config)
    adapter = Sam2OfficialAdapter(module, name="sam2.1-hiera-t", family="SAM 2.1", size="Hiera-T",
                                  device=torch.device("cpu"), weights="untrained", provenance={})
    assert adapter.capabilities == model_info("sam2.1-hiera-t")["caps"]
    assert dataclasses.replace(model_info("sam-hq-vit_b")["caps"], input_size=256) == tiny("sam-hq-tiny").capabilities
