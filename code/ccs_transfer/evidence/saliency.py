"""Gradient saliency maps, and tools to compare and describe attribution maps.

A gradient map measures how fast one class score changes when single
pixels change. ``gradient_function`` maps a batch ``[B, H, W, 3]`` in ``[0, 1]``
to the gradient of the class score with respect to that batch, same shape;
:func:`keras_logit_gradient` builds one from a Keras model with TensorFlow,
which it imports only when called.

- :func:`vanilla_gradient_map`: the absolute gradient, maximum over the
  colour channels (Simonyan, Vedaldi and Zisserman, 2013).
- :func:`smoothgrad_map`: the same, averaged over copies of the image with
  Gaussian noise added (Smilkov et al., 2017), which removes much of the
  speckle of a single gradient.

:class:`MemoizedPredictor` lets several occlusion maps of one image share
their forward passes, :func:`top_fraction_shared` measures how far two maps
agree, and :func:`describe_position` names where a patch lies.
"""

from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np

from ..labels import softmax


def classifier_probabilities(predict_logits: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Turn a batch-to-logits callable into the batch-to-probabilities callable that occlusion maps take."""

    def predict_probabilities(batch: np.ndarray) -> np.ndarray:
        return softmax(np.asarray(predict_logits(batch)))

    return predict_probabilities


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape [H, W, 3], got {image.shape}.")
    if not np.all(np.isfinite(image)) or image.min() < 0.0 or image.max() > 1.0:
        raise ValueError("image values must be finite and within [0, 1].")
    return image


def _gradients(gradient_function: Callable[[np.ndarray], np.ndarray], batch: np.ndarray) -> np.ndarray:
    gradients = np.asarray(gradient_function(batch), dtype=np.float64)
    if gradients.shape != batch.shape:
        raise ValueError(f"gradient_function returned shape {gradients.shape} for a batch of shape {batch.shape}.")
    return gradients


def vanilla_gradient_map(gradient_function: Callable[[np.ndarray], np.ndarray], image: np.ndarray) -> np.ndarray:
    """Return |gradient| [H, W], the maximum over colour channels."""
    image = _check_image(image)
    gradients = _gradients(gradient_function, image[np.newaxis])[0]
    return np.abs(gradients).max(axis=2)


def smoothgrad_map(
    gradient_function: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    *,
    samples: int = 16,
    noise_level: float = 0.15,
    seed: int = 0,
    batch_size: int = 8,
) -> np.ndarray:
    """Return the SmoothGrad map [H, W]: |mean gradient over noisy copies|, maximum over channels.

    Each copy gets Gaussian noise with standard deviation ``noise_level``
    times the image's value range, and is not clipped, following the
    method's description. The noise comes from ``seed``, so the map is
    the same on every run.
    """
    image = _check_image(image)
    if samples < 1:
        raise ValueError(f"samples={samples} must be at least 1.")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be at least 1.")
    if noise_level < 0:
        raise ValueError(f"noise_level={noise_level} must not be negative.")
    rng = np.random.default_rng(seed)
    sigma = noise_level * float(image.max() - image.min())
    total = np.zeros(image.shape, dtype=np.float64)
    remaining = samples
    while remaining > 0:
        count = min(batch_size, remaining)
        noise = rng.normal(0.0, sigma, size=(count,) + image.shape).astype(np.float32)
        total += _gradients(gradient_function, image[np.newaxis] + noise).sum(axis=0)
        remaining -= count
    return np.abs(total / samples).max(axis=2)


def keras_logit_gradient(model, class_index: int) -> Callable[[np.ndarray], np.ndarray]:
    """Return a gradient function for the logit ``class_index`` of a Keras model taking [B, H, W, 3]."""
    from ..tf_runtime import load_tensorflow

    tf = load_tensorflow().tf

    def gradient(batch: np.ndarray) -> np.ndarray:
        inputs = tf.convert_to_tensor(np.asarray(batch, dtype=np.float32))
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = model(inputs, training=False)
            if not 0 <= class_index < outputs.shape[-1]:
                raise ValueError(f"class_index={class_index} is outside the model's {outputs.shape[-1]} outputs.")
            # Rows are independent, so the gradient of the sum is each row's own gradient.
            score = tf.reduce_sum(outputs[:, class_index])
        result = tape.gradient(score, inputs)
        if result is None:
            raise ValueError("the model's output does not depend on its input, so it has no gradient.")
        return result.numpy()

    return gradient


class MemoizedPredictor:
    """Wrap a batch predictor so that a batch seen before is returned from memory.

    Occlusion maps of several classes of one image send identical batches;
    with this wrapper the model runs once per batch. Batches are recognised
    by the SHA-256 of their bytes, shape and dtype.
    """

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray]):
        self._predict = predict
        self._answers: dict[bytes, np.ndarray] = {}
        self.model_calls = 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch)
        digest = hashlib.sha256(batch.tobytes())
        digest.update(repr((batch.shape, batch.dtype.str)).encode("ascii"))
        key = digest.digest()
        if key not in self._answers:
            self._answers[key] = np.asarray(self._predict(batch))
            self.model_calls += 1
        return self._answers[key]


def top_fraction_mask(values: np.ndarray, fraction: float) -> np.ndarray:
    """Mark the ``fraction`` of positions with the highest values (ties broken by position)."""
    values = np.asarray(values, dtype=np.float64)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction} must be in (0, 1].")
    count = max(1, int(round(fraction * values.size)))
    order = np.argsort(-values.reshape(-1), kind="stable")[:count]
    mask = np.zeros(values.size, dtype=bool)
    mask[order] = True
    return mask.reshape(values.shape)


def top_fraction_shared(first: np.ndarray, second: np.ndarray, fraction: float = 0.1) -> float:
    """Return the share of the top ``fraction`` pixels of ``first`` that are also top pixels of ``second``.

    Both maps mark the same number of pixels, so the share is symmetric. Two
    unrelated maps share about ``fraction`` of their top pixels on average;
    identical rankings share all of them.
    """
    if np.shape(first) != np.shape(second):
        raise ValueError(f"the maps have different shapes, {np.shape(first)} and {np.shape(second)}.")
    mask_first = top_fraction_mask(first, fraction)
    mask_second = top_fraction_mask(second, fraction)
    return float(np.count_nonzero(mask_first & mask_second) / np.count_nonzero(mask_first))


def describe_position(y: int, x: int, patch: int, height: int, width: int) -> str:
    """Name the ninth of the image that contains the centre of a patch, e.g. "upper third, centre"."""
    if not (0 <= y <= height - patch and 0 <= x <= width - patch):
        raise ValueError(f"a {patch}-pixel patch at (y={y}, x={x}) does not fit a {height} x {width} image.")
    centre_y = y + patch / 2
    centre_x = x + patch / 2
    rows = ("upper third", "middle third", "lower third")
    columns = ("left", "centre", "right")
    row = rows[min(2, int(3 * centre_y / height))]
    column = columns[min(2, int(3 * centre_x / width))]
    return f"{row}, {column}"
