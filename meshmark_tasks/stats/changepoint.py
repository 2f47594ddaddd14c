"""Change points in a series' history, in the manner of Apache Otava / MongoDB's E-divisive.

A *series* is one metric of one mesh configuration at one load point; its input is per-repetition
values, each with the night (run) it was measured on. Output: the significant level changes, each
with its first night, relative magnitude with a CI, p-value and direction, and whether the newest
night starts one.

The model (on the log scale by default, so that changes are relative):

    y_jr = μ_seg(j) + b_j + e_jr,   b_j ~ N(0, σ_b²) the night's machine state,
                                    e_jr ~ N(0, σ_w²) repetition noise within the night

Repetitions of one night share b_j, so treating them as independent across nights would make the
standard error of a level ~√n too small and flag stationary series constantly. Nights are the
units instead: each night is summarised by the median of its repetitions v_j (`nights.py`), whose
variance is

    τ_j² = σ_b² + c(n_j)·σ_w²/n_j,     c(n) = 1 for n ≤ 2, π/2 for n ≥ 3 (the median's variance)

- σ_w² is the pooled within-night variance of the repetitions (df Σ(n_j − 1)); series with one
  value per night (imported or old data) have none, and τ² is then estimated whole.
- σ_b² is the moment estimate from the night values around their segment means under the current
  segmentation, E[RSS] = Σ_j (1 − 1/n_seg(j))·τ_j², clipped at 0, with df = nights − segments.

Steps:
1. **Candidates**: `ruptures.KernelCPD` (linear kernel = least-squares mean shifts, exact
   penalised segmentation, C implementation) on the night values, with a liberal penalty
   `candidate_penalty × σ̂² × ln(nights)` (σ̂ a robust night-noise estimate from successive
   differences) and segments of at least `min_segment` nights. The newest night is always added
   as a candidate: it is what the nightly report asks about, and it may stand alone.
2. **Test** each candidate: the weighted (1/τ_j²) mean level of the segment after it against the
   segment before it, t = Δ / √(1/W_before + 1/W_after), two-sided p from Student's t with
   nights − segments degrees of freedom. Magnitude = exp(Δ) − 1 with CI exp(Δ ± t_q·se) − 1.
3. **Backward elimination** (Hunter/Otava's "weak then strict" idea, deterministic): drop the
   least significant candidate while any has p > `p_value`, re-estimating σ_b² and the segment
   means each time (merged segments, fewer boundaries, more df).
4. **Report** the survivors whose |magnitude| ≥ `min_magnitude`. Significant but smaller changes
   stay as segment boundaries (the level did move; modelling it keeps σ_b² honest) but are not
   reported. `newest_flagged` = a reported change point starts at the newest night; `newest`
   always carries the newest night's own test, reported or not.
5. **Pooling** (`detect_many`, `detect_frame`): series with fewer than `pool_below_df` own degrees
   of freedom borrow night variance from the other series of the call (`pooling.py`).

Defaults (p_value 0.001, min_magnitude 5 %, candidate_penalty 3, min_segment 2, min_history 5,
pool_below_df 20) come from `simulation.py`; the numbers are in docs/meshmark.md ("Uncertainty
and change points"): ≤ 0.2 % false alarms per series-night across realistic noise, a 10 % step
found on its first night in 98 / 82 / 55 / 31 % of series at 1.5 / 2 / 2.5 / 3 % per-night noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import ruptures as rpt
from scipy import special

from meshmark_tasks.stats.errors import StatsInputError
from meshmark_tasks.stats.nights import Nights, frame_nights, series_nights
from meshmark_tasks.stats.pooling import NO_PRIOR, VariancePrior, estimate_prior
from meshmark_tasks.stats.values import FloatArray, Scale, check_level, check_scale

Direction = Literal["increase", "decrease"]
Status = Literal["ok", "insufficient_history", "error"]
MEDIAN_VARIANCE_FACTOR = math.pi / 2  # var(median) / var(mean) of normal samples, n large (conservative)
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class ChangePointConfig:
    p_value: float = 0.001  # two-sided significance a change point must reach
    min_magnitude: float = 0.05  # smallest |relative change| reported
    min_change: float = 0.0  # linear scale only: smallest |absolute change| reported
    min_history: int = 5  # nights before the newest needed for any test
    min_segment: int = 2  # nights on each side of a past change point (the newest may stand alone)
    candidate_penalty: float = 3.0  # ruptures penalty, in units of night variance × ln(nights)
    scale: Scale = "log"
    level: float = 0.95  # confidence level of the magnitude's interval
    pool: bool = True  # detect_many/detect_frame: borrow night variance across the series (pooling.py)
    pool_below_df: int = 20  # … only for series with fewer own degrees of freedom (short histories)
    max_prior_df: float = 30.0  # at most this many degrees of freedom borrowed

    def __post_init__(self) -> None:
        check_scale(self.scale)
        check_level(self.level, "level")
        if not 0.0 < self.p_value < 1.0:
            raise StatsInputError(f"p_value: expected a probability in (0, 1), got {self.p_value!r}")
        if min(self.min_magnitude, self.min_change, self.candidate_penalty, self.max_prior_df) < 0:
            raise StatsInputError(
                "min_magnitude, min_change, candidate_penalty and max_prior_df must not be negative"
            )
        if self.min_segment < 1 or self.min_history < 2:
            raise StatsInputError(
                f"need min_segment >= 1 and min_history >= 2, got {self.min_segment}, {self.min_history}"
            )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChangePoint:
    """A level change starting at night `index` (0 = the series' oldest night)."""

    index: int
    night: Any  # the night key (run sequence number, run id, date) of the first night at the new level
    before: float  # level of the segment before (geometric mean of night medians on the log scale)
    after: float  # level of the segment from `night` on
    magnitude: float | None  # relative change after/before − 1 (None on the linear scale at before = 0)
    lower: float | None  # CI of magnitude at `level`
    upper: float | None
    change: float  # after − before, in the metric's units
    p_value: float
    direction: Direction
    nights_before: int  # nights in the two segments compared
    nights_after: int
    reported: bool = True  # False for the newest night's test when it is not a reported change


@dataclass(frozen=True)
class SeriesDetection:
    status: Status
    nights: int
    n_values: int
    n_missing: int
    change_points: tuple[ChangePoint, ...]  # reported, oldest first
    newest: ChangePoint | None  # the newest night tested as a change point, reported or not
    sigma_within: float | None  # repetition sd within a night, on the scale (log: ≈ CV)
    sigma_between: float | None  # night-to-night sd of the level, on the scale
    df: float | None  # degrees of freedom of the tests (own + borrowed)
    config: ChangePointConfig = field(repr=False)
    message: str | None = None  # why status is not "ok"
    night_variance: float | None = None  # own variance of a night value around its segment (pooling input)
    own_df: int | None = None  # nights − segments
    prior_df: float = 0.0  # degrees of freedom borrowed from other series (0 = none)

    @property
    def newest_flagged(self) -> bool:
        return self.newest is not None and self.newest.reported


# -- the core, on one series' nights -------------------------------------------------------------------


@dataclass
class _Fit:
    bounds: np.ndarray  # first index of each segment but the first
    p: FloatArray  # per bound
    diff: FloatArray
    se: FloatArray
    means: FloatArray  # per segment, weighted
    sizes: np.ndarray
    df: float  # of the test: nights − segments (+ the prior's, when pooled)
    own_df: int  # nights − segments
    night_variance: float  # this series' own RSS / own_df (what pooling shrinks)
    sigma_b2: float


def _within_parts(nights: Nights) -> tuple[FloatArray, float | None]:
    """c(n_j)·σ_w²/n_j per night and σ_w² (None when no night has two repetitions)."""
    df_w = int((nights.n - 1).sum())
    if df_w == 0:
        return np.zeros(nights.size), None
    sigma_w2 = float(nights.ss.sum()) / df_w
    factor = np.where(nights.n >= 3, MEDIAN_VARIANCE_FACTOR, 1.0)
    return factor * sigma_w2 / nights.n, sigma_w2


def _fit(v: FloatArray, within: FloatArray, bounds: np.ndarray, prior: VariancePrior) -> _Fit | None:
    """Variance components and boundary tests for one segmentation; None when df < 1."""
    t_n = v.size
    starts = np.concatenate([[0], bounds]).astype(np.intp)
    sizes = np.diff(np.concatenate([starts, [t_n]]))
    own_df = t_n - starts.size
    if own_df < 1:
        return None
    segment = np.repeat(np.arange(starts.size), sizes)
    plain_means = np.add.reduceat(v, starts) / sizes
    rss = float(((v - plain_means[segment]) ** 2).sum())
    shrink = 1.0 - 1.0 / sizes[segment]  # E[RSS] = Σ shrink_j · τ_j²,  Σ shrink_j = own_df
    night_variance = rss / own_df
    moderated, df = prior.moderate(night_variance, own_df)
    sigma_b2 = max(0.0, moderated - float((shrink * within).sum()) / own_df)
    tau2 = sigma_b2 + within
    if not np.any(tau2 > 0):  # a noiseless series: every night equal within its segment
        tau2 = np.full(t_n, np.finfo(float).tiny)
    weight = 1.0 / tau2
    total = np.add.reduceat(weight, starts)
    means = np.add.reduceat(weight * v, starts) / total
    diff = means[1:] - means[:-1]
    se = np.sqrt(1.0 / total[1:] + 1.0 / total[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(diff == 0, 0.0, np.abs(diff) / se)
    p = 2.0 * special.stdtr(df, -t)  # Student's t sf; the ufunc, ~50× faster than stats.t.sf per call
    return _Fit(bounds, p, diff, se, means, sizes, df, own_df, night_variance, sigma_b2)


def _candidates(v: FloatArray, config: ChangePointConfig) -> np.ndarray:
    """Boundaries proposed by ruptures (first index of each new segment), plus the newest night."""
    t_n = v.size
    found: list[int] = []
    if t_n >= 2 * config.min_segment and config.candidate_penalty > 0:
        steps = np.diff(v)
        noise = MAD_TO_SIGMA * float(np.median(np.abs(steps - np.median(steps)))) / math.sqrt(2)
        if noise == 0:
            noise = float(steps.std()) / math.sqrt(2)
        if noise > 0:
            penalty = config.candidate_penalty * noise**2 * math.log(t_n)
            algo = rpt.KernelCPD(kernel="linear", min_size=config.min_segment, jump=1)
            found = [int(b) for b in algo.fit(v.reshape(-1, 1)).predict(pen=penalty)[:-1]]
    found.append(t_n - 1)
    return np.unique(np.asarray(found, dtype=np.intp))


def _eliminate(
    v: FloatArray, within: FloatArray, bounds: np.ndarray, p_value: float, prior: VariancePrior
) -> _Fit | None:
    """Drop the least significant boundary until all pass (or none is left)."""
    while True:
        fit = _fit(v, within, bounds, prior)
        if fit is None:  # more boundaries than the nights can carry (no df left): drop the oldest
            if bounds.size == 0:
                return None
            bounds = np.delete(bounds, 0)
            continue
        if bounds.size == 0:
            return fit
        worst = int(np.argmax(fit.p))
        if fit.p[worst] <= p_value:
            return fit
        bounds = np.delete(bounds, worst)


def _change_point(nights: Nights, fit: _Fit, i: int, config: ChangePointConfig) -> ChangePoint:
    index = int(fit.bounds[i])
    t_quantile = float(special.stdtrit(fit.df, 0.5 + config.level / 2.0))  # stats.t.ppf, as a ufunc
    before_log, after_log = float(fit.means[i]), float(fit.means[i + 1])
    diff, se = float(fit.diff[i]), float(fit.se[i])
    low, high = diff - t_quantile * se, diff + t_quantile * se
    if config.scale == "log":
        before, after = math.exp(before_log), math.exp(after_log)
        magnitude: float | None = math.expm1(diff)
        lower: float | None = math.expm1(low)
        upper: float | None = math.expm1(high)
        big_enough = abs(math.expm1(diff)) >= config.min_magnitude
    else:
        before, after = before_log, after_log
        scale = abs(before)
        magnitude = diff / scale if scale > 0 else None
        lower = low / scale if scale > 0 else None
        upper = high / scale if scale > 0 else None
        relative_ok = magnitude is None or abs(magnitude) >= config.min_magnitude
        big_enough = abs(diff) >= config.min_change and relative_ok
    return ChangePoint(
        index=index,
        night=_plain(nights.labels[index]),
        before=before,
        after=after,
        magnitude=magnitude,
        lower=lower,
        upper=upper,
        change=after - before,
        p_value=float(fit.p[i]),
        direction="increase" if diff > 0 else "decrease",
        nights_before=int(fit.sizes[i]),
        nights_after=int(fit.sizes[i + 1]),
        reported=bool(fit.p[i] <= config.p_value and big_enough),
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def detect_nights(
    nights: Nights, config: ChangePointConfig, prior: VariancePrior = NO_PRIOR
) -> SeriesDetection:
    """The detector on a prepared night table (what both public entry points call)."""
    within, sigma_w2 = _within_parts(nights)
    sigma_within = math.sqrt(sigma_w2) if sigma_w2 is not None else None
    base = SeriesDetection(
        "insufficient_history",
        nights=nights.size,
        n_values=int(nights.n.sum()),
        n_missing=nights.n_missing,
        change_points=(),
        newest=None,
        sigma_within=sigma_within,
        sigma_between=None,
        df=None,
        config=config,
    )
    if nights.size - 1 < config.min_history:
        message = f"{nights.size - 1} night(s) before the newest; at least {config.min_history} needed"
        return replace(base, message=message)
    v = nights.value
    fit = _eliminate(v, within, _candidates(v, config), config.p_value, prior)
    if fit is None:  # cannot happen with min_history >= 2: one segment always has df >= 1
        raise AssertionError("no segmentation with a degree of freedom")
    newest_index = nights.size - 1
    points = [_change_point(nights, fit, i, config) for i in range(fit.bounds.size)]
    newest: ChangePoint | None = None
    if newest_index in set(fit.bounds.tolist()):
        newest = points[-1]
    else:
        # The newest night was eliminated as a boundary: still say how it compares with its segment.
        probe = _fit(v, within, np.append(fit.bounds, newest_index), prior)
        if probe is not None:
            newest = replace(_change_point(nights, probe, probe.bounds.size - 1, config), reported=False)
    return replace(
        base,
        status="ok",
        change_points=tuple(cp for cp in points if cp.reported),
        newest=newest,
        sigma_between=math.sqrt(fit.sigma_b2),
        df=fit.df,
        night_variance=fit.night_variance,
        own_df=fit.own_df,
        prior_df=prior.df,
    )


# -- public entry points ---------------------------------------------------------------------------------


def detect_change_points(
    values: Any, nights: Any, config: ChangePointConfig | None = None, prior: VariancePrior = NO_PRIOR
) -> SeriesDetection:
    """Change points of one series.

    `values`: per-repetition measurements (NaN = missing, excluded and counted); `nights`: one key
    per value saying which night (run) it belongs to, orderable (run sequence number, date, …). For
    a series with one value per night, pass `range(len(values))` or the run keys. `prior`: night
    variance borrowed from other series (`pooling.estimate_prior`); `detect_frame` does this itself.
    Raises StatsInputError on ±inf, a missing night key, or a value ≤ 0 on the log scale.
    """
    config = config or ChangePointConfig()
    table = series_nights(values, nights, config.scale)
    if table.size == 0:
        raise StatsInputError(f"values: no values to analyse ({table.n_missing} missing)")
    return detect_nights(table, config, prior)


def detect_many(tables: Sequence[Nights], config: ChangePointConfig | None = None) -> list[SeriesDetection]:
    """The detector on several series of one metric, borrowing night variance across them when
    `config.pool` (two passes: own estimates, then the series with fewer than `pool_below_df` own
    degrees of freedom are moderated towards the common estimate, see pooling.py)."""
    config = config or ChangePointConfig()
    first = [detect_nights(t, config) for t in tables]
    if not config.pool:
        return first
    usable = [d for d in first if d.status == "ok" and d.night_variance is not None and d.own_df]
    prior = estimate_prior(
        [d.night_variance for d in usable if d.night_variance is not None],
        [d.own_df for d in usable if d.own_df is not None],
        config.max_prior_df,
    )
    if prior.df <= 0:
        return first
    pairs = zip(tables, first, strict=True)
    return [detect_nights(t, config, prior) if _borrows(d, config) else d for t, d in pairs]


def _borrows(detection: SeriesDetection, config: ChangePointConfig) -> bool:
    """Pool only where degrees of freedom are scarce: the shrinkage also pulls a quiet series'
    variance up towards its noisier neighbours, which costs power once its own estimate is good."""
    return detection.status == "ok" and (detection.own_df or 0) < config.pool_below_df


SERIES_RESULT_COLUMNS = [
    "status",
    "message",
    "nights",
    "n_values",
    "n_missing",
    "change_points",
    "newest_flagged",
    "newest_magnitude",
    "newest_lower",
    "newest_upper",
    "newest_p_value",
    "newest_before",
    "newest_after",
    "newest_change",
    "sigma_within",
    "sigma_between",
    "df",
    "prior_df",
]
CHANGE_POINT_COLUMNS = [
    "index",
    "night",
    "is_newest",
    "before",
    "after",
    "change",
    "magnitude",
    "lower",
    "upper",
    "p_value",
    "direction",
    "nights_before",
    "nights_after",
]


@dataclass(frozen=True)
class FrameDetection:
    series: pd.DataFrame  # one row per series: the key columns + SERIES_RESULT_COLUMNS
    change_points: pd.DataFrame  # one row per reported change point: key columns + CHANGE_POINT_COLUMNS


def detect_frame(
    frame: pd.DataFrame,
    series: Sequence[str],
    night: str,
    value: str,
    config: ChangePointConfig | None = None,
) -> FrameDetection:
    """`detect_change_points` for every series of a long frame (one row per repetition).

    `series`: the columns that identify a series (e.g. mesh, requested_qps, connections,
    payload_bytes, protocol — nulls are a key value of their own); `night`: the orderable night
    column (e.g. run_seq); `value`: the metric. A series with a bad value (±inf, ≤ 0 on the log
    scale) gets status "error" and the reason in `message`; the others go on.
    """
    config = config or ChangePointConfig()
    keys = list(series)
    table, per_series = frame_nights(frame, keys, night, value, config.scale)
    rows: list[dict[str, Any]] = []
    points: list[dict[str, Any]] = []
    results: dict[tuple[Any, ...], SeriesDetection] = {}
    if len(table):
        codes = table.groupby(keys, sort=False, dropna=False, observed=True).ngroup().to_numpy()
        starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
        ends = np.concatenate([starts[1:], [len(table)]])
        labels = table["night"].to_numpy()
        values = table["value"].to_numpy(dtype=float)
        counts = table["n"].to_numpy(dtype=np.int64)
        squares = table["ss"].to_numpy(dtype=float)
        tables = [
            Nights(labels[a:b], values[a:b], counts[a:b], squares[a:b], 0)
            for a, b in zip(starts, ends, strict=True)
        ]
        key_rows = table[keys].iloc[starts].itertuples(index=False, name=None)
        detections = detect_many(tables, config)
        results = {_key(k): d for k, d in zip(key_rows, detections, strict=True)}
    for record in per_series.to_dict(orient="records"):
        key = tuple(record[k] for k in keys)
        base = dict(zip(keys, key, strict=True))
        missing = int(record["n_missing"])
        detection = results.get(_key(key))
        if record["error"] or detection is None:
            message = record["error"] or f"{value}: no values ({missing} missing)"
            rows.append({**base, **_empty_row(message, missing)})
            continue
        rows.append({**base, **_series_row(detection, missing)})
        for cp in detection.change_points:
            points.append({**base, **_point_row(cp, detection.nights)})
    return FrameDetection(
        pd.DataFrame(rows, columns=[*keys, *SERIES_RESULT_COLUMNS]),
        pd.DataFrame(points, columns=[*keys, *CHANGE_POINT_COLUMNS]),
    )


def _key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """A dict key where every NaN/None/NA is the same null (groupby keys keep them as values)."""
    return tuple(
        None if (k is None or k is pd.NA or (isinstance(k, float) and math.isnan(k))) else _plain(k)
        for k in key
    )


def _empty_row(message: str, missing: int) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(SERIES_RESULT_COLUMNS)
    row.update(status="error", message=message, nights=0, n_values=0, n_missing=missing, change_points=0)
    row["newest_flagged"] = False
    return row


def _series_row(detection: SeriesDetection, missing: int) -> dict[str, Any]:
    newest = detection.newest
    return {
        "status": detection.status,
        "message": detection.message,
        "nights": detection.nights,
        "n_values": detection.n_values,
        "n_missing": missing,
        "change_points": len(detection.change_points),
        "newest_flagged": detection.newest_flagged,
        "newest_magnitude": newest.magnitude if newest else None,
        "newest_lower": newest.lower if newest else None,
        "newest_upper": newest.upper if newest else None,
        "newest_p_value": newest.p_value if newest else None,
        "newest_before": newest.before if newest else None,
        "newest_after": newest.after if newest else None,
        "newest_change": newest.change if newest else None,
        "sigma_within": detection.sigma_within,
        "sigma_between": detection.sigma_between,
        "df": detection.df,
        "prior_df": detection.prior_df,
    }


def _point_row(cp: ChangePoint, nights: int) -> dict[str, Any]:
    return {
        "index": cp.index,
        "night": cp.night,
        "is_newest": cp.index == nights - 1,
        "before": cp.before,
        "after": cp.after,
        "change": cp.change,
        "magnitude": cp.magnitude,
        "lower": cp.lower,
        "upper": cp.upper,
        "p_value": cp.p_value,
        "direction": cp.direction,
        "nights_before": cp.nights_before,
        "nights_after": cp.nights_after,
    }
