"""Dataset adapters: one module per dataset on the shared base in ``base.py``.

Importing this package imports every module in it, which registers each adapter in ``DATASETS``
(``sambench list datasets``). A new dataset is one new module written from the same template.
"""

import importlib
import pkgutil

from .base import DATASETS, DatasetAdapter, DatasetLayoutError  # noqa: F401

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):  # adapters register themselves; other modules are harmless
        importlib.import_module(f"{__name__}.{_info.name}")


def build_dataset(name: str, root=None, ann=None, split=None) -> DatasetAdapter:
    """Build the adapter registered as ``name`` over ``root`` (``demo`` needs no root)."""
    cls = DATASETS.get(name)
    if root is None and name != "demo":
        raise DatasetLayoutError(f"dataset '{name}' needs --root DIR; expected layout: {getattr(cls, 'layout', '?')}")
    return cls(root, ann=ann, split=split)
