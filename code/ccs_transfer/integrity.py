"""File hashes and sha256 manifests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import DataDirectoryError, IntegrityError

_CHUNK_BYTES = 1 << 20


def sha256_file(path: Path | str) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(path: Path) -> dict[str, str]:
    """Read a ``sha256sum``-style manifest into {relative path: hex sha256}.

    Paths are normalised to forward slashes without a leading ``./``.
    """
    entries: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise DataDirectoryError(
            f"Cannot read the manifest {path}: {error.strerror}.",
            "restore the manifest or remove it to skip verification.",
        ) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        digest, separator, name = line.partition("  ")
        if not separator:
            digest, separator, name = line.partition(" *")
        digest = digest.strip().lower()
        if not separator or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise DataDirectoryError(
                f"{path}, line {number}: not a '<sha256>  <path>' line.",
                "regenerate the manifest with `sha256sum`.",
            )
        entries[name.strip().removeprefix("./")] = digest
    return entries


def verify_file(path: Path, expected_sha256: str, *, what: str = "file") -> str:
    """Hash ``path`` and raise :class:`IntegrityError` unless it matches; return the hash."""
    actual = sha256_file(path)
    if actual != expected_sha256.lower():
        raise IntegrityError(
            f"The {what} {path} has sha256 {actual}, but {expected_sha256} is recorded for it.",
            "restore the original file, or update the recorded hash if the change is intended.",
        )
    return actual
