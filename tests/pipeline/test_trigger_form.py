"""The trigger form's values as a person types them and as the API sends them, read back typed."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshmark_tasks.errors import ProfileError
from meshmark_tasks.plan import RunPlan
from meshmark_tasks.trigger_form import form_overrides, nightly_param_specs, profile_summaries

REPO = Path(__file__).resolve().parents[2]


def test_text_from_the_form_and_numbers_from_the_api_read_the_same() -> None:
    typed = form_overrides(
        {"qps": ["100", "300, max", ""], "connections": ["8", " 16"], "meshes": ["sidecar", ""]}
    )
    sent = form_overrides({"qps": [100, 300, "max"], "connections": [8, 16], "meshes": ["sidecar"]})
    assert typed == sent
    assert typed.qps == [100.0, 300.0, "max"] and typed.connections == [8, 16] and typed.meshes == ["sidecar"]


def test_empty_fields_mean_the_profiles_values() -> None:
    empty = form_overrides({"meshes": None, "qps": [], "connections": [""], "duration_s": None})
    assert (empty.meshes, empty.qps, empty.connections, empty.duration_s) == (None, None, None, None)
    assert (empty.profile, empty.backend) == ("local-demo", "local")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"qps": ["fast"]}, "params.qps: 'fast' is not a positive number or max"),
        ({"qps": ["0"]}, "params.qps: '0' is not a positive number or max"),
        ({"qps": [True]}, "params.qps: True is not a positive number or max"),
        ({"connections": ["2.5"]}, "params.connections: '2.5' is not a whole number of at least 1"),
        ({"connections": [0]}, "params.connections: 0 is not a whole number of at least 1"),
        ({"duration_s": "nan"}, "params.duration_s: 'nan' is not a number of seconds"),
        ({"duration_s": 0}, "params.duration_s: 0 is not between 0 and 86400 s"),
        ({"qps": {"a": 1}}, "params.qps: expected a list, got dict"),
    ],
)
def test_bad_values_name_the_field(params: dict, message: str) -> None:
    with pytest.raises(ProfileError) as excinfo:
        form_overrides(params)
    assert str(excinfo.value) == message


def test_a_plan_from_what_the_form_sends() -> None:
    plan = RunPlan.from_params(
        {
            "profile": "local-demo",
            "meshes": ["baseline"],
            "qps": ["150"],
            "connections": ["4"],
            "duration_s": 2,
        }
    )
    assert plan.cell_ids == ["baseline-q150-c4-b1024-http-r0"]
    assert plan.profile.duration_s == 2


def test_specs_come_from_the_profiles_folder(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "name: mine\ndescription: Mine.\nmeshes: [{name: alpha, kind: baseline}, {name: beta, kind: istio}]\n"
        "matrix: {qps: [50, max], connections: [2]}\nduration_s: 9\n"
    )
    (tmp_path / "broken.yaml").write_text("meshes: [unclosed\n")
    assert [s.name for s in profile_summaries(tmp_path)] == ["broken", "mine"]
    specs = nightly_param_specs(tmp_path)
    assert specs["profile"]["enum"] == ["broken", "mine"] and specs["profile"]["default"] == "broken"
    assert specs["profile"]["values_display"]["mine"] == "mine: Mine."
    assert specs["meshes"]["items"]["enum"] == ["", "alpha", "beta"]
    assert "(mine: 50, max)" in specs["qps"]["description"]
    assert "(mine: 9 s)" in specs["duration_s"]["description"]


def test_the_shipped_profiles_are_offered() -> None:
    specs = nightly_param_specs(REPO / "profiles")
    assert specs["profile"]["default"] == "local-demo"
    assert "local-demo: baseline, sidecar, sidecar-mtls" in specs["meshes"]["description"]
