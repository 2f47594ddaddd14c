"""Array arithmetic that follows MESHMARK.md's rule "not computable -> null, never 0, 1 or inf".

Functions here run once per column over up to millions of rows, so they work in place where they
can: a temporary array less is a memory pass less.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def safe_divide(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """numerator / denominator, NaN wherever the denominator is 0, either side is NaN, or it overflows.

    Inputs are finite or NaN (inputs.py rejects inf), so every non-finite quotient comes from a zero
    denominator (x/0 = inf, 0/0 = NaN) or from overflow (x / subnormal): none is a measurement.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out: FloatArray = np.divide(numerator, denominator)
    np.putmask(out, np.isinf(out), np.nan)
    return out


def one_minus(values: FloatArray) -> FloatArray:
    """1 − values, in place (callers pass fresh temporaries) and returned; NaN stays NaN."""
    return np.subtract(1.0, values, out=values)


def clip01(values: FloatArray) -> FloatArray:
    """Clip to [0, 1] in place (callers pass fresh temporaries) and return it; NaN stays NaN."""
    return np.clip(values, 0.0, 1.0, out=values)


def nan_mean_rows(columns: list[FloatArray]) -> FloatArray:
    """Row-wise mean over the non-NaN entries of equally long columns; NaN where all are NaN.

    Written out instead of np.nanmean so an all-NaN row is a quiet NaN rather than a warning, and
    so no 2-D stack of the columns is built.
    """
    if len(columns) == 2:
        return _nan_mean_pair(columns[0], columns[1])
    total = np.zeros(columns[0].shape)
    count = np.zeros(columns[0].shape)
    for column in columns:
        present = ~np.isnan(column)
        np.add(total, column, out=total, where=present)
        count += present
    with np.errstate(invalid="ignore"):
        total /= count  # 0/0 = NaN exactly where no column had a value
    return total


def _nan_mean_pair(a: FloatArray, b: FloatArray) -> FloatArray:
    # (a + b) / 2 where both exist; where one is NaN the sum is NaN and the other one is the mean.
    mean = a + b
    mean *= 0.5
    only_a = np.isnan(b)
    np.copyto(mean, a, where=only_a)
    only_b = np.isnan(a)
    np.copyto(mean, b, where=only_b)
    return mean
