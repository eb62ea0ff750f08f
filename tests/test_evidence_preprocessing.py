"""Tests of the preprocessing variants on a synthetic photo with a fake classifier."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ccs_transfer.evidence import preprocessing
from ccs_transfer.evidence.preprocessing import (
    PreprocessingVariant,
    classify_variants,
    crop_variant,
    find_outcome,
    probability_matrix,
    standard_variants,
    top1_counts,
    whole_photo_variant,
)
from ccs_transfer.labels import LabelVocabulary

SIZE = 32
VOCABULARY = LabelVocabulary("test", ("dark", "bright", "red", "blue"), "test", "0" * 64)


def _banded_photo(width: int = 80, height: int = 120) -> Image.Image:
    """A portrait-shaped photo: black bands at top and bottom, white in the middle third."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[height // 3 : 2 * height // 3] = 255
    return Image.fromarray(pixels)


def _brightness_logits(batch: np.ndarray) -> np.ndarray:
    """Fake classifier: class 1 ("bright") grows with mean brightness, class 0 with darkness."""
    brightness = batch.mean(axis=(1, 2, 3))
    return np.stack([10 * (1 - brightness), 10 * brightness, np.zeros_like(brightness), np.full_like(brightness, -1.0)], axis=1)


def test_standard_variants_keys():
    keys = [variant.key for variant in standard_variants()]

    assert keys == [
        "whole-bicubic", "whole-bilinear", "whole-lanczos", "whole-nearest",
        "crop-1.0", "crop-0.875", "crop-0.75", "crop-0.6", "crop-0.5",
    ]
    assert preprocessing.TUTORIAL_VARIANT in keys
    assert preprocessing.REFERENCE_VARIANT in keys


def test_standard_variants_reject_repeats():
    with pytest.raises(ValueError, match="repeat"):
        standard_variants((0.875, 0.875))


def test_variant_rejects_bad_filter_and_fraction():
    with pytest.raises(ValueError, match="filter_name"):
        PreprocessingVariant("x", "x", "cubic", None)
    with pytest.raises(ValueError, match="crop_fraction"):
        PreprocessingVariant("x", "x", "bicubic", 1.5)


def test_variant_titles_mark_tutorial_and_reference():
    assert whole_photo_variant("bicubic").title == "whole photo, bicubic (the tutorial's)"
    assert crop_variant(0.875).title == "centre crop 0.875 (reference)"
    assert crop_variant(1.0).key == "crop-1.0"


def test_variant_shapes_and_range():
    photo = _banded_photo()
    for variant in standard_variants():
        pixels = variant.apply(photo, SIZE)

        assert pixels.shape == (SIZE, SIZE, 3), variant.key
        assert pixels.dtype == np.float32
        assert 0.0 <= pixels.min() <= pixels.max() <= 1.0


def test_whole_photo_keeps_bands_and_crop_cuts_them():
    photo = _banded_photo()
    whole = whole_photo_variant("nearest").apply(photo, SIZE)
    tight = crop_variant(0.5, "nearest").apply(photo, SIZE)

    # The squashed photo keeps the dark top and bottom thirds.
    assert whole[0].max() == 0.0
    assert whole[-1].max() == 0.0
    assert whole[SIZE // 2].min() == 1.0
    # A centre crop of half the shorter side contains only the white middle band.
    assert tight.min() == 1.0


def test_crop_fraction_one_cuts_longer_side():
    photo = _banded_photo(width=80, height=120)
    full_crop = crop_variant(1.0, "nearest").apply(photo, SIZE)

    # The central 80 x 80 of a 120-pixel-high photo starts below the top band's first rows.
    dark_rows = int(np.sum(full_crop.max(axis=(1, 2)) == 0.0))
    whole_dark_rows = int(np.sum(whole_photo_variant("nearest").apply(photo, SIZE).max(axis=(1, 2)) == 0.0))
    assert 0 < dark_rows < whole_dark_rows


def test_classify_variants_order_and_top():
    variants = [whole_photo_variant("nearest"), crop_variant(0.5, "nearest")]
    photos = {"first": _banded_photo(), "second": _banded_photo(width=60, height=60)}
    outcomes = classify_variants(photos, variants, SIZE, _brightness_logits, VOCABULARY, k=3)

    assert [(o.copy_name, o.variant.key) for o in outcomes] == [
        ("first", "whole-nearest"), ("first", "crop-0.5"), ("second", "whole-nearest"), ("second", "crop-0.5"),
    ]
    # The all-white crop is "bright"; the squashed photo is one third white, so "dark" wins.
    assert outcomes[0].top1.label == "dark"
    assert outcomes[1].top1.label == "bright"
    assert len(outcomes[0].top) == 3
    assert outcomes[1].probabilities.sum() == pytest.approx(1.0)


def test_outcome_rank_and_labels_above():
    outcomes = classify_variants({"p": _banded_photo()}, [crop_variant(0.5, "nearest")], SIZE, _brightness_logits, VOCABULARY)
    outcome = outcomes[0]

    # Logits for the all-white crop: dark 0, bright 10, red 0, blue -1.
    assert outcome.rank_of(1) == 1
    assert outcome.rank_of(0) == 2  # tied with "red", ranked first by index
    assert outcome.rank_of(2) == 3
    assert outcome.rank_of(3) == 4
    assert outcome.labels_above(2, VOCABULARY) == ["bright", "dark"]
    assert outcome.labels_above(1, VOCABULARY) == []


def test_probability_matrix_and_top1_counts():
    variants = [whole_photo_variant("nearest"), crop_variant(0.5, "nearest")]
    outcomes = classify_variants({"p": _banded_photo()}, variants, SIZE, _brightness_logits, VOCABULARY)
    matrix = probability_matrix(outcomes, [1, 0])

    assert matrix.shape == (2, 2)
    assert matrix[1, 0] > matrix[0, 0]
    assert top1_counts(outcomes) == {"dark": 1, "bright": 1}


def test_find_outcome_missing_copy():
    outcomes = classify_variants({"p": _banded_photo()}, [crop_variant(0.5)], SIZE, _brightness_logits, VOCABULARY)

    assert find_outcome(outcomes, "p", "crop-0.5") is outcomes[0]
    assert find_outcome(outcomes, "tutorial", "crop-0.5") is None


def test_classify_variants_rejects_bad_input():
    with pytest.raises(ValueError, match="photos is empty"):
        classify_variants({}, [crop_variant(0.5)], SIZE, _brightness_logits, VOCABULARY)
    with pytest.raises(ValueError, match="variants is empty"):
        classify_variants({"p": _banded_photo()}, [], SIZE, _brightness_logits, VOCABULARY)
    with pytest.raises(ValueError, match="returned shape"):
        classify_variants({"p": _banded_photo()}, [crop_variant(0.5)], SIZE, lambda batch: np.zeros((5, 4)), VOCABULARY)
