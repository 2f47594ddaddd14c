"""`meshmark run-cell --profile FILE --cell CELL_ID --out DIR [--workdir DIR]`.

Runs one cell end to end on the local backend: the same command an Airflow task, a Kubernetes pod or
any other worker runs. Writes the raw k6 output and the measurement into DIR, prints the normalized
result as JSON on stdout. Exit codes: 0 measured, 1 the test failed (the failure is printed as JSON),
2 bad input (unreadable profile, unknown cell, a mesh kind the local backend cannot run, an --out
or --workdir that cannot be a directory).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from meshmark_tasks.cli._paths import ensure_directory
from meshmark_tasks.errors import ProfileError
from meshmark_tasks.matrix import expand_matrix
from meshmark_tasks.profile import load_profile

_SHOWN_CELL_IDS = 5


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run-cell", help="run one cell of a profile on the local testbed and print its normalized result"
    )
    parser.add_argument("--profile", required=True, help="profile YAML file")
    parser.add_argument("--cell", required=True, help="cell id (see `meshmark profile matrix FILE`)")
    parser.add_argument("--out", required=True, help="directory for the raw output and the measurement")
    parser.add_argument(
        "--workdir",
        help="the run's working directory (certificates, configs, pidfiles); "
        "default: a temporary directory removed afterwards",
    )
    parser.set_defaults(handler=_run_cell)


def _run_cell(args: argparse.Namespace) -> int:
    from meshmark_tasks.backends import local

    profile = load_profile(args.profile)
    cells = {cell.cell_id: cell for cell in expand_matrix(profile)}
    cell = cells.get(args.cell)
    if cell is None:
        some = ", ".join(list(cells)[:_SHOWN_CELL_IDS])
        more = f" (and {len(cells) - _SHOWN_CELL_IDS} more)" if len(cells) > _SHOWN_CELL_IDS else ""
        raise ProfileError(
            f"{args.profile}: no cell {args.cell!r} in profile {profile.name!r}; cells: {some}{more}"
        )
    # Before the testbed starts: `--out <a file>` should not cost a provisioning.
    ensure_directory(args.out, "--out")
    if args.workdir is not None:
        ensure_directory(args.workdir, "--workdir")
    out_dir = Path(args.out)
    own_workdir = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="meshmark-local-")) if own_workdir else Path(args.workdir)
    try:
        local.provision(profile, workdir)
        print(f"meshmark: running {cell.cell_id} (workdir {workdir})", file=sys.stderr)
        measurement = local.run_cell(profile, cell, workdir, out_dir)
    except KeyboardInterrupt:  # the topology is already stopped by the backend's context manager
        print(f"meshmark: {cell.cell_id} interrupted; testbed torn down", file=sys.stderr)
        return 130
    finally:
        if own_workdir:
            local.teardown(workdir)
    if measurement.failure is not None or measurement.result is None:
        print(json.dumps({"cell_id": cell.cell_id, "failure": measurement.failure}))
        return 1
    print(measurement.result.model_dump_json())
    if measurement.saturated:
        print(f"meshmark: {cell.cell_id} saturated: the requested rate was not sustained", file=sys.stderr)
    return 0
