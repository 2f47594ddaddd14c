"""Statistics of repeated measurements: uncertainty, comparisons and change points (issue 10).

A pure library (numpy, scipy, pandas, ruptures; nothing from pipeline/reporting/storage/backends).
The method, formulas, defaults and the simulations behind them: docs/meshmark.md, "Uncertainty and
change points".

Uncertainty of a cell's summary (`median.py`):

    median_ci(values, level=0.95) -> MedianCI
        median, lower, upper, level (achieved), level_reached, rel_half_width ("± x %"), note
    median_ci_frame(frame, by, column, level=0.95) -> DataFrame   # every cell of a run in one sort

A cell's median with the machine's speed taken out (`adjusted.py`):

    speed_adjusted_median(values, speed, level=0.95) -> AdjustedMedian | None
        median, lower, upper (order statistics), slope (elasticity to speed), reference
    speed_adjusted_frame(frame, by, column, speed_column, level=0.95) -> DataFrame

Comparisons (`compare.py`):

    paired_comparison(treatment, baseline, scale="log", level=0.95) -> Comparison
        rounds measured back to back; t-test on log ratios; estimate = relative change
    paired_frame(frame, by, round_column, config_column, baseline, value) -> DataFrame
        every configuration against the baseline of the same group and round (results-table shape)
    two_sample_comparison(a, b, scale="log", level=0.95, between_sd=None) -> Comparison
        run A vs run B; Welch on logs; "not enough repetitions" below 2 per side
    Comparison: estimate, lower, upper, p_value, significant(alpha), per_round, note

Change points over history (`changepoint.py`):

    detect_change_points(values, nights, config=ChangePointConfig()) -> SeriesDetection
    detect_frame(frame, series, night, value, config) -> FrameDetection(series=..., change_points=...)
    detect_many(night_tables, config) -> list[SeriesDetection]     # pooled across series
    ChangePoint: index, night, before, after, magnitude, lower, upper, p_value, direction
    SeriesDetection: change_points, newest, newest_flagged, sigma_within, sigma_between, status

Machine drift (`drift.py`): is a newest-night flag still there once the machine's speed is removed?

    speed_index(reference, on, night, value, config) -> SpeedIndex   # per `on` × night, and tonight's change
    check_drift(frame, series, value, speed, config, raw=None) -> DataFrame
        per series: newest_flagged, index_change, normalised_flagged/magnitude/p_value, drift_explained

Every bad input raises `StatsInputError` (a MeshmarkError) naming the argument, column or series;
NaN is "not measured" and is excluded and counted, never imputed. Importing the package imports
scipy, pandas and ruptures (about a second): keep it out of DAG files' top level.
"""

from __future__ import annotations

from meshmark_tasks.stats.adjusted import (
    ADJUSTED_COLUMNS,
    AdjustedMedian,
    speed_adjusted_frame,
    speed_adjusted_median,
)
from meshmark_tasks.stats.changepoint import (
    ChangePoint,
    ChangePointConfig,
    FrameDetection,
    SeriesDetection,
    detect_change_points,
    detect_frame,
    detect_many,
)
from meshmark_tasks.stats.compare import (
    Comparison,
    paired_comparison,
    paired_frame,
    two_sample_comparison,
)
from meshmark_tasks.stats.drift import DRIFT_COLUMNS, SpeedIndex, check_drift, speed_index
from meshmark_tasks.stats.errors import StatsInputError
from meshmark_tasks.stats.median import MedianCI, median_ci, median_ci_frame

__all__ = [
    "ADJUSTED_COLUMNS",
    "DRIFT_COLUMNS",
    "AdjustedMedian",
    "ChangePoint",
    "ChangePointConfig",
    "Comparison",
    "FrameDetection",
    "MedianCI",
    "SeriesDetection",
    "SpeedIndex",
    "StatsInputError",
    "check_drift",
    "detect_change_points",
    "detect_frame",
    "detect_many",
    "median_ci",
    "median_ci_frame",
    "paired_comparison",
    "paired_frame",
    "speed_adjusted_frame",
    "speed_adjusted_median",
    "speed_index",
    "two_sample_comparison",
]
