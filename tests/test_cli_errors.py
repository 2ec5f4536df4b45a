"""One-line errors for bad input, and bad samples skipped, counted and listed."""

import json
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import run_cli
from sambench import masks as mask_utils


def _one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def test_missing_root_names_path_and_layout(tmp_path):
    proc = run_cli("run", "point", "--model", "oracle", "--dataset", "grabcut", "--root", tmp_path / "nowhere",
                   "--out", tmp_path / "o", check=False)
    _one_line_error(proc, str(tmp_path / "nowhere"), "data_GT")


def test_wrong_layout_names_what_is_missing(tmp_path):
    (tmp_path / "data_GT").mkdir()
    proc = run_cli("run", "point", "--model", "oracle", "--dataset", "grabcut", "--root", tmp_path,
                   "--out", tmp_path / "o", check=False)
    _one_line_error(proc, "boundary_GT")


def test_unknown_names_list_the_known_ones(tmp_path):
    proc = run_cli("run", "point", "--model", "nosuchmodel", "--dataset", "demo", "--out", tmp_path / "o", check=False)
    _one_line_error(proc, "unknown model 'nosuchmodel'", "sam-vit_h", "oracle")
    proc = run_cli("run", "point", "--model", "oracle", "--dataset", "nosuchdata", "--root", tmp_path,
                   "--out", tmp_path / "o", check=False)
    _one_line_error(proc, "unknown dataset 'nosuchdata'", "grabcut")


def test_wrong_checkpoint_is_one_line(tmp_path):
    ckpt = tmp_path / "sam_vit_b_01ec64.pth"
    ckpt.write_bytes(b"junk")
    proc = run_cli("run", "point", "--model", "sam-vit_b", "--checkpoint", ckpt, "--dataset", "demo",
                   "--out", tmp_path / "o", check=False)
    _one_line_error(proc, str(ckpt))


def test_list_commands_and_help():
    out = run_cli("list", "models").stdout
    assert "sam-tiny" in out and "untrained" in out.lower()
    assert "grabcut" in run_cli("list", "datasets").stdout
    assert "point" in run_cli("list", "tasks").stdout
    assert "--first-point" in run_cli("run", "point", "--help").stdout


def _write_coco_with_bad_samples(root: Path):
    img_dir = root / "images"
    img_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, anns = [], []
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(img_dir / f"{i}.png")
        images.append({"id": i, "file_name": f"{i}.png", "height": 40, "width": 50})
        m = np.zeros((40, 50), bool)
        m[5:20, 5:25] = True
        anns.append({"id": 10 * i + 1, "image_id": i, "category_id": 1, "segmentation": mask_utils.encode(m),
                     "area": int(m.sum()), "bbox": [5, 5, 20, 15], "iscrowd": 0})
    (img_dir / "1.png").write_bytes(b"corrupt image bytes")  # unreadable image: whole sample skipped
    empty = np.zeros((40, 50), bool)
    anns.append({"id": 99, "image_id": 2, "category_id": 1, "segmentation": mask_utils.encode(empty),
                 "area": 0, "bbox": [0, 0, 0, 0], "iscrowd": 0})  # empty mask: not prompted, a listed skip
    ann = root / "instances.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "x"}]}))
    return img_dir, ann


def test_bad_samples_are_skipped_counted_and_listed(tmp_path):
    img_dir, ann = _write_coco_with_bad_samples(tmp_path / "data")
    out = tmp_path / "run"
    run_cli("run", "point", "--model", "oracle", "--dataset", "coco", "--root", img_dir, "--ann", ann,
            "--points", "1", "--out", out, "--no-progress", "--cache-dir", "none")
    d = json.loads((out / "summary.json").read_text())["datasets"]["coco"]
    assert d["n_masks"] == 2 and d["miou"]["1"] == 1.0
    assert d["n_skipped"] == 2 and d["n_images_skipped"] == 1  # masks: image 1's one and the empty one
    assert any(s["image_id"] == "1" and "unreadable" in s["reason"] and s["n_masks"] == 1 for s in d["skipped"])
    assert any(s["image_id"] == "2" and s["instance_id"] == "99" and s["reason"] == "zero-area mask"
               for s in d["skipped"])


def test_not_a_coco_json_is_one_line(tmp_path):
    bad = tmp_path / "ann.json"
    bad.write_text("[1, 2")
    proc = run_cli("run", "point", "--model", "oracle", "--dataset", "coco", "--root", tmp_path, "--ann", bad,
                   "--out", tmp_path / "o", check=False)
    _one_line_error(proc, str(bad))
