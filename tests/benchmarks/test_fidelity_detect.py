"""The fidelity benchmark's detect analysis on small synthetic recordings (no testbed, seconds)."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from benchmarks.fidelity_detect import (
    UNCHANGED,
    Trial,
    blocks_of,
    compose_trials,
    detect_trial,
    evaluate,
    knob_effects,
    trial_frame,
)

LEVELS = {  # mesh: (p50 ms, p99 ms, data-plane cores, app cores)
    "baseline": (0.35, 2.0, 0.0, 0.09),
    "sidecar": (0.85, 9.0, 0.17, 0.085),
    "sidecar-mtls": (1.0, 12.0, 0.23, 0.088),
}
METRICS = ("p50_ms", "p99_ms", "cpu_dataplane", "cpu_app")
NOISE = {"p50_ms": 0.03, "p99_ms": 0.10, "cpu_dataplane": 0.02, "cpu_app": 0.02}


def recording(
    rounds: int,
    *,
    change: dict[str, float] | None = None,
    seed: int = 3,
    qps: tuple[float, ...] = (300.0,),
    faster_from: int | None = None,
) -> list[dict[str, Any]]:
    """What `bench_fidelity record` writes, with lognormal noise; `change` multiplies the sidecar's
    metrics in its variant "changed" (measured in the same rounds); from round `faster_from` on the
    machine is 20 % faster: every metric of every cell × 0.8."""
    rng = random.Random(seed)
    records = []
    for rnd in range(rounds):
        drift = rng.gauss(0, 0.01)  # the round's machine state, shared by every cell in it
        if faster_from is not None and rnd >= faster_from:
            drift += math.log(0.8)
        configs = [(mesh, UNCHANGED) for mesh in LEVELS] + ([("sidecar", "changed")] if change else [])
        for q in qps:
            for mesh, variant in configs:
                factor = (change or {}) if variant == "changed" else {}
                record: dict[str, Any] = {
                    "stage": "record",
                    "round": rnd,
                    "mesh": mesh,
                    "qps": q,
                    "variant": variant,
                }
                for metric, level in zip(METRICS, LEVELS[mesh], strict=True):
                    noise = math.exp(drift + rng.gauss(0, NOISE[metric]))
                    record[metric] = level * factor.get(metric, 1.0) * noise
                record["requests"] = 1800
                record["cpu_seconds_app"] = record["cpu_app"] * 6.0
                records.append(record)
    return records


def test_nights_are_consecutive_rounds_and_an_incomplete_tail_is_dropped() -> None:
    assert blocks_of(recording(11), 3) == [(0, 1, 2), (3, 4, 5), (6, 7, 8)]
    with pytest.raises(ValueError, match="reps_per_night"):
        blocks_of(recording(3), 0)


def test_permuted_trials_never_reuse_the_test_night_and_test_every_night_once_per_order() -> None:
    trials = compose_trials(6, 4, mode="permuted", orders=2, seed=1)
    assert len(trials) == 12
    assert sorted(t.test for t in trials) == sorted(list(range(6)) * 2)
    for trial in trials:
        assert len(trial.history) == 4 and trial.test not in trial.history
        assert len(set(trial.history)) == 4
    assert compose_trials(6, 4, orders=2, seed=1) == trials  # seeded


def test_recorded_trials_take_the_nights_just_before_in_order() -> None:
    assert compose_trials(5, 3, mode="recorded") == [Trial(3, (0, 1, 2)), Trial(4, (1, 2, 3))]
    with pytest.raises(ValueError, match="history_nights"):
        compose_trials(3, 3)


def test_the_changed_mesh_takes_the_variant_on_the_test_night_only() -> None:
    records = recording(6, change={"cpu_dataplane": 2.0})
    blocks = blocks_of(records, 2)
    frame = trial_frame(records, blocks, Trial(2, (0, 1)), ("sidecar", "changed"))
    assert len(frame) == 6 * 3 and sorted(frame["night"].unique()) == [0, 1, 2]
    sidecar = frame[frame["mesh"] == "sidecar"].groupby("night")["cpu_dataplane"].median()
    assert sidecar[2] > 1.8 * sidecar[0]
    mtls = frame[frame["mesh"] == "sidecar-mtls"].groupby("night")["cpu_dataplane"].median()
    assert mtls[2] < 1.2 * mtls[0]


def test_the_baseline_has_no_data_plane_series() -> None:
    records = recording(12)
    flags = detect_trial(trial_frame(records, blocks_of(records, 2), Trial(5, (0, 1, 2, 3, 4))))
    # 4 measured + 2 normalised + 2 paired metrics; the baseline has neither data-plane series nor
    # a ratio to itself.
    assert len(flags) == 3 * 8 - 4
    assert set(flags["status"]) == {"ok"}
    assert not flags[(flags["mesh"] == "baseline") & (flags["metric"] == "cpu_dataplane")].size


def test_a_large_change_is_found_on_its_first_night_and_stationary_nights_flag_nothing() -> None:
    records = recording(24, change={"cpu_dataplane": 1.3}, qps=(100.0, 300.0))
    result = evaluate(records, reps_per_night=4, mode="permuted", orders=1)
    assert (result["nights_recorded"], result["history_nights"], result["trials"]) == (6, 5, 6)
    assert result["false_alarms"]["series_per_night"] == 2 * (3 * 8 - 4)
    assert result["false_alarms"]["flagged_series"] == 0
    power = {(row["qps"], row["metric"]): row for row in result["power"]}
    for qps in (100.0, 300.0):
        assert power[(qps, "cpu_dataplane")]["flagged"] == 6
        assert power[(qps, "cpu_dataplane")]["test_nights_flagged"] == 6
        assert power[(qps, "cpu_dataplane")]["median_magnitude"] == pytest.approx(0.3, abs=0.05)
        assert power[(qps, "p50_ms")]["flagged"] == 0  # unchanged metrics of the changed mesh stay quiet
    assert result["false_alarms"]["changed_nights_other_meshes_flagged"] == {"changed": 0}


def test_a_change_inside_the_noise_is_not_claimed() -> None:
    records = recording(40, change={"p99_ms": 1.02})
    result = evaluate(records, reps_per_night=5, history_nights=5, mode="recorded")
    assert result["trials"] == 3 and result["history_nights"] == 5
    p99 = next(row for row in result["power"] if row["metric"] == "p99_ms")
    assert p99["flagged"] == 0


def test_knob_effects_are_paired_comparisons_with_intervals() -> None:
    effects = knob_effects(recording(10, change={"cpu_app": 1.15}))
    app = next(e for e in effects if e["metric"] == "cpu_app")
    assert app["pairs"] == 10 and app["change"] == pytest.approx(0.15, abs=0.03)
    assert app["lower"] < app["change"] < app["upper"] and app["p_value"] < 0.001
    dataplane = next(e for e in effects if e["metric"] == "cpu_dataplane")
    assert dataplane["lower"] < 0 < dataplane["upper"]


def test_a_faster_machine_on_the_test_night_is_explained_by_drift_not_counted_as_a_false_alarm() -> None:
    records = recording(24, faster_from=20)  # the last night (rounds 20-23) 20 % faster
    blocks = blocks_of(records, 4)
    flags = detect_trial(trial_frame(records, blocks, Trial(5, (0, 1, 2, 3, 4))))
    raw = flags[flags["newest_flagged"].astype(bool)]
    # Every raw latency and CPU series moved with the machine; the within-cell ratios did not.
    assert {"p50_ms", "cpu_dataplane"} <= set(raw["metric"])
    assert set(raw["metric"]) <= {"p50_ms", "p99_ms", "cpu_dataplane", "cpu_app"}
    assert raw["drift_explained"].all()
    result = evaluate(records, reps_per_night=4, history_nights=5, mode="recorded")
    fa = result["false_alarms"]
    assert fa["flagged_series"] == 0 and fa["explained_by_drift"] == len(raw)
    assert fa["per_30_nights_without_drift_check"] == 30 * len(raw)


def test_a_change_of_one_mesh_is_still_found_when_the_machine_does_not_move() -> None:
    records = recording(24, change={"cpu_dataplane": 1.3})
    result = evaluate(records, reps_per_night=4, mode="permuted", orders=1)
    power = {row["metric"]: row for row in result["power"]}
    assert power["cpu_dataplane"]["flagged"] == result["trials"]
    assert result["false_alarms"]["explained_by_drift"] == 0
