"""Helpers every adapter shares: strict field access, exact unit conversion, hints, the final model.

Every failure is a `ResultParseError(source, problem)`; the problem text starts with the format
name ("fortio: ...") so a one-line CLI message says which reader rejected which field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from pydantic import ValidationError

from meshmark_tasks.documents import json_type, load_json
from meshmark_tasks.errors import InputFileError, ResultParseError
from meshmark_tasks.result import NormalizedResult

# Counts are stored as Arrow int64.
MAX_COUNT = 2**63 - 1
# Protocols a result can carry: the profile's http and grpc, plus what fortio's RunType reports.
PROTOCOLS: tuple[str, ...] = ("http", "grpc", "tcp", "udp")


@dataclass(frozen=True)
class Hints:
    """What the runner knows about a run that the output may not say.

    An explicit (non-None) hint wins over the value in the output: the runner knows what it asked
    for, and outputs can be ambiguous (fortio writes RequestedQPS "max"; Nighthawk multiplies rates
    by its worker count). A hint left as None falls back to the output, then to None.
    """

    requested_qps: float | None = None
    connections: int | None = None
    protocol: str | None = None
    load_generator_version: str | None = None


class Reader:
    """Reads one document, raising `ResultParseError` that names the file and the format."""

    def __init__(self, source: str, fmt: str) -> None:
        self.source = source
        self.fmt = fmt

    def fail(self, problem: str) -> NoReturn:
        raise ResultParseError(self.source, f"{self.fmt}: {problem}")

    # -- JSON documents -------------------------------------------------------------------------

    def json_object(self, text: str) -> dict[str, Any]:
        """The text as a JSON object.

        Read by the shared strict reader (a key given twice is an error). NaN/Infinity literals
        are let through here on purpose: `number()` then rejects them naming the field
        ("ActualQPS is NaN"), which says more than a parse error would.
        """
        if not text.strip():
            raise ResultParseError(self.source, "empty file")
        try:
            doc = load_json(text, self.source, allow_non_finite=True)
        except InputFileError as exc:
            raise ResultParseError(self.source, exc.problem) from None
        if not isinstance(doc, dict):
            self.fail(f"expected a JSON object at the top level, got {json_type(doc)}")
        return doc

    def obj(self, parent: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
        value = self.required(parent, key, where)
        if not isinstance(value, dict):
            self.fail(f"{_path(where, key)} must be an object, got {json_type(value)}")
        return value

    def array(self, parent: Mapping[str, Any], key: str, where: str) -> list[Any]:
        value = self.required(parent, key, where)
        if not isinstance(value, list):
            self.fail(f"{_path(where, key)} must be an array, got {json_type(value)}")
        return value

    def required(self, parent: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in parent:
            self.fail(f"{_path(where, key)} is missing")
        if parent[key] is None:
            self.fail(f"{_path(where, key)} is null")
        return parent[key]

    def number(self, value: Any, field: str, *, allow_str: bool = False) -> float:
        """A finite, non-negative number. `allow_str` accepts numeric strings (proto3 JSON uint64)."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.fail(f"{field} must be a number, got {json_type(value)} {value!r}")
        if isinstance(value, str):
            if not allow_str:
                self.fail(f"{field} must be a number, got string {value!r}")
            try:
                parsed = float(Decimal(value.strip()))
            except (InvalidOperation, ValueError):
                self.fail(f"{field} must be a number, got string {value!r}")
        else:
            try:
                parsed = float(value)
            except OverflowError:
                self.fail(f"{field} is too large ({str(value)[:30]}...)")
        if math.isnan(parsed):
            self.fail(f"{field} is NaN")
        if math.isinf(parsed):
            self.fail(f"{field} is infinite")
        if parsed < 0:
            self.fail(f"{field} is negative ({value!r})")
        return parsed

    def count(self, value: Any, field: str, *, allow_str: bool = False) -> int:
        """A non-negative whole number (a count); 4.0 is accepted, 4.5 is not."""
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            self.fail(f"negative count: {field} is {value!r}")
        parsed = self.number(value, field, allow_str=allow_str)
        if parsed != int(parsed):
            self.fail(f"{field} must be a whole number, got {value!r}")
        # A uint64 string or a big JSON integer can exceed float precision; keep it exact.
        exact = int(Decimal(value.strip())) if isinstance(value, str) else int(value)
        if exact > MAX_COUNT:
            self.fail(f"{field} is too large for a count ({exact})")
        return exact


def scale(value: float | str | Decimal, exponent: int) -> float:
    """`value` × 10**exponent, computed in decimal.

    So fortio's Avg 0.00058301175 s becomes exactly 0.58301175 ms; multiplying the float by 1000
    adds a binary rounding step (0.5830117499999999).
    """
    decimal = (
        value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else value)
    )
    return float(decimal.scaleb(exponent))


def seconds_to_ms(value: float) -> float:
    return scale(value, 3)


def build_result(reader: Reader, fields: dict[str, Any], hints: Hints) -> NormalizedResult:
    """Apply the hints, then validate; a model violation becomes a `ResultParseError`."""
    if hints.requested_qps is not None:
        if not (math.isfinite(hints.requested_qps) and hints.requested_qps > 0):
            reader.fail(f"requested_qps hint must be a positive finite number, got {hints.requested_qps}")
        fields["requested_qps"] = hints.requested_qps
    if hints.connections is not None:
        if isinstance(hints.connections, bool) or hints.connections < 1:
            reader.fail(f"connections hint must be at least 1, got {hints.connections}")
        fields["connections"] = hints.connections
    if hints.protocol is not None:
        if hints.protocol not in PROTOCOLS:
            reader.fail(f"protocol hint {hints.protocol!r} is not one of {', '.join(PROTOCOLS)}")
        fields["protocol"] = hints.protocol
    if hints.load_generator_version is not None:
        fields["load_generator_version"] = hints.load_generator_version
    for name, value in fields.items():
        if isinstance(value, float) and not math.isfinite(value):
            reader.fail(f"{name} is not finite ({value})")
    try:
        return NormalizedResult(**fields)
    except ValidationError as exc:
        problems = "; ".join(_describe(err) for err in exc.errors())
        reader.fail(problems)


def _describe(err: Any) -> str:
    location = ".".join(str(part) for part in err.get("loc", ()))
    message = str(err.get("msg", "invalid"))
    # pydantic prefixes validator messages with "Value error, "; the model's text is already clear.
    message = message.removeprefix("Value error, ")
    return f"{location}: {message}" if location else message


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
