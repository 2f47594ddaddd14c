"""Read load-generator outputs (fortio, Nighthawk, wrk2, k6) into `NormalizedResult`.

`parse_file(path, fmt, ...)` and `parse_text(text, fmt, source=..., ...)` take the runner's
knowledge as keyword hints (requested_qps, connections, protocol, load_generator_version). An
explicit hint wins over the value in the output; a hint left as None falls back to the output.
Every failure raises `ResultParseError(source, problem)`. Field mappings: docs/adapters.md and each
format module's docstring.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from meshmark_tasks.adapters._common import PROTOCOLS, Hints, Reader
from meshmark_tasks.adapters.fortio import parse_fortio
from meshmark_tasks.adapters.k6 import k6_dropped_iterations, k6_version_from_output, parse_k6
from meshmark_tasks.adapters.nighthawk import parse_nighthawk
from meshmark_tasks.adapters.wrk2 import parse_wrk2
from meshmark_tasks.errors import InputFileError, ResultParseError
from meshmark_tasks.input_files import read_input_text
from meshmark_tasks.result import NormalizedResult

__all__ = [
    "FORMATS",
    "PROTOCOLS",
    "k6_dropped_iterations",
    "k6_version_from_output",
    "parse_file",
    "parse_text",
]

FORMATS: tuple[str, ...] = ("fortio", "nighthawk", "wrk2", "k6")

_JSON_PARSERS: dict[str, Callable[[dict[str, Any], Reader, Hints], NormalizedResult]] = {
    "fortio": parse_fortio,
    "nighthawk": parse_nighthawk,
    "k6": parse_k6,
}


def parse_file(
    path: str | Path,
    fmt: str,
    *,
    requested_qps: float | None = None,
    connections: int | None = None,
    protocol: str | None = None,
    load_generator_version: str | None = None,
) -> NormalizedResult:
    """Read the output file at `path` (or its gzip-compressed copy), written by the load generator
    `fmt` (one of FORMATS)."""
    source = str(path)
    _check_format(fmt, source)
    try:
        # at most MESHMARK_MAX_INPUT_BYTES: /dev/zero is an error, not OOM; a raw output the
        # store kept gzip-compressed (raw/<run>/<cell>.k6.json.gz) reads as it was written
        text = read_input_text(path, gunzip=True)
    except InputFileError as exc:
        raise ResultParseError(source, exc.problem) from None
    if not text.strip():
        raise ResultParseError(source, "empty file")
    return parse_text(
        text,
        fmt,
        source=source,
        requested_qps=requested_qps,
        connections=connections,
        protocol=protocol,
        load_generator_version=load_generator_version,
    )


def parse_text(
    text: str,
    fmt: str,
    *,
    source: str,
    requested_qps: float | None = None,
    connections: int | None = None,
    protocol: str | None = None,
    load_generator_version: str | None = None,
) -> NormalizedResult:
    """Read an output already in memory; `source` names it in error messages."""
    _check_format(fmt, source)
    hints = Hints(
        requested_qps=requested_qps,
        connections=connections,
        protocol=protocol,
        load_generator_version=load_generator_version,
    )
    reader = Reader(source, fmt)
    if "\x00" in text:
        reader.fail("contains NUL bytes: binary data, not a text output")
    if fmt == "wrk2":
        return parse_wrk2(text, reader, hints)
    return _JSON_PARSERS[fmt](reader.json_object(text), reader, hints)


def _check_format(fmt: str, source: str) -> None:
    if fmt not in FORMATS:
        raise ResultParseError(source, f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
