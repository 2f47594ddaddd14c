"""Performance profiles: what to test, against what, and how to judge it.

A profile is a YAML file validated with pydantic. Errors name the file and the field path so an SRE
editing a profile before a mesh upgrade sees exactly which line to fix.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from meshmark_tasks.errors import ProfileError

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

MeshKind = Literal["baseline", "local-sidecar", "istio", "linkerd", "consul"]
NetworkFunction = Literal["mtls", "telemetry", "retries", "traffic_split"]
LoadGeneratorTool = Literal["fortio", "nighthawk", "wrk2", "k6"]
Protocol = Literal["http", "grpc"]

# DNS-1123 label: mesh names end up in cell ids, Kubernetes object names and Airflow map labels.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    amount = Decimal(number) * (Decimal(f"1{exponent}") if exponent else _QUANTITY_SUFFIXES[suffix or ""])
    return float(amount)


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
    dataplane_proxies: int = Field(default=0, ge=0, description="proxies in the data path")
    controlplane: ComponentResources = ComponentResources()


class MeshConfig(_Strict):
    name: str = Field(max_length=30)
    kind: MeshKind
    network_functions: tuple[NetworkFunction, ...] = ()
    resources: MeshResources = MeshResources()
    description: str = ""

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError("must be lowercase letters, digits and '-' (a DNS-1123 label)")
        return value

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


class LoadGeneratorConfig(_Strict):
    tool: LoadGeneratorTool
    image: str | None = Field(default=None, description="container image for the kubernetes backend")
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)


class TargetConfig(_Strict):
    url: str | None = Field(
        default=None,
        description="in-cluster URL for the kubernetes backend; the local backend starts its own",
    )
    namespace: str | None = None


QpsValue = Annotated[float, Field(gt=0)] | Literal["max"]


class MatrixConfig(_Strict):
    qps: tuple[QpsValue, ...] = Field(min_length=1)
    connections: tuple[Annotated[int, Field(ge=1, le=100_000)], ...] = Field(min_length=1)
    payload_bytes: tuple[Annotated[int, Field(ge=0, le=64 * 1024 * 1024)], ...] = Field(min_length=1)
    protocol: tuple[Protocol, ...] = ("http",)


class SloConfig(_Strict):
    p99_ms: float = Field(gt=0)
    error_budget: float = Field(default=0.01, ge=0, le=1)


class PriceConfig(_Strict):
    cpu_core_hour: float = Field(default=0.0316, ge=0)
    mem_gib_hour: float = Field(default=0.0042, ge=0)


class Profile(_Strict):
    name: str
    description: str = ""
    meshes: tuple[MeshConfig, ...] = Field(min_length=1)
    load_generator: LoadGeneratorConfig
    target: TargetConfig = TargetConfig()
    matrix: MatrixConfig
    duration_s: float = Field(gt=0, le=24 * 3600)
    warmup_s: float = Field(default=0, ge=0)
    repetitions: int = Field(default=1, ge=1, le=100)
    qps_tolerance: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="achieved QPS may fall this far below requested before it counts",
    )
    slo: SloConfig
    weights: dict[str, float] = Field(default_factory=dict)
    prices: PriceConfig = PriceConfig()

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
            raise ValueError(f"mesh names must be unique; repeated: {', '.join(duplicated)}")
        return self

    def mesh(self, name: str) -> MeshConfig:
        for mesh in self.meshes:
            if mesh.name == name:
                return mesh
        raise KeyError(name)


def _format_validation_error(source: str, error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "<root>"
        problems.append(f"{path}: {item['msg']}")
    return f"{source}: invalid profile: " + "; ".join(problems)


def profile_from_mapping(data: Any, source: str = "<profile>") -> Profile:
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: a profile must be a YAML mapping, got {type(data).__name__}")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_format_validation_error(source, exc)) from None


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile file; every failure is a ProfileError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
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
