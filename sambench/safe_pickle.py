"""Reading pickle files that hold only data, without ever running code from them.

Some official annotation files are Python pickles (RefCOCO's ``refs(unc).p``, written by Python 2's
``cPickle``). ``pickle.load`` on such a file can call any importable function the file names
(``os.system``, ``subprocess.Popen``, ``builtins.eval`` ...): the pickle format looks callables up
by module and name (opcodes GLOBAL, STACK_GLOBAL, INST, and the copyreg extension codes, all of which
go through ``Unpickler.find_class``) and calls them with REDUCE / NEWOBJ / OBJ / BUILD.

:func:`load_data_pickle` uses an unpickler whose ``find_class`` refuses every lookup, so no
callable can ever reach the unpickler's stack and a pickle can only build what the format builds
by itself: ``dict``, ``list``, ``tuple``, ``set``, ``frozenset``, ``str``, ``bytes``, ``bytearray``,
``int``, ``float``, ``complex``, ``bool`` and ``None``. Persistent ids (``persistent_load``) and
out-of-band buffers are refused too. The result is checked once more to hold only those types.
Python's own pickler spells a few plain types as calls at protocols 0-2 (``builtins.set``,
``builtins.frozenset``, ``builtins.bytearray``, ``builtins.complex``, and ``_codecs.encode(text,
"latin1")`` for ``bytes``): exactly those lookups are answered, with the type itself or a
``bytes`` builder that accepts nothing but a string and the Latin-1 codec. Every other lookup is
refused. A refused file raises :class:`UnsafePickleError` with one line naming the file and what it asked
for; nothing of the file runs.

Python 2 ``str`` objects (bytes in Python 3) are decoded as UTF-8 and, if that fails, as Latin-1
(``encoding`` in the result says which), as ``pickle.load(..., encoding=...)`` does.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Tuple, Union

PLAIN_TYPES = (dict, list, tuple, set, frozenset, str, bytes, bytearray, int, float, complex, bool, type(None))
"""The only types a data pickle may produce."""


class UnsafePickleError(ValueError):
    """A pickle that asks for anything but plain containers and scalars (one line naming the file)."""


def _latin1_bytes(text, encoding="latin1"):
    """``_codecs.encode`` as protocols 0-2 use it for ``bytes``: a str and the Latin-1 codec, nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "latin_1"):
        raise UnsafePickleError(f"_codecs.encode({type(text).__name__}, {encoding!r}) is not how a bytes object is pickled")
    return text.encode("latin-1")


def _plain_bytearray(source=b"", *encoding):
    """``bytearray`` from bytes or a (str, encoding) pair only (never ``bytearray(n)``: no allocation by count)."""
    if isinstance(source, int):
        raise UnsafePickleError("bytearray(int) is not how a bytearray is pickled")
    return bytearray(source, *encoding)


PLAIN_CONSTRUCTORS = {
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "bytearray"): _plain_bytearray,
    ("builtins", "complex"): complex, ("_codecs", "encode"): _latin1_bytes,
    ("__builtin__", "set"): set, ("__builtin__", "frozenset"): frozenset, ("__builtin__", "bytearray"): _plain_bytearray,
    ("__builtin__", "complex"): complex,
}
"""The only global lookups answered: how the standard pickler spells plain types at protocols 0-2."""


class _DataOnlyUnpickler(pickle.Unpickler):
    """An unpickler that resolves no global but the plain-type constructors of ``PLAIN_CONSTRUCTORS``."""

    def __init__(self, file, source: str, encoding: str):
        super().__init__(file, encoding=encoding, errors="strict")
        self.source = source

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle hook
        allowed = PLAIN_CONSTRUCTORS.get((module, name))
        if allowed is not None:
            return allowed
        raise UnsafePickleError(f"{self.source}: refused to unpickle: it asks for {module}.{name} (only plain "
                                f"containers and scalars are admitted; nothing from the file was run)")

    def persistent_load(self, pid):  # noqa: D401 - pickle hook
        raise UnsafePickleError(f"{self.source}: refused to unpickle: it uses persistent ids (only plain "
                                f"containers and scalars are admitted; nothing from the file was run)")


def _check_plain(obj: Any, source: str) -> None:
    stack = [obj]
    while stack:
        o = stack.pop()
        if type(o) not in PLAIN_TYPES:
            raise UnsafePickleError(f"{source}: refused: the pickle holds a {type(o).__name__} (only plain "
                                    f"containers and scalars are admitted)")
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            stack.extend(o)


def loads_data_pickle(data: bytes, source: str = "<bytes>") -> Tuple[Any, str]:
    """Unpickle ``data`` admitting only plain containers and scalars.

    Arguments:
      data: the pickle bytes (any protocol 0-5).
      source: a name for error messages (the file).
    Returns:
      (object, encoding used for Python 2 strings: "utf-8" or "latin-1").
    Raises:
      UnsafePickleError: the pickle asks for a class, a function or a persistent object.
      ValueError: the bytes are not a readable pickle (one line naming ``source``).
    """
    last_error = None
    for encoding in ("utf-8", "latin-1"):
        try:
            obj = _DataOnlyUnpickler(io.BytesIO(data), source, encoding).load()
        except UnsafePickleError:
            raise
        except UnicodeDecodeError as exc:  # a Python 2 str that is not UTF-8: retry as Latin-1
            last_error = exc
            continue
        except Exception as exc:  # truncated or not a pickle at all
            detail = str(exc).splitlines()[0] if str(exc) else ""
            raise ValueError(f"{source}: not a readable pickle ({type(exc).__name__}: {detail})") from exc
        _check_plain(obj, source)
        return obj, encoding
    raise ValueError(f"{source}: not a readable pickle ({last_error})")


def load_data_pickle(path: Union[str, Path]) -> Any:
    """Read a pickle file holding only data (see the module docstring); returns the object.

    Raises:
      UnsafePickleError: refused (a class, function or persistent object was asked for); nothing ran.
      FileNotFoundError / ValueError: missing or unreadable file (one line naming it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pickle file not found")
    obj, _ = loads_data_pickle(path.read_bytes(), str(path))
    return obj
