"""GX Data Docs of a run, `meshmark validate` exit codes, and the suite files themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from validation_rows import healthy_rows, planned_cells

from meshmark_tasks.cli import main
from meshmark_tasks.validation import build_data_docs, validate_results
from meshmark_tasks.validation.suites import (
    IMPORT_SUITE_FILE,
    PLANNED_SUITE_FILE,
    RESULTS_SUITE_FILE,
    STRUCTURE_SUITE_FILE,
    expectation_info,
    load_suite_document,
)

REPO = Path(__file__).resolve().parents[2]
SUITES = (STRUCTURE_SUITE_FILE, RESULTS_SUITE_FILE, PLANNED_SUITE_FILE, IMPORT_SUITE_FILE)
# 2: booleans in numeric columns fail the structure; counts and ints must fit the schema's types.
SUITE_VERSIONS = {
    STRUCTURE_SUITE_FILE: "2",
    RESULTS_SUITE_FILE: "2",
    PLANNED_SUITE_FILE: "1",
    IMPORT_SUITE_FILE: "1",
}


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
    return path


def test_data_docs_index_links_the_validation_pages(tmp_path: Path) -> None:
    rows = healthy_rows()
    rows[1]["latency_ms_p99"] = 0.1
    outcome = validate_results(pd.DataFrame(rows), planned_cell_ids=[c.cell_id for c in planned_cells()])
    index = Path(build_data_docs(outcome, str(tmp_path / "docs")))
    assert index == (tmp_path / "docs" / "index.html").resolve() and index.is_file()
    html = index.read_text()
    for suite in ("meshmark_results", "meshmark_results_structure", "meshmark_planned_cells"):
        assert suite in html
    [page] = (tmp_path / "docs" / "validations" / "meshmark_results").rglob("*.html")
    assert rows[1]["cell_id"] in page.read_text()  # the failing cell is shown in the report


def test_cli_clean_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _write_jsonl(tmp_path / "results.jsonl", healthy_rows())
    planned = _write_jsonl(tmp_path / "cells.jsonl", [c.model_dump(mode="json") for c in planned_cells()])
    code = main(["validate", str(results), "--planned", str(planned), "--data-docs", str(tmp_path / "dd")])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["status"] == "passed" and summary["planned_cells_checked"] is True
    assert Path(summary["data_docs"]).is_file()


def test_cli_quarantine_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = healthy_rows()
    rows[2]["actual_qps"] = rows[2]["requested_qps"] * 0.4
    code = main(["validate", str(_write_jsonl(tmp_path / "r.jsonl", rows)), "--qps-tolerance", "0.1"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 1
    assert summary["status"] == "passed_with_quarantine" and summary["qps_tolerance"] == 0.1
    assert [q["cell_id"] for q in summary["quarantine"]] == [rows[2]["cell_id"]]


def test_cli_bad_json_line_exits_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_jsonl(tmp_path / "r.jsonl", healthy_rows()[:2])
    path.write_text(path.read_text() + '{"cell_id": "x",\n')
    assert main(["validate", str(path)]) == 2
    assert f"{path}:3: not valid JSON" in capsys.readouterr().err


def test_cli_unreadable_file_and_broken_schema_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl: file not found" in capsys.readouterr().err
    rows = [{k: v for k, v in r.items() if k != "actual_qps"} for r in healthy_rows()]
    assert main(["validate", str(_write_jsonl(tmp_path / "r.jsonl", rows))]) == 2
    assert "expect_table_columns_to_match_set" in capsys.readouterr().err


@pytest.mark.parametrize("file_name", SUITES)
def test_suite_files_are_versioned_and_annotated(file_name: str) -> None:
    document = load_suite_document(file_name)
    assert document["meta"]["meshmark_suite_version"] == SUITE_VERSIONS[file_name]
    assert document["expectations"]
    for expectation in document["expectations"]:
        info = expectation_info(expectation["meta"], expectation["type"])
        assert info.scope in {"structure", "row", "duplicates", "planned"}


def test_docs_list_every_expectation() -> None:
    text = (REPO / "docs" / "validation.md").read_text()
    for file_name in SUITES:
        for expectation in load_suite_document(file_name)["expectations"]:
            info = expectation_info(expectation["meta"], expectation["type"])
            assert info.check in text, f"docs/validation.md does not mention {info.check!r}"
