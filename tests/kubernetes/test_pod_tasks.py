"""The pod task as the DAG runs it: what a user who marks it failed gets, and the load window.

Marking a running pod task failed (or success) in Airflow 3.3 reaches the operator in one of two
ways, and both must delete the pod, or a load generator keeps loading the mesh under the next test:
- synchronous: the API server answers the worker's heartbeat with 409, the supervisor sends the
  task process SIGTERM, and the task runner's SIGTERM handler calls the task's own `on_kill()`
  (airflow/sdk/execution_time/task_runner.py `_on_term`, supervisor.py heartbeat handling);
- deferred: the triggerer cancels the trigger with its user-action message and awaits the
  trigger's `on_kill()` (airflow/jobs/triggerer_job_runner.py `cancel_triggers`/`run_trigger`).
Both are run here against the cluster double with a load generator that never finishes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pod_double import FakeCluster, cluster_double, execution_context

from meshmark_tasks.backends.base import CellHandoff
from meshmark_tasks.backends.kubernetes import KubernetesSettings, loadgen_pod_kwargs
from meshmark_tasks.backends.kubernetes.backend import KubernetesBackend
from meshmark_tasks.backends.kubernetes.callbacks import WINDOW_XCOM_KEY, RecordLoadWindow
from meshmark_tasks.matrix import Cell, expand_matrix
from meshmark_tasks.measurement import ResourceUsage
from meshmark_tasks.plan import RunPlan
from meshmark_tasks.profile import Profile, load_profile, profile_from_mapping

REPO = Path(__file__).resolve().parents[2]


def k6_profile() -> Profile:
    data = load_profile(REPO / "profiles" / "cluster-istio-linkerd.yaml").model_dump(mode="python")
    data["load_generator"] = {"tool": "k6", "image": None, "options": {}}
    return profile_from_mapping(data)


def istio_cell(profile: Profile) -> Cell:
    return next(c for c in expand_matrix(profile) if c.mesh == "istio")


def operator_for(profile: Profile, cell: Cell, *, deferrable: bool) -> Any:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    kwargs = loadgen_pod_kwargs(
        profile, cell, KubernetesSettings(poll_interval_s=0.05), deferrable=deferrable
    )
    return KubernetesPodOperator(task_id="loadgen", callbacks=[RecordLoadWindow], **kwargs)


def wait_for(condition: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def test_marking_a_running_synchronous_pod_task_failed_deletes_the_pod(kube_connection: str) -> None:
    profile = k6_profile()
    cell = istio_cell(profile)
    operator = operator_for(profile, cell, deferrable=False)
    cluster = FakeCluster(finish=False)
    context = execution_context(operator.task_id)

    # What the task runner installs before execute(): SIGTERM -> the task's own on_kill().
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: operator.on_kill())

    def supervisor() -> None:  # the supervisor, told by the API server that the TI was marked failed
        wait_for(lambda: cluster.created)
        time.sleep(0.3)  # the operator is now waiting for the load generator to finish
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=supervisor, daemon=True)
    thread.start()
    try:
        with cluster_double(cluster), pytest.raises(Exception):  # noqa: B017 - the pod vanished under it
            operator.execute(context)
    finally:
        signal.signal(signal.SIGTERM, previous)
        thread.join(timeout=5)
    pod = cluster.created[0]["metadata"]
    assert (pod["namespace"], pod["name"]) in cluster.deleted
    assert cluster._pods == {}  # nothing left running


def test_marking_a_deferred_pod_task_failed_deletes_the_pod(kube_connection: str) -> None:
    from airflow.jobs.triggerer_job_runner import TriggerRunner
    from airflow.sdk.exceptions import TaskDeferred

    profile = k6_profile()
    cell = istio_cell(profile)
    operator = operator_for(profile, cell, deferrable=True)
    cluster = FakeCluster(finish=False)
    with cluster_double(cluster):
        with pytest.raises(TaskDeferred) as deferred:
            operator.execute(execution_context(operator.task_id))
        trigger = deferred.value.trigger
        async_hook = trigger.hook  # the double's async client
        assert deferred.value.method_name == "trigger_reentry"
        assert trigger.on_kill_action.value == "delete_pod"

        async def triggerer() -> None:
            runner = TriggerRunner()
            trigger.task_instance = None
            task = asyncio.create_task(runner.run_trigger(1, trigger))
            runner.triggers[1] = {"task": task, "name": "loadgen", "events": 0}
            while async_hook.reads < 3:  # the trigger is now polling a running load generator
                await asyncio.sleep(0.01)
            runner.to_cancel.append(1)  # the user marked the task failed
            await runner.cancel_triggers()
            with pytest.raises(asyncio.CancelledError):
                await task

        os.environ["AIRFLOW_DISABLE_GREENBACK_PORTAL"] = "true"
        try:
            asyncio.run(triggerer())
        finally:
            os.environ.pop("AIRFLOW_DISABLE_GREENBACK_PORTAL", None)
    pod = cluster.created[0]["metadata"]
    assert cluster.deleted == [(pod["namespace"], pod["name"])]
    assert async_hook.deleted == cluster.deleted  # by the trigger's on_kill, through its async client
    assert cluster._pods == {}


def test_the_pod_task_records_the_load_generators_window(kube_connection: str) -> None:
    profile = k6_profile()
    cell = istio_cell(profile)
    operator = operator_for(profile, cell, deferrable=False)
    context = execution_context(operator.task_id)
    with cluster_double(FakeCluster()):
        operator.execute(context)
    window = context["ti"].pushed[WINDOW_XCOM_KEY]
    assert datetime.fromisoformat(window["finished_at"]) <= datetime.now(UTC)


def test_collect_takes_the_window_from_the_container_when_the_tool_has_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from meshmark_tasks.backends.kubernetes import backend as k8s_backend

    profile = k6_profile()
    cell = istio_cell(profile)
    plan = RunPlan(
        profile=profile,
        profile_path="cluster-istio-linkerd.yaml",
        backend="kubernetes",
        storage_root=str(tmp_path),
        meshes=tuple(m.name for m in profile.meshes),
        cells=(cell,),
    )
    asked: list[dict[str, Any]] = []

    def fake_resource_usage(url: str, layout: Any, **kwargs: Any) -> ResourceUsage:
        asked.append({"layout": layout, **kwargs})
        return ResourceUsage(0.5, 0.2, 0.1, 1e8, 5e7, 3e8)

    monkeypatch.setattr(k8s_backend, "mesh_resource_usage", fake_resource_usage)
    monkeypatch.setattr(k8s_backend, "prometheus_url_from_connection", lambda conn_id: "http://prom.test")
    summary = (REPO / "tests" / "fixtures" / "k6" / "k6-errors-full-trend.json").read_text()
    finished = datetime(2026, 11, 20, 2, 5, tzinfo=UTC)
    handoff = CellHandoff(value=summary, started_at=finished - timedelta(seconds=125), finished_at=finished)
    measurement = KubernetesBackend(KubernetesSettings()).measure(plan, cell, "run", tmp_path, handoff)
    assert measurement.failure is None and measurement.result is not None
    assert measurement.result.end_time is None  # k6 summaries carry no timestamps
    assert asked[0]["end"] == finished
    assert asked[0]["start"] == finished - timedelta(seconds=measurement.result.duration_s)
    assert asked[0]["layout"].benchmark_namespace == "meshmark-istio"
    assert asked[0]["idle"] is None  # sidecars are measured by container, no idle stretch

    empty = KubernetesBackend(KubernetesSettings()).measure(plan, cell, "run", tmp_path, CellHandoff(None))
    assert empty.failure is not None and "returned no result" in empty.failure
