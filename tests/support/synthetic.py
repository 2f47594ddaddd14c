"""Synthetic nightly histories written through the store: test and benchmark data, not product code.

Each night gets a results table shaped like real cells (latency growing with QPS, mesh data planes
costing CPU and memory, a little noise) that is scored by the real scoring engine and written with
DatasetStore.write_run, so the report reads exactly what a nightly run would have produced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from meshmark_tasks.matrix import cell_id_for
from meshmark_tasks.scoring import score_cells
from meshmark_tasks.storage import DatasetStore

MIB = 1024 * 1024


@dataclass(frozen=True)
class SyntheticMesh:
    name: str
    kind: str = "sidecar"
    network_functions: str = ""
    latency_factor: float = 1.6  # latency relative to the no-mesh baseline
    dataplane_cores_per_kqps: float = 0.4
    controlplane_cores: float = 0.1
    dataplane_mib: float = 100.0
    controlplane_mib: float = 300.0

    @property
    def is_baseline(self) -> bool:
        return self.kind == "none"


BASELINE = SyntheticMesh(
    "baseline",
    kind="none",
    latency_factor=1.0,
    dataplane_cores_per_kqps=0.0,
    controlplane_cores=0.0,
    dataplane_mib=0.0,
    controlplane_mib=0.0,
)
SIDECAR = SyntheticMesh("sidecar")
SIDECAR_MTLS = SyntheticMesh(
    "sidecar-mtls", network_functions="mtls", latency_factor=1.8, dataplane_cores_per_kqps=0.5
)


@dataclass(frozen=True)
class SyntheticHistory:
    meshes: Sequence[SyntheticMesh] = (BASELINE, SIDECAR, SIDECAR_MTLS)
    qps: Sequence[float] = (100.0, 500.0)
    connections: Sequence[int] = (8,)
    nights: int = 10
    first_date: dt.date = dt.date(2025, 1, 1)
    noise: float = 0.02  # each measured value is multiplied by uniform(1 - noise, 1 + noise)
    seed: int = 7
    profile: str = "synthetic"
    slo_p99_ms: float = 20.0
    # Multiplicative changes from `step_night` on (default: the newest night only):
    # {mesh: {column: factor}}.
    newest_changes: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    step_night: int | None = None  # first night (0-based) of newest_changes and step_descriptors
    # Results columns set from `step_night` on, e.g. {"load_generator_version": "1.2.0"}.
    step_descriptors: Mapping[str, object] = field(default_factory=dict)
    repetitions: int = 1  # results rows per cell and night, each with its own noise

    @property
    def first_changed_night(self) -> int:
        return self.nights - 1 if self.step_night is None else self.step_night

    @property
    def cells_per_night(self) -> int:
        return len(self.meshes) * len(self.qps) * len(self.connections)


def run_id_for(date: dt.date) -> str:
    return f"scheduled__{date.isoformat()}T02:00:00+00:00"


def night_results(spec: SyntheticHistory, night: int, rng: np.random.Generator) -> pd.DataFrame:
    """The results rows of one night (schemas.RESULTS columns, run fields included)."""
    date = spec.first_date + dt.timedelta(days=night)
    run_id = run_id_for(date)
    start = dt.datetime.combine(date, dt.time(2, 0), tzinfo=dt.UTC)
    changed = night >= spec.first_changed_night
    changes = spec.newest_changes if changed else {}
    descriptors = dict(spec.step_descriptors) if changed else {}

    def noisy(value: float) -> float:
        return value * float(rng.uniform(1 - spec.noise, 1 + spec.noise))

    records = []
    for mesh in spec.meshes:
        for qps, conns, rep in (
            (q, c, r) for q in spec.qps for c in spec.connections for r in range(spec.repetitions)
        ):
            load = 1 + qps / 10_000 + conns / 1_000
            p50 = noisy(1.0 * mesh.latency_factor * load)
            p90 = max(p50, noisy(2.5 * mesh.latency_factor * load))
            p99 = max(p90, noisy(4.0 * mesh.latency_factor * load))
            cpu_app = noisy(0.5 * qps / 1000 + 0.05)
            cpu_dp = (
                noisy(mesh.dataplane_cores_per_kqps * qps / 1000) if mesh.dataplane_cores_per_kqps else 0.0
            )
            cpu_cp = noisy(mesh.controlplane_cores) if mesh.controlplane_cores else 0.0
            values = {
                "latency_ms_p50": p50,
                "latency_ms_p90": p90,
                "latency_ms_p99": p99,
                "cpu_cores_app": cpu_app,
                "cpu_cores_dataplane": cpu_dp,
                "cpu_cores_controlplane": cpu_cp,
                "mem_bytes_app": noisy(200.0) * MIB,
                "mem_bytes_dataplane": noisy(mesh.dataplane_mib) * MIB,
                "mem_bytes_controlplane": noisy(mesh.controlplane_mib) * MIB,
            }
            for column, factor in changes.get(mesh.name, {}).items():
                values[column] *= factor
            p99 = values["latency_ms_p99"]
            actual = qps * float(rng.uniform(0.995, 1.0))
            duration = 60.0
            requests = int(actual * duration)
            records.append(
                {
                    "run_id": run_id,
                    "run_date": date,
                    "profile": spec.profile,
                    "backend": "synthetic",
                    "cell_id": cell_id_for(mesh.name, qps, conns, 0, "http", rep),
                    "mesh": mesh.name,
                    "mesh_kind": mesh.kind,
                    "is_baseline": mesh.is_baseline,
                    "network_functions": mesh.network_functions,
                    "requested_qps": qps,
                    "connections": conns,
                    "payload_bytes": 0,
                    "protocol": "http",
                    "repetition": rep,
                    "load_generator": "k6",
                    "load_generator_version": "1.1.0",
                    "start_time": start,
                    "end_time": start + dt.timedelta(seconds=duration),
                    "duration_s": duration,
                    "actual_qps": actual,
                    "requests_total": requests,
                    "errors_total": 0,
                    "latency_ms_min": values["latency_ms_p50"] * 0.3,
                    "latency_ms_mean": values["latency_ms_p50"] * 1.1,
                    "latency_ms_p75": (values["latency_ms_p50"] + values["latency_ms_p90"]) / 2,
                    "latency_ms_p999": p99 * 1.5,
                    "latency_ms_max": p99 * 2.0,
                    "cpu_cores_assigned": 4.0,
                    "mem_bytes_assigned": 2048.0 * MIB,
                    "slo_p99_ms": spec.slo_p99_ms,
                    "error_budget": 0.01,
                    "saturated": False,
                    "raw_path": None,
                    **values,
                    **descriptors,
                }
            )
    return pd.DataFrame.from_records(records)


def write_history(root: str, spec: SyntheticHistory) -> list[str]:
    """Write every night's results and MeshMark rows through the store; returns the run ids."""
    store = DatasetStore(root)
    rng = np.random.default_rng(spec.seed)
    run_ids = []
    for night in range(spec.nights):
        results = night_results(spec, night, rng)
        run_id = str(results["run_id"].iloc[0])
        run_date: dt.date = results["run_date"].iloc[0]
        store.write_run("results", results, run_id=run_id, run_date=run_date)
        store.write_run("meshmark", score_cells(results), run_id=run_id, run_date=run_date)
        run_ids.append(run_id)
    return run_ids
