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

    assert chromium.evaluate("document.querySelectorAll('.js-plotly-plot').length") == 5
    assert chromium.evaluate("typeof Plotly") == "object"
    traces = chromium.evaluate(
        "Array.from(document.querySelectorAll('.js-plotly-plot')).map("
        "p => p.querySelectorAll('.scatterlayer .trace').length)"
    )
    assert all(n > 0 for n in traces), traces  # every chart drew at least one line
    assert chromium.evaluate("document.querySelectorAll('tr.regression').length") == 6
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
