"""The speed-adjusted median: the machine's speed taken out of a cell's repetitions, with its CI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from meshmark_tasks.stats import (
    StatsInputError,
    median_ci,
    speed_adjusted_frame,
    speed_adjusted_median,
)
from meshmark_tasks.stats.adjusted import MIN_REPETITIONS


def _night(
    rng: np.random.Generator, n: int = 30, drift: float = 0.10, noise: float = 0.02, slope: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """n repetitions on a machine whose speed wanders by `drift` (log sd) from window to window."""
    speed = 0.3e-3 * np.exp(rng.normal(0.0, drift, n))  # app CPU seconds per request
    value = 2.0 * (speed / 0.3e-3) ** slope * np.exp(rng.normal(0.0, noise, n))
    return value, speed


def test_an_exact_power_of_the_speed_has_its_value_at_the_median_speed_and_no_width() -> None:
    speed = np.linspace(0.2e-3, 0.4e-3, 11)
    values = 5.0 * (speed / 0.3e-3) ** 2
    result = speed_adjusted_median(values, speed)
    assert result is not None
    assert result.reference == pytest.approx(np.median(speed))
    assert result.slope == pytest.approx(2.0)
    assert result.median == pytest.approx(5.0)  # the median speed is 0.3e-3 here
    assert result.lower == pytest.approx(result.median) and result.upper == pytest.approx(result.median)


def test_speed_drift_is_taken_out_of_the_interval() -> None:
    value, speed = _night(np.random.default_rng(3))
    raw = median_ci(value)
    adjusted = speed_adjusted_median(value, speed)
    assert adjusted is not None and raw.rel_half_width is not None
    # A 10 % drift of speed with 2 % noise of its own: the raw interval is several times wider.
    assert adjusted.rel_half_width < raw.rel_half_width / 3
    assert adjusted.slope == pytest.approx(1.5, abs=0.15)
    # Its level is the raw median's (both refer to the night's typical speed).
    assert adjusted.median == pytest.approx(raw.median, rel=0.05)


def test_a_gauge_unrelated_to_the_value_narrows_nothing() -> None:
    rng = np.random.default_rng(4)
    value = 2.0 * np.exp(rng.normal(0.0, 0.05, 30))
    speed = 0.3e-3 * np.exp(rng.normal(0.0, 0.10, 30))
    raw = median_ci(value)
    adjusted = speed_adjusted_median(value, speed)
    assert adjusted is not None and raw.rel_half_width is not None
    assert abs(adjusted.slope) < 0.3
    assert adjusted.rel_half_width > 0.6 * raw.rel_half_width


def test_intervals_cover_the_value_at_the_reference_speed_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(11)
    covered = 0
    trials = 1000
    for _ in range(trials):
        value, speed = _night(rng, noise=0.04)
        result = speed_adjusted_median(value, speed)
        assert result is not None
        truth = 2.0 * (result.reference / 0.3e-3) ** 1.5  # the noise's median is 1
        covered += result.lower <= truth <= result.upper
    # The order-statistic interval of 30 values covers 95.7 %; the slope is estimated from the same
    # repetitions. Binomial(1000, 0.957) lies in [0.935, 0.975] with probability > 0.99.
    assert 0.935 <= covered / trials <= 0.975


def test_too_few_pairs_zeros_and_a_constant_gauge_give_no_adjusted_median() -> None:
    value, speed = _night(np.random.default_rng(6), n=MIN_REPETITIONS - 1)
    assert speed_adjusted_median(value, speed) is None
    # A baseline has no data plane: its data-plane CPU is 0 in every repetition.
    assert speed_adjusted_median(np.zeros(20), np.full(20, 0.3e-3) * np.arange(1, 21)) is None
    assert speed_adjusted_median(np.arange(1.0, 21.0), np.full(20, 0.3e-3)) is None


def test_missing_and_non_positive_pairs_are_left_out_and_counted() -> None:
    value, speed = _night(np.random.default_rng(7), n=20)
    value[[0, 1]] = [np.nan, 0.0]
    speed[2] = np.nan
    result = speed_adjusted_median(value, speed)
    assert result is not None
    assert (result.n, result.n_missing) == (17, 3)


def test_bad_input_is_named() -> None:
    with pytest.raises(StatsInputError, match="speed: 1 infinite"):
        speed_adjusted_median([1.0] * 10, [1.0] * 9 + [np.inf])
    with pytest.raises(StatsInputError, match="differ in length"):
        speed_adjusted_median([1.0] * 10, [1.0] * 9)
    with pytest.raises(StatsInputError, match="level"):
        speed_adjusted_median([1.0] * 10, [1.0] * 10, level=1.5)


def test_frame_gives_one_row_per_group_and_names_what_is_missing() -> None:
    rng = np.random.default_rng(8)
    parts = []
    for mesh in ("baseline", "sidecar"):
        value, speed = _night(rng, n=12)
        parts.append(pd.DataFrame({"mesh": mesh, "p50": value, "speed": speed}))
    parts.append(pd.DataFrame({"mesh": "short", "p50": [1.0, 2.0], "speed": [1.0, 2.0]}))
    frame = pd.concat(parts, ignore_index=True)
    out = speed_adjusted_frame(frame, ["mesh"], "p50", "speed").set_index("mesh")
    assert list(out.index) == ["baseline", "short", "sidecar"]  # sorted by the group keys
    sidecar = frame[frame["mesh"] == "sidecar"]
    direct = speed_adjusted_median(sidecar["p50"], sidecar["speed"])
    assert direct is not None
    assert out.loc["sidecar", "median"] == pytest.approx(direct.median)
    assert out.loc["sidecar", "lower"] == pytest.approx(direct.lower)
    assert out.loc["short", "n"] == 2 and np.isnan(out.loc["short", "median"])
    with pytest.raises(StatsInputError, match="missing column"):
        speed_adjusted_frame(frame, ["mesh"], "p99", "speed")
