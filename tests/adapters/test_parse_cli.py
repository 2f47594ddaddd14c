"""`meshmark parse`: one JSON object on stdout; bad input -> one stderr line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from meshmark_tasks.cli import main
from meshmark_tasks.result import NormalizedResult

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
UPSTREAM = FIXTURES / "upstream"
MESHMARK = Path(sys.executable).parent / "meshmark"


@pytest.mark.parametrize(
    ("fmt", "path"),
    [
        ("fortio", UPSTREAM / "fortio-http-result.json"),
        ("nighthawk", UPSTREAM / "nighthawk-fortio-format.json"),
        ("nighthawk", FIXTURES / "nighthawk" / "medium-global.json"),
        ("wrk2", UPSTREAM / "wrk2-latency.txt"),
        ("k6", FIXTURES / "k6" / "k6-errors-full-trend.json"),
    ],
)
def test_prints_exactly_one_json_object(capsys: pytest.CaptureFixture[str], fmt: str, path: Path) -> None:
    assert main(["parse", "--format", fmt, str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.endswith("\n") and captured.out.count("\n") == 1
    doc = json.loads(captured.out)
    assert isinstance(doc, dict)
    assert set(doc) == set(NormalizedResult.model_fields)
    assert doc["load_generator"] == fmt


def test_hints_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "k6" / "k6-errors-full-trend.json"
    argv = ["parse", "--format", "k6", str(path), "--requested-qps", "50", "--connections", "5"]
    assert main([*argv, "--load-generator-version", "1.1.0"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["requested_qps"], doc["connections"], doc["load_generator_version"]) == (50.0, 5, "1.1.0")
    assert (doc["requests_total"], doc["errors_total"]) == (100, 10)


@pytest.mark.parametrize(
    ("fmt", "content", "problem"),
    [
        ("fortio", b"", "empty file"),
        ("k6", b"{not json", "not valid JSON"),
        ("wrk2", b"Running 30s test @ http://127.0.0.1:80/\n", "no 'N requests in T' line"),
    ],
)
def test_bad_input_exits_2_with_one_stderr_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str, content: bytes, problem: str
) -> None:
    path = tmp_path / "bad-output"
    path.write_bytes(content)
    assert main(["parse", "--format", fmt, str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"meshmark: error: {path}: ")
    assert problem in lines[0]


def test_a_raw_output_the_store_kept_compressed_parses_as_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import gzip

    path = FIXTURES / "k6" / "k6-errors-full-trend.json"
    compressed = tmp_path / "cell.k6.json.gz"
    compressed.write_bytes(gzip.compress(path.read_bytes()))
    outputs = []
    for argv in ([str(path)], [str(compressed)]):
        assert main(["parse", "--format", "k6", *argv]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    truncated = tmp_path / "truncated.k6.json.gz"
    truncated.write_bytes(compressed.read_bytes()[:40])
    assert main(["parse", "--format", "k6", str(truncated)]) == 2
    assert (
        capsys.readouterr().err.strip().endswith("truncated.k6.json.gz: not a readable gzip file (truncated)")
    )


def test_a_gzip_bomb_stops_at_the_input_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    from meshmark_tasks.config import MAX_INPUT_BYTES_ENV

    monkeypatch.setenv(MAX_INPUT_BYTES_ENV, "100000")
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip.compress(b" " * 10_000_000))
    assert bomb.stat().st_size < 100_000
    assert main(["parse", "--format", "k6", str(bomb)]) == 2
    assert "larger than the input limit of 100,000 bytes" in capsys.readouterr().err


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["parse", "--format", "fortio", str(tmp_path / "nope.json")]) == 2
    assert capsys.readouterr().err.strip().endswith("nope.json: file not found")


@pytest.mark.parametrize(
    "argv", [["--format", "vegeta", "x"], ["x"], ["--format", "k6", "x", "--connections", "-1"]]
)
def test_bad_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["parse", *argv])
    assert info.value.code == 2
    [line] = capsys.readouterr().err.splitlines()  # one line, pointing at the usage
    assert line.startswith("meshmark parse: error: ") and line.endswith("(see `meshmark parse --help`)")


def test_the_installed_console_script(tmp_path: Path) -> None:
    assert MESHMARK.exists(), f"console script not installed at {MESHMARK}"
    ok = subprocess.run(
        [
            str(MESHMARK),
            "parse",
            "--format",
            "wrk2",
            str(UPSTREAM / "wrk2-latency.txt"),
            "--requested-qps",
            "2000",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["requests_total"] == 60018
    assert json.loads(ok.stdout)["requested_qps"] == 2000.0
    bad = tmp_path / "empty.json"
    bad.write_bytes(b"")
    failed = subprocess.run(
        [str(MESHMARK), "parse", "--format", "fortio", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert failed.returncode == 2
    assert failed.stdout == ""
    assert failed.stderr == f"meshmark: error: {bad}: empty file\n"
