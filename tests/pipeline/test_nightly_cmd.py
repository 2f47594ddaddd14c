"""`meshmark nightly` hands the DAG a conf the trigger form would accept."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from meshmark_tasks.cli import main


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    class FakeRun:
        """Stands in for the run process: records how it was started, ends at once with 0."""

        def __init__(self, cmd: list[str], *, env: dict[str, str], cwd: str, **options: Any) -> None:
            calls.append({"conf": json.loads(cmd[3]), "argv": cmd[4:], "env": env, "cwd": cwd, **options})

        def wait(self, timeout: float | None = None) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakeRun)
    return calls


def test_a_profile_path_becomes_a_name_and_a_profiles_folder(launched, tmp_path: Path) -> None:
    profile = tmp_path / "mine.yaml"
    profile.write_text("name: mine\n")
    assert main(["nightly", "--profile", str(profile), "--qps", "50", "max", "--duration-s", "3"]) == 0
    call = launched[0]
    assert call["conf"] == {
        "profile": "mine",
        "backend": "local",
        "meshes": [],
        "qps": [50.0, "max"],
        "connections": [],
        "duration_s": 3.0,
    }
    assert call["env"]["MESHMARK_PROFILES_DIR"] == str(tmp_path)
    assert call["env"]["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"


def test_logical_date_is_passed_on(launched) -> None:
    assert main(["nightly", "--logical-date", "2026-11-25T02:00:00+00:00"]) == 0
    assert launched[0]["argv"] == ["2026-11-25T02:00:00+00:00"]
    assert launched[0]["conf"]["profile"] == "local-demo"
    # the run gets its lifeline and a session of its own (lifecycle.py)
    assert launched[0]["start_new_session"] is True and len(launched[0]["pass_fds"]) == 1


def test_missing_profile_file_is_a_clear_error(launched, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nightly", "--profile", "/nope/missing.yaml"]) == 2
    assert "meshmark: error: /nope/missing.yaml: no such profile file" in capsys.readouterr().err
    assert launched == []
