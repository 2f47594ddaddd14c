"""docs/data-model.md documents every column of every table with its real type and nullability."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from meshmark_tasks.schemas import TABLES, unit_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def documented_rows(table: str) -> list[list[str]]:
    """The cells of the column table under `### <table>`."""
    text = DOC.read_text()
    section = re.search(rf"^### {table}\n(.*?)(?=^##|\Z)", text, re.MULTILINE | re.DOTALL)
    assert section, f"{DOC} has no section '### {table}'"
    rows = []
    for line in section.group(1).splitlines():
        cells = [c.strip() for c in UNESCAPED_PIPE.split(line)[1:-1]]
        if len(cells) == 5 and cells[0].startswith("`"):
            name, null = cells[0].strip("`"), cells[2]
            assert null in ("yes", "no"), f"{table}.{name}: null column says {null!r}"
            assert cells[4], f"{table}.{name} has no meaning documented"
            rows.append(cells)
    return rows


def documented_columns(table: str) -> list[tuple[str, str, bool]]:
    """(name, type, nullable) rows of the column table under `### <table>`."""
    return [(c[0].strip("`"), c[1].strip("`"), c[2] == "yes") for c in documented_rows(table)]


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_column_is_documented_as_it_is(table: str) -> None:
    expected = [(f.name, str(f.type), f.nullable) for f in TABLES[table]]
    assert documented_columns(table) == expected


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_unit_in_the_files_is_the_documented_one(table: str) -> None:
    """The `unit` field metadata (what a reader of the Parquet file sees) and the doc's unit column agree."""
    documented = {c[0].strip("`"): c[3] or None for c in documented_rows(table)}
    assert {f.name: unit_of(f) for f in TABLES[table]} == documented
