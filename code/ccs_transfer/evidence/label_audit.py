"""Audit of a labelled photo collection laid out as ``<root>/<class>/<photo>``.

The audit reads every photo once and reports:

- exact duplicates: files with the same sha256, within a class or across classes;
- near duplicates: pairs whose 64-bit difference hashes (:mod:`.dhash`)
  differ in at most ``near_threshold`` bits, leaving out pairs that are
  exact duplicates;
- photos filed under more than one class, by exact hash, by near hash and
  by file name;
- class balance and the distribution of image sizes and colour modes;
- files that could not be decoded, and paths that were rejected because
  they are symlinks leading out of the root.

The default threshold of 5 bits comes from looking at the pairs found in the
4,064 photos of the TensorFlow flower collection. At distances 0-5 they were
recoloured, greyscale or resized copies of one photo, or shots from one
burst. At distance 6 some pairs showed different flowers. The collection is
only read, never written.
"""

from __future__ import annotations

import hashlib
import io
import struct
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataDirectoryError
from ..settings import Settings
from .dhash import HASH_BITS, difference_hash, pairs_within

# Limitation: the threshold was chosen by eye on one collection of 227 x 227 flower photos.
DEFAULT_NEAR_THRESHOLD = 5
# The default of EDITION_MAX_IMAGE_PIXELS; pages pass their settings' value.
DEFAULT_MAX_IMAGE_PIXELS: int = Settings.max_image_pixels
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
# JPEGs are decoded at a reduced DCT scale of at least this size, which is
# enough for a 9 x 8 hash and about twice as fast as a full decode.
_DRAFT_SIZE = (36, 32)
# Limitation: draft decoding shifts a JPEG's hash against a full decode (mean 1.05 bits, max 8 on the 4,064
# flower photos), so a PNG copy of the same picture or another Pillow version can change a distance.


@dataclass(frozen=True)
class ImageRecord:
    """One decoded photo. ``path`` is relative to the collection root, with forward slashes."""

    path: str
    class_name: str
    sha256: str
    size_bytes: int
    width: int
    height: int
    mode: str
    dhash: int

    @property
    def file_name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class UnreadableFile:
    """A photo that could not be read or decoded, with its sha256 when the bytes were read."""

    path: str
    class_name: str
    reason: str
    sha256: str | None


@dataclass(frozen=True)
class RejectedPath:
    """A path that was not read, such as a symlink that leads out of the root."""

    path: str
    reason: str


@dataclass(frozen=True)
class DuplicateGroup:
    """Files with identical bytes."""

    sha256: str
    paths: tuple[str, ...]
    classes: tuple[str, ...]

    @property
    def cross_class(self) -> bool:
        return len(self.classes) > 1


@dataclass(frozen=True)
class NearDuplicatePair:
    """Two files with different bytes whose difference hashes are within the threshold."""

    path_a: str
    path_b: str
    class_a: str
    class_b: str
    distance: int

    @property
    def cross_class(self) -> bool:
        return self.class_a != self.class_b


@dataclass(frozen=True)
class NameClash:
    """One file name that occurs in more than one class folder."""

    file_name: str
    paths: tuple[str, ...]
    classes: tuple[str, ...]
    same_content: bool


@dataclass
class CollectionAudit:
    """Findings of :func:`audit_collection` for one collection root."""

    root: str
    classes: tuple[str, ...]
    class_counts: dict[str, int]
    records: list[ImageRecord]
    exact_duplicates: list[DuplicateGroup]
    near_duplicates: list[NearDuplicatePair]
    near_threshold: int
    name_clashes: list[NameClash]
    size_counts: dict[tuple[int, int], int]
    mode_counts: dict[str, int]
    unreadable: list[UnreadableFile] = field(default_factory=list)
    rejected: list[RejectedPath] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1

    @property
    def file_count(self) -> int:
        """Photo files found in class folders, readable or not."""
        return sum(self.class_counts.values())

    @property
    def cross_class_exact(self) -> list[DuplicateGroup]:
        return [group for group in self.exact_duplicates if group.cross_class]

    @property
    def cross_class_near(self) -> list[NearDuplicatePair]:
        return [pair for pair in self.near_duplicates if pair.cross_class]

    @property
    def redundant_exact_copies(self) -> int:
        """Files that could be deleted while keeping one copy of each duplicate group."""
        return sum(len(group.paths) - 1 for group in self.exact_duplicates)

    def summary(self) -> dict[str, int]:
        """Return the headline counts as one flat dictionary, for a table."""
        return {
            "files": self.file_count,
            "decoded": len(self.records),
            "unreadable": len(self.unreadable),
            "rejected": len(self.rejected),
            "exact duplicate groups": len(self.exact_duplicates),
            "redundant exact copies": self.redundant_exact_copies,
            "exact groups across classes": len(self.cross_class_exact),
            "near-duplicate pairs": len(self.near_duplicates),
            "near pairs across classes": len(self.cross_class_near),
            "file names in several classes": len(self.name_clashes),
            "distinct image sizes": len(self.size_counts),
        }


def _is_inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _collect_files(root: Path) -> tuple[list[tuple[str, Path]], list[str], list[RejectedPath], list[str]]:
    """List (class, path) of photo files, the class names, rejected and skipped paths."""
    files: list[tuple[str, Path]] = []
    classes: list[str] = []
    rejected: list[RejectedPath] = []
    skipped: list[str] = []
    for entry in sorted(root.iterdir()):
        relative = entry.relative_to(root).as_posix()
        if entry.is_symlink() and not _is_inside(entry.resolve(), root):
            rejected.append(RejectedPath(relative, f"symlink to {entry.resolve()}, outside the root"))
            continue
        if not entry.is_dir():
            skipped.append(relative)
            continue
        if entry.name.startswith("."):
            skipped.append(relative)
            continue
        classes.append(entry.name)
        for candidate in sorted(entry.iterdir()):
            candidate_relative = candidate.relative_to(root).as_posix()
            if candidate.is_symlink() and not _is_inside(candidate.resolve(), root):
                rejected.append(RejectedPath(candidate_relative, f"symlink to {candidate.resolve()}, outside the root"))
            elif candidate.is_file() and candidate.suffix.lower() in IMAGE_SUFFIXES and not candidate.name.startswith("."):
                files.append((entry.name, candidate))
            else:
                skipped.append(candidate_relative)
    return files, classes, rejected, skipped


def _read_photo(root: Path, class_name: str, path: Path, max_image_pixels: int) -> ImageRecord | UnreadableFile:
    relative = path.relative_to(root).as_posix()
    try:
        data = path.read_bytes()
    except OSError as error:
        return UnreadableFile(relative, class_name, f"cannot read: {error.strerror}", None)
    sha256 = hashlib.sha256(data).hexdigest()
    # Pillow raises OSError (UnidentifiedImageError included) for truncated or unknown data,
    # and SyntaxError or struct.error for some malformed PNG and TIFF headers.
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            mode = image.mode
            if width * height > max_image_pixels:
                return UnreadableFile(
                    relative, class_name, f"{width} x {height} pixels exceeds the limit of {max_image_pixels}", sha256
                )
            if image.format == "JPEG":
                image.draft("L", _DRAFT_SIZE)
            image_hash = difference_hash(image)
    except (OSError, SyntaxError, ValueError, struct.error, Image.DecompressionBombError) as error:
        return UnreadableFile(relative, class_name, f"cannot decode: {error}", sha256)
    return ImageRecord(relative, class_name, sha256, len(data), width, height, mode, image_hash)


def _exact_groups(entries: list[tuple[str, str, str]]) -> list[DuplicateGroup]:
    """Group (path, class, sha256) entries with the same sha256, keeping groups of two or more."""
    by_hash: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for path, class_name, sha256 in entries:
        by_hash[sha256].append((path, class_name))
    groups = []
    for sha256, members in by_hash.items():
        if len(members) > 1:
            paths = tuple(sorted(path for path, _ in members))
            classes = tuple(sorted({class_name for _, class_name in members}))
            groups.append(DuplicateGroup(sha256, paths, classes))
    return sorted(groups, key=lambda group: group.paths)


# Limitation: pairs are listed per file, so a photo with k exact copies repeats each of its near pairs k times.
def _near_pairs(records: list[ImageRecord], threshold: int) -> list[NearDuplicatePair]:
    hashes = np.array([record.dhash for record in records], dtype=np.uint64)
    pairs = []
    for first, second, distance in pairs_within(hashes, threshold):
        record_a, record_b = records[first], records[second]
        if record_a.sha256 == record_b.sha256:
            continue
        pairs.append(NearDuplicatePair(record_a.path, record_b.path, record_a.class_name, record_b.class_name, distance))
    return sorted(pairs, key=lambda pair: (pair.distance, pair.path_a, pair.path_b))


def _name_clashes(entries: list[tuple[str, str, str | None]]) -> list[NameClash]:
    by_name: dict[str, list[tuple[str, str, str | None]]] = defaultdict(list)
    for path, class_name, sha256 in entries:
        by_name[path.rsplit("/", 1)[-1]].append((path, class_name, sha256))
    clashes = []
    for file_name, members in sorted(by_name.items()):
        classes = tuple(sorted({class_name for _, class_name, _ in members}))
        if len(classes) > 1:
            hashes = {sha256 for _, _, sha256 in members}
            same_content = len(hashes) == 1 and None not in hashes
            clashes.append(NameClash(file_name, tuple(sorted(path for path, _, _ in members)), classes, same_content))
    return clashes


def audit_collection(
    root: Path,
    *,
    near_threshold: int = DEFAULT_NEAR_THRESHOLD,
    workers: int = 2,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    progress: bool = False,
) -> CollectionAudit:
    """Audit the photo collection below ``root``; see the module docstring for what is reported.

    ``workers`` threads read and decode the photos (Pillow and hashlib release
    the GIL while they work). Files that fail to decode are listed in
    ``unreadable``, and symlinks leading out of ``root`` in ``rejected``.
    Raises :class:`DataDirectoryError` when ``root`` is missing, is not a
    folder or has no class folders.
    """
    if not 0 <= near_threshold <= HASH_BITS:
        raise ValueError(f"near_threshold={near_threshold} is outside 0-{HASH_BITS}.")
    if workers < 1:
        raise ValueError(f"workers={workers} must be at least 1.")
    root = Path(root)
    if not root.is_dir():
        raise DataDirectoryError(
            f"The photo collection {root} is missing or is not a folder.",
            "set EDITION_DATA_DIR to the data mirror, or pass the folder that holds the class folders.",
        )
    started = time.perf_counter()
    root = root.resolve()
    try:
        files, classes, rejected, skipped = _collect_files(root)
    except OSError as error:
        raise DataDirectoryError(
            f"Cannot list the photo collection {root}: {error.strerror}.",
            "check that the folder and its class folders are readable.",
        ) from None
    if not classes:
        raise DataDirectoryError(
            f"The photo collection {root} has no class folders.",
            "pass the folder whose subfolders are the classes, such as flower_photos.",
        )

    def read(item: tuple[str, Path]) -> ImageRecord | UnreadableFile:
        return _read_photo(root, item[0], item[1], max_image_pixels)

    with ThreadPoolExecutor(max_workers=workers) as executor:
        results = executor.map(read, files)
        if progress:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(files), desc="photos", unit="photo")
        outcomes = list(results)
    records = [outcome for outcome in outcomes if isinstance(outcome, ImageRecord)]
    unreadable = [outcome for outcome in outcomes if isinstance(outcome, UnreadableFile)]

    # Unreadable files still take part in the exact and file-name checks when their bytes were read.
    hashed = [(record.path, record.class_name, record.sha256) for record in records]
    hashed += [(item.path, item.class_name, item.sha256) for item in unreadable if item.sha256 is not None]
    every_file = hashed + [(item.path, item.class_name, None) for item in unreadable if item.sha256 is None]

    class_counts = Counter(class_name for class_name, _ in files)
    size_counts = Counter((record.width, record.height) for record in records)
    mode_counts = Counter(record.mode for record in records)
    return CollectionAudit(
        root=str(root),
        classes=tuple(classes),
        class_counts={class_name: class_counts.get(class_name, 0) for class_name in classes},
        records=records,
        exact_duplicates=_exact_groups(hashed),
        near_duplicates=_near_pairs(records, near_threshold),
        near_threshold=near_threshold,
        name_clashes=_name_clashes(every_file),
        size_counts=dict(size_counts.most_common()),
        mode_counts=dict(mode_counts.most_common()),
        unreadable=sorted(unreadable, key=lambda item: item.path),
        rejected=rejected,
        skipped=skipped,
        seconds=time.perf_counter() - started,
        workers=workers,
    )
