"""Tests of the people readings with a fake classifier whose logits are fixed."""

from __future__ import annotations

import numpy as np
import pytest

from ccs_transfer.evidence.people import people_photos
from ccs_transfer.evidence.people_readings import group_tally, read_people
from ccs_transfer.labels import imagenet1k

UNIFORM, TRIPOD, GROOM = 652, 872, 982


def _fake_logits(batch: np.ndarray) -> np.ndarray:
    """Every photo: military uniform first, tripod second, groom third."""
    logits = np.zeros((len(batch), 1000))
    logits[:, UNIFORM] = 9.0
    logits[:, TRIPOD] = 8.0
    logits[:, GROOM] = 7.0
    return logits


def _to_batch(image) -> np.ndarray:
    return np.zeros((1, 4, 4, 3), dtype=np.float32)


def test_read_people_tags_groups():
    photos = people_photos()
    readings = read_people(photos, _to_batch, _fake_logits, imagenet1k(), k=3)

    assert len(readings) == len(photos)
    for reading in readings:
        assert [p.label for p in reading.top] == ["military uniform", "tripod", "groom"]
        assert reading.groups == ("garments", "artefacts", "people")
        assert reading.top1.index == UNIFORM
    assert readings[0].image_size == (512, 600)
    assert group_tally(readings) == {"garments": len(photos), "artefacts": len(photos), "people": len(photos)}


def test_read_people_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        read_people([], _to_batch, _fake_logits, imagenet1k())
    with pytest.raises(ValueError, match="returned shape"):
        read_people(people_photos(), _to_batch, lambda batch: np.zeros((1, 10)), imagenet1k())
