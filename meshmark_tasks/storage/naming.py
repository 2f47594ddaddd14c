"""File and directory names of the store: run ids made filename-safe, part files, raw outputs.

Airflow run ids ("scheduled__2026-11-26T02:00:00+00:00", "manual__...", or any string a user
types into the trigger form) contain ':' and '+', which are unsafe or awkward in file names, URLs
and object keys. `safe_run_id` escapes every byte outside [A-Za-z0-9._-] as "~XX" (hex, UTF-8),
so the mapping is reversible and two different run ids never share a name. "~" is an unreserved
URL character, so escaped names survive fsspec URLs and S3 keys unchanged.
"""

from __future__ import annotations

import hashlib
import re

from meshmark_tasks.errors import StoreError

_ESCAPE = "~"
_SAFE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
# Well below the 255-byte file-name limit, leaving room for "part-", ".parquet" and temp suffixes.
MAX_SAFE_LEN = 180
# Marks a name shortened with a digest: such a name cannot be decoded, the run id is then read
# from the file's metadata (key RUN_ID_METADATA_KEY).
_HASHED_MARK = "~~"
_HEX = re.compile(r"~([0-9A-F]{2})")

PART_PREFIX = "part-"
PART_SUFFIX = ".parquet"
TEMP_SUFFIX = ".tmp"
RUN_ID_METADATA_KEY = b"meshmark.run_id"

_CELL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_EXT = re.compile(r"[A-Za-z0-9]{1,10}(\.[A-Za-z0-9]{1,10}){0,2}")


def safe_run_id(run_id: str) -> str:
    """A file-name-safe, collision-free, (normally) reversible form of an Airflow run id."""
    if not isinstance(run_id, str) or not run_id:
        raise StoreError(f"run_id must be a non-empty string, got {run_id!r}")
    out: list[str] = []
    for i, char in enumerate(run_id):
        # A leading "." would hide the raw/<run> directory and turn ".." into a parent reference.
        if char in _SAFE_CHARS and not (i == 0 and char == "."):
            out.append(char)
        else:
            out.extend(f"{_ESCAPE}{byte:02X}" for byte in char.encode("utf-8"))
    safe = "".join(out)
    if len(safe) <= MAX_SAFE_LEN:
        return safe
    # Too long for a file name: keep a readable prefix and make it unique with a digest.
    digest = hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:32]
    prefix = safe[: MAX_SAFE_LEN - len(digest) - len(_HASHED_MARK)]
    prefix = re.sub(r"~[0-9A-F]?$", "", prefix)  # never cut an escape in half
    return f"{prefix}{_HASHED_MARK}{digest}"


def is_hashed(safe: str) -> bool:
    return _HASHED_MARK in safe


def run_id_from_safe(safe: str) -> str | None:
    """Inverse of `safe_run_id`; None for a digest-shortened name (the run id is in the file)."""
    if is_hashed(safe):
        return None
    try:
        return _decode_bytes(safe).decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return None  # not a name this module made


def _decode_bytes(safe: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(safe):
        if safe[i] == _ESCAPE and _HEX.match(safe, i):
            out.append(int(safe[i + 1 : i + 3], 16))
            i += 3
        else:
            out.extend(safe[i].encode("ascii"))
            i += 1
    return bytes(out)


def part_file_name(run_id: str) -> str:
    return f"{PART_PREFIX}{safe_run_id(run_id)}{PART_SUFFIX}"


def safe_from_part_file_name(name: str) -> str | None:
    """The safe run id of a part file name, None for anything else (temp files, foreign files)."""
    if name.startswith(PART_PREFIX) and name.endswith(PART_SUFFIX):
        return name[len(PART_PREFIX) : -len(PART_SUFFIX)] or None
    return None


def temp_name_for(final_name: str, token: str) -> str:
    """A temp name beside the final file, invisible to readers.

    The leading "." makes pyarrow.dataset skip it (selector_ignore_prefixes); the suffix keeps it
    out of `*.parquet` globs (DuckDB's glob does match dot files).
    """
    return f".{final_name}.{token}{TEMP_SUFFIX}"


def is_temp_of(name: str, final_name: str) -> bool:
    return name.startswith(f".{final_name}.") and name.endswith(TEMP_SUFFIX)


def partition_dir_name(run_date_iso: str) -> str:
    return f"run_date={run_date_iso}"


def check_cell_id(cell_id: str) -> str:
    if not isinstance(cell_id, str) or not _CELL_ID.fullmatch(cell_id):
        raise StoreError(
            f"cell_id {cell_id!r} cannot name a raw file: expected letters, digits, '.', '_', '-' "
            "(not starting with '.'), at most 200 characters"
        )
    return cell_id


def check_ext(ext: str) -> str:
    bare = ext[1:] if isinstance(ext, str) and ext.startswith(".") else ext
    if not isinstance(bare, str) or not _EXT.fullmatch(bare):
        raise StoreError(f"raw file extension {ext!r} is not a plain extension such as 'json' or 'txt'")
    return bare
