"""Real cells on the local testbed: what only a real measurement can show.

Three cells (no mesh, Caddy sidecars, Caddy sidecars with mTLS) at 200 req/s for 4 s each after a
1 s warmup. Other work shares this machine, so the assertions rely on what is large and structural:
two extra proxy hops raise the median, sidecars use CPU, an open-model generator sends exactly its
schedule.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshmark_tasks.backends.local import provision, run_cell, teardown
from meshmark_tasks.backends.local.processes import processes_mentioning
from meshmark_tasks.matrix import expand_matrix
from meshmark_tasks.measurement import CellMeasurement
from meshmark_tasks.profile import Profile

pytestmark = pytest.mark.testbed

RATE = 200
DURATION_S = 4


@pytest.fixture(scope="module")
def measured(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Profile, Path, Path, dict[str, CellMeasurement]]]:
    from meshmark_tasks.profile import profile_from_mapping

    profile = profile_from_mapping(
        {
            "name": "three-cells",
            "meshes": [
                {"name": "baseline", "kind": "baseline", "resources": {"app": {"limits": {"cpu": "1"}}}},
                {"name": "sidecar", "kind": "local-sidecar"},
                {"name": "sidecar-mtls", "kind": "local-sidecar", "network_functions": ["mtls"]},
            ],
            "load_generator": {"tool": "k6"},
            "matrix": {"qps": [RATE], "connections": [32], "payload_bytes": [1024]},
            "duration_s": DURATION_S,
            "warmup_s": 1,
            "slo": {"p99_ms": 50},
        }
    )
    base = tmp_path_factory.mktemp("cells")
    workdir, out_dir = base / "run", base / "out"
    provision(profile, workdir)
    results = {cell.mesh: run_cell(profile, cell, workdir, out_dir) for cell in expand_matrix(profile)}
    yield profile, workdir, out_dir, results
    teardown(workdir)


def test_every_cell_measured(measured: Any) -> None:
    _, _, _, results = measured
    for mesh, m in results.items():
        assert m.failure is None, f"{mesh}: {m.failure}"
        assert m.result is not None and m.resources is not None


def test_sidecars_add_latency_at_the_same_load_point(measured: Any) -> None:
    _, _, _, results = measured
    baseline_p50 = results["baseline"].result.latency_ms_p50
    for mesh in ("sidecar", "sidecar-mtls"):
        mesh_p50 = results[mesh].result.latency_ms_p50
        assert results[mesh].cell.load_point == results["baseline"].cell.load_point
        assert mesh_p50 > baseline_p50, f"{mesh} p50 {mesh_p50} ms not above baseline {baseline_p50} ms"


def test_dataplane_cpu_only_where_there_are_sidecars(measured: Any) -> None:
    _, _, _, results = measured
    assert results["baseline"].resources.cpu_cores_dataplane == 0.0
    assert results["baseline"].resources.mem_bytes_dataplane == 0.0
    for mesh in ("sidecar", "sidecar-mtls"):
        resources = results[mesh].resources
        assert resources.cpu_cores_dataplane > 0
        assert resources.mem_bytes_dataplane > 10 * 2**20  # two Caddy processes' resident memory
    for m in results.values():
        assert m.resources.cpu_cores_app > 0 and m.resources.mem_bytes_app > 0
        assert m.resources.cpu_cores_controlplane == 0.0  # measured: none locally


def test_open_model_sends_the_requested_schedule(measured: Any) -> None:
    _, _, _, results = measured
    for mesh, m in results.items():
        expected = RATE * DURATION_S
        assert abs(m.result.requests_total - expected) <= 0.05 * expected, (mesh, m.result.requests_total)
        assert m.result.requested_qps == RATE
        assert m.result.errors_total == 0
        assert abs(m.result.actual_qps - RATE) <= 0.05 * RATE, (mesh, m.result.actual_qps)


def test_outputs_written_and_round_trip(measured: Any) -> None:
    _, _, out_dir, results = measured
    for m in results.values():
        cell_id = m.cell.cell_id
        raw = out_dir / f"{cell_id}.k6.json"
        assert m.raw_path == str(raw) and m.raw_format == "k6"
        assert "http_reqs" in json.loads(raw.read_text())["metrics"]
        stored = json.loads((out_dir / f"{cell_id}.measurement.json").read_text())
        assert CellMeasurement.from_json_dict(stored) == m
        testbed = json.loads((out_dir / f"{cell_id}.testbed.json").read_text())
        assert testbed["window_s"] >= DURATION_S * 0.95  # sampled over the measured run only
        assert all(c["samples"] >= 5 for c in testbed["components"])  # RSS every 0.5 s, plus both edges
        assert testbed["conditions"] == m.conditions and m.conditions["placement"]["app"]["cpus"]


def test_mtls_cell_ran_with_client_certificate_verification(measured: Any) -> None:
    _, workdir, _, results = measured
    cell_dir = workdir / "cells" / results["sidecar-mtls"].cell.cell_id
    server = json.loads((cell_dir / "server-sidecar.caddy.json").read_text())
    policy = server["apps"]["http"]["servers"]["server_sidecar"]["tls_connection_policies"][0]
    assert policy["client_authentication"]["mode"] == "require_and_verify"
    plain = json.loads(
        (workdir / "cells" / results["sidecar"].cell.cell_id / "server-sidecar.caddy.json").read_text()
    )
    assert "tls_connection_policies" not in plain["apps"]["http"]["servers"]["server_sidecar"]


def test_nothing_left_running(measured: Any) -> None:
    _, workdir, _, _ = measured
    assert processes_mentioning(str(workdir)) == []
    assert list((workdir / "pids").rglob("*.pid")) == []
