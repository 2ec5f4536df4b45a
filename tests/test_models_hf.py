"""``--model hf --checkpoint DIR_OR_ID``: save_pretrained folders offline, hub ids, refusals in one line."""

import hashlib
import json
import logging

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


# ---------------------------------------------------------------------------------------------
# folder defects: each refused in one line naming the file, before any number is computed
# ---------------------------------------------------------------------------------------------

def _text_route(route):
    from sambench.models import text_tiny
    from sambench.models.detectors import build_detector
    from sambench.models.text_hf import build_sam3

    save = {"owlv2": text_tiny.save_tiny_owlv2, "grounding-dino": text_tiny.save_tiny_grounding_dino,
            "sam3": text_tiny.save_tiny_sam3}[route]
    build = (lambda f: build_sam3(checkpoint=str(f), device="cpu")) if route == "sam3" else \
        (lambda f: build_detector(route, str(f), "cpu"))
    return save, build


@pytest.mark.parametrize("route", ["owlv2", "grounding-dino", "sam3"])
def test_a_text_folder_without_its_tokenizer_vocabulary_is_refused(tmp_path, route):
    """Without tokenizer.json (and vocab.txt) transformers builds a tokenizer that reads every word as
    its unknown token (checked here first, so the refusal is not vacuous); sambench refuses the folder."""
    from transformers import AutoProcessor

    save, build = _text_route(route)
    folder = save(tmp_path / "f")
    for name in ("tokenizer.json", "vocab.txt"):
        (folder / name).unlink(missing_ok=True)
    tok = AutoProcessor.from_pretrained(folder, local_files_only=True).tokenizer
    assert set(tok("a dog", add_special_tokens=False)["input_ids"]) == {tok.unk_token_id}  # the silent defect
    with pytest.raises(CheckpointError, match="cannot tokenize ordinary words") as err:
        build(folder)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(folder)) and "tokenizer.json is missing" in msg


def test_a_partial_vocabulary_is_refused_and_vocab_txt_alone_is_enough(tmp_path):
    """Grounding DINO's tokenizer reads vocab.txt when tokenizer.json is absent: a whole vocab.txt
    loads; one lacking the letter "d" makes "dog" and "and" unknown (WordPiece: a word with an unknown
    piece is one unknown token) and is refused."""
    save, build = _text_route("grounding-dino")
    folder = save(tmp_path / "gd")
    (folder / "tokenizer.json").unlink()
    assert build(folder).weights == "untrained"
    vocab = (folder / "vocab.txt").read_text().splitlines()
    (folder / "vocab.txt").write_text("\n".join(f"[unused{i}]" if t in ("d", "##d") else t
                                                for i, t in enumerate(vocab)) + "\n")
    with pytest.raises(CheckpointError, match=r"\(2 of the \d+ tokens .* vocab.txt does not hold a usable vocabulary"):
        build(folder)


def test_the_text_routes_record_the_sha256_of_their_config_and_tokenizer_files(tmp_path):
    save, build = _text_route("sam3")
    a = save(tmp_path / "a")
    expected = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in a.iterdir()
                if p.suffix in (".json", ".txt") and p.name != "sambench.json"}
    assert "tokenizer.json" in expected and "config.json" in expected
    fa = build(a).fingerprint()
    assert fa["config_files"] == expected
    b = save(tmp_path / "b")
    (b / "tokenizer.json").write_text(json.dumps(json.loads((b / "tokenizer.json").read_text()), indent=1))
    fb = build(b).fingerprint()
    assert fb["checkpoint_sha256"] == fa["checkpoint_sha256"]
    assert {k for k in expected if fa["config_files"][k] != fb["config_files"][k]} == {"tokenizer.json"}
    _, build_owl = _text_route("owlv2")
    owl = _text_route("owlv2")[0](tmp_path / "owl")
    assert build_owl(owl).fingerprint()["config_files"]["tokenizer.json"] == \
        hashlib.sha256((owl / "tokenizer.json").read_bytes()).hexdigest()


def _break_weights(folder, how):
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:len(data) // 2] if how == "truncated" else np.random.default_rng(0).bytes(4096))
    return weights


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_a_corrupt_safetensors_file_is_refused_naming_it(tmp_path, how):
    weights = _break_weights(save_tiny_hf("sam", tmp_path / "sam"), how)
    with pytest.raises(CheckpointError, match="corrupt or truncated .safetensors file") as err:
        build_hf(str(weights.parent))
    assert str(err.value).startswith(str(weights)) and "\n" not in str(err.value)
    save, build = _text_route("owlv2")
    weights = _break_weights(save(tmp_path / "owl"), how)
    with pytest.raises(CheckpointError, match="corrupt or truncated .safetensors file") as err:
        build(weights.parent)
    assert str(err.value).startswith(str(weights))


def test_folder_defects_through_the_cli_are_one_line_and_exit_2(tmp_path):
    from fixtures_lvis import make_dataset
    from safetensors.torch import load_file, save_file

    from sambench.models.text_tiny import save_tiny_sam3

    weights = _break_weights(save_tiny_hf("sam", tmp_path / "sam"), "truncated")
    proc = run_cli("run", "point", "--model", "hf", "--checkpoint", weights.parent, "--dataset", "demo",
                   "--out", tmp_path / "run-hf", check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"sambench: error: {weights}: corrupt or truncated .safetensors file")
    mismatched = save_tiny_hf("sam", tmp_path / "sam-mismatched")
    state = load_file(mismatched / "model.safetensors")
    state["mask_decoder.iou_token.weight"] = torch.zeros(2, 32)
    save_file(state, mismatched / "model.safetensors", metadata={"format": "pt"})
    proc = run_cli("run", "point", "--model", "hf", "--checkpoint", mismatched, "--dataset", "demo",
                   "--out", tmp_path / "run-mismatched", check=False)
    lines = proc.stderr.strip().splitlines()  # transformers' multi-line load report is not among them
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "mask_decoder.iou_token.weight: 2x32 in the file, 1x32 expected" in lines[0]
    ann = make_dataset(tmp_path / "coco", "coco")
    sam3 = save_tiny_sam3(tmp_path / "sam3-trunc")
    weights = _break_weights(sam3, "garbage")
    no_tokenizer = save_tiny_sam3(tmp_path / "sam3-notok")
    (no_tokenizer / "tokenizer.json").unlink()
    for folder, what in ((sam3, f"{weights}: corrupt or truncated .safetensors file"),
                         (no_tokenizer, f"{no_tokenizer}: the CLIPTokenizer of SAM 3 cannot tokenize ordinary words"),
                         (tmp_path / "nonexistent", f"{tmp_path / 'nonexistent'}: no such folder")):
        proc = run_cli("run", "text-instances", "--model", "sam3", "--checkpoint", folder, "--dataset", "coco",
                       "--root", tmp_path / "coco", "--ann", ann, "--out", tmp_path / f"run-{folder.name}", "--no-progress",
                       check=False)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert lines[0].startswith(f"sambench: error: {what}"), lines[0]


class _Kept(logging.Handler):
    """Every message transformers' loggers would print (records below their level never reach it)."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_a_weight_of_another_shape_is_named_with_both_shapes_and_no_load_report_is_printed(tmp_path):
    import transformers
    from safetensors.torch import load_file, save_file

    verbosity = transformers.utils.logging.get_verbosity()
    folder = save_tiny_hf("sam2", tmp_path / "mis")
    state = load_file(folder / "model.safetensors")
    assert tuple(state["mask_decoder.iou_token.weight"].shape) == (1, 32)
    state["mask_decoder.iou_token.weight"] = torch.zeros(2, 32)
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    kept = _Kept()
    logging.getLogger("transformers").addHandler(kept)
    try:
        with pytest.raises(CheckpointError, match=r"1 weights of Sam2Model have another shape than its config "
                                                  r"gives \(e.g. mask_decoder.iou_token.weight: 2x32 in the file, "
                                                  r"1x32 expected\)") as err:
            build_hf(str(folder))
        assert "\n" not in str(err.value)
        assert not [m for m in kept.messages if "LOAD REPORT" in m], kept.messages
        del state["mask_decoder.iou_token.weight"]  # a missing weight: refused as before, no report either
        save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
        with pytest.raises(CheckpointError, match="1 weights of Sam2Model are missing"):
            build_hf(str(folder))
        assert not [m for m in kept.messages if "LOAD REPORT" in m], kept.messages
    finally:
        logging.getLogger("transformers").removeHandler(kept)
    assert transformers.utils.logging.get_verbosity() == verbosity  # restored after the load


def test_processor_failures_name_the_files_that_failed(tmp_path):
    from sambench.models.text_hf import build_sam3

    save, build = _text_route("sam3")
    folder = save(tmp_path / "tok")
    (folder / "tokenizer.json").write_text('{"version": "1.0"}')  # valid JSON, not a tokenizer
    with pytest.raises(CheckpointError, match=r"Sam3Processor could not load the processor files \(.*tokenizer.json"):
        build(folder)
    folder = save(tmp_path / "proc")
    (folder / "processor_config.json").write_text('{"image_processor": ')  # torn
    with pytest.raises(CheckpointError, match=r"processor_config.json: not valid JSON") as err:
        build(folder)
    assert "preprocessor_config.json" not in str(err.value)
    with pytest.raises(CheckpointError, match="no such folder"):
        build_sam3(checkpoint=str(tmp_path / "nonexistent"), device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a save_pretrained folder of SAM 3"):
        build_sam3(checkpoint=str(tmp_path / "empty"), device="cpu")
