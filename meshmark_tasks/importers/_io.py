"""Reading import files: bytes → text → JSON/YAML, with every failure an ImportParseError.

The bounded read (size cap, `MESHMARK_MAX_INPUT_BYTES`) and the strict JSON/YAML parsers (a key
given twice is refused, as are NaN/Infinity literals) are the shared ones of `input_files.py` and
`documents.py`; this module turns their `InputFileError` into the importers' `ImportParseError`
and adds what is specific to a file handed over for import: an empty file, a binary file named by
its kind (gzip, zip, Parquet, …), and non-UTF-8 text located by its line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

from meshmark_tasks import documents
from meshmark_tasks.documents import json_type
from meshmark_tasks.errors import InputFileError
from meshmark_tasks.importers.model import ImportParseError
from meshmark_tasks.input_files import read_input_bytes

# Magic numbers of files people hand over by mistake, to say what they are instead of "not UTF-8".
_BINARY_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "a gzip file (decompress it first)"),
    (b"PK\x03\x04", "a zip archive"),
    (b"PAR1", "a Parquet file"),
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
)


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, read with the input size cap; unreadable or too large is an ImportParseError."""
    try:
        return read_input_bytes(path)
    except InputFileError as exc:
        raise ImportParseError(exc.source, exc.problem) from None


def decode_text(data: bytes, source: str) -> str:
    """UTF-8 text (a leading BOM is dropped); binary or non-UTF-8 input names the line."""
    if not data.strip():
        raise ImportParseError(source, "empty file")
    for magic, kind in _BINARY_KINDS:
        if data.startswith(magic):
            raise ImportParseError(source, f"is {kind}, not a text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportParseError(
            source, f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}", line=line
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ImportParseError(source, "contains NUL bytes: binary data, not text", line=line)
    return text


def load_json(text: str, source: str) -> Any:
    """The JSON value of `text` (documents.load_json: repeated keys and NaN/Infinity refused)."""
    try:
        return documents.load_json(text, source)
    except InputFileError as exc:
        raise ImportParseError(exc.source, exc.problem) from None


def load_yaml(text: str, source: str) -> Any:
    """The YAML document in `text` (documents.load_yaml: safe types only, repeated keys refused)."""
    try:
        return documents.load_yaml(text, source)
    except InputFileError as exc:
        raise ImportParseError(exc.source, exc.problem) from None


# -- typed access to a parsed document, every failure naming the field's path ---------------------


def path_of(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


class Fields:
    """Typed getters over one document; `fail` raises an ImportParseError naming the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, problem: str) -> NoReturn:
        raise ImportParseError(self.source, problem, field=field or None)

    def obj(self, value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(field, f"expected an object, got {json_type(value)}")
        return value

    def array(self, value: Any, field: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(field, f"expected an array, got {json_type(value)}")
        return value

    def string(self, value: Any, field: str) -> str:
        if not isinstance(value, str):
            self.fail(field, f"expected a string, got {json_type(value)} {value!r}")
        return value

    def optional_string(self, value: Any, field: str) -> str | None:
        return None if value is None else self.string(value, field)

    def boolean(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            self.fail(field, f"expected true or false, got {json_type(value)} {value!r}")
        return value

    def number(
        self, value: Any, field: str, *, allow_str: bool = False, minimum: float | None = 0.0
    ) -> float:
        """A finite number (>= `minimum` unless None); `allow_str` takes "12.5" (proto3 JSON int64)."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.fail(field, f"expected a number, got {json_type(value)} {value!r}")
        if isinstance(value, str):
            if not allow_str:
                self.fail(field, f"expected a number, got string {value!r}")
            try:
                parsed = float(Decimal(value.strip()))
            except (InvalidOperation, ValueError):
                self.fail(field, f"expected a number, got string {value!r}")
        else:
            try:
                parsed = float(value)
            except OverflowError:
                self.fail(field, f"number too large: {str(value)[:30]}")
        if not math.isfinite(parsed):
            self.fail(field, f"expected a finite number, got {value!r}")
        if minimum is not None and parsed < minimum:
            self.fail(field, f"must be >= {minimum:g}, got {value!r}")
        return parsed

    def count(self, value: Any, field: str, *, allow_str: bool = False) -> int:
        """A non-negative whole number that fits int64."""
        parsed = self.number(value, field, allow_str=allow_str)
        if parsed != int(parsed):
            self.fail(field, f"expected a whole number, got {value!r}")
        exact = int(Decimal(value.strip())) if isinstance(value, str) else int(value)
        if exact > 2**63 - 1:
            self.fail(field, f"too large for a count: {exact}")
        return exact

    def timestamp(self, value: Any, field: str) -> datetime:
        return parse_timestamp(value, lambda problem: self.fail(field, problem))

    def date(self, value: Any, field: str) -> date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value  # YAML reads an unquoted 2026-11-26 as a date
        text = self.string(value, field)
        try:
            return date.fromisoformat(text)
        except ValueError:
            self.fail(field, f"not a date (YYYY-MM-DD): {text!r}")


def parse_timestamp(value: Any, fail: Callable[[str], NoReturn]) -> datetime:
    """An RFC 3339 time stamp with a UTC offset (digits past microseconds are dropped) as UTC."""
    if isinstance(value, datetime):  # YAML reads unquoted time stamps itself
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            fail(f"not an RFC 3339 time stamp: {value!r}")
    else:
        fail(f"expected an RFC 3339 time stamp string, got {json_type(value)} {value!r}")
    if parsed.tzinfo is None:
        fail(f"time stamp without a UTC offset: {value!r}")
    return parsed.astimezone(UTC)
