"""The Grace Hopper photo prepared exactly as tools/make_port_reference.py prepared it, for the port tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ccs_transfer.integrity import sha256_file


def grace_hopper_unit_rgb(size: int, reference: dict) -> np.ndarray:
    """Return the Grace Hopper photo as the reference script prepared it: shape (1, size, size, 3), [0, 1]."""
    from matplotlib import cbook
    from PIL import Image

    path = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    assert sha256_file(path) == reference["image_sha256"], (
        f"{path} differs from the photo of the reference; rerun tools/make_port_reference.py"
    )
    with Image.open(path) as image:
        resized = image.convert("RGB").resize((size, size), Image.BICUBIC)
    return (np.asarray(resized, dtype=np.float32) / np.float32(255.0))[None]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Return probabilities computed independently of ccs_transfer.labels.softmax."""
    shifted = np.exp(logits.astype(np.float64) - logits.max())
    return shifted / shifted.sum()
