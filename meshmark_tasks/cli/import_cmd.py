"""`meshmark import {meshery,istio-csv,smp} FILE… [--data ROOT]`: other tools' results as runs.

Every file is read and parsed before anything is written, and every run is validated (the import
variant of the results suite) and scored before the first write: a file that is not what its
format says is one error line, exit 2, and the store is left as it was. Then, per run: the raw
outputs are kept (`raw/<run>/…`), the four tables, Data Docs and the run summary written through
`pipeline.publish.write_evaluated_run`, exactly as a nightly run's. A run whose content and
options match what the store already holds (same fingerprint in its summary) is left untouched,
so importing the same file twice changes nothing; a run the store measured itself (the export of a
nightly run imported back) is not replaced without --force. Cells that cannot be used are quarantined with
their reasons; that is data, not an error (exit 0). stdout: one JSON object, one entry per run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

from meshmark_tasks.config import storage_root
from meshmark_tasks.errors import MeshmarkError

if TYPE_CHECKING:
    from meshmark_tasks.importers import ImportedRun
    from meshmark_tasks.pipeline.publish import EvaluatedRun
    from meshmark_tasks.profile import PriceConfig
    from meshmark_tasks.storage import DatasetStore

# The raw output an SMP import keeps: the document itself (its rows carry no per-cell output).
SMP_DOCUMENT = "smp-document"
FORMAT_HELP = {
    "meshery": "Meshery performance results (JSON: one result, an array, or a results-API page)",
    "istio-csv": "the istio/tools perf/benchmark CSV (fortio percentiles + proxy CPU/memory)",
    "smp": "an SMP document (meshmark's `export smp`, or another tool's), JSON or YAML",
}


@dataclass(frozen=True)
class ImportOptions:
    """What the imported formats do not carry: the SLO, the rules and the prices to score with."""

    slo_p99_ms: float | None = None
    error_budget: float | None = None
    qps_tolerance: float = 0.05
    weights: Mapping[str, float] | None = None
    prices: PriceConfig | None = None
    run_id: str | None = None  # istio-csv only

    def as_dict(self) -> dict[str, Any]:
        return {
            "slo_p99_ms": self.slo_p99_ms,
            "error_budget": self.error_budget,
            "qps_tolerance": self.qps_tolerance,
            "weights": dict(sorted((self.weights or {}).items())),
            "prices": self.prices.model_dump() if self.prices is not None else None,
        }


@dataclass(frozen=True)
class _Parsed:
    run: ImportedRun
    source: str
    data: bytes  # the file's bytes (SMP keeps them as the run's raw output)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("import", help="import Meshery, istio/tools CSV or SMP results as runs")
    formats = parser.add_subparsers(dest="format", required=True, metavar="{meshery,istio-csv,smp}")
    for fmt, text in FORMAT_HELP.items():
        sub = formats.add_parser(fmt, help=text, description=text)
        sub.add_argument("files", nargs="+", metavar="FILE")
        sub.add_argument(
            "--data",
            metavar="ROOT",
            default=None,
            help="storage root (default $MESHMARK_STORAGE_ROOT or var/data)",
        )
        sub.add_argument(
            "--profile",
            metavar="FILE",
            help="take the SLO, error budget, QPS tolerance, weights and prices from this profile",
        )
        if fmt != "smp":  # an SMP export carries its own SLO
            sub.add_argument("--slo-p99-ms", type=float, metavar="MS", help="p99 latency objective")
            sub.add_argument("--error-budget", type=float, metavar="F", help="tolerated error rate, 0-1")
        sub.add_argument(
            "--qps-tolerance", type=float, metavar="X", help="allowed gap of achieved to requested QPS (0.05)"
        )
        if fmt == "istio-csv":
            sub.add_argument("--run-id", help="the run's id (default: istio-csv-<digest of the file>)")
        sub.add_argument(
            "--force", action="store_true", help="rewrite runs the store already holds unchanged"
        )
        sub.set_defaults(handler=_import)


def _import(args: argparse.Namespace) -> int:
    from meshmark_tasks.storage import DatasetStore

    options = _options(args)
    if options.run_id is not None and len(args.files) > 1:
        raise MeshmarkError("--run-id names one run: give one FILE with it")
    parsed = parse_files(args.format, args.files, options)
    store = DatasetStore(args.data or storage_root())
    print(f"meshmark: importing {len(parsed)} run(s) into {store.root}", file=sys.stderr)
    reports = import_runs(store, args.format, parsed, options, force=args.force)
    for report in reports:
        print(
            f"meshmark: {report['status']} run {report['run_id']} from {report['source']}: "
            f"{report['cells_scored']} cell(s) scored, {report['cells_quarantined']} quarantined "
            f"({report['data_quality']})",
            file=sys.stderr,
        )
    print(json.dumps({"storage_root": store.root, "format": args.format, "runs": reports}, indent=2))
    return 0


def _options(args: argparse.Namespace) -> ImportOptions:
    """The flags (checked before any file is read), over the profile's values."""
    from meshmark_tasks.profile import load_profile

    slo = getattr(args, "slo_p99_ms", None)
    budget = getattr(args, "error_budget", None)
    tolerance = args.qps_tolerance
    if slo is not None and not (math.isfinite(slo) and slo > 0):
        raise MeshmarkError(f"--slo-p99-ms: must be a positive number of milliseconds, got {slo}")
    if budget is not None and not 0 <= budget <= 1:  # also refuses nan
        raise MeshmarkError(f"--error-budget: must be a fraction in [0, 1], got {budget}")
    if tolerance is not None and not 0 <= tolerance < 1:
        raise MeshmarkError(f"--qps-tolerance: must be in [0, 1), got {tolerance}")
    run_id = getattr(args, "run_id", None)
    if run_id is not None and not run_id.strip():
        raise MeshmarkError("--run-id: must not be empty")
    if args.profile is None:
        return ImportOptions(slo, budget, 0.05 if tolerance is None else tolerance, run_id=run_id)
    profile = load_profile(args.profile)
    return ImportOptions(
        slo_p99_ms=slo if slo is not None else profile.slo.p99_ms,
        error_budget=budget if budget is not None else profile.slo.error_budget,
        qps_tolerance=tolerance if tolerance is not None else profile.qps_tolerance,
        weights=profile.weights,
        prices=profile.prices,
        run_id=run_id,
    )


def parse_files(fmt: str, files: Sequence[str], options: ImportOptions) -> list[_Parsed]:
    """Every run of every file, or the first file's error: nothing is written here."""
    from meshmark_tasks.importers import check_format, import_bytes, read_file

    check_format(fmt, files[0] if files else "<no file>")
    parsed: list[_Parsed] = []
    seen: dict[str, str] = {}
    for path in files:
        data = read_file(path)
        runs = import_bytes(
            data,
            fmt,
            source=path,
            slo_p99_ms=options.slo_p99_ms,
            error_budget=options.error_budget,
            run_id=options.run_id,
        )
        for run in runs:
            if run.run_id in seen:
                raise MeshmarkError(
                    f"{path}: run {run.run_id!r} is also in {seen[run.run_id]}: "
                    "one command imports each run once (remove one of the files)"
                )
            seen[run.run_id] = path
            parsed.append(_Parsed(run, path, data))
    return parsed


def fingerprint(fmt: str, item: _Parsed, options: ImportOptions) -> str:
    """A digest of everything that decides what an import writes for this run."""
    run = item.run
    content = {
        "format": fmt,
        "meshmark": _version(),
        "run": [run.run_id, run.run_date, run.profile, run.backend, run.name],
        "results": run.results,
        "quarantine": run.quarantine,
        "raw": {cell: hashlib.sha256(raw.data).hexdigest() for cell, raw in sorted(run.raw.items())},
        "document": hashlib.sha256(item.data).hexdigest() if fmt == "smp" else None,
        "options": options.as_dict(),
    }
    text = json.dumps(content, sort_keys=True, default=str, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _version() -> str:
    try:
        return metadata.version("meshmark")
    except metadata.PackageNotFoundError:
        return "dev"


def import_runs(
    store: DatasetStore, fmt: str, parsed: Sequence[_Parsed], options: ImportOptions, *, force: bool = False
) -> list[dict[str, Any]]:
    """Evaluate every changed run, then keep raw outputs and write each; one report per run."""
    import pandas as pd

    from meshmark_tasks.importers import RESULT_COLUMNS
    from meshmark_tasks.pipeline.publish import evaluate_run

    stored = set(store.run_ids("results"))
    summaries = {item.run.run_id: store.read_run_summary(item.run.run_id) for item in parsed}
    for item in parsed:
        summary = summaries[item.run.run_id]
        measured = item.run.run_id in stored and (summary is None or "import" not in summary)
        if measured and not force:  # e.g. the export of a nightly run imported back into its store
            raise MeshmarkError(
                f"{item.source}: run {item.run.run_id!r} is a measured run in {store.root} "
                "(not an import); importing would replace it: use another store, or --force"
            )
    todo: list[tuple[_Parsed, str, EvaluatedRun | None]] = []
    for item in parsed:
        digest = fingerprint(fmt, item, options)
        summary = summaries[item.run.run_id] if item.run.run_id in stored else None
        if not force and summary is not None and (summary.get("import") or {}).get("fingerprint") == digest:
            todo.append((item, digest, None))  # already stored exactly so
            continue
        evaluated = evaluate_run(
            pd.DataFrame(item.run.results, columns=list(RESULT_COLUMNS)),
            quarantined=item.run.quarantine,
            qps_tolerance=options.qps_tolerance,
            weights=options.weights,
            prices=options.prices,
            imported=True,
        )
        todo.append((item, digest, evaluated))
    return [_write(store, fmt, item, digest, evaluated) for item, digest, evaluated in todo]


def _write(
    store: DatasetStore, fmt: str, item: _Parsed, digest: str, evaluated: EvaluatedRun | None
) -> dict[str, Any]:
    from meshmark_tasks.pipeline.publish import write_evaluated_run

    run = item.run
    if evaluated is None:
        summary = store.read_run_summary(run.run_id) or {}
        return _report(run, item.source, "unchanged", summary)
    raw_paths = _keep_raw(store, fmt, item)
    for frame in (evaluated.outcome.good, evaluated.outcome.quarantine):
        if len(frame):
            frame["raw_path"] = [raw_paths.get(str(cell)) for cell in frame["cell_id"]]
    run_fields = {
        "profile": run.profile,
        "backend": run.backend,
        "import": {"format": fmt, "source": item.source, "name": run.name, "fingerprint": digest},
    }
    # A run with no usable cell is stored with its reasons (data_quality "failed"), not an error.
    summary = write_evaluated_run(
        store,
        evaluated,
        run_id=run.run_id,
        run_date=run.run_date,
        cells_planned=len(run.results) + len(run.quarantine),
        run_fields=run_fields,
        raise_when_failed=False,
    )
    return _report(run, item.source, "imported", summary)


def _keep_raw(store: DatasetStore, fmt: str, item: _Parsed) -> dict[str, str]:
    """Store the run's raw outputs; cell id -> raw_path (for SMP every cell points at the document)."""
    run = item.run
    if fmt == "smp":
        ext = "json" if item.data.lstrip()[:1] in (b"{", b"[") else "yaml"
        document = store.put_raw(run.run_id, SMP_DOCUMENT, item.data, ext)
        return {row["cell_id"]: document for row in run.results}
    return {cell: store.put_raw(run.run_id, cell, raw.data, raw.ext) for cell, raw in run.raw.items()}


def _report(run: ImportedRun, source: str, status: str, summary: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "run_date": run.run_date.isoformat(),
        "source": source,
        "status": status,
        "backend": run.backend,
        "data_quality": summary.get("data_quality"),
        "cells_scored": summary.get("cells_scored"),
        "cells_quarantined": summary.get("cells_quarantined"),
        "meshmark_by_mesh": summary.get("meshmark_by_mesh"),
        "data_docs": summary.get("data_docs"),
    }
