"""The versioned expectation suites in `expectations/*.json` and the reason text of each expectation.

The JSON files are GX 1.x suite documents. Each expectation's `meta.meshmark` says what it checks
(`check`, a short formula), why a row fails it (`phrase`) and how a failure is handled (`scope`):

- `structure`: the table itself is broken (a missing column, text where numbers belong) -> the task fails;
- `row`: the failing rows are quarantined;
- `duplicates`: every copy of a cell_id after the first is quarantined;
- `planned`: each planned cell without a result becomes a quarantine row of its own (this suite
  runs on the plan: one row per planned cell with a computed `has_result`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from meshmark_tasks.config import expectations_dir
from meshmark_tasks.documents import load_json
from meshmark_tasks.errors import InputFileError, MeshmarkError
from meshmark_tasks.input_files import read_input_text

Scope = Literal["structure", "row", "duplicates", "planned"]

STRUCTURE_SUITE_FILE = "results_structure.json"
RESULTS_SUITE_FILE = "results_suite.json"
# The results suite of runs imported from other tools (docs/validation.md, "Imported runs").
IMPORT_SUITE_FILE = "results_import_suite.json"
PLANNED_SUITE_FILE = "planned_cells_suite.json"


@dataclass(frozen=True)
class ExpectationInfo:
    """What our code needs to know about one expectation of a suite."""

    type: str
    check: str
    phrase: str
    scope: Scope

    @property
    def reason(self) -> str:
        """The text written into quarantine.reasons, e.g. `expect_...(latency_ms_p50 >= 0): a latency ...`."""
        return f"{self.type}({self.check}): {self.phrase}"


def load_suite_document(file_name: str) -> dict[str, Any]:
    """The suite JSON from the project's expectations/ (read at run time, never at DAG parse time)."""
    path = expectations_dir() / file_name
    try:
        document = load_json(read_input_text(path), str(path))
    except InputFileError as exc:
        raise MeshmarkError(f"{exc.source}: cannot read expectation suite: {exc.problem}") from None
    if not isinstance(document, dict):
        raise MeshmarkError(f"{path}: an expectation suite must be a JSON object")
    return document


def suite_version(document: dict[str, Any]) -> str:
    return str(document["meta"]["meshmark_suite_version"])


def expectation_info(meta: dict[str, Any] | None, type_: str) -> ExpectationInfo:
    """Reads our annotations from an expectation's meta; an expectation without them is a suite bug."""
    tags = (meta or {}).get("meshmark")
    if not isinstance(tags, dict):
        raise ValueError(f"expectation {type_} has no meta.meshmark annotations")
    return ExpectationInfo(
        type=type_, check=str(tags["check"]), phrase=str(tags["phrase"]), scope=tags["scope"]
    )
