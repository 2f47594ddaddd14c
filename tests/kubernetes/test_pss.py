"""check_restricted_pss catches each kind of violation of the restricted Pod Security Standard."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from meshmark_tasks.backends.kubernetes.pss import check_restricted_pss

GOOD_SC = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def good_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "initContainers": [{"name": "init", "image": "i", "securityContext": dict(GOOD_SC)}],
            "containers": [{"name": "main", "image": "i", "securityContext": copy.deepcopy(GOOD_SC)}],
            "volumes": [{"name": "xcom", "emptyDir": {}}],
        },
    }


def main(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod["spec"]["containers"][0]
    return container


Mutation = Callable[[dict[str, Any]], None]

VIOLATIONS: dict[str, tuple[Mutation, str]] = {
    "root user in container": (
        lambda p: main(p)["securityContext"].update(runAsUser=0),
        "runAsUser must not be 0",
    ),
    "root user in pod": (
        lambda p: p["spec"]["securityContext"].update(runAsUser=0),
        "runAsUser must not be 0",
    ),
    "runAsNonRoot false": (
        lambda p: main(p)["securityContext"].update(runAsNonRoot=False),
        "runAsNonRoot must be true",
    ),
    "runAsNonRoot unset": (
        lambda p: (
            p["spec"]["securityContext"].pop("runAsNonRoot"),
            main(p)["securityContext"].pop("runAsNonRoot"),
        ),
        "runAsNonRoot must be true",
    ),
    "privileged": (lambda p: main(p)["securityContext"].update(privileged=True), "privileged must be false"),
    "privilege escalation": (
        lambda p: main(p)["securityContext"].update(allowPrivilegeEscalation=True),
        "allowPrivilegeEscalation must be false",
    ),
    "privilege escalation unset": (
        lambda p: main(p)["securityContext"].pop("allowPrivilegeEscalation"),
        "allowPrivilegeEscalation must be false",
    ),
    "added capability": (
        lambda p: main(p)["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
        "capabilities.add may only hold NET_BIND_SERVICE",
    ),
    "capabilities not dropped": (
        lambda p: main(p)["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
        "capabilities.drop must include ALL",
    ),
    "missing seccomp": (
        lambda p: (
            p["spec"]["securityContext"].pop("seccompProfile"),
            main(p)["securityContext"].pop("seccompProfile"),
        ),
        "seccompProfile.type must be set",
    ),
    "unconfined seccomp": (
        lambda p: main(p)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "must be RuntimeDefault or Localhost",
    ),
    "hostPath volume": (
        lambda p: p["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
        "uses hostPath",
    ),
    "hostNetwork": (lambda p: p["spec"].update(hostNetwork=True), "hostNetwork must be false"),
    "hostPID": (lambda p: p["spec"].update(hostPID=True), "hostPID must be false"),
    "hostIPC": (lambda p: p["spec"].update(hostIPC=True), "hostIPC must be false"),
    "hostPort": (
        lambda p: main(p).update(ports=[{"containerPort": 80, "hostPort": 80}]),
        "hostPort 80 is not allowed",
    ),
    "unsafe sysctl": (
        lambda p: p["spec"]["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
        "'kernel.msgmax' is unsafe",
    ),
    "unmasked proc": (
        lambda p: main(p)["securityContext"].update(procMount="Unmasked"),
        "procMount must be Default",
    ),
    "selinux user": (
        lambda p: main(p)["securityContext"].update(seLinuxOptions={"user": "system_u"}),
        "seLinuxOptions.user must not be set",
    ),
    "apparmor unconfined": (
        lambda p: main(p)["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
        "appArmorProfile must not be Unconfined",
    ),
    "init container escalates": (
        lambda p: p["spec"]["initContainers"][0]["securityContext"].update(allowPrivilegeEscalation=True),
        "initContainers[init]: securityContext.allowPrivilegeEscalation",
    ),
}


def test_the_good_pod_passes() -> None:
    assert check_restricted_pss(good_pod()) == []


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_each_violation_is_reported(name: str) -> None:
    mutate, expected = VIOLATIONS[name]
    pod = good_pod()
    mutate(pod)
    problems = check_restricted_pss(pod)
    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith("Pod/p: ") for problem in problems)


def test_workload_templates_are_checked_and_other_kinds_pass() -> None:
    pod = good_pod()
    main(pod)["securityContext"]["privileged"] = True
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"template": {"metadata": {}, "spec": pod["spec"]}},
    }
    assert any(
        "Deployment/d: containers[main]: securityContext.privileged" in p
        for p in check_restricted_pss(deployment)
    )
    cronjob = {
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": pod["spec"]}}}},
    }
    assert check_restricted_pss(cronjob)
    assert check_restricted_pss({"kind": "Service", "metadata": {"name": "s"}, "spec": {}}) == []
