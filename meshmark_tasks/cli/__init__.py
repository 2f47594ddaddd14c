"""The `meshmark` command: data on stdout, progress and errors on stderr, exit 2 on bad input.

Each sub-command lives in its own module exposing `register(subparsers)`; the module's handler
takes the parsed arguments and returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from meshmark_tasks.errors import MeshmarkError

# Sub-command modules, imported lazily in main() so `meshmark --help` stays quick.
SUBCOMMAND_MODULES = (
    "meshmark_tasks.cli.profile_cmd",
    "meshmark_tasks.cli.parse_cmd",
    "meshmark_tasks.cli.score_cmd",
    "meshmark_tasks.cli.run_cell_cmd",
    "meshmark_tasks.cli.validate_cmd",
    "meshmark_tasks.cli.report_cmd",
    "meshmark_tasks.cli.nightly_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meshmark", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside an existing module
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except MeshmarkError as exc:
        print(f"meshmark: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `meshmark ... | head` is fine
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
