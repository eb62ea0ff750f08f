"""Tests of the head's evaluation summary on logits with a known confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ccs_transfer.datasets import Photo
from ccs_transfer.evidence.head_evaluation import evaluate_head

CLASS_NAMES = ("daisy", "roses", "tulips")


def _photos(labels: list[int]) -> list[Photo]:
    return [Photo(Path(f"/photos/{index}.jpg"), f"{CLASS_NAMES[label]}/{index}.jpg", label, f"{index:064x}") for index, label in enumerate(labels)]


def test_evaluate_head_summaries():
    labels = [0, 0, 1, 1, 2, 2]
    # Rows predict: daisy, roses (wrong, confident), roses, roses, roses (wrong), tulips.
    logits = np.array([
        [5.0, 0.0, 0.0],
        [0.0, 9.0, 0.0],
        [0.0, 5.0, 0.0],
        [0.0, 5.0, 0.0],
        [0.0, 2.0, 1.0],
        [0.0, 0.0, 5.0],
    ])
    evaluation = evaluate_head(logits, _photos(labels), CLASS_NAMES, mistakes=5)

    assert evaluation.matrix.tolist() == [[1, 1, 0], [0, 2, 0], [0, 1, 1]]
    assert evaluation.class_accuracy.tolist() == [0.5, 1.0, 0.5]
    assert evaluation.accuracy == pytest.approx(4 / 6)
    assert evaluation.mistake_count == 2
    assert [m.index for m in evaluation.mistakes] == [1, 4]
    assert evaluation.probabilities.sum(axis=1) == pytest.approx(np.ones(6))
    assert evaluation.largest_confusion() == ("daisy", "roses", 1)


def test_evaluate_head_keeps_mistake_limit():
    labels = [0, 0, 0]
    logits = np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 3.0, 0.0]])
    evaluation = evaluate_head(logits, _photos(labels), CLASS_NAMES, mistakes=2)

    assert [m.index for m in evaluation.mistakes] == [2, 1]


def test_evaluate_head_rejects_wrong_shape():
    with pytest.raises(ValueError, match="shape"):
        evaluate_head(np.zeros((2, 2)), _photos([0, 1]), CLASS_NAMES)
