"""The whole path as a person takes it, in headless Chromium against the real Airflow of conftest.py
(started as `make airflow` starts it): log in on the login page, open meshmark_nightly, press
Trigger, type a one-cell matrix into the form's fields (not the JSON), trigger, and once the run
has succeeded open its trend report and Data Docs from the run's tabs.

Along the way it checks what the form and the logs promise: the fields are labelled as the DAG
declares them and optional, the running cell is labelled by its cell id, the cell's log has its
phases and one result line instead of the returned dict, finalize's log has the run's table and no
Great Expectations chatter. On failure the page is saved under var/screenshots/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.services, pytest.mark.slow]

NIGHTLY = "meshmark_nightly"
TREND_REPORT = "meshmark_trend_report"
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "screenshots"
CELL_ID = "baseline-q100-c8-b1024-http-r0"
# What a person types into the fields, one value per line where the field is a list.
TYPED = {"meshes": "baseline", "qps": "100", "connections": "8", "duration_s": "3"}
RUN_TIMEOUT_S = 600

FIND_DIALOG_JS = (
    "[...document.querySelectorAll('[role=dialog]')].find(d => d.innerText.includes('Trigger Dag'))"
)
DIALOG_TEXT_JS = f"(() => {{ const d = {FIND_DIALOG_JS}; return d ? d.innerText : null }})()"
LABELS_JS = f"""(() => {{
  const d = {FIND_DIALOG_JS};
  return d ? [...d.querySelectorAll('label')].map(l => l.innerText.trim()).filter(t => t) : null;
}})()"""


def click_button_js(text: str, within: str = "document") -> str:
    return f"""(() => {{
  const root = {within};
  if (!root) return false;
  const button = [...root.querySelectorAll('button')].find(b => b.innerText.trim() === {json.dumps(text)});
  if (!button || button.disabled) return false;
  button.click();
  return true;
}})()"""


# A param's control: Airflow's FlexibleForm gives text boxes the id element_<name>; the number field
# (Chakra's NumberInput) keeps that id on its root or hands it to its label's control.
FIELD_JS = """((name, title) => {
  const el = document.getElementById('element_' + name);
  let input = el && (['INPUT', 'TEXTAREA'].includes(el.tagName) ? el : el.querySelector('input, textarea'));
  if (!input) {
    const label = [...document.querySelectorAll('label')]
      .find(l => l.innerText.replace(/[*\\s]+$/, '').trim() === title);
    input = label && label.control;
    for (let node = label; !input && node && node !== document.body; node = node.parentElement) {
      input = node.querySelector('input:not([type=checkbox]), textarea');
    }
  }
  return input || null;
})"""


def focus_field_js(name: str, title: str) -> str:
    return f"""(() => {{
  const input = {FIELD_JS}({json.dumps(name)}, {json.dumps(title)});
  if (!input) return false;
  input.focus();
  return document.activeElement === input;
}})()"""


def field_value_js(name: str, title: str) -> str:
    return f"""(() => {{
  const input = {FIELD_JS}({json.dumps(name)}, {json.dumps(title)});
  return input ? input.value : null;
}})()"""


UNPAUSE_CHECKED_JS = f"""(() => {{
  const d = {FIND_DIALOG_JS};
  const label = d && [...d.querySelectorAll('label')].find(l => l.innerText.includes('Unpause'));
  const box = label && label.querySelector('input[type=checkbox]');
  if (!box) return null;
  if (!box.checked) label.click();
  return box.checked;
}})()"""


def iframe_text_js(title: str) -> str:
    return f"""(() => {{
  const frame = [...document.querySelectorAll('iframe')].find(f => f.title === {json.dumps(title)});
  const doc = frame && frame.contentDocument;
  return doc && doc.readyState === 'complete' && doc.body ? doc.body.innerText : null;
}})()"""


class Browser:
    """The Chromium fixture plus the steps of this test, each saving a screenshot when it fails."""

    def __init__(self, chromium: Any, stack: Any) -> None:
        self.chromium, self.stack = chromium, stack

    def evaluate(self, expression: str) -> Any:
        return self.chromium.evaluate(expression)

    def until(self, what: str, check: str | Callable[[], Any], timeout_s: float = 60) -> Any:
        """Wait for a JavaScript expression (or a Python check) to be truthy; its value."""
        probe = check if callable(check) else lambda: self.evaluate(check)
        try:
            return self.stack.wait_until(what, probe, timeout_s, 0.3)
        except TimeoutError as exc:
            self.fail(what, str(exc))

    def fail(self, step: str, message: str) -> None:
        shot = SCREENSHOTS / f"e2e-{re.sub(r'[^a-z0-9]+', '-', step.lower()).strip('-')[:60]}.png"
        self.chromium.screenshot(shot)
        body = self.evaluate("document.body ? document.body.innerText.slice(0, 3000) : ''")
        raise AssertionError(f"{step}: {message}\npage: {body}\nscreenshot: {shot}")

    def open(self, path: str) -> None:
        self.chromium.call("Page.navigate", url=f"{self.stack.api_url}{path}")

    def type_into(self, name: str, title: str, text: str) -> None:
        self.until(f"the {name} field to take focus", focus_field_js(name, title), 20)
        self.chromium.call("Input.insertText", text=text)
        shown = self.evaluate(field_value_js(name, title))
        if shown != text:
            self.fail(f"typing into {name}", f"the field shows {shown!r}")


def expected_labels(stack: Any) -> dict[str, str]:
    """Parameter name -> the label the form shows (the Param's title, else its name)."""
    params = stack.api_json("GET", f"/dags/{NIGHTLY}/details")["params"]
    return {name: (spec.get("schema") or {}).get("title") or name for name, spec in params.items()}


def task_log(stack: Any, run_id: str, task_id: str, map_index: int = -1) -> str:
    params: dict[str, Any] = {"full_content": "true"}
    if map_index >= 0:
        params["map_index"] = map_index
    path = f"/dags/{NIGHTLY}/dagRuns/{run_id}/taskInstances/{task_id}/logs/1"
    records = stack.api_json("GET", path, params=params).get("content", [])
    return "\n".join(str(r.get("event", "")) if isinstance(r, dict) else str(r) for r in records)


def test_a_person_triggers_a_one_cell_run_from_the_form_and_opens_its_report(
    airflow_stack: Any, chromium: Any
) -> None:
    stack = airflow_stack
    stack.wait_for_dag(NIGHTLY)
    labels = expected_labels(stack)
    assert {"profile", "meshes", "qps", "connections", "duration_s", "backend"} <= set(labels)
    browser = Browser(chromium, stack)
    for domain in ("Network", "Page", "Runtime"):
        chromium.call(f"{domain}.enable")

    # Log in on Airflow's login page, as a person does.
    browser.open(f"/auth/login?next={stack.api_url}/dags/{NIGHTLY}")
    browser.until("the login form", focus_field_by_name_js("username"))
    chromium.call("Input.insertText", text="admin")
    browser.until("the password field", focus_field_by_name_js("password"))
    chromium.call("Input.insertText", text=stack.password)
    browser.until("the Sign in button", click_button_js("Sign in"), 20)

    # The DAG page's Trigger button opens the form with every parameter, labelled, none required.
    browser.until("the DAG page's Trigger button", click_button_js("Trigger"), 120)

    def form_ready() -> str | None:
        text = browser.evaluate(DIALOG_TEXT_JS)
        return text if text and all(label in text for label in labels.values()) else None

    browser.until("the trigger form with every parameter", form_ready, 60)
    chromium.screenshot(SCREENSHOTS / "trigger-form.png")
    shown = browser.evaluate(LABELS_JS)
    for name, label in labels.items():
        assert any(label in text for text in shown), f"no field labelled {label!r} for {name}"
    dialog = browser.evaluate(DIALOG_TEXT_JS)
    assert "local-demo" in dialog, f"the profile field does not show its default: {json.dumps(dialog)}"
    assert "requests per second" in dialog, "the QPS field does not say its unit"

    before = {r["dag_run_id"] for r in stack.api_json("GET", f"/dags/{NIGHTLY}/dagRuns")["dag_runs"]}
    for name, text in TYPED.items():
        browser.type_into(name, labels[name], text)
    if browser.evaluate(UNPAUSE_CHECKED_JS) is False:
        browser.fail("unpause on trigger", "the checkbox stays unchecked")
    browser.until("the form's Trigger button", click_button_js("Trigger", within=FIND_DIALOG_JS), 20)

    def new_run() -> str | None:
        runs = stack.api_json("GET", f"/dags/{NIGHTLY}/dagRuns")["dag_runs"]
        fresh = [r["dag_run_id"] for r in runs if r["dag_run_id"] not in before]
        return fresh[0] if fresh else None

    try:
        run_id = stack.wait_until("the run the form triggered", new_run, 60, 1.0)
    except TimeoutError as exc:
        browser.fail("triggering from the form", str(exc))
    conf = stack.api_json("GET", f"/dags/{NIGHTLY}/dagRuns/{run_id}")["conf"]
    assert conf["qps"] == ["100"] and conf["meshes"] == ["baseline"] and conf["duration_s"] == 3, conf

    # The running cell is labelled by its cell id while it runs, not only once it has finished.
    # Airflow 3.3 renders the label as the task starts (after its process has parsed the DAG), so
    # the first half-second or so of "running" may still show the map index.
    labels_seen: list[str] = []

    def cell_state() -> str | None:
        stack.check_processes_alive()
        tis = stack.api_json("GET", f"/dags/{NIGHTLY}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        for ti in tis["task_instances"]:
            if ti["task_id"] == "run_cell" and ti["map_index"] == 0:
                if ti["state"] == "running":
                    labels_seen.append(str(ti.get("rendered_map_index")))
                return ti["state"] if ti["state"] in ("success", "failed", "upstream_failed") else None
        return None

    stack.wait_until("the cell to finish", cell_state, RUN_TIMEOUT_S, 0.5)
    assert set(labels_seen) <= {"0", CELL_ID}, labels_seen
    assert labels_seen.count(CELL_ID) >= len(labels_seen) / 2, f"labels while running: {labels_seen}"
    state = stack.wait_for_run(NIGHTLY, run_id, RUN_TIMEOUT_S)
    assert state == "success", stack.describe_run(NIGHTLY, run_id)

    cell_log = task_log(stack, run_id, "run_cell", 0)
    for line in ("start and ready took", "warmup took", "measuring 3 s at 100 QPS with 8 connections"):
        assert line in cell_log, f"{line!r} not in the cell's log:\n{cell_log}"
    assert re.search(rf"cell 1/1 {CELL_ID}: [0-9.]+ QPS of 100 requested .* p99 .* CPU app", cell_log), (
        cell_log
    )
    assert "Returned value was" not in cell_log
    final_log = task_log(stack, run_id, "finalize")
    assert "MeshMark baseline" in final_log and "1 scored, 0 quarantined of 1 planned" in final_log, final_log
    assert "Skipping registering function" not in final_log and "Returned value was" not in final_log

    # The results asset schedules the report DAG (active from the start); wait for the run it made.
    # (the REST test's report run, if any, finished before this run started)
    started = datetime.fromisoformat(stack.api_json("GET", f"/dags/{NIGHTLY}/dagRuns/{run_id}")["start_date"])

    def report_after_ours() -> str | None:
        runs = stack.api_json(
            "GET", f"/dags/{TREND_REPORT}/dagRuns", params={"order_by": "-run_after", "limit": 1}
        )["dag_runs"]
        newest = runs[0] if runs else None
        if newest and datetime.fromisoformat(newest["run_after"]) >= started:
            return str(newest["state"]) if newest["state"] in ("success", "failed") else None
        return None

    assert stack.wait_until("the trend report of this run", report_after_ours, 300, 2.0) == "success"

    # One click from the run: its "Trend report" and "Data Docs" tabs show them, served.
    browser.open(f"/dags/{NIGHTLY}/runs/{run_id}")
    browser.until("the run's Trend report tab", click_tab_js("Trend report"), 60)
    report = browser.until("the trend report in the tab", iframe_text_js("Trend report"), 60)
    assert "MeshMark" in report and run_id in report, report[:2000]
    chromium.screenshot(SCREENSHOTS / "run-trend-report-tab.png")
    browser.until("the run's Data Docs tab", click_tab_js("Data Docs"), 60)
    docs = browser.until("the Data Docs in the tab", iframe_text_js("Data Docs"), 60)
    assert "meshmark" in docs.lower() and "Expectation" in docs, docs[:2000]


def focus_field_by_name_js(name: str) -> str:
    return f"""(() => {{
  const input = document.querySelector('input[name={name}]');
  if (!input) return false;
  input.focus();
  return document.activeElement === input;
}})()"""


def click_tab_js(label: str) -> str:
    return f"""(() => {{
  const tab = [...document.querySelectorAll('a, button, [role=tab]')]
    .find(t => t.innerText && t.innerText.trim() === {json.dumps(label)});
  if (!tab) return false;
  tab.click();
  return true;
}})()"""
