"""Model adapters: official geometry, checkpoint checks, capabilities, labels."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from segment_anything import SamPredictor

from sambench.models import MODELS, PromptBatch, UnsupportedPromptError, build_model
from sambench.models.sam import (OFFICIAL_CHECKPOINTS, CheckpointError, build_official_sam, download_checkpoint,
                                 load_state_dict)


def _image(h=120, w=170, seed=0):
    return np.random.default_rng(seed).integers(0, 255, size=(h, w, 3), dtype=np.uint8)


def test_sam_adapter_matches_the_official_predictor():
    model = build_model("sam-tiny", device="cpu")
    image = _image()
    predictor = SamPredictor(model.sam)
    predictor.set_image(image)
    coords = np.array([[30.0, 40.0], [100.0, 80.0]])
    labels = np.array([1, 0])
    ref_masks, ref_iou, ref_low = predictor.predict(coords, labels, multimask_output=True, return_logits=True)
    box = np.array([10, 20, 120, 100])
    ref_box, _, _ = predictor.predict(box=box, multimask_output=False, return_logits=True)

    emb = model.encode(image)
    pred = model.decode(emb, PromptBatch(point_coords=coords[None], point_labels=labels[None]), multimask=True)
    np.testing.assert_allclose(pred.logits[0].numpy(), ref_masks, atol=1e-4)
    np.testing.assert_allclose(pred.iou_predictions[0].numpy(), ref_iou, atol=1e-5)
    pred_box = model.decode(emb, PromptBatch(boxes=box[None].astype(float)), multimask=False)
    np.testing.assert_allclose(pred_box.logits[0].numpy(), ref_box, atol=1e-4)


def test_batched_decode_equals_one_by_one_and_batched_encode_equals_single():
    model = build_model("sam-tiny", device="cpu")
    images = [_image(seed=1), _image(90, 60, seed=2)]
    embs = model.encode_batch(images)
    single = model.encode(images[1])
    torch.testing.assert_close(embs[1].features, single.features, atol=1e-5, rtol=1e-4)
    coords = np.array([[[10.0, 10.0]], [[50.0, 30.0]], [[5.0, 80.0]]])
    labels = np.ones((3, 1), int)
    batch = model.decode(embs[1], PromptBatch(point_coords=coords, point_labels=labels), multimask=True)
    for b in range(3):
        one = model.decode(embs[1], PromptBatch(point_coords=coords[b:b + 1], point_labels=labels[b:b + 1]), True)
        torch.testing.assert_close(batch.logits[b], one.logits[0], atol=1e-4, rtol=1e-4)
    assert batch.logits.shape == (3, 3, 90, 60)


def test_sam_tiny_is_seeded_and_labelled_untrained():
    a, b, c = build_model("sam-tiny"), build_model("sam-tiny"), build_model("sam-tiny", seed=1)
    sa, sb, sc = (m.sam.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.label() == "SAM tiny [segment_anything] (untrained)" and a.fingerprint()["weights"] == "untrained"


def test_registry_lists_builders_and_unknown_name_lists_known():
    assert {"sam-vit_h", "sam-vit_l", "sam-vit_b", "sam-tiny", "random-walker", "oracle"} <= set(MODELS.names())
    with pytest.raises(KeyError) as err:
        build_model("sam-vit_x")
    assert "sam-vit_b" in str(err.value)


def test_capabilities_refuse_clearly():
    rw = build_model("random-walker")
    emb = rw.encode(_image())
    with pytest.raises(UnsupportedPromptError, match="box prompts"):
        rw.decode(emb, PromptBatch(boxes=np.array([[0, 0, 10, 10.0]])), multimask=False)
    with pytest.raises(UnsupportedPromptError, match="multimask"):
        rw.decode(emb, PromptBatch(point_coords=np.zeros((1, 1, 2)), point_labels=np.ones((1, 1), int)), multimask=True)


def test_random_walker_segments_a_flat_square():
    image = np.full((80, 80, 3), 30, np.uint8)
    image[20:60, 20:60] = 220
    rw = build_model("random-walker")
    pred = rw.decode(rw.encode(image), PromptBatch(point_coords=np.array([[[40.0, 40.0]]]),
                                                   point_labels=np.ones((1, 1), int)), multimask=False)
    mask = (pred.logits[0, 0] > 0).numpy()
    truth = np.zeros((80, 80), bool)
    truth[20:60, 20:60] = True
    assert (mask & truth).sum() / (mask | truth).sum() > 0.95
    assert rw.label() == "random-walker (weight-free)"


# -- checkpoints -----------------------------------------------------------------------------------

def test_missing_checkpoint_and_no_checkpoint_messages(tmp_path):
    with pytest.raises(CheckpointError, match="needs --checkpoint"):
        build_official_sam("vit_b")
    with pytest.raises(CheckpointError, match="not found"):
        build_official_sam("vit_b", str(tmp_path / "nope.pth"))


def test_garbage_file_is_not_a_checkpoint(tmp_path):
    bad = tmp_path / "weights.pth"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a loadable PyTorch checkpoint"):
        build_official_sam("vit_b", str(bad))


def test_file_named_like_an_official_release_must_match_its_hash(tmp_path):
    fake = tmp_path / OFFICIAL_CHECKPOINTS["vit_b"]["file"]
    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(768, 3, 16, 16)}, fake)
    with pytest.raises(CheckpointError, match="named like the official vit_b checkpoint"):
        build_official_sam("vit_b", str(fake))


def test_checkpoint_of_another_architecture_is_named(tmp_path):
    other = tmp_path / "mine.pth"
    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(1024, 3, 16, 16)}, other)
    with pytest.raises(CheckpointError, match="this is a vit_l checkpoint, not vit_b"):
        build_official_sam("vit_b", str(other))


def test_state_dict_that_does_not_fit_is_refused(tmp_path):
    partial = tmp_path / "partial.pth"
    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(768, 3, 16, 16)}, partial)
    with pytest.raises(CheckpointError, match="does not fit SAM vit_b"):
        build_official_sam("vit_b", str(partial))


def test_wrapped_state_dict_is_unwrapped(tmp_path):
    path = tmp_path / "wrapped.pth"
    torch.save({"model": {"a": torch.zeros(2)}}, path)
    assert set(load_state_dict(path)) == {"a"}


@pytest.mark.slow
def test_a_finetuned_vit_b_is_accepted_and_its_hash_recorded(tmp_path):
    from segment_anything import sam_model_registry

    sam = sam_model_registry["vit_b"](checkpoint=None)
    with torch.no_grad():
        sam.mask_decoder.iou_prediction_head.layers[0].bias.add_(1.0)  # "fine-tuned"
    path = tmp_path / "my_finetune.pth"
    torch.save(sam.state_dict(), path)
    del sam
    model = build_model("sam-vit_b", checkpoint=str(path), device="cpu")
    fp = model.fingerprint()
    assert fp["checkpoint_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert fp["official_release"] is None and fp["weights"] == "trained" and model.label() == "SAM ViT-B [segment_anything, my_finetune.pth]"


def test_download_failure_is_one_line(tmp_path):
    with pytest.raises(CheckpointError) as err:
        download_checkpoint("vit_b", tmp_path, url="http://127.0.0.1:9/sam_vit_b_01ec64.pth")
    assert "\n" not in str(err.value) and "could not download" in str(err.value)
    assert not list(tmp_path.iterdir())


def test_download_with_wrong_checksum_is_refused(tmp_path):
    src = tmp_path / "src.pth"
    src.write_bytes(b"not the official file")
    cache = tmp_path / "cache"
    with pytest.raises(CheckpointError, match="SHA-256"):
        download_checkpoint("vit_b", cache, url=src.as_uri())
    assert not (cache / OFFICIAL_CHECKPOINTS["vit_b"]["file"]).exists()
