"""The order-statistic CI of a cell's median: agreement with scipy, small n, bad input, coverage."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from meshmark_tasks.stats import StatsInputError, median_ci, median_ci_frame
from meshmark_tasks.stats.median import order_statistic_rank
from meshmark_tasks.stats.simulation import median_ci_coverage


@pytest.mark.parametrize("n", [6, 7, 8, 10, 13, 20, 31, 60])
def test_interval_is_scipys_quantile_test_interval(n: int) -> None:
    values = np.random.default_rng(n).lognormal(0.0, 0.2, n)
    ours = median_ci(values)
    theirs = stats.quantile_test(values, q=float(np.median(values)), p=0.5).confidence_interval(0.95)
    assert (ours.lower, ours.upper) == (theirs.low, theirs.high)
    assert ours.level_reached and ours.level >= 0.95
    assert ours.note is None


@pytest.mark.parametrize(("n", "achieved"), [(2, 0.5), (3, 0.75), (4, 0.875), (5, 0.9375), (6, 0.96875)])
def test_small_n_states_the_level_it_achieves(n: int, achieved: float) -> None:
    summary = median_ci(np.arange(1.0, n + 1))
    assert summary.lower == 1.0 and summary.upper == float(n)  # [min, max]: the widest it can be
    assert summary.level == pytest.approx(achieved)
    assert summary.level_reached is (achieved >= 0.95)
    if n < 6:
        assert summary.note is not None and f"{achieved:.2%}" in summary.note


def test_one_repetition_has_no_interval() -> None:
    summary = median_ci([12.5])
    assert summary.median == 12.5
    assert summary.lower is None and summary.upper is None and summary.rel_half_width is None
    assert summary.level == 0.0 and not summary.level_reached
    assert summary.note == "one repetition: no confidence interval"


def test_relative_half_width_is_what_tables_show() -> None:
    summary = median_ci([9.0, 9.5, 10.0, 10.0, 10.5, 11.0, 12.0])  # n = 7: [min, max], 98.4 %
    assert summary.median == 10.0
    assert summary.rel_half_width == pytest.approx((12.0 - 9.0) / 2 / 10.0)
    assert summary.level == pytest.approx(1 - 2 * 0.5**7)


def test_missing_values_are_excluded_and_counted() -> None:
    summary = median_ci([1.0, None, 2.0, math.nan, 3.0, pd.NA])
    assert (summary.n, summary.n_missing, summary.median) == (3, 3, 2.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([], "no values"),
        ([math.nan, None], "no values to summarise \\(2 missing\\)"),
        ([1.0, math.inf], "infinite value.*position 1"),
        ([1.0, "2.0"], "position 1: expected a number"),
        ([1.0, True], "position 1: expected a number"),
    ],
)
def test_bad_input_is_a_clear_error(values: list[object], message: str) -> None:
    with pytest.raises(StatsInputError, match=message):
        median_ci(values)


def test_level_must_be_a_probability() -> None:
    with pytest.raises(StatsInputError, match="level"):
        median_ci([1.0, 2.0], level=95)


def test_frame_matches_the_scalar_function() -> None:
    rng = np.random.default_rng(4)
    rows = []
    for cell, n in enumerate([1, 2, 5, 6, 7, 10]):
        for value in rng.lognormal(2.0, 0.1, n):
            rows.append({"run": "r1", "cell": f"c{cell}", "qps": None if cell == 3 else 100.0, "p99": value})
    rows.append({"run": "r1", "cell": "c9", "qps": 100.0, "p99": None})  # a failed cell
    rows.append({"run": "r1", "cell": "c5", "qps": 100.0, "p99": None})
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=2)  # order must not matter
    table = median_ci_frame(frame, ["run", "cell", "qps"], "p99")
    assert len(table) == 7
    for row in table.itertuples():
        values = frame.loc[frame["cell"] == row.cell, "p99"]
        if row.cell == "c9":
            assert row.n == 0 and row.n_missing == 1 and math.isnan(row.median)
            continue
        scalar = median_ci(values)
        assert (row.n, row.n_missing) == (scalar.n, scalar.n_missing)
        assert row.median == pytest.approx(scalar.median)
        assert row.level == pytest.approx(scalar.level)
        for got, want in ((row.lower, scalar.lower), (row.upper, scalar.upper)):
            assert (math.isnan(got) and want is None) or got == want
    assert table.loc[table["cell"] == "c3", "qps"].isna().all()  # a null key is a key of its own


def test_frame_rejects_infinity_and_missing_columns() -> None:
    frame = pd.DataFrame({"cell": ["a", "a"], "p99": [1.0, math.inf]})
    with pytest.raises(StatsInputError, match="p99: 1 infinite"):
        median_ci_frame(frame, ["cell"], "p99")
    with pytest.raises(StatsInputError, match=r"missing column.*p50"):
        median_ci_frame(frame, ["cell"], "p50")


@pytest.mark.parametrize("distribution", ["lognormal", "exponential"])
@pytest.mark.parametrize("n", [6, 7, 10, 20])
def test_coverage_on_simulated_data_is_at_least_the_stated_level(distribution: str, n: int) -> None:
    """The method is exact for continuous data: coverage equals the stated (≥ 95 %) level up to
    simulation error (4000 trials: ± 0.7 % at 2 standard errors)."""
    coverage, stated = median_ci_coverage(n, trials=4000, seed=n, distribution=distribution)
    assert stated >= 0.95
    assert abs(coverage - stated) < 0.012


def test_coverage_below_six_repetitions_matches_the_achieved_level() -> None:
    coverage, stated = median_ci_coverage(5, trials=4000, seed=5)
    assert stated == pytest.approx(0.9375)
    assert abs(coverage - stated) < 0.012


def test_rank_rule() -> None:
    assert order_statistic_rank(1, 0.95) == (1, 0.0)
    assert order_statistic_rank(10, 0.95) == (2, pytest.approx(1 - 2 * 11 / 1024))
    with pytest.raises(StatsInputError):
        order_statistic_rank(0, 0.95)
