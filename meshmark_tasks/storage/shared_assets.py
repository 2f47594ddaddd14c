"""What a generated Data Docs site repeats in every run, stored once per storage root instead.

A run's site is published to `<parent>/<run>/`; the parts every run repeats go beside it, named by
a digest of their contents, and the run's pages link them relatively, so they still open from disk
with no server (and through the Airflow plugin, which serves `<parent>/` as stored). In the order
DatasetStore.put_data_docs calls them:

- `split_static(site)`: GX's `static/` folder (4 MB of images and fonts) goes to
  `<parent>/<SHARED_DIR>/<digest>/` (a GX upgrade that changes the files gets a folder of its own,
  and older runs keep theirs).
- `compact_pages(site)`: drops the pages' indentation and blank lines (a quarter of GX's HTML),
  leaving pages with whitespace-sensitive elements as they are.
- `split_styles(site)`: the style sheet GX writes into every page (3 KB) goes to
  `<parent>/<SHARED_STYLES_DIR>/<digest>.css`, linked where it stood (same cascade).
- `split_suite_pages(site)`, last: the expectation-suite pages (`expectations/<suite>.html`, the
  same in every run until a suite changes) go to `<parent>/<SHARED_SUITES_DIR>/<digest>/<suite>.html`, one
  folder per page content. A shared page cannot know which run's index it was opened from, so its
  "Home" links go back in the browser's history (to the run's index or validation page it was
  opened from).
"""

from __future__ import annotations

import functools
import hashlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Names no run's folder can have: safe run ids write `~` only as `~XX` hex escapes (naming.py).
SHARED_DIR = "~static"
SHARED_SUITES_DIR = "~expectations"
SHARED_STYLES_DIR = "~styles"
STATIC = "static"
EXPECTATIONS = "expectations"
DIGEST_CHARS = 16
# A relative reference to the site's own static folder: ./static/, static/, ../../static/ in
# attribute values or CSS url(...). GX writes one `../` too few from its validation pages (four
# folders down), so the number of `../` written is not trusted: the page's depth is.
_STATIC_REFERENCE = re.compile(r"""(?P<quote>["'(])(?:\./|(?:\.\./)*)static/""")
_SUITE_REFERENCE = re.compile(
    r"""(?P<quote>["'(])(?:\./|(?:\.\./)*)expectations/(?P<page>[^"'()#?\s]+\.html)"""
)
# GX's page-wide style sheet (a plain <style> block); small ones are left in the page.
_STYLE_BLOCK = re.compile(r"<style>(?P<css>.*?)</style>", re.DOTALL)
MIN_SHARED_STYLE_CHARS = 1024
# In a suite page, the links to its run's index (the logo and the "Home" breadcrumb).
_INDEX_LINK = re.compile(r"""href=(?P<quote>["'])(?:\./|(?:\.\./)*)index\.html(?P=quote)""")
_GO_BACK = 'href="javascript:history.back()"'
# GX appends the build time to its (remote) logo's URL as a cache-buster: a new URL every build,
# which would make every run's suite pages differ.
_CACHE_BUSTER = re.compile(r"""(?P<url>\.png)\?d=\d{8}T\d{6}(?:\.\d+)?Z""")


@dataclass(frozen=True)
class SharedFiles:
    """Files taken out of a site to be stored once, by their path under the site's parent."""

    files: dict[str, Path]  # "<SHARED_DIR>/<digest>/images/x.ico" -> the file in the build

    def __or__(self, other: SharedFiles) -> SharedFiles:
        return SharedFiles({**self.files, **other.files})


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def _up_to_parent(page: Path, site: Path) -> str:
    """The relative path from `page`'s folder to the site's parent folder: "../" from the site's
    index.html, "../../" from expectations/<suite>.html."""
    return "../" * len(page.relative_to(site).parts)


def split_static(site: Path) -> SharedFiles:
    """Move `site/static/` out of the site (into `site/../`, a scratch place) and relink the pages;
    no files when the site has no static folder."""
    static = site / STATIC
    if not static.is_dir():
        return SharedFiles({})
    files = sorted(p for p in static.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(static).as_posix().encode() + b"\0" + path.read_bytes())
    shared = f"{SHARED_DIR}/{digest.hexdigest()[:DIGEST_CHARS]}"
    moved = site.parent / f"{site.name}-static"
    shutil.move(str(static), moved)
    for page in _pages(site):
        replacement = rf"\g<quote>{_up_to_parent(page, site)}{shared}/"
        _substitute(page, _STATIC_REFERENCE, replacement)
    return SharedFiles(
        {f"{shared}/{p.relative_to(static).as_posix()}": moved / p.relative_to(static) for p in files}
    )


def split_styles(site: Path) -> SharedFiles:
    """Move every <style> block of at least MIN_SHARED_STYLE_CHARS out of the pages into a style
    sheet named by its digest (into `site/../`) and link it in the block's place; run it after
    compact_pages (one digest for what compacts the same)."""
    moved = site.parent / f"{site.name}-styles"
    files: dict[str, Path] = {}

    def share(match: re.Match[str], *, up: str) -> str:
        css = match["css"]
        if len(css) < MIN_SHARED_STYLE_CHARS:
            return match[0]
        stored = f"{SHARED_STYLES_DIR}/{hashlib.sha256(css.encode()).hexdigest()[:DIGEST_CHARS]}.css"
        if stored not in files:
            files[stored] = moved / stored
            files[stored].parent.mkdir(parents=True, exist_ok=True)
            files[stored].write_text(css, encoding="utf-8")
        return f'<link rel="stylesheet" href="{up}{stored}">'

    for page in _pages(site):
        _substitute(page, _STYLE_BLOCK, functools.partial(share, up=_up_to_parent(page, site)))
    return SharedFiles(files)


def split_suite_pages(site: Path) -> SharedFiles:
    """Move the pages under `site/expectations/` out of the site (into `site/../`) and relink the
    pages that link them; run this last (a page's digest is of its final bytes)."""
    suites = site / EXPECTATIONS
    if not suites.is_dir():
        return SharedFiles({})
    moved = site.parent / f"{site.name}-suites"
    shared: dict[str, str] = {}  # page under expectations/ -> its path under the site's parent
    files: dict[str, Path] = {}
    for page in sorted(suites.rglob("*.html")):
        relative = page.relative_to(suites).as_posix()
        data = _INDEX_LINK.sub(_GO_BACK, page.read_text(encoding="utf-8")).encode("utf-8")
        stored = f"{SHARED_SUITES_DIR}/{hashlib.sha256(data).hexdigest()[:DIGEST_CHARS]}/{relative}"
        target = moved / stored
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        page.unlink()
        shared[relative], files[stored] = stored, target
    shutil.rmtree(suites)

    def relink(match: re.Match[str], *, up: str) -> str:
        stored = shared.get(match["page"])
        return match[0] if stored is None else f"{match['quote']}{up}{stored}"

    for page in _pages(site):
        _substitute(page, _SUITE_REFERENCE, functools.partial(relink, up=_up_to_parent(page, site)))
    return SharedFiles(files)


def _substitute(
    page: Path, pattern: re.Pattern[str], replacement: str | Callable[[re.Match[str]], str]
) -> None:
    text = page.read_text(encoding="utf-8")
    changed = pattern.sub(replacement, text)
    if changed != text:
        page.write_text(changed, encoding="utf-8")


_LINE_BREAK = re.compile(r"[ \t]*\n\s*")
_WHITESPACE_SENSITIVE = re.compile(r"<(pre|textarea)\b", re.IGNORECASE)


def compact_pages(site: Path) -> None:
    """Remove indentation, trailing blanks and empty lines from every HTML page of the site
    without <pre> or <textarea> (line breaks stay: a script's `//` comment still ends), and GX's
    cache-buster from its logo's URL."""
    for page in _pages(site):
        text = _CACHE_BUSTER.sub(r"\g<url>", page.read_text(encoding="utf-8"))
        if not _WHITESPACE_SENSITIVE.search(text):
            text = _LINE_BREAK.sub("\n", text)
        page.write_text(text, encoding="utf-8")
