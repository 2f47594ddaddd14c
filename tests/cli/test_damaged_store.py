"""A damaged storage root: report and history readers skip what they cannot read, naming it.

Each case damages one file or folder of a seeded three-night store, then runs `meshmark report`:
it exits 0 with a report of the readable runs, and stderr names the damaged path once in one
line, with no traceback. When nothing readable is left, or when `compare` asks for the damaged
run itself, the command fails with one line naming the data (exit 2). docs/bad-inputs.md counts
these cases.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import synthetic  # tests/support

from meshmark_tasks.cli import main

NIGHT_2 = "run_date=2026-11-02"


def _part(root: Path, table: str, partition: str = NIGHT_2) -> Path:
    return next((root / table / partition).glob("*.parquet"))


def _garbage(root: Path) -> Path:
    path = _part(root, "results")
    path.write_bytes(b"not parquet at all")
    return path


def _empty(root: Path) -> Path:
    path = _part(root, "results")
    path.write_bytes(b"")
    return path


def _truncated(root: Path) -> Path:
    path = _part(root, "results")
    path.write_bytes(path.read_bytes()[:-100])
    return path


def _wrong_type(root: Path) -> Path:
    path = _part(root, "results")
    table = pq.read_table(path)
    index = table.schema.get_field_index("connections")
    table = table.set_column(
        index, "connections", pa.array([str(v) for v in table["connections"].to_pylist()])
    )
    pq.write_table(table, path)
    return path


def _damaged_meshmark(root: Path) -> Path:
    path = _part(root, "meshmark")
    path.write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")
    return path


def _not_a_date(root: Path) -> Path:
    folder = root / "results" / "run_date=not-a-date"
    folder.mkdir()
    shutil.copy(_part(root, "results"), folder / "part-copy.parquet")
    return folder / "part-copy.parquet"


def _impossible_date(root: Path) -> Path:
    folder = root / "results" / "run_date=2026-13-45"
    folder.mkdir()
    shutil.copy(_part(root, "results"), folder / "part-copy.parquet")
    return folder / "part-copy.parquet"


def _outside_partitions(root: Path) -> Path:
    path = root / "results" / "part-loose.parquet"
    shutil.copy(_part(root, "results"), path)
    return path


def _misnamed(root: Path) -> Path:
    path = root / "results" / NIGHT_2 / "results.parquet"
    shutil.copy(_part(root, "results"), path)
    return path


def _json_in_partition(root: Path) -> Path:
    path = root / "meshmark" / NIGHT_2 / "part-notes.parquet"
    path.write_text('{"a": 1}\n')
    return path


DAMAGE: dict[str, Callable[[Path], Path]] = {
    "garbage-bytes": _garbage,
    "empty-file": _empty,
    "truncated-footer": _truncated,
    "column-of-another-type": _wrong_type,
    "meshmark-file-zeroed": _damaged_meshmark,
    "run_date=not-a-date": _not_a_date,
    "run_date=2026-13-45": _impossible_date,
    "file-outside-partitions": _outside_partitions,
    "misnamed-part-file": _misnamed,
    "json-named-parquet": _json_in_partition,
}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seeded") / "store"
    synthetic.write_history(str(root), synthetic.SyntheticHistory(nights=3, first_date=dt.date(2026, 11, 1)))
    return root


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_file_is_skipped_with_one_line_naming_it(
    seeded: Path,
    tmp_path: Path,
    damage: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = tmp_path / "store"
    shutil.copytree(seeded, root)
    damaged = DAMAGE[damage](root)
    capsys.readouterr()
    with caplog.at_level("WARNING", logger="meshmark_tasks.storage"):
        assert main(["report", "--data", str(root), "--out", str(tmp_path / "out")]) == 0
    assert "Traceback" not in capsys.readouterr().err
    # (a warning: on a terminal Python prints it as the one line; pytest's log capture takes it here)
    naming = [r.getMessage() for r in caplog.records if str(damaged) in r.getMessage()]
    assert len(naming) == 1 and naming[0].startswith("skipped "), naming
    assert "\n" not in naming[0]
    assert (tmp_path / "out" / "latest" / "index.html").is_file()


def test_nothing_readable_left_is_one_line_exit_2(
    seeded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    shutil.copytree(seeded, root)
    for path in (root / "results").rglob("*.parquet"):
        path.write_bytes(b"x")
    capsys.readouterr()
    assert main(["report", "--data", str(root), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("meshmark: error: no results data under ")
