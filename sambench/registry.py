"""One registry per kind (models, datasets, tasks): a dict of builders with a short name per entry.

Names follow one spelling convention: lower case words joined by hyphens (``sam-vit-h``). Older
spellings stay accepted as aliases (``sam-vit_h``); an unknown name suggests the closest known one.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from importlib import metadata
from pathlib import Path
from typing import Callable, Dict, Generic, Iterator, Optional, Sequence, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name no registry entry has; its message lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its message; a CLI wants the plain sentence
        return str(self.args[0])


class FileImportError(UnknownNameError):
    """A ``file.py:NAME`` spec whose file could not be imported (never replaced by a registered entry)."""


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
        self._aliases: Dict[str, str] = {}
        self._entry_points_loaded = False

    def register(self, name: str, description: str = "",
                 aliases: Sequence[str] = ()) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register `builder` under `name` (and the older spellings `aliases`)."""

        def decorator(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._builders and self._builders[name] is not builder:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._builders[name] = builder
            doc = description or (builder.__doc__ or "").strip().split("\n")[0]
            self._descriptions[name] = doc
            for alias in aliases:
                if self._aliases.get(alias, name) != name or alias in self._builders:
                    raise ValueError(f"{self.kind} alias '{alias}' is taken")
                self._aliases[alias] = name
            return builder

        return decorator

    def canonical(self, name: str) -> str:
        """The registered name `name` stands for (itself unless it is an alias)."""
        return self._aliases.get(name, name)

    def aliases(self) -> Dict[str, str]:
        """Older spellings still accepted: alias -> registered name."""
        return dict(self._aliases)

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
        return self.canonical(name) in self._builders

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> Callable[..., T]:
        """Return the builder for `name`, a registered short name or a `file.py:NAME` / `module:NAME` spec."""
        self._load_entry_points()
        if self.canonical(name) in self._builders:
            return self._builders[self.canonical(name)]
        if ":" in name:
            try:
                return load_object(name)
            except FileImportError:
                raise  # a broken file never falls back to a built-in entry of the same name
            except UnknownNameError:
                attr = name.rpartition(":")[2]
                if self.canonical(attr) in self._builders:  # the file registered it under that name
                    return self._builders[self.canonical(attr)]
                raise
        raise UnknownNameError(f"unknown {self.kind} '{name}'{self.suggest(name)} (known: {', '.join(self.names())})")

    def suggest(self, name: str) -> str:
        """"; did you mean 'X'?" for the closest registered name or alias (difflib), else ""."""
        candidates = self.names() + sorted(self._aliases)
        lowered = {c.lower().replace("_", "-"): c for c in candidates}
        close = difflib.get_close_matches(name.lower().replace("_", "-"), list(lowered), n=1, cutoff=0.6)
        return f"; did you mean '{self.canonical(lowered[close[0]])}'?" if close else ""


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
        try:
            spec_obj.loader.exec_module(module)
        except Exception as exc:  # the user's file: any failure is one line naming it
            del sys.modules[mod_name]
            hint = (" (a file outside the package imports sambench's modules absolutely: "
                    "'from sambench.datasets.base import ...', not 'from .base import ...')"
                    if isinstance(exc, ImportError) and "relative import" in str(exc) else "")
            raise FileImportError(f"{path}: could not be imported: {type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else ''}{hint}") from None
    else:
        module = importlib.import_module(target)
    if not hasattr(module, attr):
        defined = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                         and getattr(v, "__module__", None) == module.__name__)
        raise UnknownNameError(f"{target}: defines no '{attr}' (it defines: {', '.join(defined) or 'nothing callable'})")
    return getattr(module, attr)


def code_provenance(obj) -> Optional[dict]:
    """``{"module", "file", "sha256"}`` of the source file defining ``obj`` (a user's model builder or
    dataset class), or None when it has no file: edited code is different code in a run's config."""
    import inspect

    from sambench.hashing import sha256_file

    target = getattr(obj, "func", obj)  # functools.partial builders
    module = getattr(target, "__module__", None) or ""
    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None) if mod is not None else None
    if path is None:
        try:
            path = inspect.getsourcefile(target)
        except TypeError:
            path = None
    if not path:
        return None
    return {"module": module, "file": str(path), "sha256": sha256_file(path)}
