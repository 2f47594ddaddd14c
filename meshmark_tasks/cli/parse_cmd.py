"""`meshmark parse --format FMT FILE`: one load-generator output as one normalized JSON object."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from meshmark_tasks.adapters import FORMATS, parse_file


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
        "--connections", type=_non_negative_int, default=None, help="connections the run used"
    )
    parser.add_argument("--protocol", default=None, help="protocol of the run (http, grpc)")
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


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value
