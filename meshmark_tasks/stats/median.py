"""The summary of a cell's repetitions: their median with a distribution-free confidence interval.

Method (order statistics). For n independent repetitions of a continuous measurement, the number
of them below the true median is Binomial(n, ½), so the interval between the k-th smallest and
the k-th largest value, [x(k), x(n+1−k)], contains the true median with probability

    coverage(n, k) = 1 − 2 · BinomCDF(k − 1; n, ½)

whatever the distribution (`scipy.stats.binom`). We take the largest k (the narrowest interval)
whose coverage is at least the requested level; this is the interval
`scipy.stats.quantile_test(x).confidence_interval(level)` returns, computed here once per distinct
n so that a whole table of cells costs one sort (tests check the two agree).

Small n. Because the coverage only takes the values above, a 95 % interval needs n ≥ 6 (n = 6:
[min, max], 96.9 %). Below that we do not widen the claim: the interval is [min, max] and the
*achieved* level is reported (n = 5: 93.75 %, 4: 87.5 %, 3: 75 %, 2: 50 %); n = 1 has no interval
at all. `MedianCI.level_reached` says whether the requested level was met. With ties the coverage
is at least the stated level (conservative).

What the interval means: uncertainty of *this run's* median from the spread of its repetitions.
It says nothing about night-to-night variation of the machine, which the change-point detector
(`changepoint.py`) models separately.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from meshmark_tasks.stats.errors import StatsInputError
from meshmark_tasks.stats.values import as_float_array, check_finite, check_level, clean

DEFAULT_LEVEL = 0.95
METHOD = "order statistics (binomial), distribution-free"


@dataclass(frozen=True)
class MedianCI:
    """A median with its confidence interval; `level` is the coverage actually achieved."""

    n: int  # values used
    n_missing: int  # NaN values excluded
    median: float
    lower: float | None  # None when n == 1
    upper: float | None
    requested_level: float
    level: float  # achieved coverage of [lower, upper] (exact for continuous data, ≥ with ties)
    rank: int | None  # k: the interval is [x(k), x(n+1−k)] of the sorted values (1-based)

    @property
    def level_reached(self) -> bool:
        return self.level >= self.requested_level

    @property
    def half_width(self) -> float | None:
        if self.lower is None or self.upper is None:
            return None
        return (self.upper - self.lower) / 2.0

    @property
    def rel_half_width(self) -> float | None:
        """Half the interval's width as a fraction of |median| (what "± x %" shows); None at median 0."""
        half = self.half_width
        if half is None or self.median == 0:
            return None
        return half / abs(self.median)

    @property
    def note(self) -> str | None:
        if self.n == 1:
            return "one repetition: no confidence interval"
        if not self.level_reached:
            return (
                f"{self.n} repetitions cannot reach {self.requested_level:.0%}: "
                f"[min, max] covers {self.level:.2%}"
            )
        return None


@lru_cache(maxsize=256)
def order_statistic_rank(n: int, level: float) -> tuple[int, float]:
    """(k, coverage): the largest k with coverage(n, k) ≥ level, else k = 1 and its lower coverage.

    n = 1 gives (1, 0.0): the single value is not an interval.
    """
    if n < 1:
        raise StatsInputError(f"order statistics need at least one value, got n={n}")
    ks = np.arange(1, (n + 1) // 2 + 1)
    coverage = 1.0 - 2.0 * stats.binom.cdf(ks - 1, n, 0.5)
    reached = np.flatnonzero(coverage >= level)
    if reached.size == 0:
        return 1, float(max(coverage[0], 0.0))
    k = int(ks[reached[-1]])
    return k, float(coverage[reached[-1]])


def median_ci(values: Iterable[float | None] | npt.ArrayLike, level: float = DEFAULT_LEVEL) -> MedianCI:
    """The median of `values` (NaN excluded) with its order-statistic confidence interval.

    Raises StatsInputError on ±inf or when no value is left.
    """
    level = check_level(level)
    kept, missing = clean(values, "values")
    n = kept.size
    if n == 0:
        raise StatsInputError(f"values: no values to summarise ({missing} missing)")
    ordered = np.sort(kept)
    median = float(np.median(ordered))
    if n == 1:
        return MedianCI(1, missing, median, None, None, level, 0.0, None)
    k, coverage = order_statistic_rank(n, level)
    return MedianCI(n, missing, median, float(ordered[k - 1]), float(ordered[n - k]), level, coverage, k)


MEDIAN_CI_COLUMNS = ["n", "n_missing", "median", "lower", "upper", "level", "level_reached", "rel_half_width"]


def median_ci_frame(
    frame: pd.DataFrame, by: Sequence[str], column: str, level: float = DEFAULT_LEVEL
) -> pd.DataFrame:
    """`median_ci` for every group of `frame` (e.g. by run and cell key), in one sort.

    One row per group: the `by` columns then MEDIAN_CI_COLUMNS. NaN values are excluded and counted
    in `n_missing`; a group with no value left has n = 0 and NaN statistics (a failed cell is not an
    error here, it is a row that says so). ±inf raises StatsInputError naming the column.
    """
    level = check_level(level)
    missing_cols = [c for c in [*by, column] if c not in frame.columns]
    if missing_cols:
        raise StatsInputError(f"median_ci_frame: missing column(s) {', '.join(missing_cols)}")
    values = as_float_array(frame[column], column)
    check_finite(values, column)
    grouped = frame[list(by)].reset_index(drop=True).groupby(list(by), sort=True, dropna=False)
    codes = grouped.ngroup().to_numpy()
    out = grouped.size().index.to_frame(index=False)  # row i is group code i
    n_groups = len(out)
    present = ~np.isnan(values)
    n = np.bincount(codes[present], minlength=n_groups)
    n_missing = np.bincount(codes[~present], minlength=n_groups)
    order = np.lexsort((values[present], codes[present]))
    ordered = values[present][order]
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    median = np.full(n_groups, np.nan)
    lower = np.full(n_groups, np.nan)
    upper = np.full(n_groups, np.nan)
    achieved = np.full(n_groups, np.nan)
    for size in np.unique(n[n > 0]):
        rows = np.flatnonzero(n == size)
        s = start[rows]
        median[rows] = (ordered[s + (size - 1) // 2] + ordered[s + size // 2]) / 2.0
        if size == 1:
            achieved[rows] = 0.0
            continue
        k, coverage = order_statistic_rank(int(size), level)
        lower[rows] = ordered[s + k - 1]
        upper[rows] = ordered[s + size - k]
        achieved[rows] = coverage
    out["n"] = n
    out["n_missing"] = n_missing
    out["median"] = median
    out["lower"] = lower
    out["upper"] = upper
    out["level"] = achieved
    out["level_reached"] = achieved >= level
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rel_half_width"] = np.where(median != 0, (upper - lower) / 2.0 / np.abs(median), np.nan)
    return out
