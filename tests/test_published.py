"""The published tables are read from results/reference, wherever sambench is installed."""

import pytest

from sambench.published import published_point_deltas, published_table


def test_tables_3_4_5_parse_to_the_papers_numbers():
    t3 = published_table(3).set_index("method")
    assert t3.loc["SAM", "ODS"] == pytest.approx(0.768) and t3.loc["SAM", "R50"] == pytest.approx(0.928)
    assert t3.loc["Sobel filter", "OIS"] != t3.loc["Sobel filter", "OIS"]  # '-' is NaN
    t4 = published_table(4).set_index("method")
    assert t4.loc["SAM", "all"] == pytest.approx(59.3) and t4.loc["SAM single out.", "rare"] == pytest.approx(62.0)
    t5 = published_table(5).set_index("method")
    assert list(t5.columns) == ["COCO AP", "COCO APS", "COCO APM", "COCO APL", "LVIS AP", "LVIS APS", "LVIS APM", "LVIS APL"]
    assert t5.loc["SAM", "COCO APS"] == pytest.approx(30.8) and t5.loc["SAM", "LVIS APS"] == pytest.approx(32.5)


def test_the_23_datasets_with_fig9a_deltas():
    frame = published_point_deltas()
    assert len(frame) == 23
    assert frame.set_index("abbrev").loc["GTEA", "delta_iou_sam_minus_ritm_1pt"] == pytest.approx(-21.4)
    assert frame["delta_iou_sam_minus_ritm_1pt"].mean() == pytest.approx(9.24, abs=0.01)  # the paper's mean


def test_unknown_table_is_an_error():
    with pytest.raises(ValueError, match="Table 9"):
        published_table(9)
