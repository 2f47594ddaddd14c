"""Raw load-generator outputs are kept verbatim under raw/<safe_run_id>/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meshmark_tasks.errors import StoreError
from meshmark_tasks.storage import DatasetStore

RUN = "scheduled__2026-11-26T02:00:00+00:00"
CELL = "sidecar-mtls-q100-c8-b0-http-r0"


def test_file_is_copied_verbatim(store: DatasetStore, upstream_dir: Path) -> None:
    source = upstream_dir / "fortio-http-result.json"
    relative = store.put_raw(RUN, CELL, source, "json")
    assert relative == f"raw/scheduled__2026-11-26T02~3A00~3A00~2B00~3A00/{CELL}.json"
    url = store.raw_url(relative)
    assert url == os.path.join(store.root, *relative.split("/"))
    assert Path(url).read_bytes() == source.read_bytes()
    # A str is a path too, and a leading dot on the extension is accepted.
    assert store.put_raw(RUN, CELL, str(upstream_dir / "wrk2-latency.txt"), ".txt").endswith(f"{CELL}.txt")


def test_bytes_are_written_and_replaced_atomically(store: DatasetStore) -> None:
    blob = bytes(range(256)) * 4096  # binary, 1 MiB
    relative = store.put_raw(RUN, CELL, blob, "bin")
    assert Path(store.raw_url(relative)).read_bytes() == blob
    store.put_raw(RUN, CELL, b"second", "bin")
    assert Path(store.raw_url(relative)).read_bytes() == b"second"
    # No temp file is left beside it.
    assert os.listdir(os.path.dirname(store.raw_url(relative))) == [f"{CELL}.bin"]


@pytest.mark.parametrize("cell_id", ["", "../etc", "a/b", ".hidden", "x" * 201])
def test_cell_ids_that_are_not_file_names_are_refused(store: DatasetStore, cell_id: str) -> None:
    with pytest.raises(StoreError, match="cannot name a raw file"):
        store.put_raw(RUN, cell_id, b"{}", "json")


@pytest.mark.parametrize("ext", ["", "js on", "../json", "json/"])
def test_bad_extensions_are_refused(store: DatasetStore, ext: str) -> None:
    with pytest.raises(StoreError, match="extension"):
        store.put_raw(RUN, CELL, b"{}", ext)


def test_missing_source_names_the_file_and_cell(store: DatasetStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=rf"{tmp_path}/nope.json of cell {CELL} does not exist"):
        store.put_raw(RUN, CELL, tmp_path / "nope.json", "json")


@pytest.mark.parametrize("relative", ["/etc/passwd", "raw/../secret", "data_docs/x", "raw//x", ""])
def test_raw_url_refuses_paths_outside_raw(store: DatasetStore, relative: str) -> None:
    with pytest.raises(StoreError, match="is not a path under raw/"):
        store.raw_url(relative)


def test_folders_of_a_run(store: DatasetStore) -> None:
    import datetime

    assert store.data_docs_dir(RUN) == os.path.join(
        store.root, "data_docs", "scheduled__2026-11-26T02~3A00~3A00~2B00~3A00"
    )
    assert store.reports_dir(datetime.date(2026, 11, 26)) == os.path.join(store.root, "reports", "2026-11-26")
    assert store.reports_dir("2026-11-26") == store.reports_dir(datetime.date(2026, 11, 26))
    assert store.reports_dir("latest") == os.path.join(store.root, "reports", "latest")
    with pytest.raises(StoreError, match="neither a date"):
        store.reports_dir("yesterday")


def test_compressed_outputs_read_back_byte_for_byte(store: DatasetStore, upstream_dir: Path) -> None:
    """What the nightly run keeps (put_raw(..., compress=True)): gzip, read back losslessly."""
    import gzip

    source = upstream_dir / "fortio-http-result.json"
    relative = store.put_raw(RUN, CELL, source, "json", compress=True)
    assert relative.endswith(f"{CELL}.json.gz")
    stored = Path(store.raw_url(relative)).read_bytes()
    assert gzip.decompress(stored) == store.read_raw(relative) == source.read_bytes()
    assert len(stored) < source.stat().st_size / 2
    assert store.put_raw(RUN, CELL, source, "json", compress=True) == relative  # same file again
    assert Path(store.raw_url(relative)).read_bytes() == stored
    blob = bytes(range(256)) * 64
    assert store.read_raw(store.put_raw(RUN, CELL, blob, "bin", compress=True)) == blob
    assert store.read_raw(store.put_raw(RUN, CELL, blob, "bin")) == blob
