"""`meshmark score CELLS.jsonl [--slo-p99-ms MS] [--weights FILE]`: MeshMark of hand-made cells.

Each line of CELLS.jsonl is one cell (a JSON object): the MESHMARK.md inputs plus mesh, is_baseline,
requested_qps (a number, or null / "max" for unthrottled), connections, payload_bytes, protocol;
cell_id (generated from the load point when absent), repetition (default 0), run_id, run_date,
mesh_kind, network_functions and slo_p99_ms are optional. Other `results` columns are accepted and
ignored; any other key is an error (a misspelt field would otherwise silently null an MUE).

Prints one JSON object: {"cells": [per-cell MeshMark rows], "configs": [per-mesh aggregates],
"load_points": [per mesh and load point: medians with 95 % CIs, deltas vs the baseline paired by
repetition, with p-values]}, with null wherever a value is not computable (every CI and p-value
with one repetition).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from meshmark_tasks.documents import iter_json_lines, load_yaml
from meshmark_tasks.errors import InputFileError, MeshmarkError
from meshmark_tasks.input_files import read_input_text, read_stream_text
from meshmark_tasks.matrix import cell_id_for
from meshmark_tasks.profile import MAX_CONNECTIONS, MAX_PAYLOAD_BYTES, Protocol
from meshmark_tasks.result import ORDERED_LATENCY_FIELDS, latency_order_problem
from meshmark_tasks.scoring.errors import ScoringInputError

# pandas, pyarrow and the scoring engine are imported inside the handler: `meshmark --help` imports
# every sub-command module and should not pay for them.

NonNegative = Field(default=None, ge=0)
# Counts are stored as Arrow int64; a larger one cannot be stored or compared exactly.
MAX_COUNT = 2**63 - 1


class CellLine(BaseModel):
    """One line of the cells file. Strict: "1.5" is not a number, true is not an integer, and
    NaN/Infinity are not numbers (the JSON reader refuses the literals; this covers callers that
    hand over Python floats)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    cell_id: str | None = None
    run_id: str | None = None
    run_date: datetime.date | None = Field(default=None, strict=False)  # "YYYY-MM-DD"
    mesh: str = Field(min_length=1)
    mesh_kind: str | None = None
    network_functions: str | list[str] | None = None
    is_baseline: bool
    requested_qps: float | None = Field(gt=0)
    connections: int = Field(ge=1, le=MAX_CONNECTIONS)
    payload_bytes: int = Field(ge=0, le=MAX_PAYLOAD_BYTES)
    protocol: Protocol
    repetition: int = Field(default=0, ge=0, le=1000)
    actual_qps: float = Field(ge=0)
    requests_total: int = Field(ge=0, le=MAX_COUNT)
    errors_total: int = Field(ge=0, le=MAX_COUNT)
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

    @model_validator(mode="after")
    def _consistent(self) -> CellLine:
        if self.errors_total > self.requests_total:
            raise ValueError(
                f"errors_total: {self.errors_total} exceeds requests_total {self.requests_total}"
            )
        problem = latency_order_problem({f: getattr(self, f) for f in ORDERED_LATENCY_FIELDS})
        if problem is not None:  # p50 above p99 would score as a better latency than it is
            raise ValueError(problem)
        return self


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
    kind = error["type"]
    if not loc:  # a check across fields; its message names them
        return str(error["msg"]).removeprefix("Value error, ")
    field = str(loc[0])
    if kind == "missing":
        return f"{field}: required field missing"
    if kind == "extra_forbidden":
        return f"{field}: unknown field"
    expected = _EXPECTED.get(kind, error["msg"])
    return f"{field}: {expected}, got {error['input']!r}"


def parse_cells_file(path: str, text: str, default_slo_p99_ms: float | None) -> list[dict[str, Any]]:
    """Validated cell rows; the first bad line raises ScoringInputError naming file, line and field."""
    ignored = _ignored_keys()
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str | None, str], int] = {}
    lines = iter_json_lines(text, path)  # a repeated key, NaN or Infinity is an error naming the line
    while True:
        try:
            number, data = next(lines)
        except StopIteration:
            break
        except InputFileError as exc:
            raise ScoringInputError(str(exc)) from None
        where = f"{path}:{number}"
        data = {k: v for k, v in data.items() if k not in ignored}
        try:
            line = CellLine.model_validate(data)
        except ValidationError as exc:
            raise ScoringInputError(f"{where}: " + "; ".join(_describe(e) for e in exc.errors())) from None
        row = line.model_dump()
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
        data = load_yaml(read_input_text(path), path)  # JSON is YAML, so one parser reads both
    except InputFileError as exc:
        raise ScoringInputError(f"{exc.source}: cannot read weights: {exc.problem}") from None
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
    try:
        if value is None or value != value:  # NaN-like
            return None
    except TypeError:  # pd.NA: its truth value is ambiguous
        return None
    return value


def _check_finite(frame: Any, source: str) -> None:
    """The engine turns zero denominators into null; an infinity can only be an overflow of
    extreme inputs (1e308 bytes, 1e-308 QPS), which JSON cannot carry either."""
    import numpy as np

    numbers = frame.select_dtypes("number")
    infinite = np.isinf(numbers.to_numpy(dtype="float64"))
    if infinite.any():
        row, column = (int(i[0]) for i in np.nonzero(infinite))
        name = numbers.columns[column]
        raise ScoringInputError(
            f"{source}: cell {frame['cell_id'].iloc[row]}: {name} overflows to "
            f"{numbers.iloc[row, column]}: the inputs are too extreme to score"
        )


def _records(frame: Any) -> list[dict[str, Any]]:
    return [
        {column: _json_value(value) for column, value in zip(frame.columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _score(args: argparse.Namespace) -> int:
    weights = load_weights_file(args.weights) if args.weights else {}
    if args.slo_p99_ms is not None and not (math.isfinite(args.slo_p99_ms) and args.slo_p99_ms > 0):
        raise ScoringInputError(f"--slo-p99-ms: must be a positive number, got {args.slo_p99_ms}")
    source = "<stdin>" if args.cells == "-" else args.cells
    try:  # at most MESHMARK_MAX_INPUT_BYTES, whatever the file (or stdin) holds
        text = read_stream_text(sys.stdin.buffer, source) if args.cells == "-" else read_input_text(source)
    except InputFileError as exc:
        raise ScoringInputError(f"{exc.source}: cannot read cells: {exc.problem}") from None
    rows = parse_cells_file(source, text, args.slo_p99_ms)
    if not rows:
        raise ScoringInputError(f"{args.cells}: no cells (the file has no JSON lines)")
    import numpy as np

    from meshmark_tasks.scoring import aggregate_by_config, score_cells, summarise_load_points

    frame = _frame_from_rows(rows)
    # An overflow is reported below as one line naming the cell, not as numpy warnings.
    with np.errstate(over="ignore"):
        try:
            scored = score_cells(frame, weights=weights)
        except MeshmarkError as exc:
            raise ScoringInputError(f"{args.cells}: {exc}") from None
        configs = aggregate_by_config(scored)
        load_points = summarise_load_points(scored, frame)
    _check_finite(scored, args.cells)
    _check_finite(configs, args.cells)
    # A ratio of extreme inputs can overflow to inf; it is not computable, like a zero denominator.
    load_points = load_points.replace([np.inf, -np.inf], np.nan)
    document = {"cells": _records(scored), "configs": _records(configs), "load_points": _records(load_points)}
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
