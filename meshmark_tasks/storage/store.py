"""DatasetStore: the Parquet tables, raw outputs and report folders under one storage root.

Layout and guarantees are specified in docs/data-model.md; in short

    <root>/<table>/run_date=YYYY-MM-DD/part-<safe_run_id>.parquet
    <root>/raw/<safe_run_id>/<cell_id>.<ext>[.gz]
    <root>/run_summaries/<safe_run_id>.json      (runs/<safe_run_id>.json before the runs table)
    <root>/data_docs/<safe_run_id>/, data_docs/~static|~styles|~expectations/ (shared)
    <root>/reports/<YYYY-MM-DD | latest>/, reports/<shared assets>/

One file per (table, run): rewriting a run replaces its file, so retries never duplicate rows.
Every path under the root is spelled here: readers (the trend report, DuckDB users of the package)
ask the store rather than globbing the layout themselves.

A damaged store is read, not refused: a table file that is not readable Parquet of the table's
schema, or a folder that is not `run_date=<a date>`, is skipped with a warning naming it (and listed
in `skipped`), so a report over many runs is still built from the good ones. Asking for one run
whose file is damaged (`read(table, run_id=...)`) is an error naming the file.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from meshmark_tasks.config import storage_conn_id
from meshmark_tasks.errors import StoreError
from meshmark_tasks.schemas import TABLES
from meshmark_tasks.storage import filesystem as fsx
from meshmark_tasks.storage.conform import conform, table_schema
from meshmark_tasks.storage.connection import storage_options_for
from meshmark_tasks.storage.naming import (
    PART_PREFIX,
    PART_SUFFIX,
    RUN_ID_METADATA_KEY,
    TEMP_SUFFIX,
    check_cell_id,
    check_ext,
    is_hashed,
    is_temp_of,
    part_file_name,
    partition_dir_name,
    run_id_from_safe,
    safe_from_part_file_name,
    safe_run_id,
)
from meshmark_tasks.storage.shared_assets import compact_pages, split_static, split_styles, split_suite_pages

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)
_WARNED: set[str] = set()
# Footer checks by (filesystem, path, size, mtime): see DatasetStore._problem_of.
_FOOTER_CHECKS: dict[tuple[Any, ...], str | None] = {}

# Measured by benchmarks/bench_store.py: zstd writes about as fast as snappy here and gives
# smaller files; see docs/data-model.md "Files".
COMPRESSION = "zstd"
# The partition key lives only in the directory name (run_date=YYYY-MM-DD), never in the file:
# pyarrow.dataset refuses to merge a file column with a same-named partition field, and with a
# typed hive partitioning both pyarrow and DuckDB then see one run_date column of type date.
PARTITION_COLUMN = "run_date"
HIVE_PARTITIONING = ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.date32())]), flavor="hive")
PARTITION_PREFIX = f"{PARTITION_COLUMN}="
# Run summaries (JSON). Before the `runs` table existed they lived in runs/, which is now that
# table's folder; summaries found there are still read, and moved on the next summary write.
SUMMARIES_DIR = "run_summaries"
LEGACY_SUMMARIES_DIR = "runs"
# What a raw output stored compressed (put_raw(..., compress=True)) ends with.
GZIP_SUFFIX = ".gz"
# The folders made for people to open (HTML reports, GX Data Docs), as opposed to data files.
DATA_DOCS = "data_docs"
PUBLISHED_FOLDERS = ("reports", DATA_DOCS)


@dataclass(frozen=True, order=True)
class StoredRun:
    """A run as the store knows it: the partition date and the Airflow run id (ordered that way)."""

    run_date: datetime.date
    run_id: str


@dataclass(frozen=True)
class SkippedFile:
    """A file under a table's folder that readers leave out, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class _PartFile:
    path: str
    run_date: datetime.date
    safe: str


class DatasetStore:
    """Read and write the meshmark tables under `root` (a local path or an fsspec URL).

    `conn_id` names an Airflow connection whose credentials open an object-store root (see
    storage/connection.py); None means $MESHMARK_STORAGE_CONN_ID, and without either the
    filesystem library's own credential chain applies. Local roots ignore it.
    """

    def __init__(self, root: str, *, conn_id: str | None = None) -> None:
        self.conn_id = conn_id if conn_id is not None else storage_conn_id()
        self._loc = fsx.resolve_root(root, storage_options_for(root, self.conn_id))
        self.root: str = self._loc.root
        # Files readers left out (damaged Parquet, folders outside the layout), by path; each is
        # logged once. Checks of a file's footer are remembered by (path, size, mtime).
        self._skipped: dict[str, SkippedFile] = {}
        self._checked: dict[tuple[Any, ...], str | None] = {}
        self._sizes: dict[str, tuple[int | None, int | None]] = {}

    def __repr__(self) -> str:
        return f"DatasetStore({self.root!r})"

    # ----------------------------------------------------------------------------- tables
    def write_run(
        self, table: str, data: pd.DataFrame | pa.Table, *, run_id: str, run_date: datetime.date
    ) -> str:
        """Write one run's rows of `table`, atomically and idempotently; returns the file written.

        Zero rows still write a file, so "the run had none" differs from "never written".
        """
        conformed = conform(table, data, run_id=run_id, run_date=run_date)
        name = part_file_name(run_id)
        partition = partition_dir_name(run_date.isoformat())
        final = self._loc.path(table, partition, name)
        on_disk = _file_table(conformed, run_id)

        def write(out: pa.NativeFile) -> None:
            pq.write_table(on_disk, out, compression=COMPRESSION)

        fsx.write_atomically(self._loc, final, write)
        # Only now that the new file is in place: drop this run's file from other run_date
        # partitions (a re-run under another date moves, never duplicates) and its crash leftovers.
        for info in self._table_files(table):
            other = info.path != final and info.base_name == name
            if other or is_temp_of(info.base_name, name):
                fsx.delete_file(self._loc, info.path)
        return self._loc.url(table, partition, name)

    def dataset(self, table: str) -> ds.Dataset:
        """The whole table as a pyarrow dataset with the table's schema (run_date typed date32).

        Only the readable part files: damaged ones are skipped with a warning (see `skipped`).
        """
        return self._dataset_of(table, [part.path for part in self._readable_parts(table)])

    def _dataset_of(self, table: str, files: list[str]) -> ds.Dataset:
        schema = table_schema(table)
        if not files:
            return ds.FileSystemDataset([], schema, ds.ParquetFileFormat(), self._loc.fs)
        return ds.dataset(
            files,
            schema=schema,
            format="parquet",
            filesystem=self._loc.fs,
            partitioning=HIVE_PARTITIONING,
            partition_base_dir=self._loc.path(table),
        )

    @property
    def skipped(self) -> list[SkippedFile]:
        """Files the reads so far left out (damaged Parquet, folders outside the layout)."""
        return list(self._skipped.values())

    def read(
        self,
        table: str,
        *,
        run_id: str | None = None,
        columns: list[str] | None = None,
        filter: pc.Expression | None = None,
    ) -> pa.Table:
        """Rows of `table` (of one run if `run_id`); an empty table with the schema if none."""
        if run_id is None:
            return self._read_files(table, [p.path for p in self._readable_parts(table)], columns, filter)
        # Go straight to the run's file rather than filtering every file of the table; a damaged
        # file of the run asked for is an error, not a silent empty answer.
        safe = safe_run_id(run_id)
        files = []
        for part in self._part_files(table):
            if part.safe == safe:
                problem = self._problem_of(table, part.path)
                if problem is not None:
                    raise StoreError(f"{part.path}: {problem}")
                files.append(part.path)
        return self._read_files(table, files, columns, filter)

    def _read_files(
        self, table: str, files: list[str], columns: list[str] | None, filter: pc.Expression | None
    ) -> pa.Table:
        schema = table_schema(table)
        if columns is not None:
            unknown = [c for c in columns if schema.get_field_index(c) < 0]
            if unknown:
                raise StoreError(f"{table}: unknown column(s) {', '.join(map(repr, unknown))}")
        try:
            return self._dataset_of(table, files).to_table(columns=columns, filter=filter)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            raise StoreError(f"{table} under {self.root}: {exc}") from None

    def run_ids(self, table: str = "results") -> list[str]:
        """Run ids that wrote `table`, ordered by run_date, then run id."""
        return [run.run_id for run in self.runs(table)]

    def runs(self, table: str = "results") -> list[StoredRun]:
        """The runs that wrote `table`, oldest first (run_date, then run id); one listing."""
        table_schema(table)
        found: list[StoredRun] = []
        for part in self._part_files(table):
            if not is_hashed(part.safe):
                run_id = run_id_from_safe(part.safe)
            elif self._problem_of(table, part.path) is None:
                run_id = self._run_id_in_file(part.path)
            else:
                continue
            if run_id is not None:
                found.append(StoredRun(part.run_date, run_id))
        return sorted(found)

    def run_dates(self, table: str = "results") -> list[datetime.date]:
        """The run_date partitions of `table` that hold a readable file, oldest first."""
        return sorted({part.run_date for part in self._readable_parts(table)})

    def read_history(
        self,
        table: str,
        *,
        start: datetime.date | None = None,
        end: datetime.date | None = None,
        run_ids: Sequence[str] | None = None,
        columns: list[str] | None = None,
        filter: pc.Expression | None = None,
    ) -> pa.Table:
        """Rows of `table` across runs, oldest run first (run_date, then run id, then file order).

        `start`/`end` (inclusive) prune whole run_date partitions before a file is opened;
        `run_ids` keeps those runs; `filter` is any further pyarrow expression on the columns.
        """
        wanted: pc.Expression | None = filter
        for clause in (
            None if start is None else pc.field(PARTITION_COLUMN) >= pa.scalar(start, pa.date32()),
            None if end is None else pc.field(PARTITION_COLUMN) <= pa.scalar(end, pa.date32()),
            None if run_ids is None else pc.field("run_id").isin(list(run_ids)),
        ):
            if clause is not None:
                wanted = clause if wanted is None else wanted & clause
        read_columns = columns
        if columns is not None:
            read_columns = list(dict.fromkeys([*columns, PARTITION_COLUMN, "run_id"]))
        # Only the files of the wanted dates and runs are opened (and footer-checked): a comparison
        # of two nights reads their files, not three years of them.
        safes = None if run_ids is None else {safe_run_id(r) for r in run_ids}
        parts = self._readable_parts(
            table,
            lambda part: (
                (start is None or part.run_date >= start)
                and (end is None or part.run_date <= end)
                and (safes is None or part.safe in safes)
            ),
        )
        rows = self._read_files(table, [part.path for part in parts], read_columns, wanted)
        rows = rows.sort_by([(PARTITION_COLUMN, "ascending"), ("run_id", "ascending")])
        return rows if columns is None else rows.select(columns)

    def duckdb_source(self, con: duckdb.DuckDBPyConnection, table: str) -> str:
        """A FROM-clause expression that scans `table` in DuckDB, run_date typed DATE.

        Local roots: DuckDB reads the Hive-partitioned files itself (its filters prune partitions
        before a file is opened). Other roots: the table's pyarrow dataset is registered on `con`
        and DuckDB scans it with filters pushed down. A table with no files raises StoreError.
        """
        table_schema(table)
        if self._loc.local:
            # The readable files by name (not a glob): damaged files and folders outside the
            # layout stay out, and DuckDB still prunes run_date partitions from the paths.
            files = [part.path for part in self._readable_parts(table)]
            if not files:
                pattern = self._loc.path(table, f"{PARTITION_PREFIX}*", f"*{PART_SUFFIX}")
                raise StoreError(f"no readable {table} data under {self.root} (looked for {pattern})")
            listed = ", ".join("'" + path.replace("'", "''") + "'" for path in files)
            return (
                f"read_parquet([{listed}], hive_partitioning=true, union_by_name=true, "
                f"hive_types={{'{PARTITION_COLUMN}': DATE}})"
            )
        name = f"{table}_dataset"
        con.register(name, self.dataset(table))
        return name

    def clean_temp_files(self, min_age: datetime.timedelta = datetime.timedelta(hours=1)) -> list[str]:
        """Delete temp files left by writers that crashed at least `min_age` ago; returns them.

        Readers never see these files (leading "." and a ".tmp" suffix); this only frees space.
        """
        cutoff = time.time() - min_age.total_seconds()
        removed: list[str] = []
        for table in [*TABLES, "raw"]:
            for info in self._table_files(table):
                if info.base_name.startswith(".") and info.base_name.endswith(TEMP_SUFFIX):
                    mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
                    if mtime <= cutoff:
                        fsx.delete_file(self._loc, info.path)
                        removed.append(info.path)
        return removed

    # ----------------------------------------------------------------------- raw outputs
    def put_raw(
        self, run_id: str, cell_id: str, source: str | Path | bytes, ext: str, *, compress: bool = False
    ) -> str:
        """Keep a raw load-generator output; returns its path relative to the root.

        `source` is the output's bytes, or the path of a local file holding them (a str is a path).
        Stored byte for byte as `<cell_id>.<ext>`, or with `compress` gzip-compressed as
        `<cell_id>.<ext>.gz` (JSON summaries shrink about 4 times; `read_raw`, `zcat` or any gzip
        reader gives the bytes back).
        """
        name = f"{check_cell_id(cell_id)}.{check_ext(ext)}" + (GZIP_SUFFIX if compress else "")
        relative = f"raw/{safe_run_id(run_id)}/{name}"
        if isinstance(source, str | Path):
            path = Path(source)
            if not path.is_file():
                raise StoreError(f"raw output {path} of cell {cell_id} does not exist or is not a file")
            write = _write_bytes(_gzip(path.read_bytes())) if compress else _copy(path)
        elif isinstance(source, bytes | bytearray | memoryview):
            payload = bytes(source)
            write = _write_bytes(_gzip(payload) if compress else payload)
        else:
            kind = type(source).__name__
            raise StoreError(f"raw output of cell {cell_id}: expected bytes or a path, got {kind}")
        fsx.write_atomically(self._loc, self._loc.path(*relative.split("/")), write)
        return relative

    def raw_url(self, relative: str) -> str:
        """Where a results row's raw_path points, as a local path or URL."""
        return self._loc.url(*self._raw_parts(relative))

    def read_raw(self, relative: str) -> bytes:
        """The bytes of the raw output at `relative` (a raw_path), decompressed when it ends in .gz."""
        path = self._loc.path(*self._raw_parts(relative))
        # compression=None: pyarrow would otherwise decompress by the file name (".gz") itself
        with self._loc.fs.open_input_stream(path, compression=None) as source:
            data: bytes = source.read()
        return gzip.decompress(data) if relative.endswith(GZIP_SUFFIX) else data

    def _raw_parts(self, relative: str) -> list[str]:
        parts = relative.split("/") if isinstance(relative, str) else []
        if not parts or parts[0] != "raw" or any(p in ("", ".", "..") for p in parts) or "\\" in relative:
            raise StoreError(f"raw_path {relative!r} is not a path under raw/ relative to the storage root")
        return parts

    # ------------------------------------------------------------------------ run summaries
    def write_run_summary(self, run_id: str, summary: Mapping[str, Any]) -> str:
        """run_summaries/<safe_run_id>.json: a run's data-quality status and counts, atomically.

        Summaries an older version left in runs/ (now the `runs` table's folder, where pyarrow and
        DuckDB readers of that table would trip on them) are moved here first.
        """
        self._move_legacy_summaries()
        payload = json.dumps(summary, indent=2, sort_keys=True, default=str).encode()

        def write(out: pa.NativeFile) -> None:
            out.write(payload)

        name = f"{safe_run_id(run_id)}.json"
        fsx.write_atomically(self._loc, self._loc.path(SUMMARIES_DIR, name), write)
        return self._loc.url(SUMMARIES_DIR, name)

    def read_run_summary(self, run_id: str) -> dict[str, Any] | None:
        """The summary write_run_summary wrote for this run, or None when there is none.

        A summary that is not a JSON object is a StoreError naming the file.
        """
        name = f"{safe_run_id(run_id)}.json"
        for folder in (SUMMARIES_DIR, LEGACY_SUMMARIES_DIR):
            path = self._loc.path(folder, name)
            if fsx.exists(self._loc, path):
                with self._loc.fs.open_input_stream(path) as source:
                    payload = source.read()
                try:
                    data = json.loads(payload)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise StoreError(
                        f"{self._loc.url(folder, name)}: not a JSON run summary ({exc})"
                    ) from None
                if not isinstance(data, dict):
                    raise StoreError(f"{self._loc.url(folder, name)}: not a JSON run summary (not an object)")
                return data
        return None

    def _move_legacy_summaries(self) -> None:
        selector = pafs.FileSelector(self._loc.path(LEGACY_SUMMARIES_DIR), allow_not_found=True)
        for info in self._loc.fs.get_file_info(selector):
            if info.type == pafs.FileType.File and info.base_name.endswith(".json"):
                target = self._loc.path(SUMMARIES_DIR, info.base_name)
                if not fsx.exists(self._loc, target):
                    fsx.write_atomically(self._loc, target, _copy_from(self._loc.fs, info.path))
                fsx.delete_file(self._loc, info.path)

    # ---------------------------------------------------------------------------- folders
    def data_docs_dir(self, run_id: str) -> str:
        return self._loc.url(DATA_DOCS, safe_run_id(run_id))

    def put_data_docs(self, run_id: str, build: Callable[[str], object]) -> str:
        """Publish a run's Data Docs under data_docs/<run>/; returns where its index.html is.

        `build(directory)` writes the site into a local temporary directory (GX writes to local
        disk only). What every run repeats is stored once per root and linked relatively
        (shared_assets.py): the `static/` files (4 MB) under data_docs/~static/<digest>/, the
        style sheet every page repeats as data_docs/~styles/<digest>.css, each expectation-suite
        page under data_docs/~expectations/<digest>/ (a file already there is not written
        again). The rest is published file by file (each atomically, see
        filesystem.write_atomically), replacing an earlier attempt of the same run.
        """
        safe = safe_run_id(run_id)
        with tempfile.TemporaryDirectory(prefix="meshmark-data-docs-") as tmp:
            site = Path(tmp) / "site"
            build(str(site))
            shared = split_static(site)
            compact_pages(site)
            shared |= split_styles(site)
            shared |= split_suite_pages(site)
            for relative, source in shared.files.items():
                target = self._loc.path(DATA_DOCS, *relative.split("/"))
                if not fsx.exists(self._loc, target):
                    fsx.write_atomically(self._loc, target, _copy(source))
            with contextlib.suppress(FileNotFoundError):
                self._loc.fs.delete_dir_contents(self._loc.path(DATA_DOCS, safe), missing_dir_ok=True)
            for path in sorted(site.rglob("*")):
                if path.is_file():
                    parts = path.relative_to(site).parts
                    fsx.write_atomically(self._loc, self._loc.path(DATA_DOCS, safe, *parts), _copy(path))
        return self._loc.url(DATA_DOCS, safe, "index.html")

    def data_docs_index(self, run_id: str) -> str | None:
        """Where the run's Data Docs index.html is (local path or URL); None when there is none."""
        parts = (DATA_DOCS, safe_run_id(run_id), "index.html")
        return self._loc.url(*parts) if fsx.exists(self._loc, self._loc.path(*parts)) else None

    def reports_root(self) -> str:
        """reports/ under the root: the trend report writes <date>/ and latest/ in it."""
        return self._loc.url("reports")

    def reports_dir(self, run_date: datetime.date | str) -> str:
        """reports/<YYYY-MM-DD>, or reports/latest for run_date="latest"."""
        if isinstance(run_date, datetime.datetime):
            run_date = run_date.date()
        if isinstance(run_date, datetime.date):
            label = run_date.isoformat()
        elif run_date == "latest":
            label = run_date
        else:
            try:
                label = datetime.date.fromisoformat(str(run_date)).isoformat()
            except ValueError:
                problem = "is neither a date (YYYY-MM-DD) nor 'latest'"
                raise StoreError(f"reports_dir: {run_date!r} {problem}") from None
        return self._loc.url("reports", label)

    # ------------------------------------------------------------ published files, read-only
    def relative(self, location: str) -> str:
        """A path or URL this store returned (data_docs_index(), reports_dir(), ...) relative to the root."""
        prefix = self.root.rstrip("/\\") + ("/" if not self._loc.local else os.sep)
        if not location.startswith(prefix):
            raise StoreError(f"{location!r} is not under the storage root {self.root}")
        return location[len(prefix) :].replace(os.sep, "/")

    def read_published(self, relative: str) -> bytes | None:
        """A file of the report and Data Docs folders by its path relative to the root
        ("reports/latest/index.html"); None when there is none.

        Only what a person is meant to open is readable this way (what the Airflow plugin serves to
        browsers): a path outside reports/ and data_docs/, or with empty, "." or ".." parts, is refused.
        """
        parts = relative.split("/")
        if (
            parts[0] not in PUBLISHED_FOLDERS
            or len(parts) < 2
            or any(part in ("", ".", "..") for part in parts)
            or "\\" in relative
        ):
            raise StoreError(f"{relative!r} is not a file under {' or '.join(PUBLISHED_FOLDERS)}")
        path = self._loc.path(*parts)
        if self._loc.fs.get_file_info(path).type != pafs.FileType.File:
            return None
        with self._loc.fs.open_input_stream(path) as source:
            data: bytes = source.read()
        return data

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """The pyarrow filesystem and the root's path inside it."""
        return self._loc.fs, self._loc.base

    # --------------------------------------------------------------------------- internals
    def _table_files(self, table: str) -> list[pafs.FileInfo]:
        """Every file under <root>/<table>/ (one recursive listing: a single LIST on S3)."""
        selector = pafs.FileSelector(self._loc.path(table), allow_not_found=True, recursive=True)
        return [i for i in self._loc.fs.get_file_info(selector) if i.type == pafs.FileType.File]

    def _part_files(self, table: str) -> list[_PartFile]:
        """The table's part files where the layout puts them; anything else found under the
        table's folder is skipped with a warning (temp files and hidden files silently)."""
        table_schema(table)
        base = self._loc.path(table)
        parts: list[_PartFile] = []
        for info in self._table_files(table):
            relative = info.path[len(base) :].lstrip("/" + os.sep)
            if any(piece.startswith((".", "_")) for piece in relative.replace(os.sep, "/").split("/")):
                continue  # crash leftovers (.x.tmp) and files tools keep beside data (_SUCCESS)
            folder = os.path.basename(os.path.dirname(info.path))
            safe = safe_from_part_file_name(info.base_name)
            run_date = _partition_date(folder)
            at_top = folder == os.path.basename(base)
            if table == LEGACY_SUMMARIES_DIR and at_top and info.base_name.endswith(".json"):
                continue  # a run summary of an older version (moved on the next write)
            if run_date is None:
                self._skip(info.path, f"not in a {PARTITION_PREFIX}YYYY-MM-DD folder of {table}/")
            elif safe is None:
                self._skip(info.path, f"not a {table} file ({PART_PREFIX}<run>{PART_SUFFIX})")
            else:
                parts.append(_PartFile(info.path, run_date, safe))
                self._sizes[info.path] = (info.size, info.mtime_ns)
        return parts

    def _readable_parts(
        self, table: str, wanted: Callable[[_PartFile], bool] | None = None
    ) -> list[_PartFile]:
        """The table's readable part files; with `wanted`, only those it keeps are footer-checked."""
        return [
            p
            for p in self._part_files(table)
            if (wanted is None or wanted(p)) and self._problem_of(table, p.path) is None
        ]

    def _problem_of(self, table: str, path: str) -> str | None:
        """Why the part file at `path` cannot be read as `table` (None: it can), from its footer;
        a damaged file is also recorded in `skipped`."""
        size, mtime = self._sizes.get(path, (None, None))
        key = (self._loc.fs.type_name, path, size, mtime)
        # A file whose size and modification time are known is checked once per process, however
        # many stores (the report, its history and its comparison page each open one) read it.
        checks = _FOOTER_CHECKS if size is not None and mtime is not None else self._checked
        if key not in checks:
            checks[key] = _footer_problem(self._loc.fs, path, table_schema(table))
        problem = checks[key]
        if problem is not None:
            self._skip(path, problem)
        return problem

    def _skip(self, path: str, reason: str) -> None:
        if path not in self._skipped:
            where = self._loc.url(*path[len(self._loc.base) :].lstrip("/" + os.sep).split("/"))
            self._skipped[path] = SkippedFile(where if not self._loc.local else path, reason)
            # Once per process, however many stores (a report opens several) meet the file.
            if str(self._skipped[path]) not in _WARNED:
                _WARNED.add(str(self._skipped[path]))
                log.warning("skipped %s", self._skipped[path])

    def _run_id_in_file(self, path: str) -> str | None:
        metadata = pq.read_schema(path, filesystem=self._loc.fs).metadata or {}
        value = metadata.get(RUN_ID_METADATA_KEY)
        return value.decode("utf-8") if value is not None else None


def _footer_problem(fs: pafs.FileSystem, path: str, schema: pa.Schema) -> str | None:
    """Why a file is not readable Parquet of `schema` (its footer and column types); None if it is."""
    try:
        found = pq.read_schema(path, filesystem=fs)
    except (pa.ArrowException, OSError) as exc:
        return f"not a readable Parquet file ({' '.join(str(exc).split())[:200]})"
    for field in found:
        index = schema.get_field_index(field.name)
        if index >= 0 and not _same_type(field.type, schema.field(index).type):
            return f"column {field.name!r} is {field.type}, the table's schema has {schema.field(index).type}"
    return None


def _same_type(found: pa.DataType, wanted: pa.DataType) -> bool:
    # Files store what the schema says; a null column (all values missing) reads as anything.
    return found == wanted or pa.types.is_null(found)


def _copy_from(fs: pafs.FileSystem, path: str) -> Callable[[pa.NativeFile], None]:
    def write(out: pa.NativeFile) -> None:
        with fs.open_input_stream(path) as source:
            out.write(source.read())

    return write


def _partition_date(directory_name: str) -> datetime.date | None:
    if not directory_name.startswith(PARTITION_PREFIX):
        return None
    try:
        return datetime.date.fromisoformat(directory_name[len(PARTITION_PREFIX) :])
    except ValueError:
        return None


def _gzip(data: bytes) -> bytes:
    # mtime=0: the same output always gives the same file
    return gzip.compress(data, compresslevel=9, mtime=0)


def _write_bytes(payload: bytes) -> Callable[[pa.NativeFile], None]:
    def write(out: pa.NativeFile) -> None:
        out.write(payload)

    return write


def _copy(path: Path) -> Callable[[pa.NativeFile], None]:
    def write(out: pa.NativeFile) -> None:
        with path.open("rb") as src:
            while chunk := src.read(1 << 20):
                out.write(chunk)

    return write


def _file_table(conformed: pa.Table, run_id: str) -> pa.Table:
    """What goes into the file: no partition column; schema metadata plus the run id."""
    without_partition = conformed.drop_columns([PARTITION_COLUMN])
    metadata = dict(conformed.schema.metadata or {})
    metadata[RUN_ID_METADATA_KEY] = run_id.encode("utf-8")
    return without_partition.replace_schema_metadata(metadata)
