"""Optional model families live in pip extras; a missing one is named in one line.

``require("sam2", "sam2")`` imports the official ``sam2`` package or raises ``MissingExtraError``
saying ``pip install 'sambench[sam2]'``. The CLI prints it as one line (exit status 2).
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

EXTRAS = {
    "hf": "transformers>=5 (SamModel, SamHQModel, Sam2Model, Sam3TrackerModel, EdgeTamModel)",
    "sam2": "the official sam2 package (SAM 2 / 2.1 with its Hydra configs)",
    "hq": "segment-anything-hq (HQ-SAM)",
}


class MissingExtraError(ImportError):
    """A model family whose optional dependency is not installed."""


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise MissingExtraError naming ``pip install 'sambench[extra]'``."""
    try:
        with warnings.catch_warnings():  # some packages re-register timm models on import, loudly
            warnings.simplefilter("ignore")
            return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(f"this model needs {EXTRAS[extra]}, which is not installed "
                                f"({exc.name or module}); run: pip install 'sambench[{extra}]'") from exc
