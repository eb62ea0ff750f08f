"""Check the stored ImageNet group table against WordNet 3.0, when WordNet is installed.

The book reads ``data/imagenet_groups.csv`` and needs no WordNet. Where
Debian's ``wordnet-base`` is installed, :func:`check_group_table` derives the
table again with :mod:`.wordnet_groups` and lists the rows that differ, so a
page can state whether the table it shows still follows from its rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .vocabulary import load_imagenet_classes
from .wordnet_groups import DEFAULT_WORDNET_DIR, derive_imagenet_groups


@dataclass(frozen=True)
class GroupTableCheck:
    """Outcome of deriving the group table again from a WordNet folder."""

    wordnet_dir: Path
    rows_compared: int
    differing_rows: tuple[int, ...]

    @property
    def agrees(self) -> bool:
        return not self.differing_rows


def check_group_table(wordnet_dir: Path = DEFAULT_WORDNET_DIR) -> GroupTableCheck | None:
    """Derive the table from ``wordnet_dir`` and compare it with the stored one; None without ``data.noun``."""
    wordnet_dir = Path(wordnet_dir)
    if not (wordnet_dir / "data.noun").is_file():
        return None
    derived = derive_imagenet_groups(wordnet_dir)
    stored = load_imagenet_classes()
    differing = tuple(
        row.index
        for row, imagenet_class in zip(derived, stored)
        if (row.wnid, row.group, row.basis) != (imagenet_class.wnid, imagenet_class.group, imagenet_class.basis)
    )
    return GroupTableCheck(wordnet_dir, len(derived), differing)
