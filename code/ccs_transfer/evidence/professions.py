"""Search the ImageNet-1k class names for professions and roles, showing which synonym matched.

:func:`.vocabulary.search_vocabulary` reports each hit by the class's first
synonym, so "doctor" shows up as "dragonfly". :func:`profession_matches`
also returns the synonym that contains the term ("snake doctor") and the
class's group, which is what a reader needs to tell a profession from a
false friend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

from .vocabulary import PROFESSION_TERMS, _term_pattern, load_imagenet_classes


@dataclass(frozen=True)
class TermMatch:
    """One class whose synonyms contain a search term."""

    term: str
    index: int
    name: str
    synonym: str
    group: str
    whole_word: bool


def profession_matches(terms: Iterable[str] = PROFESSION_TERMS) -> list[tuple[str, list[TermMatch]]]:
    """Return (term, matches) per term; a class matched only inside a longer word has ``whole_word=False``.

    Each class is listed once per term, with the first synonym that matches
    as a whole word, or else the first that contains the term.
    """
    classes = load_imagenet_classes()
    results = []
    for term in terms:
        patterns: dict[Literal["word", "substring"], object] = {
            "word": _term_pattern(term, "word"),
            "substring": _term_pattern(term, "substring"),
        }
        matches = []
        for imagenet_class in classes:
            by_word = [synonym for synonym in imagenet_class.synonyms if patterns["word"].search(synonym)]
            by_substring = [synonym for synonym in imagenet_class.synonyms if patterns["substring"].search(synonym)]
            if by_word or by_substring:
                synonym = (by_word or by_substring)[0]
                matches.append(
                    TermMatch(term, imagenet_class.index, imagenet_class.name, synonym, imagenet_class.group, bool(by_word))
                )
        results.append((term, matches))
    return results
