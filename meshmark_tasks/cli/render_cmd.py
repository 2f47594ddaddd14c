"""`meshmark render --profile P [--cell C] [--native-sidecars true|false]`: what the kubernetes
backend would submit, as one YAML stream on stdout.

First every mesh's manifests in apply order (namespace, mesh policy, waypoint or Cilium policy, the
application under test: `KubernetesBackend.render_manifests`), then each cell's load-generator pod as
KubernetesPodOperator builds it from `KubernetesBackend.pod_kwargs` (its XCom sidecar included; the
labels of a task instance - dag_id, task_id, run_id, try_number - and the random pod-name suffix
are the operator's and differ per run). With --cell, only that cell's mesh and pod. Meant for
reading before a nightly and for `meshmark render ... | kubectl apply --dry-run=server -f -`.

Native sidecars are resolved as the nightly resolves them (the profile's cluster.native_sidecars,
MESHMARK_K8S_NATIVE_SIDECARS, else the cluster's version through the `kubernetes_default`
connection or KUBECONFIG); --native-sidecars overrides all three, and stderr says which was used.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

_CHOICES = {"true": True, "false": False}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "render", help="print the kubernetes backend's manifests and load-generator pods as YAML"
    )
    parser.add_argument("--profile", required=True, help="a profile file, or a name in profiles/")
    parser.add_argument("--cell", help="only this cell's mesh manifests and pod")
    parser.add_argument(
        "--native-sidecars",
        choices=sorted(_CHOICES),
        help="render for a cluster with (true) or without (false) native sidecars",
    )
    parser.set_defaults(handler=_render)


def _render(args: argparse.Namespace) -> int:
    import yaml

    from meshmark_tasks.backends.kubernetes.backend import KubernetesBackend
    from meshmark_tasks.backends.kubernetes.pods import loadgen_pod_object
    from meshmark_tasks.plan import RunPlan

    plan = RunPlan.from_params({"profile": args.profile, "backend": "kubernetes"})
    cells = [plan.cell(args.cell)] if args.cell else list(plan.cells)
    meshes = list(dict.fromkeys(cell.mesh for cell in cells))
    one_cell = plan.model_copy(update={"cells": tuple(cells)})
    backend = KubernetesBackend()
    native = _CHOICES[args.native_sidecars] if args.native_sidecars else backend.native_sidecars(plan)
    source = "--native-sidecars" if args.native_sidecars else _native_source(plan, backend)
    print(f"meshmark render: native sidecars {'on' if native else 'off'} ({source})", file=sys.stderr)

    manifests = backend.render_manifests(plan)
    pods = backend.pod_kwargs(one_cell, native_sidecars=native)
    out = sys.stdout
    for mesh in meshes:
        out.write(f"# mesh {mesh}: manifests in apply order\n")
        _write(out, yaml, manifests[mesh])
    for cell, kwargs in zip(cells, pods, strict=True):
        # The operator logs "Building pod ..." to stdout; the YAML stream must stay clean.
        with contextlib.redirect_stdout(sys.stderr):
            pod = loadgen_pod_object(kwargs)
        out.write(f"# cell {cell.cell_id}: load-generator pod\n")
        _write(out, yaml, [pod])
    return 0


def _native_source(plan: Any, backend: Any) -> str:
    if isinstance(plan.profile.cluster.native_sidecars, bool):
        return "the profile's cluster.native_sidecars"
    if backend.settings.native_sidecars is not None:
        return "MESHMARK_K8S_NATIVE_SIDECARS"
    return "asked the cluster; false when it cannot be asked or no mesh injects sidecars"


def _write(out: Any, yaml: Any, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        out.write("---\n")
        out.write(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
