"""Bring history in, take results out: foreign result files ↔ rows of the store's tables.

Importers (pure: bytes in, `ImportedRun`s out; nothing is written):

    parse_meshery(data, source=...)      Meshery performance results → one run per result
    parse_istio_csv(data, source=...)    istio/tools perf/benchmark CSV → one run
    parse_smp(data, source=...)          an SMP export (JSON or YAML) → one run
    import_file(path, fmt)               read a file and dispatch on fmt (one of FORMATS)
    import_bytes(data, fmt, source=...)  the same for bytes already read (`read_file`: capped read)

Export (pure: one run's table rows in, an SMP document out):

    smp_document(results, meshmark, meshmark_config) → dict;  to_json(doc) / to_yaml(doc) → str

Every bad input raises `ImportParseError` naming the file and the line/column or field. Layer:
beside adapters/ (uses adapters/ and the ground modules; never pipeline/, storage/, backends/,
reporting/). Formats and mappings: docs/import-export.md.
"""

from __future__ import annotations

from pathlib import Path

from meshmark_tasks.importers._io import read_bytes
from meshmark_tasks.importers.istio_csv import parse_istio_csv
from meshmark_tasks.importers.meshery import parse_meshery
from meshmark_tasks.importers.model import (
    QUARANTINE_COLUMNS,
    RESULT_COLUMNS,
    ImportedRun,
    ImportParseError,
    RawOutput,
)
from meshmark_tasks.importers.smp_export import SmpExportError, smp_document, to_json, to_yaml
from meshmark_tasks.importers.smp_import import parse_smp

__all__ = [
    "FORMATS",
    "QUARANTINE_COLUMNS",
    "RESULT_COLUMNS",
    "ImportParseError",
    "ImportedRun",
    "RawOutput",
    "SmpExportError",
    "check_format",
    "import_bytes",
    "import_file",
    "parse_istio_csv",
    "parse_meshery",
    "parse_smp",
    "read_file",
    "smp_document",
    "to_json",
    "to_yaml",
]

FORMATS: tuple[str, ...] = ("meshery", "istio-csv", "smp")


def read_file(path: str | Path) -> bytes:
    """A file's bytes for `import_bytes`, read with the input size cap (ImportParseError if not)."""
    return read_bytes(path)


def import_file(
    path: str | Path,
    fmt: str,
    *,
    slo_p99_ms: float | None = None,
    error_budget: float | None = None,
    run_id: str | None = None,
) -> list[ImportedRun]:
    """The runs in the file at `path`, read as `fmt` (see `import_bytes`)."""
    check_format(fmt, str(path))
    return import_bytes(
        read_file(path),
        fmt,
        source=str(path),
        slo_p99_ms=slo_p99_ms,
        error_budget=error_budget,
        run_id=run_id,
    )


def check_format(fmt: str, source: str) -> None:
    if fmt not in FORMATS:
        raise ImportParseError(
            source, f"unknown import format {fmt!r} (expected one of {', '.join(FORMATS)})"
        )


def import_bytes(
    data: bytes,
    fmt: str,
    *,
    source: str,
    slo_p99_ms: float | None = None,
    error_budget: float | None = None,
    run_id: str | None = None,
) -> list[ImportedRun]:
    """The runs in `data` (a file's content; `source` names it in errors), read as `fmt`.

    `slo_p99_ms`/`error_budget` fill those columns (the imported formats carry no SLO) for Meshery
    and the Istio CSV; `run_id` names the Istio CSV's run (default: a digest of the file). An SMP
    export carries its own run id and SLO.
    """
    check_format(fmt, source)
    if fmt == "meshery":
        return parse_meshery(data, source=source, slo_p99_ms=slo_p99_ms, error_budget=error_budget)
    if fmt == "istio-csv":
        run = parse_istio_csv(
            data, source=source, run_id=run_id, slo_p99_ms=slo_p99_ms, error_budget=error_budget
        )
        return [run]
    return [parse_smp(data, source=source)]
