"""Read a results JSON Lines file (one results row per line) for `meshmark validate`.

Through the shared bounded reader (at most MESHMARK_MAX_INPUT_BYTES) and the strict JSON reader
(a repeated key, NaN or Infinity is an error naming the file, line and key).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from meshmark_tasks.documents import iter_json_lines
from meshmark_tasks.errors import InputFileError, MeshmarkError
from meshmark_tasks.input_files import read_input_text


class ResultsFileError(MeshmarkError):
    """A JSON Lines input cannot be read; the message names the file and line."""


def _numbered_records(path: str | Path, what: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        records = list(iter_json_lines(read_input_text(path), str(path)))
    except InputFileError as exc:
        raise ResultsFileError(str(exc)) from None
    if not records:
        # Validating nothing would report "failed" and prove nothing: say so instead.
        raise ResultsFileError(f"{path}: no {what} (the file is empty or has only blank lines)")
    return records


def read_jsonl_records(path: str | Path, *, what: str = "rows") -> list[dict[str, Any]]:
    """Every non-blank line must be a JSON object; a file without any is an error too."""
    return [record for _, record in _numbered_records(path, what)]


def read_results_jsonl(path: str | Path) -> pd.DataFrame:
    return pd.DataFrame(read_jsonl_records(path, what="result rows"))


def read_planned_cell_ids(path: str | Path) -> list[str]:
    """Cells as `meshmark profile matrix` prints them: one JSON object with a cell_id per line."""
    ids = []
    for line, record in _numbered_records(path, "planned cells"):
        cell_id = record.get("cell_id")
        if not isinstance(cell_id, str) or not cell_id:
            raise ResultsFileError(f"{path}:{line}: cell_id: expected a non-empty string, got {cell_id!r}")
        ids.append(cell_id)
    return ids
