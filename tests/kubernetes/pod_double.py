"""A stand-in for the cluster behind KubernetesPodOperator, for tests (no cluster runs here).

`cluster_double(cluster)` patches the narrowest boundary that lets KubernetesPodOperator.execute()
run through the provider's own code: the operator's CoreV1Api client (`KubernetesPodOperator.client`,
which the real PodManager is built on) is replaced by `FakeCluster`, and the two PodManager methods
that exec into the XCom sidecar over a websocket (`extract_xcom_json`, `extract_xcom_kill`) read the
answer from the fake instead. Everything else - build_pod_request_obj, get_or_create_pod, find_pod,
await_pod_start, log following, await_pod_completion, cleanup and pod deletion - is the provider's
code talking to the fake API.

The deferrable path is served too: the trigger's AsyncKubernetesHook (`KubernetesPodTrigger.hook`,
the kubernetes_asyncio client the AsyncPodManager is built on) is replaced by `AsyncFakeHook` over
the same fake cluster, and `KubernetesHook.get_pod` (which the operator calls on re-entry from the
trigger) reads from it. The trigger's own polling, start/completion detection, event building and
on_kill, and the operator's trigger_reentry, are the provider's code.

`FakeCluster(finish=False)` admits pods whose load generator keeps running until the pod is
deleted: what a user who marks the task failed, or a timeout, finds.

The fake "cluster" admits a pod only when it validates against the Kubernetes schema (strict), passes
the restricted Pod Security Standard, carries the expected labels and has requests and limits on
every container; otherwise create returns HTTP 403 like an API server enforcing PodSecurity. An
admitted pod "runs" instantly and its XCom sidecar answers with a recorded real load-generator output
chosen by the tool (fortio: the upstream fixture; nighthawk, k6: the real-run fixtures under
tests/fixtures/; any of them can be replaced through `answers`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from kubernetes.client import ApiClient, ApiException
from kubernetes.client import models as k8s

from meshmark_tasks.backends.kubernetes.pss import check_restricted_pss

# Importable from any test: `sys.path.insert(0, "<repo>/tests/kubernetes"); import pod_double`
# (tests/ is not a package and pytest runs with --import-mode=importlib).
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from k8s_schema import validate_object  # noqa: E402

UPSTREAM = Path(__file__).resolve().parent.parent / "fixtures" / "upstream"
DEFAULT_ANSWERS: dict[str, Path] = {
    "fortio": UPSTREAM / "fortio-http-result.json",
    # a real Nighthawk run (tests/fixtures/nighthawk/README.md); the upstream formatter gold file
    # has placeholder statistics only
    "nighthawk": UPSTREAM.parent / "nighthawk" / "medium-global.json",
    # a real k6 v1.1.0 --summary-export (tests/fixtures/k6/README.md)
    "k6": UPSTREAM.parent / "k6" / "k6-errors-full-trend.json",
}
REQUIRED_LABELS = ("app.kubernetes.io/name", "meshmark.io/cell", "meshmark.io/mesh")
BASE = "base"
SIDECAR = "airflow-xcom-sidecar"


class PodRejected(ApiException):
    """What the API server answers for a pod that violates policy (HTTP 403)."""

    def __init__(self, pod_name: str, problems: list[str]) -> None:
        super().__init__(status=403, reason="Forbidden")
        self.problems = problems
        self.body = json.dumps({"message": f"pod {pod_name} rejected: " + "; ".join(problems)})

    def __str__(self) -> str:
        return f"pod rejected (403): {'; '.join(self.problems)}"


def tool_of(pod: Mapping[str, Any]) -> str:
    image = pod["spec"]["containers"][0]["image"]
    repo = image.split("@")[0].rsplit(":", 1)[0]
    for tool in ("nighthawk", "fortio", "k6"):
        if tool in repo:
            return tool
    raise ValueError(f"cannot tell the load generator from image {image!r}")


def admission_problems(pod: dict[str, Any], required_labels: tuple[str, ...] = REQUIRED_LABELS) -> list[str]:
    """Everything the double refuses a pod for (empty list = admitted)."""
    problems: list[str] = []
    try:
        validate_object(pod)
    except Exception as exc:  # both validators' errors carry the offending path in the message
        problems.append(f"schema: {str(exc).splitlines()[0]}")
    problems += check_restricted_pss(pod)
    labels = (pod.get("metadata") or {}).get("labels") or {}
    problems += [f"label {key} missing" for key in required_labels if not labels.get(key)]
    spec = pod.get("spec") or {}
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        resources = container.get("resources") or {}
        for part in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not (resources.get(part) or {}).get(resource):
                    problems.append(f"container {container.get('name')}: resources.{part}.{resource} missing")
    return problems


class _LogResponse:
    """Enough of urllib3's HTTPResponse for the provider's log reader."""

    def __init__(self, lines: list[str]) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._data = [f"{stamp} {line}\n".encode() for line in lines]

    def stream(self, amt: int | None = None, decode_content: bool = True) -> Iterator[bytes]:
        yield from self._data

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._data)

    def release_conn(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class FakeCluster:
    """The subset of CoreV1Api that KubernetesPodOperator and PodManager call, backed by a dict."""

    answers: dict[str, str] = field(default_factory=dict)  # tool -> raw result text
    required_labels: tuple[str, ...] = REQUIRED_LABELS
    on_create: Callable[[dict[str, Any]], None] | None = None  # extra per-pod assertions
    api_client: ApiClient = field(default_factory=ApiClient)
    finish: bool = True  # False: the load generator keeps running until the pod is deleted
    trigger_reads: int = 0  # pods read through the trigger's async client (deferrable mode)
    created: list[dict[str, Any]] = field(default_factory=list)  # admitted pods, API (camelCase) form
    rejected: list[tuple[str, list[str]]] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    _pods: dict[tuple[str, str], k8s.V1Pod] = field(default_factory=dict)

    def answer_for(self, tool: str) -> str:
        if tool in self.answers:
            return self.answers[tool]
        if tool in DEFAULT_ANSWERS:
            return DEFAULT_ANSWERS[tool].read_text(encoding="utf-8")
        raise KeyError(f"the cluster double has no recorded {tool} output; pass answers={{{tool!r}: ...}}")

    # --- CoreV1Api surface -------------------------------------------------------------------
    def create_namespaced_pod(self, namespace: str, body: Any, **_: Any) -> k8s.V1Pod:
        pod = body if isinstance(body, dict) else self.api_client.sanitize_for_serialization(body)
        name = pod["metadata"]["name"]
        problems = admission_problems(pod, self.required_labels)
        if pod["metadata"].get("namespace") != namespace:
            problems.append(f"metadata.namespace {pod['metadata'].get('namespace')!r} != {namespace!r}")
        if problems:
            self.rejected.append((name, problems))
            raise PodRejected(name, problems)
        if self.on_create is not None:
            self.on_create(pod)
        self.created.append(pod)
        v1pod = _deserialize_pod(self.api_client, pod)
        v1pod.status = _running_status(v1pod, finished=self.finish)
        self._pods[(namespace, name)] = v1pod
        return v1pod

    def read_namespaced_pod(self, name: str, namespace: str, **_: Any) -> k8s.V1Pod:
        try:
            return self._pods[(namespace, name)]
        except KeyError:
            raise ApiException(status=404, reason="Not Found") from None

    def list_namespaced_pod(self, namespace: str, label_selector: str = "", **_: Any) -> k8s.V1PodList:
        items = [
            pod
            for (ns, _name), pod in self._pods.items()
            if ns == namespace and _matches(pod.metadata.labels or {}, label_selector)
        ]
        return k8s.V1PodList(items=items)

    def list_namespaced_event(self, namespace: str, **_: Any) -> k8s.CoreV1EventList:
        return k8s.CoreV1EventList(items=[], metadata=k8s.V1ListMeta())

    def read_namespaced_pod_log(
        self, name: str, namespace: str, container: str = "", **_: Any
    ) -> _LogResponse:
        pod = self.read_namespaced_pod(name, namespace)
        tool = tool_of(self.api_client.sanitize_for_serialization(pod))
        return _LogResponse([f"[cluster double] {tool} in {namespace}/{name} ({container}) finished"])

    def patch_namespaced_pod(self, name: str, namespace: str, body: Any, **_: Any) -> k8s.V1Pod:
        pod = self.read_namespaced_pod(name, namespace)
        labels = ((body or {}).get("metadata") or {}).get("labels") or {}
        pod.metadata.labels = {**(pod.metadata.labels or {}), **labels}
        return pod

    def delete_namespaced_pod(self, name: str, namespace: str, **_: Any) -> k8s.V1Status:
        if self._pods.pop((namespace, name), None) is None:
            raise ApiException(status=404, reason="Not Found")
        self.deleted.append((namespace, name))
        return k8s.V1Status(status="Success")

    # --- the XCom sidecar (exec over websocket in a real cluster) --------------------------------
    def read_xcom(self, pod: k8s.V1Pod) -> str:
        remote = self.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace)
        return self.answer_for(tool_of(self.api_client.sanitize_for_serialization(remote)))

    def stop_sidecar(self, pod: k8s.V1Pod) -> None:
        remote = self.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace)
        now = datetime.now(UTC)
        for status in remote.status.container_statuses:
            if status.name == SIDECAR:
                status.state = k8s.V1ContainerState(
                    terminated=k8s.V1ContainerStateTerminated(
                        exit_code=0, finished_at=now, reason="Completed"
                    )
                )
                status.ready = False
        remote.status.phase = "Succeeded"


def _deserialize_pod(api_client: ApiClient, pod: dict[str, Any]) -> k8s.V1Pod:
    class _Response:
        data = json.dumps(pod)

    result: k8s.V1Pod = api_client.deserialize(_Response(), "V1Pod")
    return result


def _terminated(name: str, now: datetime) -> k8s.V1ContainerStatus:
    return k8s.V1ContainerStatus(
        name=name,
        image="",
        image_id="",
        ready=False,
        restart_count=0,
        state=k8s.V1ContainerState(
            terminated=k8s.V1ContainerStateTerminated(
                exit_code=0, started_at=now, finished_at=now, reason="Completed"
            )
        ),
    )


def _running_status(pod: k8s.V1Pod, *, finished: bool = True) -> k8s.V1PodStatus:
    """The load generator has finished (or, finished=False, still runs); the XCom sidecar waits to
    be read, as in a real pod."""
    now = datetime.now(UTC)
    statuses = []
    for container in pod.spec.containers:
        if container.name == SIDECAR or (container.name == BASE and not finished):
            statuses.append(
                k8s.V1ContainerStatus(
                    name=container.name,
                    image=container.image,
                    image_id="",
                    ready=True,
                    restart_count=0,
                    state=k8s.V1ContainerState(running=k8s.V1ContainerStateRunning(started_at=now)),
                )
            )
        else:
            statuses.append(_terminated(container.name, now))
    init_statuses = [_terminated(c.name, now) for c in pod.spec.init_containers or []]
    return k8s.V1PodStatus(
        phase="Running",
        container_statuses=statuses,
        init_container_statuses=init_statuses or None,
        conditions=[k8s.V1PodCondition(type="PodScheduled", status="True")],
        start_time=now,
    )


def _matches(labels: Mapping[str, str], selector: str) -> bool:
    """Equality-based label selectors as the operator writes them: a=b, a!=b, !a."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.rstrip("=")) != value.lstrip("="):
                return False
        elif term not in labels:
            return False
    return True


@dataclass
class AsyncFakeHook:
    """The subset of AsyncKubernetesHook that KubernetesPodTrigger and AsyncPodManager call."""

    cluster: FakeCluster
    reads: int = 0  # how often the trigger asked for a pod
    deleted: list[tuple[str, str]] = field(default_factory=list)

    async def get_pod(self, name: str, namespace: str) -> k8s.V1Pod:
        self.reads += 1
        self.cluster.trigger_reads += 1
        return self.cluster.read_namespaced_pod(name, namespace)

    async def delete_pod(self, name: str, namespace: str, grace_period_seconds: int | None = None) -> None:
        self.cluster.delete_namespaced_pod(name, namespace)
        self.deleted.append((namespace, name))

    async def get_pod_events(self, name: str, namespace: str, **_: Any) -> k8s.CoreV1EventList:
        return self.cluster.list_namespaced_event(namespace)

    async def watch_pod_events(self, **_: Any) -> AsyncIterator[Any]:
        return
        yield  # an async generator that yields no events

    async def read_logs(self, name: str, namespace: str, container_name: str, **_: Any) -> list[str]:
        return [f"[cluster double] {namespace}/{name} ({container_name})"]


@contextmanager
def cluster_double(cluster: FakeCluster) -> Iterator[FakeCluster]:
    """Route every KubernetesPodOperator in this block to `cluster` instead of a Kubernetes API."""
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.triggers.pod import KubernetesPodTrigger
    from airflow.providers.cncf.kubernetes.utils.pod_manager import PodManager

    async_hook = AsyncFakeHook(cluster)
    with (
        mock.patch.object(KubernetesPodOperator, "client", new=property(lambda self: cluster)),
        mock.patch.object(PodManager, "extract_xcom_json", new=lambda self, pod: cluster.read_xcom(pod)),
        mock.patch.object(PodManager, "extract_xcom_kill", new=lambda self, pod: cluster.stop_sidecar(pod)),
        mock.patch.object(
            KubernetesHook,
            "get_pod",
            new=lambda self, name, namespace: cluster.read_namespaced_pod(name, namespace),
        ),
        mock.patch.object(KubernetesPodTrigger, "hook", new=property(lambda self: async_hook)),
    ):
        yield cluster


@dataclass
class FakeTaskInstance:
    """What KubernetesPodOperator.execute reads from context["ti"] and pushes to it."""

    dag_id: str = "meshmark_test"
    task_id: str = "loadgen"
    map_index: int = -1
    try_number: int = 1
    pushed: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def execution_context(task_id: str, run_id: str = "manual__meshmark-test") -> dict[str, Any]:
    """A minimal task context for KubernetesPodOperator.execute outside a DAG run."""
    return {"ti": FakeTaskInstance(task_id=task_id), "run_id": run_id, "dag": None}
