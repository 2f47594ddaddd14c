"""Is a mesh different from the baseline, is run A different from run B: estimates, CIs, p-values.

Paired (`paired_comparison`). Repetitions run in rounds (baseline, sidecar, sidecar-mtls,
baseline, …), so the mesh's value in round i is paired with the baseline measured back to back in
the same round; whatever slow drift the machine has hits both alike and cancels in the pair. On the
log scale (default) each round gives a log ratio dᵢ = ln(meshᵢ / baselineᵢ), and

    estimate = exp(mean d) − 1                         (relative change; a geometric-mean ratio − 1)
    CI       = exp(mean d ± t(n−1, (1+level)/2) · sd(d)/√n) − 1
    p-value  = two-sided one-sample t-test of mean d = 0   (scipy.stats.ttest_1samp)

Why a t-test on log ratios: with the 5 rounds a nightly run affords, the exact nonparametric
paired tests cannot reach p < 0.05 at all (Wilcoxon signed-rank and the sign test: smallest
two-sided p = 2/2⁵ = 0.0625; a sign-flip permutation test likewise), so they could never call a
difference significant. The t-test is exact for log-normal noise, and the simulation in
`simulation.py` (numbers in docs/meshmark.md) shows its false-positive rate stays ≤ 5 % for
heavier-tailed noise too, where it errs conservative. Log ratios make the effect relative (a 10 %
overhead is +10 % whether p50 is 1 ms or 100 ms) and symmetric (×1.1 and ÷1.1 are ±0.095).
`scale="linear"` uses differences dᵢ = meshᵢ − baselineᵢ instead, for values that can be 0 or
negative (an overhead delta); the estimate is then in the metric's units.

`paired_frame` does the pairing for a results-shaped frame: every configuration against the
baseline row of the same group (run, load point) and round, one summary row per configuration.

Two-sample (`two_sample_comparison`, for `meshmark compare` of run A vs run B at one load point):
Welch's t-test on log values (scipy.stats.ttest_ind, equal_var=False); estimate = ratio of
geometric means − 1 with its Welch CI. Repetitions of two *different nights* also differ by the
machine's night-to-night variation, which the repetitions of either night cannot show: pass
`between_sd` (the night-to-night sd on the test's scale, e.g. `SeriesDetection.sigma_between` from
the change-point detector) and it is added to the variance of each side's mean, so that a
different night is not mistaken for a different mesh. Without it the test answers the narrower
question "do these two sets of repetitions differ beyond their own scatter".

Not enough data is said, not papered over: fewer than 2 pairs (or fewer than 2 repetitions on a
side) gives the point estimate with `p_value`, `lower` and `upper` None and `note` =
"not enough repetitions: …". So do differences that do not vary at all (no test is defined).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from meshmark_tasks.stats.errors import StatsInputError
from meshmark_tasks.stats.values import (
    FloatArray,
    Scale,
    Values,
    as_float_array,
    check_finite,
    check_level,
    check_positive,
    check_scale,
    clean,
)

DEFAULT_LEVEL = 0.95
DEFAULT_ALPHA = 0.05
MIN_PER_SIDE = 2


@dataclass(frozen=True)
class Comparison:
    """A compared against B. On the log scale `estimate`, `lower`, `upper` are relative changes
    (0.12 = A is 12 % above B); on the linear scale they are A − B in the metric's units."""

    method: str
    scale: Scale
    n_a: int  # values (or pairs, for a paired comparison) used on each side
    n_b: int
    n_missing: int  # values or pairs excluded because a value was missing (NaN)
    estimate: float | None
    lower: float | None
    upper: float | None
    level: float
    p_value: float | None
    note: str | None  # why the CI or p-value is missing
    per_round: tuple[float, ...] = ()  # paired: each round's ratio − 1 (log) or difference (linear)

    @property
    def enough(self) -> bool:
        return self.p_value is not None

    def significant(self, alpha: float = DEFAULT_ALPHA) -> bool:
        """True only when a test was possible and its p-value is below alpha."""
        return self.p_value is not None and self.p_value < alpha

    @property
    def rel_half_width(self) -> float | None:
        """Half the CI's width (log scale: as a fraction, like the estimate); None without a CI."""
        if self.lower is None or self.upper is None:
            return None
        return (self.upper - self.lower) / 2.0


def _from_scale(value: float, scale: Scale) -> float:
    return math.expm1(value) if scale == "log" else value


def paired_comparison(
    treatment: Values, baseline: Values, *, scale: Scale = "log", level: float = DEFAULT_LEVEL
) -> Comparison:
    """`treatment[i]` against `baseline[i]`, measured in the same round i (see the module doc).

    A pair with a missing value on either side is excluded (counted in n_missing); ±inf, unequal
    lengths and (on the log scale) values ≤ 0 raise StatsInputError.
    """
    scale = check_scale(scale)
    level = check_level(level)
    a = as_float_array(treatment, "treatment")
    b = as_float_array(baseline, "baseline")
    if a.shape != b.shape:
        raise StatsInputError(
            f"paired values: treatment has {a.size} rounds, baseline {b.size}; pairs need one of each"
        )
    check_finite(a, "treatment")
    check_finite(b, "baseline")
    complete = ~(np.isnan(a) | np.isnan(b))
    a, b = a[complete], b[complete]
    if scale == "log":
        check_positive(a, "treatment")
        check_positive(b, "baseline")
        d = np.log(a) - np.log(b)
        method = "paired t-test on log ratios"
    else:
        d = a - b
        method = "paired t-test on differences"
    n = d.size
    missing = int((~complete).sum())
    per_round = tuple(float(_from_scale(v, scale)) for v in d)
    if n == 0:
        raise StatsInputError(f"paired values: no complete pair ({missing} with a missing value)")
    estimate = _from_scale(float(d.mean()), scale)
    if n < MIN_PER_SIDE:
        note = f"not enough repetitions: {n} pair; a paired test needs at least {MIN_PER_SIDE}"
        return Comparison(method, scale, n, n, missing, estimate, None, None, level, None, note, per_round)
    if np.ptp(d) <= 1e-12 * max(1.0, float(np.abs(d).max())):
        note = "the per-round differences do not vary: no test is defined"
        return Comparison(method, scale, n, n, missing, estimate, None, None, level, None, note, per_round)
    result = stats.ttest_1samp(d, 0.0)
    ci = result.confidence_interval(level)
    return Comparison(
        method,
        scale,
        n,
        n,
        missing,
        estimate,
        _from_scale(float(ci.low), scale),
        _from_scale(float(ci.high), scale),
        level,
        float(result.pvalue),
        None,
        per_round,
    )


def two_sample_comparison(
    a: Values,
    b: Values,
    *,
    scale: Scale = "log",
    level: float = DEFAULT_LEVEL,
    between_sd: float | None = None,
) -> Comparison:
    """Repetitions `a` (e.g. run A) against repetitions `b` (run B) of the same load point, unpaired.

    `between_sd`: night-to-night standard deviation on the test's scale (log units for
    scale="log"), added to each side's variance when A and B come from different nights.
    """
    scale = check_scale(scale)
    level = check_level(level)
    if between_sd is not None and not (math.isfinite(between_sd) and between_sd >= 0):
        raise StatsInputError(f"between_sd: expected a finite number >= 0, got {between_sd!r}")
    xa, missing_a = clean(a, "a", scale)
    xb, missing_b = clean(b, "b", scale)
    missing = missing_a + missing_b
    if xa.size == 0 or xb.size == 0:
        raise StatsInputError(f"two-sample values: side {'a' if xa.size == 0 else 'b'} has no value")
    la, lb = (np.log(xa), np.log(xb)) if scale == "log" else (xa, xb)
    method = "Welch t-test on log values" if scale == "log" else "Welch t-test"
    if between_sd:
        method += " with a night-to-night variance term"
    estimate = _from_scale(float(la.mean() - lb.mean()), scale)
    if xa.size < MIN_PER_SIDE or xb.size < MIN_PER_SIDE:
        note = (
            f"not enough repetitions: a has {xa.size}, b has {xb.size}; "
            f"a two-sample test needs at least {MIN_PER_SIDE} on each side"
        )
        return Comparison(method, scale, xa.size, xb.size, missing, estimate, None, None, level, None, note)
    if np.ptp(la) == 0 and np.ptp(lb) == 0 and not between_sd:
        note = "neither side varies: no test is defined"
        return Comparison(method, scale, xa.size, xb.size, missing, estimate, None, None, level, None, note)
    if between_sd:
        low, high, p = _welch_with_between(la, lb, between_sd, level)
    else:
        result = stats.ttest_ind(la, lb, equal_var=False)
        ci = result.confidence_interval(level)
        low, high, p = float(ci.low), float(ci.high), float(result.pvalue)
    return Comparison(
        method,
        scale,
        xa.size,
        xb.size,
        missing,
        estimate,
        _from_scale(low, scale),
        _from_scale(high, scale),
        level,
        p,
        None,
    )


def _welch_with_between(
    la: FloatArray, lb: FloatArray, between_sd: float, level: float
) -> tuple[float, float, float]:
    """Welch's statistic with 2·between_sd² added to the variance of the difference of means.

    The night term is treated as known (estimated from a long history), so it adds variance but no
    degrees-of-freedom loss; the Welch–Satterthwaite df comes from the within-run parts only and is
    raised accordingly: df = V² / Σ (s²/n)² / (n − 1) over the within terms, V the total variance.
    """
    wa = float(la.var(ddof=1)) / la.size
    wb = float(lb.var(ddof=1)) / lb.size
    variance = wa + wb + 2.0 * between_sd**2
    within_df_terms = wa**2 / (la.size - 1) + wb**2 / (lb.size - 1)
    df = variance**2 / within_df_terms if within_df_terms > 0 else math.inf
    diff = float(la.mean() - lb.mean())
    se = math.sqrt(variance)
    t = stats.t(df)
    margin = float(t.ppf(0.5 + level / 2.0)) * se
    p = float(2.0 * t.sf(abs(diff) / se))
    return diff - margin, diff + margin, p


PAIRED_COLUMNS = ["n_pairs", "n_missing", "estimate", "lower", "upper", "p_value", "method", "note"]


def paired_frame(
    frame: pd.DataFrame,
    by: Sequence[str],
    round_column: str,
    config_column: str,
    baseline: str,
    value: str,
    *,
    scale: Scale = "log",
    level: float = DEFAULT_LEVEL,
) -> pd.DataFrame:
    """`paired_comparison` of every configuration against `baseline`, per group `by`.

    `frame` has one row per repetition (the `results` table shape): `by` names the group (e.g.
    run_id and the load point columns; a null key is a key of its own), `round_column` the round a
    repetition ran in, `config_column` the mesh configuration. Each non-baseline row is paired with
    the baseline row of the same group and round. One row per (group, configuration): the `by`
    columns, the configuration, then PAIRED_COLUMNS. A configuration without any baseline round
    gets n_pairs 0 and a note. Two rows for one (group, round, configuration) raise
    StatsInputError naming them: a pair must be unambiguous.
    """
    keys = [*by, round_column]
    absent = [c for c in [*keys, config_column, value] if c not in frame.columns]
    if absent:
        raise StatsInputError(f"paired_frame: missing column(s) {', '.join(absent)}")
    rows = frame[[*keys, config_column, value]]
    duplicated = rows.duplicated([*keys, config_column], keep=False)
    if duplicated.any():
        first = rows[duplicated].iloc[0]
        where = ", ".join(f"{c}={first[c]!r}" for c in [*keys, config_column])
        raise StatsInputError(f"paired_frame: more than one row for {where}")
    base = rows[rows[config_column] == baseline].drop(columns=config_column)
    others = rows[rows[config_column] != baseline]
    paired = others.merge(base, on=keys, how="left", suffixes=("", "_baseline"))
    out: list[dict[str, Any]] = []
    for group, part in paired.groupby([*by, config_column], sort=True, dropna=False):
        record = dict(zip([*by, config_column], group, strict=True))
        try:
            result = paired_comparison(part[value], part[f"{value}_baseline"], scale=scale, level=level)
        except StatsInputError as exc:
            record.update(dict.fromkeys(PAIRED_COLUMNS), n_pairs=0, n_missing=len(part), note=str(exc))
            out.append(record)
            continue
        record.update(
            n_pairs=result.n_a,
            n_missing=result.n_missing,
            estimate=result.estimate,
            lower=result.lower,
            upper=result.upper,
            p_value=result.p_value,
            method=result.method,
            note=result.note,
        )
        out.append(record)
    return pd.DataFrame(out, columns=[*by, config_column, *PAIRED_COLUMNS])
