"""The normalized result: what every load generator's output is read into."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

LATENCY_FIELDS: tuple[str, ...] = (
    "latency_ms_min",
    "latency_ms_mean",
    "latency_ms_p50",
    "latency_ms_p75",
    "latency_ms_p90",
    "latency_ms_p99",
    "latency_ms_p999",
    "latency_ms_max",
)

# The latencies that must not decrease in this order (the mean may lie anywhere between min and max).
ORDERED_LATENCY_FIELDS: tuple[str, ...] = tuple(f for f in LATENCY_FIELDS if f != "latency_ms_mean")


def latency_order_problem(latencies: Mapping[str, float | None]) -> str | None:
    """Why the given latencies are out of order (e.g. p50 above p99), or None; absent ones are skipped."""
    present = [(f, v) for f in ORDERED_LATENCY_FIELDS if (v := latencies.get(f)) is not None]
    # A small tolerance: tools interpolate percentiles inside histogram buckets.
    for (lo_name, lo), (hi_name, hi) in itertools.pairwise(present):
        if lo > hi * (1 + 1e-9) + 1e-12:
            return f"{lo_name} ({lo} ms) is greater than {hi_name} ({hi} ms)"
    return None


class NormalizedResult(BaseModel):
    """One load generator run, in common units: milliseconds, seconds, requests per second.

    Percentiles a tool does not report are None (never guessed). Validation here is structural
    (types, non-negative, ordered); judging a measurement (enough QPS, error budget) is the
    Great Expectations step's job, so a questionable run is quarantined rather than lost.
    """

    model_config = ConfigDict(extra="forbid")

    load_generator: str
    load_generator_version: str | None = None
    protocol: str = "http"
    requested_qps: float | None = Field(default=None, description="None when unthrottled (max)")
    actual_qps: float = Field(ge=0)
    connections: int | None = Field(default=None, ge=0)
    duration_s: float = Field(ge=0)
    requests_total: int = Field(ge=0)
    errors_total: int = Field(ge=0)
    latency_ms_min: float | None = Field(default=None, ge=0)
    latency_ms_mean: float | None = Field(default=None, ge=0)
    latency_ms_p50: float | None = Field(default=None, ge=0)
    latency_ms_p75: float | None = Field(default=None, ge=0)
    latency_ms_p90: float | None = Field(default=None, ge=0)
    latency_ms_p99: float | None = Field(default=None, ge=0)
    latency_ms_p999: float | None = Field(default=None, ge=0)
    latency_ms_max: float | None = Field(default=None, ge=0)
    start_time: datetime | None = None
    end_time: datetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> NormalizedResult:
        if self.errors_total > self.requests_total:
            raise ValueError(f"errors_total {self.errors_total} exceeds requests_total {self.requests_total}")
        problem = latency_order_problem({f: getattr(self, f) for f in ORDERED_LATENCY_FIELDS})
        if problem is not None:
            raise ValueError(problem)
        return self
