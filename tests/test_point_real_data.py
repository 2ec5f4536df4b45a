"""The classical baseline runs the point protocol on real GrabCut (128 = ignore) and Berkeley masks."""

import json

import numpy as np
import pandas as pd
from PIL import Image

from conftest import run_cli, shared
from sambench.datasets import build_dataset
from sambench.datasets.manifest import Manifest, save_manifest


def _subset_manifest(tmp_path, name, root, n):
    adapter = build_dataset(name, root)
    ids = adapter.image_ids()[:n]
    entries = {i: [inst.id for inst in adapter.load_sample(i).instances] for i in ids}
    path = tmp_path / f"{name}-manifest.json"
    save_manifest(Manifest(name, None, entries), path)
    return path


def test_grabcut_ignore_band_is_read_pixel_exact():
    root = shared("GrabCut")
    adapter = build_dataset("grabcut", root)
    with_band = 0
    for image_id in adapter.image_ids():
        sample = adapter.load_sample(image_id)
        raw = np.asarray(Image.open(adapter._masks[image_id]))
        raw = raw[..., 0] if raw.ndim == 3 else raw
        assert np.array_equal(sample.instances[0].mask(), raw == 255)
        ignore = sample.ignore_mask()
        assert np.array_equal(ignore if ignore is not None else np.zeros_like(raw, bool), raw == 128)
        with_band += ignore is not None
    assert len(adapter.image_ids()) == 50 and with_band > 0


def test_random_walker_on_grabcut_never_clicks_the_ignore_band(tmp_path):
    root = shared("GrabCut")
    manifest = _subset_manifest(tmp_path, "grabcut", root, 6)
    out = tmp_path / "gc"
    run_cli("run", "point", "--model", "random-walker", "--dataset", "grabcut", "--root", root, "--manifest", manifest,
            "--points", "1,2,3", "--out", out, "--no-progress", "--cache-dir", tmp_path / "arrow")
    d = json.loads((out / "summary.json").read_text())["datasets"]["grabcut"]
    assert d["n_masks"] == 6 and d["n_skipped"] == 0
    assert all(0.0 <= v <= 1.0 for v in d["miou"].values())
    records = pd.read_csv(out / "records" / "records-rank0.csv", dtype={"image_id": str})
    adapter = build_dataset("grabcut", root)
    clicked = records[records["click_x"].notna() & (records["n_clicks"] > 1)]
    assert len(clicked) > 0
    for row in clicked.itertuples():
        ignore = adapter.load_sample(row.image_id).ignore_mask()
        if ignore is not None:
            assert not ignore[int(row.click_y), int(row.click_x)]


def test_random_walker_on_berkeley(tmp_path):
    root = shared("Berkeley")
    manifest = _subset_manifest(tmp_path, "berkeley", root, 5)
    out = tmp_path / "bk"
    run_cli("run", "point", "--model", "random-walker", "--dataset", "berkeley", "--root", root, "--manifest", manifest,
            "--points", "1,3", "--out", out, "--no-progress", "--cache-dir", tmp_path / "arrow")
    s = json.loads((out / "summary.json").read_text())
    d = s["datasets"]["berkeley"]
    assert d["n_masks"] == 5 and set(d["miou"]) == {"1", "3"}
    assert s["model"]["weights"] == "weight-free"
    assert 0.0 < d["miou"]["1"] <= 1.0
