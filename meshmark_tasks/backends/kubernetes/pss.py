"""Check pod specs against the Kubernetes Pod Security Standards "restricted" profile.

The rules follow https://kubernetes.io/docs/concepts/security/pod-security-standards/ (the baseline
controls plus the restricted ones, Linux pods). A namespace labelled
pod-security.kubernetes.io/enforce=restricted makes the API server refuse a violating pod; this check
lets tests and the DAG refuse it earlier, with a message naming the container and field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Restricted: only these volume types.
ALLOWED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
# Baseline: the "safe" sysctls.
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
ALLOWED_SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
ALLOWED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})
_WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}
)


def pod_spec_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec inside a Pod, a workload's pod template or a CronJob; None for other kinds."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "PodTemplate":
        return (obj.get("template") or {}).get("spec") or {}
    if kind in _WORKLOAD_KINDS:
        return (spec.get("template") or {}).get("spec") or {}
    if kind == "CronJob":
        job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        return (job_spec.get("template") or {}).get("spec") or {}
    return None


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            yield f"{field}[{container.get('name', '?')}]", container


def _seccomp_type(security_context: dict[str, Any] | None) -> str | None:
    profile = (security_context or {}).get("seccompProfile") or {}
    value = profile.get("type")
    return value if isinstance(value, str) else None


def check_restricted_pss(pod_or_manifest: dict[str, Any]) -> list[str]:
    """Violations of the restricted profile (empty list = passes). Non-pod kinds pass trivially.

    Expects the API (camelCase) form, e.g. ApiClient().sanitize_for_serialization(v1_pod).
    """
    spec = pod_spec_of(pod_or_manifest)
    if spec is None:
        return []
    name = (pod_or_manifest.get("metadata") or {}).get("name", "?")
    where = f"{pod_or_manifest.get('kind')}/{name}"
    problems: list[str] = []
    pod_sc: dict[str, Any] = spec.get("securityContext") or {}

    # --- baseline: host namespaces, host paths and ports, privileged, unsafe sysctls, SELinux, AppArmor
    for host_field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host_field):
            problems.append(f"{where}: spec.{host_field} must be false")
    for volume in spec.get("volumes") or []:
        types = [key for key in volume if key != "name"]
        for volume_type in types:
            if volume_type not in ALLOWED_VOLUME_TYPES:
                problems.append(
                    f"{where}: volume {volume.get('name', '?')!r} uses {volume_type}, not allowed"
                )
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"{where}: spec.securityContext.sysctls {sysctl.get('name')!r} is unsafe")
    problems += _selinux_problems(f"{where}: spec.securityContext", pod_sc)
    if (pod_sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        problems.append(f"{where}: spec.securityContext.appArmorProfile must not be Unconfined")
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess"):
        problems.append(f"{where}: spec.securityContext.windowsOptions.hostProcess must not be true")

    # --- restricted, pod level defaults that containers inherit
    pod_non_root = pod_sc.get("runAsNonRoot")
    pod_user = pod_sc.get("runAsUser")
    if pod_user == 0:
        problems.append(f"{where}: spec.securityContext.runAsUser must not be 0 (root)")
    pod_seccomp = _seccomp_type(pod_sc)
    if pod_seccomp is not None and pod_seccomp not in ALLOWED_SECCOMP:
        problems.append(
            f"{where}: spec.securityContext.seccompProfile.type must be RuntimeDefault or Localhost"
        )

    for path, container in _containers(spec):
        loc = f"{where}: {path}"
        sc: dict[str, Any] = container.get("securityContext") or {}
        if sc.get("privileged"):
            problems.append(f"{loc}: securityContext.privileged must be false")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{loc}: securityContext.allowPrivilegeEscalation must be false")
        non_root = sc.get("runAsNonRoot", pod_non_root)
        if non_root is not True:
            problems.append(f"{loc}: runAsNonRoot must be true (container or pod securityContext)")
        if sc.get("runAsUser") == 0:
            problems.append(f"{loc}: securityContext.runAsUser must not be 0 (root)")
        seccomp = _seccomp_type(sc)
        if seccomp is not None and seccomp not in ALLOWED_SECCOMP:
            problems.append(f"{loc}: securityContext.seccompProfile.type must be RuntimeDefault or Localhost")
        elif seccomp is None and pod_seccomp is None:
            problems.append(
                f"{loc}: seccompProfile.type must be set (RuntimeDefault) on the container or pod"
            )
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{loc}: securityContext.capabilities.drop must include ALL")
        added = [cap for cap in capabilities.get("add") or [] if cap != "NET_BIND_SERVICE"]
        if added:
            problems.append(
                f"{loc}: securityContext.capabilities.add may only hold NET_BIND_SERVICE, not {added}"
            )
        if sc.get("procMount") not in (None, "Default"):
            problems.append(f"{loc}: securityContext.procMount must be Default")
        problems += _selinux_problems(f"{loc}: securityContext", sc)
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            problems.append(f"{loc}: securityContext.appArmorProfile must not be Unconfined")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            problems.append(f"{loc}: securityContext.windowsOptions.hostProcess must not be true")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{loc}: ports hostPort {port['hostPort']} is not allowed")
    return problems


def _selinux_problems(loc: str, security_context: dict[str, Any]) -> list[str]:
    options = security_context.get("seLinuxOptions") or {}
    problems = []
    if options.get("type", "") not in ALLOWED_SELINUX_TYPES:
        problems.append(f"{loc}.seLinuxOptions.type {options['type']!r} is not allowed")
    for key in ("user", "role"):
        if options.get(key):
            problems.append(f"{loc}.seLinuxOptions.{key} must not be set")
    return problems
