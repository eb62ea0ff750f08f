"""Occlusion sensitivity: how much a class probability falls when a patch of the image is hidden.

A grey square of ``patch`` x ``patch`` pixels is slid over the image in
steps of ``stride``, and the classifier scores every occluded copy. The
drop ``baseline - occluded`` at each position shows which regions the
classifier relies on for ``class_index``. A negative drop means that hiding
the region raised the probability. The model enters only as a callable
from a batch of images ``[B, H, W, 3]`` in ``[0, 1]`` to probabilities
``[B, classes]``, so this module needs no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class OcclusionResult:
    """Probability drops for one image and one class.

    ``drops[i, j]`` belongs to the patch whose top-left corner is at
    ``(positions_y[i], positions_x[j])``. ``pixel_map[y, x]`` is the mean
    drop over all patches that cover pixel ``(y, x)``, so it has the
    image's height and width.
    """

    class_index: int
    baseline: float
    drops: np.ndarray
    positions_y: np.ndarray
    positions_x: np.ndarray
    pixel_map: np.ndarray
    patch: int
    stride: int
    fill: float

    @property
    def peak_position(self) -> tuple[int, int]:
        """(y, x) top-left corner of the patch whose occlusion lowers the probability most."""
        row, column = np.unravel_index(int(np.argmax(self.drops)), self.drops.shape)
        return int(self.positions_y[row]), int(self.positions_x[column])


def patch_positions(length: int, patch: int, stride: int) -> np.ndarray:
    """Return the start offsets of patches along one axis, ending flush with the edge.

    The offsets are 0, stride, 2 * stride, ... and, when the last of them
    leaves a strip uncovered, one more offset at ``length - patch``, so every
    pixel is covered at least once.
    """
    positions = list(range(0, length - patch + 1, stride))
    if positions[-1] != length - patch:
        positions.append(length - patch)
    return np.asarray(positions, dtype=np.int64)


def _class_probabilities(
    predict_probabilities: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, class_index: int
) -> np.ndarray:
    probabilities = np.asarray(predict_probabilities(batch))
    if probabilities.ndim != 2 or probabilities.shape[0] != batch.shape[0]:
        raise ValueError(
            f"predict_probabilities returned shape {probabilities.shape} for a batch of {batch.shape[0]}, "
            "expected [batch, classes]."
        )
    if not 0 <= class_index < probabilities.shape[1]:
        raise ValueError(f"class_index={class_index} is outside the {probabilities.shape[1]} classes of the model.")
    return probabilities[:, class_index].astype(np.float64)


def occlusion_map(
    predict_probabilities: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    class_index: int,
    *,
    patch: int,
    stride: int,
    fill: float = 0.5,
    batch_size: int = 32,
    progress: bool = False,
) -> OcclusionResult:
    """Slide a ``fill``-valued square over ``image`` and record the drop in one class probability.

    ``image`` is ``[H, W, 3]`` with values in ``[0, 1]``. Occluded copies are
    scored ``batch_size`` at a time. ``progress=True`` shows a tqdm bar over
    the batches. Raises ``ValueError`` for an image, patch or stride that
    does not fit.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape [H, W, 3], got {image.shape}.")
    if not np.all(np.isfinite(image)) or image.min() < 0.0 or image.max() > 1.0:
        raise ValueError("image values must be finite and within [0, 1].")
    height, width = image.shape[:2]
    if not 1 <= patch <= min(height, width):
        raise ValueError(f"patch={patch} must be between 1 and the image's shorter side ({min(height, width)}).")
    if stride < 1:
        raise ValueError(f"stride={stride} must be at least 1.")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be at least 1.")
    if not 0.0 <= fill <= 1.0:
        raise ValueError(f"fill={fill} must be within [0, 1].")

    baseline = float(_class_probabilities(predict_probabilities, image[np.newaxis], class_index)[0])
    positions_y = patch_positions(height, patch, stride)
    positions_x = patch_positions(width, patch, stride)
    corners = [(int(y), int(x)) for y in positions_y for x in positions_x]
    starts = range(0, len(corners), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="occlusion", unit="batch")

    occluded_probabilities = np.empty(len(corners), dtype=np.float64)
    for start in starts:
        chunk = corners[start : start + batch_size]
        batch = np.repeat(image[np.newaxis], len(chunk), axis=0)
        for row, (y, x) in enumerate(chunk):
            batch[row, y : y + patch, x : x + patch, :] = fill
        occluded_probabilities[start : start + len(chunk)] = _class_probabilities(
            predict_probabilities, batch, class_index
        )
    drops = (baseline - occluded_probabilities).reshape(len(positions_y), len(positions_x))

    # Limitation: averaging over overlapping patches blurs the map by up to one patch width around a sharp region.
    drop_sums = np.zeros((height, width), dtype=np.float64)
    cover_counts = np.zeros((height, width), dtype=np.int64)
    for (y, x), drop in zip(corners, drops.reshape(-1)):
        drop_sums[y : y + patch, x : x + patch] += drop
        cover_counts[y : y + patch, x : x + patch] += 1
    pixel_map = drop_sums / cover_counts

    return OcclusionResult(
        class_index=class_index,
        baseline=baseline,
        drops=drops,
        positions_y=positions_y,
        positions_x=positions_x,
        pixel_map=pixel_map,
        patch=patch,
        stride=stride,
        fill=fill,
    )
