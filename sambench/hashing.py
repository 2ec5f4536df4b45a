"""File digests recorded beside every number (checkpoints, annotation and detections files, manifests)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Union


def sha256_file(path: Union[str, Path], chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of a file, read in ``chunk``-byte blocks (constant memory for multi-GB checkpoints)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
