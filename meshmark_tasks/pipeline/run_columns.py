"""The run-level columns of a run's tables and its `runs` row (docs/data-model.md, schema version 2).

Scoring and validation work per cell; what describes the run itself (when it started, which profile
and backend, the currency of its prices, how many load points each configuration was planned and
scored at) is set here, once, for every table a run writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from meshmark_tasks.schemas import REASONS_SEPARATOR

if TYPE_CHECKING:
    import pandas as pd

    from meshmark_tasks.matrix import Cell


@dataclass(frozen=True)
class RunContext:
    """What every row of a run shares."""

    run_ts: datetime
    profile: str | None
    backend: str | None
    currency: str | None = None

    @classmethod
    def of(cls, run_fields: Mapping[str, Any], run_ts: datetime | None, results: pd.DataFrame) -> RunContext:
        """`run_ts` as given; else the first measured window's start (an import); else now."""
        import pandas as pd

        if run_ts is None and "start_time" in results and results["start_time"].notna().any():
            run_ts = pd.Timestamp(results["start_time"].min()).to_pydatetime()
        when = run_ts or datetime.now(UTC)
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        return cls(when, run_fields.get("profile"), run_fields.get("backend"), run_fields.get("currency"))


def planned_load_points(cells: Iterable[Cell]) -> dict[str, int]:
    """Mesh -> number of distinct load points (QPS, connections, payload, protocol) planned."""
    points: dict[str, set[tuple[Any, ...]]] = {}
    for c in cells:
        points.setdefault(c.mesh, set()).add((c.requested_qps, c.connections, c.payload_bytes, c.protocol))
    return {mesh: len(found) for mesh, found in points.items()}


def with_run_columns(
    frames: dict[str, pd.DataFrame],
    context: RunContext,
    load_points: Mapping[str, int] | None,
) -> dict[str, pd.DataFrame]:
    """Copies of the run's frames with the run-level columns set (the store orders the columns)."""
    out = {name: frame.copy() for name, frame in frames.items()}
    shared = {"run_ts": context.run_ts, "profile": context.profile, "backend": context.backend}
    for frame in out.values():
        for column, value in shared.items():
            if column not in frame.columns or frame[column].isna().all():
                frame[column] = value
    out["meshmark"]["cost_currency"] = context.currency
    quarantine = out["quarantine"]
    if "reasons" in quarantine.columns:
        quarantine["reasons_text"] = [REASONS_SEPARATOR.join(r) for r in quarantine["reasons"]]
    configs = out["meshmark_config"]
    if load_points is not None and len(configs):
        planned = configs["mesh"].map(lambda mesh: load_points.get(str(mesh), 0)).astype("int64")
        configs["load_points_planned"] = planned
        configs["partial"] = configs["load_points_scored"] < planned
    return out


def runs_row(
    summary: Mapping[str, Any],
    context: RunContext,
    results: pd.DataFrame,
    *,
    run_date: date,
    images: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The run's row of the `runs` table, from its summary and its results."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        own_version: str | None = version("meshmark")
    except PackageNotFoundError:
        own_version = None
    generators: dict[str, str] = {}
    if "load_generator" in results.columns:
        for tool, tool_version in zip(
            results["load_generator"],
            results.get("load_generator_version", [None] * len(results)),
            strict=True,
        ):
            if isinstance(tool, str):
                generators[tool] = tool_version if isinstance(tool_version, str) else ""
    tools = {"meshmark": own_version or "", **generators}
    return {
        "run_date": run_date,
        "run_ts": context.run_ts,
        "profile": context.profile,
        "backend": context.backend,
        "data_quality": summary["data_quality"],
        "cells_planned": summary["cells_planned"],
        "cells_scored": summary["cells_scored"],
        "cells_quarantined": summary["cells_quarantined"],
        "meshes_fully_quarantined": ",".join(sorted(summary.get("meshes_fully_quarantined") or [])),
        "load_generator": ",".join(sorted(generators)) or None,
        "load_generator_version": ",".join(v for _, v in sorted(generators.items()) if v) or None,
        "tool_versions": ",".join(f"{k}={v}" for k, v in sorted(tools.items())),
        "images": ",".join(f"{k}={v}" for k, v in sorted((images or {}).items())) or None,
        "meshmark_version": own_version,
        "written_at": datetime.now(UTC),
    }
