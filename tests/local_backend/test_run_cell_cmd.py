"""`meshmark run-cell`: the command any worker runs for one cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshmark_tasks.backends.local.processes import processes_mentioning
from meshmark_tasks.cli import main
from meshmark_tasks.result import NormalizedResult

PROFILE = """\
name: cli-cell
meshes:
  - {name: baseline, kind: baseline}
  - {name: tele, kind: local-sidecar, network_functions: [telemetry, retries]}
load_generator: {tool: k6}
matrix: {qps: [150], connections: [8], payload_bytes: [512]}
duration_s: 2
warmup_s: 0.5
slo: {p99_ms: 50}
"""


@pytest.fixture
def profile_path(tmp_path: Path) -> Path:
    path = tmp_path / "cli.yaml"
    path.write_text(PROFILE)
    return path


@pytest.mark.testbed
def test_run_cell_prints_the_normalized_result(
    profile_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cell_id = "tele-q150-c8-b512-http-r0"
    out = tmp_path / "out"
    code = main(["run-cell", "--profile", str(profile_path), "--cell", cell_id, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = NormalizedResult.model_validate_json(captured.out)
    assert result.load_generator == "k6" and result.requested_qps == 150 and result.requests_total > 0
    assert (out / f"{cell_id}.k6.json").is_file()
    measurement = json.loads((out / f"{cell_id}.measurement.json").read_text())
    assert measurement["result"] == json.loads(captured.out)
    assert measurement["resources"]["cpu_cores_dataplane"] > 0
    # The temporary workdir was removed and nothing of it runs any more.
    workdir = captured.err.split("(workdir ")[1].split(")")[0]
    assert not Path(workdir).exists()
    assert processes_mentioning(workdir) == []


def test_unknown_cell_is_bad_input_listing_valid_ids(
    profile_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run-cell", "--profile", str(profile_path), "--cell", "nope", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "no cell 'nope'" in err and "baseline-q150-c8-b512-http-r0" in err and str(profile_path) in err


def test_cluster_profile_is_bad_input(
    repo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = repo_root / "profiles" / "cluster-istio-linkerd.yaml"
    from meshmark_tasks.matrix import expand_matrix
    from meshmark_tasks.profile import load_profile

    cell_id = next(c.cell_id for c in expand_matrix(load_profile(profile)) if not c.is_baseline)
    code = main(["run-cell", "--profile", str(profile), "--cell", cell_id, "--out", str(tmp_path / "o")])
    assert code == 2
    assert "cannot run" in capsys.readouterr().err
