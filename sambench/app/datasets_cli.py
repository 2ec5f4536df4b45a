"""The ``sambench datasets list`` and ``sambench datasets verify`` commands (functions; cli.py wires them).

``list_datasets`` shows every registered dataset with the paper's numbers (Table 7) and whether a
copy was found under the given search folders. ``verify_dataset`` reads one dataset completely and
reports what it found against the paper's counts: images, usable masks, crowd regions, zero-area
masks (skipped and counted), unreadable or broken files (with reasons), and the checksum of the
sampling manifest the evaluation would use.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Union

PathLike = Union[str, Path]


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def _aliases(cls) -> List[str]:
    names = [cls.name, getattr(cls, "title", "") or ""] + list(getattr(cls, "folder_names", ()) or ())
    norm = {_norm(n) for n in names}
    norm |= {n.rstrip("0123456789") for n in norm}  # "coco2017" also matches a "COCO-MINI" folder
    return sorted(a for a in norm if len(a) >= 3)


def _candidates(cls, search_roots: Sequence[Path]) -> List[Path]:
    """Folders under the search roots whose name matches the dataset (exact alias first, then prefix)."""
    aliases = _aliases(cls)
    exact, prefix = [], []
    for root in search_roots:
        root = Path(root).expanduser()
        if not root.is_dir():
            continue
        for d in sorted(p for p in root.iterdir() if p.is_dir()):
            n = _norm(d.name)
            if n in aliases:
                exact.append(d)
            elif any(n.startswith(a) for a in aliases):
                prefix.append(d)
    return exact + prefix


def _try_open(cls, folder: Path, split: Optional[str] = None):
    try:
        return cls(folder, split=split)
    except Exception:  # wrong layout (DatasetLayoutError) or any adapter failure: not found here
        return None


def find_dataset(cls, search_roots: Sequence[PathLike]) -> Optional[dict]:
    """Where a dataset is under the search roots: {"root", "split"} for the first folder it opens on, else None.

    The adapter's default split is tried first, then its other known ``splits``.
    """
    roots = [Path(r) for r in search_roots]
    splits = [None] + [s for s in (getattr(cls, "splits", ()) or ()) if s != cls.split]
    for folder in _candidates(cls, roots):
        for split in splits:
            adapter = _try_open(cls, folder, split)
            if adapter is not None:
                return {"root": str(folder), "split": adapter.split}
    return None


def list_datasets(search_roots: Sequence[PathLike] = ()) -> List[dict]:
    """One row per registered dataset.

    Arguments:
      search_roots: folders whose subfolders may hold datasets (e.g. ``~/data``); a dataset counts
        as found when its adapter opens one of them (matched by name, title or known folder names).
    Returns:
      dicts with name, title, domain, mask_type, split (the paper's wording where known),
      default_split (the adapter's), paper_images, paper_masks, found (True/False, None where not
      applicable), path (the folder it opened on), found_split (the split found there).
    """
    from sambench.datasets import DATASETS

    rows = []
    for name in DATASETS.names():
        cls = DATASETS.get(name)
        row = {
            "name": name, "title": getattr(cls, "title", ""), "domain": getattr(cls, "domain", ""),
            "mask_type": getattr(cls, "mask_type", ""),
            "split": getattr(cls, "paper_split", None) or getattr(cls, "split", ""),
            "paper_images": getattr(cls, "paper_images", None), "paper_masks": getattr(cls, "paper_masks", None),
            "default_split": getattr(cls, "split", ""), "found": False, "path": None, "found_split": None,
        }
        if name == "demo":
            row.update(found=True, path="(generated on first use)")
        elif name == "coco":
            row.update(found=None, path="(needs --root and --ann)")
        else:
            hit = find_dataset(cls, search_roots)
            if hit:
                row.update(found=True, path=hit["root"], found_split=hit["split"])
        rows.append(row)
    return rows


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    rows = [list(r) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def format_dataset_table(rows: Sequence[dict]) -> str:
    """A plain-text table of ``list_datasets`` rows."""
    body = []
    for r in rows:
        if r["found"] is None:
            found = "n/a"
        elif r["found"]:
            found = "yes"
            if r.get("found_split") and r["found_split"] != r.get("default_split"):
                found += f" ({r['found_split']} only)"
        else:
            found = "no"
        body.append([r["name"], r["domain"] or "", r["mask_type"] or "", r["split"] or "", _fmt(r["paper_images"]),
                     _fmt(r["paper_masks"]), found, r["path"] or ""])
    header = ["name", "domain", "mask type", "split", "images", "masks", "found", "where"]
    return _table(header, body) + "\n(images, masks: the numbers the Segment Anything paper sampled, Table 7)"


def verify_dataset(name: str, root: Optional[PathLike] = None, ann: Optional[PathLike] = None,
                   split: Optional[str] = None, check_images: bool = True, seed: int = 0,
                   max_masks: Optional[int] = None, target_masks: Optional[int] = None,
                   max_listed: int = 50) -> dict:
    """Read a dataset completely and compare it with the paper's counts.

    Arguments:
      name, root, ann, split: as for ``build_dataset`` (a missing root or wrong layout raises the
        adapter's one-line DatasetLayoutError).
      check_images: also decode every image (finds truncated or unreadable image files).
      seed, max_masks, target_masks: the manifest's sampling (defaults: the paper's 15k / 10k).
      max_listed: at most this many broken samples / zero-area masks are listed (all are counted).
    Returns:
      a dict: dataset facts, n_images, n_ok, n_bad, bad (image_id, reason), n_masks (usable:
      non-crowd, nonzero area), n_crowd, n_zero_area, zero_area (image_id, instance_id), n_defective,
      defective (image_id, instance_id, reason: annotations the adapter could not make into a mask),
      paper_images, paper_masks, manifest (checksum, seed, n_images, n_masks, subsampled), seconds.
    """
    from sambench.datasets import build_dataset
    from sambench.datasets.manifest import MAX_MASKS, TARGET_MASKS, build_manifest, usable_instance_ids
    from sambench.data import BadSampleError

    t0 = time.time()
    adapter = build_dataset(name, root, ann=ann, split=split)
    usable: Dict[str, List[str]] = {}
    bad: Dict[str, str] = {}
    zero: List[tuple] = []
    defects: List[dict] = []
    in_manifest: Dict[str, List[str]] = {}
    n_crowd = 0
    ids = adapter.image_ids()
    for image_id in ids:
        try:
            s = adapter.load_sample(image_id)
            if check_images:
                s.image()
        except BadSampleError as exc:
            bad[image_id] = str(exc)
            continue
        keep = []
        for inst in s.instances:
            if inst.area == 0:
                zero.append((image_id, inst.id))
            elif inst.iscrowd:
                n_crowd += 1
            else:
                keep.append(inst.id)
        for d in s.skipped_annotations():  # listed by the adapter with the reason
            if d["reason"] == "zero-area mask":
                zero.append((image_id, d["instance_id"]))
            else:
                defects.append({"image_id": image_id, "instance_id": d["instance_id"], "reason": d["reason"]})
        usable[image_id] = keep
        in_manifest[image_id] = usable_instance_ids(s)  # what a run's manifest holds (skips listed there)

    def count(image_id: str) -> List[str]:
        if image_id in bad:
            raise BadSampleError(bad[image_id])
        return in_manifest[image_id]

    manifest = build_manifest(adapter, seed=seed, max_masks=max_masks or MAX_MASKS,
                              target_masks=target_masks or TARGET_MASKS, count=count)
    cls = type(adapter)
    return {
        "name": adapter.name, "title": getattr(cls, "title", ""), "root": str(adapter.root), "split": adapter.split,
        "ann": str(adapter.ann) if adapter.ann else None,
        "n_images": len(ids), "n_ok": len(usable), "n_bad": len(bad),
        "bad": [{"image_id": k, "reason": v} for k, v in list(bad.items())[:max_listed]],
        "n_masks": sum(len(v) for v in usable.values()), "n_crowd": n_crowd,
        "n_zero_area": len(zero),
        "zero_area": [{"image_id": i, "instance_id": m} for i, m in zero[:max_listed]],
        "n_defective": len(defects), "defective": defects[:max_listed],
        "paper_images": getattr(cls, "paper_images", None), "paper_masks": getattr(cls, "paper_masks", None),
        "paper_split": getattr(cls, "paper_split", None),
        "manifest": {"checksum": manifest.checksum(), "seed": manifest.seed, "n_images": manifest.n_images,
                     "n_masks": manifest.n_masks, "subsampled": manifest.subsampled},
        "images_checked": bool(check_images), "seconds": round(time.time() - t0, 2),
    }


def format_verify_report(d: dict) -> str:
    """A plain-text report of ``verify_dataset``'s result."""
    m = d["manifest"]
    lines = [
        f"{d['name']} ({d['title']}), split {d['split']}" + (f"  [paper: {d['paper_split']}]" if d.get("paper_split") else ""),
        f"root: {d['root']}" + (f"   ann: {d['ann']}" if d.get("ann") else ""),
        "",
        _table(["", "found", "paper sampled"], [
            ["images", _fmt(d["n_images"]), _fmt(d["paper_images"])],
            ["usable masks", _fmt(d["n_masks"]), _fmt(d["paper_masks"])],
        ]),
        "",
        f"readable samples: {d['n_ok']:,} of {d['n_images']:,}"
        + ("" if d.get("images_checked", True) else " (image files not decoded)"),
        f"crowd regions (never prompted): {d['n_crowd']:,}",
        f"zero-area masks skipped: {d['n_zero_area']:,}",
    ]
    for z in d["zero_area"]:
        lines.append(f"  {z['image_id']}: mask {z['instance_id']}")
    if d["n_zero_area"] > len(d["zero_area"]):
        lines.append(f"  ... and {d['n_zero_area'] - len(d['zero_area']):,} more")
    lines.append(f"defective annotations skipped: {d.get('n_defective', 0):,}")
    for z in d.get("defective", []):
        lines.append(f"  {z['image_id']}: annotation {z['instance_id']}: {z['reason']}")
    if d.get("n_defective", 0) > len(d.get("defective", [])):
        lines.append(f"  ... and {d['n_defective'] - len(d['defective']):,} more")
    lines.append(f"broken samples skipped: {d['n_bad']:,}")
    for b in d["bad"]:
        lines.append(f"  {b['image_id']}: {b['reason']}")
    if d["n_bad"] > len(d["bad"]):
        lines.append(f"  ... and {d['n_bad'] - len(d['bad']):,} more")
    lines += [
        "",
        f"manifest: {m['n_images']:,} images, {m['n_masks']:,} masks"
        + (f" (subsampled, seed {m['seed']})" if m["subsampled"] else " (all usable masks)"),
        f"manifest checksum: {m['checksum']}",
    ]
    if d.get("paper_masks"):
        from sambench.published import fewer_masks_than_the_paper

        if fewer_masks_than_the_paper(d["n_masks"], d["paper_masks"]):
            lines.append(f"verdict: a partial copy or another split: {d['n_masks']:,} usable masks, "
                         f"{d['n_masks'] / d['paper_masks']:.0%} of the {d['paper_masks']:,} the paper sampled; "
                         f"point numbers on it are not comparable with the paper's")
        else:
            lines.append(f"verdict: at least the masks the paper sampled ({d['paper_masks']:,}); the manifest "
                         f"samples as the paper did")
    lines.append(f"({d['seconds']} s)")
    return "\n".join(lines)
