"""Tests of the confusion matrix and mistake listing, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from ccs_transfer.evidence.confusion import confusion_matrix, most_confident_mistakes, per_class_accuracy

TRUE = np.array([0, 0, 1, 1, 2, 2, 2])
PREDICTED = np.array([0, 1, 1, 1, 2, 0, 2])

PROBABILITIES = np.array(
    [
        [0.7, 0.2, 0.1],  # true 0: correct
        [0.1, 0.8, 0.1],  # true 0: wrong, 0.8 on class 1
        [0.5, 0.3, 0.2],  # true 2: wrong, 0.5 on class 0
        [0.1, 0.1, 0.8],  # true 1: wrong, 0.8 on class 2
        [0.3, 0.6, 0.1],  # true 1: correct
    ]
)
PROBABILITY_LABELS = np.array([0, 0, 2, 1, 1])


def test_confusion_matrix_hand_example():
    expected = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 2]])

    assert np.array_equal(confusion_matrix(TRUE, PREDICTED, 3), expected)


def test_confusion_matrix_extra_class():
    matrix = confusion_matrix(TRUE, PREDICTED, 4)

    assert matrix.shape == (4, 4)
    assert matrix[3].sum() == 0
    assert matrix.sum() == len(TRUE)


def test_per_class_accuracy_hand_example():
    assert np.allclose(per_class_accuracy(TRUE, PREDICTED, 3), [0.5, 1.0, 2 / 3])


def test_per_class_accuracy_absent_class_nan():
    accuracy = per_class_accuracy(TRUE, PREDICTED, 4)

    assert np.isnan(accuracy[3])
    assert np.allclose(accuracy[:3], [0.5, 1.0, 2 / 3])


def test_most_confident_mistakes_order():
    mistakes = most_confident_mistakes(PROBABILITIES, PROBABILITY_LABELS, k=10)

    assert [mistake.index for mistake in mistakes] == [1, 3, 2]
    assert [mistake.predicted_class for mistake in mistakes] == [1, 2, 0]
    assert [mistake.true_class for mistake in mistakes] == [0, 1, 2]
    assert [mistake.confidence for mistake in mistakes] == pytest.approx([0.8, 0.8, 0.5])
    assert [mistake.true_class_probability for mistake in mistakes] == pytest.approx([0.1, 0.1, 0.2])


def test_most_confident_mistakes_top_k():
    assert [mistake.index for mistake in most_confident_mistakes(PROBABILITIES, PROBABILITY_LABELS, k=2)] == [1, 3]
    assert most_confident_mistakes(PROBABILITIES, PROBABILITY_LABELS, k=0) == []


def test_most_confident_mistakes_none_wrong():
    assert most_confident_mistakes(PROBABILITIES[[0, 4]], np.array([0, 1]), k=5) == []


@pytest.mark.parametrize(
    ("true", "predicted", "n_classes"),
    [
        (np.array([0, 3]), np.array([0, 1]), 3),
        (np.array([0, -1]), np.array([0, 1]), 3),
        (np.array([0, 1]), np.array([0]), 3),
        (np.array([0.0, 1.0]), np.array([0, 1]), 3),
        (np.array([[0, 1]]), np.array([[0, 1]]), 3),
    ],
)
def test_confusion_matrix_rejects_bad_labels(true, predicted, n_classes):
    with pytest.raises(ValueError):
        confusion_matrix(true, predicted, n_classes)
