"""The flower photos as the ImageNet classifier names them, before any head is trained.

For each flower class, :func:`view_through_imagenet` counts the classifier's
top-1 labels, sorts them into the vocabulary groups of :mod:`.vocabulary`,
and counts how often the top-1 label is a class that names that flower. What counts as naming the flower is the data in
:data:`NAMED_FLOWER_CLASSES`, not a judgment made per photo.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import LabelVocabularyError
from ..labels import LabelVocabulary
from .vocabulary import CLASS_COUNT, load_imagenet_classes

# Flower class of TensorFlow's flower_photos -> ImageNet-1k classes whose name
# is that flower. Only "daisy" (index 985) has one. Two classes come close but
# name something else: 989 "hip" is a rose's fruit, not its flower, and 986
# "yellow lady's slipper" is an orchid. They count in the plants group only.
NAMED_FLOWER_CLASSES: dict[str, tuple[int, ...]] = {
    "daisy": (985,),
    "dandelion": (),
    "roses": (),
    "sunflowers": (),
    "tulips": (),
}
BACKGROUND_GROUP = "other"


@dataclass(frozen=True)
class FrequentLabel:
    """One ImageNet label that is the top-1 label of ``count`` photos of a flower class."""

    index: int
    label: str
    group: str
    count: int


@dataclass(frozen=True)
class FlowerClassView:
    """Summary of the classifier's top-1 labels for the photos of one flower class."""

    flower_class: str
    photo_count: int
    top_labels: tuple[FrequentLabel, ...]
    group_counts: dict[str, int]
    named_classes: tuple[int, ...]
    named_top1_count: int
    named_top5_count: int
    distinct_labels: int

    @property
    def plants_count(self) -> int:
        return self.group_counts.get("plants", 0)


def output_groups(vocabulary: LabelVocabulary) -> tuple[str, ...]:
    """Return the vocabulary group of each model output index.

    An ImageNet-1k model has 1000 outputs. The 1001-output layout of the
    TF Hub MobileNet and Inception classifiers puts "background" first,
    which belongs to no group and is counted as ``other``.
    """
    groups = tuple(imagenet_class.group for imagenet_class in load_imagenet_classes())
    if len(vocabulary) == CLASS_COUNT:
        return groups
    if len(vocabulary) == CLASS_COUNT + 1 and vocabulary[0] == "background":
        return (BACKGROUND_GROUP,) + groups
    raise LabelVocabularyError(
        f"The vocabulary {vocabulary.name!r} has {len(vocabulary)} labels; the group table covers "
        f"the {CLASS_COUNT} ImageNet-1k classes.",
        "use a model with the imagenet1k or imagenet1001 vocabulary.",
    )


def output_index(vocabulary: LabelVocabulary, imagenet_index: int) -> int:
    """Return the model output index of ImageNet-1k class ``imagenet_index`` in ``vocabulary``."""
    return imagenet_index + (len(vocabulary) - CLASS_COUNT)


def view_through_imagenet(
    logits: np.ndarray,
    flower_labels: Sequence[int],
    class_names: Sequence[str],
    vocabulary: LabelVocabulary,
    *,
    top_n: int = 5,
    named_classes: Mapping[str, tuple[int, ...]] = NAMED_FLOWER_CLASSES,
) -> list[FlowerClassView]:
    """Summarise the classifier's logits [N, outputs] per flower class, in the order of ``class_names``.

    ``named_classes`` uses ImageNet-1k indices; a flower class missing from
    it has no naming class.
    """
    logits = np.asarray(logits)
    flower_labels = np.asarray(flower_labels, dtype=np.int64)
    if logits.ndim != 2 or logits.shape[1] != len(vocabulary):
        raise ValueError(f"logits must have shape [N, {len(vocabulary)}], got {logits.shape}.")
    if flower_labels.shape != (logits.shape[0],):
        raise ValueError(f"flower_labels has {flower_labels.size} entries for {logits.shape[0]} rows of logits.")
    if flower_labels.size and (flower_labels.min() < 0 or flower_labels.max() >= len(class_names)):
        raise ValueError(f"flower_labels has indices outside 0-{len(class_names) - 1}.")
    groups = output_groups(vocabulary)
    top1 = logits.argmax(axis=1)
    top5 = np.argsort(-logits, axis=1, kind="stable")[:, :5]

    views = []
    for class_index, class_name in enumerate(class_names):
        rows = np.flatnonzero(flower_labels == class_index)
        answers = Counter(int(index) for index in top1[rows])
        named = tuple(named_classes.get(class_name, ()))
        named_outputs = {output_index(vocabulary, index) for index in named}
        views.append(
            FlowerClassView(
                flower_class=class_name,
                photo_count=int(rows.size),
                top_labels=tuple(
                    FrequentLabel(index, vocabulary[index], groups[index], count)
                    for index, count in sorted(answers.items(), key=lambda item: (-item[1], item[0]))[:top_n]
                ),
                group_counts=dict(Counter(groups[index] for index in top1[rows]).most_common()),
                named_classes=named,
                named_top1_count=sum(count for index, count in answers.items() if index in named_outputs),
                named_top5_count=int(sum(1 for row in rows if named_outputs & {int(index) for index in top5[row]})),
                distinct_labels=len(answers),
            )
        )
    return views


def count_top1_by_class(logits: np.ndarray, flower_labels: Sequence[int], output: int) -> Counter[int]:
    """Count, per flower class index, the photos whose top-1 output is ``output``."""
    top1 = np.asarray(logits).argmax(axis=1)
    labels = np.asarray(flower_labels, dtype=np.int64)
    return Counter(int(label) for label in labels[top1 == output])


def named_accuracy(views: Sequence[FlowerClassView]) -> float:
    """Return the share of all photos whose top-1 label names their own flower.

    This is the accuracy the classifier reaches on the five classes when a
    top-1 label counts as correct only if :data:`NAMED_FLOWER_CLASSES`
    lists it for the photo's class.
    """
    total = sum(view.photo_count for view in views)
    if total == 0:
        raise ValueError("the views hold no photos.")
    return sum(view.named_top1_count for view in views) / total
