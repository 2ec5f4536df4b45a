"""Every task end to end with every SAM-family adapter's tiny config, through the CLI, in process.

point, edges, proposals and instances run on a one-image generated demo set (edges: the same images
with boundaries made from their instance masks, in BSDS500's layout). Each run's config and
report label the model untrained with its family and source. Where a model lacks a capability a
protocol needs (HQ-SAM's decoder has no multimask output), the run is refused with one line, and
the protocol's single-output variant runs instead.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from sambench.app.cli import main
from sambench.models.catalog import model_info

MODELS = ["sam2-tiny", "sam-hq-tiny", "hf-sam-tiny", "hf-sam-hq-tiny", "hf-sam2-tiny", "hf-sam3-tracker-tiny",
          "hf-edgetam-tiny"]
COMMON = ["--no-progress", "--cache-dir", "none", "--device", "cpu"]


@pytest.fixture(scope="module")
def demo_small(tmp_path_factory):
    from sambench.datasets.demo import generate_demo

    root = tmp_path_factory.mktemp("demo-small")
    generate_demo(root, n_images=1, height=96, width=128, seed=1)
    return root


@pytest.fixture(scope="module")
def bsds_small(demo_small, tmp_path_factory):
    """The demo images as BSDS500 test images; one annotator whose segments are the top-level instances."""
    from PIL import Image
    from scipy.io import savemat
    from skimage.segmentation import find_boundaries

    from sambench import masks as mask_utils

    coco = json.loads((demo_small / "instances.json").read_text())
    data = tmp_path_factory.mktemp("bsds-small") / "BSR" / "BSDS500" / "data"
    (data / "images" / "test").mkdir(parents=True)
    (data / "groundTruth" / "test").mkdir(parents=True)
    for im in coco["images"]:
        seg = np.ones((im["height"], im["width"]), np.uint16)
        for k, a in enumerate(x for x in coco["annotations"] if x["image_id"] == im["id"] and x["category_id"] == 1):
            seg[mask_utils.decode(a["segmentation"]).astype(bool)] = k + 2
        cell = np.empty((1, 1), dtype=object)
        cell[0, 0] = {"Segmentation": seg, "Boundaries": find_boundaries(seg, mode="inner").astype(np.uint8)}
        stem = Path(im["file_name"]).stem
        Image.open(demo_small / "images" / im["file_name"]).convert("RGB").save(data / "images" / "test" / f"{stem}.jpg")
        savemat(str(data / "groundTruth" / "test" / f"{stem}.mat"), {"groundTruth": cell})
    return data.parent


def _run(task, model, root, out, *extra, dataset="demo"):
    return main(["run", task, "--model", model, "--dataset", dataset, "--root", str(root), "--out", str(out),
                 *COMMON, *map(str, extra)])


def _labelled(out: Path, model: str):
    info = model_info(model)
    label = json.loads((out / "config.json").read_text())["model"]["label"]
    assert label == f"{info['family']} tiny [{info['source']}] (untrained)"
    assert label in (out / "report.md").read_text()
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("model", MODELS)
def test_point_task(model, demo_small, tmp_path):
    assert _run("point", model, demo_small, tmp_path / "r", "--points", "1,2", "--mask-input") == 0
    s = _labelled(tmp_path / "r", model)
    d = s["datasets"]["demo"]
    assert d["n_masks"] > 0 and set(d["miou"]) == {"1", "2"} and 0 <= d["miou"]["1"] <= 1
    assert d["miou_oracle"]["1"] >= d["miou"]["1"] - 1e-9


@pytest.mark.parametrize("model", MODELS)
def test_instances_task_from_ground_truth_boxes(model, demo_small, tmp_path, capsys):
    args = ["--gt-boxes", "--refine"]
    if not model_info(model)["caps"].multimask:  # a lone box takes the most confident of the multimask outputs
        assert _run("instances", model, demo_small, tmp_path / "refused", *args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--box-output single" in err[0]
        args += ["--box-output", "single"]
    assert _run("instances", model, demo_small, tmp_path / "r", *args) == 0
    s = _labelled(tmp_path / "r", model)
    assert s["n_masks"] > 0


@pytest.mark.parametrize("model", MODELS)
def test_proposals_task(model, demo_small, tmp_path, capsys):
    caps = model_info(model)["caps"]
    args = ["--points-per-side", "4", "--max-proposals", "20"]
    if not caps.multimask:
        assert _run("proposals", model, demo_small, tmp_path / "refused", *args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "multimask" in err[0]
        args += ["--variant", "single"]
    assert _run("proposals", model, demo_small, tmp_path / "r", *args) == 0
    _labelled(tmp_path / "r", model)


@pytest.mark.parametrize("model", MODELS)
def test_edges_task(model, bsds_small, tmp_path, capsys):
    caps = model_info(model)["caps"]
    args = ["--points-per-side", "4", "--thresholds", "5", "--split", "test"]
    if not caps.multimask:
        assert _run("edges", model, bsds_small, tmp_path / "refused", *args, dataset="bsds500") == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "multimask" in err[0] and "--single-output" in err[0]
        args.append("--single-output")
    assert _run("edges", model, bsds_small, tmp_path / "r", *args, dataset="bsds500") == 0
    s = _labelled(tmp_path / "r", model)
    assert 0 <= s["ods"] <= 1
