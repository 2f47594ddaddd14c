"""A cell's median with the machine's speed taken out: the speed-adjusted median and its CI.

Why. On a shared machine the speed of the CPU wanders during a night (other tenants, steal time).
Every process on it slows alike, so within one configuration's repetitions a slow window shows a
higher p50, p99 and data-plane CPU *and* a higher app CPU per request. The raw median's CI carries
that wandering (docs/benchmarks.md: 5-6 % for p50 and data-plane CPU, 10-16 % for p99 at 30 × 20 s
on a drifting stretch). The app does the same work per request in every configuration, so its CPU
seconds per request, measured in the same window, is a speed gauge of that window.

Method (regression adjustment with a measured covariate, as adjusted means in ANCOVA). For one
configuration's n repetitions with value y_i > 0 and speed gauge s_i > 0:

    b       = OLS slope of log y on log s                      (the value's elasticity to speed)
    s_ref   = median of s                                      (the configuration's typical speed)
    adj_i   = log y_i − b · (log s_i − log s_ref)              (each repetition moved to s_ref)
    median  = exp(median of adj)

It is the median the configuration would have shown had every repetition run at the same speed,
s_ref; because s_ref is the configuration's own median speed, its level is that of the raw median,
only the speed's share of the spread is gone. b is estimated per configuration (p50 and CPU move
about 1:1 with speed here, p99 about 2:1).

The 95 % CI is the order-statistic interval of the median of the adjusted values (`median.py`),
the same distribution-free interval the raw median has. The slope is estimated from the same
repetitions; its error moves the adjusted values in proportion to log s_i − log s_ref, which is
small around the median where the interval is taken (simulated coverage in docs/meshmark.md: 95-96 %
from 12 repetitions on, 98 % at 8, lognormal and heavy-tailed noise alike). s_ref is the
configuration's own median speed: the interval is conditional on the speed the values are adjusted
to, as regression inference conditions on the observed covariate. What it does not cover: how
tonight's typical speed compares with another night's (the drift check in `drift.py` handles that).
A mesh change that moved the app's own CPU per request stays in the level (s_ref is the
configuration's own).

Below MIN_REPETITIONS pairs, or when the speed gauge has no spread, there is no adjusted median
(None): a regression on a handful of points adjusts noise with noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from meshmark_tasks.stats.errors import StatsInputError
from meshmark_tasks.stats.median import DEFAULT_LEVEL, median_ci
from meshmark_tasks.stats.values import FloatArray, Values, as_float_array, check_finite, check_level

MIN_REPETITIONS = 8


@dataclass(frozen=True)
class AdjustedMedian:
    """The speed-adjusted median of one configuration's repetitions, with its order-statistic CI."""

    n: int  # pairs used (both the value and the speed gauge measured and > 0)
    n_missing: int  # repetitions left out for a missing or non-positive value or gauge
    median: float
    lower: float
    upper: float
    level: float  # achieved coverage of [lower, upper] (order statistics)
    slope: float  # elasticity of the value to the speed gauge (log-log OLS)
    reference: float  # the speed gauge's value the repetitions were adjusted to (their median)

    @property
    def rel_half_width(self) -> float:
        """Half the interval's width as a fraction of the median (what "± x %" shows)."""
        return (self.upper - self.lower) / 2.0 / self.median


def _pairs(values: Values, speed: Values) -> tuple[FloatArray, FloatArray]:
    y = as_float_array(values, "values")
    s = as_float_array(speed, "speed")
    if y.size != s.size:
        raise StatsInputError(f"values and speed differ in length ({y.size} and {s.size})")
    check_finite(y, "values")
    check_finite(s, "speed")
    return y, s


def _usable(y: FloatArray, s: FloatArray) -> npt.NDArray[np.bool_]:
    # A value or gauge of 0 is "nothing measured" here (a baseline has no data plane): left out.
    return (y > 0) & (s > 0)  # NaN compares False


def speed_adjusted_values(values: Values, speed: Values) -> tuple[FloatArray, float, float] | None:
    """(adjusted values, slope, reference): every repetition moved to the median speed.

    The adjusted array has the input's length, NaN where a value or gauge is missing or ≤ 0. None
    when fewer than MIN_REPETITIONS pairs are usable or the gauge does not vary.
    """
    y, s = _pairs(values, speed)
    usable = _usable(y, s)
    if usable.sum() < MIN_REPETITIONS or np.ptp(s[usable]) == 0:
        return None
    log_y, log_s = np.log(y[usable]), np.log(s[usable])
    slope = float(np.polyfit(log_s, log_y, 1)[0])
    log_reference = float(np.median(log_s))
    adjusted = np.full(y.size, np.nan)
    adjusted[usable] = np.exp(log_y - slope * (log_s - log_reference))
    return adjusted, slope, float(np.exp(log_reference))


def speed_adjusted_median(
    values: Values, speed: Values, level: float = DEFAULT_LEVEL
) -> AdjustedMedian | None:
    """The speed-adjusted median of `values` (see the module doc); None when it cannot be estimated.

    `values[i]` and `speed[i]` come from the same repetition. Raises StatsInputError on ±inf,
    unequal lengths or a bad level.
    """
    level = check_level(level)
    adjusted = speed_adjusted_values(values, speed)
    if adjusted is None:
        return None
    moved, slope, reference = adjusted
    ci = median_ci(moved, level=level)
    assert ci.lower is not None and ci.upper is not None  # n >= MIN_REPETITIONS > 1
    return AdjustedMedian(
        n=ci.n,
        n_missing=ci.n_missing,
        median=ci.median,
        lower=ci.lower,
        upper=ci.upper,
        level=ci.level,
        slope=slope,
        reference=reference,
    )


ADJUSTED_COLUMNS = ["n", "median", "lower", "upper", "slope", "reference"]


def speed_adjusted_frame(
    frame: pd.DataFrame, by: Sequence[str], column: str, speed_column: str, level: float = DEFAULT_LEVEL
) -> pd.DataFrame:
    """`speed_adjusted_median` per group of `frame`: the `by` columns then ADJUSTED_COLUMNS.

    A group where no adjusted median can be estimated has NaN statistics (n says how many pairs it
    had). Raises StatsInputError naming a missing column, or a column holding ±inf.
    """
    missing_cols = [c for c in [*by, column, speed_column] if c not in frame.columns]
    if missing_cols:
        raise StatsInputError(f"speed_adjusted_frame: missing column(s) {', '.join(missing_cols)}")
    records = []
    for key, part in frame.groupby(list(by), dropna=False, sort=True):
        try:
            result = speed_adjusted_median(part[column], part[speed_column], level=level)
        except StatsInputError as error:
            raise StatsInputError(f"{column} / {speed_column}, group {key}: {error}") from error
        record = dict(zip(by, key, strict=True))
        if result is None:
            usable = _usable(*_pairs(part[column], part[speed_column]))
            record.update(dict.fromkeys(ADJUSTED_COLUMNS, np.nan), n=int(usable.sum()))
        else:
            record.update({c: getattr(result, c) for c in ADJUSTED_COLUMNS})
        records.append(record)
    return pd.DataFrame(records, columns=[*by, *ADJUSTED_COLUMNS])
