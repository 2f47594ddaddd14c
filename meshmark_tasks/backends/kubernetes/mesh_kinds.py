"""What the kubernetes backend must know about each mesh kind, in one table.

For each kind: whether it injects a proxy into every pod (a sidecar mesh) or runs its data plane per
node; which containers are its data plane and control plane in cAdvisor's series; how its injector is
asked for a Kubernetes native sidecar (KEP-753, Kubernetes >= 1.29), and how the application
containers are made to wait for a proxy that is not native. docs/kubernetes-backend.md has the same
facts as tables (a test keeps the two in step) and says where each one comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.metrics.prometheus import SeriesSelector, UsageLayout
from meshmark_tasks.profile import MeshConfig

APP_CONTAINER = "app"
# Istio runs its control plane (istiod, the ambient CNI node agent) in istio-system, and ztunnel, the
# ambient data plane, there as well: the control plane is istio-system without the ztunnel pods.
ISTIO_CONTROL_PLANE = (SeriesSelector("istio-system", exclude_pod_prefixes=("ztunnel",)),)


@dataclass(frozen=True)
class MeshKindFacts:
    kind: str
    # A proxy container is injected into every pod of the mesh's namespace (the load generator's too).
    sidecar: bool
    # Proxy containers in the benchmark namespace: the sidecars, or an ambient mesh's waypoint.
    proxy_containers: tuple[str, ...] = ()
    # Pod annotations that make the injector add its proxy as a native sidecar ({} = it cannot).
    native_sidecar_annotations: Mapping[str, str] = field(default_factory=dict)
    # Pod annotations that hold the application containers until a non-native proxy is ready.
    proxy_wait_annotations: Mapping[str, str] = field(default_factory=dict)
    # Node-level data plane: DaemonSet pods that serve every pod of their node (attributed).
    node_agents: tuple[SeriesSelector, ...] = ()
    control_plane: tuple[SeriesSelector, ...] = ()


MESH_KINDS: dict[str, MeshKindFacts] = {
    "baseline": MeshKindFacts("baseline", sidecar=False),
    "istio": MeshKindFacts(
        "istio",
        sidecar=True,
        proxy_containers=("istio-proxy",),
        # Istio >= 1.20 reads this per pod; from 1.27 native sidecars are its default where supported.
        native_sidecar_annotations={"sidecar.istio.io/nativeSidecar": "true"},
        # istio-proxy goes first among the containers with a postStart hook that blocks the next
        # container's start until the proxy is ready (kubelet starts containers in order).
        proxy_wait_annotations={"proxy.istio.io/config": '{"holdApplicationUntilProxyStarts": true}'},
        control_plane=ISTIO_CONTROL_PLANE,
    ),
    "istio-ambient": MeshKindFacts(
        "istio-ambient",
        sidecar=False,
        proxy_containers=("istio-proxy",),  # the waypoint Deployment's container, when there is one
        node_agents=(SeriesSelector("istio-system", ("istio-proxy",), pod_prefix="ztunnel"),),
        control_plane=ISTIO_CONTROL_PLANE,
    ),
    "linkerd": MeshKindFacts(
        "linkerd",
        sidecar=True,
        proxy_containers=("linkerd-proxy",),
        # The beta name since Linkerd 2.16 (edge-24.x); 2.15 reads only the alpha one. Both are set
        # so either version injects natively; an annotation a version does not know is ignored.
        native_sidecar_annotations={
            "config.beta.linkerd.io/proxy-enable-native-sidecar": "true",
            "config.alpha.linkerd.io/proxy-enable-native-sidecar": "true",
        },
        # linkerd-proxy first, with a postStart hook (linkerd-await) until the proxy is ready.
        proxy_wait_annotations={"config.linkerd.io/proxy-await": "enabled"},
        control_plane=(SeriesSelector("linkerd"),),
    ),
    "consul": MeshKindFacts(
        "consul",
        sidecar=True,
        proxy_containers=("envoy-sidecar", "consul-dataplane"),
        # consul-k8s has no native sidecars (hashicorp/consul-k8s#3919). From consul-k8s 1.3 its proxy
        # lifecycle injects consul-dataplane first and holds the application until it is ready.
        proxy_wait_annotations={"consul.hashicorp.com/enable-sidecar-proxy-lifecycle": "true"},
        control_plane=(SeriesSelector("consul"),),
    ),
    "cilium": MeshKindFacts(
        "cilium",
        sidecar=False,
        # Cilium >= 1.16 runs Envoy as its own DaemonSet; with an Envoy embedded in the agent (older
        # installs, envoy.enabled=false) its L7 work is inside cilium-agent and counts as control plane.
        node_agents=(SeriesSelector("kube-system", ("cilium-envoy",), pod_prefix="cilium-envoy"),),
        control_plane=(
            SeriesSelector("kube-system", ("cilium-agent", "cilium-operator")),
            SeriesSelector("cilium-spire"),  # mutual authentication's SPIRE server and agents
        ),
    ),
}
CLUSTER_MESH_KINDS = frozenset(MESH_KINDS)


def mesh_kind_facts(kind: str) -> MeshKindFacts:
    try:
        return MESH_KINDS[kind]
    except KeyError:
        raise MeshmarkError(
            f"mesh kind {kind!r}: the kubernetes backend handles {', '.join(sorted(MESH_KINDS))}"
        ) from None


def has_proxy_in_namespace(mesh: MeshConfig) -> bool:
    """Sidecars in every pod, or an ambient mesh's waypoint Deployment."""
    facts = mesh_kind_facts(mesh.kind)
    return facts.sidecar or (mesh.kind == "istio-ambient" and mesh.waypoint)


def usage_layout(mesh: MeshConfig, namespace: str) -> UsageLayout:
    """Which cAdvisor series make up the app, data plane and control plane of one mesh config."""
    facts = mesh_kind_facts(mesh.kind)
    dataplane = (SeriesSelector(namespace, facts.proxy_containers),) if has_proxy_in_namespace(mesh) else ()
    return UsageLayout(
        app=(SeriesSelector(namespace, (APP_CONTAINER,)),),
        dataplane=dataplane,
        controlplane=facts.control_plane,
        node_agents=facts.node_agents,
        benchmark_namespace=namespace,
    )
