"""Confusion matrix, per-class accuracy and the most confident mistakes of a classifier."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Mistake:
    """One wrongly classified example."""

    index: int
    true_class: int
    predicted_class: int
    confidence: float
    true_class_probability: float


def _check_labels(labels: np.ndarray, n_classes: int, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class indices, got shape {labels.shape}.")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {labels.dtype}.")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{name} has class indices outside 0-{n_classes - 1}.")
    return labels


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Count examples by (true class, predicted class): rows are true classes, columns predictions."""
    if n_classes < 1:
        raise ValueError(f"n_classes={n_classes} must be at least 1.")
    true = _check_labels(true, n_classes, "true")
    predicted = _check_labels(predicted, n_classes, "predicted")
    if true.shape != predicted.shape:
        raise ValueError(f"true has {true.size} labels but predicted has {predicted.size}.")
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix


def per_class_accuracy(true: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Return the share of each true class that was predicted correctly (recall); NaN for an absent class."""
    matrix = confusion_matrix(true, predicted, n_classes)
    totals = matrix.sum(axis=1)
    accuracy = np.full(n_classes, np.nan)
    present = totals > 0
    accuracy[present] = np.diag(matrix)[present] / totals[present]
    return accuracy


def most_confident_mistakes(probabilities: np.ndarray, true: np.ndarray, k: int) -> list[Mistake]:
    """Return up to ``k`` wrong predictions, highest predicted probability first.

    The prediction is the arg-max of each row of ``probabilities`` [N, C].
    Ties in confidence are ordered by example index.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must have shape [N, classes], got {probabilities.shape}.")
    if k < 0:
        raise ValueError(f"k={k} must not be negative.")
    true = _check_labels(true, probabilities.shape[1], "true")
    if true.size != probabilities.shape[0]:
        raise ValueError(f"true has {true.size} labels but probabilities has {probabilities.shape[0]} rows.")
    predicted = np.argmax(probabilities, axis=1)
    confidence = probabilities[np.arange(len(predicted)), predicted]
    wrong = np.flatnonzero(predicted != true)
    # Stable sort on negated confidence keeps index order within ties.
    ordered = wrong[np.argsort(-confidence[wrong], kind="stable")][:k]
    return [
        Mistake(
            index=int(index),
            true_class=int(true[index]),
            predicted_class=int(predicted[index]),
            confidence=float(confidence[index]),
            true_class_probability=float(probabilities[index, true[index]]),
        )
        for index in ordered
    ]
