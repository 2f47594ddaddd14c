"""`meshmark export smp --data ROOT --run RUN [--format json|yaml] [--out FILE]`: one run as SMP.

Reads the run's `results`, `meshmark` and `meshmark_config` rows from the store and writes the SMP
document (docs/import-export.md) to stdout or FILE; `meshmark import smp` reads it back. Exit 2
with one line for an unknown run (the message lists the runs the store has), a run without a
results row (everything quarantined), or an --out that cannot be written.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from meshmark_tasks.cli._paths import check_output_file
from meshmark_tasks.config import storage_root
from meshmark_tasks.errors import MeshmarkError

if TYPE_CHECKING:
    from meshmark_tasks.storage import DatasetStore

FORMATS = ("json", "yaml")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("export", help="export a stored run (SMP)")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{smp}")
    smp = kinds.add_parser(
        "smp", help="one run as an SMP document", description="one stored run as an SMP document"
    )
    smp.add_argument(
        "--data", metavar="ROOT", default=None, help="storage root (default $MESHMARK_STORAGE_ROOT)"
    )
    smp.add_argument("--run", required=True, metavar="RUN", help="the run id")
    smp.add_argument(
        "--format", choices=FORMATS, default=None, help="json (default) or yaml; .yaml/.yml --out picks yaml"
    )
    smp.add_argument("--out", metavar="FILE", default=None, help="write here instead of stdout")
    smp.set_defaults(handler=_export_smp)


def _export_smp(args: argparse.Namespace) -> int:
    from meshmark_tasks.storage import DatasetStore

    fmt = args.format or ("yaml" if (args.out or "").lower().endswith((".yaml", ".yml")) else "json")
    if args.out is not None:
        check_output_file(args.out, "--out")
    store = DatasetStore(args.data or storage_root())
    text = export_smp(store, args.run, fmt)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    with open(args.out, "w", encoding="utf-8") as out:
        out.write(text)
    print(f"meshmark: run {args.run} written to {args.out} (SMP, {fmt})", file=sys.stderr)
    return 0


def export_smp(store: DatasetStore, run_id: str, fmt: str) -> str:
    """The SMP document of `run_id` in `store`, as JSON or YAML text."""
    from meshmark_tasks.importers import smp_document, to_json, to_yaml
    from meshmark_tasks.reporting.compare import no_such_run

    known = store.run_ids("results")
    if run_id not in known:
        raise MeshmarkError(f"--run {run_id}: {no_such_run(run_id, known, store.root)}")
    results = store.read("results", run_id=run_id)
    if results.num_rows == 0:
        quarantined = store.read("quarantine", run_id=run_id).num_rows
        raise MeshmarkError(
            f"--run {run_id}: the run has no results row ({quarantined} cell(s) quarantined):"
            " nothing to export"
        )
    document = smp_document(
        results, store.read("meshmark", run_id=run_id), store.read("meshmark_config", run_id=run_id)
    )
    return to_yaml(document) if fmt == "yaml" else to_json(document)
