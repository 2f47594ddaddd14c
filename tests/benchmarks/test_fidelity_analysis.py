"""The fidelity benchmark's night summary on a synthetic recording: raw and speed-adjusted CIs."""

from __future__ import annotations

import math
import random
from typing import Any

from benchmarks.fidelity_analysis import summarise_night

LEVELS = {"baseline": (0.35, 2.0, 0.0), "sidecar": (0.85, 9.0, 0.17)}  # p50 ms, p99 ms, data-plane cores


def _night(rounds: int, seed: int = 5) -> list[dict[str, Any]]:
    """Every repetition runs at its own machine speed (10 % log sd): p50, data-plane CPU and the
    app's CPU per request move 1:1 with it, p99 2:1; each has 1 % noise of its own."""
    rng = random.Random(seed)
    records = []
    for rnd in range(rounds):
        for mesh, (p50, p99, dataplane) in LEVELS.items():
            slow = rng.gauss(0, 0.10)

            def noisy(level: float, elasticity: float = 1.0, slow: float = slow) -> float:
                return level * math.exp(elasticity * slow + rng.gauss(0, 0.01))

            records.append(
                {
                    "seq": len(records),
                    "round": rnd,
                    "mesh": mesh,
                    "qps": 300.0,
                    "failure": None,
                    "measurement": {"cell": {"is_baseline": mesh == "baseline"}},
                    "p50_ms": noisy(p50),
                    "p99_ms": noisy(p99, 2.0),
                    "cpu_dataplane": noisy(dataplane),
                    "cpu_app": 0.09,
                    "requests": 6000,
                    "cpu_seconds_app": noisy(0.09 * 20),
                    "other_busy_cores": None,
                }
            )
    return records


def test_the_speed_adjusted_rows_take_the_speed_out_and_the_raw_rows_keep_it() -> None:
    rows = {(r["mesh"], r["metric"]): r for r in summarise_night(_night(30))}
    for mesh, metric in [("baseline", "p50_ms"), ("sidecar", "p99_ms"), ("sidecar", "cpu_dataplane")]:
        raw = rows[(mesh, metric)]["ci_half_width_percent"][30]
        adjusted = rows[(mesh, f"{metric} adj.")]
        assert adjusted["ci_half_width_percent"][30] < raw / 3, (mesh, metric)
        assert abs(adjusted["slope"] - (2.0 if metric == "p99_ms" else 1.0)) < 0.2, (mesh, metric)
    # No adjusted data-plane CPU for the baseline (it has none), and none below 8 repetitions.
    assert ("baseline", "cpu_dataplane adj.") not in rows
    assert math.isnan(rows[("sidecar", "p50_ms adj.")]["ci_half_width_percent"][6])
