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

    deadline = time.monotonic() + 60
    while chromium.evaluate("document.querySelectorAll('.js-plotly-plot .main-svg').length") < 10:
        assert time.monotonic() < deadline, "plotly charts did not render"
        time.sleep(0.2)

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
