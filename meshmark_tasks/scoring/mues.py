"""The eight MUEs of MESHMARK.md, each clipped to [0, 1], NaN where not computable."""

from __future__ import annotations

from meshmark_tasks.scoring.numeric import FloatArray, clip01, one_minus, safe_divide


def cpu_used(numbers: dict[str, FloatArray]) -> FloatArray:
    """app + dataplane + controlplane; null if any part is unmeasured (0.0 means measured, none)."""
    return numbers["cpu_cores_app"] + numbers["cpu_cores_dataplane"] + numbers["cpu_cores_controlplane"]


def mem_used(numbers: dict[str, FloatArray]) -> FloatArray:
    return numbers["mem_bytes_app"] + numbers["mem_bytes_dataplane"] + numbers["mem_bytes_controlplane"]


def compute_mues(
    numbers: dict[str, FloatArray],
    cpu: FloatArray,
    mem: FloatArray,
    baseline_p50: FloatArray,
) -> dict[str, FloatArray]:
    """MUE name -> values, in the order of schemas.MUE_COLUMNS.

    `cpu` / `mem` are the used totals (see cpu_used / mem_used) and `baseline_p50` the paired
    baseline median latency (NaN where the cell has no baseline).
    """
    requested = numbers["requested_qps"]
    return {
        "mue_cpu": clip01(one_minus(safe_divide(cpu, numbers["cpu_cores_assigned"]))),
        "mue_cpu_overhead": clip01(safe_divide(numbers["cpu_cores_app"], cpu)),
        "mue_mem": clip01(one_minus(safe_divide(mem, numbers["mem_bytes_assigned"]))),
        "mue_mem_overhead": clip01(safe_divide(numbers["mem_bytes_app"], mem)),
        "mue_latency_slo": clip01(one_minus(safe_divide(numbers["latency_ms_p99"], numbers["slo_p99_ms"]))),
        "mue_latency_overhead": clip01(safe_divide(baseline_p50, numbers["latency_ms_p50"])),
        # requested_qps is NaN for unthrottled ("max") runs, so the ratio is null there.
        "mue_throughput": clip01(safe_divide(numbers["actual_qps"], requested)),
        "mue_success": clip01(one_minus(safe_divide(numbers["errors_total"], numbers["requests_total"]))),
    }
