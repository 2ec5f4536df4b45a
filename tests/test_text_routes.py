"""Every text route end to end with tiny seeded random models of the real classes (labelled untrained;
their numbers mean nothing): SAM 3, Grounding DINO, MM-Grounding-DINO and OWLv2 prompting sam-tiny,
open_clip ranking sam-tiny's automatic masks. Also: text embeddings computed once per distinct phrase
per run, all prompts of an image in one batch, and the batched/decomposed paths equal the models'
plain forward passes."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fixtures_lvis import make_dataset  # noqa: E402
from fixtures_refcoco import write_refcoco  # noqa: E402

from sambench.app.cli import main  # noqa: E402
from sambench.models import text_tiny  # noqa: E402
from sambench.models.text import TextQuery  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: on a busy machine, intra-op threads cost far more than the work they share."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("text-routes")
    coco = base / "coco"
    ann = make_dataset(coco, "coco")
    models = {"sam3": text_tiny.save_tiny_sam3(base / "sam3"),
              "gd": text_tiny.save_tiny_grounding_dino(base / "gd"),
              "mmgd": text_tiny.save_tiny_grounding_dino(base / "mmgd", mm=True),
              "owl": text_tiny.save_tiny_owlv2(base / "owl"),
              "clip": text_tiny.save_tiny_open_clip(base / "clip")}
    return {"refcoco": write_refcoco(base / "refer"), "coco": coco, "ann": ann, "models": models}


def route_args(name, m):
    return {
        "sam3": ["--model", "sam3", "--checkpoint", m["sam3"]],
        "grounding-dino": ["--model", "sam-tiny", "--detector", "grounding-dino", "--detector-checkpoint", m["gd"]],
        "mm-grounding-dino": ["--model", "sam-tiny", "--detector", "mm-grounding-dino", "--detector-checkpoint", m["mmgd"]],
        "owlv2": ["--model", "sam-tiny", "--detector", "owlv2", "--detector-checkpoint", m["owl"]],
        "clip": ["--model", "sam-tiny", "--clip", f"local-dir:{m['clip']}", "--clip-arg", "points_per_side=6",
                 "--clip-arg", "pred_iou_thresh=0", "--clip-arg", "stability_score_thresh=0"],
    }[name]


@pytest.mark.parametrize("route", ["sam3", "grounding-dino", "mm-grounding-dino", "owlv2", "clip"])
def test_route_runs_end_to_end_untrained(tmp_path, data, route):
    args = [str(a) for a in route_args(route, data["models"])]
    common = ["--no-progress", "--cache-dir", "none"]
    out = tmp_path / "ref"
    assert main(["run", "referring", *args, "--dataset", "refcoco", "--root", str(data["refcoco"]), "--out", str(out),
                 *common]) == 0
    s = json.loads((out / "summary.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert "untrained" in s["model_label"] and config["model"]["weights"] == "untrained"
    assert "untrained" in (out / "report.md").read_text()
    if route == "sam3":  # the family and the library it runs through, as the point models' labels
        assert s["model_label"].startswith("SAM 3 [transformers]")
    splits = s["datasets"]["refcoco"]["splits"]
    assert [splits[k]["n_expressions"] for k in ("val", "testA", "testB")] == [3, 3, 1]
    for m in splits.values():
        assert 0.0 <= m["miou"] <= 1.0 and 0.0 <= m["ciou"] <= 1.0 and m["n_expressions_skipped"] == 0
    rec = pd.read_csv(out / "records" / "records-rank0.csv", keep_default_na=False)
    assert len(rec) == 7 and set(rec["status"]) <= {"ok", "no mask"}
    if route != "clip":  # a detector or SAM 3 always returns its best box: every expression gets a mask
        assert set(rec["status"]) == {"ok"} and (rec["rle"] != "").all()
    out = tmp_path / "cat"
    assert main(["run", "text-instances", *args, "--dataset", "coco", "--root", str(data["coco"] / "val2017"),
                 "--ann", str(data["ann"]), "--out", str(out), *common]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["evaluator"] == "pycocotools" and all(s[k] is not None for k in ("AP", "AP50", "APs"))
    assert "untrained" in s["model_label"]


def run_in_process(task, model, adapter, out):
    from sambench.app.runner import DatasetRun, run_task
    from sambench.datasets.manifest import build_manifest

    manifest = build_manifest(adapter, keep_empty=not task.needs_instances, max_masks=None)
    run_task(task, model, [DatasetRun(adapter, manifest)], out, progress=False, report=False)
    return json.loads((out / "summary.json").read_text())


def build_route(name, m):
    from sambench.models import build_model
    from sambench.models.text_routes import compose_text_route

    if name == "sam3":
        return build_model("sam3", checkpoint=str(m["sam3"]), device="cpu")
    tiny = build_model("sam-tiny", device="cpu")
    if name == "clip":
        return compose_text_route(tiny, clip=f"local-dir:{m['clip']}", device="cpu",
                                  clip_options={"points_per_side": 6, "pred_iou_thresh": 0, "stability_score_thresh": 0})
    folder = {"grounding-dino": m["gd"], "owlv2": m["owl"]}[name]
    return compose_text_route(tiny, detector=name, detector_checkpoint=str(folder), device="cpu")


@pytest.mark.parametrize("route", ["sam3", "owlv2", "grounding-dino", "clip"])
def test_text_encoded_once_per_distinct_phrase_and_one_batch_per_image(tmp_path, data, route):
    from sambench.datasets import build_dataset
    from sambench.tasks.text_instances import TextInstancesTask

    model = build_route(route, data["models"])
    adapter = build_dataset("coco", data["coco"] / "val2017", ann=data["ann"])
    decodes = []
    inner = getattr(model, "mask_model", None)
    if inner is not None:  # count the mask model's decoder calls per image
        original = inner.decode
        inner.decode = lambda emb, prompts, multimask: decodes.append(len(prompts)) or original(emb, prompts, multimask)
    run_in_process(TextInstancesTask(run_dir=tmp_path), model, adapter, tmp_path)
    stats = model.text_stats()
    n_images, n_phrases = 3, 4  # 4 category names prompted on each of 3 images
    if route == "sam3":
        assert (stats["phrases_requested"], stats["phrases_encoded"]) == (n_images * n_phrases, n_phrases)
        assert stats["decoder_calls"] == n_images and stats["images_encoded"] == n_images
    if route == "owlv2":
        assert (stats["phrases_requested"], stats["phrases_encoded"]) == (n_images * n_phrases, n_phrases)
        assert stats["class_head_calls"] == n_images and stats["mask_decoder_calls"] == n_images
    if route == "grounding-dino":  # the 4 names are one caption: encoded on the first image only
        assert (stats["captions_requested"], stats["captions_encoded"]) == (n_images, 1)
        assert stats["detector_forwards"] == n_images and stats["mask_decoder_calls"] == n_images
    if route == "clip":  # the whole vocabulary, once
        assert stats["phrases_encoded"] == n_phrases and stats["images"] == n_images
    if route in ("owlv2", "grounding-dino"):
        assert len(decodes) == n_images and all(n > 0 for n in decodes)  # every box of an image in one decoder call


def test_sam3_one_batch_equals_one_phrase_at_a_time(data):
    from sambench.models import build_model

    model = build_model("sam3", checkpoint=str(data["models"]["sam3"]), device="cpu")
    image = np.random.default_rng(1).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    emb = model.encode(image)
    phrases = ["a red dog", "person", "the umbrella on the left"]
    together = model.segment_text(emb, TextQuery(phrases, "instances", max_per_phrase=5))
    for p, ans in zip(phrases, together):
        alone = model.segment_text(emb, TextQuery([p], "instances", max_per_phrase=5))[0]
        np.testing.assert_allclose(ans.scores, alone.scores, atol=1e-5)
        np.testing.assert_allclose(ans.boxes, alone.boxes, atol=1e-3)
    assert model.text_stats()["phrases_encoded"] == 3
    # a cap over all phrases keeps exactly the best of the uncapped answers (decided before any mask is resized)
    capped = model.segment_text(emb, TextQuery(phrases, "instances", max_per_phrase=5, max_total=4))
    want = sorted(((float(s), p) for p, a in enumerate(together) for s in a.scores), reverse=True)[:4]
    got = sorted(((float(s), p) for p, a in enumerate(capped) for s in a.scores), reverse=True)
    assert [p for _, p in got] == [p for _, p in want]
    np.testing.assert_allclose([s for s, _ in got], [s for s, _ in want], atol=1e-6)
    assert sum(len(a) for a in capped) == 4


def test_owlv2_decomposition_equals_the_plain_forward(data):
    from sambench.models.detectors import build_detector

    det = build_detector("owlv2", str(data["models"]["owl"]), "cpu")
    image = np.random.default_rng(2).integers(0, 255, (40, 64, 3), dtype=np.uint8)
    phrases = ["cat", "a dog"]
    got = det.detect(det.prepare(image), TextQuery(phrases, "instances"))
    inputs = det.processor(text=[phrases], images=image, return_tensors="pt")
    with torch.no_grad():
        out = det.model(**inputs)
    want = out.logits[0].sigmoid().numpy()  # (boxes, phrases)
    for p, boxes in enumerate(got):
        np.testing.assert_allclose(np.sort(boxes.scores), np.sort(want[:, p]), atol=1e-5)
    cx, cy, w, h = out.pred_boxes[0].numpy().T
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1) * 64
    best = int(np.argmax(want[:, 0]))
    np.testing.assert_allclose(got[0].boxes[0], xyxy[best], atol=1e-3)


def test_grounding_dino_memo_changes_no_output(data):
    from sambench.models.detectors import build_detector

    det = build_detector("grounding-dino", str(data["models"]["gd"]), "cpu")
    image = np.random.default_rng(3).integers(0, 255, (60, 90, 3), dtype=np.uint8)
    q = TextQuery(["dog", "red person"], "instances")
    state = det.prepare(image)
    first = det.detect(state, q)
    second = det.detect(state, q)  # the caption's text features come from the memo now
    assert det.stats()["captions_encoded"] == 1 and det.stats()["captions_requested"] == 2
    det.model.model.text_backbone = det.memo.inner  # the unwrapped model
    plain = det.detect(state, q)
    for a, b, c in zip(first, second, plain):
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)
        np.testing.assert_allclose(a.scores, c.scores, atol=1e-5)
        np.testing.assert_allclose(a.boxes, c.boxes, atol=1e-3)


def test_composition_errors(tmp_path, data):
    from sambench.models import build_model
    from sambench.models.base import UnsupportedPromptError
    from sambench.models.text_routes import compose_text_route

    with pytest.raises(UnsupportedPromptError, match="box prompts"):
        (tmp_path / "none.json").write_text("[]")
        compose_text_route(build_model("random-walker"), detections=str(tmp_path / "none.json"))
    with pytest.raises(ValueError, match="already answers text"):
        compose_text_route(build_model("text-oracle"), detector="owlv2", detector_checkpoint=str(data["models"]["owl"]))
    with pytest.raises(ValueError, match="not a save_pretrained folder"):
        compose_text_route(build_model("sam-tiny"), detector="owlv2", detector_checkpoint=str(data["coco"]))
