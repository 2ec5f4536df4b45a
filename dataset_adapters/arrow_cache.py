"""Fast reloading of any adapter through a canonical Hugging Face ``datasets`` Arrow file.

The first ``open_cached(adapter)`` loads every sample once (decoding label maps, rasterising
polygons, reading ``.mat`` files...) and writes one row per image to
``<cache dir>/<name>-<signature>/data.arrow``: image id, image path, height, width, instance ids,
RLE counts, category ids, crowd flags, per-instance extras (JSON), ignore and void RLEs, per-sample
extras (JSON) and, for a sample that could not be loaded, the reason. Later opens memory-map that file with
``datasets.Dataset.from_file`` and take seconds; masks stay RLE until a task decodes them.

The signature is cheap and content-bound: the relative path, size and mtime of every source file
(the adapter's ``source_files()`` if it has one, else every file under ``--root``), the SHA-256 of
its annotation files (``annotation_files()`` / ``annotation_file()`` / ``--ann``; hashes are
memoised by path, size and mtime), the adapter's name, split and class, and a hash of the adapter's
source code (so fixing an adapter rebuilds its caches). Anything else changing means a rebuild.

``CachedDataset`` has the interface of an adapter (``name``, ``split``, ``image_ids()``,
``load_sample(id)``, ``samples(ids)``, ``describe()``; other attributes fall through to the adapter).
A sample that was broken at build time raises the same ``BadSampleError`` (and ``samples`` yields
the same ``BadSample``) on every reload. Images are read at use time from the adapter's current
root when the sample's loader was ``base.image_loader(path)``; otherwise (an image the adapter
produces itself: a video frame, an HDF5 render, a crop) through the adapter's
``load_image(image_id)`` if it defines one, else ``adapter.load_sample(image_id).image()``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np

from sambench import masks as mask_utils
from sambench.data import BadSample, BadSampleError, Instance, Sample

from .base import DatasetAdapter, RLEList, read_image

FORMAT_VERSION = 3  # 3: void RLE column; EXIF-aware image sizes; per-annotation skips
DEFAULT_CACHE_DIR = Path("~/.cache/sambench/arrow")
CACHE_ENV = "SAMBENCH_ARROW_CACHE"
BATCH_ROWS = 64


def cache_root(cache_dir: Optional[Union[str, Path]] = None) -> Path:
    """The folder holding all Arrow caches: ``cache_dir``, else $SAMBENCH_ARROW_CACHE, else ~/.cache/sambench/arrow."""
    return Path(cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()


# -- signature ----------------------------------------------------------------------------------
def _walk_files(root: Path) -> Iterator[Path]:
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                stack.append(Path(e.path))
            elif e.is_file():
                yield Path(e.path)


def source_files(adapter: DatasetAdapter) -> Iterable[Path]:
    """The files a dataset's samples come from (adapter hook ``source_files()``, else all files under root)."""
    hook = getattr(adapter, "source_files", None)
    return hook() if callable(hook) else _walk_files(adapter.root)


def annotation_files(adapter: DatasetAdapter) -> List[Path]:
    """Annotation files whose content is hashed (adapter hooks, else --ann)."""
    files: List[Path] = []
    hook = getattr(adapter, "annotation_files", None)
    if callable(hook):
        files.extend(hook())
    else:
        single = getattr(adapter, "annotation_file", None)
        if callable(single):
            try:
                files.append(single())
            except Exception:
                pass
    if adapter.ann is not None:
        files.append(adapter.ann)
    seen, out = set(), []
    for f in files:
        f = Path(f)
        if f.is_file() and f.resolve() not in seen:
            seen.add(f.resolve())
            out.append(f)
    return out


class _HashMemo:
    """SHA-256 of files, memoised in <cache root>/_hashes.json by (path, size, mtime)."""

    def __init__(self, root: Path):
        self.path = root / "_hashes.json"
        try:
            self.table = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.table = {}
        self.dirty = False

    def sha256(self, f: Path) -> str:
        st = f.stat()
        key = str(f.resolve())
        stamp = [st.st_size, st.st_mtime_ns]
        hit = self.table.get(key)
        if hit and hit[0] == stamp:
            return hit[1]
        h = hashlib.sha256()
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        self.table[key] = [stamp, h.hexdigest()]
        self.dirty = True
        return h.hexdigest()

    def save(self) -> None:
        if self.dirty:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(json.dumps(self.table))
                tmp.replace(self.path)
            except OSError:
                pass  # the memo is an optimisation only


def code_hash(cls: type) -> str:
    """Hash of the source files defining ``cls`` and its adapter base classes, and of the core modules
    that decide what a sample holds (annotation rules, mask helpers, the Sample class)."""
    from sambench import annotations, data, masks

    h = hashlib.sha256()
    for module in (annotations, data, masks):
        h.update(Path(module.__file__).read_bytes())
    for klass in cls.__mro__:
        if klass is object:
            continue
        try:
            src = inspect.getsourcefile(klass)
        except TypeError:
            src = None
        if src and os.path.isfile(src):
            h.update(Path(src).read_bytes())
    return h.hexdigest()


def source_signature(adapter: DatasetAdapter, cache_dir: Optional[Union[str, Path]] = None) -> str:
    """The cheap content signature of a dataset as this adapter reads it (hex SHA-256)."""
    h = hashlib.sha256()
    cls = type(adapter)
    h.update(json.dumps({"format": FORMAT_VERSION, "name": adapter.name, "split": adapter.split,
                         "class": f"{cls.__module__}.{cls.__qualname__}", "code": code_hash(cls)}).encode())
    root = adapter.root.resolve()
    for f in sorted(Path(p) for p in source_files(adapter)):
        try:
            st = f.stat()
        except OSError:
            continue
        try:
            rel = f.resolve().relative_to(root).as_posix()
        except ValueError:
            rel = str(f.resolve())
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    memo = _HashMemo(cache_root(cache_dir))
    for f in annotation_files(adapter):
        h.update(f"ann\0{f.name}\0{memo.sha256(f)}\n".encode())
    memo.save()
    return h.hexdigest()


# -- JSON for extras ----------------------------------------------------------------------------
def _to_json(value):
    if isinstance(value, RLEList):
        return {"__rlelist__": value.rles}
    if isinstance(value, np.ndarray):
        if value.dtype == bool and value.ndim == 2:
            return {"__mask__": mask_utils.encode(value)}
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in the Arrow cache")


def _from_json(value):
    if isinstance(value, dict):
        if set(value) == {"__rlelist__"}:
            return RLEList(value["__rlelist__"])
        if set(value) == {"__mask__"}:
            return mask_utils.decode(value["__mask__"])
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def _dump_extra(extra: dict, dropped: set) -> str:
    out = {}
    for k, v in (extra or {}).items():
        try:
            out[str(k)] = _to_json(v)
        except TypeError:
            dropped.add(str(k))
    return json.dumps(out, separators=(",", ":"))


# -- build --------------------------------------------------------------------------------------
def _schema():
    import pyarrow as pa

    return pa.schema([
        ("image_id", pa.string()), ("image_path", pa.string()), ("height", pa.int32()), ("width", pa.int32()),
        ("instance_ids", pa.list_(pa.string())), ("rle_counts", pa.list_(pa.string())),
        ("category_ids", pa.list_(pa.int64())), ("iscrowd", pa.list_(pa.bool_())),
        ("instance_extra", pa.list_(pa.string())), ("ignore_counts", pa.string()), ("extra", pa.string()),
        ("image_from_file", pa.bool_()), ("bad_reason", pa.string()), ("void_counts", pa.string()),
    ])


def _counts(rle: dict) -> str:
    """Compressed counts string of any RLE (str, bytes or uncompressed list counts)."""
    return mask_utils.from_segmentation(rle, *rle["size"])["counts"]


def _row(adapter: DatasetAdapter, image_id: str, dropped: set) -> dict:
    empty = {"image_id": image_id, "image_path": None, "height": 0, "width": 0, "instance_ids": [],
             "rle_counts": [], "category_ids": [], "iscrowd": [], "instance_extra": [], "ignore_counts": None,
             "extra": "{}", "image_from_file": False, "bad_reason": None, "void_counts": None}
    try:
        s = adapter.load_sample(image_id)
    except BadSampleError as exc:
        return {**empty, "bad_reason": str(exc) or "unreadable sample",
                "extra": json.dumps({"n_masks": int(getattr(exc, "n_masks", 0))})}
    path = None
    if s.image_path is not None:
        p = Path(s.image_path)
        try:
            path = p.resolve().relative_to(adapter.root.resolve()).as_posix()
        except ValueError:
            path = str(p.resolve())
    for inst in s.instances:
        if list(inst.rle["size"]) != [s.height, s.width]:
            return {**empty, "bad_reason": f"{image_id}: mask '{inst.id}' is not {s.width}x{s.height}"}
    return {
        "image_id": image_id, "image_path": path, "height": s.height, "width": s.width,
        "instance_ids": [str(i.id) for i in s.instances],
        "rle_counts": [_counts(i.rle) for i in s.instances],
        "category_ids": [None if i.category_id is None else int(i.category_id) for i in s.instances],
        "iscrowd": [bool(i.iscrowd) for i in s.instances],
        "instance_extra": [_dump_extra(i.extra, dropped) for i in s.instances],
        "ignore_counts": None if s.ignore is None else _counts(s.ignore),
        "void_counts": None if s.void is None else _counts(s.void),
        "extra": _dump_extra(s.extra, dropped),
        # True when the sample's loader just reads image_path (base.image_loader); else the image is
        # produced by the adapter (video frame, HDF5, crop...) and a reload asks the adapter for it
        "image_from_file": s.image_path is not None and getattr(s.loader, "path", None) == s.image_path,
        "bad_reason": None,
    }


def build_cache(adapter: DatasetAdapter, target: Path, signature: str,
                progress: Optional[Callable[[int, int], None]] = None) -> Path:
    """Load every sample of ``adapter`` and write ``target/data.arrow`` + ``target/meta.json`` atomically."""
    import pyarrow as pa

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    schema = _schema()
    ids = adapter.image_ids()
    dropped: set = set()
    n_bad = n_masks = 0
    try:
        with pa.OSFile(str(tmp / "data.arrow"), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            rows: List[dict] = []
            for k, image_id in enumerate(ids):
                row = _row(adapter, image_id, dropped)
                n_bad += row["bad_reason"] is not None
                n_masks += len(row["instance_ids"])
                rows.append(row)
                if len(rows) >= BATCH_ROWS or k == len(ids) - 1:
                    writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=schema))
                    rows = []
                if progress:
                    progress(k + 1, len(ids))
            if not ids:
                writer.write_batch(pa.RecordBatch.from_pylist([], schema=schema))
        meta = {"format": FORMAT_VERSION, "signature": signature, "name": adapter.name, "split": adapter.split,
                "root": str(adapter.root.resolve()), "n_images": len(ids), "n_bad": n_bad, "n_masks": n_masks,
                "dropped_extra_keys": sorted(dropped)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "meta.json").is_file():  # nobody else finished the same build meanwhile
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _prune(root: Path, keep: Path, meta: dict) -> None:
    """Remove older caches of the same dataset (same name, split and root) than ``keep``."""
    for d in root.glob(f"{meta['name']}-*"):
        if d == keep or not d.is_dir():
            continue
        try:
            other = json.loads((d / "meta.json").read_text())
        except (OSError, ValueError):
            continue
        if (other.get("name"), other.get("split"), other.get("root")) == (meta["name"], meta["split"], meta["root"]):
            shutil.rmtree(d, ignore_errors=True)


# -- reading ------------------------------------------------------------------------------------
class CachedDataset:
    """An adapter's samples served from its Arrow cache (same interface as a DatasetAdapter)."""

    def __init__(self, adapter: DatasetAdapter, path: Path, meta: dict):
        from datasets import Dataset

        self.adapter = adapter
        self.path = path
        self.meta = meta
        self.signature = meta["signature"]
        self.name = adapter.name
        self.split = adapter.split
        self.root = adapter.root
        self.ann = adapter.ann
        self.dataset = Dataset.from_file(str(path / "data.arrow"))
        self._ids: List[str] = self.dataset.data.column("image_id").to_pylist()
        self._index: Dict[str, int] = {k: i for i, k in enumerate(self._ids)}
        bad = self.dataset.data.column("bad_reason").to_pylist()
        self._bad: Dict[str, str] = {k: r for k, r in zip(self._ids, bad) if r is not None}
        extra = self.dataset.data.column("extra").to_pylist()
        self._bad_masks: Dict[str, int] = {k: int(json.loads(e or "{}").get("n_masks", 0))
                                           for k, r, e in zip(self._ids, bad, extra) if r is not None}

    def __getattr__(self, item):  # class attributes (title, paper_images, ...) fall through to the adapter
        if item.startswith("_") or item in ("adapter",):
            raise AttributeError(item)
        return getattr(self.adapter, item)

    def __len__(self) -> int:
        return len(self._ids)

    def image_ids(self) -> List[str]:
        return list(self._ids)

    def bad_samples(self) -> Dict[str, str]:
        """image id -> reason, for the samples that failed at build time."""
        return dict(self._bad)

    def _loader(self, image_id: str, path: Optional[Path], from_file: bool):
        hook = getattr(self.adapter, "load_image", None)
        if callable(hook):
            return lambda: hook(image_id)
        if from_file and path is not None:
            return lambda: read_image(path)
        return lambda: self.adapter.load_sample(image_id).image()  # the adapter makes this image itself

    def load_sample(self, image_id: str) -> Sample:
        if image_id not in self._index:
            raise KeyError(f"{image_id}: not an image of {self.name} ({self.path})")
        if image_id in self._bad:
            raise BadSampleError(self._bad[image_id], n_masks=self._bad_masks.get(image_id, 0))
        row = self.dataset[self._index[image_id]]
        h, w = int(row["height"]), int(row["width"])
        path = None
        if row["image_path"] is not None:
            p = Path(row["image_path"])
            path = p if p.is_absolute() else self.root / p
        instances = [
            Instance(id=iid, rle={"size": [h, w], "counts": counts}, category_id=cat, iscrowd=bool(crowd),
                     extra=_from_json(json.loads(ex)))
            for iid, counts, cat, crowd, ex in zip(row["instance_ids"], row["rle_counts"], row["category_ids"],
                                                   row["iscrowd"], row["instance_extra"])
        ]
        ignore = None if row["ignore_counts"] is None else {"size": [h, w], "counts": row["ignore_counts"]}
        void = None if row.get("void_counts") is None else {"size": [h, w], "counts": row["void_counts"]}
        return Sample(image_id=image_id, height=h, width=w, instances=instances, loader=self._loader(image_id, path, bool(row["image_from_file"])),
                      ignore=ignore, void=void, image_path=path, extra=_from_json(json.loads(row["extra"] or "{}")))

    def samples(self, ids: Optional[Sequence[str]] = None) -> Iterator[Union[Sample, BadSample]]:
        for image_id in self._ids if ids is None else ids:
            try:
                yield self.load_sample(image_id)
            except BadSampleError as exc:
                yield BadSample(image_id, str(exc))

    def describe(self) -> Dict[str, object]:
        d = dict(self.adapter.describe())
        d.update({"arrow_cache": str(self.path), "signature": self.signature})
        return d


def open_cached(adapter: DatasetAdapter, cache_dir: Optional[Union[str, Path]] = None, rebuild: bool = False,
                progress: Optional[Callable[[int, int], None]] = None) -> CachedDataset:
    """Open ``adapter``'s Arrow cache, building it first if missing or stale.

    Arguments:
      adapter: any DatasetAdapter (or anything with its interface and a ``root``).
      cache_dir: folder of all caches (default $SAMBENCH_ARROW_CACHE or ~/.cache/sambench/arrow).
      rebuild: rebuild even if a valid cache exists.
      progress: called as progress(done, total) while building.
    Returns:
      a CachedDataset; ``.path`` is ``<cache_dir>/<name>-<signature[:20]>``.
    """
    root = cache_root(cache_dir)
    signature = source_signature(adapter, root)
    target = root / f"{adapter.name}-{signature[:20]}"
    meta = None
    if not rebuild and (target / "data.arrow").is_file():
        try:
            meta = json.loads((target / "meta.json").read_text())
            if meta.get("signature") != signature or meta.get("format") != FORMAT_VERSION:
                meta = None
        except (OSError, ValueError):
            meta = None
    if meta is None:
        build_cache(adapter, target, signature, progress)
        meta = json.loads((target / "meta.json").read_text())
        _prune(root, target, meta)
    return CachedDataset(adapter, target, meta)

