"""Detections on images without ground truth are prompted and count as false positives."""

import json

import numpy as np
import pytest
from PIL import Image

from sambench import masks as mask_utils
from sambench.app.cli import main


def test_detection_on_an_image_without_ground_truth_is_a_false_positive(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in (1, 2):
        Image.fromarray(np.full((64, 64, 3), 40 * i, np.uint8)).save(images / f"{i}.png")
    m = np.zeros((64, 64), bool)
    m[10:30, 12:40] = True
    ann = tmp_path / "instances.json"
    ann.write_text(json.dumps({
        "images": [{"id": i, "file_name": f"{i}.png", "height": 64, "width": 64} for i in (1, 2)],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": mask_utils.encode(m),
                         "area": int(m.sum()), "bbox": [12, 10, 28, 20], "iscrowd": 0}],
        "categories": [{"id": 1, "name": "thing"}]}))
    dets = tmp_path / "dets.json"
    # the true object at 0.9, and a more confident detection on the image that has no object
    dets.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [12, 10, 28, 20], "score": 0.9},
                                {"image_id": 2, "category_id": 1, "bbox": [5, 5, 20, 20], "score": 1.0}]))
    out = tmp_path / "run"
    code = main(["run", "instances", "--model", "oracle", "--dataset", "coco", "--root", str(images), "--ann", str(ann),
                 "--detections", str(dets), "--out", str(out), "--no-progress", "--cache-dir", "none"])
    assert code == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["n_images"] == 2
    # ranked: FP (precision 0), then the TP (precision 1/2); interpolated precision is 1/2 at every recall
    assert s["AP"] == pytest.approx(0.5) and s["AP50"] == pytest.approx(0.5)
