"""Bad inputs of the commands that read or write a store: `import`, `export smp`, `compare`.

Each case runs `meshmark_tasks.cli:main` against its own copy of a store holding imported and
measured runs, and checks: exit 2, nothing on stdout, exactly one error line (the last on stderr;
the others are `meshmark: …` progress lines), no traceback, the expected text naming the file,
line, field, flag or run — and that the store is byte for byte what it was (nothing half-imported).
docs/bad-inputs.md counts these cases.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import repeated_runs  # tests/support
import synthetic  # tests/support

from meshmark_tasks.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MESHERY = (FIXTURES / "meshery" / "meshery-results.json").read_bytes()
CSV = (FIXTURES / "istio-csv" / "istio-proxy-current.csv").read_bytes()
SMP_YAML = (FIXTURES / "smp" / "smp-export-example.yaml").read_bytes()
SMP_JSON = json.loads((FIXTURES / "smp" / "smp-export-example.json").read_text())
ERROR_LINE = re.compile(r"^meshmark( [a-z-]+)*: error: ")

# Runs of the seeded store (see `seeded`).
NIGHT_1 = synthetic.run_id_for(dt.date(2026, 11, 1))
NIGHT_3 = synthetic.run_id_for(dt.date(2026, 11, 3))
OTHER_LOAD = "scheduled__2026-12-01T02:00:00+00:00"  # the same meshes at 50 qps only
OTHER_MESH = "scheduled__2026-12-05T02:00:00+00:00"  # a mesh no other run has
FAILED = "meshery-e4c8d7e2-6a9b-4f0e-b2a1-7c3d5e9f1b44"  # every request failed: no results row


@dataclass(frozen=True)
class Case:
    id: str
    argv: str  # {store} and {dir} are replaced; split on spaces
    expect: tuple[str, ...]
    files: dict[str, bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def case(id: str, argv: str, *expect: str, env: dict[str, str] | None = None, **files: bytes) -> Case:
    """`files` keywords name files in the case folder: bad_json -> bad.json."""
    return Case(id, argv, expect, {k.replace("_", "."): v for k, v in files.items()}, env or {})


def _csv_edit(line: int, old: bytes, new: bytes) -> bytes:
    lines = CSV.splitlines(keepends=True)
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    return b"".join(lines)


def _smp(**result_fields: object) -> bytes:
    doc = json.loads(json.dumps(SMP_JSON))
    doc["performance_test_results"][0].update(result_fields)
    return json.dumps(doc).encode()


def _smp_of_run(run_id: str) -> bytes:
    """The example export, claiming to be run `run_id`."""
    doc = json.loads(json.dumps(SMP_JSON))
    doc["meshmark_extension"]["run"]["run_id"] = run_id
    return json.dumps(doc).encode()


IMPORT = "import meshery {dir}/bad.json --data {store}"
CASES = [
    # -- import: files that are not what the format says -------------------------------------------
    case(
        "import-meshery-given-a-csv", IMPORT, "{dir}/bad.json: not valid JSON: Expecting value", bad_json=CSV
    ),
    case(
        "import-meshery-gzip",
        IMPORT,
        "{dir}/bad.json: is a gzip file (decompress it first)",
        bad_json=gzip.compress(MESHERY),
    ),
    case(
        "import-meshery-nan",
        IMPORT,
        "{dir}/bad.json: ActualQPS: NaN is not a number",
        bad_json=MESHERY.replace(b'"ActualQPS": 38.44836361217263', b'"ActualQPS": NaN', 1),
    ),
    case(
        "import-meshery-bad-time",
        IMPORT,
        "{dir}/bad.json: [1].test_start_time: not an RFC 3339 time stamp: 'yesterday'",
        bad_json=MESHERY.replace(b'"2022-03-19T22:30:01.125Z"', b'"yesterday"', 1),
    ),
    case(
        "import-meshery-missing-file",
        "import meshery {dir}/nowhere.json --data {store}",
        "{dir}/nowhere.json: file not found",
    ),
    case(
        "import-meshery-directory", "import meshery {dir} --data {store}", "{dir}: is a directory, not a file"
    ),
    case(
        "import-meshery-second-file-truncated",
        "import meshery {dir}/good.json {dir}/bad.json --data {store}",
        "{dir}/bad.json: not valid JSON",
        good_json=MESHERY,
        bad_json=MESHERY[:900],
    ),
    case(
        "import-meshery-same-run-in-two-files",
        "import meshery {dir}/good.json {dir}/bad.json --data {store}",
        "{dir}/bad.json: run 'meshery-6d2b4a53-9a38-4c52-9c4c-0c3a3c1e6a10' is also in {dir}/good.json",
        good_json=MESHERY,
        bad_json=MESHERY,
    ),
    case(
        "import-over-the-size-limit",
        "import istio-csv {dir}/bad.csv --data {store}",
        "{dir}/bad.csv: larger than the input limit of 1,000 bytes",
        env={"MESHMARK_MAX_INPUT_BYTES": "1000"},
        bad_csv=CSV,
    ),
    case(
        "import-csv-truncated",
        "import istio-csv {dir}/bad.csv --data {store}",
        "{dir}/bad.csv: line 9: expected 15 fields as in the header",
        bad_csv=CSV[:-60],
    ),
    case(
        "import-csv-label-without-qps",
        "import istio-csv {dir}/bad.csv --data {store}",
        "{dir}/bad.csv: line 3, column 'Labels': label '4f1a9c2e_c_8_1024_none_mtls_both' has no '_qps_<n>'",
        bad_csv=_csv_edit(3, b"4f1a9c2e_qps_1000_c_8", b"4f1a9c2e_c_8"),
    ),
    case(
        "import-csv-given-json",
        "import istio-csv {dir}/bad.csv --data {store}",
        "{dir}/bad.csv: line 1: this is JSON, not the istio/tools benchmark CSV",
        bad_csv=MESHERY,
    ),
    case(
        "import-csv-unknown-column",
        "import istio-csv {dir}/bad.csv --data {store}",
        "{dir}/bad.csv: line 1, column 'Threads': unknown column",
        bad_csv=_csv_edit(1, b"NumThreads", b"Threads"),
    ),
    case(
        "import-smp-given-meshery",
        "import smp {dir}/bad.json --data {store}",
        "{dir}/bad.json: expected an object, got array",
        bad_json=MESHERY,
    ),
    case(
        "import-smp-unknown-field",
        "import smp {dir}/bad.json --data {store}",
        "{dir}/bad.json: performance_test_results[0].actual_QPS: unknown field",
        bad_json=_smp(actual_QPS=1.0),
    ),
    case(
        "import-smp-over-a-measured-run",
        "import smp {dir}/bad.json --data {store}",
        f"{{dir}}/bad.json: run '{NIGHT_1}' is a measured run in",
        "importing would replace it: use another store, or --force",
        bad_json=_smp_of_run(NIGHT_1),
    ),
    case(
        "import-smp-yaml-duplicate-key",
        "import smp {dir}/bad.yaml --data {store}",
        "{dir}/bad.yaml: not valid YAML: duplicate key 'duration' at line 17",
        bad_yaml=SMP_YAML.replace(b"  duration: 60s\n", b"  duration: 60s\n  duration: 30s\n"),
    ),
    # -- import: flags (checked before any file is read) ---------------------------------------------
    case(
        "import-run-id-with-two-files",
        "import istio-csv {dir}/a.csv {dir}/b.csv --run-id x --data {store}",
        "--run-id names one run: give one FILE with it",
        a_csv=CSV,
        b_csv=CSV,
    ),
    case(
        "import-slo-zero",
        IMPORT + " --slo-p99-ms 0",
        "--slo-p99-ms: must be a positive number",
        bad_json=MESHERY,
    ),
    case(
        "import-slo-nan",
        IMPORT + " --slo-p99-ms nan",
        "--slo-p99-ms: must be a positive number",
        bad_json=MESHERY,
    ),
    case(
        "import-error-budget-above-1",
        IMPORT + " --error-budget 1.5",
        "--error-budget: must be a fraction",
        bad_json=MESHERY,
    ),
    case(
        "import-qps-tolerance-1",
        IMPORT + " --qps-tolerance 1",
        "--qps-tolerance: must be in [0, 1)",
        bad_json=MESHERY,
    ),
    case(
        "import-profile-not-a-profile",
        IMPORT + " --profile {dir}/p.yaml",
        "{dir}/p.yaml",
        bad_json=MESHERY,
        p_yaml=b"name: [1, 2]\n",
    ),
    case(
        "import-unknown-format",
        "import fortio {dir}/bad.json --data {store}",
        "invalid choice: 'fortio'",
        bad_json=MESHERY,
    ),
    case("import-no-file", "import meshery --data {store}", "the following arguments are required: FILE"),
    # -- export smp ----------------------------------------------------------------------------------
    case(
        "export-unknown-run",
        "export smp --data {store} --run nightly-42",
        "--run nightly-42: no such run 'nightly-42' under",
        "(newest runs: scheduled__2026-12-05T02:00:00+00:00, ",
    ),
    case(
        "export-run-without-results",
        f"export smp --data {{store}} --run {FAILED}",
        f"--run {FAILED}: the run has no results row (1 cell(s) quarantined): nothing to export",
    ),
    case(
        "export-out-a-directory",
        f"export smp --data {{store}} --run {NIGHT_1} --out {{dir}}",
        "--out {dir}: is a directory, not a file",
    ),
    case(
        "export-out-in-a-missing-directory",
        f"export smp --data {{store}} --run {NIGHT_1} --out {{dir}}/no/such/x.json",
        "--out {dir}/no/such/x.json: the directory {dir}/no/such does not exist",
    ),
    case(
        "export-unknown-format",
        f"export smp --data {{store}} --run {NIGHT_1} --format xml",
        "invalid choice: 'xml'",
    ),
    # -- compare -------------------------------------------------------------------------------------
    case(
        "compare-unknown-run",
        f"compare --data {{store}} nightly-42 {NIGHT_3}",
        "A nightly-42: no such run 'nightly-42' under",
        "; a side is RUN or MESH@RUN)",
    ),
    case(
        "compare-unknown-run-after-mesh",
        f"compare --data {{store}} {NIGHT_1} sidecar@nightly-42",
        "B sidecar@nightly-42: no such run 'nightly-42'",
    ),
    case(
        "compare-unknown-mesh",
        f"compare --data {{store}} {NIGHT_1} istio@{NIGHT_3}",
        f"B istio@{NIGHT_3}: run {NIGHT_3} has no mesh 'istio' (its meshes: baseline, sidecar, sidecar-mtls)",
    ),
    case(
        "compare-no-common-load-point",
        f"compare --data {{store}} {NIGHT_1} {OTHER_LOAD}",
        f"A {NIGHT_1} and B {OTHER_LOAD} have no load point in common",
        "B: 50 qps · 8 conn · 0 B · http",
    ),
    case(
        "compare-no-common-mesh",
        f"compare --data {{store}} {NIGHT_1} {OTHER_MESH}",
        f"A {NIGHT_1} and B {OTHER_MESH} have no mesh configuration in common",
        "compare one of each with MESH@RUN",
    ),
    case(
        "compare-run-without-results",
        f"compare --data {{store}} {NIGHT_1} {FAILED}",
        f"B {FAILED}: run {FAILED} has no results row (every cell was quarantined)",
    ),
    case(
        "compare-empty-store",
        "compare --data {dir}/empty a b",
        "A a: no such run 'a': the store under {dir}/empty holds no runs",
    ),
    case(
        "compare-alpha-0",
        f"compare --data {{store}} {NIGHT_1} {NIGHT_3} --alpha 0",
        "--alpha: must be between 0 and 1",
    ),
    case(
        "compare-history-runs-0",
        f"compare --data {{store}} {NIGHT_1} {NIGHT_3} --history-runs 0",
        "--history-runs: must be between 1 and 1000",
    ),
    case(
        "compare-html-a-directory",
        f"compare --data {{store}} {NIGHT_1} {NIGHT_3} --html {{dir}}",
        "--html {dir}: is a directory, not a file",
    ),
    case(
        "compare-one-side", f"compare --data {{store}} {NIGHT_1}", "the following arguments are required: B"
    ),
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Imported Meshery runs (one with every request failed) and measured nights with repetitions."""
    root = tmp_path_factory.mktemp("seeded") / "store"
    source = root.parent / "meshery.json"
    source.write_bytes(MESHERY)
    assert main(["import", "meshery", str(source), "--data", str(root)]) == 0
    repeated_runs.write_nights(str(root), nights=3, repetitions=2)
    synthetic.write_history(
        str(root), synthetic.SyntheticHistory(nights=1, first_date=dt.date(2026, 12, 1), qps=(50.0,))
    )
    only_linkerd = (synthetic.SyntheticMesh("linkerd"),)
    synthetic.write_history(
        str(root),
        synthetic.SyntheticHistory(nights=1, first_date=dt.date(2026, 12, 5), meshes=only_linkerd),
    )
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_cases_are_distinct() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 15
    inputs = [(c.argv, tuple(sorted(c.files.items())), tuple(sorted(c.env.items()))) for c in CASES]
    assert len(set(inputs)) == len(inputs)


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_the_store_unchanged(
    bad: Case,
    seeded: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = tmp_path / "store"
    shutil.copytree(seeded, store)
    before = snapshot(store)
    cases = tmp_path / "case"
    cases.mkdir()
    for name, content in bad.files.items():
        (cases / name).write_bytes(content)
    for name, value in bad.env.items():
        monkeypatch.setenv(name, value)
    argv = [part.replace("{dir}", str(cases)).replace("{store}", str(store)) for part in bad.argv.split(" ")]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err, err
    lines = err.splitlines()
    errors = [line for line in lines if ERROR_LINE.match(line)]
    assert errors and errors == lines[-1:], f"expected one error line, last on stderr:\n{err}"
    assert all(line.startswith("meshmark") for line in lines), err
    for text in bad.expect:
        assert text.replace("{dir}", str(cases)) in errors[0], errors[0]
    assert snapshot(store) == before  # nothing written, nothing half-imported
