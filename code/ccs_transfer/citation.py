"""Citations of the edition and of its two sources, generated from ``CITATION.cff``.

``CITATION.cff`` (Citation File Format 1.2.0) is the single place where the
edition's title, authors, version and licences are written down. This module
reads it, validates it against the CFF 1.2.0 JSON schema, and formats the
edition and each entry of its ``references`` as BibTeX, RIS and CSL-JSON. The
"How to cite" page and ``python -m ccs_transfer.citation`` both use it.

The schema file ``data/cff-schema-1.2.0.json`` is the CFF 1.2.0 schema as the
``cffconvert`` 2.0.0 wheel on PyPI ships it (sha256 in ``SCHEMA_SHA256``).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from . import __version__
from .errors import EditionError
from .settings import REPOSITORY_ROOT

CITATION_FILE = REPOSITORY_ROOT / "CITATION.cff"
SCHEMA_FILE = Path(__file__).resolve().parent / "data" / "cff-schema-1.2.0.json"
SCHEMA_SHA256 = "0b8d22140da702d766df318dcff3a91af2f39521298dcf36d76315fd99cc169b"

FORMATS = ("bibtex", "ris", "csl-json", "text")

# CFF reference types mapped to (BibTeX entry type, RIS type, CSL type). A type
# missing here is cited as a generic work: @misc, GEN and "document".
_TYPE_MAP: dict[str, tuple[str, str, str]] = {
    "software": ("misc", "COMP", "software"),
    "software-code": ("misc", "COMP", "software"),
    "website": ("misc", "ELEC", "webpage"),
    "blog": ("misc", "BLOG", "post-weblog"),
    "article": ("article", "JOUR", "article-journal"),
    "book": ("book", "BOOK", "book"),
    "report": ("techreport", "RPRT", "report"),
    "thesis": ("phdthesis", "THES", "thesis"),
    "conference-paper": ("inproceedings", "CPAPER", "paper-conference"),
    "data": ("misc", "DATA", "dataset"),
    "dataset": ("misc", "DATA", "dataset"),
    "manual": ("manual", "GEN", "document"),
}
_GENERIC_TYPES = ("misc", "GEN", "document")

_TITLE_STOPWORDS = {"a", "an", "the", "of", "on", "in", "and", "with", "for", "to"}


class CitationError(EditionError):
    """``CITATION.cff`` is missing, unreadable or not valid CFF 1.2.0."""


@dataclass(frozen=True)
class Person:
    """An author: a person with family and given names, or an entity with one name."""

    family: str | None = None
    given: str | None = None
    entity: str | None = None

    @property
    def display(self) -> str:
        """The name in reading order, "Gregory Bringman" or "TensorFlow"."""
        if self.entity:
            return self.entity
        return " ".join(part for part in (self.given, self.family) if part)

    @property
    def inverted(self) -> str:
        """The name in sorting order, "Bringman, Gregory"; entities stay as they are."""
        if self.entity:
            return self.entity
        if self.given:
            return f"{self.family}, {self.given}"
        return self.family or ""


@dataclass(frozen=True)
class Work:
    """One citable work: the edition itself or one of its references."""

    key: str
    cff_type: str
    title: str
    authors: tuple[Person, ...]
    year: int | None = None
    issued: datetime.date | None = None
    version: str | None = None
    url: str | None = None
    container: str | None = None
    publisher: str | None = None
    note: str | None = None
    abstract: str | None = None
    keywords: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    built: datetime.date | None = None
    accessed: datetime.date | None = None
    medium: str | None = None
    # References print their CFF notes in the reading citation; the edition's
    # note only repeats its version and build date, so it is left out there.
    note_in_text: bool = False

    @property
    def bibtex_type(self) -> str:
        return _TYPE_MAP.get(self.cff_type, _GENERIC_TYPES)[0]

    @property
    def ris_type(self) -> str:
        return _TYPE_MAP.get(self.cff_type, _GENERIC_TYPES)[1]

    @property
    def csl_type(self) -> str:
        return _TYPE_MAP.get(self.cff_type, _GENERIC_TYPES)[2]


# ---------------------------------------------------------------------------
# Reading and validating CITATION.cff


def _json_ready(value: Any) -> Any:
    """Turn YAML dates into ISO strings so that the JSON schema can check them."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def load_schema() -> dict[str, Any]:
    """Read the vendored CFF 1.2.0 JSON schema, checking its hash first."""
    try:
        raw = SCHEMA_FILE.read_bytes()
    except OSError as error:
        raise CitationError(
            f"The CFF schema {SCHEMA_FILE} cannot be read ({error.strerror}).",
            "reinstall the ccs-transfer package so that its data files are present.",
        ) from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SCHEMA_SHA256:
        raise CitationError(
            f"The CFF schema {SCHEMA_FILE} has sha256 {digest}, expected {SCHEMA_SHA256}.",
            "restore the file from the repository; it is the schema shipped in the cffconvert 2.0.0 wheel.",
        )
    return json.loads(raw)


def validation_errors(metadata: Mapping[str, Any]) -> list[str]:
    """Return one message per way ``metadata`` breaks the CFF 1.2.0 schema (empty when valid)."""
    import jsonschema

    schema = load_schema()
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    messages = []
    for error in sorted(validator.iter_errors(_json_ready(dict(metadata))), key=lambda error: list(error.absolute_path)):
        location = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        messages.append(f"{location}: {error.message}")
    return messages


def load_citation_metadata(path: Path | str | None = None, *, validate: bool = True) -> dict[str, Any]:
    """Read ``CITATION.cff`` (by default the repository's) and validate it unless ``validate`` is false."""
    path = Path(path) if path is not None else CITATION_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CitationError(
            f"The citation file {path} was not found.",
            "run the command from the repository root, or pass the path of CITATION.cff.",
        ) from None
    except OSError as error:
        raise CitationError(f"The citation file {path} cannot be read ({error.strerror}).", "check its permissions.") from None
    try:
        metadata = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise CitationError(f"The citation file {path} is not valid YAML{where}.", "fix the YAML syntax there.") from None
    if not isinstance(metadata, dict):
        raise CitationError(f"The citation file {path} does not contain a YAML mapping.", "start it with `cff-version: 1.2.0`.")
    if validate:
        errors = validation_errors(metadata)
        if errors:
            listed = "; ".join(errors[:5]) + ("; ..." if len(errors) > 5 else "")
            raise CitationError(
                f"The citation file {path} is not valid CFF 1.2.0: {listed}",
                "correct those fields; the format is described at https://citation-file-format.github.io/.",
            )
    return metadata


# ---------------------------------------------------------------------------
# From CFF entries to works


def _parse_date(value: Any, what: str) -> datetime.date | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise CitationError(f"{what}={value!r} is not a date.", f"write {what} as YYYY-MM-DD.") from None


def _people(entries: Iterable[Mapping[str, Any]]) -> tuple[Person, ...]:
    people = []
    for entry in entries or ():
        if "name" in entry:
            people.append(Person(entity=str(entry["name"])))
        else:
            family = " ".join(str(entry[part]) for part in ("name-particle", "family-names") if entry.get(part))
            people.append(Person(family=family or None, given=entry.get("given-names")))
    return tuple(people)


def _key_word(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def citation_key(authors: tuple[Person, ...], year: int | None, title: str) -> str:
    """Derive a BibTeX key such as ``bringman2020codecritique`` from author, year and title."""
    first = authors[0] if authors else Person(entity="anonymous")
    if first.entity:
        words = [word for word in first.entity.split() if word.lower() not in _TITLE_STOPWORDS]
        author_part = _key_word(words[0] if words else first.entity)
    else:
        author_part = _key_word(first.family or "anonymous")
    title_words = [_key_word(word) for word in re.split(r"\W+", title) if word and word.lower() not in _TITLE_STOPWORDS]
    title_part = "".join(word for word in title_words[:2] if word)
    return f"{author_part}{year or ''}{title_part}"


def edition_work(metadata: Mapping[str, Any], build_date: datetime.date | str | None = None) -> Work:
    """Describe the edition itself from the top level of ``CITATION.cff``.

    ``build_date`` is the date the cited copy was built. It goes into a note
    because two builds of one version may differ in their executed outputs.
    """
    released = _parse_date(metadata.get("date-released"), "date-released")
    built = _parse_date(build_date, "build date") if build_date is not None else None
    licenses = metadata.get("license") or ()
    if isinstance(licenses, str):
        licenses = (licenses,)
    version = str(metadata["version"]) if metadata.get("version") is not None else None
    title = str(metadata["title"])
    note_parts = []
    if version:
        note_parts.append(f"Version {version}")
    if built:
        note_parts.append(f"built {built.isoformat()}")
    authors = _people(metadata.get("authors", ()))
    year = released.year if released else None
    return Work(
        key=f"{citation_key(authors, year, title)}-v{version}" if version else citation_key(authors, year, title),
        cff_type=str(metadata.get("type", "software")),
        title=title,
        authors=authors,
        year=year,
        issued=released,
        version=version,
        url=metadata.get("url") or metadata.get("repository-code"),
        note=", ".join(note_parts) if note_parts else None,
        abstract=" ".join(str(metadata["abstract"]).split()) if metadata.get("abstract") else None,
        keywords=tuple(str(keyword) for keyword in metadata.get("keywords", ())),
        licenses=tuple(str(item) for item in licenses),
        built=built,
        medium="Executable edition (Jupyter Book)",
    )


def reference_works(metadata: Mapping[str, Any]) -> list[Work]:
    """Describe each entry of ``references`` in ``CITATION.cff``, in file order."""
    works = []
    for index, reference in enumerate(metadata.get("references", ()) or ()):
        title = str(reference["title"])
        authors = _people(reference.get("authors", ()))
        issued = _parse_date(reference.get("date-published"), f"references[{index}].date-published")
        accessed = _parse_date(reference.get("date-accessed"), f"references[{index}].date-accessed")
        year = reference.get("year") or (issued.year if issued else None)
        publisher = reference.get("publisher", {}).get("name") if isinstance(reference.get("publisher"), dict) else None
        works.append(
            Work(
                key=citation_key(authors, year, title),
                cff_type=str(reference.get("type", "generic")),
                title=title,
                authors=authors,
                year=int(year) if year else None,
                issued=issued,
                version=str(reference["version"]) if reference.get("version") is not None else None,
                url=reference.get("url"),
                accessed=accessed,
                container=reference.get("collection-title"),
                publisher=publisher,
                note=" ".join(str(reference["notes"]).split()) if reference.get("notes") else None,
                note_in_text=True,
            )
        )
    return works


# ---------------------------------------------------------------------------
# Formats

_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _bibtex_escape(text: str) -> str:
    return "".join(_BIBTEX_SPECIAL.get(character, character) for character in text)


def _bibtex_url(url: str) -> str:
    # The url package prints a URL verbatim, but braces would end the field early.
    if "{" in url or "}" in url:
        raise CitationError(f"The URL {url!r} contains a brace.", "percent-encode the brace as %7B or %7D in CITATION.cff.")
    return url


def _bibtex_name(person: Person) -> str:
    # Double braces keep an entity's name in one piece, so BibTeX styles do
    # not abbreviate "TensorFlow" to "T.".
    if person.entity:
        return "{" + _bibtex_escape(person.entity) + "}"
    return _bibtex_escape(person.inverted)


def to_bibtex(work: Work) -> str:
    """Format ``work`` as one BibTeX entry (fields readable by BibTeX and biblatex)."""
    fields: list[tuple[str, str]] = []
    if work.authors:
        fields.append(("author", " and ".join(_bibtex_name(person) for person in work.authors)))
    fields.append(("title", "{" + _bibtex_escape(work.title) + "}"))
    if work.container:
        fields.append(("howpublished", _bibtex_escape(work.container)))
    elif work.medium:
        fields.append(("howpublished", _bibtex_escape(work.medium)))
    if work.publisher:
        fields.append(("publisher", _bibtex_escape(work.publisher)))
    if work.year:
        fields.append(("year", str(work.year)))
    if work.issued:
        fields.append(("date", work.issued.isoformat()))
    if work.version:
        fields.append(("version", _bibtex_escape(work.version)))
    if work.url:
        fields.append(("url", _bibtex_url(work.url)))
    if work.accessed:
        fields.append(("urldate", work.accessed.isoformat()))
    if work.note:
        fields.append(("note", _bibtex_escape(work.note)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{work.bibtex_type}{{{work.key},\n{body}\n}}\n"


def _ris_line(tag: str, value: str) -> str:
    return f"{tag}  - {' '.join(value.split())}"


def to_ris(work: Work) -> str:
    """Format ``work`` as one RIS record, ending with ``ER  -``."""
    lines = [_ris_line("TY", work.ris_type)]
    for person in work.authors:
        lines.append(_ris_line("AU", person.inverted))
    lines.append(_ris_line("TI", work.title))

    if work.container:
        lines.append(_ris_line("T2", work.container))
    if work.publisher:
        lines.append(_ris_line("PB", work.publisher))
    if work.year:
        lines.append(_ris_line("PY", str(work.year)))
    if work.issued:
        lines.append(_ris_line("DA", work.issued.strftime("%Y/%m/%d")))
    if work.version:
        # RIS has no version tag. Zotero's RIS translator (RIS.js in
        # zotero/translators) reads ET, the edition, as a program's version.
        lines.append(_ris_line("ET", work.version))
    if work.medium:
        lines.append(_ris_line("M3", work.medium))

    if work.url:
        lines.append(_ris_line("UR", work.url))
    if work.accessed:
        lines.append(_ris_line("Y2", work.accessed.strftime("%Y/%m/%d")))
    if work.abstract:
        lines.append(_ris_line("AB", work.abstract))
    for keyword in work.keywords:
        lines.append(_ris_line("KW", keyword))
    if work.note:
        lines.append(_ris_line("N1", work.note))
    lines.append("ER  - ")
    return "\n".join(lines) + "\n"


def _csl_date(date: datetime.date | None, year: int | None) -> dict[str, Any] | None:
    if date:
        return {"date-parts": [[date.year, date.month, date.day]]}
    if year:
        return {"date-parts": [[year]]}
    return None


def to_csl_item(work: Work) -> dict[str, Any]:
    """Describe ``work`` as one CSL-JSON item (a dict ready for ``json.dumps``)."""
    item: dict[str, Any] = {"id": work.key, "type": work.csl_type, "title": work.title}
    authors = []
    for person in work.authors:
        if person.entity:
            authors.append({"literal": person.entity})
        else:
            authors.append({key: value for key, value in (("family", person.family), ("given", person.given)) if value})
    if authors:
        item["author"] = authors
    issued = _csl_date(work.issued, work.year)
    if issued:
        item["issued"] = issued
    if work.accessed:
        item["accessed"] = _csl_date(work.accessed, None)
    optional = {
        "version": work.version,
        "URL": work.url,
        "container-title": work.container,
        "publisher": work.publisher,
        "medium": work.medium,
        "abstract": work.abstract,
        "note": work.note,
    }
    item.update({key: value for key, value in optional.items() if value})
    if work.keywords:
        item["keyword"] = ", ".join(work.keywords)
    return item


def to_csl_json(works: Work | Iterable[Work]) -> str:
    """Format one or more works as a CSL-JSON array."""
    if isinstance(works, Work):
        works = [works]
    return json.dumps([to_csl_item(work) for work in works], indent=2, ensure_ascii=False) + "\n"


def citation_segments(work: Work) -> list[tuple[str, str]]:
    """Split a reading-style citation of ``work`` into (style, text) segments.

    Styles are ``text``, ``title`` (italic for the edition and other whole
    works, quoted for parts of a collection), ``code`` and ``url``. The Sphinx
    extension turns the segments into nodes; :func:`to_text` joins them.
    """
    segments: list[tuple[str, str]] = []
    names = [person.inverted if index == 0 else person.display for index, person in enumerate(work.authors)]
    if len(names) > 1:
        segments.append(("text", ", ".join(names[:-1]) + " and " + names[-1] + ". "))
    elif names:
        segments.append(("text", names[0].rstrip(".") + ". "))
    segments.append(("text", f"{work.year}. " if work.year else "n.d. "))
    if work.container:
        segments.append(("text", "“"))
        segments.append(("title-quoted", work.title.rstrip(".")))
        segments.append(("text", ".” "))
        segments.append(("text", f"{work.container}. "))
    else:
        segments.append(("title", work.title.rstrip(".")))
        segments.append(("text", ". "))
    if work.version:
        built = f", built {work.built.isoformat()}" if work.built else ""
        segments.append(("text", f"Version {work.version}{built}. "))
    if work.medium:
        segments.append(("text", f"{work.medium}. "))
    if work.note and work.note_in_text:
        segments.append(("text", work.note.rstrip(".") + ". "))
    if work.url:
        segments.append(("url", work.url))
        segments.append(("text", "."))
    if work.accessed:
        segments.append(("text", f" Accessed {work.accessed.isoformat()}."))
    return segments


def to_text(work: Work) -> str:
    """Format ``work`` as a plain-text citation in author-date style."""
    text = ""
    for style, value in citation_segments(work):
        text += f"<{value}>" if style == "url" else value
    return text.strip()


def format_work(work: Work | list[Work], citation_format: str) -> str:
    """Format works in one of :data:`FORMATS`."""
    works = [work] if isinstance(work, Work) else list(work)
    if citation_format == "bibtex":
        return "\n".join(to_bibtex(item) for item in works)
    if citation_format == "ris":
        return "\n".join(to_ris(item) for item in works)
    if citation_format == "csl-json":
        return to_csl_json(works)
    if citation_format == "text":
        return "\n\n".join(to_text(item) for item in works) + "\n"
    raise CitationError(f"Unknown citation format {citation_format!r}.", f"use one of: {', '.join(FORMATS)}.")


def default_build_date() -> datetime.date:
    """Return the build date the provenance records use (``EDITION_BUILD_DATE`` or today, UTC)."""
    from .provenance import BUILD_DATE_VARIABLE, build_date

    return _parse_date(build_date(), BUILD_DATE_VARIABLE)


def check_version_agreement(metadata: Mapping[str, Any]) -> None:
    """Raise :class:`CitationError` unless ``CITATION.cff`` and the package give the same version."""
    cited = str(metadata.get("version"))
    if cited != __version__:
        raise CitationError(
            f"CITATION.cff gives version {cited} but the ccs_transfer package is version {__version__}.",
            "set the same version in CITATION.cff, pyproject.toml, code/ccs_transfer/__init__.py and CHANGELOG.md.",
        )


# ---------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ccs_transfer.citation",
        description="Print citations of the edition and its sources, generated from CITATION.cff.",
    )
    parser.add_argument("--format", choices=FORMATS, default="bibtex", help="citation format (default: bibtex)")
    parser.add_argument(
        "--work",
        choices=("edition", "sources", "all"),
        default="all",
        help="cite the edition, its sources (the thread and the tutorial), or all (default: all)",
    )
    parser.add_argument("--file", type=Path, default=CITATION_FILE, help="path of CITATION.cff (default: the repository's)")
    parser.add_argument(
        "--build-date",
        help="date the cited copy was built, YYYY-MM-DD (default: EDITION_BUILD_DATE, else today in UTC)",
    )
    arguments = parser.parse_args(argv)
    try:
        metadata = load_citation_metadata(arguments.file)
        build = _parse_date(arguments.build_date, "--build-date") if arguments.build_date else default_build_date()
        works: list[Work] = []
        if arguments.work in ("edition", "all"):
            works.append(edition_work(metadata, build))
        if arguments.work in ("sources", "all"):
            works.extend(reference_works(metadata))
        sys.stdout.write(format_work(works, arguments.format))
    except EditionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
