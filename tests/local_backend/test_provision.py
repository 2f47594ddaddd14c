"""provision / teardown / bad input of the local backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meshmark_tasks.backends.local import provision, run_cell, teardown
from meshmark_tasks.errors import ProfileError
from meshmark_tasks.matrix import Cell, expand_matrix
from meshmark_tasks.profile import load_profile


@pytest.mark.parametrize("kind", ["istio", "linkerd", "consul"])
def test_cluster_mesh_kinds_are_refused_naming_the_mesh(
    kind: str, tmp_path: Path, profile_factory: Any
) -> None:
    profile = profile_factory(
        meshes=[
            {"name": "baseline", "kind": "baseline"},
            {"name": f"my-{kind}", "kind": kind, "resources": {"dataplane_proxies": 2}},
        ]
    )
    with pytest.raises(ProfileError, match=rf"mesh 'my-{kind}' has kind '{kind}'.*kubernetes backend"):
        provision(profile, tmp_path / "run")


def test_the_cluster_example_profile_is_refused(repo_root: Path, tmp_path: Path) -> None:
    profile = load_profile(repo_root / "profiles" / "cluster-istio-linkerd.yaml")
    with pytest.raises(ProfileError, match="cannot run"):
        provision(profile, tmp_path / "run")


def test_unsupported_network_function_is_refused(tmp_path: Path, profile_factory: Any) -> None:
    profile = profile_factory(
        meshes=[{"name": "split", "kind": "local-sidecar", "network_functions": ["traffic_split"]}]
    )
    with pytest.raises(ProfileError, match="mesh 'split' asks for traffic_split"):
        provision(profile, tmp_path / "run")


def test_provision_writes_certs_and_manifests_idempotently(tmp_path: Path, profile_factory: Any) -> None:
    profile = profile_factory()
    workdir = tmp_path / "run"
    provision(profile, workdir)
    ca = (workdir / "certs" / "ca.pem").read_bytes()
    manifest = json.loads((workdir / "meshes" / "sidecar-mtls.json").read_text())
    assert manifest["components"] == {
        "app": "app",
        "server-sidecar": "dataplane",
        "client-sidecar": "dataplane",
    }
    provision(profile, workdir)
    assert (workdir / "certs" / "ca.pem").read_bytes() == ca
    teardown(workdir)
    assert not workdir.exists()
    teardown(workdir)  # safe twice


def test_no_certs_without_mtls(tmp_path: Path, profile_factory: Any) -> None:
    profile = profile_factory(meshes=[{"name": "baseline", "kind": "baseline"}])
    provision(profile, tmp_path / "run")
    assert not (tmp_path / "run" / "certs").exists()


def test_cell_of_another_profile_is_bad_input(tmp_path: Path, profile_factory: Any) -> None:
    profile = profile_factory()
    foreign = expand_matrix(profile)[0].model_copy(update={"mesh": "nope", "cell_id": "nope-q200"})
    assert isinstance(foreign, Cell)
    with pytest.raises(ProfileError, match="cell nope-q200: mesh 'nope' is not in profile"):
        run_cell(profile, foreign, tmp_path / "run", tmp_path / "out")


def test_duration_below_k6_minimum_is_refused(tmp_path: Path, profile_factory: Any) -> None:
    with pytest.raises(ProfileError, match=r"duration_s 0\.5 is below k6's minimum"):
        provision(profile_factory(duration_s=0.5), tmp_path / "run")
