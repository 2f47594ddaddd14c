"""Static files a generated site repeats in every copy (GX Data Docs' `static/`: 4 MB of images and
fonts per run), stored once per storage root instead.

`split_static(site)` takes the site's `static/` folder out, names it by a digest of its contents
(so a GX upgrade that changes the files gets a folder of its own and older runs keep theirs), and
points every HTML page of the site at `../<SHARED_DIR>/<digest>/`: the site is published to
`<parent>/<run>/`, the shared files to `<parent>/<SHARED_DIR>/<digest>/`, and the relative links
still work from disk, with no server. `compact_pages(site)` drops the pages' indentation (a
quarter of GX's HTML), leaving pages with whitespace-sensitive elements as they are.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

# A name no run's folder can have: safe run ids write `~` only as `~XX` hex escapes (naming.py).
SHARED_DIR = "~static"
STATIC = "static"
# A relative reference to the site's own static folder: ./static/, static/, ../../static/ in
# attribute values or CSS url(...).
_REFERENCE = re.compile(r"""(?P<quote>["'(])(?P<up>(?:\./|(?:\.\./)*))static/""")


@dataclass(frozen=True)
class SharedStatic:
    digest: str
    files: dict[str, Path]  # path relative to <SHARED_DIR>/<digest>/ -> the file in the build


def split_static(site: Path) -> SharedStatic | None:
    """Move `site/static/` out of the site (into `site/../`, a scratch place) and relink the pages;
    None when the site has no static folder."""
    static = site / STATIC
    if not static.is_dir():
        return None
    files = sorted(p for p in static.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(static).as_posix().encode() + b"\0" + path.read_bytes())
    name = digest.hexdigest()[:16]
    moved = site.parent / f"{site.name}-static"
    shutil.move(str(static), moved)
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        relinked = _REFERENCE.sub(lambda m: f"{m['quote']}{m['up']}../{SHARED_DIR}/{name}/", text)
        if relinked != text:
            page.write_text(relinked, encoding="utf-8")
    return SharedStatic(
        name, {p.relative_to(static).as_posix(): moved / p.relative_to(static) for p in files}
    )


_INDENTATION = re.compile(r"\n[ \t]+")
_WHITESPACE_SENSITIVE = re.compile(r"<(pre|textarea)\b", re.IGNORECASE)


def compact_pages(site: Path) -> None:
    """Remove leading indentation from every HTML page of the site without <pre> or <textarea>."""
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if not _WHITESPACE_SENSITIVE.search(text):
            page.write_text(_INDENTATION.sub("\n", text), encoding="utf-8")
