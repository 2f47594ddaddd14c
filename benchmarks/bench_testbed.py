"""The local testbed's own overhead, measured on this machine.

1. Load-generator cost: k6's CPU seconds per 1,000 requests (kernel rusage of the k6 process over its
   whole run), against the named reference "app CPU seconds per 1,000 requests" (the aiohttp app
   serving those same requests, sampled with psutil). Also the sidecar-mTLS data plane's CPU per
   1,000 requests at the same rate, so the generator's cost can be set against what it measures.
2. Capacity: the highest rate the baseline sustains within 5 % of target without errors (a bounded
   step search: 500, 1000, 2000, 4000 ... up to a cap, a few seconds each),
   against the named reference "closed-model baseline throughput" (k6 with the same connections
   and no rate limit: what the app + generator pair can do flat out on this machine). k6's dropped
   iterations are reported per step: a few at a step that is still within 5 % come from scheduling
   stalls on a shared machine (every VU busy for a moment), and flag the cell as saturated in a
   normal run.

Both the generator and the system under test share the machine's cores, and other work may run at
the same time: absolute numbers are indicative, the ratios are the signal.

MESHMARK_BENCH_QUICK=1 runs a smaller version (shorter cells, rates up to 2000).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from meshmark_tasks.backends.local import provision, run_cell, teardown  # noqa: E402
from meshmark_tasks.matrix import Cell, expand_matrix  # noqa: E402
from meshmark_tasks.measurement import CellMeasurement  # noqa: E402
from meshmark_tasks.profile import Profile, profile_from_mapping  # noqa: E402

QUICK = os.environ.get("MESHMARK_BENCH_QUICK", "") not in ("", "0")
COST_RATE = 1000
COST_DURATION_S = 4 if QUICK else 8
STEP_DURATION_S = 2 if QUICK else 4
STEP_RATES = (500, 1000, 2000) if QUICK else (500, 1000, 2000, 3000, 4000, 6000, 8000)
STEP_CONNECTIONS = 64
TOLERANCE = 0.05


def _profile(qps: list[Any], connections: int, duration_s: float) -> Profile:
    return profile_from_mapping(
        {
            "name": "bench-testbed",
            "meshes": [
                {"name": "baseline", "kind": "baseline"},
                {"name": "sidecar-mtls", "kind": "local-sidecar", "network_functions": ["mtls"]},
            ],
            "load_generator": {"tool": "k6"},
            "matrix": {"qps": qps, "connections": [connections], "payload_bytes": [1024]},
            "duration_s": duration_s,
            "warmup_s": 1,
            "qps_tolerance": TOLERANCE,
            "slo": {"p99_ms": 50},
        },
        "bench profile",
    )


def _cell(profile: Profile, mesh: str, qps: float | None) -> Cell:
    return next(c for c in expand_matrix(profile) if c.mesh == mesh and c.requested_qps == qps)


def _run(profile: Profile, cell: Cell, workdir: Path, out: Path) -> tuple[CellMeasurement, dict[str, Any]]:
    measurement = run_cell(profile, cell, workdir, out)
    if measurement.failure:
        raise RuntimeError(measurement.failure)
    testbed = json.loads((out / f"{cell.cell_id}.testbed.json").read_text())
    return measurement, testbed


def _per_1000(cpu_seconds: float, requests: int) -> float:
    return 1000 * cpu_seconds / requests if requests else float("nan")


def _generator_cost(workdir: Path, out: Path) -> dict[str, Any]:
    profile = _profile([COST_RATE], 16, COST_DURATION_S)
    provision(profile, workdir)
    base, base_tb = _run(profile, _cell(profile, "baseline", COST_RATE), workdir, out)
    mtls, mtls_tb = _run(profile, _cell(profile, "sidecar-mtls", COST_RATE), workdir, out)
    assert base.result is not None and mtls.result is not None
    app_cpu = sum(c["cpu_seconds"] for c in base_tb["components"] if c["role"] == "app")
    dataplane_cpu = sum(c["cpu_seconds"] for c in mtls_tb["components"] if c["role"] == "dataplane")
    k6_per_1000 = _per_1000(base_tb["loadgen_cpu_seconds"], base.result.requests_total)
    app_per_1000 = _per_1000(app_cpu, base.result.requests_total)
    dataplane_per_1000 = _per_1000(dataplane_cpu, mtls.result.requests_total)
    return {
        "rate_qps": COST_RATE,
        "duration_s": COST_DURATION_S,
        "requests": base.result.requests_total,
        "k6_cpu_s_per_1000_requests": k6_per_1000,
        "reference_app_cpu_s_per_1000_requests": app_per_1000,
        "ratio_k6_to_app": k6_per_1000 / app_per_1000,
        "mtls_dataplane_cpu_s_per_1000_requests": dataplane_per_1000,
        "ratio_k6_to_mtls_dataplane": k6_per_1000 / dataplane_per_1000,
        "k6_cpu_s_per_1000_requests_mtls_cell": _per_1000(
            mtls_tb["loadgen_cpu_seconds"], mtls.result.requests_total
        ),
    }


def _capacity(workdir: Path, out: Path) -> dict[str, Any]:
    profile = _profile(["max", *STEP_RATES], STEP_CONNECTIONS, STEP_DURATION_S)
    provision(profile, workdir)
    closed, _ = _run(profile, _cell(profile, "baseline", None), workdir, out)
    assert closed.result is not None
    steps = []
    highest: float | None = None
    for rate in STEP_RATES:
        m, tb = _run(profile, _cell(profile, "baseline", float(rate)), workdir, out)
        assert m.result is not None
        sustained = m.result.actual_qps >= (1 - TOLERANCE) * rate and m.result.errors_total == 0
        steps.append(
            {
                "requested_qps": rate,
                "actual_qps": round(m.result.actual_qps, 1),
                "dropped_iterations": tb["dropped_iterations"],
                "errors": m.result.errors_total,
                "flagged_saturated": m.saturated,
                "p50_ms": m.result.latency_ms_p50,
                "p99_ms": m.result.latency_ms_p99,
                "sustained": sustained,
            }
        )
        if not sustained:
            break
        highest = rate
    return {
        "connections": STEP_CONNECTIONS,
        "step_duration_s": STEP_DURATION_S,
        "steps": steps,
        "highest_sustained_qps": highest,
        "search_cap_qps": STEP_RATES[-1],
        "reference_closed_model_qps": closed.result.actual_qps,
        "ratio_sustained_to_closed_model": (highest or 0.0) / closed.result.actual_qps,
    }


def run() -> dict[str, Any]:
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="meshmark-bench-testbed-"))
    workdir, out = base / "run", base / "out"
    try:
        cost = _generator_cost(workdir, out)
        capacity = _capacity(workdir, out)
    finally:
        teardown(workdir)
    result = {
        "quick": QUICK,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg()[0],
        "generator_cost": cost,
        "capacity": capacity,
        "wall_s": round(time.monotonic() - started, 1),
    }
    target = REPO / "var" / "benchmarks" / "testbed.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _report(result: dict[str, Any]) -> str:
    cost, capacity = result["generator_cost"], result["capacity"]
    lines = [
        f"testbed benchmark ({result['cpu_count']} cores, load average {result['load_average_at_end']:.1f})",
        f"  k6 CPU per 1,000 requests at {cost['rate_qps']} req/s:"
        f" {cost['k6_cpu_s_per_1000_requests']:.3f} s",
        f"    reference app CPU per 1,000 requests: {cost['reference_app_cpu_s_per_1000_requests']:.3f} s"
        f" -> ratio k6/app {cost['ratio_k6_to_app']:.2f}",
        f"    mTLS data plane CPU per 1,000 requests: {cost['mtls_dataplane_cpu_s_per_1000_requests']:.3f} s"
        f" -> ratio k6/dataplane {cost['ratio_k6_to_mtls_dataplane']:.2f}",
        f"  highest baseline rate sustained within 5 %: {capacity['highest_sustained_qps']} req/s"
        f" (search cap {capacity['search_cap_qps']})",
        f"    reference closed-model throughput ({capacity['connections']} connections):"
        f" {capacity['reference_closed_model_qps']:.0f} req/s"
        f" -> ratio {capacity['ratio_sustained_to_closed_model']:.2f}",
    ]
    for step in capacity["steps"]:
        lines.append(
            f"    step {step['requested_qps']:>5}: actual {step['actual_qps']:>7}, dropped"
            f" {step['dropped_iterations']}, p50 {step['p50_ms']:.2f} ms, p99 {step['p99_ms']:.2f} ms"
            f" {'ok' if step['sustained'] else 'NOT sustained'}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(_report(run()))
