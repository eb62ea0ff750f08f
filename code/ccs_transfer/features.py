"""Run a model over many photos in batches, caching one vector per (model, photo).

Used for the flower photos' feature vectors (the frozen extractor's output,
computed once and reused by every epoch and every page) and for the
ImageNet classifier's logits on the same photos.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from .datasets import Photo
from .images import load_photo, resize_whole
from .vector_cache import VectorCache


def batched_model_outputs(
    run_batch: Callable[[np.ndarray], np.ndarray],
    photos: Sequence[Photo],
    *,
    input_size: int,
    batch_size: int,
    cache_folder: Path,
    cache_key: str,
    description: str,
    progress: bool = True,
    resample: int = Image.BILINEAR,
    max_pixels: int | None = None,
) -> np.ndarray:
    """Return one output row per photo, in order, computing only the rows missing from the cache.

    ``run_batch`` maps a float32 batch [n, size, size, 3] in [0, 1] to [n, d].
    Each photo is resized whole to ``input_size``, as the tutorial's
    ``image_dataset_from_directory`` does.
    """
    cache = VectorCache(cache_folder, cache_key)
    stored = cache.load()
    missing = [photo for photo in dict((p.sha256, p) for p in photos).values() if photo.sha256 not in stored]
    computed: dict[str, np.ndarray] = {}
    with tqdm(total=len(missing), desc=description, unit="photo", disable=not progress or not missing) as bar:
        for start in range(0, len(missing), batch_size):
            chunk = missing[start:start + batch_size]
            pixels = [resize_whole(load_photo(photo.path, max_pixels=max_pixels), input_size, resample=resample) for photo in chunk]
            if len(pixels) == 1:
                # TensorFlow 2.21's oneDNN kernels give a batch of one other low
                # bits (about 2e-6) than any larger batch. So a lone photo runs
                # twice and keeps its first row, and every photo gets the same
                # vector whatever the cache already held.
                pixels.append(pixels[0])
            batch = np.stack(pixels).astype(np.float32)
            outputs = np.asarray(run_batch(batch), dtype=np.float32)[: len(chunk)]
            for photo, row in zip(chunk, outputs):
                computed[photo.sha256] = row
            bar.update(len(chunk))
    cache.merge(computed)
    stored.update(computed)
    return np.stack([stored[photo.sha256] for photo in photos])
