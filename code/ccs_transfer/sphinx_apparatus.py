"""Sphinx extension for the apparatus of the edition: citations, version, figure references.

Directives (MyST syntax shown):

- ``{edition-citation}`` renders a reading citation of the edition and the
  same citation as BibTeX, RIS and CSL-JSON, all generated from CITATION.cff.
- ``{source-citations}`` does the same for every entry of CITATION.cff's
  ``references`` (the forum thread and the tutorial), with their addresses.
- ``{cite-figure} LABEL`` renders a "Cite this figure" line: the figure's
  number and anchor, the edition version and build date, and the hashes of
  the model weights and the data behind the figure. The hashes come from the
  provenance record that the executed page wrote (see ``provenance.py``). For
  a page without a record, the line reads "not recorded in this build".

Every HTML page also shows the edition's title and version in the article
header and a version line in the footer. No page loads a script or style
sheet from another host. Such an asset is left out with a warning, which
fails a build run with ``-W``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.fileutil import copy_asset_file

from . import __version__
from .citation import (
    CitationError,
    Work,
    check_version_agreement,
    citation_segments,
    default_build_date,
    edition_work,
    load_citation_metadata,
    reference_works,
    to_bibtex,
    to_csl_json,
    to_ris,
)
from .errors import EditionError

logger = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parent / "data"
STYLE_SHEET = "apparatus.css"
HEADER_TEMPLATE = "apparatus-edition-label.html"
FOOTER_TEMPLATE = "apparatus-edition-footer.html"
FAVICON = "apparatus-favicon.svg"
NOT_RECORDED = "not recorded in this build"

# Link relations that only name another address and make the browser fetch nothing.
_NON_FETCHING_RELATIONS = {"canonical", "alternate", "author", "license", "cite-as"}


# ---------------------------------------------------------------------------
# State shared by the directives


@dataclass(frozen=True)
class EditionFacts:
    """Facts the apparatus prints about the edition: its citation data, version and build date."""

    edition: Work
    references: tuple[Work, ...]
    version: str
    build_date: str


def _facts(env) -> EditionFacts:
    facts = getattr(env.app, "apparatus_facts", None)
    if facts is None:
        raise ExtensionError("ccs_transfer.sphinx_apparatus: the edition facts were not loaded at builder-inited.")
    return facts


def _load_facts(app) -> None:
    path = Path(app.config.apparatus_citation_file or Path(app.srcdir) / "CITATION.cff")
    try:
        metadata = load_citation_metadata(path)
        build_date = default_build_date()
        edition = edition_work(metadata, build_date)
        references = tuple(reference_works(metadata))
    except EditionError as error:
        raise ExtensionError(f"ccs_transfer.sphinx_apparatus: {error}") from None
    try:
        check_version_agreement(metadata)
    except CitationError as error:
        logger.warning(str(error), type="apparatus", subtype="version")
    app.apparatus_facts = EditionFacts(edition, references, __version__, build_date.isoformat())


# ---------------------------------------------------------------------------
# Citation directives


def _segments_to_nodes(work: Work) -> list[nodes.Node]:
    children: list[nodes.Node] = []
    for style, text in citation_segments(work):
        if style == "title":
            children.append(nodes.emphasis(text, text))
        elif style == "title-quoted":
            children.append(nodes.Text(text))
        elif style == "url":
            children.append(nodes.reference(text, text, refuri=text))
        else:
            children.append(nodes.Text(text))
    return children


def _format_blocks(work: Work, id_prefix: str) -> list[nodes.Node]:
    """Return a labelled code block per format: BibTeX, RIS and CSL-JSON."""
    blocks: list[nodes.Node] = []
    for label, slug, language, text in (
        ("BibTeX", "bibtex", "bibtex", to_bibtex(work)),
        ("RIS", "ris", "text", to_ris(work)),
        ("CSL-JSON", "csl-json", "json", to_csl_json(work)),
    ):
        heading = nodes.rubric(label, label, classes=["apparatus-format"])
        heading["ids"].append(f"{id_prefix}-{slug}")
        block = nodes.literal_block(text, text, language=language, classes=["apparatus-citation-code"])
        blocks.extend([heading, block])
    return blocks


class _TrackedDirective(SphinxDirective):
    """A directive whose page is read again on every build, so its dates and hashes stay current."""

    def note_page(self) -> None:
        pages = getattr(self.env, "apparatus_pages", None)
        if pages is None:
            pages = self.env.apparatus_pages = {}
        pages.setdefault(self.env.docname, set()).add(self.name)


class EditionCitationDirective(_TrackedDirective):
    """Render the edition's citation: a reading form, then BibTeX, RIS and CSL-JSON."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        self.note_page()
        facts = _facts(self.env)
        reading = nodes.paragraph(classes=["apparatus-citation"])
        reading += nodes.strong("Suggested citation: ", "Suggested citation: ")
        reading.extend(_segments_to_nodes(facts.edition))
        return [reading, *_format_blocks(facts.edition, "cite-edition")]


class SourceCitationsDirective(_TrackedDirective):
    """Render a citation of every reference in CITATION.cff, with its address and notes, in every format."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        self.note_page()
        facts = _facts(self.env)
        if not facts.references:
            logger.warning("CITATION.cff has no references to cite as sources.", location=self.get_location(), type="apparatus")
            return []
        output: list[nodes.Node] = []
        for work in facts.references:
            heading = nodes.rubric(work.title, work.title, classes=["apparatus-source-title"])
            heading["ids"].append(f"source-{work.key}")
            reading = nodes.paragraph(classes=["apparatus-citation"])
            reading.extend(_segments_to_nodes(work))
            output.extend([heading, reading, *_format_blocks(work, f"source-{work.key}")])
        return output


# ---------------------------------------------------------------------------
# "Cite this figure"


class cite_figure_hashes(nodes.Inline, nodes.Element):
    """Placeholder for the model and data hashes, filled in once all pages have executed."""


class CiteFigureDirective(_TrackedDirective):
    """Render a "Cite this figure" line for the figure labelled by the argument."""

    required_arguments = 1
    has_content = False
    option_spec = {"class": directives.class_option}

    def run(self) -> list[nodes.Node]:
        self.note_page()
        facts = _facts(self.env)
        label = self.arguments[0].strip()
        line = nodes.paragraph(classes=["apparatus-cite-figure", *self.options.get("class", [])])
        line += nodes.strong("Cite this figure: ", "Cite this figure: ")
        # A numref cross-reference: Sphinx turns it into "Fig. N" linking to
        # the figure, and warns when no figure carries the label.
        reference = addnodes.pending_xref(
            "",
            nodes.inline(label, label),
            refdomain="std",
            reftype="numref",
            reftarget=label.lower(),
            refexplicit=False,
            refwarn=True,
            refdoc=self.env.docname,
        )
        line += reference
        line += nodes.Text(" (anchor ")
        line += nodes.literal(f"#{label}", f"#{label}")
        line += nodes.Text(") in ")
        line += nodes.emphasis(facts.edition.title, facts.edition.title)
        line += nodes.Text(f", version {facts.version}, built {facts.build_date}. ")
        line += cite_figure_hashes("", label=label, docname=self.env.docname)
        return [line]


def _provenance_records(app) -> list[dict[str, Any]]:
    """Read this build's page records; an empty list when the build wrote none."""
    from .provenance import records_folder
    from .settings import current_settings

    try:
        folder = records_folder(current_settings())
    except EditionError as error:
        logger.warning(f"provenance records cannot be located: {error}", type="apparatus", subtype="provenance")
        return []
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as error:
            logger.warning(f"provenance record {path} cannot be read ({error}); delete it and build again.", type="apparatus", subtype="provenance")
    return records


def _record_for_page(records: list[dict[str, Any]], docname: str) -> dict[str, Any] | None:
    """Return the record whose ``page`` is ``docname`` or a trailing part of it ("tutorial/classifier")."""
    for record in records:
        page = str(record.get("page", "")).strip("/")
        if page and (docname == page or docname.endswith("/" + page)):
            return record
    return None


def _data_hashes(record: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (what, sha256) pairs for the data a record names: the photo collection and single photos."""
    hashes = []
    data = record.get("data") or {}
    collection = data.get("manifest_sha256") or data.get("collection_sha256")
    if collection:
        hashes.append(("flower photos", collection))
    for photo in record.get("photos") or []:
        if photo.get("sha256"):
            hashes.append((f"photo {photo.get('name', '?')}", photo["sha256"]))
    return hashes


def _hash_nodes(record: dict[str, Any] | None) -> list[nodes.Node]:
    if record is None:
        return [nodes.Text(f"Model and data hashes: {NOT_RECORDED}.")]
    model = record.get("model") or {}
    output: list[nodes.Node] = []
    weights = model.get("weights_sha256")
    if weights:
        output.append(nodes.Text(f"Model {model.get('id', '?')}, weights sha256 "))
        output.append(nodes.literal(weights, weights))
        output.append(nodes.Text("; "))
    else:
        output.append(nodes.Text(f"Model weights: {NOT_RECORDED}; "))
    data = _data_hashes(record)
    if not data:
        output.append(nodes.Text(f"data: {NOT_RECORDED}."))
        return output
    for index, (what, digest) in enumerate(data):
        output.append(nodes.Text(f"{what} sha256 "))
        output.append(nodes.literal(digest, digest))
        output.append(nodes.Text("." if index == len(data) - 1 else ", "))
    return output


# Limitation: the hashes come from the page's record, so each figure lists all the data its page read.
def _resolve_cite_figures(app, doctree: nodes.document, docname: str) -> None:
    placeholders = list(doctree.findall(cite_figure_hashes))
    if not placeholders:
        return
    record = _record_for_page(_provenance_records(app), docname)
    for placeholder in placeholders:
        placeholder.replace_self(_hash_nodes(record))


# ---------------------------------------------------------------------------
# Figures must be citable


def _check_figure_labels(app, doctree: nodes.document, docname: str) -> None:
    """Warn about a figure that lacks a label or a caption, since it gets no number and no permalink."""
    if not app.config.apparatus_require_figure_labels:
        return
    for figure in doctree.findall(nodes.figure):
        has_caption = any(isinstance(child, nodes.caption) for child in figure.children)
        if not figure.get("names"):
            logger.warning(
                "figure has no label, so it has no stable anchor. Give it a name (MyST `:name: fig-...`).",
                location=figure,
                type="apparatus",
                subtype="figure",
            )
        elif not has_caption:
            logger.warning(
                f"figure {figure['names'][0]!r} has no caption, so it gets no number and no permalink. Add a caption.",
                location=figure,
                type="apparatus",
                subtype="figure",
            )


# ---------------------------------------------------------------------------
# Pages: header, footer, offline assets


def _configure_theme(app, config) -> None:
    config.templates_path = [*config.templates_path, str(ASSETS_DIR)]
    # The LaTeX title page prints "Release <release>"; Jupyter Book sets neither value.
    if not config.release:
        config.release = __version__
    if not config.version:
        config.version = __version__
    if not config.apparatus_configure_theme:
        return
    options = dict(config.html_theme_options or {})
    header = options.get("article_header_start", ["toggle-primary-sidebar.html"])
    header = [item.strip() for item in header.split(",")] if isinstance(header, str) else list(header)
    if HEADER_TEMPLATE not in header:
        header.append(HEADER_TEMPLATE)
    options["article_header_start"] = header
    footer = options.get("footer_content_items", ["author.html", "copyright.html", "last-updated.html", "extra-footer.html"])
    footer = [item.strip() for item in footer.split(",")] if isinstance(footer, str) else list(footer)
    if FOOTER_TEMPLATE not in footer:
        footer.append(FOOTER_TEMPLATE)
    options["footer_content_items"] = footer
    # Footnotes become margin notes beside the text, as in a printed edition.
    options.setdefault("use_sidenotes", True)
    config.html_theme_options = options
    # pydata-sphinx-theme logs a console error on a reader's first visit when
    # no default colour mode is set; "auto" follows the reader's system.
    config.html_context = {"default_mode": "auto", **(config.html_context or {})}
    # A favicon of our own keeps browsers from requesting /favicon.ico, which
    # the site does not have.
    if not config.html_favicon:
        config.html_favicon = str(ASSETS_DIR / FAVICON)


def _is_external(address: str) -> bool:
    parts = urlsplit(address)
    return bool(parts.netloc) or parts.scheme not in ("", "file", "data")


def _asset_address(asset: Any) -> str:
    return str(getattr(asset, "filename", asset) or "")


def _add_page_context(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    facts = getattr(app, "apparatus_facts", None)
    if facts is None:
        return
    context["edition_version"] = facts.version
    context["edition_build_date"] = facts.build_date
    pages = getattr(app.env, "apparatus_pages", {})
    cite_pages = sorted(page for page, names in pages.items() if "edition-citation" in names)
    context["edition_cite_docname"] = cite_pages[0] if cite_pages else ""


def _thebe_enabled(app) -> bool:
    launch_buttons = (app.config.html_theme_options or {}).get("launch_buttons") or {}
    thebe_config = getattr(app.config, "thebe_config", None) or {}
    return bool(launch_buttons.get("thebe")) or str(thebe_config.get("always_load", False)).lower() == "true"


def _is_thebe_asset(asset: Any) -> bool:
    """Tell whether ``asset`` belongs to sphinx-thebe, which Jupyter Book loads on every page."""
    address = _asset_address(asset)
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return Path(urlsplit(address).path).name in ("sphinx-thebe.js", "sphinx-thebe.css") or "THEBE_JS_URL" in body


# Limitation: MathJax is not bundled, so a page with math shows raw TeX and fails a build run with -W.
def _drop_external_assets(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Leave out scripts and style sheets from other hosts, so that the page works offline.

    sphinx-thebe's loader and its configuration (which names the thebe bundle
    on a CDN) are left out silently while thebe is switched off, because
    without a launch button nothing on the page can start it.
    """
    drop_thebe = not _thebe_enabled(app)
    for key in ("script_files", "css_files"):
        assets = context.get(key)
        if not assets:
            continue
        retained = []
        for asset in assets:
            if drop_thebe and _is_thebe_asset(asset):
                continue
            address = _asset_address(asset)
            relation = str(getattr(asset, "attributes", {}).get("rel", "stylesheet"))
            if _is_external(address) and relation not in _NON_FETCHING_RELATIONS:
                logger.warning(
                    f"page {pagename!r} would load {address} from another host; it was left out so that the "
                    "site works offline. Bundle the file under _static, or remove what needs it "
                    "(for MathJax: the page's math).",
                    type="apparatus",
                    subtype="offline",
                )
                continue
            retained.append(asset)
        assets[:] = retained


def _copy_style_sheet(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    copy_asset_file(str(ASSETS_DIR / STYLE_SHEET), str(Path(app.outdir) / "_static"))


# ---------------------------------------------------------------------------
# Environment bookkeeping for parallel and incremental builds


def _purge_page(app, env, docname: str) -> None:
    getattr(env, "apparatus_pages", {}).pop(docname, None)


def _merge_pages(app, env, docnames: Iterable[str], other) -> None:
    pages = getattr(env, "apparatus_pages", None)
    if pages is None:
        pages = env.apparatus_pages = {}
    for docname in docnames:
        if docname in getattr(other, "apparatus_pages", {}):
            pages[docname] = other.apparatus_pages[docname]


def _outdated_pages(app, env, added, changed, removed) -> list[str]:
    # Pages with apparatus directives show the build date and this build's
    # hashes, which change without their source file changing.
    return [page for page in getattr(env, "apparatus_pages", {}) if page not in removed]


def setup(app) -> dict[str, Any]:
    app.add_config_value("apparatus_citation_file", "", "env", types=[str])
    app.add_config_value("apparatus_configure_theme", True, "html", types=[bool])
    app.add_config_value("apparatus_require_figure_labels", True, "env", types=[bool])

    app.add_directive("edition-citation", EditionCitationDirective)
    app.add_directive("source-citations", SourceCitationsDirective)
    app.add_directive("cite-figure", CiteFigureDirective)
    app.add_node(cite_figure_hashes)

    app.connect("config-inited", _configure_theme)
    app.connect("builder-inited", _load_facts)
    app.connect("env-purge-doc", _purge_page)
    app.connect("env-merge-info", _merge_pages)
    app.connect("env-get-outdated", _outdated_pages)
    app.connect("doctree-read", lambda app, doctree: _check_figure_labels(app, doctree, app.env.docname))
    app.connect("doctree-resolved", _resolve_cite_figures)
    app.connect("html-page-context", _add_page_context)
    # After sphinx.ext.mathjax and MyST-NB (priority 500) have added their assets.
    app.connect("html-page-context", _drop_external_assets, priority=900)
    app.connect("build-finished", _copy_style_sheet)
    app.add_css_file(STYLE_SHEET)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
