"""Tests that every evidence figure renders and that its alt text states the data drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ccs_transfer.evidence import figures_classifier, figures_flowers
from ccs_transfer.evidence.confusion import Mistake
from ccs_transfer.evidence.imagenet_view import FlowerClassView, FrequentLabel
from ccs_transfer.evidence.occlusion import occlusion_map
from ccs_transfer.evidence.people import PeoplePhoto
from ccs_transfer.evidence.people_readings import PersonReading
from ccs_transfer.evidence.preprocessing import classify_variants, crop_variant, whole_photo_variant
from ccs_transfer.evidence.vocabulary import audit_vocabulary
from ccs_transfer.labels import LabelVocabulary, Prediction

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VOCABULARY = LabelVocabulary("test", ("military uniform", "academic gown", "mortarboard"), "test", "0" * 64)


def _is_png(figure) -> bool:
    return figure.png.startswith(PNG_SIGNATURE)


def test_vocabulary_groups_chart_alt():
    audit = audit_vocabulary()
    figure = figures_classifier.vocabulary_groups_chart(audit)

    assert _is_png(figure)
    assert "1000 ImageNet-1k classes" in figure.alt
    assert "people and roles 3" in figure.alt
    assert "garments, uniforms and worn accessories 66" in figure.alt


def test_preprocessing_figures_alt():
    photo = Image.fromarray(np.linspace(0, 255, 40 * 30 * 3).reshape(40, 30, 3).astype(np.uint8))

    def logits(batch):
        brightness = batch.mean(axis=(1, 2, 3))
        return np.stack([4 * brightness, 2 - brightness, np.zeros_like(brightness)], axis=1)

    variants = [whole_photo_variant("bicubic"), crop_variant(0.5)]
    outcomes = classify_variants({"matplotlib": photo}, variants, 16, logits, VOCABULARY, k=2)
    inputs = [variant.apply(photo, 16) for variant in variants]

    grid = figures_classifier.variant_inputs_figure(inputs, outcomes, "two variants")
    plot = figures_classifier.label_probability_plot(outcomes, [0, 2], VOCABULARY)

    assert _is_png(grid)
    assert _is_png(plot)
    first = outcomes[0].top1
    assert f"whole photo, bicubic (the tutorial's): {first.label} {first.probability * 100:.1f}%" in grid.alt
    assert f"matplotlib copy, centre crop 0.5: military uniform {outcomes[1].probability_of(0) * 100:.1f}%" in plot.alt
    assert "mortarboard" in plot.alt


def test_occlusion_figure_alt():
    image = np.full((16, 16, 3), 0.2, dtype=np.float32)
    image[4:8, 8:12] = 1.0

    def probabilities(batch):
        bright = batch[:, 4:8, 8:12].mean(axis=(1, 2, 3))
        return np.stack([bright, 1 - bright], axis=1)

    result = occlusion_map(probabilities, image, 0, patch=4, stride=4)
    gradient = np.zeros((16, 16))
    gradient[5, 9] = 2.0
    figure = figures_classifier.occlusion_figure(image, [("bright square", result)], ("bright square", gradient), ["upper third, right"])

    assert _is_png(figure)
    assert "baseline probability 100.0%" in figure.alt
    assert "rows 4-7, columns 8-11 (upper third, right) lowers it most, by 50.0%" in figure.alt
    assert "strongest at row 5, column 9" in figure.alt
    with pytest.raises(ValueError, match="region names"):
        figures_classifier.occlusion_figure(image, [("x", result)], None, [])


def test_people_figure_alt():
    photo = PeoplePhoto("someone", Path("/none.jpg"), "a person", "test 1.0", "no licence")
    top = (Prediction(1, 0, "military uniform", 0.6, 3.0), Prediction(2, 1, "tripod", 0.1, 1.0))
    reading = PersonReading(photo, (4, 4), top, ("garments", "artefacts"))
    figure = figures_classifier.people_figure([np.zeros((4, 4, 3))], [reading])

    assert _is_png(figure)
    assert "someone: military uniform 60.0% (garments), tripod 10.0% (artefacts)" in figure.alt


def test_imagenet_top1_figure_alt():
    views = [
        FlowerClassView("daisy", 10, (FrequentLabel(985, "daisy", "plants", 7), FrequentLabel(738, "pot", "artefacts", 3)), {"plants": 7, "artefacts": 3}, (985,), 7, 8, 2),
        FlowerClassView("roses", 5, (FrequentLabel(883, "vase", "artefacts", 5),), {"artefacts": 5}, (), 0, 0, 1),
    ]
    figure = figures_flowers.imagenet_top1_figure(views)

    assert _is_png(figure)
    assert "daisy (10 photos): daisy 7 (plants), pot 3 (artefacts)" in figure.alt
    assert "roses (5 photos): vase 5 (artefacts)" in figure.alt


def test_confusion_matrix_figure_alt():
    figure = figures_flowers.confusion_matrix_figure(np.array([[5, 1], [2, 7]]), ("daisy", "roses"))

    assert _is_png(figure)
    assert "Confusion matrix of 15 validation photos" in figure.alt
    assert "daisy photos predicted as daisy 5, roses 1" in figure.alt
    assert "roses photos predicted as daisy 2, roses 7" in figure.alt


def test_mistakes_figure_alt():
    mistake = Mistake(index=3, true_class=1, predicted_class=0, confidence=0.93, true_class_probability=0.05)
    figure = figures_flowers.mistakes_figure([np.zeros((8, 8, 3))], [mistake], ["roses/x.jpg"], ("daisy", "roses"))

    assert _is_png(figure)
    assert "roses/x.jpg: predicted daisy 93.0%, labelled roses (5.0%)" in figure.alt
    with pytest.raises(ValueError, match="do not match"):
        figures_flowers.mistakes_figure([], [mistake], [], ("daisy", "roses"))


def test_pca_scatter_alt():
    coordinates = np.array([[0.0, 0.0], [2.0, 2.0], [-1.0, 4.0]])
    figure = figures_flowers.pca_scatter(coordinates, [0, 0, 1], ("daisy", "roses"), [0.25, 0.125], "three photos")

    assert _is_png(figure)
    assert "explain 25.0% and 12.5% of the variance" in figure.alt
    assert "daisy: 2 points centred at (1.00, 1.00)" in figure.alt
    assert "roses: 1 point centred at (-1.00, 4.00)" in figure.alt


def test_class_balance_and_photo_grid_alt():
    balance = figures_flowers.class_balance_chart({"daisy": 742, "roses": 759})
    grid = figures_flowers.captioned_photos_figure([np.zeros((4, 4, 3))], ["a.jpg\nfiled under roses and tulips"], "Filed twice")

    assert _is_png(balance)
    assert _is_png(grid)
    assert "1501 in all: daisy 742, roses 759" in balance.alt
    assert "Filed twice. 1 photo: a.jpg filed under roses and tulips" in grid.alt
    with pytest.raises(ValueError, match="no photos"):
        figures_flowers.captioned_photos_figure([], [], "empty")
