"""The same random weights through two implementations give the same masks and IoU predictions.

SAM: ``segment_anything`` (sam-tiny) vs transformers' ``SamModel`` loaded with sambench's own key
mapping (``sambench.models.convert.sam_to_hf``). SAM 2: the ``sam2`` package (sam2-tiny, its
SAM 2.1 Hydra config shrunk) vs ``Sam2Model`` (``sam2_to_hf``). Two levels:

- the networks, fed the same pixels and the same prompts in the model frame: equal to float noise
  (SAM image embeddings differ by 3.4e-6; tolerance 1e-4 on embeddings, logits and IoU predictions);
- sambench's adapters end to end from a uint8 image, each with its own library's pre- and
  post-processing: the only difference left is the image resize (segment_anything resizes with PIL,
  the SAM 2 package resizes a float tensor; transformers' processors resize the uint8 tensor:
  pixels differ by at most one grey level). Measured over 3 images x 7 prompt kinds (2026-11-30):
  SAM logits <= 1.8e-4, IoU <= 1.5e-5; SAM 2 logits <= 3.2e-3, IoU <= 1.1e-5 (these random models'
  logits span about +-0.15, so a few pixels near 0 flip: <= 0.3%). Tolerances tested: logits
  2e-3 (SAM) and 1e-2 (SAM 2), IoU 5e-4, flipped mask pixels <= 1%.
Points, boxes and mask input are each compared, with single and multimask output.
"""

import numpy as np
import pytest
import torch

from sambench.models import PromptBatch, build_model
from sambench.models.convert import check_complete, sam2_to_hf, sam_to_hf
from sambench.models.hf_adapters import make_adapter
from sambench.models.hf_tiny import build_tiny_hf_model, processor_for, tiny_config

H, W = 120, 170


def image(seed=0):
    yy, xx = np.mgrid[:H, :W]
    smooth = np.stack([xx * 255 // W, yy * 255 // H, (xx * yy) % 256], -1)
    noise = np.random.default_rng(seed).integers(0, 40, size=(H, W, 3))
    return np.clip(smooth + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def sam_pair():
    import transformers

    official = build_model("sam-tiny", device="cpu")
    config = tiny_config("sam")
    # sam-tiny's encoder blocks use torch's LayerNorm default eps (1e-5; released SAM: 1e-6): copy it
    config.vision_config.layer_norm_eps = official.sam.image_encoder.blocks[0].norm1.eps
    model = transformers.SamModel(config).eval()
    model.load_state_dict(sam_to_hf(official.sam.state_dict()), strict=True)
    processor = processor_for("sam", 256)
    hf = make_adapter(model, processor, "sam", name="hf", weights="untrained", family="SAM", size="tiny",
                      checkpoint_tag=None, provenance={})
    return official, hf


@pytest.fixture(scope="module")
def sam2_pair():
    official = build_model("sam2-tiny", device="cpu")
    model, processor = build_tiny_hf_model("sam2", seed=1)
    model.load_state_dict(sam2_to_hf(official.module.state_dict()), strict=True)
    hf = make_adapter(model, processor, "sam2", name="hf", weights="untrained", family="SAM 2", size="tiny",
                      checkpoint_tag=None, provenance={})
    return official, hf


PROMPTS = {
    "points": PromptBatch(point_coords=np.array([[[30.0, 40.0], [100.0, 80.0]], [[0.0, 0.0], [169.0, 119.0]],
                                                  [[85.0, 60.0], [12.0, 110.0]]]),
                          point_labels=np.array([[1, 0], [1, 1], [1, 0]])),
    "boxes": PromptBatch(boxes=np.array([[0.0, 0.0, W - 1.0, H - 1.0], [20.0, 10.0, 90.0, 70.0], [100, 50, 169, 119.0]])),
    "points+boxes": PromptBatch(point_coords=np.array([[[40.0, 30.0]], [[60.0, 40.0]], [[120.0, 90.0]]]),
                                point_labels=np.array([[1], [0], [1]]),
                                boxes=np.array([[10.0, 5.0, 80.0, 60.0], [20.0, 10.0, 90.0, 70.0], [100, 50, 169, 119.0]])),
}


def _compare(a, b, logit_tol, iou_tol=5e-4, flip_tol=0.01):
    assert a.logits.shape == b.logits.shape
    torch.testing.assert_close(b.logits, a.logits, atol=logit_tol, rtol=0)
    torch.testing.assert_close(b.iou_predictions, a.iou_predictions, atol=iou_tol, rtol=0)
    flipped = ((a.logits > 0) != (b.logits > 0)).float().mean().item()
    assert flipped <= flip_tol, f"{flipped:.4%} of mask pixels differ"


@pytest.mark.parametrize("kind", list(PROMPTS))
@pytest.mark.parametrize("multimask", [True, False])
def test_sam_through_transformers_is_sam(sam_pair, kind, multimask):
    official, hf = sam_pair
    img = image()
    eo, eh = official.encode(img), hf.encode(img)
    _compare(official.decode(eo, PROMPTS[kind], multimask), hf.decode(eh, PROMPTS[kind], multimask), logit_tol=2e-3)


def test_sam_mask_input_through_transformers_is_sam(sam_pair):
    official, hf = sam_pair
    img = image(1)
    eo, eh = official.encode(img), hf.encode(img)
    first = official.decode(eo, PROMPTS["points"], True)
    prompts = PromptBatch(point_coords=PROMPTS["points"].point_coords, point_labels=PROMPTS["points"].point_labels,
                          mask_input=first.low_res_logits[:, :1])
    _compare(official.decode(eo, prompts, False), hf.decode(eh, prompts, False), logit_tol=2e-3)


def test_sam_networks_agree_to_float_noise_on_the_same_pixels(sam_pair):
    official, hf = sam_pair
    pixels, _ = official._preprocess(image())
    with torch.no_grad():
        fo = official.sam.image_encoder(pixels[None])
        fh = hf.model.get_image_embeddings(pixels[None])
        torch.testing.assert_close(fh, fo, atol=1e-4, rtol=1e-4)
        coords = torch.tensor([[[50.0, 60.0], [200.0, 30.0]], [[0.0, 0.0], [255.0, 179.0]]])
        labels = torch.tensor([[1, 0], [1, 1]])
        masks = torch.randn(2, 1, 64, 64)
        sparse, dense = official.sam.prompt_encoder(points=(coords, labels), boxes=None, masks=masks)
        low_o, iou_o = official.sam.mask_decoder(image_embeddings=fo, image_pe=official.sam.prompt_encoder.get_dense_pe(),
                                                 sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                                 multimask_output=True)
        out = hf.model(image_embeddings=fo.expand(2, -1, -1, -1), input_points=coords[:, None],
                       input_labels=labels[:, None], input_masks=masks, multimask_output=True)
    torch.testing.assert_close(out.pred_masks[:, 0], low_o, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.iou_scores[:, 0], iou_o, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", list(PROMPTS))
@pytest.mark.parametrize("multimask", [True, False])
def test_sam2_through_transformers_is_sam2(sam2_pair, kind, multimask):
    official, hf = sam2_pair
    img = image()
    eo, eh = official.encode(img), hf.encode(img)
    _compare(official.decode(eo, PROMPTS[kind], multimask), hf.decode(eh, PROMPTS[kind], multimask), logit_tol=1e-2)


def test_sam2_mask_input_through_transformers_is_sam2(sam2_pair):
    official, hf = sam2_pair
    img = image(1)
    eo, eh = official.encode(img), hf.encode(img)
    first = official.decode(eo, PROMPTS["points"], True)
    prompts = PromptBatch(point_coords=PROMPTS["points"].point_coords, point_labels=PROMPTS["points"].point_labels,
                          mask_input=first.low_res_logits[:, :1])
    _compare(official.decode(eo, prompts, False), hf.decode(eh, prompts, False), logit_tol=1e-2)


def test_sam2_networks_agree_to_float_noise_on_the_same_pixels(sam2_pair):
    official, hf = sam2_pair
    pixels = official.predictor._transforms(image())[None]
    with torch.no_grad():
        backbone = official.module.forward_image(pixels)
        _, feats, _, _ = official.module._prepare_backbone_features(backbone)
        levels_h = hf.model.get_image_embeddings(pixels)
    sizes = [(64, 64), (32, 32), (16, 16)]
    levels_o = [f.permute(1, 2, 0).view(1, -1, *s) for f, s in zip(feats, sizes)]
    levels_o[-1] = levels_o[-1] + official.module.no_mem_embed.view(1, -1, 1, 1)
    for lo, lh in zip(levels_o, levels_h):
        torch.testing.assert_close(lh, lo, atol=1e-4, rtol=1e-4)


def test_conversion_covers_the_released_architectures_key_for_key():
    """Every key of SamModel (ViT-B) and Sam2Model (Hiera-T) is produced exactly once, shapes equal."""
    transformers = pytest.importorskip("transformers")
    from segment_anything import sam_model_registry

    from sambench.models.releases import OFFICIAL_SAM2
    from sambench.models.sam2_official import build_sam2_module

    sam = sam_model_registry["vit_b"](checkpoint=None)
    assert check_complete(sam_to_hf(sam.state_dict()), transformers.SamModel(transformers.SamConfig())) == []
    del sam
    sam2 = build_sam2_module(OFFICIAL_SAM2["sam2.1-hiera-t"].config)
    assert check_complete(sam2_to_hf(sam2.state_dict()), transformers.Sam2Model(transformers.Sam2Config())) == []
