"""Testbed settings: the CPU split, the MESHMARK_LOCAL_* variables and their one-line errors."""

from __future__ import annotations

from typing import Any

import pytest

from meshmark_tasks.backends.local.settings import (
    CpuPlan,
    TestbedSettings,
    TestbedSettingsError,
    parse_cpus,
    parse_per_mesh,
)
from meshmark_tasks.matrix import expand_matrix
from meshmark_tasks.measurement import CellMeasurement


def test_auto_splits_the_usable_cpus_into_disjoint_halves() -> None:
    assert parse_cpus("auto", frozenset({0, 1})) == (CpuPlan(frozenset({0}), frozenset({1})), "auto")
    plan, _ = parse_cpus("auto", frozenset({2, 3, 5, 7, 8}))
    assert plan == CpuPlan(frozenset({2, 3}), frozenset({5, 7, 8}))


def test_one_cpu_means_no_pinning_and_says_why() -> None:
    plan, reason = parse_cpus("auto", frozenset({3}))
    assert plan is None and reason == "not pinned: only 1 usable CPU"
    assert parse_cpus("off", frozenset({0, 1})) == (None, "pinning off")


def test_explicit_cpu_lists() -> None:
    plan, reason = parse_cpus("loadgen=0;sut=1-3", frozenset(range(4)))
    assert plan == CpuPlan(frozenset({0}), frozenset({1, 2, 3})) and reason == "explicit"
    plan, _ = parse_cpus("sut=2,3; loadgen=0,1", frozenset(range(4)))
    assert plan is not None and plan.as_dict() == {"loadgen": [0, 1], "sut": [2, 3]}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("loadgen=0;sut=0", "must not overlap"),
        ("loadgen=0;sut=9", r"names CPU\(s\) \[9\] this process cannot use"),
        ("loadgen=0", "must name both"),
        ("loadgen=a;sut=1", "is not a CPU list"),
        ("loadgen=2-1;sut=0", "is not a CPU list"),
        ("pinned", "must be auto, off or loadgen=CPUS;sut=CPUS"),
    ],
)
def test_bad_cpu_specs_name_the_variable(spec: str, message: str) -> None:
    with pytest.raises(TestbedSettingsError, match=message) as caught:
        parse_cpus(spec, frozenset({0, 1}))
    assert "MESHMARK_LOCAL_CPUS" in str(caught.value)


def test_settings_from_the_environment() -> None:
    settings = TestbedSettings.from_env(
        {
            "MESHMARK_LOCAL_CPUS": "off",
            "MESHMARK_LOCAL_SCHEDULING": "normal",
            "MESHMARK_LOCAL_GOMAXPROCS": "2",
            "MESHMARK_LOCAL_CPU_WINDOW": "sampler",
            "MESHMARK_LOCAL_SAMPLER_INTERVAL_S": "0.1",
            "MESHMARK_LOCAL_APP_WORK_KIB": "sidecar=64, sidecar-mtls=8",
        }
    )
    assert settings == TestbedSettings(
        cpus="off",
        scheduling="normal",
        gomaxprocs=2,
        cpu_window="sampler",
        sampler_interval_s=0.1,
        app_work_kib={"sidecar": 64, "sidecar-mtls": 8},
    )
    assert settings.app_work_for("sidecar") == 64 and settings.app_work_for("baseline") == 0
    assert TestbedSettings.from_env({}) == TestbedSettings()
    assert TestbedSettings.from_env({"MESHMARK_LOCAL_CPUS": " "}).cpus == "auto"


def test_per_mesh_knobs_for_every_mesh_or_some() -> None:
    assert parse_per_mesh("V", "32") == {"*": 32}
    assert TestbedSettings(app_work_kib=parse_per_mesh("V", "32")).app_work_for("anything") == 32
    assert parse_per_mesh("V", "") == {}
    settings = TestbedSettings.from_env({"MESHMARK_LOCAL_ACCESS_LOG_EVERY": "sidecar=4"})
    assert settings.access_log_every_for("sidecar") == 4 and settings.access_log_every_for("baseline") is None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MESHMARK_LOCAL_SCHEDULING", "rt", "MESHMARK_LOCAL_SCHEDULING='rt': expected one of fifo, normal"),
        ("MESHMARK_LOCAL_GOMAXPROCS", "two", "MESHMARK_LOCAL_GOMAXPROCS='two': expected an integer"),
        ("MESHMARK_LOCAL_GOMAXPROCS", "0", "gomaxprocs must be at least 1"),
        ("MESHMARK_LOCAL_CPU_WINDOW", "wall", "MESHMARK_LOCAL_CPU_WINDOW='wall'"),
        ("MESHMARK_LOCAL_SAMPLER_INTERVAL_S", "0", r"sampler_interval_s must be in \(0, 10\]"),
        ("MESHMARK_LOCAL_APP_WORK_KIB", "sidecar:64", "expected an integer"),
        ("MESHMARK_LOCAL_APP_WORK_KIB", "=5", "'=5' is not MESH=NUMBER"),
        ("MESHMARK_LOCAL_ACCESS_LOG_EVERY", "sidecar=0", "access_log_every for 'sidecar' must be at least 1"),
        ("MESHMARK_LOCAL_APP_WORK_KIB", "sidecar=-1", "must not be negative"),
        ("MESHMARK_LOCAL_CPUS", "loadgen=0;sut=0", "must not overlap"),
    ],
)
def test_bad_environment_is_one_clear_line(variable: str, value: str, message: str) -> None:
    with pytest.raises(TestbedSettingsError, match=message) as caught:
        TestbedSettings.from_env({variable: value})
    text = str(caught.value)
    assert text.startswith("testbed settings from the environment: ") and "\n" not in text


def test_conditions_are_optional_in_the_measurement_json(profile_factory: Any) -> None:
    cell = expand_matrix(profile_factory())[0]
    plain = CellMeasurement.failed(cell, "x")
    assert "conditions" not in plain.to_json_dict()  # the shape other backends and old rows have
    assert CellMeasurement.from_json_dict(plain.to_json_dict()) == plain
    recorded = CellMeasurement(
        cell, None, None, None, None, failure="x", conditions={"cpu_plan": {"loadgen": [0], "sut": [1]}}
    )
    assert CellMeasurement.from_json_dict(recorded.to_json_dict()) == recorded
