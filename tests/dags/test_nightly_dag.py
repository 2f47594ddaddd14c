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
    assert run_cell.map_index_template == "{{ cell_label }}"
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
    assert branch.downstream_task_ids == {"run_cell", "render_pods"}

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


def test_trigger_form_params(dagbag) -> None:
    params = dagbag.dags["meshmark_nightly"].params
    expected = {"profile", "backend", "meshes", "qps", "connections", "duration_s"}
    assert set(params.keys()) == expected
    for name in expected:
        assert params.get_param(name).description, name
    assert "local-demo" in params.get_param("profile").schema["enum"]
    assert params.get_param("backend").schema["enum"] == ["local", "kubernetes"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("backend", "nomad"),
        ("qps", [-1]),
        ("qps", ["fast"]),
        ("connections", [0]),
        ("duration_s", -3),
        ("meshes", ["Not A Label"]),
        ("profile", "nope"),
    ],
)
def test_trigger_form_rejects_bad_values(dagbag, name: str, value: object) -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    param = dagbag.dags["meshmark_nightly"].params.get_param(name)
    with pytest.raises(ParamValidationError):
        param.resolve(value)


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
