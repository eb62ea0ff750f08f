"""Sphinx extension for the edition's critical annotations.

Three directives, written in MyST with ``:::`` fences:

``annotation <id>``
    One annotation, rendered as a margin note (``aside.sidebar.margin``, the
    element sphinx-book-theme 1.3 floats into the right margin on wide
    screens). Options: ``:type:`` (one of :data:`ANNOTATION_TYPES`),
    ``:target:`` (the label of the cell, figure or section it discusses),
    ``:answers:`` (section labels of the thread posts it answers, separated
    by spaces or commas) and an optional ``:title:``. The note gets the HTML
    id and the Sphinx label ``annotation-<id>``. Its first paragraph, the
    claim, is always shown; the paragraphs after it are folded into an HTML
    ``<details>`` element so that several notes stay near their cells.

``annotation-list``
    The annotations that answer one post (``:answers: post-opening``) or
    that have one type (``:type: bias``); all annotations without options.

``annotation-index``
    Every annotation grouped by type, or one type's annotations with
    ``:type:``.

The records live in the build environment and are purged, merged (parallel
reads) and checked with the ``env-purge-doc``, ``env-merge-info`` and
``env-check-consistency`` events. Lists and indexes are filled in at
``doctree-resolved``, so a page that lists annotations is rewritten whenever an
annotation anywhere in the book changes.

An invalid id, an unknown type, a missing option, an id used twice, or a
target or post that is not a label of the book is a Sphinx warning that names
the annotation id and the values that are allowed, so ``sphinx-build -W``
fails. Every problem is reported in the consistency check of every build, also
of a rebuild in which no page changed.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.fileutil import copy_asset_file
from sphinx.util.nodes import make_refnode

logger = logging.getLogger(__name__)

# Display order of the types on the index page, with the heading and the
# one-line description the index shows for each.
ANNOTATION_TYPES: dict[str, tuple[str, str]] = {
    "bias": (
        "Bias",
        "How data, labels and preprocessing tilt what the model can see, and for whom it works.",
    ),
    "reuse": (
        "Reuse",
        "What is taken over when a network trained elsewhere becomes one layer of a new program.",
    ),
    "provenance": (
        "Provenance",
        "Where the weights, photos and labels come from, and what the build records about them.",
    ),
    "authorship": (
        "Authorship",
        "Who is credited for the code, the models and the labels, and whose work goes uncredited.",
    ),
    "possibility": (
        "Possibility",
        "What transfer learning makes possible, and what each possibility leaves out.",
    ),
}

LABEL_PREFIX = "annotation-"
ID_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Labels of the thread digest's post sections start with this prefix. Warnings
# about a wrong :answers: value list the labels with it that the book defines.
POST_LABEL_PREFIX = "post-"
# The stylesheet ships with the package data and is copied into _static after an HTML build.
STYLESHEET = Path(__file__).resolve().parent / "data" / "sphinx_annotations.css"


@dataclass(frozen=True)
class AnnotationRecord:
    """One annotation as stored in the build environment."""

    id: str
    type: str
    title: str
    target: str
    answers: tuple[str, ...]
    docname: str
    lineno: int

    @property
    def label(self) -> str:
        return LABEL_PREFIX + self.id


@dataclass(frozen=True)
class ListingRecord:
    """One ``annotation-list`` or ``annotation-index`` directive, kept to check its ``:answers:``."""

    docname: str
    lineno: int
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Problem:
    """A warning about one directive, reported in every build's consistency check."""

    message: str
    docname: str
    lineno: int
    subtype: str


class annotation_list_node(nodes.General, nodes.Element):
    """Placeholder that ``doctree-resolved`` replaces with a list of annotations."""


class annotation_details(nodes.General, nodes.Element):
    """The argument of an annotation after its first paragraph: an HTML ``<details>`` element."""


class annotation_summary(nodes.General, nodes.TextElement):
    """The always visible line that opens an :class:`annotation_details`."""


DETAILS_SUMMARY = "Argument and sources"
# Browsers print a closed <details> element without its content, so every
# folded argument is opened before the page is printed.
OPEN_FOR_PRINT_SCRIPT = (
    'window.addEventListener("beforeprint", function () {'
    ' document.querySelectorAll("details.ccs-annotation-more").forEach(function (details) { details.open = true; });'
    " });"
)


def visit_details_html(translator, node: annotation_details) -> None:
    translator.body.append(translator.starttag(node, "details", CLASS="ccs-annotation-more"))


def depart_details_html(translator, node: annotation_details) -> None:
    translator.body.append("</details>\n")


def visit_summary_html(translator, node: annotation_summary) -> None:
    translator.body.append(translator.starttag(node, "summary", suffix=""))


def depart_summary_html(translator, node: annotation_summary) -> None:
    translator.body.append("</summary>\n")


def visit_passthrough(translator, node: nodes.Element) -> None:
    """Render the children of the node as if the node were not there (non-HTML builders)."""


def depart_passthrough(translator, node: nodes.Element) -> None:
    pass


def skip_node(translator, node: nodes.Element) -> None:
    raise nodes.SkipNode


def _stored_list(env, name: str) -> list:
    if not hasattr(env, name):
        setattr(env, name, [])
    return getattr(env, name)


def annotation_records(env) -> list[AnnotationRecord]:
    """Return every valid annotation of the book, in the order the pages were read."""
    return _stored_list(env, "ccs_annotation_records")


def _listings(env) -> list[ListingRecord]:
    return _stored_list(env, "ccs_annotation_listings")


def _parse_problems(env) -> list[Problem]:
    return _stored_list(env, "ccs_annotation_problems")


def split_labels(value: str) -> tuple[str, ...]:
    """Split an option value of labels separated by spaces or commas, lowercased like Sphinx labels."""
    return tuple(part.lower() for part in re.split(r"[\s,]+", value.strip()) if part)


def _type_choices() -> str:
    return ", ".join(ANNOTATION_TYPES)


class AnnotationDirective(SphinxDirective):
    """``annotation``: one critical annotation shown as a margin note."""

    required_arguments = 1
    has_content = True
    option_spec = {
        "type": directives.unchanged,
        "target": directives.unchanged,
        "answers": directives.unchanged,
        "title": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        annotation_id = self.arguments[0].strip()
        record = self._validated_record(annotation_id)
        if record is None:
            return []
        annotation_records(self.env).append(record)
        self.env.get_domain("std").note_hyperlink_target(record.label, record.docname, record.label, record.title)
        return [self._margin_note(record)]

    def _problem(self, message: str, subtype: str) -> None:
        _parse_problems(self.env).append(Problem(message, self.env.docname, self.lineno, subtype))

    def _validated_record(self, annotation_id: str) -> AnnotationRecord | None:
        """Return the annotation's record, or ``None`` after recording a problem for each invalid option."""
        problem_count = len(_parse_problems(self.env))
        if not ID_PATTERN.fullmatch(annotation_id):
            self._problem(
                f"annotation id {annotation_id!r} is invalid; use lowercase letters, digits and "
                "single hyphens, such as vocabulary-decides",
                "id",
            )

        annotation_type = self.options.get("type", "").strip().lower()
        if not annotation_type:
            self._problem(f"annotation {annotation_id!r} has no :type: option; use one of: {_type_choices()}", "type")
        elif annotation_type not in ANNOTATION_TYPES:
            self._problem(
                f"annotation {annotation_id!r} has unknown type {annotation_type!r}; use one of: {_type_choices()}",
                "type",
            )

        targets = split_labels(self.options.get("target", ""))
        if len(targets) != 1:
            issue = "has no :target: option" if not targets else f"has {len(targets)} targets"
            self._problem(
                f"annotation {annotation_id!r} {issue}; set :target: to the one label of the cell, "
                "figure or section it discusses, such as cell-training",
                "target",
            )

        answers = split_labels(self.options.get("answers", ""))
        if not answers:
            self._problem(
                f"annotation {annotation_id!r} has no :answers: option; set it to the section label "
                "of the thread post it answers, such as post-opening",
                "answers",
            )

        if len(_parse_problems(self.env)) > problem_count:
            return None
        title = self.options.get("title", "").strip() or f"Annotation {annotation_id}"
        return AnnotationRecord(
            id=annotation_id,
            type=annotation_type,
            title=title,
            target=targets[0],
            answers=answers,
            docname=self.env.docname,
            lineno=self.lineno,
        )

    def _margin_note(self, record: AnnotationRecord) -> nodes.sidebar:
        note = nodes.sidebar(
            classes=["margin", "ccs-annotation", f"ccs-annotation-{record.type}"],
            ids=[record.label],
        )
        self.set_source_info(note)

        heading = nodes.title()
        heading += nodes.inline(text=ANNOTATION_TYPES[record.type][0], classes=["ccs-annotation-type"])
        heading += nodes.Text(" ")
        heading += nodes.inline(text=record.title, classes=["ccs-annotation-title"])
        note += heading

        # The first paragraph (the claim) stays visible; the argument after it
        # is folded so that a run of margin notes stays near its cells.
        body = nodes.container()
        self.state.nested_parse(self.content, self.content_offset, body)
        claim, argument = body.children[:1], body.children[1:]
        note += claim
        if argument:
            details = annotation_details()
            details += annotation_summary(text=DETAILS_SUMMARY)
            details += argument
            note += details

        links = nodes.paragraph(classes=["ccs-annotation-links"])
        links += nodes.Text("On ")
        links += _pending_ref(record.target, nodes.literal(text=record.target), explicit=True, record=record)
        links += nodes.Text(". Answers ")
        for position, post in enumerate(record.answers):
            if position:
                links += nodes.Text(", ")
            links += _pending_ref(post, nodes.inline(text=post), explicit=False, record=record)
        links += nodes.Text(". ")
        permalink = nodes.reference("", "", internal=True, refid=record.label, classes=["ccs-annotation-permalink"])
        permalink += nodes.literal(text=f"#{record.label}")
        links += permalink
        note += links
        return note


# Limitation: like any {ref}, a margin note keeps a post's old heading until its own page is rewritten for another reason.
def _pending_ref(target: str, content: nodes.Node, explicit: bool, record: AnnotationRecord) -> addnodes.pending_xref:
    # refwarn is off because find_problems() reports an unresolved label once,
    # with the annotation id in the message.
    return addnodes.pending_xref(
        "",
        content,
        refdomain="std",
        reftype="ref",
        reftarget=target,
        refexplicit=explicit,
        refwarn=False,
        refdoc=record.docname,
    )


class AnnotationListDirective(SphinxDirective):
    """``annotation-list``: links to the annotations that answer one post or have one type."""

    has_content = False
    option_spec = {"answers": directives.unchanged, "type": directives.unchanged}
    grouped = False

    def run(self) -> list[nodes.Node]:
        answers = split_labels(self.options.get("answers", ""))
        annotation_type = self.options.get("type", "").strip().lower()
        if annotation_type and annotation_type not in ANNOTATION_TYPES:
            message = f"{self.name} has unknown type {annotation_type!r}; use one of: {_type_choices()}"
            _parse_problems(self.env).append(Problem(message, self.env.docname, self.lineno, "type"))
            return []
        _listings(self.env).append(ListingRecord(self.env.docname, self.lineno, answers))
        placeholder = annotation_list_node(answers=" ".join(answers), type=annotation_type, grouped=self.grouped)
        self.set_source_info(placeholder)
        return [placeholder]


class AnnotationIndexDirective(AnnotationListDirective):
    """``annotation-index``: every annotation grouped by type, or the annotations of one type."""

    option_spec = {"type": directives.unchanged}
    grouped = True


_STORED_LISTS = ("ccs_annotation_records", "ccs_annotation_listings", "ccs_annotation_problems")


def purge_annotations(app, env, docname: str) -> None:
    for name in _STORED_LISTS:
        setattr(env, name, [item for item in _stored_list(env, name) if item.docname != docname])


def merge_annotations(app, env, docnames: Iterable[str], other) -> None:
    merged_docs = set(docnames)
    for name in _STORED_LISTS:
        _stored_list(env, name).extend(item for item in _stored_list(other, name) if item.docname in merged_docs)


def _close_labels(label: str, known: Iterable[str]) -> str:
    matches = difflib.get_close_matches(label, list(known), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(matches)}?)" if matches else ""


def _post_label_choices(env) -> str:
    labels = sorted(label for label in env.get_domain("std").labels if label.startswith(POST_LABEL_PREFIX))
    return ", ".join(labels) if labels else f"none yet (their labels start with {POST_LABEL_PREFIX!r})"


def _duplicate_problems(records: list[AnnotationRecord]) -> list[Problem]:
    first_by_id: dict[str, AnnotationRecord] = {}
    problems = []
    for record in sorted(records, key=lambda item: (item.docname, item.lineno)):
        first = first_by_id.setdefault(record.id, record)
        if first is not record:
            problems.append(
                Problem(
                    f"annotation id {record.id!r} is also defined in {first.docname} (line {first.lineno}); "
                    "annotation ids must be unique across the book",
                    record.docname,
                    record.lineno,
                    "duplicate",
                )
            )
    return problems


def _reference_problems(env) -> list[Problem]:
    std = env.get_domain("std")
    problems = []
    for record in annotation_records(env):
        if record.target not in std.anonlabels:
            problems.append(
                Problem(
                    f"annotation {record.id!r}: target {record.target!r} is not a label of this book; "
                    "set :target: to a label defined with (label)= before a cell, figure or heading"
                    + _close_labels(record.target, std.anonlabels),
                    record.docname,
                    record.lineno,
                    "target",
                )
            )
        for post in record.answers:
            if post not in std.labels:
                problems.append(
                    Problem(
                        f"annotation {record.id!r}: answers {post!r} is not a section label of this book; "
                        f"section labels of thread posts: {_post_label_choices(env)}",
                        record.docname,
                        record.lineno,
                        "answers",
                    )
                )
    for listing in _listings(env):
        for post in listing.answers:
            if post not in std.labels:
                problems.append(
                    Problem(
                        f"annotation-list: answers {post!r} is not a section label of this book; "
                        f"section labels of thread posts: {_post_label_choices(env)}",
                        listing.docname,
                        listing.lineno,
                        "answers",
                    )
                )
    return problems


def find_problems(env) -> list[Problem]:
    """Return every problem of the book's annotation directives, sorted by page and line."""
    problems = _parse_problems(env) + _duplicate_problems(annotation_records(env)) + _reference_problems(env)
    return sorted(problems, key=lambda problem: (problem.docname, problem.lineno, problem.message))


def check_annotations(app, env) -> None:
    for problem in find_problems(env):
        logger.warning(
            problem.message, location=(problem.docname, problem.lineno), type="annotation", subtype=problem.subtype
        )


def documents_to_rewrite(app, env) -> list[str]:
    """Return the pages that list annotations, plus the pages with a problem.

    Listing pages are rewritten whenever the annotations changed since the last
    build. Pages with a problem are rewritten on every build, which also makes
    Sphinx run the consistency check again, so a rebuild without changes still
    reports the problem instead of finding nothing to do.
    """
    snapshot = sorted(annotation_records(env), key=lambda record: (record.id, record.docname, record.lineno))
    changed = getattr(env, "ccs_annotation_snapshot", None) != snapshot
    env.ccs_annotation_snapshot = snapshot
    documents = {listing.docname for listing in _listings(env)} if changed else set()
    documents.update(problem.docname for problem in find_problems(env))
    return sorted(documents & env.found_docs)


def _document_order(env) -> dict[str, int]:
    """Return each document's position in the table of contents, unlisted documents last."""
    order: dict[str, int] = {}
    pending = [env.config.root_doc]
    while pending:
        docname = pending.pop(0)
        if docname in order:
            continue
        order[docname] = len(order)
        pending[0:0] = env.toctree_includes.get(docname, [])
    for docname in sorted(env.found_docs):
        order.setdefault(docname, len(order))
    return order


def select_annotations(env, answers: str = "", annotation_type: str = "") -> list[AnnotationRecord]:
    """Return the annotations that answer every post in ``answers`` and have ``annotation_type``, in book order."""
    required_posts = set(answers.split())
    order = _document_order(env)
    selected = [
        record
        for record in annotation_records(env)
        if required_posts <= set(record.answers) and (not annotation_type or record.type == annotation_type)
    ]
    return sorted(selected, key=lambda record: (order.get(record.docname, len(order)), record.lineno))


def _label_link(app, fromdocname: str, label: str, text: str | None = None, literal: bool = False) -> nodes.Node:
    """Return a reference to a Sphinx label, or plain text when the label does not resolve."""
    std = app.env.get_domain("std")
    if label in std.labels:
        docname, node_id, section_title = std.labels[label]
    elif label in std.anonlabels:
        docname, node_id = std.anonlabels[label]
        section_title = label
    else:
        return nodes.literal(text=label) if literal else nodes.Text(text or label)
    content = nodes.literal(text=text or label) if literal else nodes.inline(text=text or section_title)
    return make_refnode(app.builder, fromdocname, docname, node_id, content)


def _list_item(app, fromdocname: str, record: AnnotationRecord, show_type: bool) -> nodes.list_item:
    paragraph = nodes.paragraph()
    paragraph += _label_link(app, fromdocname, record.label, record.title)
    if show_type:
        paragraph += nodes.Text(" (")
        paragraph += nodes.inline(text=record.type, classes=["ccs-annotation-type"])
        paragraph += nodes.Text(")")
    paragraph += nodes.Text(", on ")
    paragraph += _label_link(app, fromdocname, record.target, literal=True)
    page_title = app.env.titles.get(record.docname)
    if page_title is not None:
        paragraph += nodes.Text(" in ")
        paragraph += nodes.emphasis(text=page_title.astext())
    paragraph += nodes.Text("; answers ")
    for position, post in enumerate(record.answers):
        if position:
            paragraph += nodes.Text(", ")
        paragraph += _label_link(app, fromdocname, post)
    item = nodes.list_item()
    item += paragraph
    return item


def _bullet_list(app, fromdocname: str, records: list[AnnotationRecord], show_type: bool, empty_text: str) -> nodes.Node:
    if not records:
        return nodes.paragraph(text=empty_text, classes=["ccs-annotation-empty"])
    bullets = nodes.bullet_list(classes=["ccs-annotation-list"])
    for record in records:
        bullets += _list_item(app, fromdocname, record, show_type)
    return bullets


def fill_annotation_lists(app, doctree: nodes.document, fromdocname: str) -> None:
    for placeholder in list(doctree.findall(annotation_list_node)):
        answers, annotation_type = placeholder["answers"], placeholder["type"]
        if placeholder["grouped"] and not annotation_type:
            replacement: list[nodes.Node] = []
            for type_name, (heading, description) in ANNOTATION_TYPES.items():
                replacement.append(nodes.rubric(text=heading))
                replacement.append(nodes.paragraph(text=description))
                records = select_annotations(app.env, answers, type_name)
                replacement.append(_bullet_list(app, fromdocname, records, False, "No annotation of this type yet."))
        else:
            records = select_annotations(app.env, answers, annotation_type)
            replacement = [_bullet_list(app, fromdocname, records, not annotation_type, "No annotation yet.")]
            if placeholder["grouped"]:
                replacement.insert(0, nodes.paragraph(text=ANNOTATION_TYPES[annotation_type][1]))
        placeholder.replace_self(replacement)


def copy_stylesheet(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    copy_asset_file(str(STYLESHEET), str(Path(app.outdir) / "_static"))


def setup(app):
    app.add_node(annotation_list_node)
    passthrough = (visit_passthrough, depart_passthrough)
    skipped = (skip_node, None)
    app.add_node(
        annotation_details,
        html=(visit_details_html, depart_details_html),
        latex=passthrough,
        text=passthrough,
        man=passthrough,
        texinfo=passthrough,
    )
    app.add_node(
        annotation_summary,
        html=(visit_summary_html, depart_summary_html),
        latex=skipped,
        text=skipped,
        man=skipped,
        texinfo=skipped,
    )

    app.add_directive("annotation", AnnotationDirective)
    app.add_directive("annotation-list", AnnotationListDirective)
    app.add_directive("annotation-index", AnnotationIndexDirective)

    app.connect("env-purge-doc", purge_annotations)
    app.connect("env-merge-info", merge_annotations)
    app.connect("env-get-updated", documents_to_rewrite)
    app.connect("env-check-consistency", check_annotations)
    app.connect("doctree-resolved", fill_annotation_lists)
    app.connect("build-finished", copy_stylesheet)

    app.add_css_file(STYLESHEET.name)
    app.add_js_file(None, body=OPEN_FOR_PRINT_SCRIPT)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1", "env_version": 1}
