"""Preprocessing variants: one photograph turned into model inputs in several defensible ways.

A variant either squashes the whole photo to a square with one of Pillow's
resampling filters, as the tutorial does, or keeps the aspect ratio and cuts
out a centred square. That square covers ``crop_fraction`` of the shorter
side, as in ImageNet evaluation scripts, where 0.875 is the common value.
:func:`classify_variants` runs every variant of every copy of a photo
through a classifier given as a plain callable, so this module needs no
TensorFlow.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from ..images import center_crop, resize_whole
from ..labels import LabelVocabulary, Prediction, softmax, top_k

# Pillow's filters by the names the pages print. BICUBIC is what
# ``Image.resize`` uses when no filter is given (Pillow 7.0 and later).
RESAMPLE_FILTERS: dict[str, Image.Resampling] = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "Lanczos": Image.Resampling.LANCZOS,
    "nearest": Image.Resampling.NEAREST,
}
REFERENCE_CROP_FRACTION = 0.875
DEFAULT_CROP_FRACTIONS: tuple[float, ...] = (1.0, 0.875, 0.75, 0.6, 0.5)
TUTORIAL_VARIANT = "whole-bicubic"
REFERENCE_VARIANT = "crop-0.875"


@dataclass(frozen=True)
class PreprocessingVariant:
    """One way of turning a photo into a square model input.

    ``crop_fraction`` is None for the whole photo squashed to a square.
    Otherwise the photo is resized with its aspect ratio kept, so that the
    centred square cut from it spans ``crop_fraction`` of the shorter side.
    """

    key: str
    title: str
    filter_name: str
    crop_fraction: float | None

    def __post_init__(self):
        if self.filter_name not in RESAMPLE_FILTERS:
            raise ValueError(f"filter_name={self.filter_name!r} is not one of {sorted(RESAMPLE_FILTERS)}.")
        if self.crop_fraction is not None and not 0 < self.crop_fraction <= 1:
            raise ValueError(f"crop_fraction={self.crop_fraction!r} must be in (0, 1] or None.")

    def apply(self, photo: Image.Image, size: int) -> np.ndarray:
        """Return the float32 input [size, size, 3] in [0, 1] that this variant makes of ``photo``."""
        resample = RESAMPLE_FILTERS[self.filter_name]
        if self.crop_fraction is None:
            return resize_whole(photo, size, resample=resample)
        return center_crop(photo, size, crop_fraction=self.crop_fraction, resample=resample)


def whole_photo_variant(filter_name: str) -> PreprocessingVariant:
    """Return the variant that squashes the whole photo with ``filter_name``."""
    tutorial_note = " (the tutorial's)" if filter_name == "bicubic" else ""
    return PreprocessingVariant(f"whole-{filter_name.lower()}", f"whole photo, {filter_name}{tutorial_note}", filter_name, None)


def fraction_text(fraction: float) -> str:
    """Format a crop fraction with up to three decimals and at least one: 1.0, 0.875, 0.6."""
    text = f"{fraction:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def crop_variant(crop_fraction: float, filter_name: str = "bicubic") -> PreprocessingVariant:
    """Return the centre-crop variant for ``crop_fraction``, resized with ``filter_name``."""
    reference_note = " (reference)" if crop_fraction == REFERENCE_CROP_FRACTION else ""
    text = fraction_text(crop_fraction)
    return PreprocessingVariant(f"crop-{text}", f"centre crop {text}{reference_note}", filter_name, float(crop_fraction))


def standard_variants(crop_fractions: Sequence[float] = DEFAULT_CROP_FRACTIONS) -> tuple[PreprocessingVariant, ...]:
    """Return the whole-photo variant of each filter, then a bicubic centre crop per fraction."""
    variants = [whole_photo_variant(name) for name in RESAMPLE_FILTERS]
    variants += [crop_variant(fraction) for fraction in crop_fractions]
    keys = [variant.key for variant in variants]
    if len(set(keys)) != len(keys):
        raise ValueError(f"crop_fractions {list(crop_fractions)} repeat a value.")
    return tuple(variants)


@dataclass(frozen=True)
class VariantOutcome:
    """The classifier's output for one copy of a photo under one variant."""

    copy_name: str
    variant: PreprocessingVariant
    top: tuple[Prediction, ...]
    probabilities: np.ndarray

    @property
    def top1(self) -> Prediction:
        return self.top[0]

    def probability_of(self, index: int) -> float:
        return float(self.probabilities[index])

    def labels_above(self, index: int, vocabulary: LabelVocabulary) -> list[str]:
        """Return the labels ranked above class ``index``, best first."""
        order = np.argsort(-self.probabilities, kind="stable")
        position = int(np.flatnonzero(order == index)[0])
        return [vocabulary[int(other)] for other in order[:position]]

    def rank_of(self, index: int) -> int:
        """Return the 1-based rank of class ``index``; ties are ranked in index order, as in ``top_k``."""
        probability = self.probabilities[index]
        higher = np.count_nonzero(self.probabilities > probability)
        tied_before = np.count_nonzero(self.probabilities[:index] == probability)
        return int(higher + tied_before + 1)


def classify_variants(
    photos: Mapping[str, Image.Image],
    variants: Sequence[PreprocessingVariant],
    size: int,
    predict_logits: Callable[[np.ndarray], np.ndarray],
    vocabulary: LabelVocabulary,
    k: int = 5,
) -> list[VariantOutcome]:
    """Classify every variant of every photo; outcomes are ordered by photo, then variant.

    ``predict_logits`` maps a float32 batch [n, size, size, 3] to logits
    [n, classes]. Each photo's variants go through it as one batch.
    """
    if not photos:
        raise ValueError("photos is empty; pass at least one named photo.")
    if not variants:
        raise ValueError("variants is empty; pass at least one preprocessing variant.")
    outcomes = []
    for copy_name, photo in photos.items():
        batch = np.stack([variant.apply(photo, size) for variant in variants])
        logits = np.asarray(predict_logits(batch))
        if logits.ndim != 2 or logits.shape[0] != len(variants):
            raise ValueError(f"predict_logits returned shape {logits.shape} for a batch of {len(variants)}.")
        for variant, row in zip(variants, logits):
            outcomes.append(VariantOutcome(copy_name, variant, tuple(top_k(row, vocabulary, k)), softmax(row)))
    return outcomes


def probability_matrix(outcomes: Sequence[VariantOutcome], class_indices: Sequence[int]) -> np.ndarray:
    """Return the probabilities [len(outcomes), len(class_indices)] of the given classes."""
    return np.array([[outcome.probability_of(index) for index in class_indices] for outcome in outcomes], dtype=np.float64)


def top1_counts(outcomes: Sequence[VariantOutcome]) -> Counter[str]:
    """Count how often each label is the top-1 label across ``outcomes``."""
    return Counter(outcome.top1.label for outcome in outcomes)


def find_outcome(outcomes: Sequence[VariantOutcome], copy_name: str, variant_key: str) -> VariantOutcome | None:
    """Return the outcome for one copy and variant key, or None when that copy was not classified."""
    for outcome in outcomes:
        if outcome.copy_name == copy_name and outcome.variant.key == variant_key:
            return outcome
    return None
