"""Adapters of the second half of the 23-dataset suite, each on a tiny fixture in its native format.

For every adapter: the masks and instance ids known by construction come back pixel-exact; broken
annotations / images become BadSample (through ``adapter.samples()``, never an exception) with a
reason; a missing root or an empty one gives a one-line DatasetLayoutError naming the layout.
"""

from __future__ import annotations

import csv
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_b import FIXTURES, H, W, rect  # noqa: E402

from sambench.datasets import DATASETS, DatasetLayoutError, build_dataset  # noqa: E402
from sambench.data import BadSample, Sample  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PAPER_NAMES = {
    "STREETS": "streets", "ZeroWaste-f": "zerowaste", "iShape": "ishape", "OVIS": "ovis",
    "Hypersim": "hypersim", "NDISPark": "ndispark", "VISOR": "visor", "Plittersdorf": "plittersdorf",
    "EgoHOS": "egohos", "IBD": "ibd", "WoodScape": "woodscape", "PIDRay": "pidray", "DRAM": "dram",
    "TrashCan": "trashcan", "GTEA": "gtea",
}
NAMES = sorted(PAPER_NAMES.values())


def build(fx):
    return build_dataset(fx.name, fx.root, ann=fx.ann, split=fx.split)


def test_every_adapter_is_registered_and_documented():
    rows = {r["abbrev"]: r for r in csv.DictReader(open(REPO / "results/reference/sa23_datasets.csv"))}
    for abbrev, name in PAPER_NAMES.items():
        cls = DATASETS.get(name)
        row = rows[abbrev]
        assert cls.name == name
        assert (cls.domain, cls.mask_type, cls.split) == (row["domain"], row["mask_type"], row["source_split"])
        assert (cls.paper_images, cls.paper_masks) == (int(row["images_sampled"]), int(row["masks_sampled"]))
        for attr in ("title", "layout", "source", "license", "citation"):
            assert getattr(cls, attr), f"{name}.{attr} is empty"
        doc = importlib.import_module(cls.__module__).__doc__ or ""
        assert "--root" in doc and "Licen" in doc and "Cite" in doc and len(doc) > 600, name


@pytest.mark.parametrize("name", NAMES)
def test_fixture_masks_and_bad_samples(name, tmp_path):
    if name == "hypersim":
        pytest.importorskip("h5py")
    fx = FIXTURES[name](tmp_path)
    adapter = build(fx)
    ids = adapter.image_ids()
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert set(fx.expected) <= set(ids), sorted(set(fx.expected) - set(ids))
    assert set(fx.bad) <= set(ids), sorted(set(fx.bad) - set(ids))
    assert not set(fx.absent) & set(ids)
    got = {s.image_id: s for s in adapter.samples()}  # never raises
    assert list(got) == ids
    for image_id, masks in fx.expected.items():
        s = got[image_id]
        assert isinstance(s, Sample), f"{image_id}: {getattr(s, 'reason', '')}"
        assert (s.height, s.width) == (H, W)
        assert {i.id for i in s.instances} == set(masks), image_id
        for inst in s.instances:
            np.testing.assert_array_equal(inst.mask(), masks[inst.id], err_msg=f"{name} {image_id} {inst.id}")
            assert list(inst.rle["size"]) == [H, W]
        assert s.image().shape == (H, W, 3)
        if image_id in fx.ignore:
            np.testing.assert_array_equal(s.ignore_mask(), fx.ignore[image_id])
        else:
            assert s.ignore is None
        if image_id in fx.void:
            np.testing.assert_array_equal(s.ignore_mask(include_void=True), fx.void[image_id])
        else:
            assert s.void is None
    for image_id, words in fx.defects.items():  # only these annotations are skipped, with the reason
        s = got[image_id]
        skipped = {d["instance_id"]: d["reason"] for d in s.skipped_annotations()}
        assert set(skipped) == set(words), (image_id, skipped)
        for inst_id, word in words.items():
            assert word.lower() in skipped[inst_id].lower() and "\n" not in skipped[inst_id], (image_id, skipped)
    for image_id, word in fx.bad.items():
        s = got[image_id]
        assert isinstance(s, BadSample), f"{name}: {image_id} should be a BadSample"
        assert word.lower() in s.reason.lower(), (image_id, s.reason)
        assert "\n" not in s.reason


@pytest.mark.parametrize("name", NAMES)
def test_missing_root_is_one_line_layout_error(name, tmp_path):
    with pytest.raises(DatasetLayoutError) as err:
        build_dataset(name, tmp_path / "nowhere")
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "nowhere") in msg and DATASETS.get(name).layout in msg


@pytest.mark.parametrize("name", NAMES)
def test_wrong_layout_is_one_line_layout_error(name, tmp_path):
    (tmp_path / "unrelated").mkdir()
    (tmp_path / "unrelated" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetLayoutError) as err:
        build_dataset(name, tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and DATASETS.get(name).layout in msg, msg


def test_coco_json_that_is_not_coco_is_a_layout_error(tmp_path):
    base = tmp_path / "splits_final_deblurred" / "train"
    (base / "data").mkdir(parents=True)
    (base / "labels.json").write_text("[1, 2, 3]")
    with pytest.raises(DatasetLayoutError, match="not a COCO instances json"):
        build_dataset("zerowaste", tmp_path)
    (base / "labels.json").write_text("{broken")
    with pytest.raises(DatasetLayoutError, match="unreadable json"):
        build_dataset("zerowaste", tmp_path)


def test_dram_component_mode_splits_each_class_into_components(tmp_path):
    fx = FIXTURES["dram"](tmp_path)
    cls = DATASETS.get("dram")

    class DRAMComponents(cls):
        mask_mode = "component"

    s = DRAMComponents(fx.root).load_sample("realism/p1")
    masks = {i.id: i.mask() for i in s.instances}
    assert set(masks) == {"8_1", "15_1", "15_2"}
    np.testing.assert_array_equal(masks["15_1"], rect(1, 1, 6, 10))
    np.testing.assert_array_equal(masks["15_2"], rect(20, 12, 30, 22))
    assert {i.extra["category"] for i in s.instances} == {"person", "cat"}


def test_splits_other_than_the_papers(tmp_path):
    fx = FIXTURES["plittersdorf"](tmp_path / "p")
    assert build_dataset("plittersdorf", fx.root, split="test").image_ids() == ["v9_000"]
    fx = FIXTURES["ndispark"](tmp_path / "n")
    assert build_dataset("ndispark", fx.root, split="validation").image_ids() == ["night"]
    fx = FIXTURES["gtea"](tmp_path / "g")
    assert "GTEA_GAZE_PLUS/Ahmad_Pizza/0001" in build_dataset("gtea", fx.root, split="all").image_ids()
    fx = FIXTURES["pidray"](tmp_path / "x")
    assert build_dataset("pidray", fx.root, split="easy").image_ids() == ["other"]
    fx = FIXTURES["ibd"](tmp_path / "i")
    assert build_dataset("ibd", fx.root, split="val").image_ids() == ["valroof"]


def test_explicit_ann_overrides_discovery(tmp_path):
    fx = FIXTURES["streets"](tmp_path)
    ann = fx.root / "vehicleannotations" / "annotations" / "vehicles.json"
    adapter = build_dataset("streets", fx.root, ann=ann)
    assert set(fx.expected) <= set(adapter.image_ids())
    with pytest.raises(DatasetLayoutError):
        build_dataset("streets", fx.root, ann=fx.root / "missing.json")


def test_extras_carry_provenance(tmp_path):
    ovis = build(FIXTURES["ovis"](tmp_path / "o"))
    s = ovis.load_sample("vid1/img_0000003")
    assert s.extra == {"video": 1, "frame_index": 2}
    assert {i.id: i.extra.get("category") for i in s.instances} == {"5": "cat", "7": "dog"}
    ego = build(FIXTURES["egohos"](tmp_path / "e"))
    assert ego.load_sample("thu_0002").instances[0].extra["category"] == "left hand"
    ws = build(FIXTURES["woodscape"](tmp_path / "w"))
    assert {i.id: i.extra["category"] for i in ws.load_sample("00001_FV").instances} == \
        {"1": "road", "2": "car", "3": "person"}
    vis = build(FIXTURES["visor"](tmp_path / "v"))
    assert vis.root.name == "GroundTruth-SparseAnnotations"
    s = vis.load_sample("P01_01/P01_01_frame_0000000001")
    assert {i.id: i.extra["category"] for i in s.instances} == {"a1": "left hand", "a2": "knife"}
    assert s.extra["subsequence"] == "P01_01_seq_00001"


def test_hypersim_category_and_image_choice(tmp_path):
    pytest.importorskip("h5py")
    hyp = build(FIXTURES["hypersim"](tmp_path))
    s = hyp.load_sample("ai_001_001/cam_00/frame.0000")
    assert {i.id: i.category_id for i in s.instances} == {"0": 1, "3": 5}  # majority NYU40 label
    assert s.image_path.name == "frame.0000.tonemap.jpg"
    assert hyp.load_sample("ai_001_001/cam_01/frame.0001").image_path.name == "frame.0001.color.jpg"
