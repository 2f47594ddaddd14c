"""The catalogue of bad-input tests (docs/bad-inputs.md): which tests feed meshmark one bad input
per collected case, by category. tests/conftest.py imports the hooks below.

Every collected case of a test listed here gets the `bad_input` marker, so

    .venv/bin/pytest --collect-only -q -p no:cacheprovider --bad-input-catalogue

prints the count per category and in total (and `-m bad_input` selects them). A test is listed
only when each of its cases is a bad input no other listed case feeds to the same interface (a
CLI file line and a library DataFrame are different interfaces); a test that checks two inputs
in one function counts once.

Most tests of storage/, pipeline/, reporting/ and dags/ are not listed while those areas are being
reshaped; they hold further bad-input tests that this count leaves out.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

CATALOGUE: dict[str, tuple[str, ...]] = {
    "load-generator outputs (adapters, library)": (
        "tests/adapters/test_bad_inputs.py::test_bad_output_is_a_clear_parse_error",
        "tests/adapters/test_bad_inputs.py::test_unknown_format",
        "tests/adapters/test_bad_inputs.py::test_file_not_found",
        "tests/adapters/test_bad_inputs.py::test_directory_instead_of_file",
    ),
    "meshmark parse arguments": ("tests/adapters/test_parse_cli.py::test_bad_arguments_are_usage_errors",),
    "profiles (library)": (
        "tests/profiles/test_profiles.py::test_invalid_profile_names_file_and_field",
        "tests/profiles/test_profiles.py::test_unreadable_profiles",
        "tests/profiles/test_profiles.py::test_missing_file_is_named",
    ),
    "scoring inputs (library)": (
        "tests/scoring/test_nulls_and_inputs.py::test_missing_required_column_is_named",
        "tests/scoring/test_nulls_and_inputs.py::test_non_numeric_value_is_named",
        "tests/scoring/test_nulls_and_inputs.py::test_negative_value_names_cell_and_column",
        "tests/scoring/test_nulls_and_inputs.py::test_infinite_value_is_rejected",
        "tests/scoring/test_nulls_and_inputs.py::test_more_errors_than_requests_is_rejected",
        "tests/scoring/test_nulls_and_inputs.py::test_null_is_baseline_is_rejected",
        "tests/scoring/test_nulls_and_inputs.py::test_boolean_numbers_are_rejected",
        "tests/scoring/test_weights.py::test_weights_out_of_range_name_the_key",
        "tests/scoring/test_weights.py::test_unknown_mue_is_named",
        "tests/scoring/test_weights.py::test_non_numbers_are_rejected",
        "tests/scoring/test_weights.py::test_weights_must_be_a_mapping",
        "tests/scoring/test_overhead_cost.py::test_prices_must_be_a_price_config",
    ),
    "meshmark score files": (
        "tests/scoring/test_score_cli.py::test_bad_field_names_file_line_and_field",
        "tests/scoring/test_score_cli.py::test_missing_required_field",
        "tests/scoring/test_score_cli.py::test_line_numbers_count_blank_lines",
        "tests/scoring/test_score_cli.py::test_not_an_object_and_duplicate_cell",
        "tests/scoring/test_score_cli.py::test_slo_needed_somewhere",
        "tests/scoring/test_score_cli.py::test_bad_weights_file",
        "tests/scoring/test_score_cli.py::test_missing_files",
    ),
    "results rows (validation, library: quarantined or structural)": (
        "tests/validation/test_faults.py::test_fortio_run_with_every_request_failed_exceeds_the_error_budget",
        "tests/validation/test_faults.py::test_run_at_40_percent_of_requested_qps",
        "tests/validation/test_faults.py::test_p99_below_p50",
        "tests/validation/test_faults.py::test_negative_cpu",
        "tests/validation/test_faults.py::test_missing_resource_metrics_on_a_mesh_cell",
        "tests/validation/test_faults.py::test_failed_test_with_no_requests",
        "tests/validation/test_faults.py::test_duplicated_cell_keeps_the_first_copy",
        "tests/validation/test_outcomes.py::test_whole_mesh_quarantined_still_completes_and_says_so",
        "tests/validation/test_outcomes.py::test_no_row_passing_is_a_failed_status_not_an_exception",
        "tests/validation/test_outcomes.py::test_planned_cell_without_a_result_is_recorded",
        "tests/validation/test_outcomes.py::test_latency_stored_as_text_fails_structurally_naming_expectation_column_and_cells",
        "tests/validation/test_outcomes.py::test_one_text_value_in_a_numeric_column_names_that_cell",
        "tests/validation/test_outcomes.py::test_missing_columns_fail_structurally",
    ),
    "meshmark validate files": (
        "tests/validation/test_docs_and_cli.py::test_cli_quarantine_exits_1",
        "tests/validation/test_docs_and_cli.py::test_cli_bad_json_line_exits_2_naming_the_line",
        "tests/validation/test_docs_and_cli.py::test_cli_unreadable_file_and_broken_schema_exit_2",
        "tests/cli/test_bad_inputs_cli.py::test_out_of_range_row_is_quarantined_with_exit_1",
    ),
    "every command, through meshmark_tasks.cli:main (issue 13's table)": (
        "tests/cli/test_bad_inputs_cli.py::test_bad_input_is_one_line_and_exit_2",
    ),
    "import files (importers, library)": (
        "tests/importers/test_bad_inputs.py::test_bad_input_is_one_clear_error",
        "tests/importers/test_bad_inputs.py::test_file_level_errors",
    ),
    "damaged storage roots (report readers skip and name the file)": (
        "tests/cli/test_damaged_store.py::test_a_damaged_file_is_skipped_with_one_line_naming_it",
        "tests/cli/test_damaged_store.py::test_nothing_readable_left_is_one_line_exit_2",
        "tests/storage/test_run_summary.py::test_a_summary_that_is_not_json_is_an_error_naming_the_file",
    ),
    "nightly DAG plan task (fails once, no retries)": (
        "tests/dags/test_nightly_dag.py::test_a_broken_profile_or_override_fails_the_plan_task_once",
    ),
    "meshmark import, export smp and compare (store left unchanged)": (
        "tests/cli/test_store_commands_bad_inputs.py::test_bad_input_is_one_line_exit_2_and_the_store_unchanged",
    ),
}

MARKER = "bad_input"
_CATEGORY_OF = {test: category for category, tests in CATALOGUE.items() for test in tests}


def _test_of(item: pytest.Item) -> str:
    """`path::function` of a collected case (its parameters stripped)."""
    return item.nodeid.split("[", 1)[0]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bad-input-catalogue",
        action="store_true",
        help="print the number of catalogued bad-input cases per category (docs/bad-inputs.md)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _test_of(item) in _CATEGORY_OF:
            item.add_marker(MARKER)


def pytest_collection_finish(session: pytest.Session) -> None:
    if not session.config.getoption("--bad-input-catalogue"):
        return
    counts: Counter[str] = Counter()
    matched: set[str] = set()
    for item in session.items:
        test = _test_of(item)
        if test in _CATEGORY_OF:
            counts[_CATEGORY_OF[test]] += 1
            matched.add(test)
    reporter: Any = session.config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter is not None else print
    write("bad-input catalogue:")
    for category in CATALOGUE:
        write(f"  {counts[category]:4d}  {category}")
    write(f"  {sum(counts.values()):4d}  total")
    for test in sorted(set(_CATEGORY_OF) - matched):
        write(f"  unmatched: {test}")
