"""Tests of the per-class summary of ImageNet top-1 labels on logits with known winners."""

from __future__ import annotations

import numpy as np
import pytest

from ccs_transfer.errors import LabelVocabularyError
from ccs_transfer.evidence.imagenet_view import (
    NAMED_FLOWER_CLASSES,
    count_top1_by_class,
    named_accuracy,
    output_groups,
    output_index,
    view_through_imagenet,
)
from ccs_transfer.labels import LabelVocabulary, imagenet1001, imagenet1k

DAISY, POT, BEE, RAPESEED = 985, 738, 309, 984
CLASS_NAMES = ("daisy", "roses")


def _logits(winners: list[int], width: int = 1000, runner_up: int | None = None) -> np.ndarray:
    """One row per photo, with ``winners[i]`` as the clear top-1 output."""
    logits = np.zeros((len(winners), width))
    for row, winner in enumerate(winners):
        logits[row, winner] = 10.0
        if runner_up is not None:
            logits[row, runner_up] = 5.0
    return logits


def test_named_flower_classes_exist():
    vocabulary = imagenet1k()

    assert vocabulary[NAMED_FLOWER_CLASSES["daisy"][0]] == "daisy"
    assert all(not NAMED_FLOWER_CLASSES[name] for name in ("dandelion", "roses", "sunflowers", "tulips"))


def test_view_counts_per_class():
    # Three daisy photos (daisy, daisy, bee) and three roses photos (pot, pot, daisy).
    logits = _logits([DAISY, DAISY, BEE, POT, POT, DAISY])
    labels = [0, 0, 0, 1, 1, 1]
    daisy, roses = view_through_imagenet(logits, labels, CLASS_NAMES, imagenet1k())

    assert daisy.photo_count == 3
    assert [(a.label, a.count, a.group) for a in daisy.top_labels] == [("daisy", 2, "plants"), ("bee", 1, "animals")]
    assert daisy.named_top1_count == 2
    assert daisy.plants_count == 2
    assert daisy.distinct_labels == 2
    assert roses.named_classes == ()
    assert roses.named_top1_count == 0
    assert roses.group_counts == {"artefacts": 2, "plants": 1}
    assert named_accuracy([daisy, roses]) == pytest.approx(2 / 6)


def test_view_top5_counts_runner_up():
    logits = _logits([BEE, BEE], runner_up=DAISY)
    (daisy,) = view_through_imagenet(logits, [0, 0], ("daisy",), imagenet1k())

    assert daisy.named_top1_count == 0
    assert daisy.named_top5_count == 2


def test_view_orders_ties_by_index():
    logits = _logits([POT, BEE, RAPESEED])
    (view,) = view_through_imagenet(logits, [0, 0, 0], ("daisy",), imagenet1k(), top_n=2)

    assert [a.index for a in view.top_labels] == [BEE, POT]


def test_view_with_background_output():
    vocabulary = imagenet1001()
    logits = _logits([output_index(vocabulary, DAISY), 0], width=1001)
    (daisy,) = view_through_imagenet(logits, [0, 0], ("daisy",), vocabulary)

    assert daisy.named_top1_count == 1
    assert daisy.group_counts == {"plants": 1, "other": 1}
    assert output_groups(vocabulary)[0] == "other"


def test_output_groups_rejects_other_sizes():
    vocabulary = LabelVocabulary("tiny", ("a", "b"), "test", "0" * 64)

    with pytest.raises(LabelVocabularyError, match="2 labels"):
        output_groups(vocabulary)


def test_view_rejects_mismatched_input():
    with pytest.raises(ValueError, match="shape"):
        view_through_imagenet(np.zeros((2, 10)), [0, 0], CLASS_NAMES, imagenet1k())
    with pytest.raises(ValueError, match="entries"):
        view_through_imagenet(_logits([DAISY]), [0, 1], CLASS_NAMES, imagenet1k())
    with pytest.raises(ValueError, match="outside"):
        view_through_imagenet(_logits([DAISY]), [2], CLASS_NAMES, imagenet1k())


def test_count_top1_by_class_counts_classes():
    logits = _logits([DAISY, POT, DAISY, DAISY])

    assert count_top1_by_class(logits, [0, 0, 1, 1], DAISY) == {0: 1, 1: 2}


def test_named_accuracy_rejects_empty():
    with pytest.raises(ValueError, match="no photos"):
        named_accuracy([])
