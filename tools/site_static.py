"""Static checks of a built HTML site: offline assets, image text alternatives, anchors, headings.

The checks read the files only, so they run in a second and need no browser:

- ``external-script``, ``external-stylesheet``, ``external-media``: a
  ``<script src>``, a fetching ``<link href>`` or an ``<img>``, ``<iframe>``,
  ``<video>``, ``<audio>``, ``<source>``, ``<embed>`` or ``<object>`` address
  on another host.
- ``external-css``: an ``@import`` or ``url()`` to another host, in a site CSS
  file, a ``<style>`` block or a ``style`` attribute.
- ``inline-script-address``: an executable inline ``<script>`` that contains
  the address of another host, which it may fetch.
- ``img-alt``: an ``<img>`` whose ``alt`` is missing, empty, or only the file
  name (docutils writes the image path when no alt text was given).
- ``heading-order``: in a page's main content, a first heading other than
  ``<h1>``, or a heading more than one level below the one before it.
- ``section-anchor`` and ``figure-anchor``: a heading without a permalink or
  without a human-readable section id, and a ``<figure>`` without a
  human-readable id or without a permalink.
- ``unlabelled-output-image``: an image in a code cell's output that is not
  wrapped in a labelled figure, so it has no number and cannot be cited.
- ``edition-version``: a content page that does not show the edition version.

Run ``python tools/site_static.py _build/html`` for a report; the exit status
is 1 when anything was found.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import urlsplit

from bs4 import BeautifulSoup, Tag

# Link relations that make the browser fetch the address.
FETCHING_RELATIONS = {"stylesheet", "preload", "prefetch", "modulepreload", "icon", "shortcut", "apple-touch-icon", "manifest", "preconnect", "dns-prefetch"}
MEDIA_ATTRIBUTES = {
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "source": ("src", "srcset"),
    "track": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "input": ("src",),
}
SCRIPT_TYPES = {"", "text/javascript", "application/javascript", "module"}
# Schemes that load nothing from a network.
LOCAL_SCHEMES = {"", "data", "blob", "about", "file"}
# Pages that Sphinx generates without article content.
GENERATED_PAGES = {"genindex.html", "search.html", "py-modindex.html"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".bmp")
# Ids that docutils and Sphinx invent when an element has no name: "id3", "figure-2".
GENERATED_ID = re.compile(r"^(id\d+|figure-\d+|fig-\d+|index-\d+)$")
CSS_URL = re.compile(r"""url\(\s*(['"]?)(?P<address>[^'")]*)\1\s*\)""", re.IGNORECASE)
CSS_IMPORT = re.compile(r"""@import\s+(?:url\(\s*)?(['"]?)(?P<address>[^'")\s;]+)\1""", re.IGNORECASE)
SCRIPT_ADDRESS = re.compile(r"""(?:https?:)?//(?P<host>[A-Za-z0-9.-]+\.[A-Za-z]{2,}|localhost|\d{1,3}(?:\.\d{1,3}){3})(?=[/:'"\s?#]|$)""")


@dataclass(frozen=True)
class Finding:
    """One problem on one page (or in one CSS file) of the site."""

    page: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.page}: [{self.rule}] {self.detail}"


def is_external(address: str) -> bool:
    """Tell whether loading ``address`` would contact a host (any host: the built site has none)."""
    address = address.strip()
    if not address:
        return False
    parts = urlsplit(address)
    return bool(parts.netloc) or parts.scheme.lower() not in LOCAL_SCHEMES


def _srcset_addresses(value: str) -> list[str]:
    return [candidate.strip().split()[0] for candidate in value.split(",") if candidate.strip()]


def _attribute_addresses(element: Tag, attribute: str) -> list[str]:
    value = element.get(attribute)
    if not value:
        return []
    value = " ".join(value) if isinstance(value, list) else str(value)
    return _srcset_addresses(value) if attribute == "srcset" else [value]


def css_findings(css_text: str, where: str) -> Iterator[Finding]:
    """Yield a finding for every ``@import`` or ``url()`` in ``css_text`` that names another host."""
    for pattern, kind in ((CSS_IMPORT, "@import"), (CSS_URL, "url()")):
        for match in pattern.finditer(css_text):
            address = match.group("address").strip()
            if is_external(address):
                yield Finding(where, "external-css", f"{kind} loads {address}")


def _main_content(soup: BeautifulSoup) -> Tag:
    return soup.select_one("article.bd-article") or soup.find("main") or soup.body or soup


def _is_redirect(soup: BeautifulSoup) -> bool:
    refresh = soup.find("meta", attrs={"http-equiv": re.compile("^refresh$", re.IGNORECASE)})
    return refresh is not None and soup.select_one("article, main") is None


def _asset_findings(soup: BeautifulSoup, page: str) -> Iterator[Finding]:
    for script in soup.find_all("script"):
        source = script.get("src")
        if source and is_external(source):
            yield Finding(page, "external-script", f"<script src> loads {source}")
        script_type = str(script.get("type", "")).strip().lower()
        if not source and script_type in SCRIPT_TYPES:
            for match in SCRIPT_ADDRESS.finditer(script.get_text()):
                yield Finding(page, "inline-script-address", f"an inline script names {match.group(0)}")
    for link in soup.find_all("link"):
        relations = {relation.lower() for relation in (link.get("rel") or [])}
        address = link.get("href") or ""
        if relations & FETCHING_RELATIONS and is_external(address):
            yield Finding(page, "external-stylesheet" if "stylesheet" in relations else "external-link", f"<link rel={' '.join(sorted(relations))}> loads {address}")
    for tag_name, attributes in MEDIA_ATTRIBUTES.items():
        for element in soup.find_all(tag_name):
            for attribute in attributes:
                for address in _attribute_addresses(element, attribute):
                    if is_external(address):
                        yield Finding(page, "external-media", f"<{tag_name} {attribute}> loads {address}")
    for style in soup.find_all("style"):
        yield from css_findings(style.get_text(), page)
    for element in soup.find_all(style=True):
        yield from css_findings(str(element["style"]), page)


def _alt_findings(soup: BeautifulSoup, page: str) -> Iterator[Finding]:
    for image in soup.find_all("img"):
        source = str(image.get("src", ""))
        alt = image.get("alt")
        if alt is None or not str(alt).strip():
            yield Finding(page, "img-alt", f"<img src={source}> has no alt text")
            continue
        alt = str(alt).strip()
        alt_name = alt.rsplit("/", 1)[-1]
        if alt == source or alt_name == source.rsplit("/", 1)[-1] or alt.lower().endswith(IMAGE_SUFFIXES):
            yield Finding(page, "img-alt", f"<img src={source}> has only a file name as alt text ({alt!r})")


def _heading_findings(content: Tag, page: str) -> Iterator[Finding]:
    previous = 0
    for heading in content.find_all(re.compile(r"^h[1-6]$")):
        level = int(heading.name[1])
        text = " ".join(heading.get_text(" ", strip=True).replace("#", "").split())
        if previous == 0 and level != 1:
            yield Finding(page, "heading-order", f"the first heading is <h{level}> {text!r}, expected <h1>")
        elif level > previous + 1 and previous != 0:
            yield Finding(page, "heading-order", f"<h{level}> {text!r} follows <h{previous}>; a level is skipped")
        previous = level


def _anchor_findings(content: Tag, page: str) -> Iterator[Finding]:
    for heading in content.find_all(re.compile(r"^h[1-6]$")):
        text = " ".join(heading.get_text(" ", strip=True).replace("#", "").split())
        section = heading.find_parent("section")
        anchor = heading.get("id") or (section.get("id") if section is not None else None)
        if not anchor:
            yield Finding(page, "section-anchor", f"heading {text!r} has no section id")
        elif GENERATED_ID.match(anchor):
            yield Finding(page, "section-anchor", f"heading {text!r} has the generated id {anchor!r}; give the section a label")
        if heading.find("a", class_="headerlink") is None:
            yield Finding(page, "section-anchor", f"heading {text!r} has no permalink")
    for figure in content.find_all("figure"):
        figure_id = figure.get("id")
        description = figure_id or str((figure.find("img") or {}).get("src", "figure"))
        if not figure_id:
            yield Finding(page, "figure-anchor", f"figure {description} has no id; give it a label (MyST `:name:`)")
        elif GENERATED_ID.match(figure_id):
            yield Finding(page, "figure-anchor", f"figure has the generated id {figure_id!r}; give it a label (MyST `:name:`)")
        if figure.find("a", class_="headerlink") is None:
            yield Finding(page, "figure-anchor", f"figure {description} has no permalink; give it a caption")
    for output in content.select(".cell_output"):
        for image in output.find_all("img"):
            if image.find_parent("figure") is None:
                yield Finding(
                    page,
                    "unlabelled-output-image",
                    f"output image {image.get('src', '')} is not a labelled figure; set the cell's mystnb figure name and caption",
                )


def check_page(html: str, page: str, expected_version: str | None = None) -> list[Finding]:
    """Check one HTML page; ``page`` is its path relative to the site root."""
    soup = BeautifulSoup(html, "html.parser")
    findings = list(_asset_findings(soup, page))
    findings += _alt_findings(soup, page)
    if _is_redirect(soup) or Path(page).name in GENERATED_PAGES:
        return findings
    content = _main_content(soup)
    findings += _heading_findings(content, page)
    findings += _anchor_findings(content, page)
    if expected_version is not None:
        label = soup.select_one(".apparatus-edition-version")
        if label is None or expected_version not in label.get_text():
            yield_detail = "no edition version label" if label is None else f"version label reads {label.get_text(strip=True)!r}"
            findings.append(Finding(page, "edition-version", f"expected version {expected_version}: {yield_detail}"))
    return findings


def site_pages(site: Path) -> list[Path]:
    """List the HTML pages of a built site, leaving out copied sources and downloads."""
    skipped = {"_sources", "_static", "_images", "_downloads", ".doctrees", "_panels_static"}
    return sorted(path for path in site.rglob("*.html") if not skipped & set(path.relative_to(site).parts[:-1]))


def site_style_sheets(site: Path) -> list[Path]:
    return sorted(site.rglob("*.css"))


def check_site(site: Path, expected_version: str | None = None) -> list[Finding]:
    """Check every page and CSS file of the site built in ``site``."""
    site = Path(site)
    if not site.is_dir():
        raise FileNotFoundError(f"{site} is not a folder; build the site first (make book).")
    findings: list[Finding] = []
    for path in site_pages(site):
        relative = path.relative_to(site).as_posix()
        findings += check_page(path.read_text(encoding="utf-8", errors="replace"), relative, expected_version)
    for path in site_style_sheets(site):
        relative = path.relative_to(site).as_posix()
        findings += css_findings(path.read_text(encoding="utf-8", errors="replace"), relative)
    return findings


def format_report(findings: Iterable[Finding], checked: int) -> str:
    findings = list(findings)
    lines = [str(finding) for finding in findings]
    lines.append(f"site_static: {checked} pages checked, {len(findings)} problems found.")
    return "\n".join(lines)


def _installed_version() -> str | None:
    try:
        from ccs_transfer import __version__
    except ImportError:
        return None
    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a built HTML site for assets from other hosts, missing alt text, anchors and heading order.")
    parser.add_argument("site", type=Path, nargs="?", default=Path("_build/html"), help="folder of the built site (default: _build/html)")
    parser.add_argument(
        "--version",
        dest="expected_version",
        help="edition version every content page must show (default: the installed ccs_transfer version)",
    )
    parser.add_argument("--no-version", action="store_true", help="do not check for the edition version label")
    arguments = parser.parse_args(argv)
    if arguments.no_version:
        arguments.expected_version = None
    elif arguments.expected_version is None:
        arguments.expected_version = _installed_version()
    if not arguments.site.is_dir():
        print(f"error: {arguments.site} is not a folder. Fix: build the site first with `make book`.", file=sys.stderr)
        return 2
    findings = check_site(arguments.site, arguments.expected_version)
    print(format_report(findings, len(site_pages(arguments.site))))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
