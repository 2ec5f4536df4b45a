"""`datasets list` / `datasets verify` functions, and the generated docs/datasets.md."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures_a as fx  # noqa: E402

from sambench.datasets import DATASETS, build_dataset  # noqa: E402
from sambench.datasets.base import DatasetLayoutError  # noqa: E402
from sambench.datasets.docs import in_tree_adapters, render_datasets_doc  # noqa: E402
from sambench.datasets.manifest import build_manifest  # noqa: E402
from sambench.app.datasets_cli import format_dataset_table, format_verify_report, list_datasets, verify_dataset  # noqa: E402


def test_list_finds_fixtures_by_folder_name(tmp_path):
    fx.write_bbbc038(tmp_path / "BBBC038v1-copy")          # prefix match on a known folder name
    fx.write_cityscapes(tmp_path / "cityscapes")
    fx.write_ade20k(tmp_path / "ADE20K")
    (tmp_path / "ndd20").mkdir()                            # right name, wrong layout: not found
    rows = list_datasets([tmp_path, tmp_path / "missing"])
    by = {r["name"]: r for r in rows}
    assert set(by) == set(DATASETS.names())
    assert by["bbbc038"]["found"] and by["bbbc038"]["path"] == str(tmp_path / "BBBC038v1-copy")
    assert by["cityscapes"]["found"] and by["ade20k"]["found"] and by["ade20k"]["found_split"] == "validation"
    assert not by["ndd20"]["found"] and not by["lvis"]["found"] and by["coco"]["found"] is None
    r = by["bbbc038"]
    assert (r["domain"], r["mask_type"], r["split"], r["paper_images"], r["paper_masks"]) == \
           ("Microscopy", "instance", "Train", 227, 10506)
    table = format_dataset_table(rows)
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["name", "domain"] and len(lines) == len(rows) + 3
    bline = next(line for line in lines if line.startswith("bbbc038 "))
    assert "10,506" in bline and " yes " in bline and str(tmp_path / "BBBC038v1-copy") in bline
    assert next(line for line in lines if line.startswith("ndd20 ")).split()[-1] == "no"


def test_list_other_split_reported(tmp_path):
    root, _ = fx.write_ade20k(tmp_path / "ade20k")
    val = root / "ADE20K_2021_17_01" / "images" / "ADE" / "validation"
    val.rename(val.with_name("training"))
    row = next(r for r in list_datasets([tmp_path]) if r["name"] == "ade20k")
    assert row["found"] and row["found_split"] == "training"
    assert "yes (training only)" in format_dataset_table([row])


@pytest.mark.shared_data
def test_list_shared_data():
    if not fx.SHARED_DATA.exists():
        pytest.skip(f"real sample data not present: {fx.SHARED_DATA}")
    by = {r["name"]: r for r in list_datasets([fx.SHARED_DATA])}
    for name in ("bbbc038", "cityscapes", "bsds500", "coco2017", "ade20k"):
        assert by[name]["found"], name
    assert by["ade20k"]["found_split"] == "training"  # the sample holds training images only


def test_verify_counts_and_report(tmp_path):
    root, _ = fx.write_bbbc038(tmp_path)
    d = verify_dataset("bbbc038", root)
    assert (d["n_images"], d["n_ok"], d["n_bad"], d["n_masks"], d["n_zero_area"], d["n_crowd"]) == (3, 2, 1, 3, 1, 0)
    assert d["bad"][0]["image_id"] == "ccc" and "unreadable image" in d["bad"][0]["reason"]
    assert d["zero_area"] == [{"image_id": "aaa", "instance_id": "empty"}]
    assert (d["paper_images"], d["paper_masks"]) == (227, 10506)
    m = build_manifest(build_dataset("bbbc038", root))
    assert d["manifest"]["checksum"] == m.checksum() and d["manifest"]["n_masks"] == 4  # + the zero-area one
    forced = verify_dataset("bbbc038", root, max_masks=1, target_masks=1, seed=3)
    assert forced["manifest"]["subsampled"] and forced["manifest"]["checksum"] == \
        build_manifest(build_dataset("bbbc038", root), seed=3, max_masks=1, target_masks=1).checksum()
    text = format_verify_report(d)
    for needle in ("bbbc038", "227", "10,506", "zero-area masks skipped: 1", "aaa: mask empty",
                   "broken samples skipped: 1", "ccc: ", m.checksum()):
        assert needle in text, needle
    assert "verdict: a partial copy or another split: 3 usable masks, 0% of the 10,506 the paper sampled" in text
    assert "verdict: at least the masks the paper sampled (10,506)" in format_verify_report(dict(d, n_masks=9456))
    assert "verdict: a partial copy" in format_verify_report(dict(d, n_masks=9455))  # 90% of 10,506 = 9455.4


def test_verify_finds_truncated_images_and_crowd(tmp_path):
    root, exp = fx.write_cityscapes(tmp_path)
    img = root / "leftImg8bit" / "val" / "aachen" / f"{exp['image_id']}_leftImg8bit.png"
    d = verify_dataset("cityscapes", root, check_images=False)
    assert d["n_crowd"] == 1 and d["n_masks"] == 4 and d["n_bad"] == 1  # the size-mismatched frame
    img.write_bytes(img.read_bytes()[:-200])  # header intact, pixels cut
    d = verify_dataset("cityscapes", root)
    assert d["n_bad"] == 2 and {b["image_id"] for b in d["bad"]} == {exp["image_id"], exp["mismatched"]}
    assert d["manifest"]["n_images"] == 0


def test_verify_listing_is_capped(tmp_path):
    root, _ = fx.write_doors(tmp_path)
    d = verify_dataset("doors", root, max_listed=0)
    assert d["n_bad"] == 1 and d["bad"] == [] and d["n_zero_area"] == 1
    assert "... and 1 more" in format_verify_report(d)


def test_verify_bad_root_is_one_line(tmp_path):
    with pytest.raises(DatasetLayoutError) as err:
        verify_dataset("cityscapes", tmp_path / "nowhere")
    assert "\n" not in str(err.value) and "leftImg8bit" in str(err.value)


def test_docs_rendered_from_adapters():
    text = render_datasets_doc()
    for module, classes in in_tree_adapters().items():
        doc_first_line = sys.modules[module].__doc__.strip().splitlines()[0]
        assert doc_first_line in text, module
        for cls in classes:
            assert f"`{cls.name}`" in text and cls.layout in text and cls.source in text, cls.name
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert len(sections) == len(in_tree_adapters()) + 1  # summary + one section per module


def test_docs_file_is_current():
    doc = Path(__file__).resolve().parents[2] / "docs" / "datasets.md"  # the checkout's copy
    assert doc.is_file(), f"{doc} missing; regenerate with sambench.datasets.docs.write_datasets_doc()"
    assert doc.read_text() == render_datasets_doc(), (
        "docs/datasets.md is stale; regenerate: "
        "python -c 'from sambench.datasets.docs import write_datasets_doc; write_datasets_doc()'")
