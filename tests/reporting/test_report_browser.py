"""Open the HTML report in headless Debian Chromium (DevTools protocol) and check the charts render.

The browser is the `chromium` fixture (tests/support/chromium.py; installed by
scripts/install-chromium.sh when missing). No network is needed: the report is self-contained, and
Chromium's background networking is switched off.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from chromium import HeadlessChromium

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "var" / "screenshots" / "report.png"

pytestmark = pytest.mark.services


def test_report_renders_charts_without_console_errors(chromium: HeadlessChromium, regression_report) -> None:
    chromium.call("Runtime.enable")
    chromium.call("Log.enable")
    chromium.call("Page.enable")
    chromium.call(
        "Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False
    )
    chromium.call("Page.navigate", url=Path(regression_report.html_path).as_uri())
    chromium.wait_for("Page.loadEventFired")

    chromium.wait_for_plotly_charts(10)

    assert chromium.evaluate("document.querySelectorAll('.js-plotly-plot').length") == 6  # + flagged changes
    assert chromium.evaluate("typeof Plotly") == "object"
    traces = chromium.evaluate(
        "Array.from(document.querySelectorAll('.js-plotly-plot')).map("
        "p => p.querySelectorAll('.scatterlayer .trace').length)"
    )
    assert all(n > 0 for n in traces), traces  # every chart drew at least one line
    assert chromium.evaluate("document.querySelectorAll('tr.regression').length") == 9
    assert chromium.evaluate("document.querySelector('h2').id") == "regressions"  # regressions come first

    assert chromium.console_errors() == []

    height = chromium.evaluate("Math.ceil(document.documentElement.scrollHeight)")
    chromium.call(
        "Emulation.setDeviceMetricsOverride",
        width=1280,
        height=min(int(height), 6000),
        deviceScaleFactor=1,
        mobile=False,
    )
    time.sleep(1.0)  # let plotly's responsive resize settle
    chromium.screenshot(SCREENSHOT)
    assert SCREENSHOT.stat().st_size > 20_000


# Every x tick label of the charts against run date, as drawn (SVG text of the x, x2, ... axes).
TIME_AXIS_TICKS_JS = """(() => Object.fromEntries(
  ['chart-meshmark', 'chart-overhead', 'chart-cost'].map(id => [id,
    [...document.querySelectorAll(`#${id} g[class^="x"][class$="tick"] text`)]
      .map(t => t.textContent)])))()"""


@pytest.mark.parametrize("nights", [1, 3])
def test_time_axes_read_as_dates_with_few_runs(
    chromium: HeadlessChromium, tmp_path: Path, nights: int, request: pytest.FixtureRequest
) -> None:
    """With one run plotly's own ticks were times a millisecond apart ("23:59:59.999")."""
    from synthetic import SyntheticHistory, write_history

    from meshmark_tasks.reporting import build_report

    root = tmp_path / "history"
    write_history(str(root), SyntheticHistory(nights=nights, seed=3))
    report = build_report(str(root), out_dir=str(tmp_path / "report"))
    chromium.call("Page.enable")
    chromium.call("Page.navigate", url=Path(report.html_path).as_uri())
    chromium.wait_for("Page.loadEventFired")
    deadline = time.monotonic() + 60
    while not all(chromium.evaluate(TIME_AXIS_TICKS_JS).values()):
        if time.monotonic() > deadline:
            chromium.screenshot(REPO / "var" / "screenshots" / f"report-{nights}-nights.png")
            raise AssertionError(f"charts drew no x ticks: {chromium.evaluate(TIME_AXIS_TICKS_JS)}")
        time.sleep(0.2)
    ticks = chromium.evaluate(TIME_AXIS_TICKS_JS)
    dates = [f"2025-01-0{day}" for day in range(1, nights + 1)]
    for chart, labels in ticks.items():
        # One label per run date (the overhead chart labels each of its two bottom panels).
        assert labels and sorted(set(labels)) == dates, (chart, labels)


# Each chart's SVG as drawn: every element with its attributes in name order (the order they were
# set in differs from one drawing to the next), the random ids of the figure (in its clip paths)
# and of its traces (in their class names) taken out.
DRAWN_SVG_JS = """(() => {
  const canonical = node => node.nodeType !== 1 ? node.textContent
    : `<${node.tagName} ${[...node.attributes].map(a => `${a.name}=${a.value}`).sort().join(' ')}>`
      + [...node.childNodes].map(canonical).join('') + '</>';
  return Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')].map(gd =>
    [gd.id, gd._fullData.reduce((svg, trace, i) => svg.replaceAll(trace.uid, `trace-${i}`),
      [...gd.querySelectorAll('.main-svg')].map(canonical).join('')
        .replaceAll(gd._fullLayout._uid, 'UID'))]));
})()"""


def test_the_report_s_small_shared_template_draws_as_plotly_white(
    chromium: HeadlessChromium, tmp_path: Path
) -> None:
    """A page defines the report's template once (charts.chart_script) and every chart is drawn
    with it: plotly_white cut to scatter and bar charts, about 1 KB instead of 6.5. Every kind of
    trace the report uses, as plain traces through charts.chart, draws exactly as plotly.py's own
    HTML of the same figure with the whole of plotly_white."""
    import json

    import plotly.graph_objects as go
    import plotly.io as pio
    from plotly.subplots import make_subplots

    from meshmark_tasks.reporting.charts import MARGIN, chart, chart_script, plotly_js, report_template

    lines = make_subplots(rows=2, cols=1, shared_xaxes=True, subplot_titles=("p50", "p99"))
    for row, mesh in ((1, "baseline"), (2, "sidecar")):
        lines.add_trace(go.Scatter(x=[1, 2, 3], y=[1.0, 1.4, 1.2], name=mesh, mode="lines+markers"), row, 1)
    lines.add_hline(y=1.3, line_dash="dot", annotation_text="level")
    bars = go.Figure(
        [
            go.Bar(x=["a", "b"], y=[3.0, 4.5], name=side, error_y={"type": "data", "array": [0.2, 0.4]})
            for side in ("A", "B")
        ]
    )
    bars.update_layout(barmode="group", yaxis_title="p99 (ms)")
    divs = []
    for name, figure in (("lines", lines), ("bars", bars)):
        traces = [t.to_plotly_json() for t in figure.data]
        divs.append(chart(f"{name}-small", name, "", traces, figure).div)
        reference = go.Figure(figure)
        reference.update_layout(template="plotly_white", margin=MARGIN, height=420)
        divs.append(reference.to_html(full_html=False, include_plotlyjs=False, div_id=f"{name}-white"))
    small, white = (
        json.dumps(t, separators=(",", ":"))
        for t in (report_template(), pio.templates["plotly_white"].to_plotly_json())
    )
    assert len(small) < 1_100 < 6_000 < len(white)
    assert small in chart_script()
    (tmp_path / "plotly.js").write_text(plotly_js())
    page = tmp_path / "charts.html"
    page.write_text(
        '<!doctype html><html><head><meta charset="utf-8"><script src="plotly.js"></script>'
        f"<script>{chart_script()}</script></head>"
        f"<body style='width: 1000px'>{''.join(divs)}</body></html>"
    )
    chromium.call("Runtime.enable")
    chromium.call("Page.enable")
    chromium.call("Page.navigate", url=page.as_uri())
    chromium.wait_for("Page.loadEventFired")
    chromium.wait_for_plotly_charts(8)
    time.sleep(0.5)
    drawn = chromium.evaluate(DRAWN_SVG_JS)
    for name in ("lines", "bars"):
        assert len(drawn[f"{name}-small"]) > 2_000
        assert drawn[f"{name}-small"] == drawn[f"{name}-white"], name
    # Each chart has its own copy of the template (plotly.js keeps it in the chart's layout).
    assert chromium.evaluate(
        "document.getElementById('lines-small').layout.template"
        " !== document.getElementById('bars-small').layout.template"
    )
    assert chromium.console_errors() == []
