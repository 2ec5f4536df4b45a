"""``--model hf --checkpoint DIR_OR_ID``: save_pretrained folders offline, hub ids, refusals in one line."""

import hashlib
import json

import numpy as np
import pytest
import torch

from conftest import run_cli
from sambench.models import PromptBatch, build_model
from sambench.models.hf import HF_ARCHITECTURES, build_hf
from sambench.models.hf_tiny import TINY_TYPES, save_tiny_hf
from sambench.models.sam import CheckpointError

pytest.importorskip("transformers")


def image(h=96, w=140, seed=0):
    return np.random.default_rng(seed).integers(0, 255, size=(h, w, 3), dtype=np.uint8)


PTS = PromptBatch(point_coords=np.array([[[20.0, 30.0]], [[120.0, 90.0]]]), point_labels=np.ones((2, 1), int))


@pytest.mark.parametrize("model_type", TINY_TYPES)
def test_a_save_pretrained_folder_loads_offline_with_its_class_read_from_config(model_type, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = save_tiny_hf(model_type, tmp_path / model_type, seed=3)
    model = build_model("hf", checkpoint=str(folder), device="cpu")
    direct = build_model("hf-" + model_type.replace("_", "-") + "-tiny", device="cpu", seed=3)
    assert type(model.model).__name__ == HF_ARCHITECTURES[model_type].model_class
    a = model.decode(model.encode(image()), PTS, False)
    b = direct.decode(direct.encode(image()), PTS, False)
    torch.testing.assert_close(a.logits, b.logits)  # the folder holds exactly those weights
    fp = model.fingerprint()
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert fp["checkpoint_sha256"] == digest and fp["weight_files"] == {"model.safetensors": digest}
    assert fp["model_type"] == model_type and fp["hub_revision"] is None and len(fp["config_sha256"]) == 64
    assert fp["weights"] == "untrained" and model.label().endswith(f"[transformers, {model_type}] (untrained)")


def test_a_folder_without_the_untrained_marker_is_a_trained_checkpoint_named_by_its_folder(tmp_path):
    folder = save_tiny_hf("sam", tmp_path / "my-finetune-sam", seed=0)
    (folder / "sambench.json").unlink()
    model = build_model("hf", checkpoint=str(folder), device="cpu")
    assert model.weights == "trained" and model.label() == "SAM ViT 64d/2L [transformers, my-finetune-sam]"
    assert model.fingerprint()["config_sha256"] != build_model(
        "hf", checkpoint=str(save_tiny_hf("sam2", tmp_path / "other"))).fingerprint()["config_sha256"]


def test_an_unreadable_untrained_marker_is_refused_never_taken_for_trained(tmp_path):
    folder = save_tiny_hf("sam", tmp_path / "tiny", seed=0)
    (folder / "sambench.json").write_text('{"weights": "untrained"')  # torn
    with pytest.raises(CheckpointError, match="sambench.json: not readable JSON"):
        build_model("hf", checkpoint=str(folder), device="cpu")


def test_the_text_routes_read_the_same_untrained_marker(tmp_path):
    """One marker file for every save_pretrained folder sambench builds: a tiny SAM folder's
    ``sambench.json`` written by hf_tiny is what the text loaders read too."""
    from sambench.models.hf import MARKER, weights_kind
    from sambench.models.text_tiny import save_tiny_owlv2

    assert weights_kind(save_tiny_hf("sam", tmp_path / "sam", seed=0)) == "untrained"
    owl = save_tiny_owlv2(tmp_path / "owl")
    assert (owl / MARKER).is_file() and weights_kind(owl) == "untrained"


def test_sam2_family_and_version_come_from_config_and_name(tmp_path):
    model = build_model("hf", checkpoint=str(save_tiny_hf("sam2", tmp_path / "sam2.1-mine")), device="cpu")
    assert model.family == "SAM 2.1" and model.size.startswith("Hiera")


def test_a_hub_id_offline_without_a_cached_copy_fails_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE") as err:
        build_hf("facebook/sam2.1-hiera-large")
    assert "\n" not in str(err.value)
    proc = run_cli("run", "point", "--model", "hf", "--checkpoint", "facebook/sam-vit-base", "--dataset", "demo",
                   "--out", tmp_path / "run", check=False,
                   env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty-cache")})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "facebook/sam-vit-base" in lines[0] and "HF_HUB_OFFLINE" in lines[0]


def test_a_hub_id_found_in_the_cache_loads_offline_and_records_its_revision(tmp_path, monkeypatch):
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "hub" / "models--sambench--tiny-sam" / "snapshots" / commit
    save_tiny_hf("sam", snapshot)
    (tmp_path / "hub" / "models--sambench--tiny-sam" / "refs").mkdir()
    (tmp_path / "hub" / "models--sambench--tiny-sam" / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    model = build_hf("sambench/tiny-sam")
    fp = model.fingerprint()
    assert fp["hub_revision"] == commit and fp["checkpoint"] == "sambench/tiny-sam"
    assert "sambench/tiny-sam" in model.label()


def test_refusals_are_one_line(tmp_path):
    with pytest.raises(CheckpointError, match="needs --checkpoint"):
        build_hf(None)
    with pytest.raises(CheckpointError, match="no such folder, and not a hub id"):
        build_hf(str(tmp_path / "nope"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CheckpointError, match="model_type 'bert' is not a SAM-family"):
        build_hf(str(bad))
    pickled = save_tiny_hf("sam", tmp_path / "pickled")
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pytorch_model.bin are pickles"):
        build_hf(str(pickled))


def test_a_checkpoint_missing_weights_is_refused_not_filled_with_random_ones(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = save_tiny_hf("sam2", tmp_path / "partial")
    state = load_file(folder / "model.safetensors")
    del state["mask_decoder.iou_token.weight"]
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="missing"):
        build_hf(str(folder))


def test_a_sam2_video_checkpoint_loads_into_the_image_model(tmp_path):
    import transformers

    from sambench.models.hf_tiny import processor_for, tiny_config

    c = tiny_config("sam2")
    video = transformers.Sam2VideoModel(transformers.Sam2VideoConfig(
        vision_config=c.vision_config.to_dict(), prompt_encoder_config=c.prompt_encoder_config.to_dict(),
        mask_decoder_config=c.mask_decoder_config.to_dict()))
    video.save_pretrained(tmp_path / "v")
    processor_for("sam2", 256).save_pretrained(tmp_path / "v")
    model = build_hf(str(tmp_path / "v"))
    assert type(model.model).__name__ == "Sam2Model" and model.fingerprint()["model_type"] == "sam2_video"
    assert model.decode(model.encode(image()), PTS, True).logits.shape == (2, 3, 96, 140)


@pytest.mark.parametrize("route", ["owlv2", "grounding-dino", "sam3"])
def test_the_text_routes_load_through_the_same_checks(tmp_path, route):
    """SAM 3's text model and the text detectors load through ``load_pretrained`` too: a folder
    missing a weight, or holding only a pickled ``.bin``, is refused in one line, never run with
    random weights in the missing one's place."""
    from safetensors.torch import load_file, save_file

    from sambench.models import text_tiny
    from sambench.models.detectors import build_detector
    from sambench.models.text_hf import build_sam3

    save = {"owlv2": text_tiny.save_tiny_owlv2, "grounding-dino": text_tiny.save_tiny_grounding_dino,
            "sam3": text_tiny.save_tiny_sam3}[route]
    build = (lambda f: build_sam3(checkpoint=str(f), device="cpu")) if route == "sam3" else \
        (lambda f: build_detector(route, str(f), "cpu"))
    assert build(save(tmp_path / "whole")).weights == "untrained"

    partial = save(tmp_path / "partial")
    state = load_file(partial / "model.safetensors")
    dropped = sorted(state)[len(state) // 2]
    del state[dropped]
    save_file(state, partial / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="1 weights of .* are missing") as err:
        build(partial)
    assert "\n" not in str(err.value)

    pickled = save(tmp_path / "pickled")
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pytorch_model.bin are pickles"):
        build(pickled)
