"""What build_report publishes: HTML (escaped, self-contained), Markdown, regressions.json, latest/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from synthetic import BASELINE, SIDECAR, SyntheticHistory, SyntheticMesh, write_history

from meshmark_tasks.reporting import build_report
from meshmark_tasks.reporting.history import NoHistoryError
from meshmark_tasks.storage import safe_run_id

EVIL_MESH = "<script>alert(1)</script>"
EVIL_PROFILE = '<img src=x onerror="alert(2)">'


def test_report_files_in_dated_folder_and_latest(regression_report) -> None:
    dated = Path(regression_report.report_dir)
    latest = Path(regression_report.latest_dir)
    assert dated.name == regression_report.run_date == "2025-01-10"
    assert latest.name == "latest" and latest.parent == dated.parent
    for name in ("index.html", "summary.md", "regressions.json"):
        assert (dated / name).read_bytes() == (latest / name).read_bytes(), name
        assert not (latest / name).is_symlink()
    leftovers = [p.name for p in dated.parent.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_html_opens_from_disk_with_regressions_first(regression_report) -> None:
    html = Path(regression_report.html_path).read_text()
    # Nothing loaded from elsewhere: the one script is plotly.js, stored once beside the reports.
    (script,) = re.findall(r'<script src="([^"]+)"', html)
    assert script.startswith("../assets/plotly-") and "<link " not in html
    for folder in (regression_report.report_dir, regression_report.latest_dir):
        bundle = (Path(folder) / script).resolve()
        assert "plotly.js v" in bundle.read_text()[:2000]
    assert "plotly.js v" not in html  # ... not inlined (4.6 MB per page) ...
    assert len(html.encode()) < 300_000
    assert html.count("<script>meshmarkPlot(") == 6  # ... and used by the five charts and the flagged changes
    assert html.index('id="section-chart-changes"') < html.index('id="section-chart-meshmark"')
    regressions_at = html.index('id="regressions"')
    assert regressions_at < html.index('class="chart"')
    table = html[regressions_at : html.index("</table>", regressions_at)]
    assert table.count('<tr class="regression">') == 9
    assert "sidecar" in table and "p99 latency" in table and "sidecar-mtls" not in table
    assert "per vCPU-hour" in html and "0.0316" in html  # cost assumptions are stated
    # every flagged change says its first night, magnitude with CI, p-value and what changed
    assert table.count("2025-01-10 (scheduled__2025-01-10T02:00:00+00:00)") == 9
    assert table.count("nothing recorded") == 9
    assert re.search(r"\+\d+\.\d %\s*\(\+\d+\.\d … \+\d+\.\d %\)", table)
    assert "No significant change point on an earlier night" in html


def test_regressions_json_for_machines(regression_report) -> None:
    text = Path(regression_report.json_path).read_text()
    document = json.loads(text)
    # one line per top-level key and per list entry (and the lists' brackets)
    entries = sum(len(v) + 1 for v in document.values() if isinstance(v, list) and v)
    assert len(text.splitlines()) == 2 + len(document) + entries
    assert document["schema_version"] == 2
    assert document["run_id"] == regression_report.run_id
    assert document["counts"] == regression_report.counts
    assert document["method"] == document["rule"]["method"] == "change_point"
    assert document["rule"]["p_value"] == 0.001 and document["rule"]["min_magnitude"] == 0.05
    assert document["rule"]["history_runs"] == 90
    assert document["rule"]["scales"]["latency_ms_p99"] == "log"
    assert document["rule"]["scales"]["meshmark"] == "linear"
    assert document["recent_changes"] == []
    assert document["window"]["runs"] == 10
    assert len(document["regressions"]) == document["counts"]["regression"] == 9
    entry = document["regressions"][0]
    for key in (
        "mesh",
        "load_point",
        "requested_qps",
        "connections",
        "payload_bytes",
        "protocol",
        "metric",
        "newest",
        "baseline_median",
        "mad",
        "threshold",
        "change_pct",
        "classification",
        "run_id",
        # the change-point fields
        "method",
        "first_night",
        "magnitude",
        "magnitude_ci",
        "p_value",
        "direction",
        "level_before",
        "level_after",
        "nights_before",
        "nights_after",
        "sigma_within",
        "sigma_between",
        "change_points",
        "what_changed",
    ):
        assert key in entry, key
    assert entry["classification"] == "regression"
    assert entry["mad"] is None  # the retired rule's field: kept, empty
    assert entry["first_night"] == {"run_id": document["run_id"], "run_date": "2025-01-10", "run_seq": 9}
    assert entry["change_points"][-1]["first_night"] == entry["first_night"]
    assert entry["change_points"][-1]["p_value"] == entry["p_value"]
    # stable series are only counted, never listed
    assert all(
        r["classification"] != "stable" for r in document["improvements"] + document["insufficient_history"]
    )


def test_insufficient_history_entries_name_the_series_and_why(tmp_path: Path) -> None:
    """A root's first nights list every series as insufficient_history: each entry carries what
    names the series and why it was not tested, not the test's fields (always null for it); the
    second night's report files stay small."""
    from meshmark_tasks.reporting.trends import INSUFFICIENT_COLUMNS

    root = tmp_path / "history"
    write_history(str(root), SyntheticHistory(nights=2, seed=5))
    report = build_report(str(root), out_dir=str(tmp_path / "report"))
    text = Path(report.json_path).read_text()
    document = json.loads(text)
    insufficient = document["insufficient_history"]
    assert document["schema_version"] == 2
    assert len(insufficient) == document["counts"]["insufficient_history"] > 20
    assert document["regressions"] == document["improvements"] == []
    for entry in insufficient:
        assert list(entry) == INSUFFICIENT_COLUMNS
        assert entry["classification"] == "insufficient_history"
        assert entry["previous_runs"] == 1 and entry["repetitions"] >= 1
        assert isinstance(entry["newest"], float)
        assert entry["message"] == "1 night(s) before the newest; at least 5 needed"
    assert {e["metric"] for e in insufficient} >= {"meshmark", "latency_ms_p99", "meshmark_mean"}
    assert len(text.encode()) < 300 * len(insufficient) + 3_000  # was about 800 bytes an entry
    html = Path(report.html_path).read_text()
    assert f"{len(insufficient)} series have insufficient history" in html
    # A fresh root's second night, shaped as the demo profile (3 meshes, 2 load points): its dated
    # report folder was 149 KB with every field of these entries and a template in every chart.
    sizes = {p.name: p.stat().st_size for p in Path(report.report_dir).iterdir()}
    assert set(sizes) == {"index.html", "compare.html", "summary.md", "regressions.json"}
    assert sum(sizes.values()) < 100_000, sizes


def test_markdown_summary(regression_report) -> None:
    text = Path(regression_report.markdown_path).read_text()
    assert text.startswith("# MeshMark trend report 2025-01-10")
    assert "**9 regressions**" in text
    assert text.count("| sidecar |") == 9
    assert "p99 latency (ms)" in text
    assert "| first night |" in text and "2025-01-10 (scheduled\\_\\_2025-01-10T02:00:00+00:00)" in text
    assert "change points in each series' per-repetition history" in text


def test_a_recent_change_with_a_new_version_is_reported_as_history(tmp_path: Path) -> None:
    """A step three nights ago that came with a new load-generator version: no regression tonight,
    a recent change in every output, naming the night and the version change."""
    root = tmp_path / "data"
    spec = SyntheticHistory(
        meshes=(BASELINE, SIDECAR),
        qps=(100.0,),
        nights=14,
        repetitions=4,
        noise=0.02,
        seed=4,
        step_night=11,
        newest_changes={"sidecar": {"latency_ms_p99": 1.25}},
        step_descriptors={"load_generator_version": "1.2.0"},
    )
    write_history(str(root), spec)
    result = build_report(str(root), out_dir=str(tmp_path / "out"))
    assert not result.has_regressions and result.counts["regression"] == 0
    document = json.loads(Path(result.json_path).read_text())
    recent = [c for c in document["recent_changes"] if c["metric"] == "latency_ms_p99"]
    assert len(recent) == 1
    change = recent[0]
    assert change["mesh"] == "sidecar" and change["first_night"]["run_date"] == "2025-01-12"
    assert change["direction"] == "regression" and change["is_newest"] is False
    assert change["what_changed"] == [
        {"field": "load_generator_version", "before": "1.1.0", "after": "1.2.0"}
    ]
    html = Path(result.html_path).read_text()
    section = html[html.index('id="recent-changes"') : html.index('id="rule"')]
    assert "2025-01-12 (scheduled__2025-01-12T02:00:00+00:00)" in section
    assert "load_generator_version: 1.1.0 → 1.2.0" in section
    assert 'id="section-chart-changes"' in html
    markdown = Path(result.markdown_path).read_text()
    assert "## Recent changes (earlier nights)" in markdown and "1.1.0 → 1.2.0" in markdown


def test_profile_and_result_strings_are_escaped(tmp_path: Path) -> None:
    root = tmp_path / "data"
    evil = SyntheticMesh(EVIL_MESH)
    spec = SyntheticHistory(
        meshes=(BASELINE, evil),
        qps=(100.0,),
        nights=7,
        profile=EVIL_PROFILE,
        newest_changes={EVIL_MESH: {"latency_ms_p99": 1.5}},
    )
    write_history(str(root), spec)
    result = build_report(str(root), out_dir=str(tmp_path / "out"))
    assert result.regressions, "the evil mesh's regression must be in the table"
    html = Path(result.html_path).read_text()
    assert EVIL_MESH not in html and EVIL_PROFILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=" in html
    markdown = Path(result.markdown_path).read_text()
    assert EVIL_MESH not in markdown and "&lt;script&gt;" in markdown
    # JSON keeps the real value: it is data, not markup
    assert json.loads(Path(result.json_path).read_text())["regressions"][0]["mesh"] == EVIL_MESH


def test_latest_follows_the_newest_report_and_links_data_docs(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_history(str(root), SyntheticHistory(qps=(100.0,), nights=6))
    first = build_report(str(root))
    assert Path(first.report_dir) == root / "reports" / first.run_date
    assert "Data Docs" not in Path(first.html_path).read_text()  # no data docs yet, no dead link

    later = SyntheticHistory(qps=(100.0,), nights=1, first_date=first_date_after(first.run_date), seed=3)
    write_history(str(root), later)
    docs = root / "data_docs" / safe_run_id(f"scheduled__{later.first_date.isoformat()}T02:00:00+00:00")
    docs.mkdir(parents=True)
    (docs / "index.html").write_text("<html>docs</html>")
    second = build_report(str(root))
    assert second.run_date == later.first_date.isoformat()
    latest = root / "reports" / "latest"
    assert json.loads((latest / "regressions.json").read_text())["run_id"] == second.run_id
    assert (root / "reports" / first.run_date / "index.html").exists()  # the older report stays
    html = (latest / "index.html").read_text()
    href = re.search(r'<a href="([^"]+)">Data quality', html)
    assert href is not None
    assert (latest / href.group(1)).resolve() == (docs / "index.html").resolve()
    assert (root / "reports" / second.run_date / href.group(1)).resolve() == (docs / "index.html").resolve()


def first_date_after(iso: str):
    import datetime as dt

    return dt.date.fromisoformat(iso) + dt.timedelta(days=1)


def test_no_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NoHistoryError, match=re.escape(str(tmp_path))):
        build_report(str(tmp_path))
    with pytest.raises(NoHistoryError, match="days=0"):
        build_report(str(tmp_path), days=0)


def test_the_newest_runs_data_quality_is_stated(tmp_path: Path) -> None:
    from meshmark_tasks.storage import DatasetStore

    root = tmp_path / "data"
    write_history(str(root), SyntheticHistory(qps=(100.0,), nights=3))
    without = build_report(str(root))
    assert 'id="data-quality"' not in Path(without.html_path).read_text()  # no summary, no claim
    assert json.loads(Path(without.json_path).read_text())["data_quality"] is None

    summary = {
        "data_quality": "passed_with_quarantine",
        "cells_planned": 6,
        "cells_scored": 4,
        "cells_quarantined": 2,
        "meshes_fully_quarantined": ["<b>mtls</b>"],
        "tables": {"results": "elsewhere"},
    }
    DatasetStore(str(root)).write_run_summary(without.run_id, summary)
    result = build_report(str(root))
    html = Path(result.html_path).read_text()
    assert (
        "Data quality of the newest run: passed with quarantine; 4 of 6 planned cells scored, "
        "2 quarantined. Fully quarantined, so missing from the trends: &lt;b&gt;mtls&lt;/b&gt;." in html
    )
    assert 'class="quality bad"' in html
    assert "passed with quarantine; 4 of 6" in Path(result.markdown_path).read_text()
    recorded = json.loads(Path(result.json_path).read_text())["data_quality"]
    assert recorded == {k: v for k, v in summary.items() if k != "tables"}


def test_a_mesh_has_one_colour_in_every_chart(regression_root: Path) -> None:
    from meshmark_tasks.reporting.charts import all_charts
    from meshmark_tasks.reporting.history import load_history

    meshes = {"baseline", "sidecar", "sidecar-mtls"}
    colours: dict[str, set[str]] = {}
    for chart in all_charts(load_history(str(regression_root), days=30)):
        for trace in chart.figure["data"]:
            if trace["name"] in meshes:  # the latency chart's are "<mesh> p50", ... in the same colour
                colours.setdefault(trace["name"], set()).add(trace["line"]["color"])
    assert set(colours) == meshes
    assert all(len(c) == 1 for c in colours.values()), colours
