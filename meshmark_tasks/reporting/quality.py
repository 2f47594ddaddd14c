"""The newest run's own data quality (run_summaries/<run>.json, written by the nightly DAG)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def data_quality(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the nightly run recorded about its own data (run_summaries/<run>.json), for the report header."""
    if summary is None:
        return None
    keys = ("data_quality", "cells_planned", "cells_scored", "cells_quarantined", "meshes_fully_quarantined")
    return {key: summary.get(key) for key in keys}


def data_quality_sentence(quality: Mapping[str, Any], escape: Callable[[str], str]) -> str:
    """One line on the newest run's own data quality (quarantined cells never reach the trends)."""
    status = str(quality.get("data_quality") or "unknown").replace("_", " ")
    scored, planned = quality.get("cells_scored"), quality.get("cells_planned")
    text = (
        f"Data quality of the newest run: {status}; {scored} of {planned} planned cells scored, "
        f"{quality.get('cells_quarantined')} quarantined."
    )
    lost = [escape(str(mesh)) for mesh in quality.get("meshes_fully_quarantined") or []]
    if lost:
        text += f" Fully quarantined, so missing from the trends: {', '.join(lost)}."
    return text
