"""Seeds derived from ids, so random choices do not depend on process count, sharding or resume."""

from __future__ import annotations

import zlib


def stable_seed(*parts) -> int:
    """A seed from ids, the same in every process and run (Python's ``hash()`` is salted).

    Arguments:
      parts: anything with a stable ``str()`` (seed, dataset name, image id, mask id ...).

    Returns:
      an int in [0, 2**32): the CRC-32 of the parts joined by "/".
    """
    return zlib.crc32("/".join(str(p) for p in parts).encode())
