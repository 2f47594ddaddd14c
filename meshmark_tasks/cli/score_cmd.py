"""`meshmark score CELLS.jsonl [--slo-p99-ms MS] [--weights FILE]`: MeshMark of hand-made cells.

Each line of CELLS.jsonl is one cell (a JSON object): the MESHMARK.md inputs plus mesh, is_baseline,
requested_qps (a number, or null / "max" for unthrottled), connections, payload_bytes, protocol;
cell_id (generated from the load point when absent), repetition (default 0), run_id, run_date,
mesh_kind, network_functions and slo_p99_ms are optional. Other `results` columns are accepted and
ignored; any other key is an error (a misspelt field would otherwise silently null an MUE).

Prints one JSON object: {"cells": [per-cell MeshMark rows], "configs": [per-mesh aggregates]}, with
null wherever a value is not computable.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.matrix import cell_id_for
from meshmark_tasks.profile import Protocol
from meshmark_tasks.scoring.errors import ScoringInputError

# pandas, pyarrow and the scoring engine are imported inside the handler: `meshmark --help` imports
# every sub-command module and should not pay for them.

NonNegative = Field(default=None, ge=0)


class CellLine(BaseModel):
    """One line of the cells file. Strict: "1.5" is not a number, true is not an integer."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    cell_id: str | None = None
    run_id: str | None = None
    run_date: datetime.date | None = Field(default=None, strict=False)  # "YYYY-MM-DD"
    mesh: str = Field(min_length=1)
    mesh_kind: str | None = None
    network_functions: str | list[str] | None = None
    is_baseline: bool
    requested_qps: float | None = Field(gt=0)
    connections: int = Field(ge=1)
    payload_bytes: int = Field(ge=0)
    protocol: Protocol
    repetition: int = Field(default=0, ge=0)
    actual_qps: float = Field(ge=0)
    requests_total: int = Field(ge=0)
    errors_total: int = Field(ge=0)
    latency_ms_min: float | None = NonNegative
    latency_ms_mean: float | None = NonNegative
    latency_ms_p50: float | None = NonNegative
    latency_ms_p75: float | None = NonNegative
    latency_ms_p90: float | None = NonNegative
    latency_ms_p99: float | None = NonNegative
    latency_ms_p999: float | None = NonNegative
    latency_ms_max: float | None = NonNegative
    cpu_cores_app: float | None = NonNegative
    cpu_cores_dataplane: float | None = NonNegative
    cpu_cores_controlplane: float | None = NonNegative
    cpu_cores_assigned: float | None = NonNegative
    mem_bytes_app: float | None = NonNegative
    mem_bytes_dataplane: float | None = NonNegative
    mem_bytes_controlplane: float | None = NonNegative
    mem_bytes_assigned: float | None = NonNegative
    slo_p99_ms: float | None = Field(default=None, gt=0)

    @field_validator("requested_qps", mode="before")
    @classmethod
    def _max_is_unthrottled(cls, value: Any) -> Any:
        return None if value == "max" else value


def _ignored_keys() -> frozenset[str]:
    """`results` columns a line may carry (e.g. a dumped results row) that scoring does not use."""
    from meshmark_tasks import schemas

    return frozenset(schemas.RESULTS.names) - frozenset(CellLine.model_fields)


_EXPECTED = {
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "date_type": "expected a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "expected a date (YYYY-MM-DD)",
    "date_parsing": "expected a date (YYYY-MM-DD)",
    "list_type": "expected a list of strings",
}


def _describe(error: Any) -> str:
    loc = error["loc"]
    field = str(loc[0]) if loc else "<line>"
    kind = error["type"]
    if kind == "missing":
        return f"{field}: required field missing"
    if kind == "extra_forbidden":
        return f"{field}: unknown field"
    expected = _EXPECTED.get(kind, error["msg"])
    return f"{field}: {expected}, got {error['input']!r}"


def parse_cells_file(
    path: str, lines: Iterable[str], default_slo_p99_ms: float | None
) -> list[dict[str, Any]]:
    """Validated cell rows; the first bad line raises ScoringInputError naming file, line and field."""
    ignored = _ignored_keys()
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str | None, str], int] = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScoringInputError(f"{where}: not valid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise ScoringInputError(f"{where}: expected a JSON object, got {type(data).__name__}")
        data = {k: v for k, v in data.items() if k not in ignored}
        try:
            line = CellLine.model_validate(data)
        except ValidationError as exc:
            raise ScoringInputError(f"{where}: " + "; ".join(_describe(e) for e in exc.errors())) from None
        row = line.model_dump()
        if line.errors_total > line.requests_total:
            raise ScoringInputError(
                f"{where}: errors_total: {line.errors_total} exceeds requests_total {line.requests_total}"
            )
        if row["slo_p99_ms"] is None:
            if default_slo_p99_ms is None:
                raise ScoringInputError(f"{where}: slo_p99_ms: missing (give it on the line or --slo-p99-ms)")
            row["slo_p99_ms"] = default_slo_p99_ms
        if row["cell_id"] is None:
            row["cell_id"] = cell_id_for(
                line.mesh,
                line.requested_qps,
                line.connections,
                line.payload_bytes,
                line.protocol,
                line.repetition,
            )
        if isinstance(row["network_functions"], list):
            row["network_functions"] = ",".join(sorted(row["network_functions"]))
        key = (line.run_id, row["cell_id"])
        if key in seen:
            raise ScoringInputError(f"{where}: cell_id: {row['cell_id']!r} already used on line {seen[key]}")
        seen[key] = number
        rows.append(row)
    return rows


def load_weights_file(path: str) -> dict[str, float]:
    """A YAML or JSON mapping of MUE name -> weight; errors name the file and the key."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScoringInputError(f"{path}: cannot read weights: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)  # JSON is YAML, so one parser reads both
    except yaml.YAMLError as exc:
        raise ScoringInputError(f"{path}: not valid YAML or JSON: {exc}") from None
    if data is None:
        return {}
    from meshmark_tasks.scoring.classes import validate_weights

    return validate_weights(data, source=path)


def _frame_from_rows(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    columns = list(CellLine.model_fields)
    frame = pd.DataFrame.from_records(rows, columns=columns)
    # Columns that are null on every line would come out as object; make the numbers numbers.
    for name, info in CellLine.model_fields.items():
        if info.annotation in (float | None, float):
            frame[name] = pd.to_numeric(frame[name]).astype("float64")
    # Run columns that no line gives are left out, so the output has no empty run columns.
    unused = [name for name in ("run_id", "run_date") if frame[name].isna().all()]
    return frame.drop(columns=unused)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return _json_value(value.item())
    if value is None or value != value:  # pd.NA / NaN-like
        return None
    return value


def _records(frame: Any) -> list[dict[str, Any]]:
    return [
        {column: _json_value(value) for column, value in zip(frame.columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _score(args: argparse.Namespace) -> int:
    weights = load_weights_file(args.weights) if args.weights else {}
    if args.slo_p99_ms is not None and not (math.isfinite(args.slo_p99_ms) and args.slo_p99_ms > 0):
        raise ScoringInputError(f"--slo-p99-ms: must be a positive number, got {args.slo_p99_ms}")
    if args.cells == "-":
        rows = parse_cells_file("<stdin>", sys.stdin, args.slo_p99_ms)
    else:
        try:
            with open(args.cells, encoding="utf-8") as handle:
                rows = parse_cells_file(args.cells, handle, args.slo_p99_ms)
        except OSError as exc:
            raise ScoringInputError(f"{args.cells}: cannot read cells: {exc.strerror or exc}") from None
    if not rows:
        raise ScoringInputError(f"{args.cells}: no cells (the file has no JSON lines)")
    from meshmark_tasks.scoring import aggregate_by_config, score_cells

    frame = _frame_from_rows(rows)
    try:
        scored = score_cells(frame, weights=weights)
    except MeshmarkError as exc:
        raise ScoringInputError(f"{args.cells}: {exc}") from None
    configs = aggregate_by_config(scored)
    document = {"cells": _records(scored), "configs": _records(configs)}
    sys.stdout.write(json.dumps(document, allow_nan=False) + "\n")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "score", help="MeshMark of cells given as JSON lines", description=__doc__.splitlines()[0]
    )
    parser.add_argument("cells", help="JSON-lines file, one cell per line ('-' for stdin)")
    parser.add_argument("--slo-p99-ms", type=float, default=None, help="SLO for lines without slo_p99_ms")
    parser.add_argument("--weights", default=None, help="YAML or JSON mapping of MUE name to weight")
    parser.set_defaults(handler=_score)
