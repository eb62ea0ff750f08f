"""Figures for the pages: matplotlib figures rendered to PNG with alt text that states their data.

A :class:`Figure` displays as a PNG whose output metadata carries ``alt``;
MyST-NB copies that metadata onto the ``<img>``. It also works with
``myst_nb.glue`` and ``{glue:figure}``, so a figure can have a label, a
permalink and a caption.
"""

from __future__ import annotations

import base64
import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from .labels import Prediction  # noqa: E402

# Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
FIGURE_DPI = 110
PNG_ALT_KEY = "Alt"


class Figure:
    """A rendered figure: PNG bytes plus the alt text that describes its data."""

    def __init__(self, figure, alt: str):
        if not alt.strip():
            raise ValueError("A figure needs non-empty alt text.")
        buffer = io.BytesIO()
        self.alt = " ".join(alt.split())
        # No "Software" entry keeps the PNG bytes identical across matplotlib
        # builds. The alt text travels inside the PNG as a text chunk, because
        # MyST-NB copies only width and height from an output's metadata onto
        # the <img>; ``sphinx_edition`` reads the chunk back.
        figure.savefig(
            buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight",
            metadata={"Software": None, PNG_ALT_KEY: self.alt},
        )
        plt.close(figure)
        self.png = buffer.getvalue()

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"image/png": base64.b64encode(self.png).decode("ascii"), "text/plain": f"<Figure: {self.alt}>"}
        return data, {"image/png": {"alt": self.alt}}


def _percent(probability: float) -> str:
    return f"{probability * 100:.1f}%"


def describe_predictions(predictions: Sequence[Prediction]) -> str:
    return "; ".join(f"{p.label} {_percent(p.probability)}" for p in predictions)


def top_k_bar_chart(predictions: Sequence[Prediction], title: str) -> Figure:
    """Draw a horizontal bar chart of ranked predictions."""
    figure, axes = plt.subplots(figsize=(6.4, 0.45 * len(predictions) + 1.0))
    names = [p.label for p in predictions][::-1]
    values = [p.probability for p in predictions][::-1]
    bars = axes.barh(names, values, color=OKABE_ITO[0])
    for bar, value in zip(bars, values):
        axes.text(bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, _percent(value), va="center")
    axes.set_xlim(0, 1)
    axes.set_xlabel("softmax probability")
    axes.set_title(title)
    axes.spines[["top", "right"]].set_visible(False)
    alt = f"Bar chart, {title}: the top {len(predictions)} ImageNet labels are {describe_predictions(predictions)}."
    return Figure(figure, alt)


def photos_side_by_side(photos: Sequence[tuple[str, np.ndarray]], title: str, description: str) -> Figure:
    """Show photos in a row, each with its caption."""
    figure, axes = plt.subplots(1, len(photos), figsize=(3.2 * len(photos), 3.8), squeeze=False)
    for axis, (caption, pixels) in zip(axes[0], photos):
        axis.imshow(pixels)
        axis.set_title(caption, fontsize=9)
        axis.axis("off")
    figure.suptitle(title)
    return Figure(figure, description)


def training_curves(history: dict[str, list[float]]) -> Figure:
    """Plot loss and accuracy per epoch for training and validation."""
    epochs = np.arange(1, len(history["loss"]) + 1)
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(9, 3.4))
    loss_axis.plot(epochs, history["loss"], marker="o", color=OKABE_ITO[0], label="training")
    loss_axis.plot(epochs, history["val_loss"], marker="s", linestyle="--", color=OKABE_ITO[1], label="validation")
    loss_axis.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    accuracy_axis.plot(epochs, history["acc"], marker="o", color=OKABE_ITO[0], label="training")
    accuracy_axis.plot(epochs, history["val_acc"], marker="s", linestyle="--", color=OKABE_ITO[1], label="validation")
    accuracy_axis.set(xlabel="epoch", ylabel="accuracy", title="Accuracy", ylim=(0, 1))
    for axis in (loss_axis, accuracy_axis):
        axis.legend()
        axis.spines[["top", "right"]].set_visible(False)
    alt = (
        f"Two line charts over {len(epochs)} epochs. Training loss falls from {history['loss'][0]:.3f} to {history['loss'][-1]:.3f}, "
        f"validation loss from {history['val_loss'][0]:.3f} to {history['val_loss'][-1]:.3f}. Training accuracy rises from "
        f"{history['acc'][0]:.3f} to {history['acc'][-1]:.3f}, validation accuracy from {history['val_acc'][0]:.3f} to {history['val_acc'][-1]:.3f}."
    )
    return Figure(figure, alt)


def labelled_photo_grid(
    photos: Sequence[np.ndarray], captions: Sequence[str], mistakes: Sequence[bool], title: str, columns: int = 6
) -> Figure:
    """Show photos in a grid with captions; mistakes get an orange frame and a cross."""
    rows = int(np.ceil(len(photos) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.1 * columns, 2.4 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, pixels, caption, wrong in zip(axes.flat, photos, captions, mistakes):
        axis.imshow(pixels)
        axis.set_title(("✗ " if wrong else "") + caption, fontsize=8, color=OKABE_ITO[5] if wrong else "black")
        if wrong:
            axis.axis("on")
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_edgecolor(OKABE_ITO[5])
                spine.set_linewidth(3)
    figure.suptitle(title)
    wrong_count = sum(mistakes)
    alt = (
        f"Grid of {len(photos)} validation photos with predicted and true labels; {wrong_count} are mistakes, framed in orange: "
        + "; ".join(caption.replace("\n", ", ") for caption, wrong in zip(captions, mistakes) if wrong)
    )
    return Figure(figure, alt)
