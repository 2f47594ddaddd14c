"""build_report: history → change points → HTML, Markdown and regressions.json, published."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from meshmark_tasks.reporting.change_charts import changes_chart
from meshmark_tasks.reporting.charts import all_charts, plotly_asset_name, plotly_js
from meshmark_tasks.reporting.compare_render import COMPARE_PAGE, previous_run_page
from meshmark_tasks.reporting.history import History, load_history
from meshmark_tasks.reporting.html import render_html
from meshmark_tasks.reporting.markdown import render_markdown
from meshmark_tasks.reporting.prices import price_assumptions
from meshmark_tasks.reporting.publish import ASSETS, publish, relative_link, report_folder
from meshmark_tasks.reporting.quality import data_quality
from meshmark_tasks.reporting.run_numbers import run_numbers_section
from meshmark_tasks.reporting.trends import (
    METHOD,
    TrendRule,
    counts,
    detect_history,
    insufficient_record,
    series_records,
)
from meshmark_tasks.storage import DatasetStore

# 2: insufficient_history entries carry only trends.INSUFFICIENT_COLUMNS (docs/reports.md).
REGRESSIONS_SCHEMA_VERSION = 2


@dataclass(frozen=True)
class ReportResult:
    report_dir: str  # <out>/<run_date>
    latest_dir: str  # <out>/latest
    html_path: str
    markdown_path: str
    json_path: str
    run_id: str
    run_date: str
    counts: dict[str, int]
    regressions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_regressions(self) -> bool:
        return bool(self.regressions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "report_dir": self.report_dir,
            "latest_dir": self.latest_dir,
            "html": self.html_path,
            "markdown": self.markdown_path,
            "json": self.json_path,
            "run_id": self.run_id,
            "run_date": self.run_date,
            "counts": self.counts,
            "regressions": self.regressions,
        }


def _version() -> str:
    try:
        return metadata.version("meshmark")
    except metadata.PackageNotFoundError:
        return "dev"


def _data_docs_href(store: DatasetStore, run_id: str, report_dir: str) -> str | None:
    """Link to the run's GX Data Docs, relative where both sides are local; None if absent."""
    index = store.data_docs_index(run_id)
    return None if index is None else relative_link(report_dir, index)


def build_report(
    root: str,
    *,
    days: int = 30,
    meshes: Sequence[str] | None = None,
    out_dir: str | None = None,
    history_runs: int = 90,
    rule: TrendRule | None = None,
) -> ReportResult:
    """Report on the newest run under `root` against its history; publish to `out_dir`.

    `out_dir` defaults to <root>/reports; the files go to <out_dir>/<run_date>/ and
    <out_dir>/latest/. `history_runs`: the newest runs of the window each series' change points are
    looked for in. Raises NoHistoryError (a MeshmarkError) when there is nothing to report.
    """
    rule = rule or TrendRule(history_runs=history_runs)
    history = load_history(root, days=days, meshes=meshes, repetition_runs=rule.history_runs)
    trends = detect_history(history, rule)
    series = trends.series
    records = series_records(series)
    recent_changes = series_records(trends.recent_changes)
    by_class: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_class.setdefault(record["classification"], []).append(record)
    regressions = by_class.get("regression", [])
    improvements = by_class.get("improvement", [])
    machine_drift = by_class.get("machine_drift", [])
    insufficient = [insufficient_record(r) for r in by_class.get("insufficient_history", [])]
    tally = counts(series)

    run_id = history.newest_run_id
    run_date = history.newest_run_date.isoformat()
    store = DatasetStore(root)
    out_base = out_dir or store.reports_root()
    report_dir = report_folder(out_base, run_date)
    window = _window(history, days)
    rule_dict = rule.as_dict()
    generated_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()

    document = {
        "schema_version": REGRESSIONS_SCHEMA_VERSION,
        "method": METHOD,
        "generated_at": generated_at,
        "run_id": run_id,
        "run_date": run_date,
        "window": window,
        "meshes": list(meshes or []),
        "rule": rule_dict,
        "counts": tally,
        "regressions": regressions,
        "improvements": improvements,
        "machine_drift": machine_drift,
        "insufficient_history": insufficient,
        "recent_changes": recent_changes,
    }
    quality = data_quality(store.read_run_summary(run_id))
    document["data_quality"] = quality
    profiles = sorted({str(p) for p in history.runs["profile"].dropna()})
    plotly_src = f"../{ASSETS}/{plotly_asset_name()}"
    extra_pages = previous_run_page(
        store, history, generated_at=generated_at, version=_version(), plotly_src=plotly_src
    )
    numbers = run_numbers_section(store, run_id, history)
    html = render_html(
        run_id=run_id,
        run_date=run_date,
        profiles=profiles,
        window=window,
        meshes_filter=list(meshes or []),
        generated_at=generated_at,
        data_docs_href=_data_docs_href(store, run_id, report_dir),
        data_quality=quality,
        counts=tally,
        regressions=regressions,
        improvements=improvements,
        machine_drift=machine_drift,
        insufficient=insufficient,
        recent_changes=recent_changes,
        charts=_charts(history, [*regressions, *improvements, *recent_changes]),
        rule=rule_dict,
        prices=price_assumptions(profiles),
        generator_version=_version(),
        compare_href=COMPARE_PAGE if extra_pages else None,
        run_numbers=numbers,
        plotly_src=plotly_src,
    )
    markdown = render_markdown(
        run_id=run_id,
        run_date=run_date,
        window=window,
        data_quality=quality,
        counts=tally,
        regressions=regressions,
        improvements=improvements,
        machine_drift=machine_drift,
        recent_changes=recent_changes,
        rule=rule_dict,
    )
    published = publish(
        out_base,
        run_date,
        {
            "regressions.json": one_entry_per_line(document),
            "summary.md": markdown,
            "index.html": html,
            **extra_pages,
        },
        assets={plotly_asset_name(): lambda: plotly_js().encode("utf-8")},
    )
    return ReportResult(
        report_dir=published.report_dir,
        latest_dir=published.latest_dir,
        html_path=published.files["index.html"],
        markdown_path=published.files["summary.md"],
        json_path=published.files["regressions.json"],
        run_id=run_id,
        run_date=run_date,
        counts=tally,
        regressions=regressions,
    )


def one_entry_per_line(document: dict[str, Any]) -> str:
    """The JSON document with each top-level key on its own line and each entry of a list on its
    own line, compact inside: as easy to scan and diff as indented JSON, a quarter smaller."""

    def compact(value: Any) -> str:
        return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))

    lines = []
    for key, value in document.items():
        if isinstance(value, list) and value:
            entries = ",\n    ".join(compact(entry) for entry in value)
            lines.append(f"  {compact(key)}: [\n    {entries}\n  ]")
        else:
            lines.append(f"  {compact(key)}: {compact(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _charts(history: History, changes: Sequence[dict[str, Any]]) -> list[Any]:
    flagged = changes_chart(history, changes)
    return ([flagged] if flagged else []) + all_charts(history)


def _window(history: History, days: int) -> dict[str, Any]:
    first = history.runs["run_date"].iloc[0]
    first_date = first.date() if hasattr(first, "date") else first
    return {
        "days": days,
        "runs": len(history.runs),
        "first_run_date": first_date.isoformat(),
        "newest_run_date": history.newest_run_date.isoformat(),
    }
