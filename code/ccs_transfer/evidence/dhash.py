"""A 64-bit difference hash (dHash) for finding near-duplicate photos.

The image is converted to greyscale and resized with Lanczos filtering to
9 x 8 pixels. Each of the 64 bits records whether a pixel is brighter than
its left neighbour in the same row, so the hash follows the coarse
brightness gradients. Those survive re-encoding, small resizes and mild
colour changes, but not crops, flips or rotations. The Hamming distance
between two hashes (0-64) measures how different two photos look.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

HASH_WIDTH = 8
HASH_HEIGHT = 8
HASH_BITS = HASH_WIDTH * HASH_HEIGHT
_BIT_WEIGHTS = np.left_shift(np.uint64(1), np.arange(HASH_BITS - 1, -1, -1, dtype=np.uint64))


# Limitation: crops, mirror images and rotations of a photo get unrelated hashes, so they are not found as near duplicates.
def difference_hash(image: Image.Image) -> int:
    """Compute the 64-bit dHash of a PIL image, as an int with bit 63 for the top-left pair."""
    grey = image.convert("L").resize((HASH_WIDTH + 1, HASH_HEIGHT), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.int16)
    bits = (pixels[:, 1:] > pixels[:, :-1]).reshape(-1).astype(np.uint64)
    return int(np.sum(bits * _BIT_WEIGHTS, dtype=np.uint64))


def hamming_distance(first: int, second: int) -> int:
    """Count the bits in which two hashes differ."""
    return (first ^ second).bit_count()


def pairs_within(hashes: np.ndarray, threshold: int) -> list[tuple[int, int, int]]:
    """Return (i, j, distance) for every pair i < j whose hashes differ in at most ``threshold`` bits.

    ``hashes`` is a 1-D ``uint64`` array. The comparison runs one row at a
    time against all later hashes, so memory stays linear in the count.
    """
    hashes = np.asarray(hashes, dtype=np.uint64)
    if hashes.ndim != 1:
        raise ValueError(f"hashes must be a 1-D array, got shape {hashes.shape}.")
    if not 0 <= threshold <= HASH_BITS:
        raise ValueError(f"threshold={threshold} is outside 0-{HASH_BITS}.")
    pairs: list[tuple[int, int, int]] = []
    for first in range(len(hashes) - 1):
        distances = np.bitwise_count(hashes[first + 1 :] ^ hashes[first])
        for offset in np.flatnonzero(distances <= threshold):
            pairs.append((first, first + 1 + int(offset), int(distances[offset])))
    return pairs
