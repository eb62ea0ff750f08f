"""The model registry: ``models.yml``, validated when it is loaded.

A registry entry names the two handles of one model (classifier and feature
vector) and everything a page needs to use them: input size, value range,
label vocabulary, licence and citation key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import RegistryError
from .labels import VOCABULARIES

SOURCES = ("embedded", "hub", "local")
_REQUIRED = {
    "id": str,
    "title": str,
    "source": str,
    "classifier_handle": str,
    "feature_vector_handle": str,
    "input_size": int,
    "value_range": list,
    "labels": str,
    "feature_size": int,
    "licence": str,
    "citation_key": str,
}
_OPTIONAL = {"alternative_handles": list}


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry."""

    id: str
    title: str
    source: str
    classifier_handle: str
    feature_vector_handle: str
    input_size: int
    value_range: tuple[float, float]
    labels: str
    feature_size: int
    licence: str
    citation_key: str
    alternative_handles: tuple[str, ...] = field(default_factory=tuple)

    @property
    def image_shape(self) -> tuple[int, int]:
        return (self.input_size, self.input_size)

    def provenance(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "source": self.source,
            "classifier_handle": self.classifier_handle,
            "feature_vector_handle": self.feature_vector_handle,
            "input_size": self.input_size,
            "value_range": list(self.value_range),
            "labels": self.labels,
            "licence": self.licence,
            "citation_key": self.citation_key,
        }


def _check_fields(entry: dict, where: str) -> None:
    """Raise unless ``entry`` has exactly the known fields, each of its expected type."""
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise RegistryError(
            f"{where}: unknown field(s) {', '.join(unknown)}.",
            f"use only: {', '.join(sorted(set(_REQUIRED) | set(_OPTIONAL)))}.",
        )

    for name, expected_type in _REQUIRED.items():
        if name not in entry:
            raise RegistryError(f"{where}: the field {name!r} is missing.")
        value = entry[name]
        if expected_type is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise RegistryError(f"{where}: {name!r} must be a whole number, found {value!r}.")
        if not isinstance(value, expected_type):
            raise RegistryError(f"{where}: {name!r} must be a {expected_type.__name__}, found {value!r}.")


def _validate_entry(position: int, entry: Any, origin: str) -> ModelSpec:
    where = f"{origin}, model #{position + 1}"
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: expected a mapping of fields, found {type(entry).__name__}.")
    if isinstance(entry.get("id"), str):
        where = f"{origin}, model {entry['id']!r}"
    _check_fields(entry, where)

    if entry["source"] not in SOURCES:
        raise RegistryError(f"{where}: source {entry['source']!r} is invalid.", f"use one of: {', '.join(SOURCES)}.")
    if entry["labels"] not in VOCABULARIES:
        raise RegistryError(
            f"{where}: labels {entry['labels']!r} is not a known vocabulary.",
            f"use one of: {', '.join(sorted(VOCABULARIES))}.",
        )
    if entry["input_size"] < 32 or entry["feature_size"] < 1:
        raise RegistryError(f"{where}: input_size must be at least 32 and feature_size at least 1.")

    value_range = entry["value_range"]
    if (
        len(value_range) != 2
        or not all(isinstance(bound, (int, float)) and not isinstance(bound, bool) for bound in value_range)
        or not value_range[0] < value_range[1]
    ):
        raise RegistryError(f"{where}: value_range must be [low, high] with low < high, found {value_range!r}.")

    alternatives = entry.get("alternative_handles", [])
    if not isinstance(alternatives, list) or not all(isinstance(handle, str) for handle in alternatives):
        raise RegistryError(f"{where}: alternative_handles must be a list of strings.")

    return ModelSpec(
        id=entry["id"],
        title=entry["title"],
        source=entry["source"],
        classifier_handle=entry["classifier_handle"],
        feature_vector_handle=entry["feature_vector_handle"],
        input_size=entry["input_size"],
        value_range=(float(value_range[0]), float(value_range[1])),
        labels=entry["labels"],
        feature_size=entry["feature_size"],
        licence=entry["licence"],
        citation_key=entry["citation_key"],
        alternative_handles=tuple(alternatives),
    )


def parse_registry(text: str, origin: str = "models.yml") -> dict[str, ModelSpec]:
    """Validate registry YAML and return its entries by id, in file order."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RegistryError(f"{origin} is not valid YAML: {error}.") from None
    if not isinstance(document, dict) or not isinstance(document.get("models"), list):
        raise RegistryError(f"{origin} must contain a top-level 'models:' list.")
    specs: dict[str, ModelSpec] = {}
    for position, entry in enumerate(document["models"]):
        spec = _validate_entry(position, entry, origin)
        if spec.id in specs:
            raise RegistryError(f"{origin}: the model id {spec.id!r} appears twice.")
        specs[spec.id] = spec
    if not specs:
        raise RegistryError(f"{origin} lists no models.")
    return specs


def load_registry(path: Path | None = None) -> dict[str, ModelSpec]:
    """Load the registry from ``path`` (default: the package's ``models.yml``)."""
    if path is None:
        return _packaged_registry()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise RegistryError(f"Cannot read the model registry {path}: {error.strerror}.") from None
    return parse_registry(text, str(path))


@lru_cache(maxsize=1)
def _packaged_registry() -> dict[str, ModelSpec]:
    text = resources.files("ccs_transfer").joinpath("models.yml").read_text(encoding="utf-8")
    return parse_registry(text, "ccs_transfer/models.yml")


def get_model_spec(model_id: str, registry: dict[str, ModelSpec] | None = None) -> ModelSpec:
    """Return the entry ``model_id``; an unknown id names the known ones."""
    registry = load_registry() if registry is None else registry
    try:
        return registry[model_id]
    except KeyError:
        raise RegistryError(
            f"Unknown model id {model_id!r} (EDITION_MODEL or MODEL=).",
            f"use one of: {', '.join(registry)}.",
        ) from None
