"""plan_run: the trigger form's params become a validated profile and its cells."""

from __future__ import annotations

import pytest

from meshmark_tasks.errors import ProfileError
from meshmark_tasks.pipeline.nightly import plan_run, profile_of
from meshmark_tasks.plan import resolve_profile_path


def test_defaults_plan_the_demo_profile_on_the_local_backend() -> None:
    plan = plan_run({})
    assert plan["backend"] == "local"
    assert plan["meshes"] == ["baseline", "sidecar", "sidecar-mtls"]
    assert len(plan["cells"]) == 6
    assert profile_of(plan).name == "local-demo"


def test_overrides_narrow_the_matrix() -> None:
    plan = plan_run(
        {"profile": "local-demo", "meshes": ["baseline", "sidecar"], "qps": [50, "max"], "duration_s": 2}
    )
    ids = [c["cell_id"] for c in plan["cells"]]
    assert ids == [  # execution order: load point, round, mesh (baseline first)
        "baseline-q50-c8-b1024-http-r0",
        "sidecar-q50-c8-b1024-http-r0",
        "baseline-qmax-c8-b1024-http-r0",
        "sidecar-qmax-c8-b1024-http-r0",
    ]
    assert profile_of(plan).duration_s == 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"profile": "no-such-profile"}, "profile 'no-such-profile'"),
        ({"meshes": ["istio"]}, "meshes: istio not in profile 'local-demo'"),
        ({"qps": [-5]}, "params.qps: -5 is not a positive number or max"),
        ({"connections": [0]}, "params.connections: 0 is not a whole number of at least 1"),
        ({"duration_s": 0}, "duration_s"),
        ({"backend": "nomad"}, "params.backend"),
    ],
)
def test_bad_params_name_the_field(params: dict, message: str) -> None:
    with pytest.raises(ProfileError, match=message.replace(".", r"\.")):
        plan_run(params)


def test_profile_by_path(demo_profile_path) -> None:
    assert resolve_profile_path(str(demo_profile_path)) == demo_profile_path


def test_a_scheduled_run_uses_the_scheduled_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHMARK_SCHEDULED_PROFILE", raising=False)
    assert profile_of(plan_run({"profile": "local-demo"}, scheduled=True)).name == "local-nightly"
    monkeypatch.setenv("MESHMARK_SCHEDULED_PROFILE", "local-demo")
    assert profile_of(plan_run({}, scheduled=True)).name == "local-demo"
    monkeypatch.setenv("MESHMARK_SCHEDULED_PROFILE", "no-such-profile")
    with pytest.raises(ProfileError, match="no-such-profile"):
        plan_run({}, scheduled=True)
