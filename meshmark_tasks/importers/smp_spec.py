"""The parts of the Service Mesh Performance (SMP) protos the export uses, and the document around them.

Field names are those of service-mesh-performance's `protos/service_mesh_performance.proto` and
`protos/service_mesh.proto` (revision 290495f2: snake_case `actual_qps`, `test_id`,
`mesh_config_id`, `env_id`; enums `PROTOCOL_HTTP`…, `ISTIO`…). The JSON follows the proto3 JSON
mapping with the proto field names kept (as `preserving_proto_field_name` does): int64 as a string,
enums by name, Timestamp as RFC 3339 in UTC. Readers also accept the lowerCamelCase JSON names.

SMP defines messages, not a file: the export is a meshmark document holding one
PerformanceTestConfig, the ServiceMeshConfigs and one PerformanceTestResult per cell, plus the
`meshmark_extension` object with what SMP has no field for (see docs/import-export.md).
"""

from __future__ import annotations

DOCUMENT_KIND = "meshmark.smp-export"
# The proto revision the mapping follows; SMP has no release number in its protos.
SMP_VERSION = "smp-protos@290495f2"
EXTENSION_KEY = "meshmark_extension"
EXTENSION_VERSION = "1"
LABEL_PREFIX = "meshmark."

TOP_LEVEL_KEYS = (
    "kind",
    "smp_version",
    "performance_test_config",
    "service_mesh_configs",
    "performance_test_results",
    EXTENSION_KEY,
)

# Message → its fields (proto names), to refuse unknown fields and to accept lowerCamelCase.
PERFORMANCE_TEST_RESULT_FIELDS = (
    "smp_version",
    "id",
    "labels",
    "start_time",
    "end_time",
    "latencies_ms",
    "actual_qps",
    "details_uri",
    "test_id",
    "mesh_config_id",
    "env_id",
)
LATENCY_FIELDS = ("min", "average", "p50", "p90", "p99", "max")
PERFORMANCE_TEST_CONFIG_FIELDS = ("smp_version", "id", "name", "labels", "clients", "duration")
CLIENT_FIELDS = (
    "internal",
    "load_generator",
    "protocol",
    "connections",
    "rps",
    "headers",
    "cookies",
    "body",
    "content_type",
    "endpoint_urls",
    "ssl_certificate",
    "additional_options",
)
SERVICE_MESH_CONFIG_FIELDS = (
    "smp_version",
    "id",
    "labels",
    "ingress_gateway",
    "sidecar",
    "mesh_telemetry",
    "mesh_policy",
    "mesh_control_plane",
    "mesh_policy_enabled",
    "mesh_telemetry_enabled",
    "mtls_enabled",
    "proxy_concurrency",
    "mesh_build",
    "proxy_build",
    "exp_group_uuid",
    "exp_uuid",
    "profile",
    "mesh_type",
    "application_metadata",
)
SERVICE_MESH_FIELDS = ("type", "version", "labels", "annotations")

# results column ↔ PerformanceTestResult.latencies_ms field.
LATENCY_COLUMNS = {
    "latency_ms_min": "min",
    "latency_ms_mean": "average",
    "latency_ms_p50": "p50",
    "latency_ms_p90": "p90",
    "latency_ms_p99": "p99",
    "latency_ms_max": "max",
}
# results columns carried as PerformanceTestResult labels (meshmark.<column>), as strings.
LABEL_COLUMNS = (
    "cell_id",
    "mesh",
    "repetition",
    "requested_qps",
    "connections",
    "payload_bytes",
    "protocol",
    "load_generator",
)
# results columns carried by PerformanceTestResult fields themselves.
FIELD_COLUMNS = ("start_time", "end_time", "actual_qps", *LATENCY_COLUMNS)
UNTHROTTLED = "max"

# PerformanceTestConfig.Client.Protocol
PROTOCOLS = {"http": "PROTOCOL_HTTP", "tcp": "PROTOCOL_TCP", "udp": "PROTOCOL_UDP", "grpc": "PROTOCOL_GRPC"}
PROTOCOL_NUMBERS = {
    "PROTOCOL_INVALID": 0,
    "PROTOCOL_HTTP": 1,
    "PROTOCOL_TCP": 2,
    "PROTOCOL_UDP": 3,
    "PROTOCOL_GRPC": 4,
}

# mesh_kind → ServiceMesh.Type
MESH_TYPES = {
    "app-mesh": "APP_MESH",
    "appmesh": "APP_MESH",
    "consul": "CONSUL",
    "istio": "ISTIO",
    "istio-ambient": "ISTIO",  # the data-plane mode travels in the meshmark labels
    "kuma": "KUMA",
    "linkerd": "LINKERD",
    "traefik-mesh": "TRAEFIK_MESH",
    "octarine": "OCTARINE",
    "network-service-mesh": "NETWORK_SERVICE_MESH",
    "tanzu": "TANZU",
    "open-service-mesh": "OPEN_SERVICE_MESH",
    "osm": "OPEN_SERVICE_MESH",
    "nginx-service-mesh": "NGINX_SERVICE_MESH",
    "cilium": "CILIUM_SERVICE_MESH",
    "cilium-service-mesh": "CILIUM_SERVICE_MESH",
}
MESH_TYPE_NAMES = frozenset(MESH_TYPES.values()) | {"INVALID_MESH"}


def camel(name: str) -> str:
    """The proto3 JSON name of a field: lowerCamelCase."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
