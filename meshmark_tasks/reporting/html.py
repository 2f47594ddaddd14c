"""The self-contained HTML report: one Jinja2 template, autoescaped, plotly.js inlined once.

Every string that comes from a profile or a result (mesh names, load points, run ids, profile
names) goes through Jinja2's autoescaping; chart <div>s are plotly's own output, whose embedded
data is JSON with <, > and / escaped, and whose trace names are HTML-escaped in charts.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
from markupsafe import Markup

from meshmark_tasks.reporting.charts import Chart, chart_script, plotly_js
from meshmark_tasks.reporting.quality import data_quality_sentence
from meshmark_tasks.reporting.run_numbers import RunNumbers

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("meshmark_tasks.reporting", "templates"),
    autoescape=True,  # always, whatever the template's file extension
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def fmt(value: Any) -> str:
    """A number for a table cell: 4 significant digits, '—' for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, int | float):
        return f"{value:.4g}"
    return str(value)


def pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:+.1f} %"


def ci(interval: Any) -> str:
    """A relative interval [lower, upper] as "−1.2 … +3.4 %"."""
    if not interval or interval[0] is None or interval[1] is None:
        return "—"
    return f"{interval[0] * 100:+.1f} … {interval[1] * 100:+.1f} %"


def pvalue(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return "< 1e-12" if value < 1e-12 else f"{value:.2g}"


def sigma(value: Any, scale: str) -> str:
    """A noise sd as the detector uses it: on the log scale ≈ a relative sd ("1.2 %")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value * 100:.1f} %" if scale == "log" else f"{value:.3g}"


def drift_text(row: Mapping[str, Any]) -> str:
    """The drift check of a series as "speed index −22.0 %; divided out: −1.0 % (p 0.4)"."""
    drift = row.get("drift") or {}
    index, rest = drift.get("index_change"), drift.get("normalised_magnitude")
    return (
        f"speed index {pct(index * 100 if index is not None else None)}; divided out: "
        f"{pct(rest * 100 if rest is not None else None)} (p {pvalue(drift.get('normalised_p_value'))})"
    )


def night(value: Mapping[str, Any] | None) -> str:
    """A night as "2026-01-10 (run id)"."""
    if not value:
        return "—"
    return f"{value.get('run_date') or '?'} ({value.get('run_id') or value.get('run_seq')})"


def changed(items: Sequence[Mapping[str, Any]] | None) -> str:
    """what_changed as "field: before → after; …", or "nothing recorded"."""
    if not items:
        return "nothing recorded"
    return "; ".join(f"{i['field']}: {i['before']} → {i['after']}" for i in items)


def render_html(
    *,
    run_id: str,
    run_date: str,
    profiles: Sequence[str],
    window: Mapping[str, Any],
    meshes_filter: Sequence[str],
    generated_at: str,
    data_docs_href: str | None,
    data_quality: Mapping[str, Any] | None,
    counts: Mapping[str, int],
    regressions: Sequence[Mapping[str, Any]],
    improvements: Sequence[Mapping[str, Any]],
    insufficient: Sequence[Mapping[str, Any]],
    recent_changes: Sequence[Mapping[str, Any]],
    charts: Sequence[Chart],
    rule: Mapping[str, Any],
    prices: Sequence[Mapping[str, Any]],
    generator_version: str,
    machine_drift: Sequence[Mapping[str, Any]] = (),
    compare_href: str | None = None,
    run_numbers: RunNumbers | None = None,
    plotly_src: str | None = None,
) -> str:
    """The report page; `plotly_src` links a stored plotly.js instead of inlining it (4.6 MB)."""
    template = _ENV.get_template("report.html.j2")
    return template.render(
        run_id=run_id,
        run_date=run_date,
        profiles=profiles,
        window=window,
        meshes_filter=meshes_filter,
        generated_at=generated_at,
        data_docs_href=data_docs_href,
        # Plain text: the template's autoescape escapes the mesh names in it.
        data_quality_text=data_quality_sentence(data_quality, str) if data_quality else None,
        data_quality=data_quality,
        counts=counts,
        regressions=regressions,
        improvements=improvements,
        machine_drift=machine_drift,
        insufficient=insufficient,
        recent_changes=recent_changes,
        charts=charts,
        rule=rule,
        prices=prices,
        generator_version=generator_version,
        compare_href=compare_href,
        run_numbers=run_numbers,
        plotly_js=Markup(plotly_js()) if plotly_src is None else "",  # the library's bundle, not data
        plotly_src=plotly_src,
        chart_script=Markup(chart_script()),  # the charts' template and drawing function, no data
        fmt=fmt,
        pct=pct,
        ci=ci,
        pvalue=pvalue,
        night=night,
        changed=changed,
        sigma=sigma,
        drift_text=drift_text,
    )
