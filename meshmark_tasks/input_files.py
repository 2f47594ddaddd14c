"""Reading an input file in bounded memory: at most the input limit, then a one-line error.

Every file a user hands to meshmark (load-generator outputs, cells and results JSON Lines, profiles,
weights) goes through here, so `meshmark parse --format k6 /dev/zero` stops at the limit instead
of reading until the kernel kills it. Failures are `InputFileError(source, problem)` naming the file.
"""

from __future__ import annotations

import os
import stat
import zlib
from pathlib import Path
from typing import BinaryIO

from meshmark_tasks.config import MAX_INPUT_BYTES_ENV, max_input_bytes
from meshmark_tasks.errors import InputFileError

_RAISE_IT = f"raise it with {MAX_INPUT_BYTES_ENV}"


def read_input_bytes(path: str | Path, *, limit: int | None = None, remedy: str = _RAISE_IT) -> bytes:
    """The file's bytes; more than `limit` (default: the MESHMARK_MAX_INPUT_BYTES setting) is an error.

    `remedy` ends the too-large message (what the user can do about the limit).
    """
    source = str(path)
    cap = max_input_bytes() if limit is None else limit
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            # A regular file's size is known up front; devices, pipes and /proc files are read
            # up to one byte past the limit to find out.
            if stat.S_ISREG(info.st_mode) and info.st_size > cap:
                raise InputFileError(source, _too_large(cap, remedy))
            return _read_capped(handle, source, cap, remedy)
    except FileNotFoundError:
        raise InputFileError(source, "file not found") from None
    except IsADirectoryError:
        raise InputFileError(source, "is a directory, not a file") from None
    except PermissionError:
        raise InputFileError(source, "permission denied") from None
    except OSError as exc:
        raise InputFileError(source, f"cannot read: {exc.strerror or exc}") from None


def read_input_text(
    path: str | Path, *, limit: int | None = None, remedy: str = _RAISE_IT, gunzip: bool = False
) -> str:
    """The file as UTF-8 text (a leading BOM is dropped), read as `read_input_bytes` does.

    `gunzip`: a gzip-compressed file (a raw output the store kept compressed) is decompressed,
    its text held to the same limit.
    """
    data = read_input_bytes(path, limit=limit, remedy=remedy)
    if gunzip and data.startswith(GZIP_MAGIC):
        data = _gunzip_capped(data, str(path), max_input_bytes() if limit is None else limit, remedy)
    return decode_utf8(data, str(path))


GZIP_MAGIC = b"\x1f\x8b"


def _gunzip_capped(data: bytes, source: str, cap: int, remedy: str) -> bytes:
    out = bytearray()
    while data:  # a gzip file may hold several members, one after the other
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(data, cap + 1 - len(out))
        except zlib.error as exc:
            raise InputFileError(source, f"not a readable gzip file ({exc})") from None
        if len(out) > cap:
            raise InputFileError(source, _too_large(cap, remedy) + " once decompressed")
        if not inflater.eof:
            raise InputFileError(source, "not a readable gzip file (truncated)")
        data = inflater.unused_data
    return bytes(out)


def read_stream_text(stream: BinaryIO, source: str, *, limit: int | None = None) -> str:
    """A binary stream (stdin) as UTF-8 text, at most `limit` bytes."""
    cap = max_input_bytes() if limit is None else limit
    try:
        data = _read_capped(stream, source, cap, _RAISE_IT)
    except OSError as exc:
        raise InputFileError(source, f"cannot read: {exc.strerror or exc}") from None
    return decode_utf8(data, source)


def decode_utf8(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            source, f"not UTF-8 text (binary file?): {exc.reason} at byte {exc.start}"
        ) from None


def _read_capped(handle: BinaryIO, source: str, cap: int, remedy: str) -> bytes:
    data = handle.read(cap + 1)
    if len(data) > cap:
        raise InputFileError(source, _too_large(cap, remedy))
    return data


def _too_large(cap: int, remedy: str) -> str:
    return f"larger than the input limit of {cap:,} bytes ({remedy})"
