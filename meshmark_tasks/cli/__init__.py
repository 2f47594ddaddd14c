"""The `meshmark` command: data on stdout, progress and errors on stderr, exit 2 on bad input.

Each sub-command lives in its own module exposing `register(subparsers)`; the module's handler
takes the parsed arguments and returns the exit code. Bad input of any kind (a usage error, a
MeshmarkError, an OSError, undecodable text) is one stderr line and exit 2, never a traceback;
exit 1 keeps the meaning a sub-command gives it (validation quarantined rows, a regression).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

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
    "meshmark_tasks.cli.render_cmd",
    "meshmark_tasks.cli.import_cmd",
    "meshmark_tasks.cli.export_cmd",
    "meshmark_tasks.cli.compare_cmd",
    "meshmark_tasks.cli.airflow_cmd",
)


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse prints the whole usage block before a usage error; here it is one line that says
    where the usage is. Sub-command parsers inherit the class (add_subparsers uses type(self))."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="meshmark", description=__doc__.splitlines()[0])
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
        return _bad_input(str(exc))
    except BrokenPipeError:  # `meshmark ... | head` is fine (before OSError: it is one)
        return 0
    except OSError as exc:  # a file the command writes or reads outside the checked readers
        return _bad_input(_os_error_text(exc))
    except UnicodeError as exc:  # the readers name the file; this is the net under them
        return _bad_input(f"not UTF-8 text: {exc}")
    except KeyboardInterrupt:
        print("meshmark: interrupted", file=sys.stderr)
        return 130
    return code


# Messages start with the file and field; past this they only repeat what the input held (a
# 60 MB string where a number belongs would otherwise be echoed whole).
_MAX_MESSAGE = 1000


def _bad_input(message: str) -> int:
    # One line even when a message quotes multi-line text from a library.
    line = " ".join(message.split("\n"))
    if len(line) > _MAX_MESSAGE:
        line = f"{line[:_MAX_MESSAGE]}... ({len(line) - _MAX_MESSAGE:,} more characters)"
    print(f"meshmark: error: {line}", file=sys.stderr)
    return 2


def _os_error_text(exc: OSError) -> str:
    if exc.filename is None:
        return exc.strerror or str(exc)
    target = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    return f"{exc.filename}{target}: {exc.strerror or exc}"


if __name__ == "__main__":
    sys.exit(main())
