"""Print the pins of requirements-runtime.lock that the Airflow image does not already satisfy.

Run inside the image build (Dockerfile) with the image's own Python:

    python missing_requirements.py requirements-runtime.lock pyproject.toml > missing.txt
    pip install --no-deps -r missing.txt && pip check

Why not `pip install -r requirements-runtime.lock`: the official apache/airflow image already holds
Airflow and its providers at the versions of Airflow's constraints file for that release. Reinstalling
the whole lock would move those packages to our lock's versions under the providers' feet. So:

- a package the image lacks is installed at the lock's pin (the lock is closed over dependencies,
  so `--no-deps` is enough);
- a package the image has is kept as the image has it (Airflow's constraints), unless meshmark's own
  requirement in pyproject.toml rejects that version: then the lock's pin is installed and reported;
- the Airflow core distributions must be exactly the lock's versions, else the image is the wrong
  base and the script stops.

`pip check` after the install proves the result is consistent. The summary goes to stderr; bad input
exits 2 with one line naming the file and line.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

# The image's FROM tag decides these; a different version means a different base image, not a pin to fix.
IMAGE_CORE = ("apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk")
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;#]+)\s*$")


class InputError(Exception):
    """A one-line message naming the file and line at fault."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """`name==version` lines of a uv-compiled lock; comments, blanks and `-c`/`--` options skipped."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "-")):
            continue
        match = PIN.match(line)
        if match is None:
            raise InputError(f"{path}:{number}: expected name==version, got {line!r}")
        pins[canonical(match["name"])] = match["version"]
    if not pins:
        raise InputError(f"{path}: no name==version pins")
    return pins


def read_direct_requirements(path: Path) -> dict[str, Requirement]:
    """meshmark's own requirements ([project].dependencies), markers already evaluated."""
    try:
        dependencies = tomllib.loads(path.read_text())["project"]["dependencies"]
    except (tomllib.TOMLDecodeError, KeyError) as error:
        raise InputError(f"{path}: cannot read [project].dependencies ({error})") from error
    direct: dict[str, Requirement] = {}
    for text in dependencies:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            raise InputError(f"{path}: [project].dependencies: {text!r}: {error}") from error
        if requirement.marker is None or requirement.marker.evaluate():
            direct[canonical(requirement.name)] = requirement
    return direct


def installed_versions(paths: list[str] | None = None) -> dict[str, str]:
    """What the interpreter (or the given site-packages folders) already has."""
    found = metadata.distributions(path=paths) if paths else metadata.distributions()
    return {canonical(dist.metadata["Name"]): dist.version for dist in found if dist.metadata["Name"]}


@dataclass
class Plan:
    install: dict[str, str] = field(default_factory=dict)  # name -> lock version
    kept: dict[str, str] = field(default_factory=dict)  # name -> the image's version
    replaced: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (image, lock)

    def requirement_lines(self) -> list[str]:
        return [f"{name}=={version}" for name, version in sorted(self.install.items())]


def plan(lock: dict[str, str], direct: dict[str, Requirement], installed: dict[str, str]) -> Plan:
    result = Plan()
    for name in IMAGE_CORE:
        if name in lock and installed.get(name) not in (None, lock[name]):
            raise InputError(
                f"the image has {name}=={installed[name]} but the lock pins {name}=={lock[name]}: "
                f"build FROM the apache/airflow image of {lock[name]}"
            )
    for name, version in lock.items():
        have = installed.get(name)
        if have is None:
            result.install[name] = version
        elif name in direct and not direct[name].specifier.contains(have, prereleases=True):
            result.install[name] = version
            result.replaced[name] = (have, version)
        else:
            result.kept[name] = have
    return result


def summary(result: Plan, lock: dict[str, str]) -> str:
    differing = sorted(n for n, v in result.kept.items() if v != lock[n])
    lines = [
        f"meshmark image: {len(lock)} pins in the lock; {len(result.kept)} kept as the image has them "
        f"(Airflow's constraints), {len(result.install)} to install"
    ]
    if differing:
        lines.append(
            "  kept at the image's version, differing from the lock: "
            + ", ".join(f"{n} {result.kept[n]} (lock {lock[n]})" for n in differing)
        )
    for name, (have, want) in sorted(result.replaced.items()):
        lines.append(f"  replaced because meshmark requires it: {name} {have} -> {want}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", type=Path, help="requirements-runtime.lock")
    parser.add_argument("pyproject", type=Path, help="the package's pyproject.toml")
    parser.add_argument(
        "--site-packages",
        action="append",
        metavar="DIR",
        help="look for installed distributions here instead of the running interpreter's path",
    )
    args = parser.parse_args(argv)
    try:
        lock = read_lock(args.lock)
        result = plan(lock, read_direct_requirements(args.pyproject), installed_versions(args.site_packages))
    except (InputError, OSError) as error:
        print(f"missing_requirements: {error}", file=sys.stderr)
        return 2
    print(summary(result, lock), file=sys.stderr)
    for line in result.requirement_lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
