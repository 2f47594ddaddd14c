"""`meshmark compare`: medians with CIs per side, the change with its CI, significance that accounts
for night-to-night variation, honest "not enough repetitions", and the report's comparison page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import repeated_runs  # tests/support
import synthetic  # tests/support
from chromium import HeadlessChromium

from meshmark_tasks.cli import main
from meshmark_tasks.reporting import build_report
from meshmark_tasks.reporting.compare import compare_runs
from meshmark_tasks.storage import DatasetStore


def _rows(comparison: Any, **match: Any) -> list[dict[str, Any]]:
    return [r for r in comparison.rows if all(r[k] == v for k, v in match.items())]


@pytest.fixture(scope="module")
def regressed(tmp_path_factory: pytest.TempPathFactory) -> tuple[DatasetStore, list[str]]:
    """8 nights × 5 repetitions; on the newest night the sidecar's p99 is 25 % higher."""
    root = str(tmp_path_factory.mktemp("regressed"))
    p99_up = {"latency_ms_p99": 1.25, "latency_ms_p999": 1.25, "latency_ms_max": 1.25}
    runs = repeated_runs.write_nights(root, newest_changes={"sidecar": p99_up})
    return DatasetStore(root), runs


@pytest.fixture(scope="module")
def bad_night(tmp_path_factory: pytest.TempPathFactory) -> tuple[DatasetStore, list[str]]:
    """8 nights × 5 repetitions at 3 % night-to-night noise; the newest night is 6 % slow for every
    cell (the machine, not a mesh)."""
    root = str(tmp_path_factory.mktemp("bad-night"))
    return DatasetStore(root), repeated_runs.write_nights(root, newest_night_factor=1.06, seed=4)


def test_the_mesh_that_changed_is_worse_and_nothing_else_is(
    regressed: tuple[DatasetStore, list[str]],
) -> None:
    store, runs = regressed
    comparison = compare_runs(store, runs[-2], runs[-1])
    flagged = {(r["mesh"], r["metric"]) for r in comparison.rows if r["significant"]}
    # p99 and its overhead against the baseline, and MeshMark (its latency-SLO MUE uses p99).
    assert flagged == {("sidecar", "latency_ms_p99"), ("sidecar", "delta_p99_ms"), ("sidecar", "meshmark")}
    for row in _rows(comparison, mesh="sidecar", metric="latency_ms_p99"):
        assert row["verdict"] == "worse"
        assert row["change_lower"] < 0.25 < row["change_upper"]  # the CI holds the true +25 %
        assert row["change_is_relative"] and row["scale"] == "log"
        assert row["a"]["n"] == row["b"]["n"] == 5
        assert row["a"]["lower"] <= row["a"]["median"] <= row["a"]["upper"]
        assert row["noise"] == "repetitions and nights" and row["between_sd"] > 0
    meshmark = _rows(comparison, mesh="sidecar", metric="meshmark")[0]
    assert meshmark["scale"] == "linear" and meshmark["unit"] == "points" and meshmark["change"] < 0
    assert "night-to-night variation, estimated per series from the last 8 runs" in comparison.noise
    # The baseline's zero overheads are not compared (0 on both sides by definition).
    assert not _rows(comparison, mesh="baseline", metric="delta_p99_ms")
    assert comparison.counts()["worse"] == 6  # 3 metrics × 2 load points


def test_a_bad_night_is_not_a_regression_once_night_to_night_variation_counts(
    bad_night: tuple[DatasetStore, list[str]],
) -> None:
    store, runs = bad_night
    with_nights = compare_runs(store, runs[-2], runs[-1])
    assert not [r for r in with_nights.rows if r["metric"].startswith("latency") and r["significant"]]
    # Repetitions alone cannot see the night: the same 6 % reads as a real change everywhere.
    repetitions_only = compare_runs(store, runs[-2], runs[-1], history_runs=2)
    assert all(r["between_sd"] is None for r in repetitions_only.rows)
    flagged = [r for r in repetitions_only.rows if r["metric"] == "latency_ms_p50" and r["significant"]]
    assert len(flagged) >= 4
    assert "could not be estimated (2 runs of history" in repetitions_only.noise
    assert "not as proof that the mesh changed" in repetitions_only.noise


def test_one_repetition_says_so_instead_of_inventing_certainty(tmp_path: Path) -> None:
    runs = synthetic.write_history(str(tmp_path), synthetic.SyntheticHistory(nights=3))
    comparison = compare_runs(DatasetStore(str(tmp_path)), runs[0], runs[-1])
    assert comparison.rows
    for row in comparison.rows:
        assert row["verdict"] == "not enough repetitions"
        assert (row["p_value"], row["q_value"], row["change_lower"], row["significant"]) == (
            None,
            None,
            None,
            False,
        )
        assert row["change"] is not None  # the point estimate is still shown
        assert row["a"]["lower"] is None and row["a"]["note"] == "one repetition: no confidence interval"
        assert row["note"] == "not enough repetitions: A has 1, B has 1; a test needs at least 2 on each side"
    assert comparison.noise.startswith("No load point has 2 or more repetitions on both sides")


def test_two_meshes_of_one_run(regressed: tuple[DatasetStore, list[str]]) -> None:
    store, runs = regressed
    comparison = compare_runs(store, f"sidecar@{runs[-1]}", f"sidecar-mtls@{runs[-1]}")
    assert comparison.same_run and comparison.history_runs == 0
    assert {r["mesh"] for r in comparison.rows} == {"sidecar → sidecar-mtls"}
    assert comparison.noise.startswith("A and B are the same run (one night)")
    cpu = _rows(comparison, metric="cpu_cores_dataplane")
    assert cpu and all(r["verdict"] == "worse" for r in cpu)  # mTLS costs the data plane CPU
    # A run against one of its meshes elsewhere: the side without a mesh takes the other's.
    one = compare_runs(store, runs[-2], f"sidecar@{runs[-1]}")
    assert {r["mesh"] for r in one.rows} == {"sidecar"}


def test_cli_table_json_and_html(
    regressed: tuple[DatasetStore, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, runs = regressed
    page = tmp_path / "compare.html"
    assert main(["compare", "--data", store.root, runs[-2], runs[-1], "--html", str(page)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == f"A: run {runs[-2]} (2026-11-07, synthetic, synthetic)"
    assert lines[1] == f"B: run {runs[-1]} (2026-11-08, synthetic, synthetic)"
    assert any(
        line.startswith("sidecar ") and "p99 (ms)" in line and line.endswith("worse") for line in lines
    )
    assert f"comparison page written to {page}" in err
    html = page.read_text()
    assert 'id="chart-compare-latency_ms_p99"' in html and "Plotly" in html
    assert html.count('<tr class="worse">') == 12  # the significant table and the full one

    assert main(["compare", "--data", store.root, runs[-2], runs[-1], "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["a"]["run_id"] == runs[-2] and document["b"]["run_id"] == runs[-1]
    assert document["counts"]["worse"] == 6
    assert {"method", "noise", "rows", "history_runs", "alpha"} <= set(document)
    row = next(r for r in document["rows"] if r["mesh"] == "sidecar" and r["metric"] == "latency_ms_p99")
    assert {"a", "b", "change", "change_lower", "change_upper", "p_value", "q_value", "verdict"} <= set(row)


def test_the_trend_report_links_a_comparison_with_the_previous_run(
    regressed: tuple[DatasetStore, list[str]], tmp_path: Path
) -> None:
    store, runs = regressed
    result = build_report(store.root, out_dir=str(tmp_path / "reports"))
    index = Path(result.html_path).read_text()
    assert '<a href="compare.html" id="compare-link">Compare with the previous run</a>' in index
    for folder in (result.report_dir, result.latest_dir):
        page = (Path(folder) / "compare.html").read_text()
        assert runs[-2] in page and runs[-1] in page

    single = tmp_path / "single"
    synthetic.write_history(str(single), synthetic.SyntheticHistory(nights=1))
    lonely = build_report(str(single), out_dir=str(tmp_path / "reports-single"))
    assert "compare-link" not in Path(lonely.html_path).read_text()
    assert not (Path(lonely.report_dir) / "compare.html").exists()


@pytest.mark.services
def test_comparison_page_renders_in_a_browser(
    chromium: HeadlessChromium, regressed: tuple[DatasetStore, list[str]], tmp_path: Path
) -> None:
    store, runs = regressed
    page = tmp_path / "compare.html"
    assert main(["compare", "--data", store.root, runs[-2], runs[-1], "--html", str(page)]) == 0
    chromium.call("Runtime.enable")
    chromium.call("Log.enable")
    chromium.call("Page.enable")
    chromium.call("Page.navigate", url=page.as_uri())
    chromium.wait_for("Page.loadEventFired")
    chromium.wait_for_plotly_charts(10)
    assert chromium.evaluate("document.querySelectorAll('.js-plotly-plot').length") == 10
    bars = chromium.evaluate(
        "Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".map(p => p.querySelectorAll('.barlayer .trace').length)"
    )
    assert all(n == 2 for n in bars), bars  # A and B in every chart
    assert chromium.console_errors() == []
