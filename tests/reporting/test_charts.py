"""The report's charts as data: plain plotly.js traces that plotly.py accepts, numbers rounded, the
template left to the page (charts.chart_script), nothing in a chart's JSON able to end its script.

The charts are built without plotly.py's validation (it took seconds in a long window's report);
this is where that validation runs instead, on every kind of chart the report and the comparison
page draw. How they look in a browser: test_report_browser.py and test_compare.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import repeated_runs

from meshmark_tasks.reporting.change_charts import changes_chart
from meshmark_tasks.reporting.charts import (
    MARGIN,
    Chart,
    all_charts,
    chart,
    chart_script,
    numbers,
    report_template,
    trace,
)
from meshmark_tasks.reporting.compare import compare_runs
from meshmark_tasks.reporting.compare_render import _chart as compare_chart
from meshmark_tasks.reporting.compare_stats import METRICS as COMPARE_METRICS
from meshmark_tasks.reporting.history import load_history
from meshmark_tasks.reporting.run_numbers import run_numbers_section
from meshmark_tasks.storage import DatasetStore


def _every_kind_of_chart(root: str) -> list[Chart]:
    """The trend report's charts, its run-numbers chart and the comparison page's bar charts."""
    store = DatasetStore(root)
    history = load_history(root, days=30)
    charts = all_charts(history)
    section = run_numbers_section(store, history.newest_run_id, history)
    assert section.chart is not None
    charts.append(section.chart)
    previous, newest = (str(r) for r in history.runs["run_id"].iloc[-2:])
    comparison = compare_runs(store, previous, newest)
    charts += [c for c in (compare_chart(comparison, m.name) for m in COMPARE_METRICS) if c is not None]
    return charts


@pytest.fixture(scope="module")
def repeated_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("repeated"))
    repeated_runs.write_nights(root, nights=3, newest_changes={"sidecar": {"latency_ms_p99": 1.3}})
    return root


def _assert_valid(item: Chart) -> None:
    figure = go.Figure(item.figure)  # plotly.py's validation: raises on what plotly.js does not know
    assert len(figure.data) == len(item.figure["data"]) > 0, item.chart_id
    assert {t.type for t in figure.data} <= {"scatter", "bar"}
    layout = item.figure["layout"]
    assert "template" not in layout, item.chart_id  # the page's, once (chart_script)
    assert layout["margin"] == MARGIN and layout["height"] >= 320
    json.dumps(item.figure, allow_nan=False)  # plain JSON: no numpy scalars, no NaN
    for data in item.figure["data"]:
        for value in [*data.get("y", []), *data.get("error_y", {}).get("array", [])]:
            assert value is None or (isinstance(value, float) and value == float(f"{value:.6g}")), value


def test_every_chart_is_a_figure_plotly_accepts(repeated_root: str) -> None:
    charts = _every_kind_of_chart(repeated_root)
    ids = [c.chart_id for c in charts]
    assert {"chart-meshmark", "chart-overhead", "chart-run-numbers", "chart-compare-latency_ms_p99"} <= set(
        ids
    )
    for item in charts:
        _assert_valid(item)
    # Panels of make_subplots: each trace on its panel's axes, as plotly.py's add_trace(row, col) puts it.
    overhead = next(c for c in charts if c.chart_id == "chart-overhead")
    assert {(t["xaxis"], t["yaxis"]) for t in overhead.figure["data"]} == {
        ("x", "y"),
        ("x2", "y2"),
        ("x3", "y3"),
        ("x4", "y4"),
    }
    run_numbers = next(c for c in charts if c.chart_id == "chart-run-numbers")
    assert any(error for t in run_numbers.figure["data"] for error in t["error_y"]["array"])  # CIs drawn


def test_the_flagged_changes_chart_is_a_figure_plotly_accepts(
    regression_root: Path, regression_report
) -> None:
    history = load_history(str(regression_root), days=30)
    flagged = changes_chart(history, regression_report.regressions)
    assert flagged is not None
    _assert_valid(flagged)
    panels = {(t["xaxis"], t["yaxis"]) for t in flagged.figure["data"]}
    assert len(panels) == 8  # MAX_PANELS of the 9 regressions
    triangles = [t for t in flagged.figure["data"] if t["mode"] == "markers"]
    assert triangles and all(t["x"][0].startswith("2025-01-10") for t in triangles)


def test_numbers_are_rounded_to_six_significant_digits() -> None:
    values = [
        0.03176754440417673,
        94.13425453515624,
        1234.56789,
        np.float64(2.5e-7),
        7,
        None,
        math.nan,
        pd.NA,
    ]
    assert numbers(values) == [0.0317675, 94.1343, 1234.57, 2.5e-7, 7.0, None, None, None]
    assert numbers(pd.Series([1.0, None, 3.333333333])) == [1.0, None, 3.33333]


def test_a_chart_s_json_cannot_end_its_script() -> None:
    evil = "</script><script>alert(1)</script><!--"
    item = chart("chart-x", "t", "d", [trace("scatter", x=[evil], y=[1.0], name=evil, text=None)])
    div = item.div
    assert div.count("</script>") == 1 and div.endswith("</script>") and "<!--" not in div
    call = div[div.index("meshmarkPlot(") + len("meshmarkPlot(") : -len(");</script>")]
    chart_id, figure = json.loads(f"[{call}]")
    assert chart_id == "chart-x" and figure["data"][0]["x"] == [evil]  # the same data, only escaped
    assert "text" not in figure["data"][0]  # properties left unset are not sent
    with pytest.raises(ValueError, match=r"add pie to charts\.TRACE_TYPES"):
        chart("chart-y", "t", "d", [trace("pie", values=[1])])


def test_a_page_defines_the_template_once(regression_report) -> None:
    page = Path(regression_report.html_path).read_text()
    template = json.dumps(report_template(), ensure_ascii=False, separators=(",", ":"))
    assert page.count(template) == 1 and chart_script() in page
    assert page.count("<script>meshmarkPlot(") == 6
    assert page.count('"paper_bgcolor"') == 1  # no chart carries its own template
