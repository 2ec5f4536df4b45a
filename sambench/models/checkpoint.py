"""Checkpoint files: official release names checked by SHA-256 before loading, and a safe loader.

Every model family registers the files of its official releases (``register_official``). Before
any file is loaded, ``verify_before_load`` hashes it and, when its name is one of those releases',
refuses it unless it is byte-identical to the release: a corrupt, truncated or renamed file never
reaches the unpickler. ``load_torch_file`` loads with ``torch.load(..., weights_only=True)`` and turns
every failure into one ``CheckpointError`` line of sambench's own; it never repeats torch's advice to
disable ``weights_only``.

Used by ``sambench.models.sam`` (SAM ViT-H/L/B); other families call the same two functions.
"""

from __future__ import annotations

import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

from .base import sha256_file


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, of another architecture or not the official file it claims to be."""


@dataclass(frozen=True)
class OfficialFile:
    """One official release file.

    Attributes:
      family: the model family that registered it (e.g. "sam").
      release: the release's short name within the family (e.g. "vit_h").
      file: the file name as published.
      sha256: hex digest of the published file.
      bytes: its size, or None when not known.
    """

    family: str
    release: str
    file: str
    sha256: str
    bytes: Optional[int] = None


OFFICIAL_FILES: Dict[str, OfficialFile] = {}


def register_official(family: str, releases: Dict[str, dict]) -> None:
    """Register a family's official files: ``{release: {"file": NAME, "sha256": HEX, "bytes": N}}``."""
    for release, info in releases.items():
        entry = OfficialFile(family, release, info["file"], info["sha256"].lower(), info.get("bytes"))
        known = OFFICIAL_FILES.get(entry.file)
        if known is not None and known.sha256 != entry.sha256:
            raise ValueError(f"official file name {entry.file} registered twice with different SHA-256")
        OFFICIAL_FILES[entry.file] = entry


def official_release_of(digest: str) -> Optional[OfficialFile]:
    """The official file with SHA-256 ``digest``, or None."""
    for entry in OFFICIAL_FILES.values():
        if digest and entry.sha256 == digest.lower():
            return entry
    return None


def verify_before_load(path: Path, what: str = "checkpoint") -> str:
    """Hash ``path``; refuse a file named like an official release that is not byte-identical to it.

    Arguments:
      path: the file (must exist).
      what: how to name it in the error ("SAM .pth file", ...).
    Returns:
      the file's SHA-256 (hex), to record beside every number.
    Raises:
      CheckpointError (one line) for a missing file or an official name with another SHA-256.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found (expected a {what})")
    digest = sha256_file(path)
    entry = OFFICIAL_FILES.get(path.name)
    if entry is not None and digest != entry.sha256:
        size = path.stat().st_size
        short = f", {size} of {entry.bytes} bytes" if entry.bytes and size != entry.bytes else ""
        raise CheckpointError(f"{path}: named like the official {entry.release} checkpoint ({entry.family}) but its "
                              f"SHA-256 is {digest}, not {entry.sha256}{short} (corrupt, truncated or renamed file; "
                              f"download it again)")
    return digest


_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def load_torch_file(path: Path, what: str = "PyTorch checkpoint"):
    """``torch.load(path, map_location="cpu", weights_only=True)`` with one-line errors of our own.

    Raises:
      CheckpointError naming the file: for a pickle that holds Python objects besides tensors (the
      safe loader refuses it: re-save the weights as a state dict), or for a file torch cannot read
      at all (corrupt, truncated, another format, random bytes).
    """
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _GLOBAL.search(str(exc))
        if found is None and "Unsupported global" not in str(exc):
            # not a refused Python object but bytes the unpickler cannot parse (e.g. "Unsupported operand")
            raise CheckpointError(f"{path}: not a loadable {what} (corrupt, truncated or another format: "
                                  f"the unpickler cannot parse it)") from None
        holds = f" (it refers to {found.group(1)})" if found else ""
        raise CheckpointError(f"{path}: not a loadable PyTorch checkpoint: it holds Python objects besides tensors"
                              f"{holds}, which sambench never unpickles; save the weights as a state dict of "
                              f"tensors (torch.save(model.state_dict(), PATH))") from None
    except Exception as exc:  # zip errors (RuntimeError), bad magic (KeyError), EOFError, ...
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        detail = detail.split(". ")[0]
        if "weights_only" in detail or len(detail) > 160 or detail.isdigit():
            detail = type(exc).__name__
        raise CheckpointError(f"{path}: not a loadable {what} (corrupt, truncated or another format: "
                              f"{detail})") from None
