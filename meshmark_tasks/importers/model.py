"""What every importer yields: runs shaped like the store's tables, and the error it raises.

An `ImportedRun` is one run as the nightly pipeline would have produced it: `results` rows and
`quarantine` rows with the columns of `schemas.RESULTS` / `schemas.QUARANTINE` (without `run_id`
and `run_date`, which the store sets from the run), plus the raw output of each cell so that the
import step can keep it with `DatasetStore.put_raw`. Nothing here touches a store: writing,
validating and scoring are the import command's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.schemas import QUARANTINE, RESULTS

# Set for the whole run when it is written (pipeline/run_columns.py), not per imported row.
_RUN_COLUMNS = ("run_id", "run_date", "run_ts")
_RUN_LEVEL_QUARANTINE = (*_RUN_COLUMNS, "profile", "backend", "reasons_text")
RESULT_COLUMNS: tuple[str, ...] = tuple(f.name for f in RESULTS if f.name not in _RUN_COLUMNS)
QUARANTINE_COLUMNS: tuple[str, ...] = tuple(f.name for f in QUARANTINE if f.name not in _RUN_LEVEL_QUARANTINE)


class ImportParseError(MeshmarkError):
    """A file handed to an importer is not what its format says; names the file and the place.

    `line`/`column` locate a CSV cell (or a JSON/YAML syntax error), `field` a path in a document
    (`results[2].runner_results.StartTime`).
    """

    def __init__(
        self,
        source: str,
        problem: str,
        *,
        line: int | None = None,
        column: str | None = None,
        field: str | None = None,
    ) -> None:
        where = []
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        if field:
            where.append(field)
        prefix = f"{source}: {', '.join(where)}: " if where else f"{source}: "
        super().__init__(prefix + problem)
        self.source = source
        self.problem = problem
        self.line = line
        self.column = column
        self.field = field


@dataclass(frozen=True)
class RawOutput:
    """A cell's raw measurement as the source file held it, for `DatasetStore.put_raw(…, ext)`."""

    data: bytes
    ext: str


@dataclass(frozen=True)
class ImportedRun:
    """One run read from a foreign (or exported) file.

    `backend` says where the run came from (`import:meshery`, `import:istio-csv`, `import:smp`);
    the rows' own `backend` column is the same except for SMP exports of meshmark runs, which keep
    the backend the run was measured on. `raw` maps a cell id (also of quarantined cells) to its
    raw output; the rows' `raw_path` is None until the import step has stored them.
    `meshmark`/`meshmark_config` hold the scores an SMP export carried, in those tables' columns
    (for reference: the import step scores the results itself).
    """

    run_id: str
    run_date: date
    profile: str | None
    backend: str
    source: str
    results: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    raw: Mapping[str, RawOutput] = field(default_factory=dict)
    name: str | None = None
    meshmark: list[dict[str, Any]] = field(default_factory=list)
    meshmark_config: list[dict[str, Any]] = field(default_factory=list)


def results_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """A full `results` row: every column of the table, None where `values` has none.

    Time stamps are turned to UTC, the zone the table stores them in.
    """
    unknown = set(values) - set(RESULT_COLUMNS)
    if unknown:  # a programming error in an importer, not bad input
        raise ValueError(f"not columns of the results table: {sorted(unknown)}")
    row = {name: values.get(name) for name in RESULT_COLUMNS}
    for name in ("start_time", "end_time"):
        value = row[name]
        if isinstance(value, datetime):
            row[name] = value.astimezone(UTC)
    return row


def quarantine_row(
    *, cell_id: str | None, mesh: str | None, stage: str, reasons: list[str], row_json: str | None
) -> dict[str, Any]:
    """A `quarantine` row; raw_path is filled in when the raw output has been stored."""
    return {
        "cell_id": cell_id,
        "mesh": mesh,
        "stage": stage,
        "reasons": list(reasons),
        "row_json": row_json,
        "raw_path": None,
    }
