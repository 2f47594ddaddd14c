"""Output directories named on the command line, made ready before any work starts."""

from __future__ import annotations

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
