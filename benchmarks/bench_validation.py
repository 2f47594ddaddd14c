"""Validation cost: `validate_results` on 100,000 result rows, against writing the same rows with the store.

Reference, measured in the same run on the same rows: `DatasetStore(root).write_run("results", ...)`
into a temporary local root (conform to the Arrow schema + zstd Parquet + atomic rename), i.e. what
the nightly run does with the good rows right after validating them. The headline ratio is
validation time / write time. The validation includes the structure suite, the computed columns,
the results suite, the planned-cells suite (every row's cell planned) and building the quarantine
table; ~1 % of the rows carry a fault so the quarantine path is exercised.

The one-time cost (importing great_expectations, building the in-memory context and loading the
three suites) is reported separately: it is paid once per process, not per validation.

MESHMARK_BENCH_VALIDATION_ROWS (default 100000) sets the row count; MESHMARK_BENCH_REPEATS
(default 3) the timed repetitions (best and median reported).
"""

from __future__ import annotations

import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "var" / "benchmarks" / "validation.json"
MESHES = (("baseline", True), ("istio", False), ("istio-mtls", False), ("linkerd", False))
MIB = 1024.0 * 1024.0


def make_results(n: int, seed: int = 11) -> pd.DataFrame:
    """n plausible results rows (schemas.RESULTS minus run_id/run_date); ~1 % carry one fault each."""
    rng = np.random.default_rng(seed)
    mesh_index = np.arange(n) % len(MESHES)
    is_baseline = np.array([MESHES[i][1] for i in mesh_index])
    qps = rng.choice([100.0, 500.0, 1000.0, 5000.0], n)
    actual = qps * rng.uniform(0.97, 1.01, n)
    requests = np.round(actual * 60).astype("int64")
    p50 = rng.uniform(0.5, 3.0, n) + np.where(is_baseline, 0.0, 0.7)
    cpu_app = qps / 10000.0
    frame = pd.DataFrame(
        {
            "profile": "bench",
            "backend": "kubernetes",
            "cell_id": [
                f"{MESHES[m][0]}-q{int(q)}-c8-b1024-http-r{i}"
                for i, (m, q) in enumerate(zip(mesh_index, qps, strict=True))
            ],
            "mesh": [MESHES[m][0] for m in mesh_index],
            "mesh_kind": np.where(is_baseline, "baseline", "istio"),
            "is_baseline": is_baseline,
            "network_functions": "",
            "requested_qps": qps,
            "connections": np.full(n, 8, dtype="int32"),
            "payload_bytes": np.full(n, 1024, dtype="int64"),
            "protocol": "http",
            "repetition": np.zeros(n, dtype="int32"),
            "load_generator": "fortio",
            "load_generator_version": "1.69.0",
            "start_time": pd.Timestamp("2025-06-01T02:00:00Z"),
            "end_time": pd.Timestamp("2025-06-01T02:01:00Z"),
            "duration_s": 60.0,
            "actual_qps": actual,
            "requests_total": requests,
            "errors_total": (requests * rng.uniform(0, 0.005, n)).astype("int64"),
            "latency_ms_min": p50 * 0.2,
            "latency_ms_mean": p50 * 1.1,
            "latency_ms_p50": p50,
            "latency_ms_p75": p50 * 1.3,
            "latency_ms_p90": p50 * 1.8,
            "latency_ms_p99": p50 * 3.5,
            "latency_ms_p999": p50 * 6.0,
            "latency_ms_max": p50 * 12.0,
            "cpu_cores_app": cpu_app,
            "cpu_cores_dataplane": np.where(is_baseline, 0.0, cpu_app * 0.6),
            "cpu_cores_controlplane": np.where(is_baseline, 0.0, 0.05),
            "mem_bytes_app": rng.uniform(40, 80, n) * MIB,
            "mem_bytes_dataplane": np.where(is_baseline, 0.0, 60 * MIB),
            "mem_bytes_controlplane": np.where(is_baseline, 0.0, 300 * MIB),
            "cpu_cores_assigned": np.where(is_baseline, 2.0, 4.0),
            "mem_bytes_assigned": np.where(is_baseline, 1024 * MIB, 2048 * MIB),
            "slo_p99_ms": 50.0,
            "error_budget": 0.01,
            "saturated": False,
            "raw_path": [f"raw/bench/{i}.json" for i in range(n)],
        }
    )
    faulty = rng.choice(n, size=max(1, n // 100), replace=False)
    kinds = np.arange(len(faulty)) % 4
    frame.loc[faulty[kinds == 0], "actual_qps"] *= 0.4
    frame.loc[faulty[kinds == 1], "latency_ms_p99"] = frame.loc[faulty[kinds == 1], "latency_ms_p50"] / 2
    frame.loc[faulty[kinds == 2], "cpu_cores_app"] = -0.1
    frame.loc[faulty[kinds == 3], "errors_total"] = frame.loc[faulty[kinds == 3], "requests_total"]
    return frame


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return times, value


def run() -> dict[str, Any]:
    n = int(os.environ.get("MESHMARK_BENCH_VALIDATION_ROWS", "100000"))
    repeats = int(os.environ.get("MESHMARK_BENCH_REPEATS", "3"))
    start = time.perf_counter()
    import great_expectations  # noqa: F401  (the one-time import, timed on its own)

    gx_import_s = time.perf_counter() - start
    from meshmark_tasks.storage import DatasetStore
    from meshmark_tasks.validation import validate_results
    from meshmark_tasks.validation.context import gx_validators

    start = time.perf_counter()
    gx_validators()
    context_and_suites_s = time.perf_counter() - start

    results = make_results(n)
    planned = list(results["cell_id"])
    validate_results(results.head(50), planned_cell_ids=planned[:50])  # warm caches outside the timing
    validation_times, outcome = _timed(lambda: validate_results(results, planned_cell_ids=planned), repeats)

    run_date = datetime.date(2025, 6, 1)
    with tempfile.TemporaryDirectory() as root:
        store = DatasetStore(root)
        write_times, _ = _timed(
            lambda: store.write_run("results", results, run_id="bench-validation", run_date=run_date), repeats
        )
    best_validation, best_write = min(validation_times), min(write_times)
    report = {
        "rows": n,
        "repeats": repeats,
        "rows_quarantined": int(outcome.summary["rows_quarantined"]),
        "status": outcome.status,
        "validation_s_best": best_validation,
        "validation_s_median": statistics.median(validation_times),
        "rows_per_s": n / best_validation,
        "reference": "DatasetStore.write_run('results', same rows) to a local temp root",
        "store_write_s_best": best_write,
        "store_write_s_median": statistics.median(write_times),
        "ratio_validation_to_store_write": best_validation / best_write,
        "one_time_gx_import_s": gx_import_s,
        "one_time_context_and_suites_s": context_and_suites_s,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    r = run()
    print(
        f"validate_results on {r['rows']:,} rows ({r['rows_quarantined']:,} quarantined): "
        f"{r['validation_s_best']:.2f} s best of {r['repeats']} ({r['rows_per_s']:,.0f} rows/s)\n"
        f"store write of the same rows (reference): {r['store_write_s_best']:.2f} s\n"
        f"ratio validation / store write: {r['ratio_validation_to_store_write']:.1f}x\n"
        f"one-time: GX import {r['one_time_gx_import_s']:.2f} s, "
        f"context + suites {r['one_time_context_and_suites_s']:.2f} s; written to {OUT}",
        file=sys.stderr,
    )
