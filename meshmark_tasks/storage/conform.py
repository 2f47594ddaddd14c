"""Make a DataFrame or Arrow table match a table's schema, or say exactly what is wrong.

Rules (docs/data-model.md "Writing"): missing nullable columns become nulls, types are cast
safely (no silent truncation or overflow), run_id/run_date are set from the arguments, and an
unknown column, an uncastable value or a null in a non-nullable column is a StoreError naming the
table, the column and, where the row can be found, its cell_id.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, TypeAlias

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from meshmark_tasks.errors import StoreError
from meshmark_tasks.schemas import TABLES

ArrowColumn: TypeAlias = pa.Array | pa.ChunkedArray


def table_schema(table: str) -> pa.Schema:
    try:
        return TABLES[table]
    except KeyError:
        raise StoreError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}") from None


def conform(table: str, data: pd.DataFrame | pa.Table, *, run_id: str, run_date: datetime.date) -> pa.Table:
    """`data` as a table with exactly `TABLES[table]` (fields, order, types, metadata)."""
    schema = table_schema(table)
    if not isinstance(run_date, datetime.date) or isinstance(run_date, datetime.datetime):
        raise StoreError(f"{table}: run_date must be a datetime.date, got {run_date!r}")
    columns, num_rows = _columns_of(table, data)
    unknown = [name for name in columns if schema.get_field_index(name) < 0]
    if unknown:
        raise StoreError(
            f"{table}: unknown column(s) {', '.join(map(repr, unknown))}; the schema has "
            f"{', '.join(schema.names)}"
        )
    cell_ids = _cell_id_lookup(columns)
    arrays: list[ArrowColumn] = []
    for field in schema:
        if field.name in ("run_id", "run_date"):
            value: object = run_id if field.name == "run_id" else run_date
            if field.name in columns:
                _check_constant(table, field, columns[field.name], value, cell_ids)
            arrays.append(pa.repeat(pa.scalar(value, type=field.type), num_rows))
            continue
        if num_rows == 0:
            # No values to check or cast: an empty column (often untyped, e.g. from an empty
            # DataFrame of a run where every cell failed) is the field's empty array.
            arrays.append(pa.array([], type=field.type))
            continue
        if field.name not in columns:
            if not field.nullable and num_rows:
                raise StoreError(f"{table}: required column {field.name!r} is missing")
            arrays.append(pa.nulls(num_rows, type=field.type))
            continue
        array = _to_type(table, field, columns[field.name], cell_ids)
        if not field.nullable and array.null_count:
            first = pc.index(pc.is_null(array), True).as_py()
            raise StoreError(f"{table}: column {field.name!r} is null{_where(cell_ids, first)}")
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=schema)


def _columns_of(table: str, data: pd.DataFrame | pa.Table) -> tuple[dict[str, Any], int]:
    """Column name -> pandas Series or Arrow column, and the row count."""
    if isinstance(data, pa.Table):
        names = data.column_names
        if len(set(names)) != len(names):
            raise StoreError(f"{table}: duplicate column names in {names}")
        return {name: data.column(name) for name in names}, data.num_rows
    if isinstance(data, pd.DataFrame):
        bad = [name for name in data.columns if not isinstance(name, str)]
        if bad:
            raise StoreError(f"{table}: column names must be strings, got {bad!r}")
        if data.columns.has_duplicates:
            raise StoreError(f"{table}: duplicate column names in {list(data.columns)}")
        return {name: data[name] for name in data.columns}, len(data)
    raise StoreError(f"{table}: expected a pandas DataFrame or pyarrow Table, got {type(data).__name__}")


def _cell_id_lookup(columns: dict[str, Any]) -> Callable[[int], str | None]:
    """Row index -> cell_id of that row (None where the table has no usable cell_id)."""
    column = columns.get("cell_id")

    def lookup(row: int) -> str | None:
        if column is None:
            return None
        try:
            value = column.iloc[row] if isinstance(column, pd.Series) else column[row].as_py()
        except (IndexError, pa.ArrowException):
            return None
        return None if value is None or (isinstance(value, float) and value != value) else str(value)

    return lookup


def _where(cell_ids: Callable[[int], str | None], row: int | None) -> str:
    if row is None or row < 0:
        return ""
    cell = cell_ids(row)
    return f" in row {row} (cell_id {cell!r})" if cell is not None else f" in row {row}"


def _to_type(table: str, field: pa.Field, column: Any, cell_ids: Callable[[int], str | None]) -> ArrowColumn:
    target = field.type
    if isinstance(column, pd.Series):
        try:
            return pa.array(column, type=target, from_pandas=True)
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            pass  # fall through: convert without a type, then find the row with Arrow's cast
        try:
            column = pa.array(column, from_pandas=True)
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            values = column.tolist()
            row = _first_bad_python_value(values, target)
            detail = f": value {values[row]!r}" if row is not None else ""
            raise StoreError(
                f"{table}: column {field.name!r} cannot be converted to {target}"
                f"{_where(cell_ids, row)}{detail}"
            ) from None
    if column.type == target:
        return column
    try:
        return pc.cast(column, options=_cast_options(target))
    except (pa.ArrowException, ValueError, TypeError) as exc:
        row = _first_bad_arrow_row(column, target)
        value = column[row].as_py() if row is not None else None
        detail = f": value {value!r}" if row is not None else f": {exc}"
        raise StoreError(
            f"{table}: column {field.name!r} of type {column.type} cannot be cast to {target}"
            f"{_where(cell_ids, row)}{detail}"
        ) from None


def _first_bad_arrow_row(column: ArrowColumn, target: pa.DataType) -> int | None:
    """Bisect to the first row whose cast fails: O(log n) casts, only on the error path."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    lo, hi = 0, len(column)
    if not _cast_fails(column, target):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _cast_fails(column.slice(lo, mid - lo), target):
            hi = mid
        else:
            lo = mid
    return lo


def _cast_options(target: pa.DataType) -> pc.CastOptions:
    """Safe casts (no overflow, no lost fractions), except that sub-microsecond digits of a time
    stamp may go: the schema stores microseconds, and a nanosecond pandas clock is no data error."""
    options = pc.CastOptions.safe(target)
    if pa.types.is_timestamp(target):
        options.allow_time_truncate = True
    return options


def _cast_fails(column: pa.Array, target: pa.DataType) -> bool:
    try:
        pc.cast(column, options=_cast_options(target))
    except (pa.ArrowException, ValueError, TypeError):
        return True
    return False


def _first_bad_python_value(values: list[object], target: pa.DataType) -> int | None:
    for row, value in enumerate(values):
        try:
            pa.array([value], type=target, from_pandas=True)
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            return row
    return None


def _check_constant(
    table: str, field: pa.Field, column: Any, expected: object, cell_ids: Callable[[int], str | None]
) -> None:
    """A run_id/run_date column handed in must agree with the argument (nulls are filled)."""
    array = _to_type(table, field, column, cell_ids)
    differs = pc.fill_null(pc.not_equal(array, pa.scalar(expected, type=field.type)), False)
    if pc.any(differs).as_py():
        row = pc.index(differs, True).as_py()
        raise StoreError(
            f"{table}: column {field.name!r} holds {array[row].as_py()!r}{_where(cell_ids, row)}, "
            f"but the write is for {field.name} {expected!r}"
        )
