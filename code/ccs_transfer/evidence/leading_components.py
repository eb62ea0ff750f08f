"""PCA onto the first two components by subspace iteration, for pages built on a busy CPU.

:func:`.projection.pca_2d` computes a full SVD. On the 2-core build machine,
with TensorFlow's threads in the same process and other jobs running,
OpenBLAS's multithreaded SVD of 813 x 1280 feature vectors took 10-60 s,
against 0.4 s on one thread. Subspace iteration needs only matrix products
and QR factorisations of narrow matrices, which stay fast under that load.
The coordinates agree with the full SVD's to about 1e-6 of their range
(on the flower features, and in the tests), with the same sign convention.
When the iteration does not converge, the full SVD is used.
"""

from __future__ import annotations

import numpy as np

from .projection import PcaProjection, pca_2d

# Extra directions iterated beside the two wanted ones: convergence goes as
# (lambda_{2 + OVERSAMPLING + 1} / lambda_2) ** iterations, so a wider block converges faster.
OVERSAMPLING = 8
MAX_ITERATIONS = 300
TOLERANCE = 1e-13


def pca_2d_iterative(features: np.ndarray, seed: int = 0) -> PcaProjection:
    """Project ``features`` [N, D] onto its first two principal components, as :func:`.projection.pca_2d` does."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or min(features.shape) < 2:
        return pca_2d(features)  # pca_2d raises the matching ValueError.
    if not np.all(np.isfinite(features)):
        return pca_2d(features)
    mean = features.mean(axis=0)
    centred = features - mean
    covariance = centred.T @ centred
    total = float(np.trace(covariance))
    dimensions = covariance.shape[0]
    width = min(dimensions, 2 + OVERSAMPLING)
    if total <= 0 or width < 3:
        return pca_2d(features)

    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(dimensions, width)))
    previous = np.zeros(2)
    converged = False
    for _ in range(MAX_ITERATIONS):
        basis, _ = np.linalg.qr(covariance @ basis)
        # Rayleigh-Ritz: the small projected problem gives the best estimates in the current subspace.
        projected = basis.T @ covariance @ basis
        values, vectors = np.linalg.eigh((projected + projected.T) / 2)
        order = np.argsort(values)[::-1]
        leading = values[order[:2]]
        if np.all(np.abs(leading - previous) <= TOLERANCE * total):
            converged = True
            break
        previous = leading
    if not converged:
        return pca_2d(features)

    components = (basis @ vectors[:, order[:2]]).T.copy()
    residual = covariance @ components.T - components.T * leading
    if np.linalg.norm(residual) > 1e-6 * total:
        return pca_2d(features)
    for component in components:
        if component[np.argmax(np.abs(component))] < 0:
            component *= -1.0
    return PcaProjection(centred @ components.T, components, leading / total, mean)
