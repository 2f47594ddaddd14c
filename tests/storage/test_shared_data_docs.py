"""Data Docs parts every run repeats (GX's static files, the expectation-suite pages) are stored
once per root, and every run's pages still link them by relative paths that resolve on disk.

The site here is laid out as GX lays it out (index.html, expectations/<suite>.html,
validations/<suite>/<run name>/<time>/results.html, static/), links included; tests/pipeline/
test_finalize.py checks the same with sites GX really built.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from pyarrow import fs as pafs

from meshmark_tasks.storage import DatasetStore, safe_run_id

RUNS = ("manual__2026-11-30T10:00:00+00:00", "manual__2026-11-30T11:00:00+00:00")
SUITES = ("meshmark_results", "meshmark_planned_cells")
# The (relative) links GX writes, and those from a page on disk: href/src attribute values.
_LINK = re.compile(r'(?:href|src)="([^"#:?]+)(?:[#?][^"]*)?"')


# GX's page-wide style sheet, the same in every page
STYLE = "<style>\n" + "".join(f".ge-{n} {{ margin: {n}px; }}\n" for n in range(60)) + "</style>"


def _gx_like_site(directory: str, *, suite_text: str = "row count between 1 and 10000", stamp: str) -> None:
    site = Path(directory)
    (site / "static" / "images").mkdir(parents=True)
    (site / "static" / "images" / "favicon.ico").write_bytes(b"\0icon" * 100)
    (site / "static" / "styles").mkdir()
    (site / "static" / "styles" / "custom.css").write_text("body { margin: 0 }\n")
    logo = f'<img class="NO-CACHE" src="https://example.invalid/logo-long.png?d={stamp}" />'
    (site / "expectations").mkdir()
    for suite in SUITES:
        (site / "expectations" / f"{suite}.html").write_text(
            f'<html><head><link rel="shortcut icon" href="../static/images/favicon.ico"/>{STYLE}</head>\n'
            f'<body>\n  <a href="../index.html">{logo}</a>\n'
            f'  <ol><li><a href="../index.html">Home</a></li></ol>\n'
            f"  <p>{suite}: {suite_text}</p>\n</body></html>\n"
        )
        result = site / "validations" / suite / "meshmark-passed" / stamp / "results.html"
        result.parent.mkdir(parents=True)
        # GX links static/ one folder too high from here (../../../ instead of ../../../../)
        result.write_text(
            f'<html><head><link rel="shortcut icon" href="../../../static/images/favicon.ico"/>{STYLE}\n'
            '  <link rel="stylesheet" href="../../../static/styles/custom.css"/></head>\n'
            f'<body><a href="../../../../index.html">Home</a>\n'
            f'  <a href="../../../../expectations/{suite}.html">{suite}</a> passed at {stamp}</body></html>\n'
        )
    rows = ", ".join(f"{{'link': '<a href=\"expectations/{s}.html\">{s}</a>'}}" for s in SUITES)
    (site / "index.html").write_text(
        f'<html><head><link rel="shortcut icon" href="./static/images/favicon.ico"/>{STYLE}</head>\n<body>\n'
        + "".join(f'  <a href="expectations/{s}.html">{s}</a>\n' for s in SUITES)
        + f"  <script>\n    // the validations table\n    data: [{rows}]\n  </script>\n</body></html>\n"
    )


def _stored_pages(docs: Path) -> list[Path]:
    return sorted(docs.rglob("*.html"))


def _links(page: Path) -> list[str]:
    return [link for link in _LINK.findall(page.read_text()) if not link.startswith("javascript")]


def test_suite_pages_and_static_files_are_stored_once_and_linked_relatively(tmp_path: Path) -> None:
    store = DatasetStore(str(tmp_path / "data"))
    for n, run_id in enumerate(RUNS):
        store.put_data_docs(run_id, lambda d, n=n: _gx_like_site(d, stamp=f"20261130T1{n}0000.000001Z"))
    docs = tmp_path / "data" / "data_docs"

    expected = ["~expectations", "~static", "~styles", *map(safe_run_id, RUNS)]
    assert sorted(p.name for p in docs.iterdir()) == sorted(expected)
    (static,) = (docs / "~static").iterdir()
    assert sorted(p.name for p in static.rglob("*") if p.is_file()) == ["custom.css", "favicon.ico"]
    (style,) = (docs / "~styles").iterdir()  # the style sheet every page had inline
    assert style.read_text().strip().startswith(".ge-0 { margin: 0px; }")
    # one folder per suite page's content: the two runs' pages were the same (GX's build time in
    # the logo's URL is dropped) and were stored once
    shared = sorted((docs / "~expectations").rglob("*.html"))
    assert sorted(p.name for p in shared) == sorted(f"{s}.html" for s in SUITES)
    for run_id in RUNS:
        run_docs = docs / safe_run_id(run_id)
        assert not (run_docs / "static").exists() and not (run_docs / "expectations").exists()

    # every relative link of every stored page resolves on disk, the shared pages' included
    for page in _stored_pages(docs):
        for link in _links(page):
            assert (page.parent / link).resolve().is_file(), (page, link)
    index = (docs / safe_run_id(RUNS[1]) / "index.html").read_text()
    for suite_page in shared:
        link = posixpath.relpath(suite_page, docs / safe_run_id(RUNS[1]))
        assert index.count(f'"{link}"') == 2  # the link and the one in the script's table
        text = suite_page.read_text()
        # a shared page has no run of its own: "Home" goes back to the page it was opened from
        assert text.count('href="javascript:history.back()"') == 2 and "index.html" not in text
        assert "?d=" not in text and "\n " not in text  # no cache-buster, no indentation
        assert "<style>" not in text and text.count('rel="stylesheet"') == 1
    result = next((docs / safe_run_id(RUNS[0]) / "validations").rglob("results.html")).read_text()
    assert 'href="../../../../../~static/' in result  # GX's one `../` too few is corrected


def test_a_suite_page_that_changed_is_stored_beside_the_old_one(tmp_path: Path) -> None:
    store = DatasetStore(str(tmp_path / "data"))
    store.put_data_docs(RUNS[0], lambda d: _gx_like_site(d, stamp="20261130T100000.000001Z"))
    suites = tmp_path / "data" / "data_docs" / "~expectations"
    first = {p: p.stat().st_mtime_ns for p in suites.rglob("*.html")}
    changed = "row count between 1 and 20000"
    store.put_data_docs(RUNS[1], lambda d: _gx_like_site(d, suite_text=changed, stamp="20261130T110000Z"))
    after = {p: p.stat().st_mtime_ns for p in suites.rglob("*.html")}
    assert {p: after[p] for p in first} == first  # the first run's pages: not written again
    assert len(after) == 2 * len(first)
    for n, run_id in enumerate(RUNS):
        index = tmp_path / "data" / "data_docs" / safe_run_id(run_id) / "index.html"
        linked = {(index.parent / link).resolve() for link in _links(index) if "~expectations" in link}
        texts = {page.read_text().count("20000") for page in linked}
        assert texts == {n}, run_id  # each run links the suites it was validated with


def test_shared_pages_on_an_object_store_root(memory_root: str) -> None:
    store = DatasetStore(memory_root)
    for n, run_id in enumerate(RUNS):
        store.put_data_docs(run_id, lambda d, n=n: _gx_like_site(d, stamp=f"20261130T1{n}0000Z"))
    fs, base = store.filesystem()
    stored = [
        info.path[len(base) :]
        for info in fs.get_file_info(pafs.FileSelector(f"{base}/data_docs", recursive=True))
        if info.type == pafs.FileType.File
    ]
    assert sum("/~expectations/" in path for path in stored) == len(SUITES)
    index = store.read_published(f"data_docs/{safe_run_id(RUNS[0])}/index.html")
    assert index is not None
    (link, *_) = re.findall(r'href="(\.\./~expectations/[^"]+)"', index.decode())
    assert store.read_published(posixpath.normpath(f"data_docs/{safe_run_id(RUNS[0])}/{link}")) is not None
