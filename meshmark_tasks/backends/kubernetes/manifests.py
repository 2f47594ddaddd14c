"""Mesh provisioning: per-mesh manifests rendered from Jinja templates (package data).

What each mesh kind gets:
- baseline: a namespace with injection explicitly off (istio-injection=disabled, linkerd.io/inject
  =disabled) so a cluster-wide default cannot sneak a proxy in, and restricted PSS enforced.
- istio: namespace label istio-injection=enabled; a PeerAuthentication (STRICT with mtls, DISABLE
  without); proxy resources through sidecar.istio.io/proxyCPU/-Limit/proxyMemory/-Limit.
- linkerd: namespace annotation linkerd.io/inject=enabled. Linkerd always uses mTLS between meshed
  pods and has no switch to turn it off; with mtls listed the namespace also gets
  config.linkerd.io/default-inbound-policy=all-authenticated, so plaintext callers are refused.
  Proxy resources through config.linkerd.io/proxy-cpu-request etc.
- consul: pod annotation consul.hashicorp.com/connect-inject=true (Consul injects per pod);
  proxy resources through consul.hashicorp.com/sidecar-proxy-cpu-request etc. Consul Connect is
  always mTLS; intentions are left to the cluster's defaults.
Meshes that inject a proxy with an init container (istio-init, linkerd-init need NET_ADMIN) break
the restricted profile unless their CNI plugin is used, so those namespaces only *warn* and *audit*
against restricted; the baseline namespace enforces it. Our own containers pass it everywhere.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from meshmark_tasks.backends.kubernetes.commands import APP_GRPC_PORT, APP_HTTP_PORT
from meshmark_tasks.backends.kubernetes.security import (
    restricted_container_security_context,
    restricted_pod_security_context,
)
from meshmark_tasks.backends.kubernetes.settings import KubernetesSettings
from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.profile import ComponentResources, MeshConfig, Profile

APP_NAME = "meshmark-app"
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
CLUSTER_MESH_KINDS = frozenset({"baseline", "istio", "linkerd", "consul"})


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
    if mesh.kind == "baseline":
        labels["istio-injection"] = "disabled"
        annotations["linkerd.io/inject"] = "disabled"
        labels["pod-security.kubernetes.io/enforce"] = "restricted"
    else:
        labels["pod-security.kubernetes.io/warn"] = "restricted"
        labels["pod-security.kubernetes.io/audit"] = "restricted"
    if mesh.kind == "istio":
        labels["istio-injection"] = "enabled"
    elif mesh.kind == "linkerd":
        annotations["linkerd.io/inject"] = "enabled"
        if "mtls" in mesh.network_functions:
            annotations["config.linkerd.io/default-inbound-policy"] = "all-authenticated"
    return labels, annotations


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
    if mesh.kind == "istio":
        mode = "STRICT" if "mtls" in mesh.network_functions else "DISABLE"
        docs += _render(
            "istio-peerauthentication.yaml.j2",
            namespace=namespace,
            common_labels=common_labels,
            mtls_mode=mode,
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
    )
    return docs
