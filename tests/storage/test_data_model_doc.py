"""docs/data-model.md documents every column of every table with its real type and nullability."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from meshmark_tasks.schemas import TABLES

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def documented_columns(table: str) -> list[tuple[str, str, bool]]:
    """(name, type, nullable) rows of the column table under `### <table>`."""
    text = DOC.read_text()
    section = re.search(rf"^### {table}\n(.*?)(?=^##|\Z)", text, re.MULTILINE | re.DOTALL)
    assert section, f"{DOC} has no section '### {table}'"
    rows = []
    for line in section.group(1).splitlines():
        cells = [c.strip() for c in UNESCAPED_PIPE.split(line)[1:-1]]
        if len(cells) == 5 and cells[0].startswith("`"):
            name, kind, null = cells[0].strip("`"), cells[1].strip("`"), cells[2]
            assert null in ("yes", "no"), f"{table}.{name}: null column says {null!r}"
            assert cells[4], f"{table}.{name} has no meaning documented"
            rows.append((name, kind, null == "yes"))
    return rows


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_column_is_documented_as_it_is(table: str) -> None:
    expected = [(f.name, str(f.type), f.nullable) for f in TABLES[table]]
    assert documented_columns(table) == expected
