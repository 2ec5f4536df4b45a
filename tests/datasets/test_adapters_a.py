"""Adapters lvis, lvis_v05, bsds500, ade20k, cityscapes, bbbc038, davis, coco_mval, ppdls, doors,
timberseg, ndd20: tiny native-format fixtures with pixel-exact expectations, bad input, and the real
samples in ../shared/data when present."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures_a as fx  # noqa: E402

from sambench.datasets import DATASETS, build_dataset  # noqa: E402
from sambench.datasets.base import DatasetLayoutError, RLEList  # noqa: E402
from sambench.datasets.manifest import build_manifest  # noqa: E402
from sambench.data import BadSample, BadSampleError, Sample  # noqa: E402

MINE = ["lvis", "lvis_v05", "bsds500", "ade20k", "cityscapes", "bbbc038", "davis", "coco_mval", "ppdls", "doors",
        "timberseg", "ndd20"]
CSV_ROWS = {  # name -> (domain, mask type, images, masks) from results/reference/sa23_datasets.csv
    "lvis_v05": ("Scenes", "instance", 945, 9642), "ade20k": ("Scenes", "instance (objects and parts)", 302, 10128),
    "cityscapes": ("Driving", "panoptic", 293, 9973), "bbbc038": ("Microscopy", "instance", 227, 10506),
    "ppdls": ("Plants", "instance", 182, 2347), "doors": ("Boulders", "instance", 10000, 10000),
    "timberseg": ("Logs", "instance", 220, 2487), "ndd20": ("Underwater", "instance", 4402, 6100),
}


def shared(*parts: str) -> Path:
    path = fx.SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real sample data not present: {path} (../shared/data is only on CI and developer machines)")
    return path


def by_id(sample: Sample) -> dict:
    return {inst.id: inst for inst in sample.instances}


def assert_masks(sample: Sample, expected: dict) -> None:
    got = by_id(sample)
    assert sorted(got) == sorted(expected), sample.image_id
    for iid, m in expected.items():
        assert got[iid].rle["size"] == [sample.height, sample.width]
        np.testing.assert_array_equal(got[iid].mask(), m, err_msg=f"{sample.image_id}/{iid}")


# -- registry and class facts ---------------------------------------------------------------------
def test_all_registered_with_facts():
    for name in MINE:
        cls = DATASETS.get(name)
        assert cls.name == name and cls.title and cls.domain and cls.layout and cls.source and cls.license
        assert cls.citation and name in DATASETS.describe() and DATASETS.describe()[name]
        doc = sys.modules[cls.__module__].__doc__
        assert doc and "--root" in doc, f"{name}: module docstring must describe the layout under --root"
    for name, (domain, mask_type, images, masks) in CSV_ROWS.items():
        cls = DATASETS.get(name)
        assert (cls.domain, cls.mask_type, cls.paper_images, cls.paper_masks) == (domain, mask_type, images, masks)


# -- fixtures: one test per adapter ----------------------------------------------------------------
def test_bbbc038_fixture(tmp_path):
    root, expected = fx.write_bbbc038(tmp_path)
    for r in (root, root / "stage1_train"):  # --root may be either
        ds = build_dataset("bbbc038", r)
        assert ds.image_ids() == ["aaa", "bbb", "ccc"]
    s = ds.load_sample("aaa")
    assert (s.height, s.width) == (20, 24)
    assert_masks(s, expected["aaa"])
    assert s.extra["zero_area"] == ["empty"]
    assert s.image().shape == (20, 24, 3)  # RGBA -> RGB
    assert_masks(ds.load_sample("bbb"), expected["bbb"])
    bad = [x for x in ds.samples() if isinstance(x, BadSample)]
    assert [b.image_id for b in bad] == ["ccc"] and "unreadable image" in bad[0].reason


def test_bsds500_fixture(tmp_path):
    root, expected = fx.write_bsds500(tmp_path)
    for r in (root / "BSR", root / "BSR" / "BSDS500", root / "BSR" / "BSDS500" / "data"):
        assert build_dataset("bsds500", r).image_ids() == ["100", "2001"]
    ds = build_dataset("bsds500", root / "BSR")
    s = ds.load_sample("100")
    assert_masks(s, expected["masks"])
    assert by_id(s)["a1_s3"].extra == {"annotator": 1, "segment": 3}
    b = s.extra["boundaries"]
    assert isinstance(b, RLEList) and len(b) == 2 and s.extra["n_annotators"] == 2
    for got, want in zip(b, expected["boundaries"]):
        assert got.dtype == bool
        np.testing.assert_array_equal(got, want)
    with pytest.raises(BadSampleError, match="unreadable BSDS ground truth"):
        ds.load_sample("2001")
    assert build_dataset("bsds500", root / "BSR", split="val").image_ids() == ["5"]


def test_ade20k_fixture(tmp_path):
    root, expected = fx.write_ade20k(tmp_path)
    for r in (root, root / "ADE20K_2021_17_01"):
        ds = build_dataset("ade20k", r)
        assert ds.image_ids() == ["ADE_val_00000001", "ADE_val_00000002"]  # instance folders not walked
    s = ds.load_sample("ADE_val_00000001")
    exp = expected["ADE_val_00000001"]
    assert_masks(s, {k: v[0] for k, v in exp.items()})
    for iid, (_, cat, level, name) in exp.items():
        inst = by_id(s)[iid]
        assert (inst.category_id, inst.extra["level"], inst.extra["name"]) == (cat, level, name)
    with pytest.raises(BadSampleError, match="unreadable annotation"):
        ds.load_sample("ADE_val_00000002")
    with pytest.raises(DatasetLayoutError, match="images/ADE/training"):
        build_dataset("ade20k", root, split="training")


def test_cityscapes_fixture(tmp_path):
    root, exp = fx.write_cityscapes(tmp_path)
    ds = build_dataset("cityscapes", root)
    assert ds.image_ids() == [exp["image_id"], exp["mismatched"]]
    s = ds.load_sample(exp["image_id"])
    assert_masks(s, {k: v[0] for k, v in exp["masks"].items()})
    for iid, (_, crowd) in exp["masks"].items():
        assert by_id(s)[iid].iscrowd == crowd
    assert by_id(s)["26001"].category_id == 26 and by_id(s)["26001"].extra["category"] == "car"
    assert s.ignore is None and s.ignore_mask() is None  # void is plain background unless asked for
    np.testing.assert_array_equal(s.ignore_mask(include_void=True), exp["void"])
    with pytest.raises(BadSampleError, match="annotation is 32x8, image is 32x16"):
        ds.load_sample(exp["mismatched"])


@pytest.mark.parametrize("name,version", [("lvis", "v1"), ("lvis_v05", "v0.5")])
def test_lvis_fixture(tmp_path, name, version):
    root, expected = fx.write_lvis(tmp_path, version)
    ds = build_dataset(name, root)
    assert ds.image_ids() == ["1", "2", "3"]
    s1 = ds.load_sample("1")
    assert_masks(s1, {k: v[0] for k, v in expected["1"].items()})
    for iid, (_, cat, freq) in expected["1"].items():
        inst = by_id(s1)[iid]
        assert inst.category_id == cat and inst.extra["frequency"] == freq and inst.extra["name"]
    assert [(d["instance_id"], d["reason"]) for d in s1.skipped_annotations()] == [("13", "zero-area mask")]
    assert s1.extra["not_exhaustive_category_ids"] == [2] and s1.extra["neg_category_ids"] == [3]
    s2 = ds.load_sample("2")  # coco_url says train2017
    assert s2.image_path == root / "train2017" / "000000000002.jpg"
    assert_masks(s2, {k: v[0] for k, v in expected["2"].items()})
    with pytest.raises(BadSampleError, match="image file missing"):
        ds.load_sample("3")
    other = "lvis_v05" if name == "lvis" else "lvis"
    with pytest.raises(DatasetLayoutError, match="annotation file not found"):
        build_dataset(other, root)
    ann = root / "annotations" / ("lvis_v0.5_val.json" if version == "v0.5" else "lvis_v1_val.json")
    assert build_dataset(other, root, ann=ann).image_ids() == ["1", "2", "3"]  # --ann overrides


@pytest.mark.parametrize("name", ["davis", "coco_mval"])
def test_img_gt_fixture(tmp_path, name):
    root, expected = fx.write_img_gt(tmp_path)
    ds = build_dataset(name, root)
    assert ds.image_ids() == ["a", "b", "c", "d"]
    for sid, masks in expected.items():
        assert_masks(ds.load_sample(sid), masks)
    bad = {b.image_id: b.reason for b in ds.samples() if isinstance(b, BadSample)}
    assert set(bad) == {"c", "d"} and "no mask" in bad["c"] and "14x13" in bad["d"]


def test_ppdls_fixture(tmp_path):
    root, expected = fx.write_ppdls(tmp_path)
    ds = build_dataset("ppdls", root)
    assert ds.image_ids() == sorted(expected)  # the tray image without leaf labels is not listed
    for sid, masks in expected.items():
        assert_masks(ds.load_sample(sid), masks)
    assert build_dataset("ppdls", root / "Plant" / "Tobacco").image_ids() == ["tobacco_plant001"]


def test_doors_fixture(tmp_path):
    root, expected = fx.write_doors(tmp_path)
    for r in (root, root / "Regression"):
        ds = build_dataset("doors", r)
        assert len(ds.image_ids()) == 4
    for sid, masks in expected.items():
        assert_masks(ds.load_sample(sid), masks)
    s1 = "Te1_5000_b_2022-08-02 11.16.00"
    with pytest.raises(BadSampleError, match="boulder mask missing"):
        ds.load_sample(f"{s1}/0002")
    s = ds.load_sample(f"{s1}/0003")
    assert s.instances == [] and s.extra["zero_area"] == ["0003"]


def test_timberseg_fixture(tmp_path):
    root, expected = fx.write_timberseg(tmp_path)
    for r in (root, root / "prescaled"):
        ds = build_dataset("timberseg", r)
        assert ds.image_ids() == ["1", "2"]
        for sid, masks in expected.items():
            assert_masks(ds.load_sample(sid), masks)
    assert [(d["instance_id"], d["reason"]) for d in ds.load_sample("2").skipped_annotations()] == [("4", "zero-area mask")]
    with pytest.raises(DatasetLayoutError, match="original/ not found"):
        build_dataset("timberseg", root, split="original")


def test_ndd20_fixture(tmp_path):
    root, exp = fx.write_ndd20(tmp_path)
    ds = build_dataset("ndd20", root)
    assert ds.image_ids() == ["ABOVE/1", "BELOW/7", "BELOW/8"]
    for sid, masks in exp["masks"].items():
        assert_masks(ds.load_sample(sid), masks)
    s = ds.load_sample("ABOVE/1")
    assert s.extra["zero_area"] == ["1"] and by_id(s)["0"].extra == {"species": "white-beaked", "id": "42"}
    with pytest.raises(BadSampleError, match="image file missing"):
        ds.load_sample("BELOW/8")
    assert build_dataset("ndd20", root, split="above").image_ids() == ["ABOVE/1"]


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MINE)
def test_missing_root_and_wrong_layout_one_line(tmp_path, name):
    cls = DATASETS.get(name)
    for root in (tmp_path / "does-not-exist", tmp_path):  # missing root; empty folder = wrong layout
        with pytest.raises(DatasetLayoutError) as err:
            build_dataset(name, root)
        msg = str(err.value)
        assert "\n" not in msg and str(root) in msg, msg
        assert cls.layout in msg or "expects" in msg, msg


def test_corrupt_files_become_bad_samples(tmp_path):
    root, _ = fx.write_ppdls(tmp_path / "p")
    fx.corrupt(root / "Plant" / "Ara2012" / "ara2012_plant001_label.png")
    out = {x.image_id: x for x in build_dataset("ppdls", root).samples()}
    assert isinstance(out["Plant/Ara2012/ara2012_plant001"], BadSample)
    assert "unreadable annotation" in out["Plant/Ara2012/ara2012_plant001"].reason
    assert isinstance(out["Plant/Tobacco/tobacco_plant001"], Sample)
    # an image whose header reads but whose pixels do not: the sample loads, image() raises BadSampleError
    root, _ = fx.write_img_gt(tmp_path / "d")
    path = root / "img" / "a.jpg"
    path.write_bytes(path.read_bytes()[:-100])  # header intact, pixels cut
    s = build_dataset("davis", root).load_sample("a")
    with pytest.raises(BadSampleError, match="unreadable image"):
        s.image()
    # a broken VIA json is a layout error naming the file, in one line
    root, _ = fx.write_ndd20(tmp_path / "n")
    (root / "BELOW_LABELS.json").write_text("{not json")
    with pytest.raises(DatasetLayoutError, match="BELOW_LABELS.json: not a readable VIA json") as err:
        build_dataset("ndd20", root)
    assert "\n" not in str(err.value)


# -- manifest -------------------------------------------------------------------------------------
def test_manifest_stable_and_seeded(tmp_path):
    root, _ = fx.write_bbbc038(tmp_path)
    ds = build_dataset("bbbc038", root)
    full = build_manifest(ds)
    # the zero-area mask "empty" is listed, so a run reports it as a skipped mask with its reason
    assert not full.subsampled and full.entries == {"aaa": ["m1", "m2", "empty"], "bbb": ["n1"]} and "ccc" in full.skipped
    a = build_manifest(ds, seed=0, max_masks=1, target_masks=1)
    b = build_manifest(build_dataset("bbbc038", root), seed=0, max_masks=1, target_masks=1)
    assert a.subsampled and a.checksum() == b.checksum() and a.entries == b.entries
    seeds = {tuple(build_manifest(ds, seed=k, max_masks=1, target_masks=1).entries) for k in range(8)}
    assert len(seeds) == 2  # both images get drawn first under some seed


# -- real samples in ../shared/data ---------------------------------------------------------------
@pytest.mark.shared_data
def test_real_bbbc038():
    ds = build_dataset("bbbc038", shared("BBBC038"))
    ids = ds.image_ids()
    assert len(ids) == 40
    usable = {}
    for s in ds.samples():
        assert isinstance(s, Sample) and s.instances and all(i.area > 0 for i in s.instances)
        usable[s.image_id] = [i.id for i in s.instances]
    assert sum(len(v) for v in usable.values()) == 1669
    s = ds.load_sample(ids[0])
    assert s.image().shape == (s.height, s.width, 3)
    # the paper's subsampling, forced by small limits: identical across runs, different with the seed
    kw = dict(max_masks=500, target_masks=300, count=usable.__getitem__)
    m1 = build_manifest(ds, seed=0, **kw)
    m2 = build_manifest(build_dataset("bbbc038", shared("BBBC038")), seed=0, **kw)
    m3 = build_manifest(ds, seed=1, **kw)
    assert m1.subsampled and m1.checksum() == m2.checksum() and m1.checksum() != m3.checksum()
    assert 300 <= m1.n_masks < 300 + max(len(v) for v in m1.entries.values())
    assert build_manifest(ds, seed=0, count=usable.__getitem__).n_masks == 1669  # under 15k: everything


@pytest.mark.shared_data
def test_real_ade20k():
    root = shared("ADE20K-sample")
    ds = build_dataset("ade20k", root, split="training")
    assert ds.image_ids() == ["ADE_train_00016869", "ADE_train_00016900", "ADE_train_00016964"]
    # counts equal the objects + parts listed in each image's json
    want = {"ADE_train_00016869": (51, 19), "ADE_train_00016900": (34, 3), "ADE_train_00016964": (24, 8)}
    for s in ds.samples():
        levels = [i.extra["level"] for i in s.instances]
        assert (levels.count(0), len(levels) - levels.count(0)) == want[s.image_id]
        assert all(i.area > 0 and i.category_id and i.extra.get("name") for i in s.instances)
    s = ds.load_sample("ADE_train_00016964")
    assert (s.height, s.width) == (1467, 2200)
    with pytest.raises(DatasetLayoutError, match="images/ADE/validation"):  # the sample has no validation split
        build_dataset("ade20k", root)


@pytest.mark.shared_data
def test_real_cityscapes():
    ds = build_dataset("cityscapes", shared("Cityscapes-sample"))
    assert ds.image_ids() == ["frankfurt_000000_000294"]
    s = ds.load_sample("frankfurt_000000_000294")
    ids = sorted(by_id(s), key=int)
    assert ids == ["7", "8", "11", "13", "17", "20", "21", "23", "24000", "24001", "24002", "24003",
                   "26000", "26001", "26002"]
    assert all(i.area > 0 and not i.iscrowd for i in s.instances)
    union = np.zeros((s.height, s.width), bool)
    for inst in s.instances:
        assert not (union & inst.mask()).any()  # panoptic: no overlap
        union |= inst.mask()
    void = s.ignore_mask(include_void=True)
    assert (union | void).all() and not (union & void).any()
    assert s.image().shape == (128, 256, 3)


@pytest.mark.shared_data
def test_real_coco_mini():
    ds = build_dataset("coco2017", shared("COCO-MINI"))
    assert len(ds.image_ids()) == 79
    samples = list(ds.samples())
    assert all(isinstance(s, Sample) for s in samples)
    assert sum(len(s.instances) for s in samples) == 624
    assert sum(1 for s in samples for i in s.instances if i.area > 0) >= 620


@pytest.mark.shared_data
def test_real_bsds500():
    root = shared("BSDS500", "data")
    for split, n in (("test", 200), ("val", 100)):
        ds = build_dataset("bsds500", root, split=split)
        assert len(ds.image_ids()) == n
        for s in ds.samples():
            assert isinstance(s, Sample), getattr(s, "reason", "")
            k = s.extra["n_annotators"]
            assert 4 <= k <= 9 and len(s.extra["boundaries"]) == k
            assert {(s.height, s.width)} <= {(321, 481), (481, 321)} and s.instances
            assert all(i.area > 0 for i in s.instances)
            assert {i.extra["annotator"] for i in s.instances} == set(range(k))
    b = ds.load_sample(ds.image_ids()[0]).extra["boundaries"][0]
    assert b.dtype == bool and b.any()


def test_encode_label_map_matches_per_value_encoding():
    from sambench.datasets.base import encode_label_map
    from sambench import masks as mask_utils

    rng = np.random.default_rng(0)
    for _ in range(100):
        labels = rng.integers(0, 4, size=(rng.integers(1, 9), rng.integers(1, 9))).astype(np.uint16)
        values = [0, 1, 2, 3, 7]  # 7 is absent: an empty mask
        assert encode_label_map(labels, values) == [mask_utils.encode(labels == v) for v in values]
