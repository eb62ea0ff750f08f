"""Evaluation of the trained flower head from its logits on labelled photos: accuracy, confusions, mistakes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..datasets import Photo
from ..labels import softmax
from .confusion import Mistake, confusion_matrix, most_confident_mistakes, per_class_accuracy


@dataclass(frozen=True)
class HeadEvaluation:
    """The head's predictions on a set of photos, with the usual summaries.

    ``matrix`` rows are true classes and columns predictions.
    """

    photos: tuple[Photo, ...]
    class_names: tuple[str, ...]
    truth: np.ndarray
    probabilities: np.ndarray
    predicted: np.ndarray
    matrix: np.ndarray
    class_accuracy: np.ndarray
    mistakes: tuple[Mistake, ...]

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.predicted == self.truth))

    @property
    def mistake_count(self) -> int:
        return int(np.count_nonzero(self.predicted != self.truth))

    def largest_confusion(self) -> tuple[str, str, int]:
        """Return (true class, predicted class, count) of the largest off-diagonal cell; ties go to the first."""
        off_diagonal = self.matrix.copy()
        np.fill_diagonal(off_diagonal, -1)
        true_index, predicted_index = np.unravel_index(int(np.argmax(off_diagonal)), off_diagonal.shape)
        return self.class_names[true_index], self.class_names[predicted_index], int(self.matrix[true_index, predicted_index])


def evaluate_head(
    logits: np.ndarray, photos: Sequence[Photo], class_names: Sequence[str], mistakes: int = 8
) -> HeadEvaluation:
    """Summarise the head's ``logits`` [N, classes] on ``photos``, keeping the ``mistakes`` most confident errors."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape != (len(photos), len(class_names)):
        raise ValueError(
            f"logits must have shape [{len(photos)}, {len(class_names)}] (photos, classes), got {logits.shape}."
        )
    truth = np.array([photo.label_index for photo in photos], dtype=np.int64)
    probabilities = softmax(logits)
    predicted = probabilities.argmax(axis=1)
    return HeadEvaluation(
        photos=tuple(photos),
        class_names=tuple(class_names),
        truth=truth,
        probabilities=probabilities,
        predicted=predicted,
        matrix=confusion_matrix(truth, predicted, len(class_names)),
        class_accuracy=per_class_accuracy(truth, predicted, len(class_names)),
        mistakes=tuple(most_confident_mistakes(probabilities, truth, mistakes)),
    )

