"""Bad inputs through the real `meshmark` entry point: exit 2, one error line naming the file, field
or flag, and never a traceback (issue 13's lists, plus their neighbours).

Each case writes its files into a fresh folder, runs `meshmark_tasks.cli:main`, and checks:
exit code, exactly one `meshmark…: error:` line on stderr (the last one; any others are
`meshmark: …` progress lines), no traceback, nothing on stdout, and the expected text.
docs/bad-inputs.md counts these cases.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshmark_tasks.cli import main

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
DEMO = yaml.safe_load((REPO / "profiles" / "local-demo.yaml").read_text())
NOT_UTF8 = b"name: caf\xe9\n"  # Latin-1, as an editor on another system might save it
ERROR_LINE = re.compile(r"^meshmark( [a-z-]+)*: error: ")


@dataclass(frozen=True)
class Case:
    """argv with `{dir}` for the case's folder; files written there first; env set for the run."""

    id: str
    argv: tuple[str, ...]
    expect: tuple[str, ...]
    files: dict[str, bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def case(id: str, argv: str, *expect: str, env: dict[str, str] | None = None, **files: bytes) -> Case:
    """`files` keywords name files in the case folder: p_yaml -> p.yaml."""
    named = {name.replace("_", "."): content for name, content in files.items()}
    return Case(id, tuple(argv.split()), expect, named, env or {})


# -- inputs -------------------------------------------------------------------------------------


def profile(edit: Callable[[dict[str, Any]], object]) -> bytes:
    """The demo profile with one edit, as YAML (so .inf, .nan, true are written as YAML writes them)."""
    data = copy.deepcopy(DEMO)
    edit(data)
    return yaml.safe_dump(data, sort_keys=False).encode()


def at(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def matrix(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["matrix"].update(values)


DEMO_TEXT = (REPO / "profiles" / "local-demo.yaml").read_bytes()
FORTIO = (FIXTURES / "upstream" / "fortio-http-result.json").read_bytes()
K6 = (FIXTURES / "k6" / "k6-errors-full-trend.json").read_bytes()
NIGHTHAWK = (FIXTURES / "nighthawk" / "medium-global.json").read_bytes()

# One scoring cell pair (a baseline and a mesh at the same load point), as `meshmark score` reads them.
CELL = {
    "mesh": "baseline",
    "is_baseline": True,
    "requested_qps": 200.0,
    "connections": 4,
    "payload_bytes": 512,
    "protocol": "http",
    "actual_qps": 199.0,
    "requests_total": 11940,
    "errors_total": 2,
    "latency_ms_min": 0.3,
    "latency_ms_p50": 0.9,
    "latency_ms_p90": 1.8,
    "latency_ms_p99": 3.5,
    "latency_ms_max": 9.0,
    "cpu_cores_app": 0.2,
    "cpu_cores_dataplane": 0.0,
    "cpu_cores_controlplane": 0.0,
    "cpu_cores_assigned": 1.0,
    "mem_bytes_app": 4e7,
    "mem_bytes_dataplane": 0.0,
    "mem_bytes_controlplane": 0.0,
    "mem_bytes_assigned": 2.6e8,
    "slo_p99_ms": 20.0,
}
MESH_CELL = CELL | {
    "mesh": "sidecar",
    "is_baseline": False,
    "cpu_cores_dataplane": 0.1,
    "latency_ms_p99": 4.5,
}


def cells(**change: Any) -> bytes:
    """The pair as JSON lines, the mesh cell with `change` applied."""
    return (json.dumps(CELL) + "\n" + json.dumps(MESH_CELL | change) + "\n").encode()


def mesh_line_raw(fragment: str) -> bytes:
    """The pair with the mesh line's last field replaced by raw JSON text (NaN, duplicate keys)."""
    line = json.dumps(MESH_CELL)[:-1] + ", " + fragment + "}"
    return (json.dumps(CELL) + "\n" + line + "\n").encode()


def edited_json(document: bytes, edit: Callable[[str], str]) -> bytes:
    return edit(document.decode()).encode()


def with_duplicate_key(document: bytes, key: str) -> bytes:
    """The JSON document with its first `"key": value` pair given a second time right after `{`."""
    text = document.decode()
    value = json.loads(text)[key]
    return text.replace("{", "{" + json.dumps(key) + ": " + json.dumps(value) + ", ", 1).encode()


LONG_MESH = "a" * 30


def alias_bomb() -> bytes:
    """The demo profile with a load-generator option that YAML aliases expand to 9^9 strings."""
    anchors = ['bomb0: &b0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    anchors += [f"bomb{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 9)}]" for i in range(1, 9)]
    text = DEMO_TEXT.decode().replace("  tool: k6\n", "  tool: k6\n  options: {vus: *b8}\n")
    return ("\n".join(anchors) + "\n" + text).encode()


# -- the table ----------------------------------------------------------------------------------

PROFILE_CASES = [
    case(
        "profile-validate-not-utf8", "profile validate {dir}/p.yaml", "p.yaml", "not UTF-8", p_yaml=NOT_UTF8
    ),
    case("profile-matrix-not-utf8", "profile matrix {dir}/p.yaml", "p.yaml", "not UTF-8", p_yaml=NOT_UTF8),
    case(
        "profile-utf16",
        "profile validate {dir}/p.yaml",
        "not UTF-8",
        p_yaml=DEMO_TEXT.decode().encode("utf-16"),
    ),
    case("profile-is-a-directory", "profile validate {dir}", "is a directory"),
    case(
        "profile-dev-zero",
        "profile validate /dev/zero",
        "/dev/zero",
        "larger than the input limit of 1,048,576",
    ),
    case(
        "profile-over-1mib",
        "profile validate {dir}/p.yaml",
        "larger than the input limit",
        p_yaml=b"#" * 2**21,
    ),
    case(
        "profile-duplicate-top-key",
        "profile validate {dir}/p.yaml",
        "duplicate key 'duration_s' at line",
        p_yaml=DEMO_TEXT + b"duration_s: 600\n",
    ),
    case(
        "profile-duplicate-nested-key",
        "profile matrix {dir}/p.yaml",
        "duplicate key 'qps'",
        p_yaml=DEMO_TEXT.replace(b"  qps: [100, 300]\n", b"  qps: [100, 300]\n  qps: [5]\n"),
    ),
    case(
        "profile-yaml-tab-indent",
        "profile validate {dir}/p.yaml",
        "not valid YAML",
        p_yaml=b"name: x\n\tslo: 1\n",
    ),
    case(
        "profile-python-tag",
        "profile validate {dir}/p.yaml",
        "not valid YAML",
        p_yaml=b"name: !!python/object/apply:os.system [true]\n",
    ),
    case(
        "profile-yaml-alias-bomb",
        "profile validate {dir}/p.yaml",
        "load_generator.options.vus: expected a string, number or boolean, got a list of 9 items",
        p_yaml=alias_bomb(),
    ),
    case(
        "qps-inf",
        "profile validate {dir}/p.yaml",
        "matrix.qps.0",
        ".inf",
        p_yaml=profile(matrix(qps=[float("inf")])),
    ),
    case(
        "qps-minus-inf",
        "profile validate {dir}/p.yaml",
        "matrix.qps.1",
        "-.inf",
        p_yaml=profile(matrix(qps=[5, float("-inf")])),
    ),
    case(
        "qps-nan",
        "profile validate {dir}/p.yaml",
        "matrix.qps.0",
        ".nan",
        p_yaml=profile(matrix(qps=[float("nan")])),
    ),
    case(
        "qps-true",
        "profile validate {dir}/p.yaml",
        "matrix.qps.0",
        "got true",
        p_yaml=profile(matrix(qps=[True])),
    ),
    case(
        "qps-false",
        "profile matrix {dir}/p.yaml",
        "matrix.qps.1",
        "got false",
        p_yaml=profile(matrix(qps=[100, False])),
    ),
    case(
        "qps-numeric-string",
        "profile validate {dir}/p.yaml",
        "matrix.qps.0",
        "got '100'",
        p_yaml=profile(matrix(qps=["100"])),
    ),
    case(
        "qps-zero", "profile validate {dir}/p.yaml", "matrix.qps.0", "got 0", p_yaml=profile(matrix(qps=[0]))
    ),
    case(
        "qps-max-uppercase",
        "profile validate {dir}/p.yaml",
        "matrix.qps.0",
        "got 'MAX'",
        p_yaml=profile(matrix(qps=["MAX"])),
    ),
    case(
        "qps-repeated",
        "profile validate {dir}/p.yaml",
        "matrix.qps: 100 is listed twice",
        p_yaml=profile(matrix(qps=[100, 300, 100])),
    ),
    case(
        "qps-repeated-as-float",
        "profile validate {dir}/p.yaml",
        "matrix.qps: 100 is listed twice",
        p_yaml=profile(matrix(qps=[100, 100.0])),
    ),
    case(
        "qps-max-repeated",
        "profile validate {dir}/p.yaml",
        "matrix.qps: 'max' is listed twice",
        p_yaml=profile(matrix(qps=["max", 5, "max"])),
    ),
    case("qps-not-a-list", "profile validate {dir}/p.yaml", "matrix.qps", p_yaml=profile(matrix(qps=100))),
    case(
        "connections-repeated",
        "profile validate {dir}/p.yaml",
        "matrix.connections: 8 is listed twice",
        p_yaml=profile(matrix(connections=[8, 8])),
    ),
    case(
        "connections-true",
        "profile validate {dir}/p.yaml",
        "matrix.connections.0",
        "got true",
        p_yaml=profile(matrix(connections=[True])),
    ),
    case(
        "connections-fractional",
        "profile validate {dir}/p.yaml",
        "matrix.connections.0",
        "got 8.5",
        p_yaml=profile(matrix(connections=[8.5])),
    ),
    case(
        "connections-float-whole",
        "profile validate {dir}/p.yaml",
        "matrix.connections.0",
        "got 8.0",
        p_yaml=profile(matrix(connections=[8.0])),
    ),
    case(
        "connections-too-many",
        "profile validate {dir}/p.yaml",
        "matrix.connections.0",
        "100000",
        p_yaml=profile(matrix(connections=[100001])),
    ),
    case(
        "connections-inf",
        "profile validate {dir}/p.yaml",
        "matrix.connections.0",
        p_yaml=profile(matrix(connections=[float("inf")])),
    ),
    case(
        "payload-repeated",
        "profile validate {dir}/p.yaml",
        "matrix.payload_bytes: 1024 is listed twice",
        p_yaml=profile(matrix(payload_bytes=[1024, 1024])),
    ),
    case(
        "payload-negative",
        "profile validate {dir}/p.yaml",
        "matrix.payload_bytes.0",
        p_yaml=profile(matrix(payload_bytes=[-1])),
    ),
    case(
        "payload-over-64mib",
        "profile validate {dir}/p.yaml",
        "matrix.payload_bytes.0",
        p_yaml=profile(matrix(payload_bytes=[2**26 + 1])),
    ),
    case(
        "payload-false",
        "profile validate {dir}/p.yaml",
        "matrix.payload_bytes.0",
        "got false",
        p_yaml=profile(matrix(payload_bytes=[False])),
    ),
    case(
        "protocol-repeated",
        "profile validate {dir}/p.yaml",
        "matrix.protocol: 'http' is listed twice",
        p_yaml=profile(matrix(protocol=["http", "http"])),
    ),
    case(
        "duration-inf",
        "profile validate {dir}/p.yaml",
        "duration_s",
        "got .inf",
        p_yaml=profile(at("duration_s", float("inf"))),
    ),
    case(
        "duration-nan",
        "profile validate {dir}/p.yaml",
        "duration_s",
        "got .nan",
        p_yaml=profile(at("duration_s", float("nan"))),
    ),
    case(
        "duration-true",
        "profile validate {dir}/p.yaml",
        "duration_s",
        "got true",
        p_yaml=profile(at("duration_s", True)),
    ),
    case(
        "duration-over-a-day",
        "profile validate {dir}/p.yaml",
        "duration_s",
        "86400",
        p_yaml=profile(at("duration_s", 86401)),
    ),
    case(
        "duration-string",
        "profile validate {dir}/p.yaml",
        "duration_s",
        "got '6'",
        p_yaml=profile(at("duration_s", "6")),
    ),
    case(
        "warmup-inf",
        "profile validate {dir}/p.yaml",
        "warmup_s",
        p_yaml=profile(at("warmup_s", float("inf"))),
    ),
    case("warmup-negative", "profile validate {dir}/p.yaml", "warmup_s", p_yaml=profile(at("warmup_s", -1))),
    case(
        "warmup-over-a-day",
        "profile validate {dir}/p.yaml",
        "warmup_s",
        p_yaml=profile(at("warmup_s", 90000)),
    ),
    case(
        "repetitions-true",
        "profile validate {dir}/p.yaml",
        "repetitions",
        "got true",
        p_yaml=profile(at("repetitions", True)),
    ),
    case(
        "repetitions-fractional",
        "profile validate {dir}/p.yaml",
        "repetitions",
        "got 1.5",
        p_yaml=profile(at("repetitions", 1.5)),
    ),
    case(
        "repetitions-too-many",
        "profile validate {dir}/p.yaml",
        "repetitions",
        p_yaml=profile(at("repetitions", 101)),
    ),
    case(
        "qps-tolerance-nan",
        "profile validate {dir}/p.yaml",
        "qps_tolerance",
        p_yaml=profile(at("qps_tolerance", float("nan"))),
    ),
    case(
        "qps-tolerance-one",
        "profile validate {dir}/p.yaml",
        "qps_tolerance",
        p_yaml=profile(at("qps_tolerance", 1)),
    ),
    case(
        "qps-tolerance-true",
        "profile validate {dir}/p.yaml",
        "qps_tolerance",
        "got true",
        p_yaml=profile(at("qps_tolerance", True)),
    ),
    case(
        "slo-p99-inf",
        "profile validate {dir}/p.yaml",
        "slo.p99_ms",
        "got .inf",
        p_yaml=profile(at("slo.p99_ms", float("inf"))),
    ),
    case(
        "slo-p99-true",
        "profile validate {dir}/p.yaml",
        "slo.p99_ms",
        "got true",
        p_yaml=profile(at("slo.p99_ms", True)),
    ),
    case(
        "error-budget-nan",
        "profile validate {dir}/p.yaml",
        "slo.error_budget",
        p_yaml=profile(at("slo.error_budget", float("nan"))),
    ),
    case(
        "error-budget-over-one",
        "profile validate {dir}/p.yaml",
        "slo.error_budget",
        p_yaml=profile(at("slo.error_budget", 2)),
    ),
    case(
        "price-inf",
        "profile validate {dir}/p.yaml",
        "prices.cpu_core_hour",
        p_yaml=profile(at("prices", {"cpu_core_hour": float("inf")})),
    ),
    case(
        "price-negative",
        "profile validate {dir}/p.yaml",
        "prices.mem_gib_hour",
        p_yaml=profile(at("prices", {"mem_gib_hour": -1})),
    ),
    case(
        "price-true",
        "profile validate {dir}/p.yaml",
        "prices.cpu_core_hour",
        "got true",
        p_yaml=profile(at("prices", {"cpu_core_hour": True})),
    ),
    case(
        "weight-true",
        "profile validate {dir}/p.yaml",
        "weights.mue_cpu_overhead",
        "got true",
        p_yaml=profile(at("weights.mue_cpu_overhead", True)),
    ),
    case(
        "weight-nan",
        "profile validate {dir}/p.yaml",
        "weights.mue_cpu_overhead",
        p_yaml=profile(at("weights.mue_cpu_overhead", float("nan"))),
    ),
    case(
        "cpu-limit-inf",
        "profile validate {dir}/p.yaml",
        "meshes.1.resources.dataplane.limits.cpu",
        ".inf",
        p_yaml=profile(at("meshes.1.resources.dataplane.limits.cpu", float("inf"))),
    ),
    case(
        "cpu-limit-beyond-float",
        "profile validate {dir}/p.yaml",
        "meshes.1.resources.dataplane.limits.cpu",
        "too large",
        p_yaml=profile(at("meshes.1.resources.dataplane.limits.cpu", "1e400")),
    ),
    case(
        "cpu-limit-true",
        "profile validate {dir}/p.yaml",
        "meshes.1.resources.dataplane.limits.cpu",
        "boolean",
        p_yaml=profile(at("meshes.1.resources.dataplane.limits.cpu", True)),
    ),
    case(
        "memory-limit-nan",
        "profile validate {dir}/p.yaml",
        "meshes.0.resources.app.limits.memory",
        ".nan",
        p_yaml=profile(at("meshes.0.resources.app.limits.memory", float("nan"))),
    ),
    case(
        "memory-unknown-suffix",
        "profile validate {dir}/p.yaml",
        "meshes.0.resources.app.limits.memory",
        "'256Mb' is not a Kubernetes quantity",
        p_yaml=profile(at("meshes.0.resources.app.limits.memory", "256Mb")),
    ),
    case(
        "proxies-true",
        "profile validate {dir}/p.yaml",
        "meshes.1.resources.dataplane_proxies",
        "got true",
        p_yaml=profile(at("meshes.1.resources.dataplane_proxies", True)),
    ),
    case(
        "proxies-fractional",
        "profile validate {dir}/p.yaml",
        "meshes.1.resources.dataplane_proxies",
        p_yaml=profile(at("meshes.1.resources.dataplane_proxies", 1.5)),
    ),
    case(
        "mesh-name-31-characters",
        "profile validate {dir}/p.yaml",
        "meshes.1.name",
        p_yaml=profile(at("meshes.1.name", "b" * 31)),
    ),
    case(
        "cell-id-over-63",
        "profile validate {dir}/p.yaml",
        f"meshes.1.name: mesh '{LONG_MESH}' makes cell ids of up to 70 characters",
        f"'{LONG_MESH}-q1234567p125-c100000-b67108864-http-r99'",
        "shorten the mesh name by 7",
        p_yaml=profile(
            lambda d: (
                at("meshes.1.name", LONG_MESH)(d),
                matrix(qps=[1234567.125, 2], connections=[100000], payload_bytes=[2**26])(d),
                at("repetitions", 100)(d),
            )
        ),
    ),
    case(
        "cell-id-over-63-from-load-points",
        "profile matrix {dir}/p.yaml",
        "meshes.0.name: mesh 'baseline'",
        "use load points with fewer digits",
        p_yaml=profile(matrix(qps=[1e60])),
    ),
    case(
        "matrix-3e7-cells",
        "profile validate {dir}/p.yaml",
        "matrix: 30,000,000 cells (3 meshes × 1000 qps × 10000 connections",
        "exceed the limit of 1,024 cells (raise it with MESHMARK_MAX_CELLS)",
        p_yaml=profile(matrix(qps=list(range(1, 1001)), connections=list(range(1, 10001)))),
    ),
    case(
        "matrix-over-env-limit",
        "profile matrix {dir}/p.yaml",
        "matrix: 6 cells",
        "limit of 5 cells",
        env={"MESHMARK_MAX_CELLS": "5"},
        p_yaml=DEMO_TEXT,
    ),
    case(
        "max-cells-not-a-number",
        "profile validate {dir}/p.yaml",
        "MESHMARK_MAX_CELLS",
        "'lots'",
        env={"MESHMARK_MAX_CELLS": "lots"},
        p_yaml=DEMO_TEXT,
    ),
    case(
        "max-cells-zero",
        "profile validate {dir}/p.yaml",
        "MESHMARK_MAX_CELLS",
        "'0'",
        env={"MESHMARK_MAX_CELLS": "0"},
        p_yaml=DEMO_TEXT,
    ),
    case(
        "load-generator-option-list",
        "profile validate {dir}/p.yaml",
        "load_generator.options.vus",
        p_yaml=profile(at("load_generator.options", {"vus": [1, 2]})),
    ),
]

RUN_CELL_CASES = [
    case(
        "run-cell-connections-repeated",
        "run-cell --profile {dir}/p.yaml --cell baseline-q100-c8-b1024-http-r0 --out {dir}/o",
        "matrix.connections",
        p_yaml=profile(matrix(connections=[8, 8])),
    ),
    case(
        "run-cell-profile-not-utf8",
        "run-cell --profile {dir}/p.yaml --cell x --out {dir}/o",
        "p.yaml",
        "not UTF-8",
        p_yaml=NOT_UTF8,
    ),
    case(
        "run-cell-qps-inf",
        "run-cell --profile {dir}/p.yaml --cell baseline-qinf-c8-b1024-http-r0 --out {dir}/o",
        "matrix.qps.0",
        p_yaml=profile(matrix(qps=[float("inf")])),
    ),
    case(
        "run-cell-out-is-a-file",
        "run-cell --profile {dir}/p.yaml --cell baseline-q100-c8-b1024-http-r0 --out {dir}/p.yaml",
        "--out",
        "is not a directory",
        p_yaml=DEMO_TEXT,
    ),
    case(
        "run-cell-workdir-under-a-file",
        "run-cell --profile {dir}/p.yaml --cell baseline-q100-c8-b1024-http-r0 --out {dir}/o "
        "--workdir {dir}/p.yaml/w",
        "--workdir",
        "cannot create the directory",
        p_yaml=DEMO_TEXT,
    ),
]

PARSE_CASES = [
    case(
        "parse-megabyte-string-for-a-count",
        "parse --format k6 {dir}/k.json",
        "k.json: k6: metrics.http_reqs.count must be a number, got string '9999",
        "more characters)",  # the message is cut, not the input echoed whole
        k_json=edited_json(K6, lambda t: t.replace('"count": 100', '"count": "' + "9" * 2**20 + '"', 1)),
    ),
    case(
        "parse-protocol-carrier-pigeon",
        "parse --format k6 {dir}/k.json --protocol carrier-pigeon",
        "--protocol",
        "carrier-pigeon",
        k_json=K6,
    ),
    case(
        "parse-protocol-uppercase",
        "parse --format k6 {dir}/k.json --protocol HTTP",
        "--protocol",
        "'HTTP'",
        k_json=K6,
    ),
    case(
        "parse-connections-zero",
        "parse --format k6 {dir}/k.json --connections 0",
        "--connections",
        "'0'",
        k_json=K6,
    ),
    case(
        "parse-connections-fractional",
        "parse --format k6 {dir}/k.json --connections 1.5",
        "--connections",
        "'1.5'",
        k_json=K6,
    ),
    case(
        "parse-connections-too-many",
        "parse --format k6 {dir}/k.json --connections 100001",
        "--connections",
        k_json=K6,
    ),
    case(
        "parse-connections-word",
        "parse --format k6 {dir}/k.json --connections eight",
        "--connections",
        k_json=K6,
    ),
    case("parse-qps-zero", "parse --format k6 {dir}/k.json --requested-qps 0", "--requested-qps", k_json=K6),
    case(
        "parse-qps-negative",
        "parse --format k6 {dir}/k.json --requested-qps -5",
        "--requested-qps",
        k_json=K6,
    ),
    case("parse-qps-inf", "parse --format k6 {dir}/k.json --requested-qps inf", "--requested-qps", k_json=K6),
    case("parse-qps-nan", "parse --format k6 {dir}/k.json --requested-qps nan", "--requested-qps", k_json=K6),
    case(
        "parse-dev-zero",
        "parse --format k6 /dev/zero",
        "/dev/zero",
        "larger than the input limit of 4,096 bytes",
        env={"MESHMARK_MAX_INPUT_BYTES": "4096"},
    ),
    case(
        "parse-over-limit",
        "parse --format fortio {dir}/f.json",
        "f.json",
        "larger than the input limit of 1,000",
        env={"MESHMARK_MAX_INPUT_BYTES": "1000"},
        f_json=FORTIO,
    ),
    case(
        "parse-limit-not-a-number",
        "parse --format fortio {dir}/f.json",
        "MESHMARK_MAX_INPUT_BYTES",
        "'64M'",
        env={"MESHMARK_MAX_INPUT_BYTES": "64M"},
        f_json=FORTIO,
    ),
    case(
        "parse-limit-negative",
        "parse --format fortio {dir}/f.json",
        "MESHMARK_MAX_INPUT_BYTES",
        env={"MESHMARK_MAX_INPUT_BYTES": "-1"},
        f_json=FORTIO,
    ),
    case(
        "parse-duplicate-key-fortio",
        "parse --format fortio {dir}/f.json",
        "f.json",
        "duplicate key 'ActualQPS'",
        f_json=with_duplicate_key(FORTIO, "ActualQPS"),
    ),
    case(
        "parse-duplicate-key-k6",
        "parse --format k6 {dir}/k.json",
        "k.json",
        "duplicate key 'metrics'",
        k_json=with_duplicate_key(K6, "metrics"),
    ),
    case(
        "parse-duplicate-key-nested-k6",
        "parse --format k6 {dir}/k.json",
        "duplicate key 'count'",
        k_json=edited_json(K6, lambda t: t.replace('"count": 100', '"count": 100, "count": 1', 1)),
    ),
    case(
        "parse-duplicate-key-nighthawk",
        "parse --format nighthawk {dir}/n.json",
        "n.json",
        "duplicate key 'results'",
        n_json=with_duplicate_key(NIGHTHAWK, "results"),
    ),
    case(
        "parse-wrk2-latin1",
        "parse --format wrk2 {dir}/w.txt",
        "w.txt",
        "not UTF-8",
        w_txt="Latency  6.67\xb5s\n".encode("latin-1"),
    ),
    case(
        "parse-utf16-json",
        "parse --format fortio {dir}/f.json",
        "f.json",
        "not UTF-8",
        f_json=FORTIO.decode().encode("utf-16"),
    ),
    case(
        "parse-json-nested-deeply",
        "parse --format k6 {dir}/k.json",
        "k.json",
        "nested too deeply",
        k_json=b"[" * 100_000,
    ),
    case("parse-format-missing-file-arg", "parse --format k6", "the following arguments are required: FILE"),
]

SCORE_CASES = [
    case("score-cells-not-utf8", "score {dir}/c.jsonl", "c.jsonl", "not UTF-8", c_jsonl=NOT_UTF8),
    case(
        "score-weights-not-utf8",
        "score {dir}/c.jsonl --weights {dir}/w.yaml",
        "w.yaml",
        "cannot read weights",
        "not UTF-8",
        c_jsonl=cells(),
        w_yaml=NOT_UTF8,
    ),
    case(
        "score-cells-dev-zero",
        "score /dev/zero",
        "/dev/zero",
        "larger than the input limit of 65,536",
        env={"MESHMARK_MAX_INPUT_BYTES": "65536"},
    ),
    case(
        "score-weights-dev-zero",
        "score {dir}/c.jsonl --weights /dev/zero",
        "/dev/zero",
        "larger than the input limit",
        env={"MESHMARK_MAX_INPUT_BYTES": "65536"},
        c_jsonl=cells(),
    ),
    case("score-weights-directory", "score {dir}/c.jsonl --weights {dir}", "is a directory", c_jsonl=cells()),
    case(
        "score-weights-duplicate-key",
        "score {dir}/c.jsonl --weights {dir}/w.json",
        "w.json",
        "duplicate key 'mue_cpu'",
        c_jsonl=cells(),
        w_json=b'{"mue_cpu": 0.1, "mue_cpu": 0.4}',
    ),
    case(
        "score-weights-true",
        "score {dir}/c.jsonl --weights {dir}/w.yaml",
        "w.yaml",
        "mue_cpu: expected a number",
        c_jsonl=cells(),
        w_yaml=b"mue_cpu: true\n",
    ),
    case(
        "score-weights-nan",
        "score {dir}/c.jsonl --weights {dir}/w.yaml",
        "w.yaml",
        "mue_cpu: expected a number",
        c_jsonl=cells(),
        w_yaml=b"mue_cpu: .nan\n",
    ),
    case(
        "score-p50-above-p99",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "latency_ms_p50 (5.0 ms) is greater than latency_ms_p90 (1.8 ms)",
        c_jsonl=cells(latency_ms_p50=5.0),
    ),
    case(
        "score-p90-above-p99",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "latency_ms_p90 (9.0 ms) is greater than latency_ms_p99",
        c_jsonl=cells(latency_ms_p90=9.0, latency_ms_max=20.0),
    ),
    case(
        "score-min-above-p50",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "latency_ms_min (1.0 ms) is greater than latency_ms_p50",
        c_jsonl=cells(latency_ms_min=1.0),
    ),
    case(
        "score-p99-above-max",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "latency_ms_p99 (4.5 ms) is greater than latency_ms_max (4.0 ms)",
        c_jsonl=cells(latency_ms_max=4.0),
    ),
    case(
        "score-requests-2-63",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "requests_total",
        "9223372036854775807",
        c_jsonl=cells(requests_total=2**63),
    ),
    case(
        "score-errors-2-64",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "errors_total",
        c_jsonl=cells(requests_total=2**63 - 1, errors_total=2**64),
    ),
    case(
        "score-requests-1e30",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "requests_total: expected an integer, got 1e+30",
        c_jsonl=cells(requests_total=1e30),
    ),
    case(
        "score-nan-literal",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "latency_ms_p75: NaN is not a number",
        c_jsonl=mesh_line_raw('"latency_ms_p75": NaN'),
    ),
    case(
        "score-infinity-literal",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "latency_ms_p75: Infinity is not a number",
        c_jsonl=mesh_line_raw('"latency_ms_p75": Infinity'),
    ),
    case(
        "score-minus-infinity-literal",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "latency_ms_p75: -Infinity",
        c_jsonl=mesh_line_raw('"latency_ms_p75": -Infinity'),
    ),
    case(
        "score-duplicate-key",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "duplicate key 'requests_total'",
        c_jsonl=mesh_line_raw('"requests_total": 5'),
    ),
    case(
        "score-connections-true",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "connections: expected an integer, got True",
        c_jsonl=cells(connections=True),
    ),
    case(
        "score-requested-qps-true",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "requested_qps",
        c_jsonl=cells(requested_qps=True),
    ),
    case(
        "score-actual-qps-true",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "actual_qps: expected a number, got True",
        c_jsonl=cells(actual_qps=True),
    ),
    case(
        "score-latency-false",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "latency_ms_p99: expected a number, got False",
        c_jsonl=cells(latency_ms_p99=False),
    ),
    case(
        "score-is-baseline-one",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "is_baseline: expected true or false, got 1",
        c_jsonl=cells(is_baseline=1),
    ),
    case(
        "score-connections-too-many",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "connections",
        c_jsonl=cells(connections=100_001),
    ),
    case(
        "score-payload-over-64mib",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "payload_bytes",
        c_jsonl=cells(payload_bytes=2**40),
    ),
    case(
        "score-repetition-negative",
        "score {dir}/c.jsonl",
        "c.jsonl:2",
        "repetition",
        c_jsonl=cells(repetition=-1),
    ),
    case(
        "score-memory-overflow",
        "score {dir}/c.jsonl",
        "c.jsonl",
        "overflows to inf",
        c_jsonl=cells(mem_bytes_app=1.7e308, mem_bytes_dataplane=1.7e308),
    ),
    case(
        "score-qps-underflow-cost",
        "score {dir}/c.jsonl",
        "c.jsonl",
        "mesh_cost_per_million_requests overflows",
        c_jsonl=cells(actual_qps=1e-310),
    ),
    case("score-slo-flag-nan", "score {dir}/c.jsonl --slo-p99-ms nan", "--slo-p99-ms", c_jsonl=cells()),
    case("score-slo-flag-inf", "score {dir}/c.jsonl --slo-p99-ms inf", "--slo-p99-ms", c_jsonl=cells()),
    case("score-slo-flag-word", "score {dir}/c.jsonl --slo-p99-ms fast", "--slo-p99-ms", c_jsonl=cells()),
    case(
        "score-line-is-a-string",
        "score {dir}/c.jsonl",
        "c.jsonl:1",
        "expected a JSON object, got string",
        c_jsonl=b'"cell"\n',
    ),
    case(
        "score-line-is-null",
        "score {dir}/c.jsonl",
        "c.jsonl:1",
        "expected a JSON object, got null",
        c_jsonl=b"null\n",
    ),
]


def results_rows() -> list[dict[str, Any]]:
    sys.path.insert(0, str(REPO / "tests" / "validation"))
    from validation_rows import healthy_rows

    return [json.loads(json.dumps(row, default=str)) for row in healthy_rows()]


ROWS = results_rows()


def results(change: dict[str, Any] | None = None, row: int = 1) -> bytes:
    rows = copy.deepcopy(ROWS)
    rows[row].update(change or {})
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def results_raw(key: str, raw: str) -> bytes:
    """The rows with the second row's `key` set to raw JSON text (NaN, or a repeated key)."""
    placeholder = "@@raw@@"
    text = results({key: placeholder}).decode()
    return text.replace(json.dumps(placeholder), raw, 1).encode()


VALIDATE_CASES = [
    case("validate-empty-file", "validate {dir}/r.jsonl", "r.jsonl", "no result rows", r_jsonl=b""),
    case(
        "validate-blank-lines-only",
        "validate {dir}/r.jsonl",
        "r.jsonl",
        "no result rows",
        r_jsonl=b"\n  \n\n",
    ),
    case(
        "validate-not-utf8",
        "validate {dir}/r.jsonl",
        "r.jsonl",
        "not UTF-8",
        r_jsonl=b'{"cell_id": "caf\xe9"}\n',
    ),
    case(
        "validate-dev-zero",
        "validate /dev/zero",
        "/dev/zero",
        "larger than the input limit",
        env={"MESHMARK_MAX_INPUT_BYTES": "65536"},
    ),
    case("validate-directory", "validate {dir}", "is a directory"),
    case(
        "validate-duplicate-key",
        "validate {dir}/r.jsonl",
        "r.jsonl:2",
        "duplicate key 'requests_total'",
        r_jsonl=results_raw("requests_total", '1, "requests_total": 2'),
    ),
    case(
        "validate-nan-literal",
        "validate {dir}/r.jsonl",
        "r.jsonl:2",
        "latency_ms_p50: NaN is not a number",
        r_jsonl=results_raw("latency_ms_p50", "NaN"),
    ),
    case(
        "validate-infinity-literal",
        "validate {dir}/r.jsonl",
        "r.jsonl:2",
        "actual_qps: Infinity",
        r_jsonl=results_raw("actual_qps", "Infinity"),
    ),
    case(
        "validate-line-is-array",
        "validate {dir}/r.jsonl",
        "r.jsonl:1",
        "expected a JSON object, got array",
        r_jsonl=b"[1, 2]\n",
    ),
    case(
        "validate-connections-true",  # row 1 of the plan order: sidecar, round 0, 40 req/s
        "validate {dir}/r.jsonl",
        "connections must be a number",
        "wrong type in cells sidecar-q40-c8-b1024-http-r0",
        r_jsonl=results({"connections": True}),
    ),
    case(
        "validate-requests-total-false",
        "validate {dir}/r.jsonl",
        "requests_total must be a number",
        r_jsonl=results({"requests_total": False}, row=4),
    ),
    case(
        "validate-data-docs-in-proc",
        "validate {dir}/r.jsonl --data-docs /proc/x",
        "--data-docs /proc/x",
        "cannot create",
        r_jsonl=results(),
    ),
    case(
        "validate-data-docs-is-a-file",
        "validate {dir}/r.jsonl --data-docs {dir}/r.jsonl",
        "--data-docs",
        "is not a directory",
        r_jsonl=results(),
    ),
    case(
        "validate-qps-tolerance-one",
        "validate {dir}/r.jsonl --qps-tolerance 1",
        "--qps-tolerance",
        r_jsonl=results(),
    ),
    case(
        "validate-qps-tolerance-nan",
        "validate {dir}/r.jsonl --qps-tolerance nan",
        "--qps-tolerance",
        r_jsonl=results(),
    ),
    case(
        "validate-qps-tolerance-negative",
        "validate {dir}/r.jsonl --qps-tolerance -0.1",
        "--qps-tolerance",
        r_jsonl=results(),
    ),
    case(
        "validate-planned-empty",
        "validate {dir}/r.jsonl --planned {dir}/c.jsonl",
        "c.jsonl",
        "no planned cells",
        r_jsonl=results(),
        c_jsonl=b"",
    ),
    case(
        "validate-planned-not-utf8",
        "validate {dir}/r.jsonl --planned {dir}/c.jsonl",
        "c.jsonl",
        "not UTF-8",
        r_jsonl=results(),
        c_jsonl=NOT_UTF8,
    ),
    case(
        "validate-planned-no-cell-id",
        "validate {dir}/r.jsonl --planned {dir}/c.jsonl",
        "c.jsonl:2: cell_id",
        r_jsonl=results(),
        c_jsonl=b'{"cell_id": "a"}\n{"mesh": "b"}\n',
    ),
    case(
        "validate-planned-cell-id-number",
        "validate {dir}/r.jsonl --planned {dir}/c.jsonl",
        "c.jsonl:1: cell_id",
        r_jsonl=results(),
        c_jsonl=b'{"cell_id": 7}\n',
    ),
]

REPORT_CASES = [
    case("report-days-99999999", "report --data {dir} --days 99999999", "--days", "36,525", "99999999"),
    case("report-days-negative", "report --data {dir} --days -1", "--days"),
    case("report-days-just-over", "report --data {dir} --days 36526", "--days"),
    case("report-days-word", "report --data {dir} --days month", "--days", "'month'"),
    case("report-history-runs-zero", "report --data {dir} --history-runs 0", "--history-runs"),
    case("report-history-runs-huge", "report --data {dir} --history-runs 1000000000", "--history-runs"),
    case("report-out-is-a-file", "report --data {dir} --out {dir}/f", "--out", "is not a directory", f=b"x"),
    case(
        "report-out-under-a-file",
        "report --data {dir} --out {dir}/f/reports",
        "--out",
        "cannot create the directory",
        f=b"x",
    ),
]

USAGE_CASES = [
    case("no-subcommand", "", "the following arguments are required: command"),
    case("unknown-subcommand", "benchmark", "invalid choice: 'benchmark'"),
    case("profile-without-action", "profile", "the following arguments are required: action"),
    case("unknown-flag", "score {dir}/c.jsonl --wieghts {dir}/w.yaml", "unrecognized arguments: --wieghts"),
]

CASES = (
    PROFILE_CASES + RUN_CELL_CASES + PARSE_CASES + SCORE_CASES + VALIDATE_CASES + REPORT_CASES + USAGE_CASES
)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error_line(err: str, expect: tuple[str, ...]) -> None:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    errors = [line for line in lines if ERROR_LINE.match(line)]
    assert errors and errors == lines[-1:], f"expected one error line, last on stderr:\n{err}"
    assert all(line.startswith("meshmark") for line in lines), err  # the rest: progress lines
    for text in expect:
        assert text in errors[0], errors[0]


def test_the_cases_are_distinct() -> None:
    assert len({c.id for c in CASES}) == len(CASES)
    inputs = [(c.argv, tuple(sorted(c.files.items())), tuple(sorted(c.env.items()))) for c in CASES]
    assert len(set(inputs)) == len(inputs)


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_exit_2(
    bad: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, content in bad.files.items():
        (tmp_path / name).write_bytes(content)
    for name, value in bad.env.items():
        monkeypatch.setenv(name, value)
    argv = [part.replace("{dir}", str(tmp_path)) for part in bad.argv]
    code, out, err = run(argv, capsys)
    assert code == 2, err
    assert out == ""
    assert_one_error_line(err, tuple(text.replace("{dir}", str(tmp_path)) for text in bad.expect))


# Rows that are bad but not the whole file: validation quarantines them (exit 1, "bad rows
# found") and names the cell and the reason; the other rows pass.
QUARANTINE_CASES = [
    ("validate-requests-total-1e30", {"requests_total": 1e30}, "requests_total < 2^63"),
    ("validate-requests-total-2-64", {"requests_total": 2**64}, "requests_total < 2^63"),
    ("validate-errors-total-2-63", {"errors_total": 2**63}, "errors_total < 2^63"),
    ("validate-connections-2-31", {"connections": 2**31}, "connections < 2^31"),
    ("validate-repetition-2-31", {"repetition": 2**31}, "repetition < 2^31"),
    ("validate-payload-2-63", {"payload_bytes": 2**63}, "payload_bytes < 2^63"),
]


@pytest.mark.parametrize(
    ("change", "reason"), [c[1:] for c in QUARANTINE_CASES], ids=[c[0] for c in QUARANTINE_CASES]
)
def test_out_of_range_row_is_quarantined_with_exit_1(
    change: dict[str, Any], reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(results(change))
    code, out, err = run(["validate", str(path)], capsys)
    assert code == 1, err
    assert "Traceback" not in err
    summary = json.loads(out)
    [quarantined] = summary["quarantine"]
    assert quarantined["cell_id"] == ROWS[1]["cell_id"]
    assert any(reason in text for text in quarantined["reasons"]), quarantined
    assert summary["rows_good"] == len(ROWS) - 1


# -- the installed console script in its own process ----------------------------------------------

MESHMARK = str(Path(sys.executable).with_name("meshmark"))
# Runs a command, passes its stderr on as stdout and reports its peak resident memory (KiB) on
# stderr: RUSAGE_CHILDREN of a fresh interpreter covers exactly that one child.
_PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
sys.stdout.write(done.stderr)
sys.stderr.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(done.returncode if done.returncode >= 0 else 128 - done.returncode)
"""


def test_parse_dev_zero_stops_at_the_default_limit_in_bounded_memory() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, MESHMARK, "parse", "--format", "k6", "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 2, done.stdout  # not killed (-9 would come back as 137)
    assert done.stdout == (
        "meshmark: error: /dev/zero: larger than the input limit of 67,108,864 bytes "
        "(raise it with MESHMARK_MAX_INPUT_BYTES)\n"
    )
    peak_kib = int(done.stderr)
    # The limit (64 MiB) read once plus the interpreter; an unbounded read grows until killed.
    assert peak_kib < 400 * 1024, f"peak RSS {peak_kib} KiB"


# The issue's tracebacks, once more through the real console script (counted once, above).
ISSUE_TRACEBACKS = [
    "profile-validate-not-utf8",
    "profile-matrix-not-utf8",
    "run-cell-profile-not-utf8",
    "score-cells-not-utf8",
    "score-weights-not-utf8",
    "report-days-99999999",
    "report-out-is-a-file",
    "validate-data-docs-in-proc",
    "validate-empty-file",
]


@pytest.mark.parametrize("bad", [c for c in CASES if c.id in ISSUE_TRACEBACKS], ids=ISSUE_TRACEBACKS)
def test_console_script_prints_one_line_without_traceback(bad: Case, tmp_path: Path) -> None:
    for name, content in bad.files.items():
        (tmp_path / name).write_bytes(content)
    argv = [part.replace("{dir}", str(tmp_path)) for part in bad.argv]
    done = subprocess.run([MESHMARK, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    assert_one_error_line(done.stderr, tuple(text.replace("{dir}", str(tmp_path)) for text in bad.expect))
