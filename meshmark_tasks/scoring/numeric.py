"""Array arithmetic that follows MESHMARK.md's rule "not computable -> null, never 0, 1 or inf"."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def safe_divide(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """numerator / denominator, NaN wherever the denominator is 0, either side is NaN, or it overflows.

    NaN inputs propagate by IEEE rules; a zero denominator would give inf (or NaN for 0/0), which
    is not a measurement, so it becomes NaN as well.
    """
    out = np.full(numerator.shape, np.nan)
    with np.errstate(over="ignore"):
        np.divide(numerator, denominator, out=out, where=denominator != 0)
    # A finite value over a tiny (subnormal) one overflows to inf: not a measurement either.
    np.putmask(out, np.isinf(out), np.nan)
    return out


def clip01(values: FloatArray) -> FloatArray:
    """Clip to [0, 1] in place-free fashion; NaN stays NaN."""
    return np.clip(values, 0.0, 1.0)


def nan_mean_rows(columns: list[FloatArray]) -> FloatArray:
    """Row-wise mean over the non-NaN entries of equally long columns; NaN where all are NaN.

    Written out instead of np.nanmean so an all-NaN row is a quiet NaN rather than a warning, and
    so no 2-D stack of the columns is built.
    """
    total = np.zeros(columns[0].shape)
    count = np.zeros(columns[0].shape)
    for column in columns:
        present = ~np.isnan(column)
        total += np.where(present, column, 0.0)
        count += present
    return safe_divide(total, count)
