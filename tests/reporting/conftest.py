"""Histories written through the store (DatasetStore.write_run), shared by the reporting tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic import (
    BASELINE,
    SIDECAR,
    SIDECAR_MTLS,
    SyntheticHistory,
    write_history,
)

# Ten nights, 2 % noise, and in the newest night the sidecar mesh's p99 is 20 % higher.
REGRESSION_SPEC = SyntheticHistory(
    meshes=(BASELINE, SIDECAR, SIDECAR_MTLS),
    qps=(100.0, 500.0, 1000.0),
    nights=10,
    noise=0.02,
    seed=11,
    newest_changes={"sidecar": {"latency_ms_p99": 1.20}},
)
# A month of nights with ±5 % noise on every measured value and nothing changed.
NOISY_SPEC = SyntheticHistory(
    meshes=(BASELINE, SIDECAR, SIDECAR_MTLS), qps=(100.0, 500.0, 1000.0), nights=30, noise=0.05, seed=5
)


@pytest.fixture(scope="session")
def regression_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("regression-history")
    write_history(str(root), REGRESSION_SPEC)
    return root


@pytest.fixture(scope="session")
def noisy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("noisy-history")
    write_history(str(root), NOISY_SPEC)
    return root


@pytest.fixture(scope="session")
def regression_report(regression_root: Path, tmp_path_factory: pytest.TempPathFactory):
    from meshmark_tasks.reporting import build_report

    out = tmp_path_factory.mktemp("regression-report")
    return build_report(str(regression_root), out_dir=str(out))
