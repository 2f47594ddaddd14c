"""The Airflow UI's trigger form for meshmark_nightly, in headless Chromium: the profile parameters
are there, labelled as the DAG declares them, with the profile picker on its default.

Logs in as the UI does after the simple auth manager's login (a JWT in the `_token` cookie), opens
the DAG page, presses "Trigger" and reads the dialog. Saves var/screenshots/trigger-form.png.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.services, pytest.mark.slow]

NIGHTLY = "meshmark_nightly"
REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "var" / "screenshots" / "trigger-form.png"

# The dialog the "Trigger" button opens (Chakra renders it, and some hidden popovers, as role=dialog).
FIND_DIALOG_JS = (
    "[...document.querySelectorAll('[role=dialog]')].find(d => d.innerText.includes('Trigger Dag'))"
)
DIALOG_TEXT_JS = f"(() => {{ const d = {FIND_DIALOG_JS}; return d ? d.innerText : null }})()"
CLICK_TRIGGER_JS = """(() => {
  const button = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Trigger');
  if (!button) return false;
  button.click();
  return true;
})()"""
# Every labelled form control in the dialog, with what it currently shows.
FIELDS_JS = f"""(() => {{
  const d = {FIND_DIALOG_JS};
  if (!d) return null;
  return [...d.querySelectorAll('label')].map(l => l.innerText.trim()).filter(t => t);
}})()"""


def expected_labels(stack: Any) -> dict[str, str]:
    """Parameter name -> the label the form shows (the Param's title, else its name)."""
    params = stack.api_json("GET", f"/dags/{NIGHTLY}/details")["params"]
    return {name: (spec.get("schema") or {}).get("title") or name for name, spec in params.items()}


def test_trigger_form_shows_profile_parameters(airflow_stack: Any, chromium: Any) -> None:
    stack = airflow_stack
    stack.wait_for_dag(NIGHTLY)
    labels = expected_labels(stack)
    assert {"profile", "meshes", "qps", "connections", "duration_s", "backend"} <= set(labels)

    chromium.call("Network.enable")
    chromium.call("Page.enable")
    chromium.call("Network.setCookie", name="_token", value=stack.token(), url=stack.api_url, path="/")
    chromium.call("Page.navigate", url=f"{stack.api_url}/dags/{NIGHTLY}")

    try:
        stack.wait_until("the DAG page's Trigger button", lambda: chromium.evaluate(CLICK_TRIGGER_JS), 90)

        def form_ready() -> str | None:
            text = chromium.evaluate(DIALOG_TEXT_JS)
            return text if text and all(label in text for label in labels.values()) else None

        stack.wait_until("the trigger form with every parameter", form_ready, 60)
    except TimeoutError as exc:
        chromium.screenshot(SCREENSHOT)
        dialog = chromium.evaluate(DIALOG_TEXT_JS)
        body = chromium.evaluate("document.body ? document.body.innerText.slice(0, 3000) : ''")
        raise AssertionError(
            f"{exc}\nexpected labels: {labels}\ndialog: {dialog}\npage: {body}\nscreenshot: {SCREENSHOT}"
        ) from exc

    chromium.screenshot(SCREENSHOT)
    form_labels = chromium.evaluate(FIELDS_JS)
    for name, label in labels.items():
        assert any(label in shown for shown in form_labels), f"no field labelled {label!r} for {name}"
    # The profile picker offers the profiles and starts on the default.
    dialog = chromium.evaluate(DIALOG_TEXT_JS)
    assert "local-demo" in dialog, f"the profile field does not show its default: {json.dumps(dialog)}"
