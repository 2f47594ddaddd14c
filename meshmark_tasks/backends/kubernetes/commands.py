"""The command line each load generator runs in its pod.

Every tool writes its machine-readable result to the XCom file that the KubernetesPodOperator's
sidecar reads back (/airflow/xcom/return.json), so no shared storage is needed between cluster and
Airflow worker. A warm-up run of the same tool, with its output discarded, runs before the measured
one, so the measured window (and the Prometheus window derived from the result's start/end) excludes
it: in an init container where the pod's traffic is meshed from the start (pods.py decides), else
first in the measured container itself (`warmup_then_measured`, tools with a shell).
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.matrix import Cell
from meshmark_tasks.profile import Profile

XCOM_RESULT_PATH = "/airflow/xcom/return.json"
APP_SERVICE_NAME = "meshmark-app"
APP_HTTP_PORT = 8080
APP_GRPC_PORT = 8079
# Nighthawk has no unthrottled mode; its rate option accepts at most 1,000,000 rps, and without
# --open-loop the client applies back-pressure, so this runs as fast as the connections allow.
NIGHTHAWK_MAX_RPS = 1_000_000
# Nighthawk aborts on the first error status by default; a benchmark must count errors instead.
_NIGHTHAWK_TOLERATE = "4294967295"

# The k6 script is static; the cell's numbers come in through environment variables.
K6_SCRIPT = """\
import http from 'k6/http';

const target = __ENV.MESHMARK_TARGET;
const qps = __ENV.MESHMARK_QPS;
const vus = parseInt(__ENV.MESHMARK_CONNECTIONS, 10);
const duration = __ENV.MESHMARK_DURATION;
const body = 'x'.repeat(parseInt(__ENV.MESHMARK_PAYLOAD_BYTES, 10));

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['min', 'avg', 'med', 'p(75)', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'max'],
  scenarios: {
    meshmark: qps === 'max'
      ? { executor: 'constant-vus', vus: vus, duration: duration }
      : { executor: 'constant-arrival-rate', rate: parseFloat(qps), timeUnit: '1s',
          duration: duration, preAllocatedVUs: vus, maxVUs: vus },
  },
};

export default function () {
  if (body.length > 0) {
    http.post(target, body);
  } else {
    http.get(target);
  }
}
"""
K6_SCRIPT_PATH = "/tmp/meshmark.js"


@dataclass(frozen=True)
class ToolCommand:
    """cmds (entrypoint override, empty = the image's) and arguments of one container."""

    cmds: list[str]
    arguments: list[str]
    env: dict[str, str] = field(default_factory=dict)


def target_url(profile: Profile, cell: Cell, namespace: str) -> str:
    """The in-cluster URL of the application under test; "{namespace}" in the profile is filled in."""
    template = profile.target.url or (
        f"http://{APP_SERVICE_NAME}.{{namespace}}.svc.cluster.local:{APP_HTTP_PORT}/echo"
    )
    try:
        url = template.format(namespace=namespace)
    except (KeyError, IndexError, ValueError) as exc:
        raise MeshmarkError(
            f"target.url: {template!r} may only use the {{namespace}} placeholder ({exc})"
        ) from None
    if cell.protocol == "grpc":
        # gRPC ping goes to host:port of the same service, on fortio's gRPC port.
        host = urlsplit(url).hostname
        if not host:
            raise MeshmarkError(f"target.url: {url!r} has no host name")
        return f"{host}:{APP_GRPC_PORT}"
    return url


def _option_flags(profile: Profile, prefix: str) -> list[str]:
    """load_generator.options as tool flags: true -> "-flag", false -> omitted, else "-flag=value"."""
    flags = []
    for key, value in sorted(profile.load_generator.options.items()):
        if value is True:
            flags.append(f"{prefix}{key}")
        elif value is not False:
            flags.append(f"{prefix}{key}={value}")
    return flags


def _seconds(value: float) -> str:
    return f"{value:g}s"


def fortio_command(
    profile: Profile, cell: Cell, url: str, duration_s: float, *, measured: bool
) -> ToolCommand:
    # The image's entrypoint is the fortio binary (FROM scratch: there is no shell).
    qps = "0" if cell.requested_qps is None else f"{cell.requested_qps:g}"  # fortio: 0 = no wait (max)
    args = ["load"]
    if measured:
        args += ["-json", XCOM_RESULT_PATH, "-labels", cell.cell_id]
    args += ["-qps", qps, "-c", str(cell.connections), "-t", _seconds(duration_s)]
    if cell.payload_bytes > 0:
        args += ["-payload-size", str(cell.payload_bytes)]  # switches HTTP to POST; echoed back
    if cell.protocol == "grpc":
        args += ["-grpc", "-ping"]
    args += _option_flags(profile, "-")
    args.append(url)
    return ToolCommand(cmds=[], arguments=args)


def nighthawk_command(
    profile: Profile, cell: Cell, url: str, duration_s: float, *, measured: bool
) -> ToolCommand:
    if cell.protocol != "http":
        raise MeshmarkError(f"cell {cell.cell_id}: nighthawk load tests HTTP only, not {cell.protocol}")
    rps = NIGHTHAWK_MAX_RPS if cell.requested_qps is None else max(1, round(cell.requested_qps))
    argv = [
        "nighthawk_client",
        "--rps",
        str(rps),
        "--connections",
        str(cell.connections),
        "--concurrency",
        "1",  # --connections is per event loop; one loop keeps it the profile's connection count
        "--duration",
        str(max(1, math.ceil(duration_s))),
        "--output-format",
        "json",
    ]
    for counter in ("benchmark.http_4xx", "benchmark.http_5xx", "benchmark.pool_connection_failure"):
        argv += ["--failure-predicate", f"{counter}:{_NIGHTHAWK_TOLERATE}"]
    if cell.payload_bytes > 0:
        argv += ["--request-method", "POST", "--request-body-size", str(cell.payload_bytes)]
    argv += _option_flags(profile, "--")
    argv.append(url)
    sink = XCOM_RESULT_PATH if measured else "/dev/null"
    # nighthawk prints its result on stdout; the shell sends it to the XCom file.
    return ToolCommand(cmds=["/bin/sh", "-c"], arguments=[f"{shlex.join(argv)} > {sink}"])


def _k6_argv(profile: Profile, *, measured: bool) -> list[str]:
    argv = ["k6", "run", "--quiet", "--no-color"]
    if measured:
        argv += ["--summary-export", XCOM_RESULT_PATH]
    return [*argv, *_option_flags(profile, "--"), K6_SCRIPT_PATH]


_WRITE_K6_SCRIPT = f'printf "%s" "$MESHMARK_K6_SCRIPT" > {K6_SCRIPT_PATH}'


def k6_command(profile: Profile, cell: Cell, url: str, duration_s: float, *, measured: bool) -> ToolCommand:
    if cell.protocol != "http":
        raise MeshmarkError(f"cell {cell.cell_id}: the k6 runner load tests HTTP only, not {cell.protocol}")
    script = f"{_WRITE_K6_SCRIPT} && exec {shlex.join(_k6_argv(profile, measured=measured))}"
    env = {
        "MESHMARK_K6_SCRIPT": K6_SCRIPT,
        "MESHMARK_TARGET": url,
        "MESHMARK_QPS": "max" if cell.requested_qps is None else f"{cell.requested_qps:g}",
        "MESHMARK_CONNECTIONS": str(cell.connections),
        "MESHMARK_DURATION": _seconds(duration_s),
        "MESHMARK_PAYLOAD_BYTES": str(cell.payload_bytes),
    }
    return ToolCommand(cmds=["/bin/sh", "-c"], arguments=[script], env=env)


def tool_command(profile: Profile, cell: Cell, url: str, *, measured: bool) -> ToolCommand:
    """The measured run (duration_s, result to the XCom file) or the warm-up run (warmup_s, discarded)."""
    duration = profile.duration_s if measured else profile.warmup_s
    tool = profile.load_generator.tool
    if tool == "fortio":
        return fortio_command(profile, cell, url, duration, measured=measured)
    if tool == "nighthawk":
        return nighthawk_command(profile, cell, url, duration, measured=measured)
    if tool == "k6":
        return k6_command(profile, cell, url, duration, measured=measured)
    raise MeshmarkError(
        f"load_generator.tool: {tool!r} is not supported by the kubernetes backend (fortio, nighthawk, k6)"
    )


# What a failed warm-up leaves in the pod log; the measured run goes ahead and shows the real errors.
_WARMUP_FAILED = 'echo "meshmark: the warm-up run failed (exit $?); measuring anyway" >&2'


def warmup_then_measured(profile: Profile, cell: Cell, url: str) -> ToolCommand:
    """One container that runs the warm-up (output discarded) and then the measured run.

    For pods whose proxy is not a native sidecar: an init container would run before the proxy
    exists, so the warm-up runs here, after the mesh has held the container until its proxy is
    ready. Needs a shell in the image: nighthawk and k6 have one; fortio's image (FROM scratch)
    does not, and is refused.
    """
    tool = profile.load_generator.tool
    if tool == "nighthawk":
        warmup = nighthawk_command(profile, cell, url, profile.warmup_s, measured=False)
        measured = nighthawk_command(profile, cell, url, profile.duration_s, measured=True)
        script = f"{warmup.arguments[0]} || {_WARMUP_FAILED}; {measured.arguments[0]}"
        return ToolCommand(cmds=["/bin/sh", "-c"], arguments=[script])
    if tool == "k6":
        measured = k6_command(profile, cell, url, profile.duration_s, measured=True)
        warmup_argv = shlex.join(_k6_argv(profile, measured=False))
        script = (
            f"{_WRITE_K6_SCRIPT} && {{ MESHMARK_DURATION={_seconds(profile.warmup_s)} {warmup_argv} "
            f"> /dev/null || {_WARMUP_FAILED}; }} && exec {shlex.join(_k6_argv(profile, measured=True))}"
        )
        return ToolCommand(cmds=["/bin/sh", "-c"], arguments=[script], env=measured.env)
    raise MeshmarkError(
        f"cell {cell.cell_id}: {tool} cannot run its warm-up in the measured container "
        "(its image has no shell to run two commands)"
    )
