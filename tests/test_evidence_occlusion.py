"""Tests of occlusion sensitivity with a synthetic model whose correct map is known."""

from __future__ import annotations

import numpy as np
import pytest

from ccs_transfer.evidence.occlusion import occlusion_map, patch_positions

# The synthetic model's class 1 probability is the mean brightness of this square.
TOP, LEFT, SIDE = 16, 32, 16


def _bright_square_image(size: int = 64) -> np.ndarray:
    image = np.full((size, size, 3), 0.2, dtype=np.float32)
    image[TOP : TOP + SIDE, LEFT : LEFT + SIDE, :] = 1.0
    return image


class SquareBrightnessModel:
    """Two-class model: class 1 is the mean brightness of the square, class 0 its complement."""

    def __init__(self):
        self.batch_sizes: list[int] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.batch_sizes.append(batch.shape[0])
        brightness = batch[:, TOP : TOP + SIDE, LEFT : LEFT + SIDE, :].mean(axis=(1, 2, 3))
        return np.stack([1.0 - brightness, brightness], axis=1)


def test_occlusion_peaks_over_square():
    result = occlusion_map(SquareBrightnessModel(), _bright_square_image(), 1, patch=16, stride=8)

    assert result.baseline == pytest.approx(1.0)
    assert result.drops.shape == (7, 7)
    assert result.peak_position == (TOP, LEFT)
    # A patch on the square replaces 1.0 by the fill 0.5.
    assert result.drops.max() == pytest.approx(0.5)
    assert np.count_nonzero(np.isclose(result.drops, result.drops.max())) == 1


def test_occlusion_zero_away_from_square():
    result = occlusion_map(SquareBrightnessModel(), _bright_square_image(), 1, patch=16, stride=8)

    for row, y in enumerate(result.positions_y):
        for column, x in enumerate(result.positions_x):
            overlaps = y < TOP + SIDE and y + 16 > TOP and x < LEFT + SIDE and x + 16 > LEFT
            if not overlaps:
                assert result.drops[row, column] == pytest.approx(0.0, abs=1e-7), (y, x)


def test_occlusion_partial_overlap_drop():
    result = occlusion_map(SquareBrightnessModel(), _bright_square_image(), 1, patch=16, stride=8)

    # The patch at (8, 32) hides the top half of the square: 0.5 * (1.0 - 0.5).
    row = list(result.positions_y).index(8)
    column = list(result.positions_x).index(32)
    assert result.drops[row, column] == pytest.approx(0.25)


def test_occlusion_pixel_map():
    result = occlusion_map(SquareBrightnessModel(), _bright_square_image(), 1, patch=16, stride=8)

    assert result.pixel_map.shape == (64, 64)
    assert result.pixel_map[TOP : TOP + SIDE, LEFT : LEFT + SIDE].min() > 0.0
    peak = np.unravel_index(int(np.argmax(result.pixel_map)), result.pixel_map.shape)
    assert TOP <= peak[0] < TOP + SIDE
    assert LEFT <= peak[1] < LEFT + SIDE
    # Rows 0-7 and columns 0-15 are covered only by patches that miss the square.
    assert np.allclose(result.pixel_map[:8, :], 0.0, atol=1e-7)
    assert np.allclose(result.pixel_map[:, :16], 0.0, atol=1e-7)


def test_occlusion_complement_class_rises():
    result = occlusion_map(SquareBrightnessModel(), _bright_square_image(), 0, patch=16, stride=8)

    assert result.drops.min() == pytest.approx(-0.5)


def test_occlusion_batches_match():
    model = SquareBrightnessModel()
    batched = occlusion_map(model, _bright_square_image(), 1, patch=16, stride=8, batch_size=5)

    assert model.batch_sizes == [1] + [5] * 9 + [4]
    whole = occlusion_map(SquareBrightnessModel(), _bright_square_image(), 1, patch=16, stride=8, batch_size=64)
    assert np.array_equal(batched.drops, whole.drops)


def test_occlusion_progress_bar_runs():
    result = occlusion_map(SquareBrightnessModel(), _bright_square_image(), 1, patch=16, stride=16, progress=True)

    assert result.drops.shape == (4, 4)


def test_patch_positions_cover_edge():
    assert list(patch_positions(64, 16, 8)) == [0, 8, 16, 24, 32, 40, 48]
    assert list(patch_positions(50, 16, 16)) == [0, 16, 32, 34]
    assert list(patch_positions(16, 16, 4)) == [0]


@pytest.mark.parametrize(
    ("image", "options"),
    [
        (np.zeros((8, 8)), {"patch": 2, "stride": 2}),
        (np.full((8, 8, 3), 2.0), {"patch": 2, "stride": 2}),
        (np.zeros((8, 8, 3)), {"patch": 9, "stride": 2}),
        (np.zeros((8, 8, 3)), {"patch": 2, "stride": 0}),
        (np.zeros((8, 8, 3)), {"patch": 2, "stride": 2, "fill": 1.5}),
    ],
)
def test_occlusion_rejects_bad_input(image, options):
    with pytest.raises(ValueError):
        occlusion_map(lambda batch: np.ones((batch.shape[0], 2)) / 2, image, 0, **options)


def test_occlusion_rejects_bad_class_index():
    with pytest.raises(ValueError, match="outside the 2 classes"):
        occlusion_map(SquareBrightnessModel(), _bright_square_image(), 2, patch=16, stride=16)
