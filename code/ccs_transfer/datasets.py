"""The photos the edition runs on: the flower collection and the Grace Hopper portrait.

A local data mirror (``EDITION_DATA_DIR``) has this layout::

    grace_hopper_tutorial.jpg          optional: the tutorial's copy of the portrait
    flower_photos/<class>/*.jpg        one folder per class
    flower_photos.sha256               optional: sha256sum manifest, paths relative to flower_photos/

Without a mirror the flower archive is downloaded through ``keras.utils.get_file``,
which needs network.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataDirectoryError, IntegrityError
from .integrity import read_manifest, sha256_file
from .settings import Settings

FLOWERS_FOLDER = "flower_photos"
FLOWERS_MANIFEST = "flower_photos.sha256"
FLOWERS_ARCHIVE_URL = "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"
GRACE_HOPPER_TUTORIAL_FILE = "grace_hopper_tutorial.jpg"
GRACE_HOPPER_TUTORIAL_URL = "https://storage.googleapis.com/download.tensorflow.org/example_images/grace_hopper.jpg"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")

_LAYOUT = (
    "a folder containing flower_photos/<class>/*.jpg "
    "(and optionally grace_hopper_tutorial.jpg and flower_photos.sha256)"
)
_LAYOUT_HELP = f"set EDITION_DATA_DIR to {_LAYOUT}, or allow the download with EDITION_ALLOW_NETWORK=1 on a machine with network."
_MIRROR_HELP = f"point EDITION_DATA_DIR at {_LAYOUT}."
# The smallest class that still leaves photos of every class for training and,
# with the 80/20 split, at least two validation photos in all.
MIN_PHOTOS_PER_CLASS = 5


@dataclass(frozen=True)
class Photo:
    """One photo of a labelled collection."""

    path: Path
    relative_path: str
    label_index: int
    sha256: str


@dataclass(frozen=True)
class FlowerCollection:
    """The flower photos, their class names and how they were verified."""

    root: Path
    class_names: tuple[str, ...]
    photos: tuple[Photo, ...]
    origin: str
    manifest_verified: bool
    collection_sha256: str

    def counts(self) -> dict[str, int]:
        counts = {name: 0 for name in self.class_names}
        for photo in self.photos:
            counts[self.class_names[photo.label_index]] += 1
        return counts

    def provenance(self) -> dict:
        return {
            "root": str(self.root),
            "origin": self.origin,
            "photos": len(self.photos),
            "classes": list(self.class_names),
            "counts": self.counts(),
            "manifest_verified": self.manifest_verified,
            "collection_sha256": self.collection_sha256,
        }


def _check_inside(path: Path, root: Path) -> None:
    """Reject a symbolic link that leads outside ``root``."""
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(root.resolve()):
            raise DataDirectoryError(
                f"{path} is a symbolic link to {target}, outside the data directory {root}.",
                "replace the link with the file itself, or remove it.",
            )


def _hash_photo(path: Path) -> str:
    try:
        return sha256_file(path)
    except OSError as error:
        raise DataDirectoryError(
            f"Cannot read the photo {path}: {error.strerror or error}.", "check its permissions, or remove it."
        ) from None


def _download_flowers() -> Path:
    from .tf_runtime import load_tensorflow

    keras = load_tensorflow().keras
    try:
        archive_folder = keras.utils.get_file("flower_photos", FLOWERS_ARCHIVE_URL, untar=True)
    except Exception as error:  # get_file raises URLError, HTTPError or OSError depending on the failure.
        raise DataDirectoryError(f"Downloading the flower archive from {FLOWERS_ARCHIVE_URL} failed: {error}.", _LAYOUT_HELP) from None
    return Path(archive_folder)


def locate_flowers(settings: Settings) -> tuple[Path, str, Path | None]:
    """Return (flower folder, origin description, manifest path or None)."""
    if settings.data_dir is not None:
        data_dir = settings.data_dir
        if not data_dir.exists():
            raise DataDirectoryError(f"The data directory EDITION_DATA_DIR={data_dir} does not exist.", _MIRROR_HELP)
        if not data_dir.is_dir():
            raise DataDirectoryError(f"The data directory EDITION_DATA_DIR={data_dir} is a file, not a folder.", _MIRROR_HELP)
        root = data_dir / FLOWERS_FOLDER
        if not root.is_dir():
            raise DataDirectoryError(f"The data directory {data_dir} has no {FLOWERS_FOLDER}/ folder.", _MIRROR_HELP)
        _check_inside(root, data_dir)
        manifest = data_dir / FLOWERS_MANIFEST
        return root, f"local mirror {data_dir}", manifest if manifest.is_file() else None
    if not settings.allow_network:
        raise DataDirectoryError("No data directory is set (EDITION_DATA_DIR) and the network is off.", _LAYOUT_HELP)
    return _download_flowers(), f"downloaded from {FLOWERS_ARCHIVE_URL}", None


def load_flower_collection(settings: Settings) -> FlowerCollection:
    """List, hash and (when a manifest exists) verify every flower photo."""
    root, origin, manifest_path = locate_flowers(settings)
    class_folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_folders) < 2:
        raise DataDirectoryError(f"{root} has {len(class_folders)} class folder(s); at least 2 are needed.", _MIRROR_HELP)
    photos: list[Photo] = []
    for label_index, folder in enumerate(class_folders):
        _check_inside(folder, root)
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() not in PHOTO_SUFFIXES:
                continue
            _check_inside(path, root)
            if not path.is_file():
                raise DataDirectoryError(f"{path} has a photo's name but is not a file.", "move or rename it.")
            relative = path.relative_to(root).as_posix()
            photos.append(Photo(path, relative, label_index, _hash_photo(path)))
    if not photos:
        raise DataDirectoryError(f"{root} has class folders but no photos.", _MIRROR_HELP)
    if manifest_path is not None:
        _verify_against_manifest(photos, read_manifest(manifest_path), manifest_path)
    digest = hashlib.sha256("".join(f"{p.sha256}  {p.relative_path}\n" for p in photos).encode("utf-8")).hexdigest()
    return FlowerCollection(root, tuple(f.name for f in class_folders), tuple(photos), origin, manifest_path is not None, digest)


def _verify_against_manifest(photos: list[Photo], manifest: dict[str, str], manifest_path: Path) -> None:
    mismatched = [p.relative_path for p in photos if manifest.get(p.relative_path, p.sha256) != p.sha256]
    unlisted = [p.relative_path for p in photos if p.relative_path not in manifest]
    found = {p.relative_path for p in photos}
    missing = sorted(name for name in manifest if name not in found)
    if mismatched or unlisted or missing:
        problems = []
        if missing:
            problems.append(f"{len(missing)} photo(s) listed in the manifest are missing: {', '.join(missing[:5])}")
        if mismatched:
            problems.append(f"{len(mismatched)} photo(s) differ from their recorded hash: {', '.join(mismatched[:5])}")
        if unlisted:
            problems.append(f"{len(unlisted)} photo(s) are not in the manifest: {', '.join(unlisted[:5])}")
        raise IntegrityError(
            f"The flower photos do not match {manifest_path}: " + "; ".join(problems) + ".",
            "restore the original photos, or regenerate the manifest if the change is intended.",
        )


def split_train_validation(
    collection: FlowerCollection, validation_fraction: float = 0.2, seed: int = 123
) -> tuple[list[Photo], list[Photo]]:
    """Shuffle the photos with ``seed`` and keep the last ``validation_fraction`` for validation.

    Raises DataDirectoryError when a class has fewer than MIN_PHOTOS_PER_CLASS photos.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be between 0 and 1, not {validation_fraction}.")
    small = {name: count for name, count in collection.counts().items() if count < MIN_PHOTOS_PER_CLASS}
    if small:
        listed = ", ".join(f"{name} ({count})" for name, count in small.items())
        raise DataDirectoryError(
            f"Too few photos to train and validate a head: {listed} in {collection.root}; "
            f"every class needs at least {MIN_PHOTOS_PER_CLASS}.",
            "add photos to those class folders, or remove the folders.",
        )
    order = np.random.default_rng(seed).permutation(len(collection.photos))
    shuffled = [collection.photos[i] for i in order]
    validation_count = int(round(len(shuffled) * validation_fraction))
    return shuffled[:-validation_count], shuffled[-validation_count:]


@dataclass(frozen=True)
class PortraitCopy:
    """One copy of the Grace Hopper portrait."""

    name: str
    path: Path
    sha256: str
    origin: str


def grace_hopper_copies(settings: Settings) -> list[PortraitCopy]:
    """Return matplotlib's copy of the portrait, then the tutorial's copy when the mirror has it."""
    import matplotlib

    bundled = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not bundled.is_file():
        raise DataDirectoryError(f"matplotlib's sample photo {bundled} is missing.", "reinstall matplotlib (`make venv`).")
    copies = [PortraitCopy("matplotlib", bundled, sha256_file(bundled), f"matplotlib {matplotlib.__version__} sample data")]
    if settings.data_dir is not None:
        tutorial_copy = settings.data_dir / GRACE_HOPPER_TUTORIAL_FILE
        if tutorial_copy.is_file():
            _check_inside(tutorial_copy, settings.data_dir)
            copies.append(PortraitCopy("tutorial", tutorial_copy, sha256_file(tutorial_copy), f"local mirror (from {GRACE_HOPPER_TUTORIAL_URL})"))
    return copies
