"""The sampled (image id, mask id) list of a run, with a checksum two users can compare.

The Segment Anything paper subsamples every dataset with more than 15k masks by picking random
images (fixed seed) until about 10k masks are collected. ``build_manifest`` does exactly that;
``save_manifest``/``load_manifest`` let a manifest be shared and passed back (``--manifest``) so
two users evaluate the same masks. ``subset_manifest`` draws a quick subset (``--limit-images N``,
seeded, or ``--image-ids FILE``) that is itself a manifest and records what it is a subset of
(``subset_of``: the full manifest's checksum and counts), so a later full run or a comparison knows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from sambench.hashing import sha256_file
from sambench.reporting import describe_subset

from .base import DatasetAdapter, DatasetLayoutError

MAX_MASKS = 15000
TARGET_MASKS = 10000


def usable_instance_ids(sample) -> List[str]:
    """Instance ids a prompt task evaluates: every non-crowd instance, and every non-crowd annotation the
    adapter could not make into a mask (``Sample.skipped_annotations``: defective or zero-area), so a
    run lists those as skipped masks with their reason instead of leaving them out unseen."""
    ids = [inst.id for inst in sample.instances if not inst.iscrowd]
    seen = set(ids)
    ids += [d["instance_id"] for d in sample.skipped_annotations()
            if not d.get("iscrowd") and d["instance_id"] not in seen]
    return ids


@dataclass
class Manifest:
    """Which masks of which images a run evaluates.

    Attributes:
      dataset: adapter name.
      seed: the sampling seed (None when nothing was subsampled).
      entries: image id -> instance ids, in evaluation order.
      skipped: image id -> reason, for images that could not be read while building.
      skipped_masks: image id -> number of masks of a skipped image, where the adapter knew it.
      subsampled: True when the paper's >15k-masks sampling was applied.
      subset_of: for a user's subset (``subset_manifest``), the full manifest it was drawn from
        (checksum, n_images, n_masks) and how (``selection``: limit-images with limit and seed, or
        image-ids with the file and its SHA-256); None for a full manifest.
    """

    dataset: str
    seed: Optional[int]
    entries: Dict[str, List[str]]
    skipped: Dict[str, str] = field(default_factory=dict)
    subsampled: bool = False
    skipped_masks: Dict[str, int] = field(default_factory=dict)
    subset_of: Optional[dict] = None

    @property
    def n_images(self) -> int:
        return len(self.entries)

    @property
    def n_masks(self) -> int:
        return sum(len(v) for v in self.entries.values())

    def checksum(self) -> str:
        """SHA-256 of the canonical (dataset, entries) JSON; equal checksums mean the same masks."""
        canon = json.dumps({"dataset": self.dataset, "entries": [[k, v] for k, v in self.entries.items()]},
                           separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()

    def to_json(self) -> dict:
        out = {"dataset": self.dataset, "seed": self.seed, "subsampled": self.subsampled,
               "n_images": self.n_images, "n_masks": self.n_masks, "checksum": self.checksum(),
               "entries": [[k, v] for k, v in self.entries.items()], "skipped": self.skipped,
               "skipped_masks": self.skipped_masks}
        if self.subset_of is not None:
            out["subset_of"] = self.subset_of
        return out

    def describe_subset(self) -> Optional[str]:
        """"subset: 20 of 79 images (seed 0)" for a user's subset, None for a full manifest."""
        return describe_subset(self.subset_of, self.n_images)


def build_manifest(adapter: DatasetAdapter, seed: int = 0, max_masks: Optional[int] = MAX_MASKS,
                   target_masks: int = TARGET_MASKS,
                   count: Optional[Callable[[str], List[str]]] = None, keep_empty: bool = False) -> Manifest:
    """The paper's sampling: all masks if at most ``max_masks``; else random images until ``target_masks``.

    Arguments:
      adapter: the dataset.
      seed: seed of the image permutation.
      max_masks: subsample above this many masks; None never subsamples (tasks scored on a full split).
      count: image id -> usable instance ids (default: load the sample and keep non-crowd, nonzero masks).
      keep_empty: keep images without usable masks (tasks that prompt from detections, not ground truth).
    Returns:
      a Manifest in the dataset's image order (subsampled images in their drawn order).
    """
    from sambench.data import BadSampleError

    ids = adapter.image_ids()
    count = count or (lambda image_id: usable_instance_ids(adapter.load_sample(image_id)))
    per_image: Dict[str, List[str]] = {}
    skipped: Dict[str, str] = {}
    skipped_masks: Dict[str, int] = {}
    for image_id in ids:
        try:
            per_image[image_id] = count(image_id)
        except BadSampleError as exc:
            skipped[image_id] = str(exc)
            if getattr(exc, "n_masks", 0):
                skipped_masks[image_id] = int(exc.n_masks)
    total = sum(len(v) for v in per_image.values())
    if max_masks is None or total <= max_masks:
        entries = {k: v for k, v in per_image.items() if v or keep_empty}
        return Manifest(adapter.name, seed, entries, skipped, subsampled=False, skipped_masks=skipped_masks)
    order = np.random.default_rng(seed).permutation(len(ids))
    entries: Dict[str, List[str]] = {}
    n = 0
    for i in order:
        image_id = ids[i]
        if image_id not in per_image or (not per_image[image_id] and not keep_empty):
            continue
        entries[image_id] = per_image[image_id]
        n += len(per_image[image_id])
        if n >= target_masks:
            break
    return Manifest(adapter.name, seed, entries, skipped, subsampled=True, skipped_masks=skipped_masks)


def subset_manifest(manifest: Manifest, limit: Optional[int] = None, seed: int = 0,
                    image_ids: Optional[Sequence[str]] = None, source: Optional[Union[str, Path]] = None) -> Manifest:
    """A user's subset of ``manifest``: ``limit`` images drawn with ``seed``, or exactly ``image_ids``.

    Arguments:
      manifest: the full manifest (as a full run would evaluate it).
      limit: number of images to draw (seeded permutation of the manifest's images; all of an image's
        masks are kept); a limit at or above the number of images leaves the manifest as it is.
      seed: seed of the draw (the run's ``--seed``).
      image_ids: the images to keep instead of a draw (e.g. read from ``--image-ids FILE``).
      source: the file ``image_ids`` came from (recorded with its SHA-256).
    Returns:
      a Manifest over the chosen images, in the full manifest's order, with ``subset_of`` set.
    Raises:
      ValueError (one line) for a non-positive limit or an id that is not in the manifest.
    """
    full = {"checksum": manifest.checksum(), "n_images": manifest.n_images, "n_masks": manifest.n_masks,
            "n_images_skipped": len(manifest.skipped)}
    if manifest.subset_of is not None:  # a subset of a subset is still described against the full manifest
        full = {k: manifest.subset_of[k] for k in ("checksum", "n_images", "n_masks", "n_images_skipped")
                if k in manifest.subset_of}
    if image_ids is not None:
        wanted = list(dict.fromkeys(str(i) for i in image_ids))
        where = f"{source}: " if source else ""
        if not wanted:
            raise ValueError(f"{where}no image ids (one id per line expected)")
        unknown = [i for i in wanted if i not in manifest.entries and i not in manifest.skipped]
        if unknown:
            known = list(manifest.entries)[:3]
            raise ValueError(f"{where}image id '{unknown[0]}' is not in the {manifest.dataset} manifest "
                             f"({len(unknown)} unknown of {len(wanted)}; ids look like {', '.join(known)})")
        keep = set(wanted)
        selection = {"selection": "image-ids", "file": str(source) if source else None,
                     "file_sha256": sha256_file(source) if source else None}
    else:
        if limit is None or int(limit) < 1:
            raise ValueError(f"--limit-images {limit}: expected a positive number of images")
        if int(limit) >= manifest.n_images:
            return manifest
        order = np.random.default_rng(seed).permutation(manifest.n_images)
        ids = list(manifest.entries)
        keep = {ids[i] for i in order[:int(limit)]}
        selection = {"selection": "limit-images", "limit": int(limit), "seed": int(seed)}
    entries = {k: v for k, v in manifest.entries.items() if k in keep}
    skipped = {k: v for k, v in manifest.skipped.items() if k in keep}
    skipped_masks = {k: v for k, v in manifest.skipped_masks.items() if k in keep}
    return Manifest(manifest.dataset, manifest.seed, entries, skipped, manifest.subsampled, skipped_masks,
                    subset_of=dict(full, **selection))


def read_image_ids(path: Union[str, Path]) -> List[str]:
    """Image ids from a text file: one per line; blank lines and ``#`` comments ignored."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetLayoutError(f"{path}: cannot read the image id list ({exc}); expected one image id per line")
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def save_manifest(manifest: Manifest, path: Union[str, Path]) -> None:
    Path(path).write_text(json.dumps(manifest.to_json(), indent=1))


def load_manifest(path: Union[str, Path]) -> Manifest:
    """Read a manifest file; verify its checksum (one-line error naming the file if it does not match)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        m = Manifest(data["dataset"], data.get("seed"), {k: list(v) for k, v in data["entries"]},
                     dict(data.get("skipped", {})), bool(data.get("subsampled", False)),
                     {k: int(v) for k, v in (data.get("skipped_masks") or {}).items()}, data.get("subset_of"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetLayoutError(f"{path}: not a sambench manifest ({exc})") from exc
    if data.get("checksum") and data["checksum"] != m.checksum():
        raise DatasetLayoutError(f"{path}: manifest checksum mismatch (file edited or truncated)")
    return m
