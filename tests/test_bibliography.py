"""Every citation of the book and of the model registry resolves in references.bib."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from pybtex.database import parse_file

REPO = Path(__file__).resolve().parents[1]
BIBFILE = REPO / "references.bib"
REGISTRY = REPO / "code" / "ccs_transfer" / "models.yml"

# {cite}`a,b`, {cite:p}`a`, {cite:t}`a`, {footcite}`a` and the other sphinxcontrib-bibtex roles.
CITE_ROLE = re.compile(r"\{(?:foot)?cite(?::[a-z]+)*\}`(?P<keys>[^`]+)`")
DOI = re.compile(r"10\.\d{4,9}/\S+")

REQUIRED_KEYS = {
    "bringman2020ccswg",
    "tensorflow2018transferhub",
    "caruana1997multitask",
    "yosinski2014transferable",
    "sandler2018mobilenetv2",
    "tan2019efficientnet",
    "szegedy2016inception",
    "deng2009imagenet",
    "russakovsky2015imagenet",
    "miller1995wordnet",
    "crawford2019excavating",
    "buolamwini2018gendershades",
    "mitchell2019modelcards",
    "gebru2021datasheets",
    "yang2020fairer",
    "birhane2021pyrrhic",
    "marino2020ccs",
    "montfort2012tenprint",
    "horkheimer2002dialectic",
}


@pytest.fixture(scope="module")
def bibliography():
    return parse_file(str(BIBFILE), bib_format="bibtex")


def cited_keys() -> list[tuple[str, str]]:
    cited = []
    for page in sorted((REPO / "book").rglob("*.md")):
        for match in CITE_ROLE.finditer(page.read_text(encoding="utf-8")):
            cited.extend((page.name, key.strip()) for key in match["keys"].split(","))
    return cited


def test_keys_unique():
    keys = re.findall(r"^@\w+\{([^,\s]+),", BIBFILE.read_text(encoding="utf-8"), re.MULTILINE)
    duplicates = [key for key, count in Counter(keys).items() if count > 1]
    assert not duplicates


def test_required_keys_present(bibliography):
    assert REQUIRED_KEYS <= set(bibliography.entries)


def test_book_citations_resolve(bibliography):
    cited = cited_keys()
    assert len(cited) >= 20
    missing = [(page, key) for page, key in cited if key not in bibliography.entries]
    assert not missing, f"citations with no entry in references.bib: {missing}"


def test_registry_keys_resolve(bibliography):
    models = yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))["models"]
    assert models
    for model in models:
        assert model["citation_key"] in bibliography.entries, model["id"]


def test_entries_have_identifier(bibliography):
    for key, entry in bibliography.entries.items():
        fields = entry.fields
        assert any(name in fields for name in ("doi", "url", "isbn")), f"{key} has no DOI, URL or ISBN"
        if "doi" in fields:
            assert DOI.fullmatch(fields["doi"]), f"{key}: malformed DOI {fields['doi']!r}"


def test_entries_have_authors_and_year(bibliography):
    for key, entry in bibliography.entries.items():
        assert entry.persons.get("author"), key
        assert re.fullmatch(r"\d{4}", entry.fields["year"]), key


def test_references_page_prints_bibliography():
    assert "```{bibliography}" in (REPO / "book" / "references.md").read_text(encoding="utf-8")
