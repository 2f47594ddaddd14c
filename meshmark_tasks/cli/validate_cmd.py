"""`meshmark validate RESULTS.jsonl`: run the Great Expectations suites, print the summary as JSON.

Exit 0 when every row passed, 1 when any row (or planned cell) was quarantined, 2 on bad input
(an unreadable, oversized or empty file, a bad JSON line, a structurally broken results table,
an unusable --data-docs directory).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from meshmark_tasks.cli._paths import ensure_directory
from meshmark_tasks.errors import MeshmarkError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate", help="validate result rows (JSON Lines); prints the validation summary as JSON"
    )
    parser.add_argument("results", help="results rows, one JSON object per line")
    parser.add_argument(
        "--planned", metavar="CELLS.jsonl", help="planned cells (`meshmark profile matrix` output)"
    )
    parser.add_argument(
        "--qps-tolerance",
        type=float,
        default=0.05,
        help="allowed relative gap between actual and requested QPS (default 0.05)",
    )
    parser.add_argument("--data-docs", metavar="DIR", help="also write the GX Data Docs (HTML) to DIR")
    parser.set_defaults(handler=_validate)


def _validate(args: argparse.Namespace) -> int:
    from meshmark_tasks.validation import build_data_docs, validate_results
    from meshmark_tasks.validation.jsonl import read_planned_cell_ids, read_results_jsonl

    # Arguments first: a bad flag should not wait for a long validation to be reported.
    if not 0 <= args.qps_tolerance < 1:  # also refuses nan and inf
        raise MeshmarkError(f"--qps-tolerance: must be in [0, 1), got {args.qps_tolerance}")
    if args.data_docs:
        ensure_directory(args.data_docs, "--data-docs")
    results = read_results_jsonl(args.results)
    planned = read_planned_cell_ids(args.planned) if args.planned else None
    print(f"meshmark: validating {len(results)} rows from {args.results}", file=sys.stderr)
    outcome = validate_results(results, planned_cell_ids=planned, qps_tolerance=args.qps_tolerance)
    summary = dict(outcome.summary)
    if args.data_docs:
        summary["data_docs"] = build_data_docs(outcome, args.data_docs)
    summary["quarantine"] = [
        {"cell_id": r["cell_id"], "mesh": r["mesh"], "reasons": list(r["reasons"])}
        for r in outcome.quarantine.to_dict("records")
    ]
    print(json.dumps(summary, indent=2, default=str))
    return 1 if len(outcome.quarantine) else 0
