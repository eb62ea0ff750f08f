"""Two-dimensional projections of feature vectors for scatter plots.

PCA is computed with numpy's SVD and needs nothing else. Each component's
sign is fixed so that its loading of largest absolute value is positive,
which makes the picture the same on every run and every machine. t-SNE uses
scikit-learn when it is installed, and scikit-learn is optional.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import EditionError
from ..settings import Settings

# The default of EDITION_SEED; pages pass their settings' value.
DEFAULT_SEED: int = Settings.seed


class MissingDependencyError(EditionError):
    """An optional package that a requested computation needs is not installed."""


@dataclass(frozen=True)
class PcaProjection:
    """Coordinates on the first two principal components and what they explain."""

    coordinates: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    mean: np.ndarray


def _check_features(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must have shape [N, D], got {features.shape}.")
    if min(features.shape) < 2:
        raise ValueError(f"features need at least 2 rows and 2 columns, got {features.shape}.")
    if not np.all(np.isfinite(features)):
        raise ValueError("features contain NaN or infinite values.")
    return features


def pca_2d(features: np.ndarray) -> PcaProjection:
    """Project ``features`` [N, D] onto its first two principal components."""
    features = _check_features(features)
    mean = features.mean(axis=0)
    centred = features - mean
    _, singular_values, right_vectors = np.linalg.svd(centred, full_matrices=False)
    components = right_vectors[:2].copy()
    for component in components:
        if component[np.argmax(np.abs(component))] < 0:
            component *= -1.0
    variances = singular_values**2
    total = variances.sum()
    ratio = variances[:2] / total if total > 0 else np.zeros(2)
    return PcaProjection(centred @ components.T, components, ratio, mean)


def project_2d(
    features: np.ndarray,
    method: Literal["pca", "tsne"] = "pca",
    seed: int = DEFAULT_SEED,
    *,
    perplexity: float = 30.0,
) -> np.ndarray:
    """Project ``features`` [N, D] to [N, 2] with PCA or t-SNE.

    ``seed`` matters only for t-SNE. Its ``perplexity`` is capped at
    ``(N - 1) / 3`` so that small sets work. Raises
    :class:`MissingDependencyError` for t-SNE without scikit-learn.
    """
    if method == "pca":
        return pca_2d(features).coordinates
    if method != "tsne":
        raise ValueError(f"method={method!r} is not 'pca' or 'tsne'.")
    features = _check_features(features)
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise MissingDependencyError(
            "t-SNE needs scikit-learn, which is not installed.",
            "install scikit-learn, or use method='pca'.",
        ) from None
    usable_perplexity = min(perplexity, (features.shape[0] - 1) / 3)
    # Limitation: t-SNE coordinates can change between scikit-learn versions even with the same seed.
    embedding = TSNE(n_components=2, perplexity=usable_perplexity, init="pca", random_state=seed)
    return embedding.fit_transform(features)
