"""Mesh provisioning: per-mesh manifests rendered from Jinja templates (package data).

What each mesh kind gets (docs/kubernetes-backend.md has a table per kind):
- baseline: a namespace with injection explicitly off (istio-injection=disabled, linkerd.io/inject
  =disabled) so a cluster-wide default cannot sneak a proxy in, and restricted PSS enforced.
- istio: namespace label istio-injection=enabled; a PeerAuthentication (STRICT with mtls, DISABLE
  without); proxy resources through sidecar.istio.io/proxyCPU/-Limit/proxyMemory/-Limit.
- istio-ambient: namespace label istio.io/dataplane-mode=ambient (ztunnel carries the pods' traffic,
  always over mTLS between meshed pods); PeerAuthentication STRICT with mtls (plaintext callers
  refused); with `waypoint: true` a Gateway of class istio-waypoint and istio.io/use-waypoint on the
  namespace, so the app's traffic also passes an L7 proxy.
- linkerd: namespace annotation linkerd.io/inject=enabled. Linkerd always uses mTLS between meshed
  pods and has no switch to turn it off; with mtls listed the namespace also gets
  config.linkerd.io/default-inbound-policy=all-authenticated, so plaintext callers are refused.
  Proxy resources through config.linkerd.io/proxy-cpu-request etc.
- consul: pod annotation consul.hashicorp.com/connect-inject=true (Consul injects per pod);
  proxy resources through consul.hashicorp.com/sidecar-proxy-cpu-request etc. Consul Connect is
  always mTLS; intentions are left to the cluster's defaults.
- cilium: nothing to inject (Cilium is the cluster's CNI); a CiliumNetworkPolicy on the app when a
  network function needs one: HTTP rules for L7 functions (the traffic then passes cilium-envoy),
  authentication.mode=required for mtls.
Meshes that inject a proxy with an init container (istio-init, linkerd-init need NET_ADMIN) break
the restricted profile unless their CNI plugin is used, so those namespaces only *warn* and *audit*
against restricted, as does an ambient namespace with a waypoint (Istio's Deployment, not ours);
the baseline, cilium and waypoint-less ambient namespaces enforce it. Our own containers pass it
everywhere.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from meshmark_tasks.backends.kubernetes.commands import APP_GRPC_PORT, APP_HTTP_PORT
from meshmark_tasks.backends.kubernetes.mesh_kinds import CLUSTER_MESH_KINDS, has_proxy_in_namespace
from meshmark_tasks.backends.kubernetes.security import (
    restricted_container_security_context,
    restricted_pod_security_context,
)
from meshmark_tasks.backends.kubernetes.settings import KubernetesSettings
from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.profile import L7_NETWORK_FUNCTIONS, ComponentResources, MeshConfig, Profile

APP_NAME = "meshmark-app"
WAYPOINT_NAME = "waypoint"
CILIUM_POLICY_NAME = "meshmark-app"
# Network functions that Cilium handles in Envoy only when an L7 rule sends the traffic there.
CILIUM_L7_FUNCTIONS = L7_NETWORK_FUNCTIONS | {"telemetry"}
SIDECAR_KINDS = ("istio", "linkerd", "consul")
MANAGED_BY = {"app.kubernetes.io/managed-by": "meshmark"}

_SIDECAR_ANNOTATION_KEYS: dict[str, dict[str, str]] = {
    "istio": {
        "cpu_request": "sidecar.istio.io/proxyCPU",
        "cpu_limit": "sidecar.istio.io/proxyCPULimit",
        "memory_request": "sidecar.istio.io/proxyMemory",
        "memory_limit": "sidecar.istio.io/proxyMemoryLimit",
    },
    "linkerd": {
        "cpu_request": "config.linkerd.io/proxy-cpu-request",
        "cpu_limit": "config.linkerd.io/proxy-cpu-limit",
        "memory_request": "config.linkerd.io/proxy-memory-request",
        "memory_limit": "config.linkerd.io/proxy-memory-limit",
    },
    "consul": {
        "cpu_request": "consul.hashicorp.com/sidecar-proxy-cpu-request",
        "cpu_limit": "consul.hashicorp.com/sidecar-proxy-cpu-limit",
        "memory_request": "consul.hashicorp.com/sidecar-proxy-memory-request",
        "memory_limit": "consul.hashicorp.com/sidecar-proxy-memory-limit",
    },
}


def cpu_quantity(cores: float) -> str:
    """Cores as a Kubernetes quantity in millicores ("500m"); sub-millicore values round up."""
    millis = max(1, round(cores * 1000)) if cores > 0 else 0
    return f"{millis}m"


def memory_quantity(num_bytes: float) -> str:
    """Bytes as a Kubernetes quantity, in Mi when exact, else plain bytes."""
    whole = round(num_bytes)
    if whole % (1024 * 1024) == 0:
        return f"{whole // (1024 * 1024)}Mi"
    return str(whole)


def resource_requirements(component: ComponentResources) -> dict[str, dict[str, str]]:
    """A container's resources block (API form) from a profile component; empty parts left out."""
    out: dict[str, dict[str, str]] = {}
    for part_name, part in (("requests", component.requests), ("limits", component.limits)):
        values = {}
        if part.cpu is not None:
            values["cpu"] = cpu_quantity(part.cpu)
        if part.memory is not None:
            values["memory"] = memory_quantity(part.memory)
        if values:
            out[part_name] = values
    return out


def sidecar_annotations(mesh: MeshConfig) -> dict[str, str]:
    """Pod annotations that size the injected proxy from the profile's dataplane resources."""
    keys = _SIDECAR_ANNOTATION_KEYS.get(mesh.kind)
    if keys is None:
        return {}
    dp = mesh.resources.dataplane
    annotations = {}
    if mesh.kind == "consul":
        annotations["consul.hashicorp.com/connect-inject"] = "true"
    for key, value, fmt in (
        ("cpu_request", dp.requests.cpu, cpu_quantity),
        ("cpu_limit", dp.limits.cpu, cpu_quantity),
        ("memory_request", dp.requests.memory, memory_quantity),
        ("memory_limit", dp.limits.memory, memory_quantity),
    ):
        if value is not None:
            annotations[keys[key]] = fmt(value)
    return annotations


def _namespace_metadata(mesh: MeshConfig) -> tuple[dict[str, str], dict[str, str]]:
    labels = {**MANAGED_BY, "meshmark.io/mesh": mesh.name}
    annotations: dict[str, str] = {}
    if mesh.kind not in SIDECAR_KINDS:
        # No sidecar mesh here: a cluster-wide injection default must not add a proxy either.
        labels["istio-injection"] = "disabled"
        annotations["linkerd.io/inject"] = "disabled"
    if has_proxy_in_namespace(mesh):
        labels["pod-security.kubernetes.io/warn"] = "restricted"
        labels["pod-security.kubernetes.io/audit"] = "restricted"
    else:
        labels["pod-security.kubernetes.io/enforce"] = "restricted"
    if mesh.kind == "istio":
        labels["istio-injection"] = "enabled"
    elif mesh.kind == "istio-ambient":
        labels["istio.io/dataplane-mode"] = "ambient"
        if mesh.waypoint:
            labels["istio.io/use-waypoint"] = WAYPOINT_NAME
    elif mesh.kind == "linkerd":
        annotations["linkerd.io/inject"] = "enabled"
        if "mtls" in mesh.network_functions:
            annotations["config.linkerd.io/default-inbound-policy"] = "all-authenticated"
    return labels, annotations


def placement(profile: Profile) -> dict[str, Any]:
    """Where the benchmark's pods run: the profile's dedicated nodes (node selector, tolerations)."""
    cluster = profile.cluster
    return {
        "node_selector": dict(cluster.node_selector),
        "tolerations": [t.model_dump(exclude_none=True) for t in cluster.tolerations],
    }


@lru_cache(maxsize=1)
def _jinja_env() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("meshmark_tasks.backends.kubernetes", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # YAML, not HTML; values go through tojson
        keep_trailing_newline=True,
    )


def _render(template: str, **context: Any) -> list[dict[str, Any]]:
    text = _jinja_env().get_template(template).render(**context)
    try:
        docs = [doc for doc in yaml.safe_load_all(text) if doc]
    except yaml.YAMLError as exc:  # a template bug, not user input; say which template
        raise MeshmarkError(f"kubernetes template {template}: renders invalid YAML: {exc}") from None
    return docs


def render_mesh_manifests(
    profile: Profile, mesh: MeshConfig, settings: KubernetesSettings
) -> list[dict[str, Any]]:
    """Namespace, mesh policy and application under test for one mesh config, in apply order."""
    if mesh.kind not in CLUSTER_MESH_KINDS:
        raise MeshmarkError(
            f"{profile.name}: mesh {mesh.name!r} has kind {mesh.kind!r}, which the kubernetes backend "
            f"cannot provision (it handles {', '.join(sorted(CLUSTER_MESH_KINDS))})"
        )
    namespace = settings.namespace_for(mesh.name)
    common_labels = {**MANAGED_BY, "meshmark.io/mesh": mesh.name}
    ns_labels, ns_annotations = _namespace_metadata(mesh)
    docs = _render(
        "namespace.yaml.j2",
        namespace=namespace,
        namespace_labels=ns_labels,
        namespace_annotations=ns_annotations,
    )
    if mesh.kind == "istio" or (mesh.kind == "istio-ambient" and "mtls" in mesh.network_functions):
        # Ambient always carries meshed traffic over mTLS; STRICT also refuses plaintext callers.
        mode = "STRICT" if "mtls" in mesh.network_functions else "DISABLE"
        docs += _render(
            "istio-peerauthentication.yaml.j2",
            namespace=namespace,
            common_labels=common_labels,
            mtls_mode=mode,
        )
    if mesh.kind == "istio-ambient" and mesh.waypoint:
        docs += _render(
            "istio-waypoint.yaml.j2",
            namespace=namespace,
            waypoint_name=WAYPOINT_NAME,
            waypoint_labels={**common_labels, "istio.io/waypoint-for": "service"},
        )
    functions = set(mesh.network_functions)
    if mesh.kind == "cilium" and functions & (CILIUM_L7_FUNCTIONS | {"mtls"}):
        docs += _render(
            "cilium-policy.yaml.j2",
            namespace=namespace,
            policy_name=CILIUM_POLICY_NAME,
            common_labels=common_labels,
            selector={"app.kubernetes.io/name": APP_NAME},
            client_namespace=settings.loadgen_namespace_for(mesh.name),
            authentication="mtls" in functions,
            l7=bool(functions & CILIUM_L7_FUNCTIONS),
            http_port=APP_HTTP_PORT,
            grpc_port=APP_GRPC_PORT,
        )
    selector = {"app.kubernetes.io/name": APP_NAME}
    container_sc = {**restricted_container_security_context(), "readOnlyRootFilesystem": True}
    docs += _render(
        "app.yaml.j2",
        namespace=namespace,
        app_name=APP_NAME,
        app_labels={**common_labels, **selector},
        selector=selector,
        pod_annotations=sidecar_annotations(mesh),
        pod_security_context=restricted_pod_security_context(settings),
        container_security_context=container_sc,
        app_image=settings.app_image,
        app_resources=resource_requirements(mesh.resources.app),
        http_port=APP_HTTP_PORT,
        grpc_port=APP_GRPC_PORT,
        **placement(profile),
    )
    return docs
