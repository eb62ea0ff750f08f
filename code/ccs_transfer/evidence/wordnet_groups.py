"""Derive the ImageNet-1k group table from the WordNet 3.0 noun hierarchy.

This module regenerates ``ccs_transfer/data/imagenet_groups.csv``; the book
only reads that table (see :mod:`.vocabulary`), so WordNet is needed only to
check or rebuild it. It reads WordNet's own ``data.noun`` file, as installed
by Debian's ``wordnet-base`` package (version 1:3.0-37) in
``/usr/share/wordnet``. An ImageNet id such as ``n01440764`` is the noun
synset at byte offset 01440764 of that file.

Rule: a class belongs to the first group of :data:`GROUP_ROOTS` that has a
root synset among the class synset's hypernyms (the synset itself and
instance hypernyms included). :data:`MANUAL_GROUPS` then overrides single
classes, each with its reason, and a class with no root is ``other``.

Run ``python -m ccs_transfer.evidence.wordnet_groups [WORDNET_DIR]`` to
rewrite the table.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataDirectoryError, LabelVocabularyError
from .vocabulary import GROUPS, GROUPS_TABLE, load_imagenet_vocabulary

DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")

# (group, [(offset, lemma), ...]) in precedence order. The lemma is only a
# label for the table: the offset identifies the synset in WordNet 3.0.
GROUP_ROOTS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("people", (("00007846", "person"),)),
    (
        "garments",
        (
            ("03051540", "clothing"),
            ("03597469", "jewelry"),
            ("03380867", "footwear"),
            ("02862048", "body_armor"),
            ("03513137", "helmet (protective headgear)"),
            ("03513376", "helmet (armor plate)"),
            ("03725035", "mask (protective, worn over the face)"),
        ),
    ),
    ("animals", (("00015388", "animal"),)),
    # Food comes before plants, so edible fruit such as "Granny Smith" is
    # food, while acorns and rose hips (botanical fruit only) are plants.
    ("food", (("00021265", "food (nutrient)"), ("07555863", "food (solid food)"))),
    ("plants", (("00017222", "plant (flora)"), ("12992868", "fungus"), ("13134947", "fruit (botanical)"))),
    ("natural", (("09287968", "geological_formation"),)),
    ("artefacts", (("00021939", "artifact"),)),
)

# ImageNet-1k index -> (group, reason). Worn items that WordNet places under
# other artefacts. Index 836 "sunglass" stays an artefact on purpose: its
# WordNet gloss is a convex lens for starting fires, not eyewear.
MANUAL_GROUPS: dict[int, tuple[str, str]] = {
    443: ("garments", "bib: worn on the body (WordNet: piece_of_cloth)"),
    461: ("garments", "breastplate: worn body armour (WordNet: armor_plate)"),
    501: ("garments", "cloak: worn over the body (WordNet: covering)"),
    531: ("garments", "digital watch: worn on the wrist (WordNet: timepiece)"),
    584: ("garments", "hair slide: worn in the hair (WordNet: fastener)"),
    837: ("garments", "sunglasses: worn on the face (WordNet: optical_instrument)"),
}


@dataclass(frozen=True)
class NounSynset:
    """One noun synset of WordNet 3.0: its lemmas and direct hypernym offsets."""

    offset: str
    lemmas: tuple[str, ...]
    hypernyms: tuple[str, ...]


@dataclass(frozen=True)
class GroupRow:
    """One row of the group table."""

    index: int
    wnid: str
    name: str
    group: str
    basis: str


def read_noun_synsets(wordnet_dir: Path = DEFAULT_WORDNET_DIR) -> dict[str, NounSynset]:
    """Parse ``data.noun`` of a WordNet 3.0 database folder into {offset: synset}."""
    data_file = Path(wordnet_dir) / "data.noun"
    try:
        lines = data_file.read_text(encoding="latin-1").splitlines()
    except OSError as error:
        raise DataDirectoryError(
            f"Cannot read the WordNet noun file {data_file}: {error.strerror}.",
            "install Debian's `wordnet-base` package or pass the folder that holds data.noun.",
        ) from None
    synsets: dict[str, NounSynset] = {}
    for line in lines:
        # The licence header lines start with two spaces.
        if not line or line.startswith("  "):
            continue
        fields = line.partition(" | ")[0].split()
        # Fields: offset lex_filenum ss_type w_cnt (hex) [word lex_id]... p_cnt [symbol offset pos source/target]...
        word_count = int(fields[3], 16)
        lemmas = tuple(fields[4 + 2 * position] for position in range(word_count))
        pointer_at = 4 + 2 * word_count
        pointer_count = int(fields[pointer_at])
        hypernyms = []
        for position in range(pointer_count):
            symbol, target, part_of_speech, _ = fields[pointer_at + 1 + 4 * position : pointer_at + 5 + 4 * position]
            if symbol in ("@", "@i") and part_of_speech == "n":
                hypernyms.append(target)
        synsets[fields[0]] = NounSynset(fields[0], lemmas, tuple(hypernyms))
    return synsets


def hypernym_closure(synsets: dict[str, NounSynset], offset: str) -> list[str]:
    """Return the offset and all its transitive hypernyms, in depth-first order."""
    closure: list[str] = []
    pending = [offset]
    while pending:
        current = pending.pop()
        if current in closure:
            continue
        closure.append(current)
        pending.extend(reversed(synsets[current].hypernyms))
    return closure


# Limitation: a class is grouped by the one WordNet sense ImageNet chose for it, such as 968 "cup" as the drink punch.
def derive_imagenet_groups(wordnet_dir: Path = DEFAULT_WORDNET_DIR) -> list[GroupRow]:
    """Apply the root rule and the manual overrides to the 1000 ImageNet-1k classes."""
    synsets = read_noun_synsets(wordnet_dir)
    rows = []
    for index, (wnid, synonyms) in enumerate(load_imagenet_vocabulary()):
        offset = wnid.removeprefix("n")
        if offset not in synsets:
            raise LabelVocabularyError(
                f"Class {index} has the WordNet id {wnid}, which is not a noun synset in {wordnet_dir}.",
                "use the WordNet 3.0 database; other versions number their synsets differently.",
            )
        ancestors = set(hypernym_closure(synsets, offset))
        group, basis = "other", "wordnet: no root synset among the hypernyms"
        for candidate, roots in GROUP_ROOTS:
            matching = [f"n{root} {lemma}" for root, lemma in roots if root in ancestors]
            if matching:
                group, basis = candidate, f"wordnet: {matching[0]}"
                break
        if index in MANUAL_GROUPS:
            wordnet_group = group
            group, reason = MANUAL_GROUPS[index]
            basis = f"manual: {reason}; the WordNet rule gives {wordnet_group}"
        rows.append(GroupRow(index, wnid, synonyms[0], group, basis))
    return rows


def format_groups_csv(rows: list[GroupRow]) -> str:
    """Render rows as the CSV text of the group table."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("index", "wnid", "name", "group", "basis"))
    for row in rows:
        if row.group not in GROUPS:
            raise ValueError(f"Row {row.index} has the unknown group {row.group!r}.")
        writer.writerow((row.index, row.wnid, row.name, row.group, row.basis))
    return buffer.getvalue()


def main(arguments: list[str] | None = None) -> int:
    """Rewrite ``data/imagenet_groups.csv`` from the WordNet folder given (default /usr/share/wordnet)."""
    arguments = sys.argv[1:] if arguments is None else arguments
    wordnet_dir = Path(arguments[0]) if arguments else DEFAULT_WORDNET_DIR
    table = Path(__file__).resolve().parents[1] / "data" / GROUPS_TABLE
    table.write_text(format_groups_csv(derive_imagenet_groups(wordnet_dir)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
