"""Typed build settings, read from ``EDITION_*`` environment variables.

Every field carries its environment variable, its help text and its
validation, so ``ccs-transfer settings`` and the README list the same thing.
A wrong value raises :class:`SettingsError` naming the variable and the values
it accepts.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import SettingsError

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def _setting(variable: str, help: str, default: Any, parse: Callable[[str, str], Any]) -> Any:
    metadata = {"variable": variable, "help": help, "parse": parse}
    if callable(default):
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)


def _parse_path(variable: str, text: str) -> Path:
    if not text.strip():
        raise SettingsError(f"{variable} is set but empty.", f"unset {variable} or give it a folder path.")
    return Path(text).expanduser().resolve()


def _parse_optional_path(variable: str, text: str) -> Path | None:
    return _parse_path(variable, text) if text.strip() else None


def _parse_int_at_least(minimum: int) -> Callable[[str, str], int]:
    def parse(variable: str, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise SettingsError(
                f"{variable}={text!r} is not a whole number.",
                f"set {variable} to a whole number of at least {minimum}.",
            ) from None
        if value < minimum:
            raise SettingsError(
                f"{variable}={value} is below the minimum of {minimum}.",
                f"set {variable} to a whole number of at least {minimum}.",
            )
        return value

    return parse


def _parse_model_id(variable: str, text: str) -> str:
    # Checked against the registry when the model is resolved, so that the
    # message can list the registry's ids; here only the form is checked.
    value = text.strip()
    if not value or any(character.isspace() for character in value):
        raise SettingsError(
            f"{variable}={text!r} is not a model id.",
            "run `ccs-transfer models` to list the model ids.",
        )
    return value


def _parse_bool(variable: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{variable}={text!r} is not a boolean.", f"set {variable} to 1 or 0.")


def _default_cache_dir() -> Path:
    # In a checkout (the package installed in editable mode), the CLI and the
    # book share the checkout's .cache, so a model is converted only once.
    if (REPOSITORY_ROOT / "_config.yml").is_file():
        return REPOSITORY_ROOT / ".cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ccs-transfer"


@dataclass(frozen=True)
class Settings:
    """The settings of one build or one CLI run."""

    data_dir: Path | None = _setting(
        "EDITION_DATA_DIR",
        "Local data mirror: a folder with grace_hopper_tutorial.jpg and "
        "flower_photos/<class>/*.jpg (optionally flower_photos.sha256). "
        "Unset, the flower photos are downloaded, which needs network.",
        None,
        _parse_optional_path,
    )
    model: str = _setting(
        "EDITION_MODEL",
        "Model id from the registry, used by every page of the build.",
        "efficientnet_lite0",
        _parse_model_id,
    )
    registry: Path | None = _setting(
        "EDITION_REGISTRY",
        "Model registry file (YAML, the fields of the packaged models.yml) used instead of the "
        "packaged one, for example to add a reader's own SavedModel. Unset, the packaged registry is used.",
        None,
        _parse_optional_path,
    )
    cache_dir: Path = _setting(
        "EDITION_CACHE_DIR",
        "Folder for converted SavedModels, feature vectors and trained heads "
        "(default: .cache in a checkout, else ~/.cache/ccs-transfer).",
        _default_cache_dir,
        _parse_path,
    )
    build_dir: Path = _setting(
        "EDITION_BUILD_DIR",
        "The book's build folder; executed pages write their provenance records below it.",
        lambda: REPOSITORY_ROOT / "_build",
        _parse_path,
    )
    models_dir: Path | None = _setting(
        "EDITION_MODELS_DIR",
        "Local mirror of staged hub models (written by `ccs-transfer stage`).",
        None,
        _parse_optional_path,
    )
    epochs: int = _setting(
        "EDITION_EPOCHS",
        "Training epochs of the classification head (the tutorial uses 10).",
        10,
        _parse_int_at_least(1),
    )
    seed: int = _setting(
        "EDITION_SEED",
        "Seed for the train/validation split, weight initialisation and shuffling.",
        123,
        _parse_int_at_least(0),
    )
    batch_size: int = _setting(
        "EDITION_BATCH_SIZE",
        "Photos per batch for feature extraction and training.",
        32,
        _parse_int_at_least(1),
    )
    max_image_pixels: int = _setting(
        "EDITION_MAX_IMAGE_PIXELS",
        "Largest image, in pixels (width x height), that is decoded; larger ones are rejected.",
        40_000_000,
        _parse_int_at_least(1),
    )
    allow_network: bool = _setting(
        "EDITION_ALLOW_NETWORK",
        "1 lets the build download hub models and the flower archive; 0 keeps it offline.",
        True,
        _parse_bool,
    )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Build settings from ``environ`` (default ``os.environ``), then apply ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for settings_field in dataclasses.fields(cls):
            variable = settings_field.metadata["variable"]
            if variable in environ:
                values[settings_field.name] = settings_field.metadata["parse"](variable, environ[variable])
        values.update(overrides)
        return cls(**values)

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """Return (variable, default, help) for every setting, for the README and the CLI."""
        rows = []
        for settings_field in dataclasses.fields(cls):
            if settings_field.default is not dataclasses.MISSING:
                default = repr(settings_field.default)
            else:
                default = str(settings_field.default_factory())
            rows.append((settings_field.metadata["variable"], default, settings_field.metadata["help"]))
        return rows


def current_settings(**overrides: Any) -> Settings:
    """Read the settings of this process from its environment."""
    return Settings.from_environment(**overrides)
