"""`meshmark report --data ROOT --out DIR [--days N] [--mesh M ...] [--fail-on-regression]`.

Builds the trend report outside Airflow. stdout: one JSON object (where the report is, the
counts and the regressions); exit 0, or 1 when there are regressions and --fail-on-regression
is given; exit 2 on bad input (no data under ROOT, --days or --history-runs out of range, an --out that
is not a directory).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from meshmark_tasks.cli._paths import ensure_directory
from meshmark_tasks.errors import MeshmarkError

# A century: the window's first day must stay inside the calendar (date arithmetic overflowed
# for --days 99999999), and no dataset holds more history than this.
MAX_DAYS = 36_525
# More runs of history than a century of nightly runs cannot change the result.
MAX_HISTORY_RUNS = MAX_DAYS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("report", help="trend report with regression detection")
    parser.add_argument("--data", required=True, metavar="ROOT", help="storage root (path or fsspec URL)")
    parser.add_argument(
        "--out", metavar="DIR", default=None, help="where <run_date>/ and latest/ go (default ROOT/reports)"
    )
    parser.add_argument("--days", type=int, default=30, help="history window in days (default 30)")
    parser.add_argument("--mesh", action="append", default=None, help="only this mesh (repeatable)")
    parser.add_argument(
        "--history-runs",
        type=int,
        default=90,
        help="newest runs of the window in which change points are looked for (default 90)",
    )
    parser.add_argument("--fail-on-regression", action="store_true", help="exit 1 when a regression is found")
    parser.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from meshmark_tasks.reporting.report import build_report

    if not 1 <= args.days <= MAX_DAYS:
        raise MeshmarkError(f"--days must be between 1 and {MAX_DAYS:,}, got {args.days}")
    if not 1 <= args.history_runs <= MAX_HISTORY_RUNS:
        raise MeshmarkError(
            f"--history-runs must be between 1 and {MAX_HISTORY_RUNS:,}, got {args.history_runs}"
        )
    if args.out is not None:
        ensure_directory(args.out, "--out")
    print(f"meshmark: building the report of {args.data} ({args.days} days)", file=sys.stderr)
    result = build_report(
        args.data, days=args.days, meshes=args.mesh, out_dir=args.out, history_runs=args.history_runs
    )
    print(f"meshmark: report written to {result.html_path} (and {result.latest_dir})", file=sys.stderr)
    print(json.dumps(result.as_dict(), indent=2))
    if result.has_regressions and args.fail_on_regression:
        return 1
    return 0
