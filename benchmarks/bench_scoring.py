"""Scoring throughput: score_cells on 1,000,000 cells on one core (target ≥ 1,000,000 cells/s).

Reference, measured in the same run on the same cells: a bare `pandas.DataFrame.merge` of the mesh
cells with the baseline cells on the pairing key (run, load point) — just the join that any
DataFrame implementation of the baseline pairing has to do, before computing a single MUE. The
headline ratio is score_cells time / merge time: below 1 means the whole score (validation,
pairing, 8 MUEs, 4 classes, MeshMark, overheads, cost, output frame) costs less than that one join.
A second, lower reference is the bare numpy evaluation of one MUE formula (mue_cpu) over the same
arrays: the memory-bandwidth floor of touching a few columns once.

One core: OMP/OPENBLAS/MKL thread counts are set to 1 before numpy is imported (when this module
is the first to import it), pyarrow's pool is set to one thread, and the process is pinned to a
single CPU with sched_setaffinity while timing, so the number does not depend on the machine's
core count.

MESHMARK_BENCH_CELLS (default 1000000) sets the number of cells; MESHMARK_BENCH_REPEATS (default
5) the timed repetitions (the best is reported, the median too).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402

from meshmark_tasks.scoring import aggregate_by_config, score_cells  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "var" / "benchmarks" / "scoring.json"
TARGET_CELLS_PER_S = 1_000_000

MESHES = ("baseline", "istio", "istio-mtls", "linkerd", "consul")
QPS = (np.nan, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0)  # NaN = unthrottled "max"
CONNECTIONS = (1, 8, 64)
PAYLOADS = (0, 1024, 65536)
PROTOCOLS = ("http", "grpc")
REPETITIONS = 3
PAIR_KEY = ["run_id", "run_date", "requested_qps", "connections", "payload_bytes", "protocol"]


def make_cells(n: int, seed: int = 7) -> pd.DataFrame:
    """n realistic cells: whole runs of meshes × load points × repetitions (the last run cut short).

    Latencies and resources are drawn around plausible values, the mesh adds latency, CPU and
    memory, ~2 % of cells miss a resource metric and ~0.5 % failed (requests_total 0).
    """
    rng = np.random.default_rng(seed)
    grid = pd.MultiIndex.from_product(
        [
            range(len(MESHES)),
            range(len(QPS)),
            CONNECTIONS,
            PAYLOADS,
            range(len(PROTOCOLS)),
            range(REPETITIONS),
        ],
        names=["mesh", "qps", "connections", "payload_bytes", "protocol", "repetition"],
    ).to_frame(index=False)
    per_run = len(grid)
    runs = -(-n // per_run)
    idx = np.arange(n)
    run = idx // per_run
    g = grid.iloc[idx % per_run].reset_index(drop=True)

    mesh_i = g["mesh"].to_numpy()
    is_baseline = mesh_i == 0
    requested = np.asarray(QPS)[g["qps"].to_numpy()]
    throttled = ~np.isnan(requested)
    actual = np.where(throttled, requested * rng.uniform(0.93, 1.0, n), rng.uniform(2000, 30000, n))
    duration = 60.0
    requests = np.round(actual * duration).astype(np.int64)
    requests[rng.random(n) < 0.005] = 0
    errors = np.minimum(rng.poisson(requests * 0.001), requests)
    p50 = rng.lognormal(0.0, 0.3, n) * np.where(is_baseline, 1.0, 1.0 + 0.2 * mesh_i)
    p99 = p50 * rng.uniform(2.0, 6.0, n)
    cpu_app = actual / 4000.0 * rng.uniform(0.9, 1.1, n)
    cpu_dp = np.where(is_baseline, 0.0, actual / 8000.0 * rng.uniform(0.8, 1.2, n))
    cpu_cp = np.where(is_baseline, 0.0, rng.uniform(0.05, 0.2, n))
    mib = float(2**20)
    mem_app = rng.uniform(150, 250, n) * mib
    mem_dp = np.where(is_baseline, 0.0, rng.uniform(40, 120, n) * mib)
    mem_cp = np.where(is_baseline, 0.0, rng.uniform(200, 400, n) * mib)
    cpu_dp[rng.random(n) < 0.02] = np.nan  # a missing Prometheus series now and then

    run_ids = np.array([f"nightly-{r:05d}" for r in range(runs)], dtype=object)
    run_dates = pd.date_range("2020-01-01", periods=runs, freq="D").date
    mesh_names = np.asarray(MESHES, dtype=object)
    cell_ids = pd.array(
        [f"{m}-{i}" for m, i in zip(mesh_names[mesh_i], idx % per_run, strict=True)], dtype="str"
    )
    return pd.DataFrame(
        {
            "run_id": pd.array(run_ids[run], dtype="str"),
            "run_date": run_dates[run],
            "cell_id": cell_ids,
            "mesh": pd.array(mesh_names[mesh_i], dtype="str"),
            "is_baseline": is_baseline,
            "requested_qps": requested,
            "connections": g["connections"].to_numpy().astype(np.int32),
            "payload_bytes": g["payload_bytes"].to_numpy().astype(np.int64),
            "protocol": pd.array(np.asarray(PROTOCOLS, dtype=object)[g["protocol"].to_numpy()], dtype="str"),
            "repetition": g["repetition"].to_numpy().astype(np.int32),
            "actual_qps": actual,
            "requests_total": requests,
            "errors_total": errors,
            "latency_ms_p50": p50,
            "latency_ms_p99": p99,
            "cpu_cores_app": cpu_app,
            "cpu_cores_dataplane": cpu_dp,
            "cpu_cores_controlplane": cpu_cp,
            "cpu_cores_assigned": np.where(is_baseline, 4.0, 6.0),
            "mem_bytes_app": mem_app,
            "mem_bytes_dataplane": mem_dp,
            "mem_bytes_controlplane": mem_cp,
            "mem_bytes_assigned": np.where(is_baseline, 1024.0, 2304.0) * mib,
            "slo_p99_ms": np.full(n, 10.0),
        }
    )


@contextmanager
def one_core() -> Iterator[str]:
    """Pin this process to one CPU and pyarrow to one thread for the duration."""
    previous_cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    previous_threads = pa.cpu_count()
    pa.set_cpu_count(1)
    pinned = "not pinned (no sched_setaffinity)"
    if previous_cpus:
        cpu = min(previous_cpus)
        os.sched_setaffinity(0, {cpu})
        pinned = f"pinned to CPU {cpu}"
    try:
        yield pinned
    finally:
        pa.set_cpu_count(previous_threads)
        if previous_cpus:
            os.sched_setaffinity(0, previous_cpus)


def _time(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Best and median wall time, and best CPU time of this process, over `repeats` calls.

    CPU time (time.process_time) is reported beside wall time because the benchmark may share the
    machine: with the process pinned to one core and single-threaded libraries, CPU time is the time
    the code actually ran on that core, while wall time also counts waiting for it.
    """
    fn()  # warm-up: first-call imports and allocations are not the steady state
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return {"wall_best": min(wall), "wall_median": statistics.median(wall), "cpu_best": min(cpu)}


def run() -> dict[str, Any]:
    n = int(os.environ.get("MESHMARK_BENCH_CELLS", "1000000"))
    repeats = int(os.environ.get("MESHMARK_BENCH_REPEATS", "5"))
    cells = make_cells(n)
    baselines = cells.loc[cells["is_baseline"], PAIR_KEY + ["latency_ms_p50"]]
    meshes = cells.loc[~cells["is_baseline"]]
    assigned = cells["cpu_cores_assigned"].to_numpy()
    used_parts = [
        cells[c].to_numpy() for c in ("cpu_cores_app", "cpu_cores_dataplane", "cpu_cores_controlplane")
    ]

    def reference_merge() -> pd.DataFrame:
        return meshes.merge(baselines, on=PAIR_KEY, how="left", suffixes=("", "_baseline"))

    def reference_numpy_mue_cpu() -> np.ndarray:
        return np.clip(1.0 - (used_parts[0] + used_parts[1] + used_parts[2]) / assigned, 0.0, 1.0)

    with one_core() as pinned:
        score = _time(lambda: score_cells(cells), repeats)
        merge = _time(reference_merge, repeats)
        numpy_only = _time(reference_numpy_mue_cpu, repeats)
        scored = score_cells(cells)
        aggregate = _time(lambda: aggregate_by_config(scored), max(1, repeats // 2))

    result = {
        "cells": n,
        "cells_scored": len(scored),
        "one_core": pinned,
        "load_average_1min": os.getloadavg()[0],
        "score_cells_wall_s_best": score["wall_best"],
        "score_cells_wall_s_median": score["wall_median"],
        "score_cells_cpu_s_best": score["cpu_best"],
        "cells_per_s_wall": n / score["wall_best"],
        "cells_per_s_cpu": n / score["cpu_best"],
        "target_cells_per_s": TARGET_CELLS_PER_S,
        "target_met_wall": n / score["wall_best"] >= TARGET_CELLS_PER_S,
        "target_met_cpu": n / score["cpu_best"] >= TARGET_CELLS_PER_S,
        "reference": "pandas.DataFrame.merge of mesh cells with baseline cells on (run, load point)",
        "reference_merge_wall_s_best": merge["wall_best"],
        "reference_merge_cpu_s_best": merge["cpu_best"],
        "ratio_score_to_merge_wall": score["wall_best"] / merge["wall_best"],
        "ratio_score_to_merge_cpu": score["cpu_best"] / merge["cpu_best"],
        "reference_numpy_mue_cpu_wall_s_best": numpy_only["wall_best"],
        "ratio_score_to_numpy_mue_cpu_wall": score["wall_best"] / numpy_only["wall_best"],
        "aggregate_by_config_wall_s_best": aggregate["wall_best"],
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    return result


def _report(r: dict[str, Any]) -> str:
    met = {True: "met", False: "NOT met"}
    return "\n".join(
        [
            f"score_cells on {r['cells']:,} cells ({r['cells_scored']:,} scored), {r['one_core']},"
            f" load average {r['load_average_1min']:.1f}",
            f"  wall: best {r['score_cells_wall_s_best']:.3f} s"
            f" (median {r['score_cells_wall_s_median']:.3f} s)"
            f" = {r['cells_per_s_wall']:,.0f} cells/s, target {r['target_cells_per_s']:,}"
            f" {met[r['target_met_wall']]}",
            f"  cpu:  best {r['score_cells_cpu_s_best']:.3f} s = {r['cells_per_s_cpu']:,.0f} cells/s,"
            f" target {met[r['target_met_cpu']]}",
            f"reference: {r['reference']}: wall {r['reference_merge_wall_s_best']:.3f} s,"
            f" cpu {r['reference_merge_cpu_s_best']:.3f} s",
            f"  score_cells / merge = {r['ratio_score_to_merge_wall']:.2f} (wall),"
            f" {r['ratio_score_to_merge_cpu']:.2f} (cpu)",
            f"reference: numpy mue_cpu formula alone {r['reference_numpy_mue_cpu_wall_s_best'] * 1000:.1f} ms"
            f" -> score_cells / mue_cpu = {r['ratio_score_to_numpy_mue_cpu_wall']:.0f}",
            f"aggregate_by_config: {r['aggregate_by_config_wall_s_best']:.3f} s (wall)",
            f"written to {OUT}",
        ]
    )


if __name__ == "__main__":
    print(_report(run()))
