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

from meshmark_tasks.reporting.charts import Chart, plotly_js
from meshmark_tasks.reporting.quality import data_quality_sentence

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
    charts: Sequence[Chart],
    rule: Mapping[str, Any],
    prices: Sequence[Mapping[str, Any]],
    generator_version: str,
    compare_href: str | None = None,
) -> str:
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
        insufficient=insufficient,
        charts=charts,
        rule=rule,
        prices=prices,
        generator_version=generator_version,
        compare_href=compare_href,
        plotly_js=Markup(plotly_js()),  # the library's own bundle, not data
        fmt=fmt,
        pct=pct,
    )
