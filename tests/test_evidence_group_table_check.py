"""Tests of the check of the stored group table against WordNet."""

from __future__ import annotations

import pytest

from ccs_transfer.evidence.group_table_check import check_group_table
from ccs_transfer.evidence.wordnet_groups import DEFAULT_WORDNET_DIR


def test_missing_wordnet_gives_none(tmp_path):
    assert check_group_table(tmp_path) is None


@pytest.mark.skipif(not (DEFAULT_WORDNET_DIR / "data.noun").is_file(), reason="WordNet 3.0 (Debian wordnet-base) not installed")
def test_stored_table_follows_from_wordnet():
    check = check_group_table()

    assert check.rows_compared == 1000
    assert check.differing_rows == ()
    assert check.agrees
