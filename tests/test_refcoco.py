"""RefCOCO / RefCOCO+ / RefCOCOg adapters on the refer API's native layout (fixtures_refcoco), the JSON
and parquet conversions, split selection, defects counted, and the Arrow cache keeping the refs."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fixtures_refcoco import SENTENCES, expected_masks, py2_pickle, refs, write_refcoco  # noqa: E402

from sambench.datasets import DATASETS, build_dataset  # noqa: E402
from sambench.datasets.base import DatasetLayoutError  # noqa: E402


@pytest.fixture()
def root(tmp_path):
    return write_refcoco(tmp_path / "refer")


def all_refs(adapter):
    return {image_id: adapter.load_sample(image_id).extra["refs"] for image_id in adapter.image_ids()}


def test_native_layout_masks_refs_and_counts(root):
    a = build_dataset("refcoco", root)
    assert a.split == "val,testA,testB" and a.image_ids() == ["1", "2", "3"]
    expected = expected_masks()
    for image_id in a.image_ids():
        s = a.load_sample(image_id)
        assert (s.height, s.width) == (64, 80) and s.image().shape == (64, 80, 3)
        got = {i.id: i.mask() for i in s.instances}
        assert sorted(got) == sorted(expected[image_id])
        for k, m in expected[image_id].items():
            np.testing.assert_array_equal(got[k], m)
    s = a.load_sample("1")
    assert {i.id: i.extra["category"] for i in s.instances} == {"11": "person", "12": "dog"}
    sents = {r["ann_id"]: [x["sent"] for x in r["sentences"]] for r in s.extra["refs"]}
    assert sents == {"11": SENTENCES["A"], "12": SENTENCES["B"]}  # the ref without sentences is left out
    assert a.load_sample("2").extra["refs"][1]["sentences"][0]["sent"] == "umbrella on the right"
    assert "café" in a.load_sample("2").extra["refs"][0]["sentences"][1]["sent"]  # Python 2 str decoded as UTF-8
    d = a.describe()
    assert d["n_refs"] == 5 and d["n_expressions"] == 7 and d["n_refs_in_file"] == 8
    assert d["refs_skipped_by_reason"] == {"ann_id not in instances.json": 1, "no expression": 1}
    assert d["n_refs_other_splits"] == 1 and len(d["refs_sha256"]) == 64


def test_split_selection(root):
    assert build_dataset("refcoco", root, split="train").image_ids() == ["4"]
    assert build_dataset("refcoco", root, split="testA").image_ids() == ["2"]
    assert build_dataset("refcoco", root, split="val,testB").image_ids() == ["1", "3"]
    with pytest.raises(DatasetLayoutError, match="unknown split"):
        build_dataset("refcoco", root, split="validation")


def test_json_and_parquet_conversions_read_the_same(root, tmp_path):
    ref_dir = root / "refcoco"
    want = all_refs(build_dataset("refcoco", root))
    data = refs()
    (ref_dir / "refs(unc).p").unlink()
    (ref_dir / "refs(unc).json").write_text(json.dumps(data))
    a = build_dataset("refcoco", root)
    assert a.refs_file().name == "refs(unc).json" and all_refs(a) == want
    (ref_dir / "refs(unc).json").unlink()
    pd.DataFrame(data).to_parquet(ref_dir / "refs(unc).parquet")  # one row per ref, nested sentences
    assert all_refs(build_dataset("refcoco", root)) == want
    flat = [dict({k: v for k, v in r.items() if k not in ("sentences", "sent_ids")}, sent_id=s["sent_id"], sent=s["sent"])
            for r in data for s in r["sentences"]]
    flat_path = tmp_path / "flat.parquet"
    pd.DataFrame(flat).to_parquet(flat_path)  # one row per sentence, given with --ann
    b = build_dataset("refcoco", root, ann=flat_path)
    got = all_refs(b)
    assert {k: [(r["ref_id"], [x["sent"] for x in r["sentences"]]) for r in v] for k, v in got.items()} == \
        {k: [(r["ref_id"], [x["sent"] for x in r["sentences"]]) for r in v] for k, v in want.items()}


def test_dataset_folder_as_root_and_refcocog(root, tmp_path):
    a = build_dataset("refcoco", root / "refcoco")  # images found in ../images/mscoco/images/train2014
    assert a.image_ids() == ["1", "2", "3"]
    g_root = tmp_path / "g"
    write_refcoco(g_root, folder="refcocog", refs_name="refs(umd).p")
    g = build_dataset("refcocog", g_root)
    assert g.split == "val,test" and g.image_ids() == ["1", "2", "3"]  # testA/testB labels are 'test*' splits
    assert build_dataset("refcoco+", write_refcoco(tmp_path / "p", folder="refcoco+")).image_ids() == ["1", "2", "3"]


def test_layout_errors_are_one_line(root, tmp_path):
    shutil.rmtree(root / "images")
    with pytest.raises(DatasetLayoutError) as err:
        build_dataset("refcoco", root)
    assert "\n" not in str(err.value) and "train2014" in str(err.value)
    with pytest.raises(DatasetLayoutError, match="refs"):
        build_dataset("refcoco", tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetLayoutError) as err:  # the message names the layout's own place
        build_dataset("refcoco", empty).image_ids()
    assert str(empty / "refcoco") in str(err.value)
    other = write_refcoco(tmp_path / "bad")
    py2_pickle({"not": "a list"}, other / "refcoco" / "refs(unc).p")
    with pytest.raises(DatasetLayoutError, match="expected a list of refs"):
        build_dataset("refcoco", other).image_ids()


def test_missing_image_file_is_a_bad_sample(root):
    from sambench.data import BadSampleError

    (root / "images/mscoco/images/train2014/COCO_train2014_000000000002.jpg").unlink()
    with pytest.raises(BadSampleError, match="image file missing"):
        build_dataset("refcoco", root).load_sample("2")


def test_arrow_cache_keeps_refs(root, tmp_path):
    from sambench.datasets.arrow_cache import open_cached

    a = build_dataset("refcoco", root)
    cached = open_cached(a, tmp_path / "cache")
    assert cached.image_ids() == a.image_ids()
    for image_id in a.image_ids():
        s, c = a.load_sample(image_id), cached.load_sample(image_id)
        assert c.extra["refs"] == s.extra["refs"]
        for i, j in zip(s.instances, c.instances):
            assert i.id == j.id and np.array_equal(i.mask(), j.mask())
    assert cached.describe()["n_expressions"] == 7


def test_registered_with_facts():
    for name in ("refcoco", "refcoco+", "refcocog"):
        cls = DATASETS.get(name)
        assert cls.title and cls.layout and cls.source and cls.license and cls.citation and cls.split
