"""A run's stored Data Docs opened from disk in headless Chromium: the parts stored once per root
(the style sheet, the suite pages) load through their relative links, with no server.

GX's pages also load Bootstrap and jQuery from CDNs, which this machine cannot reach; what is
checked here is meshmark's part: the shared files are found and applied.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from chromium import HeadlessChromium
from validation_rows import healthy_rows, planned_cells

from meshmark_tasks.storage import DatasetStore
from meshmark_tasks.validation import build_data_docs, validate_results

pytestmark = pytest.mark.services

RUN = "manual__2026-11-30T02:00:00+00:00"


def _at(chromium: HeadlessChromium, url: str) -> None:
    """Wait until the browser shows `url`, loaded."""
    deadline = time.monotonic() + 30
    while chromium.evaluate("[location.href, document.readyState].join(' ')") != f"{url} complete":
        assert time.monotonic() < deadline, chromium.evaluate("location.href")
        time.sleep(0.1)


def _open(chromium: HeadlessChromium, url: str) -> None:
    chromium.call("Page.navigate", url=url)
    _at(chromium, url)


def test_stored_data_docs_open_from_disk_with_their_shared_parts(
    chromium: HeadlessChromium, tmp_path: Path
) -> None:
    outcome = validate_results(
        pd.DataFrame(healthy_rows()), planned_cell_ids=[c.cell_id for c in planned_cells()]
    )
    store = DatasetStore(str(tmp_path / "data"))
    index = Path(store.put_data_docs(RUN, lambda directory: build_data_docs(outcome, directory)))
    (result,) = (index.parent / "validations" / "meshmark_results").rglob("results.html")
    chromium.call("Page.enable")

    # the validation page applies the shared style sheet (GX's `.sticky` rule is in it)...
    _open(chromium, result.as_uri())
    assert chromium.evaluate("getComputedStyle(document.querySelector('.sticky')).position") == "sticky"
    # ... and its link to the suite page leads to the shared copy, which opens and styles too
    href = chromium.evaluate(
        "[...document.querySelectorAll('a')].map(a => a.href).find(h => h.includes('~expectations'))"
    )
    assert href and href.startswith("file://") and href.endswith("/meshmark_results.html")
    _open(chromium, href)
    assert "meshmark_results" in chromium.evaluate("document.body.innerText")
    assert chromium.evaluate("getComputedStyle(document.querySelector('.sticky')).position") == "sticky"
    # "Home" goes back to the page the suite page was opened from
    chromium.evaluate("document.querySelector('.breadcrumb-item a').click()")
    _at(chromium, result.as_uri())
