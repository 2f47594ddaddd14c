"""The change-point detector on synthetic series with known change points, and its input rules."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from meshmark_tasks.stats import (
    ChangePointConfig,
    StatsInputError,
    detect_change_points,
    detect_frame,
)
from meshmark_tasks.stats.simulation import NoiseModel, simulate_nights


def series(
    seed: int,
    nights: int = 30,
    reps: int = 7,
    within: float = 0.05,
    between: float = 0.015,
    steps: tuple[tuple[int, float], ...] = (),
) -> tuple[list[float], list[int]]:
    """Per-repetition values and night keys of one simulated series (level 100)."""
    _table, raw = simulate_nights(
        np.random.default_rng(seed), NoiseModel(within, between, reps, nights), steps
    )
    values = raw.ravel().tolist()
    night_keys = np.repeat(np.arange(nights), reps).tolist()
    return values, night_keys


def test_a_step_is_found_at_its_exact_night_with_magnitude_and_ci() -> None:
    values, nights = series(seed=11, steps=((17, 0.15),))
    detection = detect_change_points(values, nights)
    assert detection.status == "ok"
    assert [cp.index for cp in detection.change_points] == [17]
    cp = detection.change_points[0]
    assert cp.night == 17 and cp.direction == "increase"
    assert cp.lower is not None and cp.upper is not None and cp.magnitude is not None
    assert cp.lower < 0.15 < cp.upper
    assert abs(cp.magnitude - 0.15) < 0.03
    assert cp.p_value < 1e-6
    assert (cp.nights_before, cp.nights_after) == (17, 13)
    assert not detection.newest_flagged


def test_two_changes_are_both_found_exactly() -> None:
    values, nights = series(seed=12, nights=40, steps=((12, -0.12), (27, 0.20)))
    detection = detect_change_points(values, nights)
    assert [(cp.index, cp.direction) for cp in detection.change_points] == [
        (12, "decrease"),
        (27, "increase"),
    ]


def test_a_stationary_series_flags_nothing() -> None:
    values, nights = series(seed=13, within=0.08, between=0.03)
    detection = detect_change_points(values, nights)
    assert detection.change_points == ()
    assert not detection.newest_flagged
    assert detection.newest is not None and detection.newest.p_value > 0.001
    # it did estimate both noise components (on the log scale: ≈ the CVs)
    assert detection.sigma_within == pytest.approx(0.08, rel=0.1)
    assert detection.sigma_between == pytest.approx(0.03, rel=0.5)


def test_a_step_on_the_newest_night_flags_it() -> None:
    values, nights = series(seed=14, between=0.01, steps=((29, 0.12),))
    detection = detect_change_points(values, nights)
    assert detection.newest_flagged
    assert detection.newest is not None and detection.newest.index == 29 and detection.newest.reported
    assert detection.change_points[-1] == detection.newest


def test_a_regression_that_persists_is_still_placed_on_its_first_night() -> None:
    values, nights = series(seed=15, steps=((26, 0.10),))
    detection = detect_change_points(values, nights)
    assert [cp.index for cp in detection.change_points] == [26]
    assert not detection.newest_flagged  # the newest night continues the new level


def test_nights_are_units_a_per_repetition_test_would_cry_wolf() -> None:
    """The crucial point: repetitions of one night share the machine's state. On stationary series
    with 4 % night-to-night and 5 % repetition noise, Student's t-test (as Otava uses it) of the
    newest night's 10 repetitions against all earlier ones, as if independent, flags about one
    series in six at p < 0.001; the detector, with nights as units, flags none."""
    naive = 0
    ours = 0
    for seed in range(100):
        values, nights = series(seed=100 + seed, reps=10, between=0.04)
        logs = np.log(values)
        newest = np.asarray(nights) == 29
        naive += stats.ttest_ind(logs[newest], logs[~newest]).pvalue < 0.001
        ours += detect_change_points(values, nights).newest_flagged
    assert naive >= 10
    assert ours == 0


def test_one_value_per_night() -> None:
    rng = np.random.default_rng(16)
    values = 50.0 * np.exp(rng.normal(0.0, 0.02, 25))
    values[15:] *= 1.2
    detection = detect_change_points(values, range(25))
    assert [cp.index for cp in detection.change_points] == [15]
    assert detection.sigma_within is None  # nothing to estimate it from
    assert detection.sigma_between is not None and detection.sigma_between > 0


def test_night_keys_can_be_any_orderable_labels() -> None:
    values, nights = series(seed=17, nights=12, steps=((8, 0.3),))
    dates = [f"2026-01-{n + 1:02d}" for n in nights]
    shuffled = np.random.default_rng(0).permutation(len(values))
    detection = detect_change_points(np.asarray(values)[shuffled], np.asarray(dates, dtype=object)[shuffled])
    assert [cp.night for cp in detection.change_points] == ["2026-01-09"]


def test_insufficient_history() -> None:
    values, nights = series(seed=18, nights=5)
    detection = detect_change_points(values, nights)
    assert detection.status == "insufficient_history"
    assert detection.message == "4 night(s) before the newest; at least 5 needed"
    assert detection.change_points == () and not detection.newest_flagged


def test_missing_values_are_excluded_and_counted_bad_values_raise() -> None:
    values, nights = series(seed=19, nights=10)
    values[3] = math.nan
    values[4] = None  # type: ignore[call-overload]
    detection = detect_change_points(values, nights)
    assert (detection.n_missing, detection.n_values) == (2, 68)
    with pytest.raises(StatsInputError, match=r"infinite value.*position 5"):
        detect_change_points([*values[:5], math.inf, *values[6:]], nights)
    with pytest.raises(StatsInputError, match=r"<= 0 .*scale='linear'"):
        detect_change_points([0.0, *values[1:]], nights)
    with pytest.raises(StatsInputError, match="night key is missing"):
        detect_change_points(values, [None, *nights[1:]])
    with pytest.raises(StatsInputError, match="70 values but 3 night keys"):
        detect_change_points(values, [1, 2, 3])
    with pytest.raises(StatsInputError, match="no values to analyse"):
        detect_change_points([math.nan, math.nan], [1, 2])
    with pytest.raises(StatsInputError, match="p_value"):
        ChangePointConfig(p_value=0.0)


def test_linear_scale_handles_zero_and_negative_values() -> None:
    rng = np.random.default_rng(20)
    delta = rng.normal(0.0, 0.05, 20)  # an overhead delta around 0 ms …
    delta[14:] += 0.5  # … that jumps by half a millisecond
    config = ChangePointConfig(scale="linear", min_change=0.1)
    detection = detect_change_points(delta, range(20), config)
    assert [cp.index for cp in detection.change_points] == [14]
    cp = detection.change_points[0]
    assert cp.change == pytest.approx(0.5, abs=0.1)
    assert cp.magnitude is None or abs(cp.magnitude) > 1  # relative to a level near 0: huge or undefined


def test_minimum_magnitude_keeps_small_significant_changes_unreported() -> None:
    values, nights = series(seed=21, within=0.01, between=0.002, steps=((15, 0.03),))
    assert detect_change_points(values, nights).change_points == ()  # +3 % < 5 %
    loose = detect_change_points(values, nights, ChangePointConfig(min_magnitude=0.02))
    assert [cp.index for cp in loose.change_points] == [15]


def test_frame_detection_matches_single_series_and_isolates_bad_series() -> None:
    rows = []
    specs = {("sidecar", 100.0): ((20, 0.2),), ("sidecar", None): (), ("baseline", 100.0): ((29, 0.15),)}
    for i, ((mesh, qps), steps) in enumerate(specs.items()):
        values, nights = series(seed=30 + i, between=0.01, steps=steps)
        rows += [
            {"mesh": mesh, "qps": qps, "run_seq": n, "p99": v} for v, n in zip(values, nights, strict=True)
        ]
    rows.append({"mesh": "broken", "qps": 1.0, "run_seq": 0, "p99": math.inf})
    rows.append({"mesh": "broken", "qps": 1.0, "run_seq": 1, "p99": 3.0})
    rows.append({"mesh": "empty", "qps": 1.0, "run_seq": 0, "p99": None})
    frame = pd.DataFrame(rows)
    config = ChangePointConfig(pool=False)
    result = detect_frame(frame, ["mesh", "qps"], "run_seq", "p99", config)
    table = result.series.set_index("mesh")
    assert (
        table.loc["broken", "status"] == "error" and table.loc["broken", "message"] == "p99: infinite value"
    )
    assert (
        table.loc["empty", "status"] == "error" and "no values (1 missing)" in table.loc["empty", "message"]
    )
    assert len(result.series) == 5
    found = {
        (r.mesh, None if pd.isna(r.qps) else r.qps, r.index, r.is_newest)
        for r in result.change_points.itertuples()
    }
    assert found == {("sidecar", 100.0, 20, False), ("baseline", 100.0, 29, True)}
    assert table.loc["baseline", "newest_flagged"] and not table.loc["sidecar"]["newest_flagged"].any()
    one = frame[(frame["mesh"] == "sidecar") & (frame["qps"] == 100.0)]
    single = detect_change_points(one["p99"], one["run_seq"], config)
    row = result.change_points[result.change_points["mesh"] == "sidecar"].iloc[0]
    assert row["p_value"] == pytest.approx(single.change_points[0].p_value)
    assert row["magnitude"] == pytest.approx(single.change_points[0].magnitude)
    with pytest.raises(StatsInputError, match="missing column"):
        detect_frame(frame, ["mesh", "nope"], "run_seq", "p99")


def test_pooling_borrows_degrees_of_freedom_across_series() -> None:
    rows = []
    for i in range(12):
        values, nights = series(seed=40 + i, nights=10, between=0.01)
        rows += [{"s": i, "night": n, "v": v} for v, n in zip(values, nights, strict=True)]
    frame = pd.DataFrame(rows)
    pooled = detect_frame(frame, ["s"], "night", "v").series
    alone = detect_frame(frame, ["s"], "night", "v", ChangePointConfig(pool=False)).series
    assert (pooled["prior_df"] > 0).all() and (alone["prior_df"] == 0).all()
    assert (pooled["df"] > alone["df"]).all()


def test_an_empty_frame_gives_empty_tables_with_their_columns() -> None:
    empty = pd.DataFrame({"mesh": pd.Series([], dtype=str), "run_seq": pd.Series([], dtype=int), "v": []})
    result = detect_frame(empty, ["mesh"], "run_seq", "v")
    assert len(result.series) == 0 and "newest_flagged" in result.series.columns
    assert len(result.change_points) == 0 and "magnitude" in result.change_points.columns
