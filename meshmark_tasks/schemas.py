"""Arrow schemas of the Parquet tables: the contract with BI tools.

Each schema carries `meshmark.schema_version` in its metadata. Bump the version (and note it in
docs/data-model.md) on any change that is not a pure addition of a nullable column.

Every column with a unit carries it in its field metadata (`unit`: `ms`, `bytes`, `cores`, ...), the
same text as the unit column of docs/data-model.md (tests/storage/test_schema_docs.py keeps the two
in step): a reader gets units from the file itself, and existing columns keep their names (BI
dashboards select them by name).
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "2"

_META = {b"meshmark.schema_version": SCHEMA_VERSION.encode()}

_TS = pa.timestamp("us", tz="UTC")
UNIT_KEY = b"unit"

# The unit of the cost column: the profile's `prices.currency` (ISO 4217), stored per row in
# `cost_currency`.
COST_UNIT = "cost_currency per 10^6 requests"


def _field(name: str, type_: pa.DataType, unit: str | None = None, *, nullable: bool = True) -> pa.Field:
    metadata = {UNIT_KEY: unit.encode()} if unit else None
    return pa.field(name, type_, nullable=nullable, metadata=metadata)


def unit_of(field: pa.Field) -> str | None:
    """A column's unit from its field metadata; None for unitless columns."""
    value = (field.metadata or {}).get(UNIT_KEY)
    return value.decode() if value is not None else None


# Columns that identify a run and partition the dataset; present in every table.
RUN_FIELDS = [
    _field("run_id", pa.string(), nullable=False),
    _field("run_date", pa.date32(), "date", nullable=False),
]
RUN_COLUMNS = ("run_id", "run_date")

# The run every row belongs to, for readers of one table that want to order runs within a day or
# filter by profile and backend without a join (appended to each table: new nullable columns).
RUN_TS = _field("run_ts", _TS, "UTC")
PROFILE = _field("profile", pa.string())
BACKEND = _field("backend", pa.string())
RUN_CONTEXT_COLUMNS = ("run_ts", "profile", "backend")
# Columns of meshmark / meshmark_config that describe the run rather than the scores: the pipeline
# sets them when it writes a run (scoring neither needs nor fills them).
RUN_LEVEL_COLUMNS = (*RUN_CONTEXT_COLUMNS, "cost_currency", "load_points_planned", "partial")

LOAD_POINT_FIELDS = [
    _field("cell_id", pa.string(), nullable=False),
    _field("mesh", pa.string(), nullable=False),
    _field("mesh_kind", pa.string()),
    _field("is_baseline", pa.bool_()),
    _field("network_functions", pa.string()),  # comma-separated, sorted; "" for none
    _field("requested_qps", pa.float64(), "requests/s"),  # null = unthrottled ("max")
    _field("connections", pa.int32(), "count"),
    _field("payload_bytes", pa.int64(), "bytes"),
    _field("protocol", pa.string()),
    _field("repetition", pa.int32(), "index"),
]

# Where a repetition ran in the run's execution order (issue 10: repetitions interleaved in rounds).
# Appended at the end of the tables that carry them; null for rows from sources that do not say
# (imported results, cells run one by one).
EXECUTION_ORDER_FIELDS = [
    _field("round", pa.int32(), "index"),  # the round the repetition ran in (= repetition for planned runs)
    _field("sequence", pa.int32(), "index"),  # 0-based position in the run's execution order
]

LATENCY_COLUMNS = [
    "latency_ms_min",
    "latency_ms_mean",
    "latency_ms_p50",
    "latency_ms_p75",
    "latency_ms_p90",
    "latency_ms_p99",
    "latency_ms_p999",
    "latency_ms_max",
]

RESOURCE_COLUMNS = [
    "cpu_cores_app",
    "cpu_cores_dataplane",
    "cpu_cores_controlplane",
    "mem_bytes_app",
    "mem_bytes_dataplane",
    "mem_bytes_controlplane",
    "cpu_cores_assigned",
    "mem_bytes_assigned",
]


def _resource_unit(column: str) -> str:
    return "cores" if column.startswith("cpu_") else "bytes"


RESULTS = pa.schema(
    RUN_FIELDS
    + [PROFILE, BACKEND]
    + LOAD_POINT_FIELDS
    + [
        _field("load_generator", pa.string()),
        _field("load_generator_version", pa.string()),
        _field("start_time", _TS, "UTC"),
        _field("end_time", _TS, "UTC"),
        _field("duration_s", pa.float64(), "s"),
        _field("actual_qps", pa.float64(), "requests/s"),
        _field("requests_total", pa.int64(), "count"),
        _field("errors_total", pa.int64(), "count"),
    ]
    + [_field(c, pa.float64(), "ms") for c in LATENCY_COLUMNS]
    + [_field(c, pa.float64(), _resource_unit(c)) for c in RESOURCE_COLUMNS]
    + [
        _field("slo_p99_ms", pa.float64(), "ms"),
        _field("error_budget", pa.float64(), "fraction"),
        _field("saturated", pa.bool_()),  # the generator could not reach the requested rate
        _field("raw_path", pa.string()),  # raw load-generator output, relative to the storage root
    ]
    + EXECUTION_ORDER_FIELDS
    + [RUN_TS],
    metadata=_META,
)

MUE_COLUMNS = [
    "mue_cpu",
    "mue_cpu_overhead",
    "mue_mem",
    "mue_mem_overhead",
    "mue_latency_slo",
    "mue_latency_overhead",
    "mue_throughput",
    "mue_success",
]
CLASS_COLUMNS = ["class_compute", "class_memory", "class_network", "class_delivery"]
OVERHEAD_COLUMNS = [
    "delta_p50_ms",
    "delta_p50_pct",
    "delta_p99_ms",
    "delta_p99_pct",
    "delta_cpu_cores_per_kqps",
    "delta_mem_mib",
    "mesh_cost_per_million_requests",
]
_OVERHEAD_UNITS = {
    "delta_p50_ms": "ms",
    "delta_p50_pct": "%",
    "delta_p99_ms": "ms",
    "delta_p99_pct": "%",
    "delta_cpu_cores_per_kqps": "cores per 1,000 requests/s",
    "delta_mem_mib": "MiB",
    "mesh_cost_per_million_requests": COST_UNIT,
}

MESHMARK = pa.schema(
    RUN_FIELDS
    + LOAD_POINT_FIELDS
    + [_field(c, pa.float64(), "ratio") for c in MUE_COLUMNS]
    + [_field(c, pa.float64(), "ratio") for c in CLASS_COLUMNS]
    + [
        _field("scored_classes", pa.string()),  # e.g. "compute,memory,network,delivery"
        _field("meshmark", pa.float64(), "0–100"),
    ]
    + [_field(c, pa.float64(), _OVERHEAD_UNITS[c]) for c in OVERHEAD_COLUMNS]
    + EXECUTION_ORDER_FIELDS
    + [RUN_TS, PROFILE, BACKEND, _field("cost_currency", pa.string())],
    metadata=_META,
)

# Per mesh configuration and run: MESHMARK.md "Aggregates".
MESHMARK_CONFIG = pa.schema(
    RUN_FIELDS
    + [
        _field("mesh", pa.string(), nullable=False),
        _field("meshmark_mean", pa.float64(), "0–100"),
        _field("meshmark_min", pa.float64(), "0–100"),
        _field("cells_scored", pa.int64(), "count"),
        # Uncertainty (docs/meshmark.md "The numbers of a run"): one MeshMark per round (mean over
        # its load points), a t-interval of their mean, and the per-round difference from the
        # baseline's, paired within the round. Null with fewer than 2 rounds.
        _field("repetitions_used", pa.int64(), "count"),  # rounds with a MeshMark
        _field("meshmark_ci_low", pa.float64(), "0–100"),
        _field("meshmark_ci_high", pa.float64(), "0–100"),
        _field("meshmark_delta", pa.float64(), "points"),  # vs the baseline (null for the baseline)
        _field("meshmark_delta_ci_low", pa.float64(), "points"),
        _field("meshmark_delta_ci_high", pa.float64(), "points"),
        _field("meshmark_delta_p_value", pa.float64(), "probability"),
        _field("meshmark_delta_significant", pa.bool_()),  # p < 0.05; null when no test was possible
        RUN_TS,
        PROFILE,
        BACKEND,
        # A score from fewer load points than the run planned is not comparable with a full one.
        _field("load_points_planned", pa.int64(), "count"),
        _field("load_points_scored", pa.int64(), "count"),
        _field("partial", pa.bool_()),
    ],
    metadata=_META,
)

# Medians of repetitions with their 95 % CI (order statistics): per metric <m>_median, _ci_low, _ci_high.
SUMMARY_MEDIAN_METRICS = [
    "actual_qps",
    "latency_ms_p50",
    "latency_ms_p99",
    "cpu_cores_dataplane",
    "meshmark",
]
# Overheads against the baseline, paired within rounds (t-test on log ratios): name -> results value.
SUMMARY_PAIRED_DELTAS = {
    "delta_p50": "latency_ms_p50",
    "delta_p99": "latency_ms_p99",
    "delta_cpu": "cpu_cores_used",  # app + data plane + control plane, as MESHMARK.md's cpu_used
}


# The same medians with the machine's speed taken out (stats/adjusted.py): each repetition moved to
# the configuration's median app CPU per request; per metric <m>_adjusted_median, _ci_low, _ci_high.
SUMMARY_ADJUSTED_METRICS = ["latency_ms_p50", "latency_ms_p99", "cpu_cores_dataplane"]

_SUMMARY_MEDIAN_UNITS = {
    "actual_qps": "requests/s",
    "latency_ms_p50": "ms",
    "latency_ms_p99": "ms",
    "cpu_cores_dataplane": "cores",
    "meshmark": "0–100",
}


def _median_fields(metric: str) -> list[pa.Field]:
    unit = _SUMMARY_MEDIAN_UNITS[metric]
    return [_field(f"{metric}_{part}", pa.float64(), unit) for part in ("median", "ci_low", "ci_high")]


def _adjusted_fields(metric: str) -> list[pa.Field]:
    unit = _SUMMARY_MEDIAN_UNITS[metric]
    return [
        _field(f"{metric}_adjusted_{part}", pa.float64(), unit) for part in ("median", "ci_low", "ci_high")
    ]


def _delta_fields(name: str, suffix: str) -> list[pa.Field]:
    unit = "%" if suffix == "_pct" else "points"
    return [
        _field(f"{name}{suffix}", pa.float64(), unit),
        _field(f"{name}{suffix}_ci_low", pa.float64(), unit),
        _field(f"{name}{suffix}_ci_high", pa.float64(), unit),
        _field(f"{name}_p_value", pa.float64(), "probability"),
        _field(f"{name}_significant", pa.bool_()),
    ]


# Per run, mesh configuration and load point: the summary of its repetitions (issue 10).
MESHMARK_SUMMARY = pa.schema(
    RUN_FIELDS
    + [f for f in LOAD_POINT_FIELDS if f.name not in ("cell_id", "repetition")]
    + [
        _field("repetitions_used", pa.int32(), "count"),  # scored repetitions summarised
        _field("ci_level", pa.float64(), "probability"),  # coverage of the median CIs at that n
    ]
    + [f for metric in SUMMARY_MEDIAN_METRICS for f in _median_fields(metric)]
    + [_field("pairs_used", pa.int32(), "count")]  # rounds paired with the baseline (null for the baseline)
    + [f for name in SUMMARY_PAIRED_DELTAS for f in _delta_fields(name, "_pct")]
    + _delta_fields("meshmark_delta", "")
    # The speed the adjusted medians refer to: the median of the repetitions' app CPU per request.
    + [_field("app_cpu_ms_per_request_median", pa.float64(), "ms")]
    + [f for metric in SUMMARY_ADJUSTED_METRICS for f in _adjusted_fields(metric)]
    + [RUN_TS, PROFILE, BACKEND],
    metadata=_META,
)

QUARANTINE = pa.schema(
    RUN_FIELDS
    + [
        _field("cell_id", pa.string()),
        _field("mesh", pa.string()),
        _field("stage", pa.string(), nullable=False),  # run | parse | validation
        _field("reasons", pa.list_(pa.string()), nullable=False),
        _field("row_json", pa.string(), "JSON"),  # the whole rejected row, so nothing is lost
        _field("raw_path", pa.string()),
        # `reasons` as one string, for tools that handle list columns poorly (Superset, CSV exports).
        _field("reasons_text", pa.string()),
        RUN_TS,
        PROFILE,
        BACKEND,
    ],
    metadata=_META,
)
REASONS_SEPARATOR = "; "

# One row per run: what ran, with what, and how its data came out (run_summaries/<run>.json has the rest).
RUNS = pa.schema(
    RUN_FIELDS
    + [
        _field("run_ts", _TS, "UTC", nullable=False),
        PROFILE,
        BACKEND,
        _field("data_quality", pa.string(), nullable=False),  # passed | passed_with_quarantine | failed
        _field("cells_planned", pa.int64(), "count"),
        _field("cells_scored", pa.int64(), "count"),
        _field("cells_quarantined", pa.int64(), "count"),
        _field("meshes_fully_quarantined", pa.string()),  # comma-separated, sorted; "" for none
        _field("load_generator", pa.string()),
        _field("load_generator_version", pa.string()),
        _field("tool_versions", pa.string()),  # "name=version" pairs, comma-separated, sorted
        _field("images", pa.string()),  # "role=image" pairs of the pods (kubernetes), comma-separated
        _field("meshmark_version", pa.string()),
        _field("written_at", _TS, "UTC"),
    ],
    metadata=_META,
)

TABLES: dict[str, pa.Schema] = {
    "results": RESULTS,
    "meshmark": MESHMARK,
    "meshmark_config": MESHMARK_CONFIG,
    "meshmark_summary": MESHMARK_SUMMARY,
    "quarantine": QUARANTINE,
    "runs": RUNS,
}
