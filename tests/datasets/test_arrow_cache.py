"""Arrow cache: round trip equal to the adapter, reuse, rebuild on change, bad samples kept bad."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures_a as fx  # noqa: E402

from sambench.datasets import arrow_cache, build_dataset  # noqa: E402
from sambench.datasets.arrow_cache import CachedDataset, open_cached, source_signature  # noqa: E402
from sambench.datasets.base import RLEList  # noqa: E402
from sambench.datasets.manifest import build_manifest  # noqa: E402
from sambench.data import BadSample, BadSampleError, Sample  # noqa: E402


def assert_same(a, b) -> None:
    """Two sample sources give identical samples (ids, masks, categories, flags, extras, ignore, pixels)."""
    assert a.image_ids() == b.image_ids()
    for x, y in zip(a.samples(), b.samples()):
        assert type(x) is type(y) and x.image_id == y.image_id
        if isinstance(x, BadSample):
            assert x.reason == y.reason
            continue
        assert (x.height, x.width, x.ignore, x.void, x.image_path) == (y.height, y.width, y.ignore, y.void, y.image_path)
        assert [(i.id, i.rle, i.category_id, i.iscrowd, i.extra) for i in x.instances] == \
               [(i.id, i.rle, i.category_id, i.iscrowd, i.extra) for i in y.instances]
        assert set(x.extra) == set(y.extra)
        for k, v in x.extra.items():
            if isinstance(v, RLEList):
                assert isinstance(y.extra[k], RLEList) and v.rles == y.extra[k].rles
            else:
                assert v == y.extra[k]
        np.testing.assert_array_equal(x.image(), y.image())


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


def count_builds(monkeypatch) -> list:
    calls = []
    real = arrow_cache.build_cache
    monkeypatch.setattr(arrow_cache, "build_cache", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


@pytest.mark.parametrize("name,writer,kwargs", [
    ("bbbc038", fx.write_bbbc038, {}),
    ("cityscapes", fx.write_cityscapes, {}),
    ("ade20k", fx.write_ade20k, {}),
    ("lvis", fx.write_lvis, {}),
    ("ndd20", fx.write_ndd20, {}),
    ("timberseg", fx.write_timberseg, {}),
])
def test_round_trip_equals_adapter(tmp_path, cache_dir, name, writer, kwargs):
    root, _ = writer(tmp_path / "data")
    adapter = build_dataset(name, root, **kwargs)
    cached = open_cached(adapter, cache_dir)
    assert isinstance(cached, CachedDataset) and cached.name == name and len(cached) == len(adapter.image_ids())
    assert_same(adapter, cached)
    assert cached.paper_images == adapter.paper_images and cached.layout == adapter.layout  # attributes fall through
    d = cached.describe()
    assert d["name"] == name and d["arrow_cache"] == str(cached.path) and d["signature"] == cached.signature
    assert cached.path.parent == cache_dir and cached.path.name.startswith(f"{name}-")


def test_bsds_boundaries_survive(tmp_path, cache_dir):
    root, expected = fx.write_bsds500(tmp_path / "data")
    adapter = build_dataset("bsds500", root / "BSR")
    cached = open_cached(adapter, cache_dir)
    assert_same(adapter, cached)
    b = cached.load_sample("100").extra["boundaries"]
    assert isinstance(b, RLEList)
    np.testing.assert_array_equal(b[1], expected["boundaries"][1])


def test_reuse_then_rebuild_on_change(tmp_path, cache_dir, monkeypatch):
    builds = count_builds(monkeypatch)
    root, _ = fx.write_bbbc038(tmp_path / "data")
    first = open_cached(build_dataset("bbbc038", root), cache_dir)
    t0 = time.perf_counter()
    again = open_cached(build_dataset("bbbc038", root), cache_dir)
    assert time.perf_counter() - t0 < 5
    assert len(builds) == 1 and again.path == first.path

    # a mask file changes -> new signature, rebuilt, the stale cache of the same root removed
    m = root / "stage1_train" / "bbb" / "masks" / "n1.png"
    fx.save(m, (fx.rect(20, 24, 0, 10, 0, 5) * 255).astype(np.uint8))
    os.utime(m, ns=(time.time_ns(), time.time_ns() + 10**9))
    changed = open_cached(build_dataset("bbbc038", root), cache_dir)
    assert len(builds) == 2 and changed.path != first.path and not first.path.exists()
    assert changed.load_sample("bbb").instances[0].area == 50

    # a file added under root -> rebuilt; forcing a rebuild works too
    fx.save(root / "stage1_train" / "bbb" / "masks" / "n2.png", (fx.rect(20, 24, 15, 20, 20, 24) * 255).astype(np.uint8))
    assert [i.id for i in open_cached(build_dataset("bbbc038", root), cache_dir).load_sample("bbb").instances] == ["n1", "n2"]
    open_cached(build_dataset("bbbc038", root), cache_dir, rebuild=True)
    assert len(builds) == 4


def test_annotation_content_change_rebuilds(tmp_path, cache_dir, monkeypatch):
    builds = count_builds(monkeypatch)
    root, _ = fx.write_lvis(tmp_path / "data")
    ann = root / "annotations" / "lvis_v1_val.json"
    sig = source_signature(build_dataset("lvis", root), cache_dir)
    assert sig == source_signature(build_dataset("lvis", root), cache_dir)  # deterministic
    open_cached(build_dataset("lvis", root), cache_dir)
    data = json.loads(ann.read_text())
    data["annotations"][0]["category_id"] = 3
    st = ann.stat()
    ann.write_text(json.dumps(data))
    os.utime(ann, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    cached = open_cached(build_dataset("lvis", root), cache_dir)
    assert len(builds) == 2 and cached.signature != sig
    assert {i.id: i.category_id for i in cached.load_sample("1").instances}["11"] == 3
    # another adapter over the same root never shares a cache
    fx.write_lvis(root, "v0.5")
    v05 = open_cached(build_dataset("lvis_v05", root), cache_dir)
    assert v05.path != cached.path and v05.signature != cached.signature


def test_broken_cache_folder_is_rebuilt(tmp_path, cache_dir, monkeypatch):
    builds = count_builds(monkeypatch)
    root, _ = fx.write_img_gt(tmp_path / "data")
    first = open_cached(build_dataset("davis", root), cache_dir)
    (first.path / "meta.json").write_text("{truncated")
    again = open_cached(build_dataset("davis", root), cache_dir)
    assert len(builds) == 2 and again.path == first.path and again.image_ids() == ["a", "b", "c", "d"]


def test_bad_samples_stay_bad(tmp_path, cache_dir):
    root, _ = fx.write_bbbc038(tmp_path / "data")
    cached = open_cached(build_dataset("bbbc038", root), cache_dir)
    reopened = open_cached(build_dataset("bbbc038", root), cache_dir)
    for c in (cached, reopened):
        bad = [s for s in c.samples() if isinstance(s, BadSample)]
        assert [b.image_id for b in bad] == ["ccc"] and "unreadable image" in bad[0].reason
        with pytest.raises(BadSampleError, match="unreadable image"):
            c.load_sample("ccc")
        assert c.bad_samples() == {"ccc": bad[0].reason}
        assert c.load_sample("aaa").extra["zero_area"] == ["empty"]
    with pytest.raises(KeyError):
        cached.load_sample("zzz")


def test_manifest_same_on_cache(tmp_path, cache_dir):
    root, _ = fx.write_img_gt(tmp_path / "data")
    adapter = build_dataset("coco_mval", root)
    cached = open_cached(adapter, cache_dir)
    assert build_manifest(cached).checksum() == build_manifest(adapter).checksum()
    assert build_manifest(cached).skipped == build_manifest(adapter).skipped


def test_env_cache_dir_and_moved_root(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMBENCH_ARROW_CACHE", str(tmp_path / "envcache"))
    root, expected = fx.write_img_gt(tmp_path / "a")
    cached = open_cached(build_dataset("davis", root))
    assert cached.path.parent == tmp_path / "envcache"
    # images are resolved against the adapter's current root
    moved = tmp_path / "b"
    root.rename(moved)
    again = open_cached(build_dataset("davis", moved))
    s = again.load_sample("a")
    assert s.image_path == moved / "img" / "a.jpg" and s.image().shape == (12, 14, 3)
    np.testing.assert_array_equal(s.instances[0].mask(), expected["a"]["a"])


@pytest.mark.shared_data
def test_real_bbbc038_cache(tmp_path):
    root = fx.SHARED_DATA / "BBBC038"
    if not root.exists():
        pytest.skip(f"real sample data not present: {root}")
    adapter = build_dataset("bbbc038", root)
    cached = open_cached(adapter, tmp_path)
    assert cached.meta["n_images"] == 40 and cached.meta["n_masks"] == 1669 and cached.meta["n_bad"] == 0
    t0 = time.perf_counter()
    again = open_cached(build_dataset("bbbc038", root), tmp_path)
    assert time.perf_counter() - t0 < 5 and again.path == cached.path
    ids = again.image_ids()
    for image_id in ids[:3]:
        x, y = adapter.load_sample(image_id), again.load_sample(image_id)
        assert isinstance(y, Sample) and [i.rle for i in x.instances] == [i.rle for i in y.instances]
    assert sum(len(s.instances) for s in again.samples()) == 1669


def test_custom_image_loader_goes_through_adapter(tmp_path, cache_dir):
    """An adapter whose images are not plain files (e.g. cropped or decoded frames) keeps working cached."""
    from sambench.datasets.davis import Davis345

    class Flipped(Davis345):
        name = "davis_flipped_test"

        def load_sample(self, image_id):
            s = super().load_sample(image_id)
            base = s.loader
            s.loader = lambda: base()[::-1].copy()
            return s

    root, _ = fx.write_img_gt(tmp_path / "data")
    adapter = Flipped(root)
    cached = open_cached(adapter, cache_dir)
    np.testing.assert_array_equal(cached.load_sample("a").image(), adapter.load_sample("a").image())
    plain = open_cached(build_dataset("davis", root), cache_dir)
    assert plain.dataset[0]["image_from_file"] and not cached.dataset[0]["image_from_file"]
