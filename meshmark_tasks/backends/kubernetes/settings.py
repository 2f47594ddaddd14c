"""Where and with what the kubernetes backend runs: namespaces, connections, pinned images."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from meshmark_tasks.errors import MeshmarkError

# Pinned images, never ":latest" (a tag that moves makes two runs of the same profile incomparable).
# fortio 1.69.4 and k6 1.1.0 match the versions the local backend uses; the Nighthawk project publishes
# only commit-tagged dev images, this one is the tag Istio's own perf tooling pins.
DEFAULT_IMAGES: Mapping[str, str] = {
    "fortio": "fortio/fortio:1.69.4",
    "nighthawk": "envoyproxy/nighthawk-dev:59683b759eb8f8bd8cce282795c08f9e2b3313d4",
    "k6": "grafana/k6:1.1.0",
}

# The application under test: fortio's echo server (HTTP on 8080 echoes the request body, gRPC ping on 8079).
DEFAULT_APP_IMAGE = "fortio/fortio:1.69.4"

# Requests and limits of the load-generator container. Generous limits: a throttled load generator
# measures itself, not the mesh.
DEFAULT_LOADGEN_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "1", "memory": "256Mi"},
    "limits": {"cpu": "2", "memory": "1Gi"},
}

# A tiny pinned image whose `sleep` holds a load-generator pod quiet before its traffic (the idle
# stretch that node-level data planes are measured in; fortio's image has no shell to sleep in).
DEFAULT_WAIT_IMAGE = "busybox:1.37.0"
WAIT_CONTAINER_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "10m", "memory": "16Mi"},
    "limits": {"cpu": "50m", "memory": "32Mi"},
}

# Non-root numeric user for every container we start. Images such as fortio (FROM scratch) have no
# USER, so runAsNonRoot alone would make the kubelet refuse them; a numeric uid satisfies it.
DEFAULT_RUN_AS_USER = 65532

_BOOLEAN = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass(frozen=True)
class KubernetesSettings:
    """Cluster-side configuration; profiles say what to test, these say where."""

    namespace_prefix: str = "meshmark"
    kubernetes_conn_id: str = "kubernetes_default"
    prometheus_conn_id: str = "meshmark_prometheus"
    loadgen_namespace: str | None = None
    images: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_IMAGES))
    app_image: str = DEFAULT_APP_IMAGE
    loadgen_resources: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_LOADGEN_RESOURCES.items()}
    )
    run_as_user: int = DEFAULT_RUN_AS_USER
    startup_timeout_s: int = 300
    # Extra seconds beyond warmup + duration before Kubernetes kills a stuck load generator.
    deadline_slack_s: int = 300
    # Deferrable pod tasks free their worker slot while the pod runs (the triggerer watches it);
    # False runs them synchronously on the worker (e.g. an installation without a triggerer).
    deferrable: bool = True
    # How often the triggerer (or the worker) asks the API server about a running pod.
    poll_interval_s: float = 5.0
    # Whether the cluster runs native sidecars, for profiles that leave cluster.native_sidecars at
    # auto; None: ask the API server for its version (native sidecars are on by default from 1.29).
    native_sidecars: bool | None = None
    wait_image: str = DEFAULT_WAIT_IMAGE
    # The Prometheus series label naming a container's node (node-level data-plane attribution).
    node_label: str = "node"

    def namespace_for(self, mesh_name: str) -> str:
        """One benchmark namespace per mesh configuration."""
        return f"{self.namespace_prefix}-{mesh_name}"

    def loadgen_namespace_for(self, mesh_name: str) -> str:
        return self.loadgen_namespace or self.namespace_for(mesh_name)

    def image_for(self, tool: str, profile_image: str | None = None) -> str:
        if profile_image:
            return profile_image
        try:
            return self.images[tool]
        except KeyError:
            raise MeshmarkError(
                f"load_generator.tool: the kubernetes backend has no image for {tool!r} "
                f"(it runs {', '.join(sorted(self.images))})"
            ) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KubernetesSettings:
        """Read MESHMARK_K8S_* / MESHMARK_PROMETHEUS_CONN_ID variables; unset ones keep the defaults."""
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}
        simple = {
            "MESHMARK_K8S_NAMESPACE_PREFIX": "namespace_prefix",
            "MESHMARK_K8S_CONN_ID": "kubernetes_conn_id",
            "MESHMARK_PROMETHEUS_CONN_ID": "prometheus_conn_id",
            "MESHMARK_K8S_LOADGEN_NAMESPACE": "loadgen_namespace",
            "MESHMARK_K8S_APP_IMAGE": "app_image",
            "MESHMARK_K8S_WAIT_IMAGE": "wait_image",
            "MESHMARK_PROMETHEUS_NODE_LABEL": "node_label",
        }
        for var, attr in simple.items():
            if env.get(var):
                kwargs[attr] = env[var]
        images = dict(DEFAULT_IMAGES)
        for tool in DEFAULT_IMAGES:
            override = env.get(f"MESHMARK_K8S_IMAGE_{tool.upper()}")
            if override:
                images[tool] = override
        kwargs["images"] = images
        deferrable = env.get("MESHMARK_K8S_DEFERRABLE", "").strip().lower()
        if deferrable:
            if deferrable not in _BOOLEAN:
                raise MeshmarkError(
                    f"MESHMARK_K8S_DEFERRABLE: expected true or false, got {env['MESHMARK_K8S_DEFERRABLE']!r}"
                )
            kwargs["deferrable"] = _BOOLEAN[deferrable]
        native = env.get("MESHMARK_K8S_NATIVE_SIDECARS", "").strip().lower()
        if native:
            if native not in _BOOLEAN:
                raise MeshmarkError(
                    "MESHMARK_K8S_NATIVE_SIDECARS: expected true or false, "
                    f"got {env['MESHMARK_K8S_NATIVE_SIDECARS']!r}"
                )
            kwargs["native_sidecars"] = _BOOLEAN[native]
        poll = env.get("MESHMARK_K8S_POLL_INTERVAL_S")
        if poll:
            try:
                kwargs["poll_interval_s"] = float(poll)
            except ValueError:
                raise MeshmarkError(f"MESHMARK_K8S_POLL_INTERVAL_S: expected seconds, got {poll!r}") from None
            if not kwargs["poll_interval_s"] > 0:
                raise MeshmarkError("MESHMARK_K8S_POLL_INTERVAL_S: must be more than 0 seconds")
        uid = env.get("MESHMARK_K8S_RUN_AS_USER")
        if uid:
            try:
                kwargs["run_as_user"] = int(uid)
            except ValueError:
                raise MeshmarkError(
                    f"MESHMARK_K8S_RUN_AS_USER: expected a numeric uid, got {uid!r}"
                ) from None
            if kwargs["run_as_user"] <= 0:
                raise MeshmarkError("MESHMARK_K8S_RUN_AS_USER: must be a non-root uid (> 0)")
        return cls(**kwargs)
