"""Debian's headless Chromium driven over the DevTools protocol, for the browser tests.

One page, a fresh profile and a loopback debugging port per browser. Used by the trend report's
browser test (tests/reporting) and the Airflow UI test (tests/e2e) through the `chromium` fixture of
tests/conftest.py. `ensure_chromium()` installs the browser with scripts/install-chromium.sh when it
is missing.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "scripts" / "install-chromium.sh"

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # No network: nothing the tests open needs it, and nothing else should go out.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Containers often have a small /dev/shm (64 MB under Docker); big pages crash the renderer there.
    "--disable-dev-shm-usage",
    "--window-size=1400,2400",
)
START_TIMEOUT_S = 60.0


def ensure_chromium() -> str:
    """The path of `chromium`, installing it first (scripts/install-chromium.sh) if it is missing."""
    found = shutil.which("chromium")
    if found is None:
        subprocess.run(["bash", str(INSTALL_SCRIPT)], check=True, stdout=sys.stderr, timeout=900)
        found = shutil.which("chromium")
    assert found, f"chromium is not installed ({INSTALL_SCRIPT.relative_to(REPO)})"
    return found


class HeadlessChromium:
    """A headless Chromium with one page, driven over that page's DevTools websocket.

    Every DevTools event received while waiting for a reply is kept in `events` (enable the
    `Runtime`/`Log` domains to see the page's errors, see `console_errors`).
    """

    def __init__(self, workdir: Path, executable: str = "chromium") -> None:
        """Start the browser with a fresh profile in workdir/profile, its output in workdir/chromium.log."""
        import websocket  # websocket-client

        profile = workdir / "profile"
        profile.mkdir(parents=True)  # must be new: the DevTools port file is read from it
        self.log_path = workdir / "chromium.log"
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self.ws: Any = None
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    executable,
                    *FLAGS,
                    f"--user-data-dir={profile}",
                    "--remote-debugging-address=127.0.0.1",
                    "--remote-debugging-port=0",  # Chromium picks a free port and writes it to the profile
                    "about:blank",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            ws_url = self._page_websocket_url(profile / "DevToolsActivePort")
            # No Origin header: Chromium refuses DevTools websockets from origins it was not told about.
            self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        except BaseException:
            self.close()
            raise

    def _page_websocket_url(self, port_file: Path) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"chromium exited: {self.log_path.read_text(errors='replace')}")
            if port_file.exists() and port_file.read_text().strip():
                port = int(port_file.read_text().split()[0])
                url = f"http://127.0.0.1:{port}/json/list"
                with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as response:
                    pages = [t for t in json.load(response) if t["type"] == "page"]
                    if pages:
                        return str(pages[0]["webSocketDebuggerUrl"])
            if time.monotonic() > deadline:
                raise TimeoutError(f"chromium did not open its DevTools port within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.2)

    def __enter__(self) -> HeadlessChromium:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result; events that arrive meanwhile are kept."""
        call_id = next(self._ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"CDP {method} failed: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, event: str, timeout: float = 60) -> None:
        """Block until a DevTools event named `event` has been received (its domain must be enabled)."""
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(event)
            self.events.append(json.loads(self.ws.recv()))

    def wait_for_plotly_charts(self, count: int, timeout: float = 60) -> None:
        """Block until at least `count` plotly charts have drawn their SVG."""
        deadline = time.monotonic() + timeout
        while self.evaluate("document.querySelectorAll('.js-plotly-plot .main-svg').length") < count:
            assert time.monotonic() < deadline, "plotly charts did not render"
            time.sleep(0.2)

    def console_errors(self) -> list[dict[str, Any]]:
        """Uncaught exceptions, console.error/console.assert calls and error log entries seen so far.

        Needs `Runtime.enable` and `Log.enable` before the page loads.
        """
        return [
            e
            for e in self.events
            if e.get("method") == "Runtime.exceptionThrown"
            or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
            or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
        ]

    def screenshot(self, path: Path) -> None:
        """Save what the page shows as a PNG."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """Close the websocket and stop Chromium with all its child processes."""
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
