"""The report's "This run" section: medians ± CI, error bars, paired deltas with significance."""

from __future__ import annotations

import re
from pathlib import Path

import repeated_runs

from meshmark_tasks.reporting import build_report
from meshmark_tasks.reporting.run_numbers import delta_text, plus_minus


def test_plus_minus_and_delta_texts() -> None:
    assert plus_minus(2.0, 1.9, 2.3, "ms") == "2 ms ± 10.0 %"
    assert plus_minus(2.0, None, None, "ms") == "2 ms"  # one repetition: no interval
    assert plus_minus(None, None, None) == "—"
    row = {
        "delta_p99_pct": 21.04,
        "delta_p99_pct_ci_low": 18.0,
        "delta_p99_pct_ci_high": 24.2,
        "delta_p99_p_value": 0.0004,
    }
    assert delta_text(row, "delta_p99") == "+21.0 % [+18.0, +24.2], p < 0.001"
    assert delta_text({"delta_p99_pct": 3.0, "delta_p99_p_value": None}, "delta_p99") == "+3.0 % (no test)"
    assert delta_text({}, "delta_p99") == "—"
    assert delta_text(
        {"meshmark_delta": -4.26, "meshmark_delta_p_value": 0.2}, "meshmark_delta", "points"
    ) == ("-4.3 points, p = 0.200")


def test_the_report_shows_the_run_with_intervals_and_significance(tmp_path: Path) -> None:
    root = str(tmp_path / "store")
    # Five repetitions a night; on the newest night the sidecar's p99 is 30 % higher.
    repeated_runs.write_nights(root, nights=3, newest_changes={"sidecar": {"latency_ms_p99": 1.3}})
    result = build_report(root, out_dir=str(tmp_path / "reports"))
    html = Path(result.html_path).read_text()
    section = html[html.index('<section id="run-numbers">') :]
    assert "This run, with its uncertainty" in section
    assert re.search(r"\d ms ± \d+\.\d %", section)  # medians carry "± x %"
    assert '"error_y":{"array"' in section.replace(" ", "")  # the chart has error bars
    # Sidecar vs baseline (same round) is significant, shown in bold with its CI and p-value.
    assert re.search(r"<b>\+\d+\.\d % \[\+\d+\.\d, \+\d+\.\d\], p (&lt;|=) [\d.]+</b>", section)


def test_the_report_shows_the_median_at_steady_speed_from_eight_repetitions(tmp_path: Path) -> None:
    five, ten = tmp_path / "five", tmp_path / "ten"
    repeated_runs.write_nights(str(five / "store"), nights=2, repetitions=5)
    repeated_runs.write_nights(str(ten / "store"), nights=2, repetitions=10)
    sections = []
    for where in (five, ten):
        html = Path(build_report(str(where / "store"), out_dir=str(where / "reports")).html_path).read_text()
        sections.append(html[html.index('<section id="run-numbers">') :])
    assert '<span class="adjusted">' not in sections[0]  # 5 repetitions: no adjusted median
    # p50, p99 (and data-plane CPU for the sidecars) carry the adjusted median with its interval.
    steady = re.findall(
        r'<span class="adjusted">at steady speed [\d.]+ (ms|cores) ± \d+\.\d %</span>', sections[1]
    )
    assert steady.count("ms") >= 4 and "cores" in steady
