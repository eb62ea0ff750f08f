"""Relate the findings of a collection audit to the training/validation split and to the head.

A duplicate pair with one file on each side of the split means the head is
validated on a photo it was trained on. A photo filed under two classes
gets one feature vector (the cache is keyed by content), so the head
predicts the same class for both copies and at most one of the two labels
can be counted as correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..datasets import Photo
from .label_audit import CollectionAudit, DuplicateGroup

TRAINING = "training"
VALIDATION = "validation"
OUTSIDE_SPLIT = "outside the split"


def split_by_path(train_photos: Sequence[Photo], validation_photos: Sequence[Photo]) -> dict[str, str]:
    """Map each photo's relative path to ``"training"`` or ``"validation"``."""
    split = {photo.relative_path: TRAINING for photo in train_photos}
    split.update({photo.relative_path: VALIDATION for photo in validation_photos})
    return split


@dataclass(frozen=True)
class RelatedPair:
    """Two files of the audit, exact or near duplicates, and where each sits in the split."""

    kind: str
    path_a: str
    path_b: str
    distance: int
    split_a: str
    split_b: str

    @property
    def crosses_split(self) -> bool:
        return {self.split_a, self.split_b} == {TRAINING, VALIDATION}


def related_pairs(audit: CollectionAudit, split: Mapping[str, str]) -> list[RelatedPair]:
    """List every exact-duplicate pair (distance 0) and near-duplicate pair with its split membership."""
    pairs = []
    for group in audit.exact_duplicates:
        for position, path_a in enumerate(group.paths):
            for path_b in group.paths[position + 1 :]:
                pairs.append(
                    RelatedPair("exact", path_a, path_b, 0, split.get(path_a, OUTSIDE_SPLIT), split.get(path_b, OUTSIDE_SPLIT))
                )
    for near in audit.near_duplicates:
        pairs.append(
            RelatedPair(
                "near", near.path_a, near.path_b, near.distance,
                split.get(near.path_a, OUTSIDE_SPLIT), split.get(near.path_b, OUTSIDE_SPLIT),
            )
        )
    return pairs


@dataclass(frozen=True)
class FiledCopy:
    """One file of a photo filed under several classes, with the head's prediction for it."""

    path: str
    filed_under: str
    split: str
    predicted: str
    probability: float

    @property
    def head_agrees(self) -> bool:
        return self.predicted == self.filed_under


def head_predictions_for_groups(
    groups: Sequence[DuplicateGroup],
    photos: Sequence[Photo],
    probabilities: np.ndarray,
    class_names: Sequence[str],
    split: Mapping[str, str],
) -> list[tuple[FiledCopy, ...]]:
    """Return, for each group, every file with its folder, split and the head's prediction.

    ``probabilities`` [len(photos), classes] are the head's outputs for
    ``photos``; each group path must be one of those photos.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (len(photos), len(class_names)):
        raise ValueError(f"probabilities must have shape [{len(photos)}, {len(class_names)}], got {probabilities.shape}.")
    row_of = {photo.relative_path: row for row, photo in enumerate(photos)}
    answers = []
    for group in groups:
        copies = []
        for path in group.paths:
            if path not in row_of:
                raise ValueError(f"{path} of a duplicate group is not among the photos given.")
            row = probabilities[row_of[path]]
            predicted = int(row.argmax())
            copies.append(
                FiledCopy(path, path.split("/", 1)[0], split.get(path, OUTSIDE_SPLIT), class_names[predicted], float(row[predicted]))
            )
        answers.append(tuple(copies))
    return answers


def paths_filed_under_several_classes(photos: Sequence[Photo]) -> set[str]:
    """Return the relative paths of photos whose exact bytes (by sha256) are also filed under another class.

    This needs only the hashes that loading the collection computed, not a
    full :func:`~.label_audit.audit_collection`.
    """
    labels_by_hash: dict[str, set[int]] = {}
    for photo in photos:
        labels_by_hash.setdefault(photo.sha256, set()).add(photo.label_index)
    return {photo.relative_path for photo in photos if len(labels_by_hash[photo.sha256]) > 1}
