"""DatasetStore: the Parquet tables, raw outputs and report folders under one storage root.

Layout and guarantees are specified in docs/data-model.md; in short

    <root>/<table>/run_date=YYYY-MM-DD/part-<safe_run_id>.parquet
    <root>/raw/<safe_run_id>/<cell_id>.<ext>
    <root>/runs/<safe_run_id>.json
    <root>/data_docs/<safe_run_id>/
    <root>/reports/<YYYY-MM-DD | latest>/

One file per (table, run): rewriting a run replaces its file, so retries never duplicate rows.
Every path under the root is spelled here: readers (the trend report, DuckDB users of the package)
ask the store rather than globbing the layout themselves.
"""

from __future__ import annotations

import datetime
import json
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

if TYPE_CHECKING:
    import duckdb

# Measured by benchmarks/bench_store.py: zstd writes about as fast as snappy here and gives
# smaller files; see docs/data-model.md "Files".
COMPRESSION = "zstd"
# The partition key lives only in the directory name (run_date=YYYY-MM-DD), never in the file:
# pyarrow.dataset refuses to merge a file column with a same-named partition field, and with a
# typed hive partitioning both pyarrow and DuckDB then see one run_date column of type date.
PARTITION_COLUMN = "run_date"
HIVE_PARTITIONING = ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.date32())]), flavor="hive")
PARTITION_PREFIX = f"{PARTITION_COLUMN}="
# The folders made for people to open (HTML reports, GX Data Docs), as opposed to data files.
PUBLISHED_FOLDERS = ("reports", "data_docs")


@dataclass(frozen=True, order=True)
class StoredRun:
    """A run as the store knows it: the partition date and the Airflow run id (ordered that way)."""

    run_date: datetime.date
    run_id: str


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
        """The whole table as a pyarrow dataset with the table's schema (run_date typed date32)."""
        schema = table_schema(table)
        directory = self._loc.path(table)
        if not fsx.exists(self._loc, directory):
            return ds.FileSystemDataset([], schema, ds.ParquetFileFormat(), self._loc.fs)
        return ds.dataset(
            directory,
            schema=schema,
            format="parquet",
            filesystem=self._loc.fs,
            partitioning=HIVE_PARTITIONING,
        )

    def read(
        self,
        table: str,
        *,
        run_id: str | None = None,
        columns: list[str] | None = None,
        filter: pc.Expression | None = None,
    ) -> pa.Table:
        """Rows of `table` (of one run if `run_id`); an empty table with the schema if none."""
        schema = table_schema(table)
        if columns is not None:
            unknown = [c for c in columns if schema.get_field_index(c) < 0]
            if unknown:
                raise StoreError(f"{table}: unknown column(s) {', '.join(map(repr, unknown))}")
        if run_id is None:
            dataset = self.dataset(table)
        else:
            # Go straight to the run's file rather than filtering every file of the table.
            name = part_file_name(run_id)
            files = [i.path for i in self._table_files(table) if i.base_name == name]
            dataset = ds.dataset(
                files,
                schema=schema,
                format="parquet",
                filesystem=self._loc.fs,
                partitioning=HIVE_PARTITIONING,
                partition_base_dir=self._loc.path(table),
            )
        try:
            return dataset.to_table(columns=columns, filter=filter)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise StoreError(f"{table} under {self.root}: {exc}") from None

    def run_ids(self, table: str = "results") -> list[str]:
        """Run ids that wrote `table`, ordered by run_date, then run id."""
        return [run.run_id for run in self.runs(table)]

    def runs(self, table: str = "results") -> list[StoredRun]:
        """The runs that wrote `table`, oldest first (run_date, then run id); one listing."""
        table_schema(table)
        found: list[StoredRun] = []
        for info in self._table_files(table):
            safe = safe_from_part_file_name(info.base_name)
            run_date = _partition_date(os.path.basename(os.path.dirname(info.path)))
            if safe is None or run_date is None:
                continue
            run_id = run_id_from_safe(safe) if not is_hashed(safe) else self._run_id_in_file(info.path)
            if run_id is not None:
                found.append(StoredRun(run_date, run_id))
        return sorted(found)

    def run_dates(self, table: str = "results") -> list[datetime.date]:
        """The run_date partitions of `table`, oldest first, from directory names alone."""
        table_schema(table)
        selector = pafs.FileSelector(self._loc.path(table), allow_not_found=True, recursive=False)
        dates = {
            _partition_date(info.base_name)
            for info in self._loc.fs.get_file_info(selector)
            if info.type == pafs.FileType.Directory
        }
        return sorted(d for d in dates if d is not None)

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
        rows = self.read(table, columns=read_columns, filter=wanted)
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
            pattern = self._loc.path(table, f"{PARTITION_PREFIX}*", f"*{PART_SUFFIX}")
            if not self._table_files(table):
                raise StoreError(f"no {table} data under {self.root} (looked for {pattern})")
            quoted = "'" + pattern.replace("'", "''") + "'"
            return (
                f"read_parquet({quoted}, hive_partitioning=true, union_by_name=true, "
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
    def put_raw(self, run_id: str, cell_id: str, source: str | Path | bytes, ext: str) -> str:
        """Copy a raw load-generator output verbatim; returns its path relative to the root.

        `source` is the output's bytes, or the path of a local file holding them (a str is a path).
        """
        relative = f"raw/{safe_run_id(run_id)}/{check_cell_id(cell_id)}.{check_ext(ext)}"
        if isinstance(source, bytes | bytearray | memoryview):
            payload = bytes(source)

            def write(out: pa.NativeFile) -> None:
                out.write(payload)

        elif isinstance(source, str | Path):
            path = Path(source)
            if not path.is_file():
                raise StoreError(f"raw output {path} of cell {cell_id} does not exist or is not a file")

            def write(out: pa.NativeFile) -> None:
                with path.open("rb") as src:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)

        else:
            kind = type(source).__name__
            raise StoreError(f"raw output of cell {cell_id}: expected bytes or a path, got {kind}")
        fsx.write_atomically(self._loc, self._loc.path(*relative.split("/")), write)
        return relative

    def raw_url(self, relative: str) -> str:
        """Where a results row's raw_path points, as a local path or URL."""
        parts = relative.split("/") if isinstance(relative, str) else []
        if not parts or parts[0] != "raw" or any(p in ("", ".", "..") for p in parts) or "\\" in relative:
            raise StoreError(f"raw_path {relative!r} is not a path under raw/ relative to the storage root")
        return self._loc.url(*parts)

    # ------------------------------------------------------------------------ run summaries
    def write_run_summary(self, run_id: str, summary: Mapping[str, Any]) -> str:
        """runs/<safe_run_id>.json: a run's data-quality status and counts, written atomically."""
        payload = json.dumps(summary, indent=2, sort_keys=True, default=str).encode()

        def write(out: pa.NativeFile) -> None:
            out.write(payload)

        path = self._loc.path("runs", f"{safe_run_id(run_id)}.json")
        fsx.write_atomically(self._loc, path, write)
        return self._loc.url("runs", f"{safe_run_id(run_id)}.json")

    def read_run_summary(self, run_id: str) -> dict[str, Any] | None:
        """The summary write_run_summary wrote for this run, or None when there is none."""
        path = self._loc.path("runs", f"{safe_run_id(run_id)}.json")
        if not fsx.exists(self._loc, path):
            return None
        with self._loc.fs.open_input_stream(path) as source:
            data: dict[str, Any] = json.loads(source.read())
        return data

    # ---------------------------------------------------------------------------- folders
    def data_docs_dir(self, run_id: str) -> str:
        return self._loc.url("data_docs", safe_run_id(run_id))

    def put_data_docs(self, run_id: str, build: Callable[[str], object]) -> str:
        """Publish a run's Data Docs under data_docs/<run>/; returns where its index.html is.

        `build(directory)` writes the site into a local directory (GX writes to local disk only):
        for a local root that is the final folder, for object stores a temporary one whose files
        are then uploaded one by one (each a single put, see filesystem.write_atomically).
        """
        safe = safe_run_id(run_id)
        if self._loc.local:
            target = self._loc.path("data_docs", safe)
            build(target)
            return os.path.join(target, "index.html")
        with tempfile.TemporaryDirectory(prefix="meshmark-data-docs-") as tmp:
            build(tmp)
            for path in sorted(Path(tmp).rglob("*")):
                if path.is_file():
                    relative = path.relative_to(tmp).parts
                    fsx.write_atomically(self._loc, self._loc.path("data_docs", safe, *relative), _copy(path))
        return self._loc.url("data_docs", safe, "index.html")

    def data_docs_index(self, run_id: str) -> str | None:
        """Where the run's Data Docs index.html is (local path or URL); None when there is none."""
        parts = ("data_docs", safe_run_id(run_id), "index.html")
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

    def _run_id_in_file(self, path: str) -> str | None:
        metadata = pq.read_schema(path, filesystem=self._loc.fs).metadata or {}
        value = metadata.get(RUN_ID_METADATA_KEY)
        return value.decode("utf-8") if value is not None else None


def _partition_date(directory_name: str) -> datetime.date | None:
    if not directory_name.startswith(PARTITION_PREFIX):
        return None
    try:
        return datetime.date.fromisoformat(directory_name[len(PARTITION_PREFIX) :])
    except ValueError:
        return None


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
