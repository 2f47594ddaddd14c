"""Where the store's root lives and how a file is put there atomically.

Local roots use pyarrow's LocalFileSystem (fast, native). Any other URL goes through fsspec
(memory://, s3://, gs://, ... as far as the matching fsspec package is installed), wrapped as a
pyarrow filesystem so pyarrow.dataset reads it directly.

Atomic publication:
- local: write "<dir>/.<name>.<random>.tmp", fsync it, rename over the final name, fsync the dir.
  A reader sees the old file or the new one, never a torn one, also after a crash or power loss.
- object stores: build the whole file in memory, then one put. An object becomes visible only
  when its upload completes, so a reader never sees a partial object; and because nothing is
  streamed, an exception half-way cannot commit a partial object on close.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.fs as pafs

from meshmark_tasks.errors import StoreError
from meshmark_tasks.storage.naming import temp_name_for


@dataclass(frozen=True)
class Location:
    """The resolved storage root."""

    root: str  # what callers see: an absolute local path, or the URL without a trailing "/"
    fs: pafs.FileSystem
    base: str  # the root as a path inside `fs`
    local: bool

    def path(self, *parts: str) -> str:
        """A path inside `fs`."""
        return posixpath.join(self.base, *parts) if not self.local else os.path.join(self.base, *parts)

    def url(self, *parts: str) -> str:
        """The same place as callers name it (local path or URL)."""
        if self.local:
            return os.path.join(self.root, *parts)
        return "/".join([self.root, *parts])


def is_local_path(root: str) -> bool:
    """A plain path or a file:// URL (anything else goes through fsspec)."""
    return "://" not in root or root.startswith("file://")


def local_path(root: str) -> str:
    """The absolute local path of a plain path or file:// URL."""
    path = root[len("file://") :] if root.startswith("file://") else root
    return os.path.abspath(os.path.expanduser(path))


def resolve_root(root: str, storage_options: Mapping[str, Any] | None = None) -> Location:
    """The root as a filesystem; `storage_options` go to the fsspec filesystem (credentials,
    endpoint) and are ignored for local roots."""
    if not isinstance(root, str) or not root.strip():
        raise StoreError(f"storage root must be a non-empty path or URL, got {root!r}")
    if is_local_path(root):
        path = local_path(root)
        return Location(root=path, fs=pafs.LocalFileSystem(), base=path, local=True)
    try:
        fsspec_fs, path = fsspec.core.url_to_fs(root, **dict(storage_options or {}))
    except ImportError as exc:
        raise StoreError(f"storage root {root}: the fsspec backend is not installed ({exc})") from None
    except ValueError as exc:
        raise StoreError(f"storage root {root}: {exc}") from None
    handler = pafs.FSSpecHandler(fsspec_fs)
    base = path.rstrip("/") or "/"
    return Location(root=root.rstrip("/"), fs=pafs.PyFileSystem(handler), base=base, local=False)


def write_atomically(loc: Location, final_path: str, write: Callable[[pa.NativeFile], None]) -> None:
    """Publish the bytes `write` produces at `final_path` all at once (see module doc)."""
    parent, name = _split(loc, final_path)
    loc.fs.create_dir(parent, recursive=True)
    if not loc.local:
        sink = pa.BufferOutputStream()
        write(sink)
        payload = sink.getvalue()
        with loc.fs.open_output_stream(final_path) as out:
            out.write(payload)
        return
    temp = os.path.join(parent, temp_name_for(name, uuid.uuid4().hex))
    try:
        with loc.fs.open_output_stream(temp) as out:
            write(out)
        _fsync_path(temp)
        os.replace(temp, final_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_path(parent)  # make the rename itself durable


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _split(loc: Location, path: str) -> tuple[str, str]:
    return os.path.split(path) if loc.local else posixpath.split(path)


def exists(loc: Location, path: str) -> bool:
    return loc.fs.get_file_info(path).type != pafs.FileType.NotFound


def delete_file(loc: Location, path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        loc.fs.delete_file(path)
