"""Tests of the Markdown table helper."""

from __future__ import annotations

import pytest

from ccs_transfer.evidence.tables import code, markdown_table


def test_markdown_table_layout():
    text = markdown_table(["a", "b"], [(1, "x"), (2, "y")], ["left", "right"])

    assert text.splitlines() == ["| a | b |", "| :--- | ---: |", "| 1 | x |", "| 2 | y |"]


def test_markdown_table_escapes_pipes_and_newlines():
    text = markdown_table(["a"], [("one | two\nthree",)])

    assert text.splitlines()[-1] == "| one \\| two three |"


def test_markdown_table_rejects_bad_rows():
    with pytest.raises(ValueError, match="row 1 has 1 cells"):
        markdown_table(["a", "b"], [(1,)])
    with pytest.raises(ValueError, match="align"):
        markdown_table(["a"], [(1,)], ["middle"])
    with pytest.raises(ValueError, match="at least one column"):
        markdown_table([], [])


def test_code_fences_backticks():
    assert code("roses/a.jpg") == "`roses/a.jpg`"
    assert code("a`b") == "`` a`b ``"
