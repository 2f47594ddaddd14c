"""Output directories and files named on the command line, checked before any work starts."""

from __future__ import annotations

import os
from pathlib import Path

from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.storage.filesystem import is_local_path, local_path


def ensure_directory(path: str, flag: str) -> None:
    """Create `path` (and its parents) now, so that `--out <a file>` or an unwritable place fails
    in one line before a validation, a report or a load test has run. fsspec URLs are left to the
    writer. Creating is the only reliable test: root may write anywhere by permission bits, yet
    not under /proc."""
    if not is_local_path(path):
        return
    local = Path(local_path(path))
    if local.exists() and not local.is_dir():
        raise MeshmarkError(f"{flag} {path}: exists and is not a directory")
    try:
        local.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MeshmarkError(f"{flag} {path}: cannot create the directory: {exc.strerror or exc}") from None


def check_output_file(path: str, flag: str) -> None:
    """A local file the command will write: not a directory, in a directory that exists; said in one
    line before the store is read or anything computed."""
    if os.path.isdir(path):
        raise MeshmarkError(f"{flag} {path}: is a directory, not a file")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise MeshmarkError(f"{flag} {path}: the directory {parent} does not exist")
