"""Tests of the profession search that reports the matching synonym."""

from __future__ import annotations

from ccs_transfer.evidence.professions import profession_matches


def _matches(term: str):
    ((found_term, matches),) = profession_matches([term])
    assert found_term == term
    return matches


def test_doctor_is_a_dragonfly():
    (match,) = _matches("doctor")

    assert (match.index, match.name, match.synonym, match.group, match.whole_word) == (319, "dragonfly", "snake doctor", "animals", True)


def test_admiral_is_a_butterfly():
    (match,) = _matches("admiral")

    assert (match.index, match.group) == (321, "animals")


def test_nurse_only_inside_nursery():
    (match,) = _matches("nurse")

    assert match.name == "greenhouse"
    assert match.synonym == "nursery"
    assert not match.whole_word


def test_professions_have_no_class():
    for term in ("scientist", "mathematician", "programmer", "teacher", "professor", "engineer"):
        assert _matches(term) == [], term


def test_person_classes_found():
    assert [(m.index, m.group) for m in _matches("scuba diver")] == [(983, "people")]
    assert [(m.index, m.synonym) for m in _matches("groom")] == [(982, "groom")]
