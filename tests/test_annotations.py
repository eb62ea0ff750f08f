"""Tests of the annotation extension and of the annotations and digest links in the book.

The source checks parse the Markdown pages. The fixture tests build small
Sphinx projects in ``tmp_path`` with MyST and the extension only, so they run
in seconds and execute no notebook.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from ccs_transfer.sphinx_annotations import ANNOTATION_TYPES, ID_PATTERN, split_labels

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
THREAD_PAGE = BOOK / "thread" / "index.md"
POSTS = ("post-opening", "post-douglass", "post-reply")

DIRECTIVE_START = re.compile(r"^(?P<fence>:{3,}|`{3,})\{(?P<name>annotation(?:-list|-index)?)\}\s*(?P<argument>\S*)\s*$")
OPTION_LINE = re.compile(r"^:(?P<name>[a-z-]+):\s*(?P<value>.*)$")
LABEL_LINE = re.compile(r"^\((?P<label>[^()\s]+)\)=\s*$", re.MULTILINE)
NAME_OPTION = re.compile(r"^:name:\s*(?P<label>\S+)\s*$", re.MULTILINE)
REF_ROLE = re.compile(r"\{(?:ref|numref)\}`(?P<body>[^`]+)`")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class ParsedDirective:
    """One annotation directive as written in a page."""

    name: str
    argument: str
    path: Path
    line: int
    options: dict[str, str] = field(default_factory=dict)


def parse_directives(paths: list[Path]) -> list[ParsedDirective]:
    found = []
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            match = DIRECTIVE_START.match(line)
            if not match:
                continue
            directive = ParsedDirective(match["name"], match["argument"], path, number)
            for option_line in lines[number:]:
                option = OPTION_LINE.match(option_line)
                if not option:
                    break
                directive.options[option["name"]] = option["value"].strip()
            found.append(directive)
    return found


def book_pages() -> list[Path]:
    return sorted(BOOK.rglob("*.md"))


def book_annotations() -> list[ParsedDirective]:
    return [directive for directive in parse_directives(book_pages()) if directive.name == "annotation"]


def book_labels() -> set[str]:
    labels = set()
    for path in book_pages():
        text = path.read_text(encoding="utf-8")
        labels.update(match["label"].lower() for match in LABEL_LINE.finditer(text))
        labels.update(match["label"].lower() for match in NAME_OPTION.finditer(text))
    labels.update(f"annotation-{annotation.argument}" for annotation in book_annotations())
    return labels


def referenced_labels(text: str) -> list[str]:
    """Return the labels of the {ref} and {numref} roles in MyST text, with or without a link text."""
    labels = []
    for match in REF_ROLE.finditer(text):
        body = match["body"].strip()
        explicit = re.fullmatch(r".*<(?P<label>[^<>]+)>", body, re.DOTALL)
        labels.append((explicit["label"] if explicit else body).strip().lower())
    return labels


# ---------------------------------------------------------------------------
# The book's annotations, read from the sources


def test_book_has_eight_annotations():
    assert len(book_annotations()) >= 8


def test_annotation_ids_unique():
    ids = [annotation.argument for annotation in book_annotations()]
    duplicates = sorted({annotation_id for annotation_id in ids if ids.count(annotation_id) > 1})
    assert not duplicates, f"annotation ids used more than once: {duplicates}"


def test_annotation_ids_valid():
    invalid = [a.argument for a in book_annotations() if not ID_PATTERN.fullmatch(a.argument)]
    assert not invalid, f"annotation ids that are not lowercase slugs: {invalid}"


def test_annotation_types_valid():
    for annotation in book_annotations():
        assert annotation.options.get("type") in ANNOTATION_TYPES, (
            f"{annotation.path.name}:{annotation.line} annotation {annotation.argument!r} "
            f"has type {annotation.options.get('type')!r}"
        )


def test_every_type_used():
    used = {annotation.options.get("type") for annotation in book_annotations()}
    assert used == set(ANNOTATION_TYPES)


def test_annotation_targets_resolve():
    labels = book_labels()
    for annotation in book_annotations():
        targets = split_labels(annotation.options.get("target", ""))
        assert len(targets) == 1, f"annotation {annotation.argument!r} needs exactly one target"
        assert targets[0] in labels, f"annotation {annotation.argument!r}: target {targets[0]!r} is not a book label"


def test_annotation_answers_are_posts():
    for annotation in book_annotations():
        answers = split_labels(annotation.options.get("answers", ""))
        assert answers, f"annotation {annotation.argument!r} answers no post"
        assert set(answers) <= set(POSTS), f"annotation {annotation.argument!r} answers {answers}"


def test_every_post_answered():
    answered = {post for a in book_annotations() for post in split_labels(a.options.get("answers", ""))}
    assert answered == set(POSTS)


def test_annotations_sit_after_their_cells():
    # Each annotation follows, within its page, the cell or label it names.
    for annotation in book_annotations():
        target = split_labels(annotation.options["target"])[0]
        text = annotation.path.read_text(encoding="utf-8").splitlines()
        label_lines = [number for number, line in enumerate(text, start=1) if line.strip() == f"({target})="]
        assert label_lines, f"annotation {annotation.argument!r} is not on the page of {target!r}"
        assert label_lines[0] < annotation.line


def test_thread_page_posts_have_anchors():
    labels = LABEL_LINE.findall(THREAD_PAGE.read_text(encoding="utf-8"))
    for post in POSTS:
        assert post in labels


def test_digest_references_resolve():
    labels = book_labels()
    pages = [THREAD_PAGE, BOOK / "index.md", BOOK / "annotations.md", BOOK / "glossary.md"]
    referenced = [(page.name, label) for page in pages for label in referenced_labels(page.read_text(encoding="utf-8"))]
    assert len(referenced) >= 20
    unresolved = [(page, label) for page, label in referenced if label not in labels]
    assert not unresolved, f"references to labels that no page defines: {unresolved}"


def test_each_post_links_cells_and_annotations():
    text = THREAD_PAGE.read_text(encoding="utf-8")
    sections = re.split(r"^\((post-[a-z]+)\)=\s*$", text, flags=re.MULTILINE)
    by_post = dict(zip(sections[1::2], sections[2::2]))
    for post in POSTS:
        section = by_post[post]
        labels = referenced_labels(section)
        assert any(label.startswith("cell-") for label in labels), f"{post} links no executed cell"
        assert any(label.startswith("annotation-") for label in labels), f"{post} links no annotation"
        lists = [d for d in parse_directives([THREAD_PAGE]) if d.name == "annotation-list"]
        assert any(d.options.get("answers") == post for d in lists), f"{post} has no annotation-list"


def test_config_registers_extensions():
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    extensions = config["sphinx"]["extra_extensions"]
    assert "ccs_transfer.sphinx_annotations" in extensions
    assert "sphinxcontrib.bibtex" in extensions
    assert config["sphinx"]["config"]["bibtex_bibfiles"] == ["references.bib"]


def test_toc_opens_with_critique():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["parts"][0]["chapters"][0]["file"] == "book/thread/index"
    files = [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    for page in ("book/annotations", "book/glossary", "book/references"):
        assert page in files


# ---------------------------------------------------------------------------
# Fixture projects built with Sphinx

FIXTURE_CONF = """
extensions = ["myst_parser", "ccs_transfer.sphinx_annotations"]
myst_enable_extensions = ["colon_fence"]
root_doc = "index"
exclude_patterns = ["_build"]
"""

FIXTURE_THREAD = """# Thread

(post-opening)=
## Opening post

The post discusses {ref}`the cell <cell-one>`.

:::{annotation-list}
:answers: post-opening
:::

(post-reply)=
## Reply

:::{annotation-list}
:answers: post-reply
:::
"""

FIXTURE_PAGE = """# Page

(cell-one)=
```python
print(1)
```

:::{annotation} first-note
:type: bias
:target: cell-one
:answers: post-opening
:title: The first note
The claim, with a link to {ref}`annotation-second-note`.

The argument, folded.
:::

(cell-two)=
Paragraph two.

:::{annotation} second-note
:type: reuse
:target: cell-two
:answers: post-opening, post-reply
Only a claim.
:::
"""

FIXTURE_INDEX = """# Annotations

(annotations-bias)=
## Bias

:::{annotation-index}
:type: bias
:::

(annotations-all)=
## All

:::{annotation-index}
:::
"""


def write_fixture(root: Path, extra_pages: dict[str, str] | None = None) -> Path:
    pages = {"thread": FIXTURE_THREAD, "page": FIXTURE_PAGE, "annotations": FIXTURE_INDEX, **(extra_pages or {})}
    toctree = "\n".join(pages)
    (root / "conf.py").write_text(FIXTURE_CONF, encoding="utf-8")
    (root / "index.md").write_text(f"# Fixture\n\n```{{toctree}}\n{toctree}\n```\n", encoding="utf-8")
    for name, text in pages.items():
        (root / f"{name}.md").write_text(text, encoding="utf-8")
    return root


def build(root: Path, parallel: int = 0, fresh: bool = False) -> str:
    """Build the fixture into ``root/_build/html`` and return the warnings, without colour codes."""
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace, patch_docutils

    warnings = io.StringIO()
    with patch_docutils(str(root)), docutils_namespace():
        app = Sphinx(
            str(root),
            str(root),
            str(root / "_build" / "html"),
            str(root / "_build" / "doctrees"),
            "html",
            status=io.StringIO(),
            warning=warnings,
            freshenv=fresh,
            parallel=parallel,
        )
        app.build()
    return ANSI_ESCAPE.sub("", warnings.getvalue())


def html(root: Path, page: str) -> str:
    return (root / "_build" / "html" / f"{page}.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_fixture_renders_margin_note(tmp_path):
    warnings = build(write_fixture(tmp_path))
    page = html(tmp_path, "page")

    assert warnings == ""
    note = re.search(r'<aside class="([^"]*)" id="annotation-first-note">(.*?)</aside>', page, re.DOTALL)
    assert note is not None
    assert {"margin", "ccs-annotation", "ccs-annotation-bias"} <= set(note[1].split())
    assert 'href="#cell-one"' in note[2]
    assert 'href="thread.html#post-opening"' in note[2]
    assert 'href="#annotation-first-note"' in note[2]
    assert '<details class="ccs-annotation-more">' in note[2]
    assert "The argument, folded." in note[2]
    assert 'href="#annotation-second-note"' in note[2]
    assert (tmp_path / "_build" / "html" / "_static" / "sphinx_annotations.css").is_file()
    assert "_static/sphinx_annotations.css" in page
    assert 'addEventListener("beforeprint"' in page


@pytest.mark.slow
def test_fixture_lists_annotations_by_post(tmp_path):
    build(write_fixture(tmp_path))
    thread = html(tmp_path, "thread")
    opening, reply = thread.split('id="post-reply"')

    assert "page.html#annotation-first-note" in opening
    assert "page.html#annotation-second-note" in opening
    assert "page.html#annotation-first-note" not in reply
    assert "page.html#annotation-second-note" in reply
    assert "The first note" in opening


@pytest.mark.slow
def test_fixture_index_groups_by_type(tmp_path):
    build(write_fixture(tmp_path))
    index = html(tmp_path, "annotations")
    bias_section, all_section = index.split('id="annotations-all"')

    assert "page.html#annotation-first-note" in bias_section
    assert "page.html#annotation-second-note" not in bias_section
    for heading, _ in ANNOTATION_TYPES.values():
        assert f'<p class="rubric">{heading}</p>' in all_section
    assert 'page.html#cell-two' in all_section


BROKEN_PAGE = """# Broken

(cell-broken)=
Text.

:::{annotation} bad-type
:type: prejudice
:target: cell-broken
:answers: post-opening
X
:::

:::{annotation} no-target
:type: bias
:answers: post-opening
X
:::

:::{annotation} wrong-target
:type: bias
:target: cell-on
:answers: post-openin
X
:::

:::{annotation} first-note
:type: bias
:target: cell-broken
:answers: post-opening
A second use of an id.
:::
"""


@pytest.mark.slow
def test_fixture_unknown_type_warns(tmp_path):
    warnings = build(write_fixture(tmp_path, {"broken": BROKEN_PAGE}))
    assert (
        "annotation 'bad-type' has unknown type 'prejudice'; use one of: bias, reuse, provenance, authorship, possibility"
        in warnings
    )


@pytest.mark.slow
def test_fixture_missing_target_warns(tmp_path):
    warnings = build(write_fixture(tmp_path, {"broken": BROKEN_PAGE}))
    assert "annotation 'no-target' has no :target: option" in warnings


@pytest.mark.slow
def test_fixture_unresolved_target_warns(tmp_path):
    warnings = build(write_fixture(tmp_path, {"broken": BROKEN_PAGE}))
    assert "annotation 'wrong-target': target 'cell-on' is not a label of this book" in warnings
    assert "did you mean cell-one" in warnings


@pytest.mark.slow
def test_fixture_unresolved_post_warns(tmp_path):
    warnings = build(write_fixture(tmp_path, {"broken": BROKEN_PAGE}))
    assert (
        "annotation 'wrong-target': answers 'post-openin' is not a section label of this book; "
        "section labels of thread posts: post-opening, post-reply"
    ) in warnings


@pytest.mark.slow
def test_fixture_duplicate_id_warns(tmp_path):
    warnings = build(write_fixture(tmp_path, {"broken": BROKEN_PAGE}))
    assert "annotation id 'first-note' is also defined in" in warnings


@pytest.mark.slow
def test_fixture_rebuild_reports_problems_again(tmp_path):
    root = write_fixture(tmp_path, {"broken": BROKEN_PAGE})
    build(root)
    warnings = build(root)
    assert "unknown type 'prejudice'" in warnings
    assert "target 'cell-on' is not a label" in warnings


@pytest.mark.slow
def test_fixture_rebuild_updates_lists(tmp_path):
    root = write_fixture(tmp_path)
    build(root)
    (root / "page.md").write_text(FIXTURE_PAGE.replace("The first note", "A renamed note"), encoding="utf-8")
    build(root)

    assert "A renamed note" in html(root, "thread")
    assert "A renamed note" in html(root, "annotations")


@pytest.mark.slow
def test_fixture_removed_annotation_leaves_lists(tmp_path):
    root = write_fixture(tmp_path)
    build(root)
    without_second = FIXTURE_PAGE.split("(cell-two)=")[0]
    (root / "page.md").write_text(without_second, encoding="utf-8")
    build(root)

    assert "annotation-second-note" not in html(root, "thread")
    assert "annotation-second-note" not in html(root, "annotations")


@pytest.mark.slow
def test_fixture_parallel_build_merges(tmp_path):
    extra = {
        f"extra{number}": (
            f"# Extra {number}\n\n(cell-extra{number})=\nText.\n\n"
            f":::{{annotation}} extra-{number}\n:type: provenance\n:target: cell-extra{number}\n"
            f":answers: post-reply\nNote {number}.\n:::\n"
        )
        for number in range(6)
    }
    warnings = build(write_fixture(tmp_path, extra), parallel=2)
    reply = html(tmp_path, "thread").split('id="post-reply"')[1]

    assert warnings == ""
    for number in range(6):
        assert f"extra{number}.html#annotation-extra-{number}" in reply


@pytest.mark.slow
def test_fixture_warning_fails_strict_build(tmp_path):
    root = write_fixture(tmp_path, {"broken": BROKEN_PAGE})
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(root), str(root / "_build" / "strict")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "unknown type 'prejudice'" in result.stderr
