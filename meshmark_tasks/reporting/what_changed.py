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
from meshmark_tasks.stats.values import is_null

NightKey = tuple[str, int]  # mesh, run_seq


def descriptors_by_night(repetitions: pd.DataFrame) -> dict[NightKey, dict[str, Any]]:
    """(mesh, run_seq) → {descriptor: value}; several values in one night are joined sorted."""
    columns = [c for c in repetitions.columns if is_descriptor_column(c)]
    if repetitions.empty or not columns:
        return {}
    # A night's rows almost always share their descriptors: deduplicate before looking at values.
    distinct = repetitions[["mesh", "run_seq", *columns]].astype(object).drop_duplicates()
    found: dict[NightKey, list[set[str]]] = {}
    for mesh, seq, *values in distinct.itertuples(index=False, name=None):
        sets = found.setdefault((str(mesh), int(seq)), [set() for _ in columns])
        for bucket, value in zip(sets, values, strict=True):
            if not is_null(value):
                bucket.add(str(value))
    return {
        key: {c: (", ".join(sorted(v)) if v else None) for c, v in zip(columns, sets, strict=True)}
        for key, sets in found.items()
    }


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
