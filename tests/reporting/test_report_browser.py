"""Open the HTML report in headless Debian Chromium (DevTools protocol) and check the charts render.

Needs `chromium` (scripts/install-chromium.sh installs it). No network is needed: the report is
self-contained, and Chromium's background networking is switched off.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "var" / "screenshots" / "report.png"

pytestmark = pytest.mark.services


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        subprocess.run([str(REPO / "scripts" / "install-chromium.sh")], check=True, timeout=900)
        found = shutil.which("chromium")
    assert found, "chromium is not installed (scripts/install-chromium.sh)"
    return found


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, ws_url: str) -> None:
        import websocket  # websocket-client

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(event)
            self.events.append(json.loads(self.ws.recv()))

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def browser(tmp_path: Path):
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    process = subprocess.Popen(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            pages = [t for t in json.load(response) if t["type"] == "page"]
        tools = DevTools(pages[0]["webSocketDebuggerUrl"])
        yield tools
        tools.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_report_renders_charts_without_console_errors(browser: DevTools, regression_report) -> None:
    browser.call("Runtime.enable")
    browser.call("Log.enable")
    browser.call("Page.enable")
    browser.call(
        "Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False
    )
    browser.call("Page.navigate", url=Path(regression_report.html_path).as_uri())
    browser.wait_for("Page.loadEventFired")

    def evaluate(expression: str) -> Any:
        return browser.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"]["value"]

    deadline = time.monotonic() + 60
    while evaluate("document.querySelectorAll('.js-plotly-plot .main-svg').length") < 10:
        assert time.monotonic() < deadline, "plotly charts did not render"
        time.sleep(0.2)

    assert evaluate("document.querySelectorAll('.js-plotly-plot').length") == 5
    assert evaluate("typeof Plotly") == "object"
    traces = evaluate(
        "Array.from(document.querySelectorAll('.js-plotly-plot')).map("
        "p => p.querySelectorAll('.scatterlayer .trace').length)"
    )
    assert all(n > 0 for n in traces), traces  # every chart drew at least one line
    assert evaluate("document.querySelectorAll('tr.regression').length") == 6
    assert evaluate("document.querySelector('h2').id") == "regressions"  # regressions come first

    errors = [
        e
        for e in browser.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert errors == []

    height = evaluate("Math.ceil(document.documentElement.scrollHeight)")
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        width=1280,
        height=min(int(height), 6000),
        deviceScaleFactor=1,
        mobile=False,
    )
    time.sleep(1.0)  # let plotly's responsive resize settle
    shot = browser.call("Page.captureScreenshot", format="png")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
    assert SCREENSHOT.stat().st_size > 20_000
