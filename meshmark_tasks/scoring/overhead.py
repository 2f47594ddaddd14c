"""Overhead signals stored beside the score: what the mesh adds relative to the paired baseline.

All are NaN for a cell without a baseline at its load point, and 0 for a baseline cell (it is its
own baseline). Definitions (also in docs/meshmark.md):

- delta_p50_ms  = p50 − baseline p50;   delta_p50_pct = 100 × delta_p50_ms / baseline p50
- delta_p99_ms  = p99 − baseline p99;   delta_p99_pct = 100 × delta_p99_ms / baseline p99
- delta_cpu_cores_per_kqps = (cpu_used − baseline cpu_used) / (actual_qps / 1000): the extra cores
  the mesh burns for every 1,000 requests per second this cell actually served. Normalising by the
  cell's own achieved rate (not the baseline's) keeps it a per-request cost of the mesh even when the
  mesh could not reach the rate the baseline did.
- delta_mem_mib = (mem_used − baseline mem_used) / 2^20
"""

from __future__ import annotations

from meshmark_tasks.scoring.numeric import FloatArray, safe_divide

MIB = float(2**20)


def overhead_signals(
    numbers: dict[str, FloatArray],
    cpu: FloatArray,
    mem: FloatArray,
    baseline: dict[str, FloatArray],
) -> dict[str, FloatArray]:
    """Delta columns of schemas.OVERHEAD_COLUMNS (all but the cost), in schema order.

    `baseline` holds the paired baseline values under the keys p50, p99, cpu, mem.
    """
    delta_p50 = numbers["latency_ms_p50"] - baseline["p50"]
    delta_p99 = numbers["latency_ms_p99"] - baseline["p99"]
    delta_mem = mem - baseline["mem"]
    delta_mem /= MIB
    return {
        "delta_p50_ms": delta_p50,
        "delta_p50_pct": _percent(safe_divide(delta_p50, baseline["p50"])),
        "delta_p99_ms": delta_p99,
        "delta_p99_pct": _percent(safe_divide(delta_p99, baseline["p99"])),
        "delta_cpu_cores_per_kqps": safe_divide(cpu - baseline["cpu"], numbers["actual_qps"] / 1000.0),
        "delta_mem_mib": delta_mem,
    }


def _percent(fraction: FloatArray) -> FloatArray:
    fraction *= 100.0  # in place: the argument is a fresh temporary
    return fraction
