"""Mean CPU and memory per component over a test window, from Prometheus's HTTP API.

Queries (one instant query per component and resource, evaluated at the window's end, W = window
length in seconds):

    CPU cores:  sum(rate(container_cpu_usage_seconds_total{SEL}[W s]))
    memory:     sum(avg_over_time(container_memory_working_set_bytes{SEL}[W s]))

rate() over the whole window is the counter's increase divided by W (handling counter resets), which
is the mean number of cores used in the window; avg_over_time is the mean of the scraped working-set
samples. Summing per component adds up the containers and pods in it. A component may be several
selectors (`SeriesSelector`), joined with `or` so that a part with no series adds nothing:

    app:          namespace="<mesh ns>", container=~"<app containers>"
    dataplane:    namespace="<mesh ns>", container=~"<proxy containers>"  (sidecars, a waypoint)
    controlplane: namespace="<control-plane ns>" [, container=~...] [, pod!~"<node agent>-.*"]

cAdvisor also exports pod-level cgroup series (container="") and the pause container ("POD"); every
selector names containers or excludes both, so nothing is counted twice. An empty answer means "not
measured" (None), never 0.

Node-level data planes (Istio ambient's ztunnel, Cilium's cilium-envoy: DaemonSets serving every
pod on their node) are attributed, not selected by namespace; see `node_agent_usage`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.measurement import ResourceUsage

CPU_METRIC = "container_cpu_usage_seconds_total"
MEMORY_METRIC = "container_memory_working_set_bytes"
DEFAULT_APP_CONTAINERS: tuple[str, ...] = ("app",)
DEFAULT_DATAPLANE_CONTAINERS: tuple[str, ...] = (
    "istio-proxy",
    "linkerd-proxy",
    "envoy-sidecar",
    "consul-dataplane",
)
DEFAULT_CONTROLPLANE_NAMESPACES: tuple[str, ...] = ("istio-system", "linkerd", "consul")
# The series label that names a container's node. kube-prometheus-stack's kubelet scrape sets `node`;
# other setups may call it differently (MESHMARK_PROMETHEUS_NODE_LABEL in the kubernetes backend).
DEFAULT_NODE_LABEL = "node"
COMPONENTS = ("app", "dataplane", "controlplane")
_LABEL_VALUE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # container and namespace names are DNS labels
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _alternation(names: Sequence[str], what: str) -> str:
    if not names:
        raise MeshmarkError(f"prometheus: no {what} given")
    for name in names:
        if not _LABEL_VALUE.match(name):
            raise MeshmarkError(f"prometheus: {what} {name!r} is not a DNS-1123 label")
    return "|".join(names)


@dataclass(frozen=True)
class SeriesSelector:
    """Some containers' cAdvisor series: a namespace, optionally container names and pod name prefixes.

    `containers=()` means every real container (not the pod cgroup, not the pause container).
    `pod_prefix="ztunnel"` keeps pods named "ztunnel-…" (a DaemonSet's or Deployment's pods);
    `exclude_pod_prefixes` drops such pods (the node agents living in a control-plane namespace).
    """

    namespace: str
    containers: tuple[str, ...] = ()
    pod_prefix: str | None = None
    exclude_pod_prefixes: tuple[str, ...] = ()

    def matchers(self) -> str:
        parts = [f'namespace="{_alternation([self.namespace], "namespace")}"']
        if self.containers:
            parts.append(f'container=~"{_alternation(self.containers, "container")}"')
        else:
            parts += ['container!=""', 'container!="POD"']
        if self.pod_prefix is not None:
            parts.append(f'pod=~"{_alternation([self.pod_prefix], "pod prefix")}-.*"')
        for prefix in self.exclude_pod_prefixes:
            parts.append(f'pod!~"{_alternation([prefix], "pod prefix")}-.*"')
        return ",".join(parts)


def _union(
    function: str, metric: str, selectors: Sequence[SeriesSelector], window_s: int, extra: str = ""
) -> str:
    """`f(m{a}[W]) or f(m{b}[W]) …`: the series of every selector; a selector without series adds none."""
    return " or ".join(f"{function}({metric}{{{s.matchers()}{extra}}}[{window_s}s])" for s in selectors)


def union_cpu_query(selectors: Sequence[SeriesSelector], window_s: int) -> str:
    return f"sum({_union('rate', CPU_METRIC, selectors, window_s)})"


def union_memory_query(selectors: Sequence[SeriesSelector], window_s: int) -> str:
    return f"sum({_union('avg_over_time', MEMORY_METRIC, selectors, window_s)})"


def _on_benchmark_nodes(node_label: str, benchmark_namespace: str, window_s: int) -> str:
    """The nodes (values of `node_label`) where any container of the benchmark namespace had series
    in the window: its pods are pinned to dedicated nodes, so these are the benchmark's nodes."""
    ns = _alternation([benchmark_namespace], "namespace")
    return (
        f"group by ({node_label}) (last_over_time({MEMORY_METRIC}"
        f'{{namespace="{ns}",container!="",container!="POD",{node_label}!=""}}[{window_s}s]))'
    )


def node_agent_queries(
    agents: Sequence[SeriesSelector], *, benchmark_namespace: str, node_label: str, window_s: int
) -> tuple[str, str]:
    """CPU and memory queries of the node agents running on the benchmark's nodes.

    `X and on(node) NODES` keeps the agents' series whose node is one of the benchmark's. Both sides
    require a non-empty node label: without it `on(node)` would match every agent in the cluster.
    """
    if not _LABEL_NAME.match(node_label):
        raise MeshmarkError(f"prometheus: node label {node_label!r} is not a Prometheus label name")
    nodes = _on_benchmark_nodes(node_label, benchmark_namespace, window_s)
    has_node = f',{node_label}!=""'
    cpu = f"sum(({_union('rate', CPU_METRIC, agents, window_s, has_node)}) and on ({node_label}) {nodes})"
    mem = (
        f"sum(({_union('avg_over_time', MEMORY_METRIC, agents, window_s, has_node)}) "
        f"and on ({node_label}) {nodes})"
    )
    return cpu, mem


def instant_query(prometheus_url: str, query: str, at: datetime, *, timeout_s: float = 30.0) -> float | None:
    """One scalar from an instant query: the single sample's value, or None for an empty vector."""
    endpoint = prometheus_url.rstrip("/") + "/api/v1/query"
    where = f"Prometheus at {prometheus_url}, query {query!r}"
    try:
        response = requests.post(
            endpoint, data={"query": query, "time": f"{at.timestamp():.3f}"}, timeout=timeout_s
        )
    except requests.RequestException as exc:
        raise MeshmarkError(f"{where}: request failed: {exc}") from None
    try:
        payload: dict[str, Any] = response.json()
    except ValueError:
        raise MeshmarkError(f"{where}: HTTP {response.status_code}, not a Prometheus API answer") from None
    if response.status_code != 200 or payload.get("status") != "success":
        problem = f"{payload.get('errorType', '')}: {payload.get('error', payload)}"
        raise MeshmarkError(f"{where}: HTTP {response.status_code} {problem}")
    data = payload.get("data") or {}
    if data.get("resultType") != "vector":
        raise MeshmarkError(f"{where}: expected a vector result, got {data.get('resultType')!r}")
    result = data.get("result") or []
    if not result:
        return None
    if len(result) != 1:
        raise MeshmarkError(f"{where}: expected one series after sum(), got {len(result)}")
    return float(result[0]["value"][1])


def _window_seconds(start: datetime, end: datetime, step_s: float, what: str) -> int:
    window = (end - start).total_seconds()
    if window < 2 * step_s:
        raise MeshmarkError(
            f"prometheus: {what} {start.isoformat()} .. {end.isoformat()} is {window:g} s, shorter than "
            f"two scrape intervals ({step_s:g} s each): no rate can be measured"
        )
    return int(window)  # PromQL durations are whole seconds here; drop the fraction, never widen


@dataclass(frozen=True)
class NodeAgentUsage:
    """What `node_agent_usage` found: the attributed means, and the two parts behind them."""

    cpu_cores: float | None
    mem_bytes: float | None
    window_cpu_cores: float | None
    window_mem_bytes: float | None
    idle_cpu_cores: float | None
    idle_mem_bytes: float | None


def _minus(total: float | None, idle: float | None) -> float | None:
    if total is None or idle is None:
        return None
    return max(0.0, total - idle)


def node_agent_usage(
    prometheus_url: str,
    agents: Sequence[SeriesSelector],
    *,
    benchmark_namespace: str,
    start: datetime,
    end: datetime,
    idle: tuple[datetime, datetime] | None = None,
    node_label: str = DEFAULT_NODE_LABEL,
    step_s: float = 15.0,
) -> NodeAgentUsage:
    """The node agents' usage attributed to one test window (docs/kubernetes-backend.md, "Attribution").

    The rule: the benchmark's pods run on dedicated nodes (the profile's node selector); the agents
    counted are those on the nodes where the benchmark namespace's containers ran in the window; from
    their mean usage in the window, their mean usage in `idle` (a quiet stretch just before the cell's
    traffic, on the same nodes) is subtracted, floored at 0. Without `idle` the whole usage counts.
    """
    window_s = _window_seconds(start, end, step_s, "window")
    cpu_q, mem_q = node_agent_queries(
        agents, benchmark_namespace=benchmark_namespace, node_label=node_label, window_s=window_s
    )
    cpu = instant_query(prometheus_url, cpu_q, end)
    mem = instant_query(prometheus_url, mem_q, end)
    if idle is None:
        return NodeAgentUsage(cpu, mem, cpu, mem, 0.0, 0.0)
    idle_s = _window_seconds(idle[0], idle[1], step_s, "idle window")
    idle_cpu_q, idle_mem_q = node_agent_queries(
        agents, benchmark_namespace=benchmark_namespace, node_label=node_label, window_s=idle_s
    )
    idle_cpu = instant_query(prometheus_url, idle_cpu_q, idle[1])
    idle_mem = instant_query(prometheus_url, idle_mem_q, idle[1])
    return NodeAgentUsage(_minus(cpu, idle_cpu), _minus(mem, idle_mem), cpu, mem, idle_cpu, idle_mem)


def _total(parts: Sequence[float | None]) -> float | None:
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)


@dataclass(frozen=True)
class UsageLayout:
    """Which series make up each component of one mesh configuration (see the module docstring)."""

    app: tuple[SeriesSelector, ...]
    dataplane: tuple[SeriesSelector, ...] = ()  # proxies in the benchmark namespace
    controlplane: tuple[SeriesSelector, ...] = ()
    node_agents: tuple[SeriesSelector, ...] = ()  # node-level data plane, attributed
    benchmark_namespace: str = ""


def mesh_resource_usage(
    prometheus_url: str,
    layout: UsageLayout,
    *,
    start: datetime,
    end: datetime,
    idle: tuple[datetime, datetime] | None = None,
    node_label: str = DEFAULT_NODE_LABEL,
    step_s: float = 15.0,
    zero_components: Collection[str] = (),
) -> ResourceUsage:
    """Mean cores and working-set bytes of app, data plane and control plane in [start, end].

    The data plane is the proxies in the namespace plus the attributed node agents; a part the layout
    does not have is 0.0 (an ambient mesh without a waypoint has no proxy in its namespace), a part
    that has no series is None, and so is the sum then. A component with no selectors at all is 0.0.
    zero_components names components known not to exist (the baseline's data and control plane).
    """
    unknown = set(zero_components) - set(COMPONENTS)
    if unknown:
        raise MeshmarkError(f"prometheus: unknown zero_components {sorted(unknown)}; expected {COMPONENTS}")
    window_s = _window_seconds(start, end, step_s, "window")

    def measured(selectors: Sequence[SeriesSelector]) -> tuple[float | None, float | None]:
        if not selectors:
            return 0.0, 0.0
        return (
            instant_query(prometheus_url, union_cpu_query(selectors, window_s), end),
            instant_query(prometheus_url, union_memory_query(selectors, window_s), end),
        )

    values: dict[str, float | None] = {}
    for component in COMPONENTS:
        if component in zero_components:
            values[f"cpu_cores_{component}"] = values[f"mem_bytes_{component}"] = 0.0
            continue
        cpu, mem = measured(getattr(layout, component))
        if component == "dataplane" and layout.node_agents:
            agents = node_agent_usage(
                prometheus_url,
                layout.node_agents,
                benchmark_namespace=layout.benchmark_namespace,
                start=start,
                end=end,
                idle=idle,
                node_label=node_label,
                step_s=step_s,
            )
            cpu, mem = _total([cpu, agents.cpu_cores]), _total([mem, agents.mem_bytes])
        values[f"cpu_cores_{component}"] = cpu
        values[f"mem_bytes_{component}"] = mem
    return ResourceUsage(**values)


def resource_usage(
    prometheus_url: str,
    *,
    namespace: str,
    start: datetime,
    end: datetime,
    app_containers: Sequence[str] = DEFAULT_APP_CONTAINERS,
    dataplane_containers: Sequence[str] = DEFAULT_DATAPLANE_CONTAINERS,
    controlplane_namespaces: Sequence[str] = DEFAULT_CONTROLPLANE_NAMESPACES,
    step_s: float = 15.0,
    zero_components: Collection[str] = (),
) -> ResourceUsage:
    """Mean cores and working-set bytes of app, dataplane and control plane in [start, end], for
    sidecar meshes: proxies by container name in `namespace`, control planes by namespace.

    step_s is the Prometheus scrape interval: rate() needs two samples inside the window, so a window
    shorter than two steps cannot be measured and is refused. zero_components names components known
    not to exist (the baseline has no dataplane or control plane): they are 0.0, not queried.
    """
    layout = UsageLayout(
        app=(SeriesSelector(namespace, tuple(app_containers)),),
        dataplane=(SeriesSelector(namespace, tuple(dataplane_containers)),),
        # Node agents living in a control-plane namespace (Istio's ztunnel) are data plane.
        controlplane=tuple(
            SeriesSelector(ns, exclude_pod_prefixes=("ztunnel",)) for ns in controlplane_namespaces
        ),
    )
    if not controlplane_namespaces:
        _alternation(controlplane_namespaces, "control-plane namespace")  # the same refusal as before
    return mesh_resource_usage(
        prometheus_url, layout, start=start, end=end, step_s=step_s, zero_components=zero_components
    )


def prometheus_url_from_connection(conn_id: str) -> str:
    """Base URL of Prometheus from an Airflow connection.

    extra {"url": ...} wins; otherwise host (with or without a scheme), port, schema ("http" or
    "https", default http) and an optional extra "path" prefix (Prometheus behind a route prefix).
    """
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # AirflowNotFoundException and backend errors alike
        raise MeshmarkError(f"Airflow connection {conn_id!r}: cannot be read: {exc}") from None
    extra = conn.extra_dejson or {}
    if extra.get("url"):
        return str(extra["url"]).rstrip("/")
    host = conn.host
    if not host:
        raise MeshmarkError(f"Airflow connection {conn_id!r}: needs a host or an extra 'url' for Prometheus")
    if "://" in host:
        base = host.rstrip("/")
    else:
        scheme = conn.schema if conn.schema in ("http", "https") else "http"
        base = f"{scheme}://{host}"
    if conn.port:
        base = f"{base}:{conn.port}"
    path = str(extra.get("path") or "").strip("/")
    return f"{base}/{path}" if path else base
