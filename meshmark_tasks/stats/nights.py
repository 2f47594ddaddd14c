"""Per-repetition values → one row per night: the unit the change-point detector works on.

Repetitions of one night share that night's machine state, so they are not independent draws
around the series' level: nights are the units. For each night j with n_j repetitions y_jr (on the
detector's scale, log by default) we keep

    value_j = median_r y_jr          (robust: one bad repetition does not move the night)
    n_j, ss_j = Σ_r (y_jr − mean_r y_jr)²   (for the pooled within-night variance)

Ordering: nights are sorted by their key (a run sequence number, a date, an ISO timestamp, …);
the key of the first night at a new level is what a change point reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from meshmark_tasks.stats.errors import StatsInputError
from meshmark_tasks.stats.values import (
    FloatArray,
    Scale,
    as_float_array,
    check_finite,
    check_positive,
)


@dataclass(frozen=True)
class Nights:
    """One series' nights, oldest first."""

    labels: np.ndarray  # the night keys, sorted
    value: FloatArray  # median of the night's repetitions, on the scale
    n: np.ndarray  # repetitions per night (≥ 1)
    ss: FloatArray  # within-night sum of squares around the night's mean, on the scale
    n_missing: int  # repetitions excluded as missing (NaN)

    @property
    def size(self) -> int:
        return int(self.value.size)


def _night_table(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """keys + night → value (median), n, ss; `frame` has columns keys, "night", "y" (no NaN)."""
    by = [*keys, "night"]
    centred = frame["y"] - frame.groupby(by, sort=False, dropna=False, observed=True)["y"].transform("mean")
    grouped = frame.assign(_sq=centred**2).groupby(by, sort=True, dropna=False, observed=True)
    return grouped.agg(value=("y", "median"), n=("y", "size"), ss=("_sq", "sum")).reset_index()


def series_nights(values: Any, nights: Any, scale: Scale, name: str = "values") -> Nights:
    """One series from parallel per-repetition `values` and night keys (see the module doc)."""
    y = as_float_array(values, name)
    labels = np.asarray(nights.tolist() if isinstance(nights, pd.Series) else list(nights), dtype=object)
    if labels.shape != y.shape:
        raise StatsInputError(f"{name}: {y.size} values but {labels.size} night keys; give one key per value")
    check_finite(y, name)
    present = ~np.isnan(y)
    if any(
        label is None or label is pd.NA or (isinstance(label, float) and np.isnan(label)) for label in labels
    ):
        raise StatsInputError(
            f"{name}: a night key is missing; every value needs the night it was measured on"
        )
    y, labels = y[present], labels[present]
    if scale == "log":
        check_positive(y, name)
        y = np.log(y)
    frame = pd.DataFrame({"night": pd.Series(labels.tolist()), "y": y})
    try:
        table = _night_table(frame, [])
    except TypeError as exc:
        raise StatsInputError(f"{name}: night keys cannot be ordered ({exc})") from None
    return Nights(
        labels=table["night"].to_numpy(),
        value=table["value"].to_numpy(dtype=float),
        n=table["n"].to_numpy(dtype=np.int64),
        ss=table["ss"].to_numpy(dtype=float),
        n_missing=int((~present).sum()),
    )


def frame_nights(
    frame: pd.DataFrame, series: Sequence[str], night: str, value: str, scale: Scale
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All series of a long frame at once: (night table, per-series missing/error table).

    The night table has the `series` columns, "night", "value", "n", "ss", sorted by series then
    night. A series with an infinite value, or a value ≤ 0 on the log scale, is not in the night
    table; the second table names it with the reason, so one bad series never stops the others.
    """
    keys = list(series)
    absent = [c for c in [*keys, night, value] if c not in frame.columns]
    if absent:
        raise StatsInputError(f"detect_frame: missing column(s) {', '.join(absent)}")
    y = as_float_array(frame[value], value)
    if frame[night].isna().any():
        raise StatsInputError(f"{night}: {int(frame[night].isna().sum())} row(s) without a night key")
    work = frame[keys].copy()
    work["night"] = frame[night].to_numpy()
    work["y"] = y
    missing = np.isnan(y)
    bad_reason = np.where(np.isinf(y), "infinite value", "")
    if scale == "log":
        bad_reason = np.where((y <= 0) & (bad_reason == ""), "value <= 0 on the log scale", bad_reason)
    work["_bad"] = bad_reason
    work["_missing"] = missing
    per_series = (
        work.groupby(keys, sort=True, dropna=False, observed=True)["_missing"]
        .sum()
        .rename("n_missing")
        .reset_index()
    )
    bad = work.loc[bad_reason != "", [*keys, "_bad"]].drop_duplicates(keys)  # first bad value per series
    per_series = per_series.merge(bad, on=keys, how="left")
    per_series["error"] = (value + ": " + per_series["_bad"]).fillna("")
    per_series = per_series.drop(columns="_bad")
    bad_series = per_series.loc[per_series["error"] != "", keys]
    clean_rows = work[~missing]
    if len(bad_series):
        flagged = clean_rows[keys].merge(bad_series.assign(_drop=True), on=keys, how="left")["_drop"]
        clean_rows = clean_rows[~flagged.fillna(False).to_numpy(dtype=bool)]
    clean_rows = clean_rows.drop(columns=["_bad", "_missing"])
    if scale == "log":
        clean_rows = clean_rows.assign(y=np.log(clean_rows["y"].to_numpy()))
    table = _night_table(clean_rows.reset_index(drop=True), keys)
    return table, per_series
