"""Tests of the list of people photographs shipped by installed packages."""

from __future__ import annotations

from importlib import util

import numpy as np
import pytest
from PIL import Image

from ccs_transfer.evidence.people import load_people_photo, people_photos

HAS_SKIMAGE = util.find_spec("skimage") is not None


def test_people_photos_exist_and_open():
    photos = people_photos()

    assert photos, "matplotlib's grace_hopper.jpg should always be found"
    for photo in photos:
        assert photo.path.is_file(), photo.id
        with Image.open(photo.path) as image:
            image.verify()
        assert "site-packages" in photo.path.parts or "dist-packages" in photo.path.parts
        assert photo.description
        assert photo.licence_note


def test_people_photo_ids():
    ids = [photo.id for photo in people_photos()]

    assert ids[0] == "matplotlib_grace_hopper"
    if HAS_SKIMAGE:
        assert ids == ["matplotlib_grace_hopper", "skimage_astronaut", "skimage_camera"]


@pytest.mark.skipif(not HAS_SKIMAGE, reason="scikit-image not installed")
def test_people_photos_require_all():
    assert len(people_photos(require_all=True)) == 3


def test_load_people_photo_shapes():
    expected = {
        "matplotlib_grace_hopper": (600, 512, 3),
        "skimage_astronaut": (512, 512, 3),
        "skimage_camera": (512, 512, 3),
    }
    for photo in people_photos():
        pixels = load_people_photo(photo)

        assert pixels.shape == expected[photo.id]
        assert pixels.dtype == np.float32
        assert 0.0 <= pixels.min() <= pixels.max() <= 1.0
