"""`meshmark parse --format FMT FILE`: one load-generator output as one normalized JSON object."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from meshmark_tasks.adapters import FORMATS, PROTOCOLS, parse_file
from meshmark_tasks.profile import MAX_CONNECTIONS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "parse",
        help="read a load-generator output; prints the normalized result as one JSON object",
        description="Read a fortio, Nighthawk, wrk2 or k6 output into meshmark's normalized result. "
        "Explicit --requested-qps/--connections override the values in the file.",
    )
    parser.add_argument(
        "--format", required=True, choices=FORMATS, dest="fmt", help="the tool that wrote FILE"
    )
    parser.add_argument("file", metavar="FILE")
    parser.add_argument(
        "--requested-qps", type=_positive_float, default=None, help="the rate the run asked for"
    )
    parser.add_argument(
        "--connections",
        type=_connections,
        default=None,
        help=f"connections the run used (1 to {MAX_CONNECTIONS:,}, as in a profile)",
    )
    parser.add_argument("--protocol", default=None, choices=PROTOCOLS, help="protocol of the run")
    parser.add_argument(
        "--load-generator-version", default=None, help="version of the tool, if FILE lacks it"
    )
    parser.set_defaults(handler=_parse)


def _parse(args: argparse.Namespace) -> int:
    result = parse_file(
        args.file,
        args.fmt,
        requested_qps=args.requested_qps,
        connections=args.connections,
        protocol=args.protocol,
        load_generator_version=args.load_generator_version,
    )
    sys.stdout.write(result.model_dump_json() + "\n")
    return 0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number: {text!r}")
    return value


def _connections(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_CONNECTIONS:  # a run with 0 connections sent nothing
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_CONNECTIONS:,}: {text!r}")
    return value
