"""Tests that the iterative two-component PCA matches the full SVD."""

from __future__ import annotations

import numpy as np
import pytest

from ccs_transfer.evidence.leading_components import pca_2d_iterative
from ccs_transfer.evidence.projection import pca_2d


def _clustered(rows: int = 300, columns: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, columns))
    return centres[rng.integers(0, 3, rows)] + rng.normal(size=(rows, columns))


@pytest.mark.parametrize("shape", [(300, 64), (40, 200)])
def test_matches_full_svd(shape):
    features = _clustered(*shape)
    iterative = pca_2d_iterative(features, seed=1)
    exact = pca_2d(features)

    scale = np.abs(exact.coordinates).max()
    assert np.abs(iterative.coordinates - exact.coordinates).max() < 1e-6 * scale
    assert np.allclose(iterative.components, exact.components, atol=1e-6)
    assert np.allclose(iterative.explained_variance_ratio, exact.explained_variance_ratio, rtol=1e-9)
    assert np.allclose(iterative.mean, exact.mean)


def test_sign_convention():
    components = pca_2d_iterative(_clustered(), seed=2).components

    for component in components:
        assert component[np.argmax(np.abs(component))] > 0


def test_small_inputs_fall_back():
    features = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 2.0, 2.0]])
    iterative = pca_2d_iterative(features)
    exact = pca_2d(features)

    assert np.allclose(iterative.coordinates, exact.coordinates)


def test_invalid_input_raises():
    with pytest.raises(ValueError, match="shape"):
        pca_2d_iterative(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        pca_2d_iterative(np.full((4, 4), np.nan))
