"""`meshmark compare --data ROOT A B [--json] [--html FILE]`: is B different from A, and is it real?

A and B are run ids or MESH@RUN. stdout: a table (default) or one JSON object (--json); --html
also writes the comparison page in the trend report's style. Exit 0 (whatever the verdicts); 2
with one line for an unknown run or mesh, runs with no mesh or load point in common, or a bad
flag. The method and the noise it accounts for: meshmark_tasks/reporting/compare.py and
docs/import-export.md ("Comparing two runs").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from meshmark_tasks.cli._paths import check_output_file
from meshmark_tasks.config import storage_root
from meshmark_tasks.errors import MeshmarkError

MAX_HISTORY_RUNS = 1000


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare two runs (or mesh@run): per load point and metric, with CIs and significance"
    )
    parser.add_argument("a", metavar="A", help="run id or MESH@RUN (the reference)")
    parser.add_argument("b", metavar="B", help="run id or MESH@RUN (compared against A)")
    parser.add_argument(
        "--data", metavar="ROOT", default=None, help="storage root (default $MESHMARK_STORAGE_ROOT)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--html", metavar="FILE", default=None, help="also write the comparison page here")
    parser.add_argument(
        "--alpha", type=float, default=0.05, help="significance level of the adjusted p-values (default 0.05)"
    )
    parser.add_argument(
        "--history-runs",
        type=int,
        default=30,
        help="runs of history to estimate night-to-night variation from (default 30)",
    )
    parser.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    from meshmark_tasks.reporting.compare import compare_runs
    from meshmark_tasks.reporting.compare_render import render_text
    from meshmark_tasks.storage import DatasetStore

    if not 0 < args.alpha < 1:  # also refuses nan
        raise MeshmarkError(f"--alpha: must be between 0 and 1, got {args.alpha}")
    if not 1 <= args.history_runs <= MAX_HISTORY_RUNS:
        raise MeshmarkError(
            f"--history-runs: must be between 1 and {MAX_HISTORY_RUNS}, got {args.history_runs}"
        )
    if args.html is not None:
        check_output_file(args.html, "--html")
    store = DatasetStore(args.data or storage_root())
    comparison = compare_runs(store, args.a, args.b, alpha=args.alpha, history_runs=args.history_runs)
    if args.html is not None:
        write_page(comparison, args.html)
        print(f"meshmark: comparison page written to {args.html}", file=sys.stderr)
    if args.json:
        print(json.dumps(comparison.as_dict(), indent=2, allow_nan=False))
    else:
        sys.stdout.write(render_text(comparison))
    return 0


def write_page(comparison: Any, path: str) -> None:
    from meshmark_tasks.reporting.compare_render import render_html
    from meshmark_tasks.reporting.report import _version

    generated_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    html = render_html(comparison, generated_at=generated_at, generator_version=_version())
    with open(path, "w", encoding="utf-8") as out:
        out.write(html)
