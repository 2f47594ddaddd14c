"""Performance profiles: what to test, against what, and how to judge it.

A profile is a YAML file validated with pydantic. Errors name the file and the field path so an SRE
editing a profile before a mesh upgrade sees exactly which line to fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from meshmark_tasks.cell_ids import MAX_CELL_ID_LENGTH, cell_id_for, qps_label
from meshmark_tasks.config import MAX_CELLS_ENV, max_matrix_cells
from meshmark_tasks.documents import load_yaml
from meshmark_tasks.errors import InputFileError, ProfileError
from meshmark_tasks.input_files import read_input_text

MUE_NAMES: tuple[str, ...] = (
    "mue_cpu",
    "mue_cpu_overhead",
    "mue_mem",
    "mue_mem_overhead",
    "mue_latency_slo",
    "mue_latency_overhead",
    "mue_throughput",
    "mue_success",
)

MeshKind = Literal["baseline", "local-sidecar", "istio", "istio-ambient", "linkerd", "consul", "cilium"]
NetworkFunction = Literal["mtls", "telemetry", "retries", "traffic_split"]
# Functions that need an L7 proxy: Istio ambient's ztunnel is L4 only (they need a waypoint), and
# Cilium handles them in its per-node Envoy only for traffic an L7 policy sends there.
L7_NETWORK_FUNCTIONS: frozenset[str] = frozenset({"retries", "traffic_split"})
LoadGeneratorTool = Literal["fortio", "nighthawk", "wrk2", "k6"]
Protocol = Literal["http", "grpc"]

# DNS-1123 label: mesh names end up in cell ids, Kubernetes object names and Airflow map labels.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


# A profile is a hand-written YAML file; a megabyte is far more than any real one, and it bounds
# what PyYAML (pure Python where libyaml is missing) has to parse before validation starts.
MAX_PROFILE_BYTES = 1024 * 1024


class _Strict(BaseModel):
    # YAML reads `.inf` and `.nan` as floats: `qps: [.inf]` used to validate and then overflow
    # when the cell ran. No number in a profile may be infinite or NaN.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# YAML reads `true` as a boolean and pydantic's lax mode takes it as 1 (`qps: [true]` became
# 1 QPS). Strict numbers accept ints and floats (an int where a float is meant) but no booleans
# and no numeric strings.
Number = Annotated[float, Strict()]
WholeNumber = Annotated[int, Strict()]


# Kubernetes quantity suffixes. kubernetes.utils.parse_quantity implements the same grammar, but
# importing it loads the whole Kubernetes client (about 10 s on a busy 2-core worker) just to read
# "500m" in a profile, which every task of every run does.
_QUANTITY_SUFFIXES: dict[str, Decimal] = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+]?[0-9]+(?:\.[0-9]*)?|[+]?\.[0-9]+)(?:([eE][+-]?[0-9]+)|([a-zA-Z]*))$")


def _parse_quantity(value: str | float | int) -> float:
    """Kubernetes quantity ("500m", "256Mi", "1e3", 2) to a plain number (cores or bytes)."""
    if isinstance(value, bool):
        raise ValueError("expected a Kubernetes quantity, not a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{_yaml_repr(value)} is not a finite quantity")
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    text = str(value).strip()
    if text.startswith("-"):
        raise ValueError("must not be negative")
    match = _QUANTITY.match(text)
    if not match or (match.group(3) or "") not in _QUANTITY_SUFFIXES:
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    number, exponent, suffix = match.groups()
    amount = float(
        Decimal(number) * (Decimal(f"1{exponent}") if exponent else _QUANTITY_SUFFIXES[suffix or ""])
    )
    if not math.isfinite(amount):  # "1e400" is a quantity by the grammar, but no float holds it
        raise ValueError(f"{value!r} is too large")
    return amount


class ResourceAmounts(_Strict):
    cpu: float | None = Field(default=None, description="cores, or a Kubernetes quantity such as 500m")
    memory: float | None = Field(default=None, description="bytes, or a Kubernetes quantity such as 256Mi")

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> float | None:
        return None if value is None else _parse_quantity(value)


class ComponentResources(_Strict):
    """Kubernetes-style requests and limits of one component (one container)."""

    requests: ResourceAmounts = ResourceAmounts()
    limits: ResourceAmounts = ResourceAmounts()

    @property
    def assigned_cpu(self) -> float:
        # MESHMARK.md: assigned = the limit, or the request where there is no limit.
        return self.limits.cpu if self.limits.cpu is not None else (self.requests.cpu or 0.0)

    @property
    def assigned_memory(self) -> float:
        if self.limits.memory is not None:
            return self.limits.memory
        return self.requests.memory or 0.0


class MeshResources(_Strict):
    app: ComponentResources = ComponentResources()
    dataplane: ComponentResources = Field(
        default=ComponentResources(), description="per proxy; multiplied by dataplane_proxies"
    )
    dataplane_proxies: WholeNumber = Field(default=0, ge=0, le=10_000, description="proxies in the data path")
    controlplane: ComponentResources = ComponentResources()


class MeshConfig(_Strict):
    name: str = Field(max_length=30)
    kind: MeshKind
    network_functions: tuple[NetworkFunction, ...] = ()
    resources: MeshResources = MeshResources()
    description: str = ""
    waypoint: bool = Field(
        default=False,
        description="istio-ambient only: route the app's traffic through a waypoint proxy (L7)",
    )

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError("must be lowercase letters, digits and '-' (a DNS-1123 label)")
        return value

    @model_validator(mode="after")
    def _waypoint_fits_the_kind(self) -> MeshConfig:
        if self.waypoint and self.kind != "istio-ambient":
            raise ValueError(f"waypoint: only istio-ambient meshes have waypoints, not {self.kind}")
        l7 = sorted(set(self.network_functions) & L7_NETWORK_FUNCTIONS)
        if self.kind == "istio-ambient" and l7 and not self.waypoint:
            raise ValueError(
                f"network_functions: {', '.join(l7)} need an L7 proxy, and ambient's ztunnel is L4 "
                "only: set waypoint: true"
            )
        return self

    @property
    def is_baseline(self) -> bool:
        return self.kind == "baseline"

    @property
    def cpu_cores_assigned(self) -> float:
        r = self.resources
        return (
            r.app.assigned_cpu + r.dataplane.assigned_cpu * r.dataplane_proxies + r.controlplane.assigned_cpu
        )

    @property
    def mem_bytes_assigned(self) -> float:
        r = self.resources
        return (
            r.app.assigned_memory
            + r.dataplane.assigned_memory * r.dataplane_proxies
            + r.controlplane.assigned_memory
        )


def _option_scalar(value: Any) -> Any:
    """One message for a load-generator option that is not a scalar, instead of one per type."""
    if not isinstance(value, str | int | float | bool):
        raise ValueError(f"expected a string, number or boolean, got {_yaml_repr(value)}")
    return value


OptionValue = Annotated[str | int | float | bool, BeforeValidator(_option_scalar)]


class LoadGeneratorConfig(_Strict):
    tool: LoadGeneratorTool
    image: str | None = Field(default=None, description="container image for the kubernetes backend")
    options: dict[str, OptionValue] = Field(default_factory=dict)


class TargetConfig(_Strict):
    url: str | None = Field(
        default=None,
        description="in-cluster URL for the kubernetes backend; the local backend starts its own",
    )
    namespace: str | None = None


def _qps_value(value: Any) -> Any:
    """A requested rate: a positive finite number, or "max" (unthrottled). One message for both
    forms instead of pydantic's two (one per member of the union)."""
    if value == "max" and isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f'expected a positive number or "max", got {_yaml_repr(value)}')
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f'expected a positive finite number or "max", got {_yaml_repr(value)}')
    return float(value)


QpsValue = Annotated[float | Literal["max"], BeforeValidator(_qps_value)]

MAX_CONNECTIONS = 100_000
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024


def _no_repeats(values: Sequence[Any]) -> None:
    """A load point listed twice would run every one of its cells twice under the same cell id."""
    seen: list[Any] = []
    for value in values:
        if value in seen:  # 100 and 100.0 are the same load point
            shown = int(value) if isinstance(value, float) and value.is_integer() else value
            raise ValueError(f"{shown!r} is listed twice; each load point may appear once")
        seen.append(value)


class MatrixConfig(_Strict):
    qps: tuple[QpsValue, ...] = Field(min_length=1)
    connections: tuple[Annotated[WholeNumber, Field(ge=1, le=MAX_CONNECTIONS)], ...] = Field(min_length=1)
    payload_bytes: tuple[Annotated[WholeNumber, Field(ge=0, le=MAX_PAYLOAD_BYTES)], ...] = Field(min_length=1)
    protocol: tuple[Protocol, ...] = ("http",)

    @field_validator("qps", "connections", "payload_bytes", "protocol")
    @classmethod
    def _unique(cls, values: tuple[Any, ...]) -> tuple[Any, ...]:
        _no_repeats(values)
        return values

    @property
    def load_points(self) -> int:
        return len(self.qps) * len(self.connections) * len(self.payload_bytes) * len(self.protocol)


class SloConfig(_Strict):
    p99_ms: Number = Field(gt=0)
    error_budget: Number = Field(default=0.01, ge=0, le=1)


class PriceConfig(_Strict):
    cpu_core_hour: Number = Field(default=0.0316, ge=0)
    mem_gib_hour: Number = Field(default=0.0042, ge=0)
    # The unit of both prices and of meshmark.mesh_cost_per_million_requests (stored beside it).
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 code of the prices")


class Toleration(_Strict):
    """A Kubernetes toleration (API field names), for benchmark nodes that carry a taint."""

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    tolerationSeconds: WholeNumber | None = Field(default=None, ge=0)  # the API field name


class ClusterConfig(_Strict):
    """How the kubernetes backend places and starts the benchmark's pods (docs/kubernetes-backend.md)."""

    # Strict: YAML's `yes` or a string "true" must not slip in as a boolean.
    native_sidecars: Annotated[bool, Strict()] | Literal["auto"] = Field(
        default="auto",
        description="inject sidecar proxies as Kubernetes native sidecars (1.29+); auto: ask the cluster",
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict,
        description="pins the app, the load generator and the waypoint to dedicated benchmark nodes",
    )
    tolerations: tuple[Toleration, ...] = ()
    idle_s: Number = Field(
        default=0,
        ge=0,
        le=3600,
        description="node-level data planes: quiet seconds before each cell's traffic whose usage is "
        "subtracted (0: count the node agents' whole usage)",
    )


class Profile(_Strict):
    name: str
    description: str = ""
    meshes: tuple[MeshConfig, ...] = Field(min_length=1)
    load_generator: LoadGeneratorConfig
    target: TargetConfig = TargetConfig()
    matrix: MatrixConfig
    duration_s: Number = Field(gt=0, le=24 * 3600)
    warmup_s: Number = Field(default=0, ge=0, le=24 * 3600)
    repetitions: WholeNumber = Field(default=1, ge=1, le=100)
    qps_tolerance: Number = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="achieved QPS may fall this far below requested before it counts",
    )
    slo: SloConfig
    weights: dict[str, Number] = Field(default_factory=dict)
    prices: PriceConfig = PriceConfig()
    cluster: ClusterConfig = ClusterConfig()

    @field_validator("weights")
    @classmethod
    def _weights_known_and_bounded(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if name not in MUE_NAMES:
                raise ValueError(f"unknown MUE {name!r}; expected one of {', '.join(MUE_NAMES)}")
            if not -0.5 <= weight <= 0.5:
                raise ValueError(f"weight of {name} is {weight}, outside [-0.5, 0.5]")
        return value

    @model_validator(mode="after")
    def _unique_mesh_names(self) -> Profile:
        names = [m.name for m in self.meshes]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"meshes: mesh names must be unique; repeated: {', '.join(duplicated)}")
        return self

    @model_validator(mode="after")
    def _matrix_within_limit(self) -> Profile:
        # Counted from the list lengths, before a single cell exists: a 3e7-cell matrix used to
        # take minutes and gigabytes just to be listed.
        m = self.matrix
        cells = len(self.meshes) * m.load_points * self.repetitions
        limit = max_matrix_cells()
        if cells > limit:
            factors = (
                f"{len(self.meshes)} meshes × {len(m.qps)} qps × {len(m.connections)} connections × "
                f"{len(m.payload_bytes)} payload_bytes × {len(m.protocol)} protocol × "
                f"{self.repetitions} repetitions"
            )
            raise ValueError(
                f"matrix: {cells:,} cells ({factors}) exceed the limit of {limit:,} cells "
                f"(raise it with {MAX_CELLS_ENV})"
            )
        return self

    @model_validator(mode="after")
    def _cell_ids_fit(self) -> Profile:
        for index, mesh in enumerate(self.meshes):
            longest = self._longest_cell_id(mesh.name)
            if len(longest) > MAX_CELL_ID_LENGTH:
                excess = len(longest) - MAX_CELL_ID_LENGTH
                remedy = (
                    f"shorten the mesh name by {excess} or more characters"
                    if excess < len(mesh.name)
                    else "use load points with fewer digits"
                )
                raise ValueError(
                    f"meshes.{index}.name: mesh {mesh.name!r} makes cell ids of up to {len(longest)} "
                    f"characters ({longest!r}); Kubernetes names and labels allow "
                    f"{MAX_CELL_ID_LENGTH}: {remedy}"
                )
        return self

    def _longest_cell_id(self, mesh: str) -> str:
        """The longest cell id of a mesh: every part of the id at its longest."""
        m = self.matrix
        rates = [None if q == "max" else float(q) for q in m.qps]
        return cell_id_for(
            mesh,
            max(rates, key=lambda q: len(qps_label(q))),
            max(m.connections, key=lambda c: len(str(c))),
            max(m.payload_bytes, key=lambda b: len(str(b))),
            max(m.protocol, key=len),
            self.repetitions - 1,
        )

    def mesh(self, name: str) -> MeshConfig:
        for mesh in self.meshes:
            if mesh.name == name:
                return mesh
        raise KeyError(name)


# Error types whose message already says everything (or whose input is the whole subtree).
_NO_INPUT_SHOWN = frozenset({"missing", "extra_forbidden", "value_error", "assertion_error", "model_type"})


def _yaml_repr(value: Any) -> str:
    """A value as the profile's author wrote it in YAML (true, .inf), shortened for one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, list | tuple | dict):
        # Never repr a container: YAML aliases can make a tiny file a list of 9^9 items.
        kind = "a mapping" if isinstance(value, dict) else "a list"
        return f"{kind} of {len(value)} item{'s' if len(value) != 1 else ''}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(item: Any) -> str:
    path = ".".join(str(p) for p in item["loc"])
    message = str(item["msg"]).removeprefix("Value error, ")
    if item["type"] not in _NO_INPUT_SHOWN:
        message += f", got {_yaml_repr(item['input'])}"
    # Checks across fields (model validators) have no location; their message starts with one.
    return f"{path}: {message}" if path else message


def _format_validation_error(source: str, error: ValidationError) -> str:
    items = error.errors()
    # A list whose only item was rejected is also "too short"; the item's error says why.
    shown = [
        item
        for item in items
        if not (
            item["type"] == "too_short"
            and any(
                len(o["loc"]) > len(item["loc"]) and o["loc"][: len(item["loc"])] == item["loc"]
                for o in items
            )
        )
    ]
    return f"{source}: invalid profile: " + "; ".join(_describe(item) for item in shown)


def profile_from_mapping(data: Any, source: str = "<profile>") -> Profile:
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: a profile must be a YAML mapping, got {type(data).__name__}")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_format_validation_error(source, exc)) from None


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile file; every failure is a ProfileError naming the file."""
    try:
        text = read_input_text(path, limit=MAX_PROFILE_BYTES, remedy="a profile is a hand-written YAML file")
        data = load_yaml(text, str(path))
    except InputFileError as exc:
        raise ProfileError(f"{exc.source}: cannot read profile: {exc.problem}") from None
    return profile_from_mapping(data, str(path))


def with_overrides(
    profile: Profile,
    *,
    meshes: list[str] | None = None,
    qps: list[float | str] | None = None,
    connections: list[int] | None = None,
    duration_s: float | None = None,
    source: str = "overrides",
) -> Profile:
    """Apply the UI trigger form's overrides and validate the result like a profile file."""
    data = profile.model_dump(mode="python")
    if meshes:
        known = {m.name for m in profile.meshes}
        unknown = [m for m in meshes if m not in known]
        if unknown:
            raise ProfileError(
                f"{source}: meshes: {', '.join(unknown)} not in profile {profile.name!r} "
                f"(it has {', '.join(sorted(known))})"
            )
        data["meshes"] = [m for m in data["meshes"] if m["name"] in meshes]
    if qps:
        data["matrix"]["qps"] = qps
    if connections:
        data["matrix"]["connections"] = connections
    if duration_s is not None:
        data["duration_s"] = duration_s
    return profile_from_mapping(data, source)
