"""Tests of the photo collection audit on a generated collection and on the local flower mirror."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ccs_transfer.errors import DataDirectoryError
from ccs_transfer.evidence.dhash import difference_hash, hamming_distance, pairs_within
from ccs_transfer.evidence.label_audit import DEFAULT_NEAR_THRESHOLD, audit_collection

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]


def _synthetic_photo(seed: int, size: int = 128) -> Image.Image:
    """Make a smooth random colour image, so that every seed has its own gradients."""
    rng = np.random.default_rng(seed)
    coarse = (rng.random((6, 6, 3)) * 255).astype(np.uint8)
    return Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)


def _save_jpeg(image: Image.Image, path: Path, quality: int = 95) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG", quality=quality)


@pytest.fixture()
def collection(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    # Exact duplicates: one photo twice in daisy and once in roses, under the same name.
    _save_jpeg(_synthetic_photo(1), root / "daisy" / "one.jpg")
    data = (root / "daisy" / "one.jpg").read_bytes()
    (root / "daisy" / "one_copy.jpg").write_bytes(data)
    (root / "roses").mkdir()
    (root / "roses" / "one.jpg").write_bytes(data)
    # Near duplicate within daisy: the same picture re-encoded at a lower JPEG quality.
    _save_jpeg(_synthetic_photo(2), root / "daisy" / "two.jpg", quality=95)
    _save_jpeg(_synthetic_photo(2), root / "daisy" / "two_q60.jpg", quality=60)
    # Near duplicate across classes: the same picture at 90 % size in roses.
    _save_jpeg(_synthetic_photo(3), root / "tulips" / "three.jpg")
    _save_jpeg(_synthetic_photo(3).resize((115, 115), Image.Resampling.LANCZOS), root / "roses" / "three_small.jpg")
    # One file name in two classes with different content.
    _save_jpeg(_synthetic_photo(4), root / "daisy" / "four.jpg")
    _save_jpeg(_synthetic_photo(5), root / "tulips" / "four.jpg")
    # A PNG, a JPEG cut in half (valid header, truncated scan data), a text file and a hidden file.
    _synthetic_photo(6, size=64).save(root / "tulips" / "six.png")
    (root / "tulips" / "broken.jpg").write_bytes(data[: len(data) // 2])
    (root / "tulips" / "notes.txt").write_text("not a photo\n")
    (root / "tulips" / ".DS_Store").write_bytes(b"\x00")
    # Symlinks out of the root: a photo and a whole class folder.
    outside = tmp_path / "outside"
    _save_jpeg(_synthetic_photo(7), outside / "seven.jpg")
    (root / "roses" / "seven.jpg").symlink_to(outside / "seven.jpg")
    (root / "sunflowers").symlink_to(outside, target_is_directory=True)
    # A symlink inside the root is followed and reads as an exact duplicate.
    (root / "tulips" / "link_to_four.jpg").symlink_to(root / "tulips" / "four.jpg")
    return root


def test_audit_classes_and_counts(collection: Path):
    audit = audit_collection(collection)

    assert audit.classes == ("daisy", "roses", "tulips")
    assert audit.class_counts == {"daisy": 5, "roses": 2, "tulips": 5}
    assert audit.file_count == 12
    assert len(audit.records) == 11


def test_audit_exact_duplicates(collection: Path):
    audit = audit_collection(collection)

    groups = {group.paths: group for group in audit.exact_duplicates}
    assert set(groups) == {
        ("daisy/one.jpg", "daisy/one_copy.jpg", "roses/one.jpg"),
        ("tulips/four.jpg", "tulips/link_to_four.jpg"),
    }
    assert groups[("daisy/one.jpg", "daisy/one_copy.jpg", "roses/one.jpg")].classes == ("daisy", "roses")
    assert [group.paths for group in audit.cross_class_exact] == [("daisy/one.jpg", "daisy/one_copy.jpg", "roses/one.jpg")]
    assert audit.redundant_exact_copies == 3


def test_audit_near_duplicates(collection: Path):
    audit = audit_collection(collection)

    pairs = {(pair.path_a, pair.path_b): pair for pair in audit.near_duplicates}
    assert set(pairs) == {("daisy/two.jpg", "daisy/two_q60.jpg"), ("roses/three_small.jpg", "tulips/three.jpg")}
    for pair in pairs.values():
        assert pair.distance <= DEFAULT_NEAR_THRESHOLD
    assert [(pair.class_a, pair.class_b) for pair in audit.cross_class_near] == [("roses", "tulips")]


def test_audit_threshold_zero_drops_pairs(collection: Path):
    audit = audit_collection(collection, near_threshold=0)

    # Exact copies share a hash but are excluded from the near pairs.
    assert all(pair.distance == 0 for pair in audit.near_duplicates)
    assert ("daisy/one.jpg", "daisy/one_copy.jpg") not in {(p.path_a, p.path_b) for p in audit.near_duplicates}


def test_audit_name_clashes(collection: Path):
    audit = audit_collection(collection)

    clashes = {clash.file_name: clash for clash in audit.name_clashes}
    assert set(clashes) == {"one.jpg", "four.jpg"}
    assert clashes["one.jpg"].same_content is True
    assert clashes["one.jpg"].classes == ("daisy", "roses")
    assert clashes["four.jpg"].same_content is False
    assert clashes["four.jpg"].paths == ("daisy/four.jpg", "tulips/four.jpg")


def test_audit_unreadable_rejected_skipped(collection: Path):
    audit = audit_collection(collection)

    assert [item.path for item in audit.unreadable] == ["tulips/broken.jpg"]
    assert audit.unreadable[0].reason.startswith("cannot decode")
    assert audit.unreadable[0].sha256 is not None
    assert sorted(item.path for item in audit.rejected) == ["roses/seven.jpg", "sunflowers"]
    assert all("outside the root" in item.reason for item in audit.rejected)
    assert sorted(audit.skipped) == ["tulips/.DS_Store", "tulips/notes.txt"]


def test_audit_sizes_and_modes(collection: Path):
    audit = audit_collection(collection)

    assert audit.size_counts == {(128, 128): 9, (115, 115): 1, (64, 64): 1}
    assert audit.mode_counts == {"RGB": 11}


def test_audit_pixel_limit(collection: Path):
    audit = audit_collection(collection, max_image_pixels=100 * 100)

    too_large = [item.path for item in audit.unreadable if "exceeds the limit" in item.reason]
    # Every photo except the 64 x 64 PNG is larger than 100 x 100, the truncated one included.
    assert len(too_large) == 11
    assert "tulips/broken.jpg" in too_large
    assert [record.path for record in audit.records] == ["tulips/six.png"]


def test_audit_workers_same_result(collection: Path):
    single = audit_collection(collection, workers=1)
    double = audit_collection(collection, workers=2)

    assert single.records == double.records
    assert single.near_duplicates == double.near_duplicates


def test_audit_missing_root(tmp_path: Path):
    with pytest.raises(DataDirectoryError, match="missing or is not a folder"):
        audit_collection(tmp_path / "absent")


def test_audit_root_without_classes(tmp_path: Path):
    (tmp_path / "readme.txt").write_text("no classes here\n")

    with pytest.raises(DataDirectoryError, match="no class folders"):
        audit_collection(tmp_path)


def test_audit_rejects_bad_threshold(collection: Path):
    with pytest.raises(ValueError):
        audit_collection(collection, near_threshold=65)


def test_dhash_known_gradient():
    # Brightness rises from left to right, so every pixel is brighter than its left neighbour.
    ramp = Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1)))

    assert difference_hash(ramp) == (1 << 64) - 1
    assert difference_hash(ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) == 0


def test_pairs_within_hand_example():
    hashes = np.array([0b0000, 0b0001, 0b0111, 0b1111_0000], dtype=np.uint64)

    assert pairs_within(hashes, 1) == [(0, 1, 1)]
    assert pairs_within(hashes, 3) == [(0, 1, 1), (0, 2, 3), (1, 2, 2)]
    assert hamming_distance(0b0111, 0b1111_0000) == 7


def _flower_mirror() -> Path:
    data_dir = Path(os.environ.get("EDITION_DATA_DIR") or REPOSITORY_ROOT.parent / "shared" / "data")
    return data_dir / "flower_photos"


@pytest.mark.slow
@pytest.mark.skipif(not _flower_mirror().is_dir(), reason="local flower mirror not found")
def test_audit_real_flower_mirror():
    audit = audit_collection(_flower_mirror())

    assert audit.class_counts == {"daisy": 742, "dandelion": 1016, "roses": 759, "sunflowers": 694, "tulips": 853}
    assert audit.unreadable == []
    assert audit.rejected == []
    assert len(audit.exact_duplicates) == 6
    assert [group.classes for group in audit.cross_class_exact] == [("roses", "tulips")] * 4
    assert len(audit.name_clashes) == 4
    assert all(clash.same_content for clash in audit.name_clashes)
    # The near-pair count depends on Pillow's JPEG decoder: it is 22 with Pillow 13.0.
    assert 15 <= len(audit.near_duplicates) <= 30
