"""The run folder: config, records (appended as produced), skipped samples, summary.

Layout of ``DIR``::

    config.json            model fingerprint, dataset + manifest checksum, protocol, seed, versions, device
    manifest-<dataset>.json  the sampled (image id, mask ids) list of each dataset
    records/records-rank<R>.csv   one row per record, appended image by image
    records/done-rank<R>.jsonl    one line per finished image ({"dataset", "image_id", "status", ...})
    summary.json, tables/, plots/  derived from the records by the reporter

Exactly-once: an image's records are appended and flushed, then its ``done`` line. On resume,
records of images without a ``done`` line (a run killed between the two writes) are dropped, so
a resumed run holds exactly the records an uninterrupted run writes. Every process of a
``torchrun`` job writes its own shard; readers merge all shards in manifest order.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import pandas as pd

from sambench import __version__


class RunFolderError(ValueError):
    """A run folder that cannot be used (config mismatch on resume, not a run folder, ...)."""


def package_versions() -> Dict[str, Optional[str]]:
    """Versions of the packages that can change a number."""
    from importlib import metadata

    out = {"python": platform.python_version(), "sambench": __version__}
    for name in ("torch", "torchvision", "segment-anything", "numpy", "scipy", "scikit-image",
                 "pycocotools", "lvis", "opencv-python-headless", "pandas"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_info(device) -> Dict[str, object]:
    import torch

    info = {"device": str(device), "platform": platform.platform(), "cpu_count": os.cpu_count()}
    if str(device).startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    return info


class RunFolder:
    """Reads and writes one run folder (see module docstring)."""

    def __init__(self, path, rank: int = 0):
        self.path = Path(path)
        self.rank = rank

    # -- paths ----------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def records_dir(self) -> Path:
        return self.path / "records"

    def records_path(self, rank: Optional[int] = None) -> Path:
        return self.records_dir / f"records-rank{self.rank if rank is None else rank}.csv"

    def done_path(self, rank: Optional[int] = None) -> Path:
        return self.records_dir / f"done-rank{self.rank if rank is None else rank}.jsonl"

    def exists(self) -> bool:
        return self.config_path.is_file()

    # -- config ---------------------------------------------------------------------------------
    def read_config(self) -> dict:
        if not self.config_path.is_file():
            raise RunFolderError(f"{self.path}: not a sambench run folder (no config.json)")
        return json.loads(self.config_path.read_text())

    def write_config(self, config: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.config_path, config)

    # -- records --------------------------------------------------------------------------------
    def prepare(self, columns: Sequence[str], resume: bool) -> set:
        """Open this rank's shard for appending; returns the (dataset, image_id) pairs already done.

        Without ``resume`` an existing shard is an error (never overwrite results silently).
        """
        self.records_dir.mkdir(parents=True, exist_ok=True)
        rec, done = self.records_path(), self.done_path()
        self.columns = list(columns)
        if not resume:
            if rec.exists() or done.exists():
                raise RunFolderError(f"{self.path}: already holds records; pass --resume to complete it "
                                     f"or choose another --out")
            with open(rec, "w", newline="") as f:
                csv.writer(f).writerow(self.columns)
            done.touch()
            return set()
        finished = {(d["dataset"], d["image_id"]) for d in read_jsonl(done)} if done.exists() else set()
        # keep the rows of finished images only (a kill between the two writes leaves orphans); rows
        # are parsed and written back as the same strings by the same csv writer, so the kept records
        # stay byte for byte what the first session wrote
        if rec.exists():
            with open(rec, newline="") as f:
                rows = list(csv.reader(f))
            header = rows[0] if rows else list(self.columns)  # an empty file: killed before its header
            if header != self.columns:
                missing = [c for c in self.columns if c not in header]
                extra = [c for c in header if c not in self.columns]
                raise RunFolderError(f"{rec}: its columns differ from what this run writes (missing: "
                                     f"{', '.join(missing) or '-'}; extra: {', '.join(extra) or '-'}), as from an "
                                     f"older sambench or other task options; start a new --out instead of --resume")
            di, ii = header.index("dataset"), header.index("image_id")
            tmp = rec.with_suffix(".tmp")
            with open(tmp, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(header)
                writer.writerows(r for r in rows[1:] if len(r) == len(header) and (r[di], r[ii]) in finished)
            tmp.replace(rec)
        else:
            with open(rec, "w", newline="") as f:
                csv.writer(f).writerow(self.columns)
        # rewrite done without a possibly truncated last line
        tmp = done.with_suffix(".tmp")
        with open(tmp, "w") as f:
            for d in (read_jsonl(done) if done.exists() else []):
                f.write(json.dumps(d) + "\n")
        tmp.replace(done)
        return finished

    def append_image(self, dataset: str, image_id: str, rows: Iterable[dict], status: str = "ok",
                     reason: Optional[str] = None, extra: Optional[dict] = None) -> None:
        """Append one image's records, then mark it done (both flushed to disk)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="raise")
        n = 0
        for r in rows:
            writer.writerow(r)
            n += 1
        with open(self.records_path(), "a", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        entry = {"dataset": dataset, "image_id": image_id, "status": status, "n_records": n}
        if reason:
            entry["reason"] = reason
        if extra:
            entry.update(extra)
        with open(self.done_path(), "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def load_records(self) -> pd.DataFrame:
        """All shards' records, merged and sorted in manifest order (dataset, image_index, then row order)."""
        frames = []
        for path in sorted(self.records_dir.glob("records-rank*.csv")):
            frame = pd.read_csv(path, dtype={"image_id": str, "instance_id": str}, keep_default_na=False,
                                na_values=[""])
            frames.append(frame)
        if not frames:
            raise RunFolderError(f"{self.path}: no records")
        frame = pd.concat(frames, ignore_index=True)
        sort_cols = [c for c in ("dataset_index", "image_index", "row_index") if c in frame.columns]
        return frame.sort_values(sort_cols, kind="stable").reset_index(drop=True) if sort_cols else frame

    def load_done(self) -> List[dict]:
        out = []
        for path in sorted(self.records_dir.glob("done-rank*.jsonl")):
            out.extend(read_jsonl(path))
        return out

    # -- summary --------------------------------------------------------------------------------
    def write_summary(self, summary: dict) -> None:
        write_json_atomic(self.path / "summary.json", summary)

    def read_summary(self) -> dict:
        return json.loads((self.path / "summary.json").read_text())


def read_jsonl(path: Path) -> List[dict]:
    """Lines of a JSON-lines file; a truncated last line (a killed write) is ignored."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return out


def write_json_atomic(path: Path, data) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(path)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def command_line() -> str:
    return " ".join([Path(sys.argv[0]).name] + sys.argv[1:])
