"""The papers' published numbers, read from ``results/reference`` (one place for all of them).

In a source checkout the files are read where they are; an installed wheel carries them as the
package ``sambench.reference_tables`` (pyproject maps that package to ``results/reference``).
"""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path
from typing import List, Optional, Sequence

import pandas as pd


CHECKOUT_REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"


def reference_text(name: str) -> str:
    """The text of a file in results/reference (the checkout's, else the installed package data)."""
    if (CHECKOUT_REFERENCE / name).is_file():
        return (CHECKOUT_REFERENCE / name).read_text()
    return resources.files("sambench.reference_tables").joinpath(name).read_text()


def published_table(number: int) -> pd.DataFrame:
    """Table ``number`` of published_results.md as a DataFrame ('-' cells are NaN).

    Headers after a grouped one are prefixed with its group (Table 5: "COCO AP", "APS" ->
    "COCO APS"; "LVIS AP", "APS" -> "LVIS APS"), so every column name is unique.
    """
    lines = reference_text("published_results.md").splitlines()
    rows: List[List[str]] = []
    inside = False
    for line in lines:
        if line.startswith("## "):
            if inside and rows:
                break
            inside = line.lower().startswith(f"## table {number}:") or line.lower().startswith(f"## table {number} ")
            continue
        if inside and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= set("-: "):
                rows.append(cells)
    if not rows:
        raise ValueError(f"published_results.md has no Table {number}")
    header, group = [], ""
    for cell in rows[0][1:]:
        if " " in cell:
            group = cell.split()[0]
            header.append(cell)
        else:
            header.append(f"{group} {cell}" if group else cell)
    header.insert(0, rows[0][0])
    frame = pd.DataFrame(rows[1:], columns=header)
    for col in header[1:]:
        frame[col] = pd.to_numeric(frame[col].replace("-", None), errors="coerce")
    return frame


def published_rows(number: int) -> List[dict]:
    """Table ``number`` as records, each method marked "(published)" for tables beside measured rows."""
    return [dict(r, method=f"{r['method']} (published)") for r in published_table(number).to_dict("records")]


def percent(value) -> Optional[float]:
    """An evaluator's fraction as a percentage, None for missing or -1 (no ground truth in a bucket)."""
    return None if value is None or value < 0 else 100.0 * float(value)


def published_point_deltas() -> pd.DataFrame:
    """Table 7 / Fig. 9a of the SAM paper: the 23 datasets and SAM minus RITM IoU at 1 centre point."""
    return pd.read_csv(io.StringIO(reference_text("sa23_datasets.csv")))


def published_point_means() -> pd.DataFrame:
    """Published point-prompt mIoU (x100) at 1 and 5 clicks, each the mean over the 23 datasets (SAM 2 paper)."""
    return pd.read_csv(io.StringIO(reference_text("point_23_means.csv")))


def published_settings(table: str) -> dict:
    """What the published numbers of ``table`` ("point", "3", "4", "5") were measured on: key -> value.

    Values are strings as written in published_settings.csv (e.g. {"images": "200", "thresholds": "99"}),
    so reports can say next to a measured row what differs from the published one.
    """
    frame = pd.read_csv(io.StringIO(reference_text("published_settings.csv")), dtype=str)
    rows = frame[frame["table"] == str(table)]
    if not len(rows):
        raise ValueError(f"published_settings.csv has nothing for table {table}")
    return dict(zip(rows["key"], rows["value"]))


def published_data(table: str, entry: dict, groups: Sequence[str]) -> Optional[str]:
    """The column group of published ``table`` (e.g. "COCO" or "LVIS" of Table 5) whose data a run's
    dataset is, else None.

    The one rule: a run is on a group's data when its dataset adapter and split (the run config's
    dataset entry, ``name`` and ``split``) are the group's ``"<group> adapter"`` and ``"<group> split"``
    of published_settings.csv (Table 5: ``coco2017`` with ``val2017`` is COCO val2017, ``lvis`` with
    ``val`` is LVIS v1 val). The same annotation format on other data (the generic ``coco`` adapter,
    another split, ``lvis_v05``) is another dataset, whatever its images: its numbers are not lined
    up under the published ones. A subset of the split (``--limit-images``, ``--image-ids``, a partial
    copy) is still the group's data; the report says how many of its images were evaluated.
    """
    pub = published_settings(table)
    for group in groups:
        if entry.get("name") == pub.get(f"{group} adapter") and (entry.get("split") or "") == pub.get(f"{group} split"):
            return group
    return None


PARTIAL_COPY_FRACTION = 0.9


def fewer_masks_than_the_paper(n_masks: Optional[int], paper_masks: Optional[int]) -> bool:
    """True when a dataset copy's usable masks are under 90% of the masks the SAM paper sampled from it
    (Table 7): a partial copy or another split. The paper's own sampling (about 10k masks of larger
    sets, which sambench's manifests repeat) is never flagged."""
    return bool(paper_masks) and n_masks is not None and n_masks < PARTIAL_COPY_FRACTION * paper_masks
