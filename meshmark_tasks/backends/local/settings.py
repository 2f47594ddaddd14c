"""How the local testbed runs its processes: CPU placement, scheduling, CPU accounting, extra app work.

These are properties of the machine and of the measurement method, not of the mesh under test, so
they live outside the profile: `TestbedSettings.from_env()` reads them from `MESHMARK_LOCAL_*`
variables, and callers (the fidelity benchmark) may pass their own. The defaults are the settings
benchmarks/bench_fidelity.py measured to give the least noisy numbers (docs/local-backend.md).

- `cpus` ("auto" | "off" | "loadgen=0;sut=1-3"): with at least two usable CPUs, the load generator
  (and the orchestrating Python thread with its sampler) get one half of them and the system under
  test (app and sidecars) the other half, so neither steals the other's CPU or caches mid-request.
  On one CPU there is nothing to split and nothing is pinned.
- `scheduling` ("fifo" | "normal"): "fifo" starts every testbed process under SCHED_FIFO at a low
  real-time priority, so other work on a shared machine cannot delay a request that is ready to
  run. It needs root or CAP_SYS_NICE; without that the processes run normally, and the cell's
  recorded placement says so. The kernel's real-time throttle (95 % per CPU by default) still
  leaves the rest of the machine some CPU even when a cell saturates it.
- `gomaxprocs`: GOMAXPROCS for the Go binaries (Caddy, k6); None leaves Go's default, the number
  of CPUs the process may run on (1 for a pinned sidecar on a 2-CPU machine).
- `cpu_window` ("loadgen" | "sampler"): what CPU seconds are divided by to give cores: the load
  generator's own test-run duration (the time load was offered) or the sampler's wall-clock window
  (which also spans the generator's start-up and exit, when the system under test is idle).
- `sampler_interval_s`: how often memory (RSS) is sampled; CPU is read at the window's edges.
- `app_work_kib`: a fixed amount of real extra work per request in the app (SHA-256 over this many
  KiB), per mesh: the "real change" the fidelity benchmark uses to test that a regression is seen.
- `access_log_every`: per mesh, both sidecars write a JSON access-log entry for one request in N
  (1: every request, as the `telemetry` network function does): a data-plane change of tunable size.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from meshmark_tasks.errors import MeshmarkError

CPUS_ENV = "MESHMARK_LOCAL_CPUS"
SCHEDULING_ENV = "MESHMARK_LOCAL_SCHEDULING"
GOMAXPROCS_ENV = "MESHMARK_LOCAL_GOMAXPROCS"
CPU_WINDOW_ENV = "MESHMARK_LOCAL_CPU_WINDOW"
SAMPLER_INTERVAL_ENV = "MESHMARK_LOCAL_SAMPLER_INTERVAL_S"
APP_WORK_ENV = "MESHMARK_LOCAL_APP_WORK_KIB"
ACCESS_LOG_ENV = "MESHMARK_LOCAL_ACCESS_LOG_EVERY"

Scheduling = Literal["fifo", "normal"]
CpuWindow = Literal["loadgen", "sampler"]
# Low enough that kernel threads (migration, watchdogs at 99) still preempt the testbed.
REALTIME_PRIORITY = 10
ALL_MESHES = "*"


class TestbedSettingsError(MeshmarkError):
    """A MESHMARK_LOCAL_* setting is malformed; the message names the variable."""

    __test__ = False  # not a pytest test class despite the name


@dataclass(frozen=True)
class CpuPlan:
    """Disjoint CPU sets: the load generator (and orchestrator) on one, the system under test on the other."""

    loadgen: frozenset[int]
    sut: frozenset[int]

    def as_dict(self) -> dict[str, list[int]]:
        return {"loadgen": sorted(self.loadgen), "sut": sorted(self.sut)}


@dataclass(frozen=True)
class TestbedSettings:
    __test__ = False  # not a pytest test class despite the name

    cpus: str = "auto"
    scheduling: Scheduling = "fifo"
    gomaxprocs: int | None = None
    cpu_window: CpuWindow = "loadgen"
    sampler_interval_s: float = 0.5
    app_work_kib: Mapping[str, int] = field(default_factory=dict)
    access_log_every: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parse_cpus(self.cpus, frozenset(range(1024)))  # syntax only; availability is checked per cell
        if self.scheduling not in ("fifo", "normal"):
            raise TestbedSettingsError(f"scheduling must be fifo or normal, not {self.scheduling!r}")
        if self.cpu_window not in ("loadgen", "sampler"):
            raise TestbedSettingsError(f"cpu_window must be loadgen or sampler, not {self.cpu_window!r}")
        if self.gomaxprocs is not None and self.gomaxprocs < 1:
            raise TestbedSettingsError(f"gomaxprocs must be at least 1, not {self.gomaxprocs}")
        if not 0 < self.sampler_interval_s <= 10:
            raise TestbedSettingsError(
                f"sampler_interval_s must be in (0, 10], not {self.sampler_interval_s}"
            )
        for mesh, kib in self.app_work_kib.items():
            if kib < 0:
                raise TestbedSettingsError(f"app_work_kib for {mesh!r} must not be negative, not {kib}")
        for mesh, every in self.access_log_every.items():
            if every < 1:
                raise TestbedSettingsError(f"access_log_every for {mesh!r} must be at least 1, not {every}")

    def app_work_for(self, mesh: str) -> int:
        return self.app_work_kib.get(mesh, self.app_work_kib.get(ALL_MESHES, 0))

    def access_log_every_for(self, mesh: str) -> int | None:
        return self.access_log_every.get(mesh, self.access_log_every.get(ALL_MESHES))

    def cpu_plan(self, available: frozenset[int] | None = None) -> tuple[CpuPlan | None, str]:
        """The CPU split for this machine and why; None when nothing is pinned."""
        usable = frozenset(os.sched_getaffinity(0)) if available is None else available
        return parse_cpus(self.cpus, usable)

    def as_dict(self) -> dict[str, object]:
        return {
            "cpus": self.cpus,
            "scheduling": self.scheduling,
            "gomaxprocs": self.gomaxprocs,
            "cpu_window": self.cpu_window,
            "sampler_interval_s": self.sampler_interval_s,
            "app_work_kib": dict(self.app_work_kib),
            "access_log_every": dict(self.access_log_every),
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TestbedSettings:
        """Settings from MESHMARK_LOCAL_* variables; an unset or empty variable keeps the default."""
        env = os.environ if environ is None else environ
        defaults = cls()

        def text(name: str) -> str:
            return env.get(name, "").strip()

        try:
            return cls(
                cpus=text(CPUS_ENV) or defaults.cpus,
                scheduling=_choice(
                    SCHEDULING_ENV, text(SCHEDULING_ENV) or defaults.scheduling, ("fifo", "normal")
                ),  # type: ignore[arg-type]
                gomaxprocs=_integer(GOMAXPROCS_ENV, text(GOMAXPROCS_ENV)) if text(GOMAXPROCS_ENV) else None,
                cpu_window=_choice(
                    CPU_WINDOW_ENV, text(CPU_WINDOW_ENV) or defaults.cpu_window, ("loadgen", "sampler")
                ),  # type: ignore[arg-type]
                sampler_interval_s=(
                    _number(SAMPLER_INTERVAL_ENV, text(SAMPLER_INTERVAL_ENV))
                    if text(SAMPLER_INTERVAL_ENV)
                    else defaults.sampler_interval_s
                ),
                app_work_kib=parse_per_mesh(APP_WORK_ENV, text(APP_WORK_ENV)),
                access_log_every=parse_per_mesh(ACCESS_LOG_ENV, text(ACCESS_LOG_ENV)),
            )
        except TestbedSettingsError as exc:
            raise TestbedSettingsError(f"testbed settings from the environment: {exc}") from None


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise TestbedSettingsError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


def _integer(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise TestbedSettingsError(f"{name}={text!r}: expected an integer") from None


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise TestbedSettingsError(f"{name}={text!r}: expected a number") from None


def parse_per_mesh(variable: str, text: str) -> dict[str, int]:
    """ "64" (every mesh) or "sidecar=64,sidecar-mtls=32" (per mesh) to {mesh or "*": number}."""
    text = text.strip()
    if not text:
        return {}
    if "=" not in text:
        return {ALL_MESHES: _integer(variable, text)}
    values = {}
    for item in text.split(","):
        mesh, sep, number = item.partition("=")
        if not sep or not mesh.strip():
            raise TestbedSettingsError(f"{variable}: {item!r} is not MESH=NUMBER")
        values[mesh.strip()] = _integer(variable, number.strip())
    return values


def _cpu_list(text: str, what: str) -> frozenset[int]:
    """ "0", "1-3" or "0,2-3" to a set of CPU numbers."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, sep, high = part.strip().partition("-")
        try:
            first = int(low)
            last = int(high) if sep else first
        except ValueError:
            raise TestbedSettingsError(f"{CPUS_ENV}: {what}={text!r} is not a CPU list like 0,2-3") from None
        if first < 0 or last < first:
            raise TestbedSettingsError(f"{CPUS_ENV}: {what}={text!r} is not a CPU list like 0,2-3")
        cpus.update(range(first, last + 1))
    return frozenset(cpus)


def parse_cpus(spec: str, available: frozenset[int]) -> tuple[CpuPlan | None, str]:
    """Resolve a `cpus` setting against the CPUs this process may use."""
    spec = spec.strip()
    if spec == "off":
        return None, "pinning off"
    if spec == "auto":
        if len(available) < 2:
            return None, f"not pinned: only {len(available)} usable CPU"
        ordered = sorted(available)
        half = len(ordered) // 2
        # The generator gets the lower half, the system under test the rest (the larger half).
        return CpuPlan(frozenset(ordered[:half]), frozenset(ordered[half:])), "auto"
    parts: dict[str, frozenset[int]] = {}
    for item in spec.split(";"):
        role, sep, cpus = item.partition("=")
        role = role.strip()
        if not sep or role not in ("loadgen", "sut") or role in parts:
            raise TestbedSettingsError(
                f"{CPUS_ENV}: {spec!r} must be auto, off or loadgen=CPUS;sut=CPUS (e.g. loadgen=0;sut=1)"
            )
        parts[role] = _cpu_list(cpus, role)
    if set(parts) != {"loadgen", "sut"}:
        raise TestbedSettingsError(f"{CPUS_ENV}: {spec!r} must name both loadgen and sut CPUs")
    if parts["loadgen"] & parts["sut"]:
        raise TestbedSettingsError(f"{CPUS_ENV}: {spec!r}: loadgen and sut CPUs must not overlap")
    missing = (parts["loadgen"] | parts["sut"]) - available
    if missing:
        raise TestbedSettingsError(
            f"{CPUS_ENV}: {spec!r} names CPU(s) {sorted(missing)} this process cannot use "
            f"(usable: {sorted(available)})"
        )
    return CpuPlan(parts["loadgen"], parts["sut"]), "explicit"
