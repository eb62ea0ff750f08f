"""Tests that relate planted duplicates to a training/validation split and to a head's predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ccs_transfer.datasets import Photo
from ccs_transfer.evidence.audit_split import (
    OUTSIDE_SPLIT,
    TRAINING,
    VALIDATION,
    head_predictions_for_groups,
    paths_filed_under_several_classes,
    related_pairs,
    split_by_path,
)
from ccs_transfer.evidence.label_audit import audit_collection
from ccs_transfer.integrity import sha256_file

CLASS_NAMES = ("daisy", "roses")


def _smooth_photo(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8)).resize((96, 96), Image.Resampling.BICUBIC)


@pytest.fixture()
def planted(tmp_path: Path) -> tuple[Path, list[Photo]]:
    """daisy/a.jpg and roses/a.jpg are identical; daisy/b.jpg and daisy/b_q60.jpg differ only in JPEG quality."""
    root = tmp_path / "flowers"
    (root / "daisy").mkdir(parents=True)
    (root / "roses").mkdir()
    _smooth_photo(1).save(root / "daisy" / "a.jpg", quality=95)
    (root / "roses" / "a.jpg").write_bytes((root / "daisy" / "a.jpg").read_bytes())
    _smooth_photo(2).save(root / "daisy" / "b.jpg", quality=95)
    _smooth_photo(2).save(root / "daisy" / "b_q60.jpg", quality=60)
    _smooth_photo(3).save(root / "roses" / "c.jpg", quality=95)
    photos = []
    for path in sorted(root.glob("*/*.jpg")):
        relative = path.relative_to(root).as_posix()
        photos.append(Photo(path, relative, CLASS_NAMES.index(path.parent.name), sha256_file(path)))
    return root, photos


def test_split_by_path_marks_both_sides(planted):
    _, photos = planted
    split = split_by_path(photos[:2], photos[2:])

    assert split[photos[0].relative_path] == TRAINING
    assert split[photos[-1].relative_path] == VALIDATION


def test_related_pairs_and_crossing(planted):
    root, photos = planted
    audit = audit_collection(root)
    by_path = {photo.relative_path: photo for photo in photos}
    split = split_by_path([by_path["daisy/a.jpg"], by_path["daisy/b.jpg"]], [by_path["roses/a.jpg"]])
    pairs = related_pairs(audit, split)

    exact = [pair for pair in pairs if pair.kind == "exact"]
    near = [pair for pair in pairs if pair.kind == "near"]
    assert [(pair.path_a, pair.path_b, pair.distance) for pair in exact] == [("daisy/a.jpg", "roses/a.jpg", 0)]
    assert exact[0].crosses_split
    assert [(pair.path_a, pair.path_b) for pair in near] == [("daisy/b.jpg", "daisy/b_q60.jpg")]
    assert near[0].split_b == OUTSIDE_SPLIT
    assert not near[0].crosses_split


def test_head_predictions_for_cross_class_group(planted):
    root, photos = planted
    audit = audit_collection(root)
    probabilities = np.tile([0.3, 0.7], (len(photos), 1))
    split = split_by_path(photos, [])
    (copies,) = head_predictions_for_groups(audit.cross_class_exact, photos, probabilities, CLASS_NAMES, split)

    assert [(copy.path, copy.filed_under, copy.predicted) for copy in copies] == [
        ("daisy/a.jpg", "daisy", "roses"),
        ("roses/a.jpg", "roses", "roses"),
    ]
    assert [copy.head_agrees for copy in copies] == [False, True]
    assert copies[0].probability == pytest.approx(0.7)


def test_head_predictions_reject_unknown_path(planted):
    root, photos = planted
    audit = audit_collection(root)

    with pytest.raises(ValueError, match="not among the photos"):
        head_predictions_for_groups(audit.cross_class_exact, photos[:1], np.ones((1, 2)) / 2, CLASS_NAMES, {})
    with pytest.raises(ValueError, match="shape"):
        head_predictions_for_groups(audit.cross_class_exact, photos, np.ones((1, 2)), CLASS_NAMES, {})


def test_paths_filed_under_several_classes(planted):
    _, photos = planted

    assert paths_filed_under_several_classes(photos) == {"daisy/a.jpg", "roses/a.jpg"}
