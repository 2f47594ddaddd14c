"""The nightly DAG file: imports cleanly, has the promised shape, and stays light at parse time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The kubernetes client comes with KubernetesPodOperator, which the nightly DAG's pod task needs
# at parse time; the DAG processor imports it once before parsing (benchmarks/bench_pipeline.py
# measures the parse). Everything else stays out.
HEAVY = ("pandas", "great_expectations", "pyarrow", "duckdb", "plotly")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_dagbag_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert "meshmark_nightly" in dagbag.dag_ids


def test_nightly_shape(dagbag) -> None:
    dag = dagbag.dags["meshmark_nightly"]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert "meshmark" in dag.tags
    assert dag.timetable.expression == "0 2 * * *"
    assert set(dag.task_ids) == {
        "plan",
        "provision",
        "branch_on_backend",
        "run_cell",
        "render_pods",
        "loadgen",
        "collect",
        "finalize",
        "teardown_testbed",
    }
    run_cell = dag.get_task("run_cell")
    assert run_cell.pool == "meshmark_loadtest"
    assert dag.get_task("teardown_testbed").is_teardown
    assert dag.get_task("provision").is_setup
    assert [o.name for o in dag.get_task("finalize").outlets] == ["meshmark_results"]
    assert dag.default_args["retries"] == 2 and dag.default_args["retry_exponential_backoff"]
    assert dag.get_task("run_cell").upstream_task_ids == {"plan", "branch_on_backend"}
    assert dag.get_task("branch_on_backend").upstream_task_ids == {"plan", "provision"}
    assert dag.get_task("teardown_testbed").upstream_task_ids >= {"finalize", "provision"}


def test_the_branch_leads_to_the_pod_task_on_kubernetes_only(dagbag) -> None:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    dag = dagbag.dags["meshmark_nightly"]
    branch = dag.get_task("branch_on_backend")
    # It also leads straight to the pod and collect tasks, so that taking the local side skips them
    # at once (finalize need not wait for the skip to cascade).
    assert branch.downstream_task_ids == {"run_cell", "render_pods", "loadgen", "collect"}

    def reachable(task_id: str) -> set[str]:
        seen, todo = set(), [task_id]
        while todo:
            for downstream in dag.get_task(todo.pop()).downstream_task_ids - seen:
                seen.add(downstream)
                todo.append(downstream)
        return seen

    pod_tasks = {t.task_id for t in dag.tasks if t.is_mapped and t.operator_class is KubernetesPodOperator}
    assert pod_tasks == {"loadgen"}
    assert "loadgen" in reachable("render_pods") and "loadgen" not in reachable("run_cell")
    loadgen = dag.get_task("loadgen")
    assert loadgen.partial_kwargs["pool"] == "meshmark_loadtest"
    assert loadgen.partial_kwargs["max_active_tis_per_dag"] == 1  # deferred pods never overlap
    assert loadgen.map_index_template == "{{ task.labels['meshmark.io/cell'] }}"
    assert dag.get_task("collect").upstream_task_ids >= {"loadgen"}
    assert dag.get_task("collect").trigger_rule == "none_skipped"
    assert dag.get_task("finalize").upstream_task_ids >= {"run_cell", "collect"}
    assert dag.get_task("finalize").trigger_rule == "none_failed_min_one_success"


@pytest.mark.parametrize("task_id", ["run_cell", "collect"])
def test_mapped_cells_are_labelled_by_cell_id_before_they_run(dagbag, task_id: str) -> None:
    """Airflow 3.3 renders map_index_template before the task body runs, with the expanded task in
    the context: the label must come from the task's own arguments, not from something it sets."""
    from types import SimpleNamespace

    import jinja2

    template = dagbag.dags["meshmark_nightly"].get_task(task_id).map_index_template
    unmapped = SimpleNamespace(
        op_kwargs={"run_plan": {}, "cell": {"cell_id": "sidecar-q100-c8-b1024-http-r0"}}
    )
    assert jinja2.Template(template).render(task=unmapped) == "sidecar-q100-c8-b1024-http-r0"


def test_cells_log_summaries_not_their_returned_dicts(dagbag) -> None:
    dag = dagbag.dags["meshmark_nightly"]
    for task_id in ("plan", "run_cell", "render_pods", "collect", "finalize"):
        task = dag.get_task(task_id)
        shown = task.partial_kwargs.get("show_return_value_in_logs") if task.is_mapped else None
        shown = task.show_return_value_in_logs if shown is None else shown
        assert shown is False, task_id


def test_docs_name_the_pool_and_the_outputs(dagbag) -> None:
    doc = dagbag.dags["meshmark_nightly"].doc_md
    assert "meshmark_loadtest" in doc and "--include-deferred" in doc
    for output in ("Parquet tables", "data_docs/<run>/", "reports/latest/", "run_summaries/<run>.json"):
        assert output in doc, output
    assert "/meshmark/report" in doc  # served by the plugin, one click


def test_trigger_form_params(dagbag) -> None:
    params = dagbag.dags["meshmark_nightly"].params
    expected = {"profile", "backend", "meshes", "qps", "connections", "duration_s"}
    assert set(params.keys()) == expected
    for name in expected:
        assert params.get_param(name).description, name
    assert "local-demo" in params.get_param("profile").schema["enum"]
    assert params.get_param("backend").schema["enum"] == ["local", "kubernetes"]
    # Optional lists: "null" in the type is what the form reads as "not required".
    for name in ("meshes", "qps", "connections"):
        schema = params.get_param(name).schema
        assert schema["type"] == ["array", "null"] and params[name] is None, name
    # Mesh names are offered from the profiles (the textarea refuses others when triggered).
    assert {"baseline", "sidecar", "sidecar-mtls", "istio", "linkerd"} <= set(
        params.get_param("meshes").schema["items"]["enum"]
    )
    assert "requests per second" in params.get_param("qps").description
    assert "seconds" in params.get_param("duration_s").description


def _form_widget(schema: dict) -> str:
    """The widget Airflow 3.3's trigger form (FieldSelector) picks for a list param's schema."""
    if "examples" in schema or "enum" in schema:
        return "multi-select"
    item_type = (schema.get("items") or {}).get("type")
    return "one value per line" if item_type in (None, "string") else "JSON editor"


def test_the_three_lists_share_the_free_text_widget(dagbag) -> None:
    params = dagbag.dags["meshmark_nightly"].params
    widgets = {name: _form_widget(params.get_param(name).schema) for name in ("meshes", "qps", "connections")}
    assert set(widgets.values()) == {"one value per line"}, widgets


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("qps", ["100", "max", ""]),  # as the form sends what a person types
        ("qps", ["100, 300 MAX"]),
        ("qps", [100, 2.5, "max"]),  # as the REST API or `meshmark nightly` sends it
        ("connections", ["8", " 16 "]),
        ("connections", [8, 64]),
        ("meshes", ["baseline", "sidecar-mtls", ""]),
        ("duration_s", 2.5),
        ("qps", None),
        ("meshes", None),
    ],
)
def test_trigger_form_accepts_what_people_type(dagbag, name: str, value: object) -> None:
    dagbag.dags["meshmark_nightly"].params.get_param(name).resolve(value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("backend", "nomad"),
        ("qps", [-1]),
        ("qps", ["fast"]),
        ("qps", ["0"]),
        ("qps", ["1e400"]),
        ("connections", [0]),
        ("connections", ["2.5"]),
        ("duration_s", -3),
        ("meshes", ["Not A Label"]),
        ("meshes", ["sidcar"]),
        ("profile", "nope"),
    ],
)
def test_trigger_form_rejects_bad_values(dagbag, name: str, value: object) -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    param = dagbag.dags["meshmark_nightly"].params.get_param(name)
    with pytest.raises(ParamValidationError):
        param.resolve(value)


def test_no_run_for_a_slot_that_passed_before_the_dag_was_switched_on(
    dagbag, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unpausing (or creating) the DAG just after 02:00 must not start that night's full run."""
    import airflow.timetables.trigger as trigger
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction
    from pendulum import datetime as utc_datetime

    # Switched on 10 minutes after a slot: Airflow's default would still start that slot's run.
    now = utc_datetime(2026, 12, 1, 2, 10)
    monkeypatch.setattr(trigger, "utcnow", lambda: now)

    dag = dagbag.dags["meshmark_nightly"]
    assert dag.start_date is None
    info = coerce_to_core_timetable(dag.timetable).next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=None, latest=None, catchup=False),
    )
    assert info is not None and info.run_after == utc_datetime(2026, 12, 2, 2)


def test_dag_files_import_nothing_heavy_at_parse_time() -> None:
    code = (
        "import importlib.util, json, sys, pathlib\n"
        f"for f in sorted(pathlib.Path({str(REPO / 'dags')!r}).glob('*.py')):\n"
        "    spec = importlib.util.spec_from_file_location(f.stem, f)\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_cron_off_means_triggered_runs_only() -> None:
    dag_file = str(REPO / "dags" / "meshmark_nightly.py")
    code = (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('n', {dag_file!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(m.SCHEDULE)\n"
    )
    env = {**os.environ, "MESHMARK_NIGHTLY_CRON": "off"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip().splitlines()[-1] == "None"


@pytest.mark.parametrize(
    ("run_type", "profile"),
    [("scheduled", "local-nightly"), ("manual", "local-demo"), ("asset_triggered", "local-demo")],
)
def test_scheduled_runs_plan_the_nightly_profile_triggered_runs_the_forms(
    dagbag, monkeypatch: pytest.MonkeyPatch, run_type: str, profile: str
) -> None:
    """The plan task with the DAG's default params, as a scheduled run and as a triggered one."""
    from types import SimpleNamespace

    task = dagbag.dags["meshmark_nightly"].get_task("plan")
    pushed: dict[str, dict] = {}
    context = {
        "params": dagbag.dags["meshmark_nightly"].params.dump(),
        "dag_run": SimpleNamespace(run_type=run_type),
        "ti": SimpleNamespace(xcom_push=lambda key, value: pushed.update({key: value})),
    }
    monkeypatch.setitem(task.python_callable.__globals__, "get_current_context", lambda: context)
    cells = task.python_callable()
    assert pushed["plan"]["profile"]["name"] == profile
    assert cells == pushed["plan"]["cells"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"profile": "no-such-profile"}, "no-such-profile"),
        ({"profile": "local-demo", "qps": [-5]}, "qps"),
        ({"profile": "local-demo", "meshes": ["not-a-mesh"]}, "not-a-mesh"),
    ],
)
def test_a_broken_profile_or_override_fails_the_plan_task_once(dagbag, params: dict, message: str) -> None:
    """AirflowFailException: Airflow fails the task without the DAG's retries (2 m 15 s of them before)."""
    from airflow.sdk.exceptions import AirflowFailException

    callable_ = dagbag.dags["meshmark_nightly"].get_task("plan").python_callable
    callable_.__globals__["get_current_context"] = lambda: {"params": params}
    try:
        with pytest.raises(AirflowFailException, match=message) as failure:
            callable_()
    finally:
        from airflow.sdk import get_current_context

        callable_.__globals__["get_current_context"] = get_current_context
    assert "\n" not in str(failure.value)
