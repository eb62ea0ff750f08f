"""Tests of the ImageNet-1k vocabulary audit and its WordNet-derived group table."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from ccs_transfer.evidence.vocabulary import (
    GROUPS,
    PROFESSION_TERMS,
    audit_vocabulary,
    compare_term_hits,
    load_imagenet_classes,
    search_vocabulary,
)
from ccs_transfer.evidence.wordnet_groups import DEFAULT_WORDNET_DIR, derive_imagenet_groups, format_groups_csv


def _indices(group: str) -> list[int]:
    return [imagenet_class.index for imagenet_class in audit_vocabulary().classes[group]]


def test_audit_total_is_1000():
    audit = audit_vocabulary()

    assert audit.total == 1000
    assert sum(audit.counts.values()) == 1000
    assert list(audit.counts) == list(GROUPS)


def test_audit_group_counts():
    # Hand-checked against the class names in the standard ImageNet-1k order.
    assert audit_vocabulary().counts == {
        "people": 3,
        "garments": 66,
        "animals": 398,
        "food": 48,
        "plants": 15,
        "natural": 10,
        "artefacts": 456,
        "other": 4,
    }


def test_audit_index_ranges():
    assert _indices("animals") == list(range(0, 398))
    assert _indices("people") == [981, 982, 983]
    assert _indices("food") == list(range(922, 970))
    assert _indices("plants") == list(range(984, 999))
    assert _indices("natural") == [970] + list(range(972, 981))
    assert _indices("other") == [919, 920, 971, 999]
    assert set(_indices("garments")) | set(_indices("artefacts")) == set(range(398, 919)) | {921}


def test_audit_manual_decisions_visible():
    manual = [c.index for c in load_imagenet_classes() if c.basis.startswith("manual:")]

    assert manual == [443, 461, 501, 531, 584, 837]
    assert audit_vocabulary().manual_count == 6


@pytest.mark.parametrize(
    ("index", "name", "group"),
    [
        (400, "academic gown", "garments"),
        (652, "military uniform", "garments"),
        (667, "mortarboard", "garments"),
        (770, "running shoe", "garments"),
        (836, "sunglass", "artefacts"),
        (837, "sunglasses", "garments"),
        (724, "pirate", "artefacts"),
        (982, "groom", "people"),
        (948, "Granny Smith", "food"),
        (988, "acorn", "plants"),
        (947, "mushroom", "food"),
        (992, "agaric", "plants"),
    ],
)
def test_class_names_and_groups(index, name, group):
    imagenet_class = load_imagenet_classes()[index]

    assert imagenet_class.name == name
    assert imagenet_class.group == group


def test_search_uniform_only_military():
    assert search_vocabulary(["uniform"]) == {"uniform": [(652, "military uniform")]}
    assert search_vocabulary(["uniform"], mode="substring") == {"uniform": [(652, "military uniform")]}


def test_search_no_profession_classes():
    terms = ["scientist", "computer scientist", "programmer", "mathematician", "engineer", "teacher"]

    for term, hits in search_vocabulary(terms, mode="substring").items():
        assert hits == [], term


def test_search_person_classes():
    found = search_vocabulary(["scuba diver", "groom", "ballplayer"])

    assert found["scuba diver"] == [(983, "scuba diver")]
    assert found["groom"] == [(982, "groom")]
    assert found["ballplayer"] == [(981, "ballplayer")]


def test_search_computer_finds_machines():
    found = search_vocabulary(["computer"])["computer"]

    assert found == [
        (508, "computer keyboard"),
        (527, "desktop computer"),
        (590, "hand-held computer"),
        (620, "laptop"),
        (673, "mouse"),
        (681, "notebook"),
    ]


def test_search_false_friends():
    found = search_vocabulary(["doctor", "admiral", "player"])

    # "snake doctor" is a synonym of dragonfly, and the red admiral is a butterfly.
    assert found["doctor"] == [(319, "dragonfly")]
    assert found["admiral"] == [(321, "admiral")]
    assert [index for index, _ in found["player"]] == [482, 485, 848, 981]


def test_search_word_versus_substring():
    hits = {entry.term: entry for entry in compare_term_hits(["nurse", "groom", "man"])}

    assert hits["nurse"].whole_word == []
    assert hits["nurse"].substring_only == [(580, "greenhouse")]
    assert hits["groom"].substring_only == []
    # "man-eater" (great white shark) counts as a whole word, because a hyphen separates words.
    assert hits["man"].whole_word == [(2, "great white shark")]
    assert (640, "manhole cover") in hits["man"].substring_only


def test_compare_term_hits_default_terms():
    assert [entry.term for entry in compare_term_hits()] == list(PROFESSION_TERMS)


def test_search_rejects_empty_term():
    with pytest.raises(ValueError):
        search_vocabulary(["  "])


@pytest.mark.skipif(not (DEFAULT_WORDNET_DIR / "data.noun").exists(), reason="WordNet 3.0 (Debian wordnet-base) not installed")
def test_group_table_matches_wordnet():
    table = resources.files("ccs_transfer").joinpath("data", "imagenet_groups.csv").read_text(encoding="utf-8")

    assert format_groups_csv(derive_imagenet_groups(DEFAULT_WORDNET_DIR)) == table


def test_derive_groups_missing_wordnet(tmp_path: Path):
    from ccs_transfer.errors import DataDirectoryError

    with pytest.raises(DataDirectoryError, match="data.noun"):
        derive_imagenet_groups(tmp_path)
