"""Photographs of people that installed Python packages ship as sample data.

The paths point into the installed packages: the edition never copies these
files into its repository. The licence notes repeat what each package
documents about the file (matplotlib 3.11 and scikit-image 0.26 were read).
Photos of packages that are not installed are left out, and with
``require_all=True`` they raise an error instead.

Other sample data was checked and left out. scikit-image's
``lfw_subset.npy`` holds 100 face crops of 25 x 25 pixels, which is too small
for an ImageNet classifier, and ``no_time_for_that_tiny.gif`` has 14 x 25
pixels. Its other bundled images show no people.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ImageError


@dataclass(frozen=True)
class PeoplePhoto:
    """One photograph of a person, as installed by a package."""

    id: str
    path: Path
    description: str
    source_package: str
    licence_note: str


@dataclass(frozen=True)
class _Candidate:
    id: str
    module: str
    distribution: str
    relative_path: str
    description: str
    licence_note: str


# Limitation: the descriptions are this edition's reading of each picture; only the licence notes come from the packages.
_CANDIDATES: tuple[_Candidate, ...] = (
    _Candidate(
        id="matplotlib_grace_hopper",
        module="matplotlib",
        distribution="matplotlib",
        relative_path="mpl-data/sample_data/grace_hopper.jpg",
        description=(
            "Grace Hopper in US Navy uniform and cap in front of a flag; colour portrait, 512 x 600 pixels."
        ),
        licence_note=(
            "matplotlib documents no licence for this sample file; the JPEG comment embedded in it "
            "gives its source as commons.wikimedia.org/wiki/File:Grace_Hopper.jpg."
        ),
    ),
    _Candidate(
        id="skimage_astronaut",
        module="skimage",
        distribution="scikit-image",
        relative_path="data/astronaut.png",
        description=(
            "Eileen Collins, NASA astronaut, in an orange flight suit with a helmet, a flag and a "
            "shuttle model behind her; colour portrait, 512 x 512 pixels."
        ),
        licence_note=(
            "skimage.data.astronaut: downloaded from the NASA Great Images database; no known "
            "copyright restrictions, released into the public domain."
        ),
    ),
    _Candidate(
        id="skimage_camera",
        module="skimage",
        distribution="scikit-image",
        relative_path="data/camera.png",
        description=(
            "A man in a dark coat looking through a camera on a tripod, on a lawn with buildings "
            "behind; greyscale, 512 x 512 pixels."
        ),
        licence_note="skimage.data.camera: no copyright restrictions, CC0 by the photographer (Lav Varshney).",
    ),
)


def _package_folder(module: str) -> Path | None:
    spec = util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def people_photos(*, require_all: bool = False) -> list[PeoplePhoto]:
    """List the photos of people shipped by the installed packages.

    With ``require_all=True`` a missing package or file raises
    :class:`ImageError` instead of being left out.
    """
    photos = []
    for candidate in _CANDIDATES:
        folder = _package_folder(candidate.module)
        path = folder / candidate.relative_path if folder is not None else None
        if path is None or not path.is_file():
            if require_all:
                raise ImageError(
                    path or candidate.relative_path,
                    f"sample photo {candidate.id} not found; is {candidate.distribution} installed?",
                    f"install {candidate.distribution} from requirements.txt.",
                )
            continue
        source = f"{candidate.distribution} {metadata.version(candidate.distribution)}"
        photos.append(PeoplePhoto(candidate.id, path, candidate.description, source, candidate.licence_note))
    return photos


def load_people_photo(photo: PeoplePhoto) -> np.ndarray:
    """Decode a photo as a float32 RGB array ``[H, W, 3]`` in ``[0, 1]`` (greyscale is repeated)."""
    try:
        with Image.open(photo.path) as image:
            rgb = image.convert("RGB")
    except OSError as error:
        raise ImageError(photo.path, f"cannot decode: {error}", "reinstall the package that ships it.") from None
    return np.asarray(rgb, dtype=np.float32) / 255.0
