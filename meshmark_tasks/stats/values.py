"""Turning caller input into clean float64 arrays, with one policy for bad values everywhere.

- NaN (and None, pandas NA) means "not measured": it is **excluded** and counted, never imputed;
  every result says how many values it dropped.
- ±inf is never a measurement (a division by zero upstream): it raises `StatsInputError` naming
  the argument and the first position, rather than being dropped silently.
- On the log scale every value must be > 0 (a ratio of two latencies, CPU seconds, a MeshMark);
  a zero or negative value raises, because dropping it would bias the level upward.
- Strings and booleans are not numbers (as everywhere in the project, "1.5" is an error).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from meshmark_tasks.stats.errors import StatsInputError

FloatArray = npt.NDArray[np.float64]
Scale = Literal["log", "linear"]
SCALES: tuple[Scale, ...] = ("log", "linear")
Values = Iterable[float | None] | npt.ArrayLike


def is_null(value: object) -> bool:
    """None, pandas NA/NaT or a float NaN: a missing key or value."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def as_float_array(values: Values, name: str) -> FloatArray:
    """A 1-D float64 copy of `values` with NaN for every missing value (None, NaN, pandas NA)."""
    if isinstance(values, pd.Series | pd.Index) and _is_number_dtype(values.dtype):
        return values.to_numpy(dtype=float, na_value=np.nan)
    items = values if isinstance(values, np.ndarray) else np.asarray(list(values), dtype=np.object_)  # type: ignore[arg-type]
    if items.ndim != 1:
        raise StatsInputError(f"{name}: expected a one-dimensional sequence, got shape {items.shape}")
    if items.dtype.kind in "fiu":
        return items.astype(float)
    array = np.empty(items.shape[0], dtype=float)
    for position, value in enumerate(items):
        if is_null(value):
            array[position] = np.nan
        elif isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
            raise StatsInputError(f"{name}: position {position}: expected a number, got {value!r}")
        else:
            array[position] = float(value)
    return array


def _is_number_dtype(dtype: object) -> bool:
    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


def check_finite(array: FloatArray, name: str) -> None:
    """Raise on ±inf (NaN is allowed here: it is the caller's missing value)."""
    infinite = np.flatnonzero(np.isinf(array))
    if infinite.size:
        raise StatsInputError(
            f"{name}: {infinite.size} infinite value(s), first at position {int(infinite[0])}; "
            "an infinite measurement is a bug upstream, not data"
        )


def check_scale(scale: str) -> Scale:
    if scale not in SCALES:
        raise StatsInputError(f"scale: expected one of {', '.join(SCALES)}, got {scale!r}")
    return scale


def check_level(level: float, name: str = "level") -> float:
    if isinstance(level, bool) or not (isinstance(level, int | float) and 0.0 < float(level) < 1.0):
        raise StatsInputError(f"{name}: a confidence level must lie strictly between 0 and 1, got {level!r}")
    return float(level)


def check_positive(array: FloatArray, name: str) -> None:
    """For the log scale: every (non-missing) value must be > 0."""
    bad = np.flatnonzero(array <= 0)  # NaN compares False: missing values are not reported here
    if bad.size:
        raise StatsInputError(
            f"{name}: {bad.size} value(s) <= 0 (first {array[bad[0]]!r} at position {int(bad[0])}) "
            "cannot be put on the log scale; use scale='linear' for values that can be 0 or negative"
        )


def clean(values: Values, name: str, scale: Scale = "linear") -> tuple[FloatArray, int]:
    """The non-missing values of `values` and how many were dropped (see the module doc)."""
    array = as_float_array(values, name)
    check_finite(array, name)
    missing = np.isnan(array)
    kept = array[~missing]
    if scale == "log":
        check_positive(kept, name)
    return kept, int(missing.sum())
