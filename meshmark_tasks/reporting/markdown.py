"""The Markdown summary: headline, counts and the regressions table (for chat, PRs, e-mail)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from meshmark_tasks.reporting.html import changed, ci, fmt, night, pct, pvalue
from meshmark_tasks.reporting.quality import data_quality_sentence

# Markdown renderers pass raw HTML through and treat these as syntax; escape them in data strings.
_MD_SPECIAL = {
    "\\": "\\\\",
    "|": "\\|",
    "`": "\\`",
    "*": "\\*",
    "_": "\\_",
    "[": "\\[",
    "]": "\\]",
    "<": "&lt;",
    ">": "&gt;",
    "&": "&amp;",
    "\n": " ",
    "\r": " ",
}


def md_text(value: object) -> str:
    return "".join(_MD_SPECIAL.get(ch, ch) for ch in str(value))


def _table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = [
        "| mesh | load point | metric | first night | before → after | change (95 % CI) | p | what changed |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        magnitude = row.get("magnitude")
        lines.append(
            f"| {md_text(row['mesh'])} | {md_text(row['load_point'])} "
            f"| {md_text(row['label'])} ({row['unit']}) | {md_text(night(row.get('first_night')))} "
            f"| {fmt(row.get('level_before'))} → {fmt(row.get('level_after'))} "
            f"| {pct(magnitude * 100 if magnitude is not None else None)} ({ci(row.get('magnitude_ci'))}) "
            f"| {pvalue(row.get('p_value'))} | {md_text(changed(row.get('what_changed')))} |"
        )
    return lines


def render_markdown(
    *,
    run_id: str,
    run_date: str,
    window: Mapping[str, Any],
    data_quality: Mapping[str, Any] | None,
    counts: Mapping[str, int],
    regressions: Sequence[Mapping[str, Any]],
    improvements: Sequence[Mapping[str, Any]],
    recent_changes: Sequence[Mapping[str, Any]],
    rule: Mapping[str, Any],
    machine_drift: Sequence[Mapping[str, Any]] = (),
) -> str:
    lines = [f"# MeshMark trend report {run_date}", ""]
    lines.append(
        f"Newest run {md_text(run_id)}; window {window['days']} days, {window['runs']} runs "
        f"from {window['first_run_date']}."
    )
    lines.append("")
    if data_quality:
        lines += [data_quality_sentence(data_quality, md_text), ""]
    if regressions:
        lines.append(
            f"**{len(regressions)} regression{'s' if len(regressions) != 1 else ''}** in the newest run."
        )
    else:
        lines.append("**No regressions** in the newest run.")
    lines.append("")
    lines.append(", ".join(f"{name.replace('_', ' ')}: {value}" for name, value in counts.items()))
    lines.append("")
    if regressions:
        lines += ["## Regressions", "", *_table(regressions), ""]
    if improvements:
        lines += ["## Improvements", "", *_table(improvements), ""]
    if machine_drift:
        fields = ("mesh", "load_point", "label")
        named = "; ".join(" · ".join(md_text(r[k]) for k in fields) for r in machine_drift)
        lines += [
            "## Moved with the machine",
            "",
            "Significant tonight, gone once the machine's speed (the baseline's app CPU per request) is "
            "divided out: " + named + ".",
            "",
        ]
    if recent_changes:
        lines += ["## Recent changes (earlier nights)", "", *_table(recent_changes), ""]
    lines.append(
        f"Method: change points in each series' per-repetition history (newest {rule['history_runs']} runs), "
        f"kept when significant at p ≤ {rule['p_value']:g} and at least {rule['min_magnitude'] * 100:g} %; "
        "flagged when one starts at the newest night. See index.html for charts."
    )
    lines.append("")
    return "\n".join(lines)
