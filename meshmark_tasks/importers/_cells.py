"""Naming imported cells: mesh names made file-name safe, repetitions of a load point.

Cell ids themselves come from `matrix.cell_id_for`, as in a nightly run.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence

# Cell ids name raw files (storage: [A-Za-z0-9][A-Za-z0-9._-]*), so mesh names must fit that too.
_UNSAFE = re.compile(r"[^a-z0-9._-]+")
_MAX_MESH_LEN = 100
# Names other tools give to the no-mesh configuration (compared lower-cased and trimmed).
NO_MESH_NAMES = frozenset({"", "none", "no mesh", "no-mesh", "no_mesh", "nomesh", "baseline"})


def mesh_slug(name: str) -> str | None:
    """`name` lower-cased with runs of other characters turned into "-"; None if nothing is left."""
    slug = _UNSAFE.sub("-", name.strip().lower()).strip("-._")[:_MAX_MESH_LEN]
    return slug or None


def repetitions(keys: Sequence[Hashable]) -> list[int]:
    """0, 1, 2, … per distinct key, in the order given (callers sort by start time first)."""
    seen: dict[Hashable, int] = {}
    out = []
    for key in keys:
        out.append(seen.get(key, 0))
        seen[key] = out[-1] + 1
    return out
