"""One registry per kind (models, datasets, tasks): a dict of builders with a short name per entry."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib import metadata
from pathlib import Path
from typing import Callable, Dict, Generic, Iterator, Optional, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name no registry entry has; its message lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its message; a CLI wants the plain sentence
        return str(self.args[0])


class Registry(Generic[T]):
    """A named dict of builders.

    Entries come from `register` (in-tree code), from the entry-point group `entry_point_group`
    (installed plug-ins), or from a `path/to/file.py:NAME` / `package.module:NAME` spec given at
    lookup time (a user's own file, no install needed).
    """

    def __init__(self, kind: str, entry_point_group: Optional[str] = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._builders: Dict[str, Callable[..., T]] = {}
        self._descriptions: Dict[str, str] = {}
        self._entry_points_loaded = False

    def register(self, name: str, description: str = "") -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register `builder` under `name`."""

        def decorator(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._builders and self._builders[name] is not builder:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._builders[name] = builder
            doc = description or (builder.__doc__ or "").strip().split("\n")[0]
            self._descriptions[name] = doc
            return builder

        return decorator

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded or not self.entry_point_group:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=self.entry_point_group):
            if ep.name not in self._builders:
                builder = ep.load()
                self._builders[ep.name] = builder
                self._descriptions[ep.name] = (builder.__doc__ or "").strip().split("\n")[0]

    def names(self) -> list:
        self._load_entry_points()
        return sorted(self._builders)

    def describe(self) -> Dict[str, str]:
        self._load_entry_points()
        return {n: self._descriptions.get(n, "") for n in sorted(self._builders)}

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._builders

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> Callable[..., T]:
        """Return the builder for `name`, a registered short name or a `file.py:NAME` / `module:NAME` spec."""
        self._load_entry_points()
        if name in self._builders:
            return self._builders[name]
        if ":" in name:
            return load_object(name)
        raise UnknownNameError(f"unknown {self.kind} '{name}'; known: {', '.join(self.names())}")


def load_object(spec: str):
    """Load `NAME` from `path/to/file.py:NAME` or `package.module:NAME`."""
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file (expected a Python file defining {attr})")
        mod_name = f"sambench_user_{path.stem}"
        spec_obj = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec_obj)
        sys.modules[mod_name] = module
        spec_obj.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    if not hasattr(module, attr):
        raise AttributeError(f"{target}: defines no '{attr}'")
    return getattr(module, attr)
