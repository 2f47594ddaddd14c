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
    ],
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
    + [pa.field(c, pa.float64()) for c in OVERHEAD_COLUMNS],
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
    ],
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
    "quarantine": QUARANTINE,
}
