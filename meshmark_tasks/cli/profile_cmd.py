"""`meshmark profile validate|matrix FILE`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from meshmark_tasks.matrix import expand_matrix
from meshmark_tasks.profile import load_profile


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("profile", help="validate a profile or list its cells")
    actions = parser.add_subparsers(dest="action", required=True)
    validate = actions.add_parser("validate", help="check a profile; prints a summary as JSON")
    validate.add_argument("file")
    validate.set_defaults(handler=_validate)
    matrix = actions.add_parser("matrix", help="the profile's cells as JSON lines")
    matrix.add_argument("file")
    matrix.set_defaults(handler=_matrix)


def _validate(args: argparse.Namespace) -> int:
    profile = load_profile(args.file)
    summary = {
        "file": args.file,
        "valid": True,
        "name": profile.name,
        "meshes": [m.name for m in profile.meshes],
        "cells": len(expand_matrix(profile)),
        "load_generator": profile.load_generator.tool,
    }
    print(json.dumps(summary))
    return 0


def _matrix(args: argparse.Namespace) -> int:
    profile = load_profile(args.file)
    out = sys.stdout
    for cell in expand_matrix(profile):
        out.write(cell.model_dump_json() + "\n")
    return 0
