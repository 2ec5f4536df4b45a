"""What a task is: a protocol that turns samples into prompts, drives a model, scores, and emits records.

A task never imports a specific model or dataset; it sees ``PromptableModel`` and ``Sample`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pandas as pd

from sambench.data import Instance, Sample
from sambench.models.base import ImageEmbedding, PromptableModel
from sambench.registry import Registry
from sambench.reporting import RunInfo
from sambench.timing import NullTimer, StageTimer

TASKS: Registry = Registry("task", entry_point_group="sambench.tasks")


class Task:
    """Base class of per-image tasks driven by ``sambench.app.runner.run_task``.

    Subclasses set ``name`` and ``columns`` (the record fields they emit besides the runner's
    dataset/image bookkeeping) and implement ``protocol``, ``process`` and ``summarize``.
    """

    name: str = ""
    columns: List[str] = []
    subsample: bool = False  # apply the paper's >15k-masks subsampling to the manifest (point task)
    needs_instances: bool = True  # False: images without ground-truth masks are processed too (detections)
    needs_annotation_file: bool = False  # True: scored by COCO/LVIS evaluators, the dataset must have a json
    run_dir = None  # the run folder, set by the runner before process/summarize
    timer: StageTimer = NullTimer()  # the runner's stage timer: ``with self.timer.stage("decoder"): ...``
    bookkeeping = ["dataset", "dataset_index", "image_id", "image_index", "row_index"]

    @classmethod
    def add_arguments(cls, group) -> None:
        """Add this task's protocol options to the ``sambench run NAME`` parser group."""

    @classmethod
    def from_args(cls, args) -> "Task":
        """Build the task from parsed command-line options."""
        return cls()

    @classmethod
    def from_protocol(cls, protocol: Dict) -> "Task":
        """Rebuild the task from a run config's ``protocol`` (to re-summarise records)."""
        raise NotImplementedError

    def headline(self, summary: Dict) -> str:
        """One line for the terminal after a run."""
        return ""

    @property
    def all_columns(self) -> List[str]:
        return self.bookkeeping + self.columns

    def protocol(self) -> Dict:
        """Every parameter that changes a number; recorded in the run config."""
        raise NotImplementedError

    def check_model(self, model: PromptableModel) -> None:
        """Raise UnsupportedPromptError early if ``model`` cannot run this protocol."""

    def process(self, model: PromptableModel, sample: Sample, embedding: ImageEmbedding,
                instances: Sequence[Instance], seed: int, dataset: str) -> List[Dict]:
        """Records for one image."""
        raise NotImplementedError

    def summarize(self, records: pd.DataFrame, done: List[Dict], config: Dict) -> Dict:
        """summary.json content derived from the records alone."""
        raise NotImplementedError

    @staticmethod
    def report(runs: List[RunInfo], base: Optional[RunInfo], out: Path) -> List[str]:
        """Write this task's tables under out/tables and plots under out/plots for ``runs`` (and a
        ``base`` run to compare against); returns the report's Markdown lines."""
        raise NotImplementedError


def skipped_entries(done: List[Dict], config: Optional[Dict] = None) -> Dict[str, List[Dict]]:
    """Per dataset, one entry per skipped image or mask, from the runner's done lines, and (with the
    run ``config``) one per annotation of the dataset's file that belongs to no image.

    Each entry: ``{"image_id", "instance_id" (None for a whole image), "reason", "n_masks"}``;
    ``n_masks`` is the number of masks it stands for (a skipped image: the masks the manifest listed
    for it, 0 when it could not even be read; a mask: 1).
    """
    out: Dict[str, List[Dict]] = {}
    for d in done:
        lst = out.setdefault(d["dataset"], [])
        if d.get("status") == "skipped":
            lst.append({"image_id": d["image_id"], "instance_id": None, "reason": d.get("reason", ""),
                        "n_masks": int(d.get("n_masks_skipped", 0) or 0)})
        for s in d.get("skipped_masks", []) or []:
            lst.append({"image_id": d["image_id"], "instance_id": s["instance_id"], "reason": s["reason"], "n_masks": 1})
    for entry in (config or {}).get("datasets", []):
        for a in entry.get("unattached_annotations") or []:  # a crowd region is listed but is no mask
            out.setdefault(entry["name"], []).append(
                {"image_id": a.get("image_id"), "instance_id": a.get("instance_id"), "reason": a.get("reason", ""),
                 "n_masks": 0 if a.get("iscrowd") else 1})
    return out


def skip_summary(done: List[Dict], config: Dict, name: str) -> Dict:
    """The skip fields every task summary carries for dataset ``name``.

    Returns:
      ``{"n_skipped": masks skipped (one unit everywhere: the masks of skipped images, skipped
      annotations, and annotations of the file that belong to no image), "n_images_skipped": images
      skipped (counted apart), "skipped": the entries of ``skipped_entries``}``.
    """
    entries = skipped_entries(done, config).get(name, [])
    n_masks = sum(e["n_masks"] for e in entries)
    for entry in config.get("datasets", []):  # unattached annotations beyond those listed in the config
        if entry.get("name") == name:
            listed = sum(1 for a in entry.get("unattached_annotations") or [] if not a.get("iscrowd"))
            n_masks += max(0, int(entry.get("n_unattached_masks", entry.get("n_unattached_annotations")) or 0) - listed)
    return {"n_skipped": int(n_masks), "n_images_skipped": sum(1 for e in entries if e["instance_id"] is None),
            "skipped": entries}
