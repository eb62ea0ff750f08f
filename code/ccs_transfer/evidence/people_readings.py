"""Top-k labels of photographs of people, each tagged with its vocabulary group.

The classifier enters as two callables: ``to_batch`` turns a PIL image into
a batch of one, and ``predict_logits`` maps a batch to logits. Each of the
top-k labels is tagged with its vocabulary group from :mod:`.vocabulary`,
so that a page can show whether a person is named through people, garments
or other objects.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from ..images import load_photo
from ..labels import LabelVocabulary, Prediction, top_k
from .imagenet_view import output_groups
from .people import PeoplePhoto


@dataclass(frozen=True)
class PersonReading:
    """One photo of a person, its top-k labels and the group of each label."""

    photo: PeoplePhoto
    image_size: tuple[int, int]
    top: tuple[Prediction, ...]
    groups: tuple[str, ...]

    @property
    def top1(self) -> Prediction:
        return self.top[0]


def read_people(
    photos: Sequence[PeoplePhoto],
    to_batch: Callable[[Image.Image], np.ndarray],
    predict_logits: Callable[[np.ndarray], np.ndarray],
    vocabulary: LabelVocabulary,
    k: int = 5,
) -> list[PersonReading]:
    """Classify each photo (read with :func:`~ccs_transfer.images.load_photo`) and tag its top-k labels."""
    if not photos:
        raise ValueError("photos is empty; pass at least one photo of a person.")
    groups = output_groups(vocabulary)
    images = [load_photo(photo.path) for photo in photos]
    batch = np.concatenate([to_batch(image) for image in images])
    logits = np.asarray(predict_logits(batch))
    if logits.shape != (len(photos), len(vocabulary)):
        raise ValueError(f"predict_logits returned shape {logits.shape}, expected ({len(photos)}, {len(vocabulary)}).")
    readings = []
    for photo, image, row in zip(photos, images, logits):
        top = tuple(top_k(row, vocabulary, k))
        readings.append(PersonReading(photo, image.size, top, tuple(groups[p.index] for p in top)))
    return readings


def group_tally(readings: Sequence[PersonReading]) -> Counter[str]:
    """Count the groups of all top-k labels of all readings."""
    return Counter(group for reading in readings for group in reading.groups)
