"""On-disk cache of per-photo vectors (feature vectors or logits), keyed by the photo's sha256.

One ``.npz`` file holds every vector computed for one (model, output kind,
preprocessing) key. New photos are computed and merged in; a vector is never
computed twice for the same key and photo. Writes go to a temporary file that
is renamed into place under a file lock, so a killed run or a concurrent build
never leaves a half-written cache file.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
from filelock import FileLock

logger = logging.getLogger(__name__)


class VectorCache:
    """The vectors of one cache key, stored in ``<folder>/<key>.npz``."""

    def __init__(self, folder: Path, key: str):
        self.path = Path(folder) / f"{key}.npz"
        self._lock = FileLock(str(self.path) + ".lock")

    def load(self) -> dict[str, np.ndarray]:
        """Return {photo sha256: vector}; an unreadable cache file counts as empty and is replaced later."""
        if not self.path.is_file():
            return {}
        try:
            with np.load(self.path, allow_pickle=False) as stored:
                keys = [str(k) for k in stored["sha256"]]
                vectors = stored["vectors"]
        except (OSError, ValueError, KeyError) as error:
            logger.warning("Vector cache %s is damaged (%s); recomputing it.", self.path, error)
            return {}
        return dict(zip(keys, vectors))

    def merge(self, new_vectors: dict[str, np.ndarray]) -> None:
        """Add ``new_vectors`` to the cache file atomically."""
        if not new_vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            merged = self.load()
            merged.update(new_vectors)
            keys = sorted(merged)
            descriptor, temporary = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(descriptor, "wb") as stream:
                    np.savez(stream, sha256=np.array(keys), vectors=np.stack([merged[k] for k in keys]))
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
