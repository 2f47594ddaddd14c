"""Trend reports with regression detection (docs/reports.md).

build_report(root, days=..., meshes=..., out_dir=...) -> ReportResult is the entry point; it is
imported lazily so `meshmark_tasks.reporting.notify` stays light for DAG files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshmark_tasks.reporting.report import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from meshmark_tasks.reporting import report

        return getattr(report, name)
    raise AttributeError(name)
