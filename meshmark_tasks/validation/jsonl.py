"""Read a results JSON Lines file (one results row per line) for `meshmark validate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from meshmark_tasks.errors import MeshmarkError


class ResultsFileError(MeshmarkError):
    """A JSON Lines input cannot be read; the message names the file and line."""


def read_jsonl_records(path: str | Path) -> list[dict[str, Any]]:
    """Every non-blank line must be a JSON object."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFileError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ResultsFileError(f"{path}: line {number}: not valid JSON: {exc.msg}") from None
        if not isinstance(value, dict):
            raise ResultsFileError(
                f"{path}: line {number}: expected a JSON object, got {type(value).__name__}"
            )
        records.append(value)
    return records


def read_results_jsonl(path: str | Path) -> pd.DataFrame:
    return pd.DataFrame(read_jsonl_records(path))


def read_planned_cell_ids(path: str | Path) -> list[str]:
    """Cells as `meshmark profile matrix` prints them: one JSON object with a cell_id per line."""
    ids = []
    for number, record in enumerate(read_jsonl_records(path), start=1):
        cell_id = record.get("cell_id")
        if not isinstance(cell_id, str) or not cell_id:
            raise ResultsFileError(f"{path}: cell {number}: no cell_id string")
        ids.append(cell_id)
    return ids
