"""Tests of the colour-blind-safe palette shared by the figures."""

from __future__ import annotations

import re

import pytest

from ccs_transfer.palette import COLORBLIND_SAFE, OKABE_ITO, categorical_colors


def test_palette_is_okabe_ito():
    assert len(COLORBLIND_SAFE) == 8
    assert set(COLORBLIND_SAFE) == set(OKABE_ITO.values())
    assert OKABE_ITO["vermillion"] == "#D55E00"
    assert OKABE_ITO["bluish green"] == "#009E73"


def test_palette_colours_are_hex():
    for colour in COLORBLIND_SAFE:
        assert re.fullmatch(r"#[0-9A-F]{6}", colour), colour


def test_yellow_comes_last():
    assert COLORBLIND_SAFE[-1] == OKABE_ITO["yellow"]


def test_categorical_colors_prefix():
    assert categorical_colors(3) == COLORBLIND_SAFE[:3]
    assert categorical_colors(0) == []


def test_categorical_colors_limits():
    with pytest.raises(ValueError, match="exceeds the 8 colours"):
        categorical_colors(9)
    with pytest.raises(ValueError, match="negative"):
        categorical_colors(-1)
