"""On-disk cache of per-photo vectors (feature vectors or logits), keyed by the photo's sha256.

One ``.npz`` file contains every vector computed for one (model, output kind,
preprocessing) key. New photos are computed and merged in; a vector is never
computed twice for the same key and photo. Writes go to a temporary file that
is renamed into place under a file lock, so a killed run or a concurrent build
never leaves a half-written cache file.

The file name also carries :func:`preprocessing_fingerprint`, a hash of the
code and library versions that turn a photo file into a model input. Vectors
computed by other preprocessing code are therefore never mixed with this
build's vectors, so two builds of one commit read the same numbers whether the
cache was filled by this commit or an earlier one.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import logging
import os
import tempfile
import zipfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from filelock import FileLock

from .errors import EditionError

logger = logging.getLogger(__name__)

PACKAGE_FOLDER = Path(__file__).resolve().parent
# Modules that decide the model input of a photo: decoding, resizing and batching.
PREPROCESSING_MODULES = ("images", "features")
# Libraries whose versions change decoded pixels (Pillow, NumPy) or model outputs (TensorFlow's kernels).
PREPROCESSING_LIBRARIES = ("pillow", "numpy", "tensorflow")
# np.load raises these for a missing, truncated or corrupted .npz file (BadZipFile covers a bad CRC).
DAMAGED_NPZ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body and _is_docstring(node.body[0]):
            node.body = node.body[1:] or [ast.Pass()]
    return tree


def source_fingerprint(modules: Iterable[str], libraries: Iterable[str]) -> str:
    """Return 12 hex digits of sha256 over the code of package ``modules`` and the versions of ``libraries``.

    The code is hashed as its syntax tree without docstrings, so editing a
    comment or a docstring keeps the fingerprint, and any change to a statement
    changes it.
    """
    digest = hashlib.sha256()
    for name in modules:
        source = (PACKAGE_FOLDER / f"{name}.py").read_text(encoding="utf-8")
        digest.update(name.encode("utf-8"))
        digest.update(ast.dump(_strip_docstrings(ast.parse(source))).encode("utf-8"))
    for library in libraries:
        try:
            version = metadata.version(library)
        except metadata.PackageNotFoundError:
            version = "not installed"
        digest.update(f"{library}=={version}".encode("utf-8"))
    return digest.hexdigest()[:12]


# Limitation: the fingerprint does not cover the CPU, and TensorFlow's oneDNN kernels pick code paths by instruction set, so a cache copied from another machine can hold vectors that differ in the low bits.
@lru_cache(maxsize=1)
def preprocessing_fingerprint() -> str:
    """Return the fingerprint of the photo preprocessing code and libraries of this installation."""
    return source_fingerprint(PREPROCESSING_MODULES, PREPROCESSING_LIBRARIES)


class CacheWriteError(EditionError):
    """A cache file under EDITION_CACHE_DIR cannot be locked or written."""


def _write_failed(path: Path, error: OSError) -> CacheWriteError:
    return CacheWriteError(
        f"Cannot write the cache file {path}: {error.strerror or error}.",
        "free disk space, or set EDITION_CACHE_DIR to a writable folder.",
    )


@contextlib.contextmanager
def holding_cache_lock(lock: FileLock, path: Path) -> Iterator[None]:
    """Hold ``lock`` of the cache file ``path``; a lock that cannot be created raises :class:`CacheWriteError`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except OSError as error:
        raise _write_failed(path, error) from None
    try:
        yield
    finally:
        lock.release()


def write_npz_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as ``path`` (.npz) through a synced temporary file renamed into place.

    The temporary file is named ``<path name>*.tmp`` in the same folder, so a
    process killed before the rename leaves that file and never a partial
    ``path``. A failed write raises :class:`CacheWriteError` and leaves ``path`` as it was.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise _write_failed(path, error) from None
    try:
        with os.fdopen(descriptor, "wb") as stream:
            np.savez(stream, **arrays)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise _write_failed(path, error) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def remove_leftover_temporaries(path: Path) -> None:
    """Delete the temporary files of writes to ``path`` that were killed before their rename.

    Call only while holding ``path``'s lock: every writer holds it while its
    temporary file exists, so any temporary found then belongs to a dead process.
    """
    for leftover in path.parent.glob(f"{path.name}*.tmp"):
        leftover.unlink(missing_ok=True)


class VectorCache:
    """The vectors of one cache key, stored in ``<folder>/<key>-<preprocessing fingerprint>.npz``."""

    def __init__(self, folder: Path, key: str):
        self.path = Path(folder) / f"{key}-{preprocessing_fingerprint()}.npz"
        self._lock = FileLock(str(self.path) + ".lock")
        # (inode, size, mtime) of the damaged file last logged, so that merge's reload does not log it again.
        self._logged_damage: tuple[int, int, int] | None = None

    def _report_damage(self, reason: str) -> None:
        try:
            status = self.path.stat()
            identity = (status.st_ino, status.st_size, status.st_mtime_ns)
        except OSError:
            identity = None
        if identity is None or identity != self._logged_damage:
            logger.warning("Vector cache %s is damaged (%s), so its vectors are computed again.", self.path, reason)
        self._logged_damage = identity

    def load(self) -> dict[str, np.ndarray]:
        """Return {photo sha256: vector}; an unreadable cache file counts as empty and is replaced later."""
        if not self.path.is_file():
            return {}
        try:
            with np.load(self.path, allow_pickle=False) as stored:
                keys = [str(k) for k in stored["sha256"]]
                vectors = stored["vectors"]
        except DAMAGED_NPZ_ERRORS as error:
            self._report_damage(f"{type(error).__name__}: {error}")
            return {}
        if vectors.ndim != 2 or len(keys) != len(vectors):
            self._report_damage(f"{len(keys)} photo hashes for vectors of shape {vectors.shape}")
            return {}
        return dict(zip(keys, vectors))

    def merge(self, new_vectors: dict[str, np.ndarray]) -> None:
        """Add ``new_vectors`` to the cache file atomically."""
        if not new_vectors:
            return
        with holding_cache_lock(self._lock, self.path):
            remove_leftover_temporaries(self.path)
            merged = self.load()
            merged.update(new_vectors)
            keys = sorted(merged)
            write_npz_atomically(self.path, {"sha256": np.array(keys), "vectors": np.stack([merged[k] for k in keys])})
