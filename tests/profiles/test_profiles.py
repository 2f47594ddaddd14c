"""Profiles: validation errors name the file and field; the matrix expands deterministically."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from meshmark_tasks.errors import ProfileError
from meshmark_tasks.matrix import expand_matrix, find_cell
from meshmark_tasks.profile import load_profile

REPO = Path(__file__).resolve().parents[2]
PROFILES = sorted((REPO / "profiles").glob("*.yaml"))


def _demo() -> dict:
    return yaml.safe_load((REPO / "profiles" / "local-demo.yaml").read_text())


def _write(tmp_path: Path, data: object, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_shipped_profiles_are_valid(path: Path) -> None:
    profile = load_profile(path)
    cells = expand_matrix(profile)
    assert cells, path
    assert len({c.cell_id for c in cells}) == len(cells)
    assert any(c.is_baseline for c in cells)


def test_assigned_resources_sum_limits_or_requests() -> None:
    profile = load_profile(REPO / "profiles" / "cluster-istio-linkerd.yaml")
    istio = profile.mesh("istio")
    # app limit 2 + 2 proxies × limit 2 + control plane request 0.5 (no limit)
    assert istio.cpu_cores_assigned == pytest.approx(6.5)
    assert istio.mem_bytes_assigned == 512 * 2**20 + 2 * 2**30 + 2 * 2**30


def test_cell_ids_are_stable_and_readable() -> None:
    cells = expand_matrix(load_profile(REPO / "profiles" / "local-demo.yaml"))
    assert [c.cell_id for c in cells][:2] == [
        "baseline-q100-c8-b1024-http-r0",
        "sidecar-q100-c8-b1024-http-r0",
    ]
    assert expand_matrix(load_profile(REPO / "profiles" / "local-demo.yaml")) == cells
    assert find_cell(load_profile(REPO / "profiles" / "local-demo.yaml"), cells[3].cell_id) == cells[3]


def test_max_qps_is_unthrottled(tmp_path: Path) -> None:
    data = _demo()
    data["matrix"]["qps"] = ["max", 12.5]
    profile_cells = expand_matrix(load_profile(_write(tmp_path, data)))
    baselines = [c for c in profile_cells if c.is_baseline]
    assert [c.requested_qps for c in baselines[:2]] == [None, 12.5]
    assert baselines[1].cell_id == "baseline-q12p5-c8-b1024-http-r0"


def _mutate(path: str, value: object) -> dict:
    data = _demo()
    node = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("slo", _DELETE, "slo: Field required"),
        ("slo.p99_ms", -1, "slo.p99_ms"),
        ("weights.mue_cpu", 0.7, "weights: weight of mue_cpu is 0.7, outside [-0.5, 0.5]"),
        ("weights.mue_speed", 0.1, "unknown MUE 'mue_speed'"),
        ("meshes.1.name", "Sidecar_1", "meshes.1.name"),
        ("meshes.1.name", "baseline", "mesh names must be unique; repeated: baseline"),
        ("meshes.0.kind", "nginx", "meshes.0.kind"),
        ("meshes.2.network_functions", ["mtls", "magic"], "meshes.2.network_functions.1"),
        ("meshes.1.resources.dataplane.limits.cpu", "lots", "'lots' is not a Kubernetes quantity"),
        ("meshes.1.resources.dataplane.limits.memory", -5, "must not be negative"),
        ("matrix.qps", [], "matrix.qps"),
        ("matrix.connections", [0], "matrix.connections.0"),
        ("matrix.protocol", ["quic"], "matrix.protocol.0"),
        ("load_generator.tool", "ab", "load_generator.tool"),
        ("duration_s", 0, "duration_s"),
        ("repetitions", 0, "repetitions"),
        ("surprise", 1, "surprise: Extra inputs are not permitted"),
    ],
)
def test_invalid_profile_names_file_and_field(
    tmp_path: Path, path: str, value: object, expected: str
) -> None:
    file = _write(tmp_path, _mutate(path, value))
    with pytest.raises(ProfileError) as err:
        load_profile(file)
    message = str(err.value)
    assert message.startswith(f"{file}: invalid profile: ")
    assert expected in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("name: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "a profile must be a YAML mapping, got list"),
        ("", "a profile must be a YAML mapping, got NoneType"),
    ],
)
def test_unreadable_profiles(tmp_path: Path, content: str, expected: str) -> None:
    file = _write(tmp_path, content)
    with pytest.raises(ProfileError, match=expected):
        load_profile(file)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=f"{tmp_path / 'nope.yaml'}: cannot read profile"):
        load_profile(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "text",
    ["500m", "256Mi", "1", "2.5", "1e3", "1Gi", "0.5", "100M", ".5", "1.5Gi", "3k", "7Ki", "250n", "2E"],
)
def test_quantities_match_the_kubernetes_client(text: str) -> None:
    from kubernetes.utils.quantity import parse_quantity

    from meshmark_tasks.profile import _parse_quantity

    assert _parse_quantity(text) == float(parse_quantity(text))
