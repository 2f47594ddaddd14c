"""Arrow schemas of the Parquet tables: the contract with BI tools.

Each schema carries `meshmark.schema_version` in its metadata. Bump the version (and note it in
docs/data-model.md) on any change that is not a pure addition of a nullable column.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1"

_META = {b"meshmark.schema_version": SCHEMA_VERSION.encode()}

_TS = pa.timestamp("us", tz="UTC")

# Columns that identify a run and partition the dataset; present in every table.
RUN_FIELDS = [
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("run_date", pa.date32(), nullable=False),
]

LOAD_POINT_FIELDS = [
    pa.field("cell_id", pa.string(), nullable=False),
    pa.field("mesh", pa.string(), nullable=False),
    pa.field("mesh_kind", pa.string()),
    pa.field("is_baseline", pa.bool_()),
    pa.field("network_functions", pa.string()),  # comma-separated, sorted; "" for none
    pa.field("requested_qps", pa.float64()),  # null = unthrottled ("max")
    pa.field("connections", pa.int32()),
    pa.field("payload_bytes", pa.int64()),
    pa.field("protocol", pa.string()),
    pa.field("repetition", pa.int32()),
]

# Where a repetition ran in the run's execution order (issue 10: repetitions interleaved in rounds).
# Appended at the end of the tables that carry them; null for rows from sources that do not say
# (imported results, cells run one by one).
EXECUTION_ORDER_FIELDS = [
    pa.field("round", pa.int32()),  # the round the repetition ran in (= repetition for planned runs)
    pa.field("sequence", pa.int32()),  # 0-based position in the run's execution order
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

RESULTS = pa.schema(
    RUN_FIELDS
    + [pa.field("profile", pa.string()), pa.field("backend", pa.string())]
    + LOAD_POINT_FIELDS
    + [
        pa.field("load_generator", pa.string()),
        pa.field("load_generator_version", pa.string()),
        pa.field("start_time", _TS),
        pa.field("end_time", _TS),
        pa.field("duration_s", pa.float64()),
        pa.field("actual_qps", pa.float64()),
        pa.field("requests_total", pa.int64()),
        pa.field("errors_total", pa.int64()),
    ]
    + [pa.field(c, pa.float64()) for c in LATENCY_COLUMNS]
    + [pa.field(c, pa.float64()) for c in RESOURCE_COLUMNS]
    + [
        pa.field("slo_p99_ms", pa.float64()),
        pa.field("error_budget", pa.float64()),
        pa.field("saturated", pa.bool_()),  # the generator could not reach the requested rate
        pa.field("raw_path", pa.string()),  # raw load-generator output, relative to the storage root
    ]
    + EXECUTION_ORDER_FIELDS,
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

MESHMARK = pa.schema(
    RUN_FIELDS
    + LOAD_POINT_FIELDS
    + [pa.field(c, pa.float64()) for c in MUE_COLUMNS]
    + [pa.field(c, pa.float64()) for c in CLASS_COLUMNS]
    + [
        pa.field("scored_classes", pa.string()),  # e.g. "compute,memory,network,delivery"
        pa.field("meshmark", pa.float64()),
    ]
    + [pa.field(c, pa.float64()) for c in OVERHEAD_COLUMNS]
    + EXECUTION_ORDER_FIELDS,
    metadata=_META,
)

# Per mesh configuration and run: MESHMARK.md "Aggregates".
MESHMARK_CONFIG = pa.schema(
    RUN_FIELDS
    + [
        pa.field("mesh", pa.string(), nullable=False),
        pa.field("meshmark_mean", pa.float64()),
        pa.field("meshmark_min", pa.float64()),
        pa.field("cells_scored", pa.int64()),
        # Uncertainty (docs/meshmark.md "The numbers of a run"): one MeshMark per round (mean over
        # its load points), a t-interval of their mean, and the per-round difference from the
        # baseline's, paired within the round. Null with fewer than 2 rounds.
        pa.field("repetitions_used", pa.int64()),  # rounds with a MeshMark
        pa.field("meshmark_ci_low", pa.float64()),
        pa.field("meshmark_ci_high", pa.float64()),
        pa.field("meshmark_delta", pa.float64()),  # points vs the baseline (null for the baseline)
        pa.field("meshmark_delta_ci_low", pa.float64()),
        pa.field("meshmark_delta_ci_high", pa.float64()),
        pa.field("meshmark_delta_p_value", pa.float64()),
        pa.field("meshmark_delta_significant", pa.bool_()),  # p < 0.05; null when no test was possible
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


def _median_fields(metric: str) -> list[pa.Field]:
    return [pa.field(f"{metric}_{part}", pa.float64()) for part in ("median", "ci_low", "ci_high")]


def _delta_fields(name: str, unit: str) -> list[pa.Field]:
    return [
        pa.field(f"{name}{unit}", pa.float64()),
        pa.field(f"{name}{unit}_ci_low", pa.float64()),
        pa.field(f"{name}{unit}_ci_high", pa.float64()),
        pa.field(f"{name}_p_value", pa.float64()),
        pa.field(f"{name}_significant", pa.bool_()),
    ]


# Per run, mesh configuration and load point: the summary of its repetitions (issue 10).
MESHMARK_SUMMARY = pa.schema(
    RUN_FIELDS
    + [f for f in LOAD_POINT_FIELDS if f.name not in ("cell_id", "repetition")]
    + [
        pa.field("repetitions_used", pa.int32()),  # scored repetitions summarised
        pa.field("ci_level", pa.float64()),  # coverage the median CIs achieve with that many values
    ]
    + [f for metric in SUMMARY_MEDIAN_METRICS for f in _median_fields(metric)]
    + [pa.field("pairs_used", pa.int32())]  # rounds paired with the baseline (null for the baseline)
    + [f for name in SUMMARY_PAIRED_DELTAS for f in _delta_fields(name, "_pct")]
    + _delta_fields("meshmark_delta", ""),
    metadata=_META,
)

QUARANTINE = pa.schema(
    RUN_FIELDS
    + [
        pa.field("cell_id", pa.string()),
        pa.field("mesh", pa.string()),
        pa.field("stage", pa.string(), nullable=False),  # run | parse | validation
        pa.field("reasons", pa.list_(pa.string()), nullable=False),
        pa.field("row_json", pa.string()),  # the whole rejected row, so nothing is lost
        pa.field("raw_path", pa.string()),
    ],
    metadata=_META,
)

TABLES: dict[str, pa.Schema] = {
    "results": RESULTS,
    "meshmark": MESHMARK,
    "meshmark_config": MESHMARK_CONFIG,
    "meshmark_summary": MESHMARK_SUMMARY,
    "quarantine": QUARANTINE,
}
