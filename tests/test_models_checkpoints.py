"""Official-package checkpoints of SAM 2 / 2.1 and HQ-SAM: hashes before loading, fit, one-line refusals."""

import hashlib
import sys

import pytest
import torch

from sambench.models import build_model
from sambench.models.extras import MissingExtraError
from sambench.models.releases import OFFICIAL_SAM2
from sambench.models.sam import CheckpointError

pytest.importorskip("sam2")
pytest.importorskip("segment_anything_hq")


@pytest.fixture(scope="module")
def sam2_1_tiny_file(tmp_path_factory):
    """A SAM 2.1 Hiera-T shaped checkpoint ({"model": state}) with random weights, stored in fp16."""
    from sambench.models.sam2_official import build_sam2_module

    torch.manual_seed(0)
    module = build_sam2_module(OFFICIAL_SAM2["sam2.1-hiera-t"].config)
    path = tmp_path_factory.mktemp("ckpt") / "my_sam2.1_finetune.pt"
    torch.save({"model": {k: v.half() for k, v in module.state_dict().items()}}, path)
    return path


def test_a_sam2_1_checkpoint_loads_with_its_hash_recorded(sam2_1_tiny_file):
    model = build_model("sam2.1-hiera-t", checkpoint=str(sam2_1_tiny_file), device="cpu")
    fp = model.fingerprint()
    assert fp["checkpoint_sha256"] == hashlib.sha256(sam2_1_tiny_file.read_bytes()).hexdigest()
    assert fp["official_release"] is None and fp["official_digest_known"] is True
    assert fp["hydra_config"] == "configs/sam2.1/sam2.1_hiera_t.yaml" and fp["weights"] == "trained"
    assert model.label() == "SAM 2.1 Hiera-T [sam2, my_sam2.1_finetune.pt]"
    assert model.capabilities.input_size == 1024 and model.capabilities.n_multimask == 3
    loaded = model.module.state_dict()["sam_mask_decoder.iou_token.weight"]
    stored = torch.load(sam2_1_tiny_file, weights_only=True)["model"]["sam_mask_decoder.iou_token.weight"]
    torch.testing.assert_close(loaded, stored.float())


def test_a_sam2_1_checkpoint_given_to_a_sam2_0_config_names_the_right_model(sam2_1_tiny_file):
    with pytest.raises(CheckpointError, match=r"does not fit sam2-hiera-t .*use --model sam2.1-hiera-t"):
        build_model("sam2-hiera-t", checkpoint=str(sam2_1_tiny_file), device="cpu")


def test_an_official_name_with_other_bytes_is_refused_before_anything_is_unpickled(tmp_path):
    fake = tmp_path / "sam2.1_hiera_large.pt"
    fake.write_bytes(b"not a checkpoint at all")  # unloadable: the hash check must come first
    with pytest.raises(CheckpointError, match="named like the official sam2.1_hiera_large.pt but its SHA-256"):
        build_model("sam2.1-hiera-l", checkpoint=str(fake))
    other = tmp_path / "sam2_hiera_small.pt"  # SAM 2.0: no known digest, but the name says which model
    other.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="this is the official sam2_hiera_small.pt; use --model sam2-hiera-s"):
        build_model("sam2-hiera-t", checkpoint=str(other))


def test_sam2_needs_a_checkpoint_and_refuses_what_does_not_fit(tmp_path):
    with pytest.raises(CheckpointError, match="needs --checkpoint PATH .*092824/sam2.1_hiera_large.pt"):
        build_model("sam2.1-hiera-l")
    with pytest.raises(CheckpointError, match="not found"):
        build_model("sam2.1-hiera-l", checkpoint=str(tmp_path / "missing.pt"))
    tiny = tmp_path / "tiny.pt"
    torch.save({"model": build_model("sam2-tiny").module.state_dict()}, tiny)
    with pytest.raises(CheckpointError, match="does not fit sam2.1-hiera-l"):
        build_model("sam2.1-hiera-l", checkpoint=str(tiny))


def test_hq_sam_checkpoint_loads_through_the_official_builder_with_weights_only(tmp_path, monkeypatch):
    import segment_anything_hq

    from sambench.models.sam_hq import build_tiny_hq_module

    monkeypatch.setitem(segment_anything_hq.sam_model_registry, "vit_b", lambda checkpoint=None: build_tiny_hq_module(5))
    path = tmp_path / "hq_finetune.pth"
    torch.save(build_tiny_hq_module(7).state_dict(), path)
    model = build_model("sam-hq-vit_b", checkpoint=str(path), device="cpu")
    fp = model.fingerprint()
    assert fp["checkpoint_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert fp["official_digest_known"] is False and model.label() == "HQ-SAM ViT-B [segment_anything_hq, hq_finetune.pth]"
    loaded = dict(model.sam.state_dict())
    torch.testing.assert_close(loaded["mask_decoder.hf_token.weight"], build_tiny_hq_module(7).mask_decoder.hf_token.weight)


def test_hq_sam_refusals_are_one_line(tmp_path):
    with pytest.raises(CheckpointError, match="needs --checkpoint PATH .*sam_hq_vit_h.pth"):
        build_model("sam-hq-vit_h")
    named = tmp_path / "sam_hq_vit_l.pth"
    named.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="this is the official sam_hq_vit_l.pth; use --model sam-hq-vit_l"):
        build_model("sam-hq-vit_b", checkpoint=str(named))
    plain = tmp_path / "plain_sam.pth"
    torch.save(build_model("sam-tiny").sam.state_dict(), plain)
    with pytest.raises(CheckpointError, match="no HQ output token"):
        build_model("sam-hq-vit_b", checkpoint=str(plain))
    wide = tmp_path / "l.pth"
    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(1024, 3, 16, 16),
                "mask_decoder.hf_token.weight": torch.zeros(1, 256)}, wide)
    with pytest.raises(CheckpointError, match="this is a vit_l checkpoint, not vit_b"):
        build_model("sam-hq-vit_b", checkpoint=str(wide))


@pytest.mark.parametrize("model,extra", [("sam2.1-hiera-l", "sam2"), ("sam-hq-vit_h", "hq"), ("hf", "hf"),
                                         ("sam2-tiny", "sam2")])
def test_a_missing_extra_names_the_pip_install(model, extra, monkeypatch, tmp_path, capsys, demo_root):
    from sambench.app.cli import main

    module = {"sam2": "sam2", "hq": "segment_anything_hq", "hf": "transformers"}[extra]
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    (tmp_path / "c").mkdir()
    if model == "hf":
        (tmp_path / "c" / "config.json").write_text('{"model_type": "sam"}')
    args = ["run", "point", "--model", model, "--dataset", "demo", "--root", str(demo_root), "--out", str(tmp_path / "r")]
    if model != "sam2-tiny":
        args += ["--checkpoint", str(tmp_path / "c")]
    with pytest.raises(MissingExtraError):
        build_model(model, checkpoint=None if model == "sam2-tiny" else str(tmp_path / "c"))
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"pip install 'sambench[{extra}]'" in err[0]
