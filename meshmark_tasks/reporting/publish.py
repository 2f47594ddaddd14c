"""Write a report's files to <out>/<run_date>/ and refresh <out>/latest/.

latest/ is a copy, not a symlink, so it works the same on object stores. Every file is published
atomically (see storage/filesystem.py: temp file + rename locally, a single put on object stores),
so a reader never sees a half-written file. The dated folder is written first and latest/ last,
with index.html as the very last file: whoever sees the new index.html also finds the matching
summary.md and regressions.json.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pyarrow as pa

from meshmark_tasks.storage import filesystem as fsx
from meshmark_tasks.storage.connection import storage_options_for

# Written in this order; index.html last (see module doc).
REPORT_FILES = ("regressions.json", "summary.md", "index.html")
LATEST = "latest"
# Files every report shares (plotly.js), stored once under <out>/assets/ and linked as ../assets/
# from the dated folder and latest/ alike, so the pages still open from disk without a network.
ASSETS = "assets"


@dataclass(frozen=True)
class Published:
    report_dir: str
    latest_dir: str
    files: dict[str, str]  # file name -> path or URL in the dated folder


def publish(
    out_base: str,
    run_date: str,
    contents: Mapping[str, str],
    assets: Mapping[str, Callable[[], bytes]] | None = None,
) -> Published:
    """Write the report's files; `assets` (name -> its bytes, asked for only when the asset is not
    stored yet) go to <out>/assets/ first, so a page never links a missing asset."""
    missing = [name for name in REPORT_FILES if name not in contents]
    if missing:
        raise ValueError(f"report is missing {', '.join(missing)}")
    loc = _location(out_base)
    for name, payload in (assets or {}).items():
        if not fsx.exists(loc, loc.path(ASSETS, name)):
            fsx.write_atomically(loc, loc.path(ASSETS, name), _writer(payload()))
    # Pages beside the report (compare.html) come first: whoever sees index.html finds them too.
    names = [name for name in contents if name not in REPORT_FILES] + list(REPORT_FILES)
    for folder in (run_date, LATEST):
        for name in names:
            fsx.write_atomically(loc, loc.path(folder, name), _writer(contents[name].encode("utf-8")))
    return Published(
        report_dir=loc.url(run_date),
        latest_dir=loc.url(LATEST),
        files={name: loc.url(run_date, name) for name in names},
    )


def report_folder(out_base: str, run_date: str) -> str:
    """Where publish() puts the dated folder (a local path or URL)."""
    return _location(out_base).url(run_date)


def _location(out_base: str) -> fsx.Location:
    # The same credentials as the store's (an object-store reports folder needs them too).
    return fsx.resolve_root(out_base, storage_options_for(out_base))


def _writer(payload: bytes) -> Callable[[pa.NativeFile], None]:
    def write(out: pa.NativeFile) -> None:
        out.write(payload)

    return write


def relative_link(from_dir: str, target: str) -> str:
    """A link from a local report folder to a local file, or the target itself (URLs)."""
    if "://" in from_dir or "://" in target:
        return target
    return os.path.relpath(target, from_dir).replace(os.sep, "/")
