"""Tasks: one module per protocol; none knows a specific model or dataset.

Importing this package imports every module in it, which registers each task in ``TASKS``.
"""

import importlib
import pkgutil

from .base import TASKS, Task  # noqa: F401

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
