"""Tests of the 2-D projections of feature vectors."""

from __future__ import annotations

from importlib import util

import numpy as np
import pytest

from ccs_transfer.evidence.projection import MissingDependencyError, pca_2d, project_2d

HAS_SKLEARN = util.find_spec("sklearn") is not None


def _two_clusters(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Two clusters of 50 points in 10-D, centred at +4 and -4 on the first axis."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], 50)
    features = rng.normal(scale=0.5, size=(100, 10))
    features[:, 0] += np.where(labels == 0, 4.0, -4.0)
    return features, labels


def test_pca_hand_example():
    points = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0], [2.0, 1.0]])

    projection = pca_2d(points)

    assert np.allclose(projection.coordinates, [[-1, -0.5], [1, -0.5], [-1, 0.5], [1, 0.5]])
    assert np.allclose(projection.components, np.eye(2))
    assert np.allclose(projection.explained_variance_ratio, [0.8, 0.2])
    assert np.allclose(projection.mean, [1.0, 0.5])


def test_pca_separates_clusters():
    features, labels = _two_clusters()

    coordinates = project_2d(features, "pca")

    assert coordinates.shape == (100, 2)
    # The cluster at +4 on the axis with the largest loading lands on the positive side.
    assert np.all(coordinates[labels == 0, 0] > 0)
    assert np.all(coordinates[labels == 1, 0] < 0)


def test_pca_sign_convention_stable():
    features, _ = _two_clusters()
    order = np.random.default_rng(1).permutation(len(features))

    shuffled = project_2d(features[order], "pca")
    mirrored = project_2d(-features, "pca")

    assert np.allclose(shuffled, project_2d(features, "pca")[order])
    assert np.allclose(mirrored, -project_2d(features, "pca"))
    for component in pca_2d(features).components:
        assert component[np.argmax(np.abs(component))] > 0


def test_pca_explained_variance_first_dominates():
    features, _ = _two_clusters()

    ratio = pca_2d(features).explained_variance_ratio

    assert ratio[0] > 0.8
    assert ratio[0] >= ratio[1]


@pytest.mark.parametrize("features", [np.zeros(5), np.zeros((1, 4)), np.array([[0.0, np.nan], [1.0, 2.0]])])
def test_project_rejects_bad_features(features):
    with pytest.raises(ValueError):
        project_2d(features)


def test_project_rejects_unknown_method():
    with pytest.raises(ValueError, match="umap"):
        project_2d(np.eye(3), "umap")


@pytest.mark.skipif(HAS_SKLEARN, reason="scikit-learn is installed")
def test_tsne_without_sklearn():
    with pytest.raises(MissingDependencyError, match="scikit-learn"):
        project_2d(np.eye(5), "tsne")


@pytest.mark.skipif(not HAS_SKLEARN, reason="scikit-learn not installed")
def test_tsne_separates_clusters():
    features, labels = _two_clusters()

    coordinates = project_2d(features, "tsne", seed=3)

    assert coordinates.shape == (100, 2)
    centre_a = coordinates[labels == 0].mean(axis=0)
    centre_b = coordinates[labels == 1].mean(axis=0)
    spread = coordinates[labels == 0].std(axis=0).max()
    assert np.linalg.norm(centre_a - centre_b) > 3 * spread
