"""Provenance: what model, labels, photos, libraries and seed produced a page's outputs.

Each executed page writes one JSON record into
``<EDITION_BUILD_DIR>/provenance/<build fingerprint>/<page>.json`` and shows the
same facts in a box. When the book is built, ``sphinx_edition`` merges the
records of the current fingerprint into ``_build/html/provenance.json``.
Records hold no clock time apart from the build date, so two builds of the
same inputs give identical records.
"""

from __future__ import annotations

import datetime as _datetime
import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .settings import Settings

FINGERPRINT_VARIABLE = "EDITION_FINGERPRINT"
BUILD_DATE_VARIABLE = "EDITION_BUILD_DATE"
UNBUILT_FINGERPRINT = "unbuilt"
LIBRARIES = ("tensorflow", "tf-keras", "tensorflow-hub", "numpy", "pillow", "matplotlib", "jupyter-book", "myst-nb")


def build_date() -> str:
    """Return the build date (UTC, ``YYYY-MM-DD``) set by the build, or today's."""
    return os.environ.get(BUILD_DATE_VARIABLE) or _datetime.datetime.now(_datetime.timezone.utc).date().isoformat()


def build_fingerprint() -> str:
    return os.environ.get(FINGERPRINT_VARIABLE, UNBUILT_FINGERPRINT)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "ccs-transfer": __version__}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def records_folder(settings: Settings, fingerprint: str | None = None) -> Path:
    return settings.build_dir / "provenance" / (fingerprint or build_fingerprint())


def page_record(page: str, edition, *, photos: Iterable[Any] = (), results: dict[str, Any] | None = None, data: dict | None = None) -> dict[str, Any]:
    """Assemble a page's provenance record from the edition and the photos the page read."""
    record = {
        "page": page,
        "edition_version": __version__,
        "build_date": build_date(),
        **edition.provenance(),
        "photos": [{"name": p.name, "path": str(p.path), "sha256": p.sha256, "origin": p.origin} for p in photos],
        "libraries": library_versions(),
        "results": results or {},
    }
    if data is not None:
        record["data"] = data
    return record


def write_page_record(record: dict[str, Any], settings: Settings) -> Path:
    """Write ``record`` atomically as ``<page>.json`` in this build's records folder."""
    folder = records_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{record['page'].replace('/', '__')}.json"
    descriptor, temporary = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump(record, stream, indent=2, sort_keys=True)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _short(digest: str) -> str:
    return f"`{digest[:16]}…`" if len(digest) > 16 else f"`{digest}`"


def provenance_markdown(record: dict[str, Any]) -> str:
    """Render a record as a MyST admonition for the page."""
    model = record["model"]
    lines = [
        ":::{admonition} Provenance of this page's outputs",
        ":class: provenance dropdown",
        "",
        f"- **Model:** {model['title']} (`{model['id']}`, {model['source']})",
        f"- **Classifier handle:** `{model['classifier_handle']}`",
        f"- **Feature-vector handle:** `{model['feature_vector_handle']}`",
        f"- **Weights sha256:** `{model['weights_sha256']}` ({model['weights_sha256_of']})",
    ]
    for kind, title in (("classifier", "Classifier"), ("feature_vector", "Feature-vector")):
        converted = model.get(kind, {})
        if "savedmodel_sha256" in converted:
            lines.append(f"- **{title} SavedModel sha256:** {_short(converted['savedmodel_sha256'])} ({converted['savedmodel_sha256_of']})")
    lines.append(
        f"- **Labels:** {record['labels']['name']}, {record['labels']['size']} names from `{record['labels']['source']}` (sha256 {_short(record['labels']['sha256'])})"
    )
    for photo in record["photos"]:
        lines.append(f"- **Photo `{photo['name']}`:** sha256 `{photo['sha256']}` ({photo['origin']})")
    if "data" in record:
        data = record["data"]
        lines.append(
            f"- **Flower photos:** {data['photos']} photos, {data['origin']}; collection sha256 {_short(data['collection_sha256'])}; "
            f"manifest verified: {'yes' if data['manifest_verified'] else 'no manifest'}"
        )
    libraries = ", ".join(f"{name} {version}" for name, version in record["libraries"].items())
    lines += [
        f"- **Seed:** {record['seed']}; **epochs:** {record['epochs']}",
        f"- **Libraries:** {libraries}",
        f"- **Edition:** {record['edition_version']}, built {record['build_date']}",
        ":::",
    ]
    return "\n".join(lines)


def show_provenance(record: dict[str, Any], settings: Settings):
    """Write the record and return the box to display as the cell's output."""
    from IPython.display import Markdown

    write_page_record(record, settings)
    return Markdown(provenance_markdown(record))


def merge_records(folder: Path) -> dict[str, Any]:
    """Merge a build's page records into the document written as ``provenance.json``."""
    pages = {}
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        pages[record["page"]] = record
    merged: dict[str, Any] = {"edition_version": __version__, "built_at": build_date(), "fingerprint": folder.name, "pages": pages}
    if pages:
        first = next(iter(pages.values()))
        merged["model"] = first["model"]
        merged["labels"] = first["labels"]
        merged["seed"] = first["seed"]
        merged["epochs"] = first["epochs"]
        merged["libraries"] = first["libraries"]
        data = [r["data"] for r in pages.values() if "data" in r]
        if data:
            merged["data"] = data[0]
        merged["results"] = {page: record["results"] for page, record in pages.items() if record["results"]}
    return merged
