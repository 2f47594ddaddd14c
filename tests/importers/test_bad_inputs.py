"""Bad import files: one ImportParseError each, one line, naming the file and the line/column or field."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from meshmark_tasks.importers import ImportParseError, import_file, parse_istio_csv, parse_meshery, parse_smp

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MESHERY_TEXT = (FIXTURES / "meshery" / "meshery-results.json").read_text()
CSV_TEXT = (FIXTURES / "istio-csv" / "istio-proxy-current.csv").read_text()
SMP_TEXT = (FIXTURES / "smp" / "smp-export-example.json").read_text()
SMP_YAML = (FIXTURES / "smp" / "smp-export-example.yaml").read_text()

Parser = Callable[..., Any]


def meshery(edit: Callable[[list[dict[str, Any]]], object]) -> bytes:
    doc = json.loads(MESHERY_TEXT)
    edit(doc)
    return json.dumps(doc).encode()


def csv_line(line: int, old: str, new: str) -> bytes:
    lines = CSV_TEXT.splitlines(keepends=True)
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    return "".join(lines).encode()


def smp(edit: Callable[[dict[str, Any]], object]) -> bytes:
    doc = json.loads(SMP_TEXT)
    edit(doc)
    return json.dumps(doc).encode()


def _set(mapping: dict[str, Any], key: str, value: Any) -> None:
    mapping[key] = value


def _rename(mapping: dict[str, Any], old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


# (id, parser, content, where the message must point, what it must say)
CASES: list[tuple[str, Parser, bytes, str, str]] = [
    # -- Meshery ------------------------------------------------------------------------------------
    ("meshery-empty-file", parse_meshery, b"  \n", "", "empty file"),
    (
        "meshery-given-a-csv",
        parse_meshery,
        CSV_TEXT.encode(),
        "",
        "not valid JSON: Expecting value (line 1, column 1)",
    ),
    (
        "meshery-gzip",
        parse_meshery,
        gzip.compress(MESHERY_TEXT.encode()),
        "",
        "is a gzip file (decompress it first)",
    ),
    (
        "meshery-not-utf8",
        parse_meshery,
        MESHERY_TEXT.replace("istio_1647729263279", "istio_\udcff").encode("utf-8", "surrogateescape"),
        "line 4",
        "not UTF-8 text: byte 0xff",
    ),
    ("meshery-truncated", parse_meshery, MESHERY_TEXT[:700].encode(), "", "not valid JSON: "),
    ("meshery-empty-array", parse_meshery, b"[]", "", "no performance results: the array is empty"),
    (
        "meshery-nan-literal",
        parse_meshery,
        MESHERY_TEXT.replace('"ActualQPS": 38.44836361217263', '"ActualQPS": NaN', 1).encode(),
        "",
        "ActualQPS: NaN is not a number (JSON has no NaN or Infinity)",
    ),
    ("meshery-empty-page", parse_meshery, b'{"page": 0, "results": []}', "results", "the array is empty"),
    (
        "meshery-duplicate-key",
        parse_meshery,
        MESHERY_TEXT.replace('"mesh": "istio",', '"mesh": "istio", "mesh": "linkerd",', 1).encode(),
        "",
        "duplicate key 'mesh': a JSON object may give each key only once",
    ),
    (
        "meshery-both-spellings",
        parse_meshery,
        meshery(lambda d: _set(d[0], "mesheryId", "x")),
        "[0].mesheryId",
        "both 'meshery_id' and 'mesheryId' are present",
    ),
    (
        "meshery-bad-start-time",
        parse_meshery,
        meshery(lambda d: _set(d[1], "test_start_time", "yesterday")),
        "[1].test_start_time",
        "not an RFC 3339 time stamp: 'yesterday'",
    ),
    (
        "meshery-start-time-without-offset",
        parse_meshery,
        meshery(lambda d: _set(d[0], "test_start_time", "2022-03-19T22:34:23")),
        "[0].test_start_time",
        "time stamp without a UTC offset",
    ),
    (
        "meshery-no-runner-results",
        parse_meshery,
        meshery(lambda d: _set(d[2], "runner_results", None)),
        "[2].runner_results",
        "runner_results is missing",
    ),
    (
        "meshery-not-a-result",
        parse_meshery,
        b'{"name": "istio", "mesh": "istio"}',
        "",
        "not a Meshery performance result: no runner_results (keys: mesh, name)",
    ),
    (
        "meshery-duplicate-result",
        parse_meshery,
        meshery(lambda d: _set(d[2], "meshery_id", d[0]["meshery_id"])),
        "[2]",
        "duplicate result: run id 'meshery-6d2b4a53-9a38-4c52-9c4c-0c3a3c1e6a10' is also the result at [0]",
    ),
    (
        "meshery-id-with-slash",
        parse_meshery,
        meshery(lambda d: _set(d[0], "meshery_id", "../../etc")),
        "[0].meshery_id",
        "not an id",
    ),
    (
        "meshery-runner-results-not-object",
        parse_meshery,
        meshery(lambda d: _set(d[0], "runner_results", "fortio")),
        "[0].runner_results",
        "expected an array, got string",
    ),
    # -- istio/tools CSV -------------------------------------------------------------------------------
    (
        "csv-truncated",
        parse_istio_csv,
        CSV_TEXT[:-60].encode(),
        "line 9",
        "expected 15 fields as in the header, got",
    ),
    (
        "csv-label-without-qps",
        parse_istio_csv,
        csv_line(3, "4f1a9c2e_qps_1000_c_8", "4f1a9c2e_c_8"),
        "line 3, column 'Labels'",
        "has no '_qps_<n>' part",
    ),
    (
        "csv-unknown-mode",
        parse_istio_csv,
        csv_line(2, "none_mtls_baseline", "none_mtls_sidecarless"),
        "line 2, column 'Labels'",
        "ends in unknown mode 'sidecarless'",
    ),
    (
        "csv-unknown-column",
        parse_istio_csv,
        csv_line(1, "NumThreads", "Threads"),
        "line 1, column 'Threads'",
        "unknown column",
    ),
    (
        "csv-unknown-resource-group",
        parse_istio_csv,
        csv_line(1, "mem_Mi_avg_istio_proxy_fortioserver", "mem_Mi_avg_fortioserver_app"),
        "line 1, column 'mem_Mi_avg_fortioserver_app'",
        "unknown resource group 'fortioserver_app'",
    ),
    (
        "csv-missing-column",
        parse_istio_csv,
        csv_line(1, ",p99,", ",p98,"),
        "line 1, column 'p98'",
        "unknown column",
    ),
    (
        "csv-duplicate-column",
        parse_istio_csv,
        csv_line(1, ",p999,", ",p99,"),
        "line 1, column 'p99'",
        "column appears twice",
    ),
    (
        "csv-negative-duration",
        parse_istio_csv,
        csv_line(4, ",240,", ",-240,"),
        "line 4, column 'ActualDuration'",
        "negative duration: -240",
    ),
    (
        "csv-not-a-number",
        parse_istio_csv,
        csv_line(5, ",1307,", ",1.3ms,"),
        "line 5, column 'p50'",
        "not a number: '1.3ms'",
    ),
    (
        "csv-missing-required-value",
        parse_istio_csv,
        csv_line(6, ",998,1010,", ",-,1010,"),
        "line 6, column 'ActualQPS'",
        "value is missing",
    ),
    (
        "csv-header-only",
        parse_istio_csv,
        CSV_TEXT.splitlines(keepends=True)[0].encode(),
        "",
        "no data lines after the header",
    ),
    (
        "csv-given-json",
        parse_istio_csv,
        MESHERY_TEXT.encode(),
        "line 1",
        "this is JSON, not the istio/tools benchmark CSV",
    ),
    (
        "csv-bad-start-time",
        parse_istio_csv,
        csv_line(7, "2026-11-20T10:20:08.213370446Z", "20/11/2026 10:20"),
        "line 7, column 'StartTime'",
        "not an RFC 3339 time stamp",
    ),
    ("csv-binary", parse_istio_csv, b"PAR1\x00\x00binary", "", "is a Parquet file, not a text file"),
    # -- SMP -------------------------------------------------------------------------------------------
    (
        "smp-unknown-result-field",
        parse_smp,
        smp(lambda d: _set(d["performance_test_results"][0], "actual_QPS", 1.0)),
        "performance_test_results[0].actual_QPS",
        "unknown field",
    ),
    (
        "smp-negative-duration",
        parse_smp,
        smp(lambda d: _set(d["performance_test_results"][1], "end_time", "2026-11-26T01:00:00Z")),
        "performance_test_results[1].end_time",
        "end_time is before start_time (a negative duration)",
    ),
    (
        "smp-yaml-duplicate-key",
        parse_smp,
        SMP_YAML.replace("  duration: 60s\n", "  duration: 60s\n  duration: 30s\n").encode(),
        "",
        "not valid YAML: duplicate key 'duration' at line 17",  # the second "duration"
    ),
    (
        "smp-yaml-syntax",
        parse_smp,
        SMP_YAML.replace("clients:\n", "clients: [\n", 1).encode(),
        "",
        "not valid YAML: ",
    ),
    (
        "smp-wrong-kind",
        parse_smp,
        smp(lambda d: _set(d, "kind", "meshery.result")),
        "kind",
        "not an SMP export document",
    ),
    (
        "smp-no-results",
        parse_smp,
        smp(lambda d: _set(d, "performance_test_results", [])),
        "performance_test_results",
        "the array is empty",
    ),
    (
        "smp-unknown-mesh-config",
        parse_smp,
        smp(lambda d: _set(d["performance_test_results"][0], "mesh_config_id", "cilium")),
        "performance_test_results[0].mesh_config_id",
        "no service mesh config with id 'cilium'",
    ),
    (
        "smp-extension-unknown-column",
        parse_smp,
        smp(
            lambda d: _rename(
                next(iter(d["meshmark_extension"]["results"].values())), "requests_total", "requests"
            )
        ),
        "meshmark_extension.results.scheduled__2026-11-26T02:00:00+00:00/baseline-q1000-c16-b1024-http-r0.requests",
        "unknown column",
    ),
    (
        "smp-extension-wrong-type",
        parse_smp,
        smp(lambda d: _set(next(iter(d["meshmark_extension"]["results"].values())), "errors_total", "none")),
        "meshmark_extension.results.scheduled__2026-11-26T02:00:00+00:00/baseline-q1000-c16-b1024-http-r0.errors_total",
        "expected a number, got string 'none'",
    ),
    (
        "smp-bad-label-number",
        parse_smp,
        smp(lambda d: _set(d["performance_test_results"][0]["labels"], "meshmark.connections", "sixteen")),
        "performance_test_results[0].labels.meshmark.connections",
        "expected a number, got string 'sixteen'",
    ),
    (
        "smp-unknown-mesh-type",
        parse_smp,
        smp(lambda d: _set(d["service_mesh_configs"][1], "mesh_type", {"type": "ISTIO_AMBIENT"})),
        "service_mesh_configs[1].mesh_type.type",
        "unknown ServiceMesh.Type 'ISTIO_AMBIENT'",
    ),
]


@pytest.mark.parametrize(
    ("parser", "content", "where", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_one_clear_error(parser: Parser, content: bytes, where: str, problem: str) -> None:
    with pytest.raises(ImportParseError) as caught:
        parser(content, source="in/file.dat")
    message = str(caught.value)
    assert message.startswith(f"in/file.dat: {where}"), message
    assert problem in message, message
    assert "\n" not in message


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(ImportParseError, match=r"missing\.json: file not found$"):
        import_file(tmp_path / "missing.json", "meshery")
    with pytest.raises(ImportParseError, match="is a directory, not a file"):
        import_file(tmp_path, "istio-csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ImportParseError, match="unknown import format 'fortio'"):
        import_file(tmp_path / "x.json", "fortio")


def test_there_are_at_least_fifteen_bad_inputs() -> None:
    assert len(CASES) >= 15
