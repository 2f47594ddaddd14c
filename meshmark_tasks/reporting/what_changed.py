"""What changed on the night a change point starts: the measurement's descriptors against the night
before, per mesh configuration (profile, backend, mesh kind, network functions, load generator and
its version, and image/version columns when the results carry them; history.is_descriptor_column).

A change point says *that* a level moved; this says what the people running the nightly changed
that night, when they changed something the results record. An empty list means nothing recorded
changed: the cause is outside what the results describe (the machine, the network, the code of an
image whose tag stayed the same).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from meshmark_tasks.reporting.history import is_descriptor_column

NightKey = tuple[str, int]  # mesh, run_seq


def descriptors_by_night(repetitions: pd.DataFrame) -> dict[NightKey, dict[str, Any]]:
    """(mesh, run_seq) → {descriptor: value}; several values in one night are joined sorted."""
    columns = [c for c in repetitions.columns if is_descriptor_column(c)]
    if repetitions.empty or not columns:
        return {}
    out: dict[NightKey, dict[str, Any]] = {}
    for (mesh, seq), rows in repetitions.groupby(["mesh", "run_seq"], sort=True):
        out[(str(mesh), int(seq))] = {c: _value(rows[c]) for c in columns}
    return out


def _value(column: pd.Series) -> Any:
    found = sorted({str(v) for v in column.dropna()})
    if not found:
        return None
    return found[0] if len(found) == 1 else ", ".join(found)


def what_changed(descriptors: dict[NightKey, dict[str, Any]], mesh: str, night: int) -> list[dict[str, Any]]:
    """[{field, before, after}] for the descriptors of `mesh` that differ between `night` and the
    mesh's previous measured night; [] when none differs or there is no earlier night. For a series
    over all meshes' load points (MeshMark per mesh configuration) `mesh` is still the mesh."""
    after = descriptors.get((mesh, night))
    if after is None:
        return []
    earlier = [seq for (m, seq) in descriptors if m == mesh and seq < night]
    if not earlier:
        return []
    before = descriptors[(mesh, max(earlier))]
    return [
        {"field": field, "before": before.get(field), "after": value}
        for field, value in after.items()
        if before.get(field) != value
    ]
