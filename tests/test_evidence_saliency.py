"""Tests of gradient maps, map comparison and the memoising predictor, on models with known gradients."""

from __future__ import annotations

import numpy as np
import pytest

from ccs_transfer.evidence.occlusion import occlusion_map
from ccs_transfer.evidence.saliency import (
    MemoizedPredictor,
    classifier_probabilities,
    describe_position,
    keras_logit_gradient,
    smoothgrad_map,
    top_fraction_mask,
    top_fraction_shared,
    vanilla_gradient_map,
)

SIZE = 8


def _weights() -> np.ndarray:
    """Weights of a linear score: large on the red channel of pixel (2, 5), small elsewhere."""
    weights = np.full((SIZE, SIZE, 3), 0.01)
    weights[2, 5, 0] = -3.0
    weights[6, 1, 2] = 1.5
    return weights


def _linear_gradient(batch: np.ndarray) -> np.ndarray:
    """Gradient of the linear score sum(w * x): w for every image of the batch."""
    return np.broadcast_to(_weights(), batch.shape).copy()


def test_vanilla_gradient_of_linear_score():
    image = np.full((SIZE, SIZE, 3), 0.5, dtype=np.float32)
    saliency = vanilla_gradient_map(_linear_gradient, image)

    assert saliency.shape == (SIZE, SIZE)
    assert saliency[2, 5] == pytest.approx(3.0)
    assert saliency[6, 1] == pytest.approx(1.5)
    assert saliency[0, 0] == pytest.approx(0.01)


def test_smoothgrad_of_linear_score_ignores_noise():
    image = np.full((SIZE, SIZE, 3), 0.5, dtype=np.float32)
    calls = []

    def gradient(batch):
        calls.append(len(batch))
        return _linear_gradient(batch)

    saliency = smoothgrad_map(gradient, image, samples=10, batch_size=4, seed=1)

    assert np.allclose(saliency, np.abs(_weights()).max(axis=2))
    assert calls == [4, 4, 2]


def test_smoothgrad_is_seeded():
    image = np.random.default_rng(0).random((SIZE, SIZE, 3)).astype(np.float32)

    def squared_gradient(batch):
        return 2 * batch

    first = smoothgrad_map(squared_gradient, image, samples=5, seed=3)
    again = smoothgrad_map(squared_gradient, image, samples=5, seed=3)
    other = smoothgrad_map(squared_gradient, image, samples=5, seed=4)

    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_gradient_maps_reject_bad_input():
    with pytest.raises(ValueError, match="shape"):
        vanilla_gradient_map(_linear_gradient, np.zeros((SIZE, SIZE)))
    with pytest.raises(ValueError, match="within"):
        vanilla_gradient_map(_linear_gradient, np.full((SIZE, SIZE, 3), 2.0))
    with pytest.raises(ValueError, match="returned shape"):
        vanilla_gradient_map(lambda batch: np.zeros((1, 2, 2, 3)), np.zeros((SIZE, SIZE, 3)))
    with pytest.raises(ValueError, match="samples"):
        smoothgrad_map(_linear_gradient, np.zeros((SIZE, SIZE, 3)), samples=0)


def test_memoized_predictor_runs_each_batch_once():
    calls = []

    def predict(batch):
        calls.append(batch.shape[0])
        return batch.reshape(batch.shape[0], -1)[:, :2]

    memoized = MemoizedPredictor(predict)
    batch = np.arange(24, dtype=np.float32).reshape(2, 2, 2, 3)

    first = memoized(batch)
    second = memoized(batch.copy())
    memoized(batch + 1)

    assert np.array_equal(first, second)
    assert calls == [2, 2]
    assert memoized.model_calls == 2


def test_memoized_predictor_shares_occlusion_passes():
    image = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    calls = []

    def probabilities(batch):
        calls.append(batch.shape[0])
        means = batch.mean(axis=(1, 2))
        return means / means.sum(axis=1, keepdims=True)

    memoized = MemoizedPredictor(probabilities)
    occlusion_map(memoized, image, 0, patch=8, stride=4, batch_size=9)
    first_calls = len(calls)
    occlusion_map(memoized, image, 2, patch=8, stride=4, batch_size=9)

    assert len(calls) == first_calls


def test_classifier_probabilities_softmax():
    predict = classifier_probabilities(lambda batch: np.array([[0.0, np.log(3.0)]] * len(batch)))
    probabilities = predict(np.zeros((2, 4, 4, 3)))

    assert probabilities.shape == (2, 2)
    assert probabilities[0] == pytest.approx([0.25, 0.75])


def test_top_fraction_mask_count_and_ties():
    values = np.array([[5.0, 1.0], [5.0, 0.0]])
    mask = top_fraction_mask(values, 0.25)

    assert mask.tolist() == [[True, False], [False, False]]
    with pytest.raises(ValueError, match="fraction"):
        top_fraction_mask(values, 0.0)


def test_top_fraction_shared_bounds():
    rng = np.random.default_rng(0)
    first = rng.random((50, 50))

    assert top_fraction_shared(first, first, 0.1) == 1.0
    assert top_fraction_shared(first, first * 3 + 1, 0.1) == 1.0
    assert top_fraction_shared(first, -first, 0.1) == 0.0
    unrelated = [top_fraction_shared(first, rng.random((50, 50)), 0.1) for _ in range(20)]
    assert 0.05 < float(np.mean(unrelated)) < 0.15
    with pytest.raises(ValueError, match="shapes"):
        top_fraction_shared(first, first[:10], 0.1)


def test_describe_position_ninths():
    assert describe_position(0, 0, 32, 224, 224) == "upper third, left"
    assert describe_position(96, 96, 32, 224, 224) == "middle third, centre"
    assert describe_position(192, 192, 32, 224, 224) == "lower third, right"
    with pytest.raises(ValueError, match="does not fit"):
        describe_position(200, 0, 32, 224, 224)


@pytest.mark.slow
def test_keras_logit_gradient_of_dense_model():
    from ccs_transfer.tf_runtime import load_tensorflow

    keras = load_tensorflow().keras
    model = keras.Sequential([keras.layers.Flatten(input_shape=(2, 2, 3)), keras.layers.Dense(2, use_bias=False)])
    kernel = np.arange(24, dtype=np.float32).reshape(12, 2)
    model.layers[1].set_weights([kernel])
    gradient = keras_logit_gradient(model, 1)

    result = gradient(np.zeros((3, 2, 2, 3), dtype=np.float32))

    assert result.shape == (3, 2, 2, 3)
    for row in result:
        assert np.allclose(row.reshape(-1), kernel[:, 1])
    with pytest.raises(ValueError, match="outside"):
        keras_logit_gradient(model, 5)(np.zeros((1, 2, 2, 3), dtype=np.float32))
