"""Output directories named on the command line, made ready before any work starts."""

from __future__ import annotations

from pathlib import Path

from meshmark_tasks.config import is_local_path
from meshmark_tasks.errors import MeshmarkError


def ensure_directory(path: str, flag: str) -> None:
    """Create `path` (and its parents) now, so that `--out <a file>` or an unwritable place fails
    in one line before a validation, a report or a load test has run. fsspec URLs are left to the
    writer. Creating is the only reliable test: root may write anywhere by permission bits, yet
    not under /proc."""
    if not is_local_path(path):
        return
    local = Path(path.removeprefix("file://"))
    if local.exists() and not local.is_dir():
        raise MeshmarkError(f"{flag} {path}: exists and is not a directory")
    try:
        local.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MeshmarkError(f"{flag} {path}: cannot create the directory: {exc.strerror or exc}") from None
