"""Figures of the evidence pages about the ImageNet classifier: vocabulary, preprocessing, occlusion, people.

Every builder returns a :class:`ccs_transfer.figures.Figure` whose alt text
is generated from the data drawn, so a reader who cannot see the picture
gets the same numbers and labels. Colours come from the Okabe-Ito palette.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# ccs_transfer.figures selects the Agg backend, so it is imported before pyplot.
from ..figures import OKABE_ITO, Figure
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from ..labels import LabelVocabulary
from .occlusion import OcclusionResult
from .people_readings import PersonReading
from .preprocessing import VariantOutcome
from .vocabulary import GROUP_TITLES, GROUPS, VocabularyAudit

# One Okabe-Ito colour per vocabulary group. The groups a person can be named
# through (people, garments) get the two warm colours.
GROUP_COLOURS: dict[str, str] = {
    "people": OKABE_ITO[5],
    "garments": OKABE_ITO[1],
    "animals": OKABE_ITO[0],
    "food": OKABE_ITO[3],
    "plants": OKABE_ITO[2],
    "natural": OKABE_ITO[6],
    "artefacts": OKABE_ITO[4],
    "other": OKABE_ITO[7],
}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def percent(probability: float) -> str:
    """Format a probability as a percentage with one decimal, as the alt texts print it."""
    return f"{probability * 100:.1f}%"


def _tidy(axis) -> None:
    axis.spines[["top", "right"]].set_visible(False)


def vocabulary_groups_chart(audit: VocabularyAudit) -> Figure:
    """Draw the number of ImageNet-1k classes in each vocabulary group."""
    figure, axis = plt.subplots(figsize=(7.0, 3.6))
    groups = list(GROUPS)[::-1]
    counts = [audit.counts[group] for group in groups]
    bars = axis.barh([GROUP_TITLES[group] for group in groups], counts, color=[GROUP_COLOURS[group] for group in groups])
    for bar, count in zip(bars, counts):
        axis.text(bar.get_width() + 4, bar.get_y() + bar.get_height() / 2, str(count), va="center")
    axis.set_xlabel("number of classes")
    axis.set_xlim(0, max(counts) * 1.12)
    axis.set_title(f"The {audit.total} ImageNet-1k classes by group")
    _tidy(axis)
    alt = (
        f"Horizontal bar chart of the {audit.total} ImageNet-1k classes by group: "
        + ", ".join(f"{GROUP_TITLES[group]} {audit.counts[group]}" for group in GROUPS)
        + "."
    )
    return Figure(figure, alt)


def variant_inputs_figure(inputs: Sequence[np.ndarray], outcomes: Sequence[VariantOutcome], title: str, columns: int = 5) -> Figure:
    """Show the input each variant makes of one photo, captioned with the classifier's top-1 label."""
    if len(inputs) != len(outcomes):
        raise ValueError(f"{len(inputs)} inputs for {len(outcomes)} outcomes.")
    rows = int(np.ceil(len(inputs) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.3 * columns, 2.75 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, pixels, outcome in zip(axes.flat, inputs, outcomes):
        axis.imshow(pixels)
        axis.set_title(f"{outcome.variant.title}\n{outcome.top1.label} {percent(outcome.top1.probability)}", fontsize=8)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    alt = (
        f"{title}. Grid of {len(inputs)} model inputs made from the same photo; under each, the classifier's top-1 label: "
        + "; ".join(f"{outcome.variant.title}: {outcome.top1.label} {percent(outcome.top1.probability)}" for outcome in outcomes)
        + "."
    )
    return Figure(figure, alt)


def label_probability_plot(outcomes: Sequence[VariantOutcome], class_indices: Sequence[int], vocabulary: LabelVocabulary) -> Figure:
    """Plot the probability of a few classes under each variant, one panel per copy of the photo."""
    copy_names = list(dict.fromkeys(outcome.copy_name for outcome in outcomes))
    figure, axes = plt.subplots(1, len(copy_names), figsize=(5.2 * len(copy_names), 4.2), sharey=True, squeeze=False)
    descriptions = []
    for axis, copy_name in zip(axes[0], copy_names):
        rows = [outcome for outcome in outcomes if outcome.copy_name == copy_name]
        positions = np.arange(len(rows))[::-1]
        for number, index in enumerate(class_indices):
            values = [outcome.probability_of(index) for outcome in rows]
            axis.plot(
                values, positions, linestyle="none", marker=MARKERS[number % len(MARKERS)], markersize=7,
                color=OKABE_ITO[number % len(OKABE_ITO)], label=vocabulary[index],
            )
        axis.set_yticks(positions, [outcome.variant.title for outcome in rows])
        axis.set_xlim(0, 1)
        axis.set_xlabel("softmax probability")
        axis.set_title(f"{copy_name} copy")
        axis.grid(axis="x", color="#dddddd")
        _tidy(axis)
        for outcome in rows:
            values = ", ".join(f"{vocabulary[index]} {percent(outcome.probability_of(index))}" for index in class_indices)
            descriptions.append(f"{copy_name} copy, {outcome.variant.title}: {values}")
    axes[0][-1].legend(loc="lower right", fontsize=8)
    figure.suptitle("Probability of five labels under each preprocessing")
    alt = "Dot plot of the probabilities of five ImageNet labels for each preprocessing variant. " + "; ".join(descriptions) + "."
    return Figure(figure, alt)


def occlusion_figure(
    image: np.ndarray,
    maps: Sequence[tuple[str, OcclusionResult]],
    gradient_map: tuple[str, np.ndarray] | None,
    region_names: Sequence[str],
) -> Figure:
    """Show the model input, each occlusion map over it, and optionally a gradient map beside them.

    ``maps`` pairs a class label with its occlusion result; ``region_names``
    names the peak patch of each result, for the alt text. The gradient map
    is drawn on its own, clipped at its 99th percentile, because a few
    extreme pixels would otherwise make the rest invisible.
    """
    if len(maps) != len(region_names):
        raise ValueError(f"{len(maps)} occlusion maps for {len(region_names)} region names.")
    panels = 1 + len(maps) + (1 if gradient_map is not None else 0)
    figure, axes = plt.subplots(1, panels, figsize=(3.1 * panels, 4.3), squeeze=False)
    axes = axes[0]
    grey = image.mean(axis=2)
    axes[0].imshow(image)
    axes[0].set_title("model input", fontsize=9)
    descriptions = []
    for axis, (label, result), region in zip(axes[1:], maps, region_names):
        limit = max(float(np.abs(result.pixel_map).max()), 1e-9)
        axis.imshow(grey, cmap="gray", vmin=0, vmax=1)
        shown = axis.imshow(result.pixel_map, cmap="PuOr_r", vmin=-limit, vmax=limit, alpha=0.6)
        y, x = result.peak_position
        axis.add_patch(plt.Rectangle((x - 0.5, y - 0.5), result.patch, result.patch, fill=False, edgecolor="black", linewidth=2))
        axis.set_title(f"occlusion: {label}\nbaseline {percent(result.baseline)}, peak drop {percent(float(result.drops.max()))}", fontsize=9)
        figure.colorbar(shown, ax=axis, orientation="horizontal", fraction=0.05, pad=0.04, label="fall in probability (rise < 0)")
        descriptions.append(
            f"occlusion map for {label}: baseline probability {percent(result.baseline)}; hiding the {result.patch}-pixel patch at "
            f"rows {y}-{y + result.patch - 1}, columns {x}-{x + result.patch - 1} ({region}) lowers it most, by "
            f"{percent(float(result.drops.max()))}; the largest rise is {percent(max(0.0, -float(result.drops.min())))}"
        )
    if gradient_map is not None:
        label, values = gradient_map
        axis = axes[-1]
        ceiling = max(float(np.percentile(values, 99)), 1e-12)
        shown = axis.imshow(np.clip(values / ceiling, 0, 1), cmap="cividis", vmin=0, vmax=1)
        axis.set_title(f"SmoothGrad: {label}", fontsize=9)
        figure.colorbar(shown, ax=axis, orientation="horizontal", fraction=0.05, pad=0.04, label="gradient size (99th percentile = 1)")
        row, column = np.unravel_index(int(np.argmax(values)), values.shape)
        descriptions.append(f"SmoothGrad map for {label}, drawn alone, strongest at row {row}, column {column}")
    for axis in axes:
        axis.set_xticks([])
        axis.set_yticks([])
        axis.spines[:].set_visible(False)
    alt = f"Model input of {image.shape[0]} x {image.shape[1]} pixels and attribution maps: " + "; ".join(descriptions) + "."
    return Figure(figure, alt)


def people_figure(images: Sequence[np.ndarray], readings: Sequence[PersonReading]) -> Figure:
    """Show each photo of a person beside its top-k labels, the bars coloured by vocabulary group."""
    if len(images) != len(readings):
        raise ValueError(f"{len(images)} images for {len(readings)} readings.")
    figure, axes = plt.subplots(len(readings), 2, figsize=(9.0, 2.9 * len(readings)), squeeze=False, gridspec_kw={"width_ratios": [1, 1.6]})
    used_groups: list[str] = []
    descriptions = []
    for (photo_axis, bar_axis), pixels, reading in zip(axes, images, readings):
        photo_axis.imshow(pixels)
        photo_axis.set_title(reading.photo.id, fontsize=9)
        photo_axis.axis("off")
        labels = [p.label for p in reading.top][::-1]
        values = [p.probability for p in reading.top][::-1]
        groups = list(reading.groups)[::-1]
        bars = bar_axis.barh(labels, values, color=[GROUP_COLOURS[group] for group in groups])
        for bar, value in zip(bars, values):
            bar_axis.text(bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, percent(value), va="center", fontsize=8)
        bar_axis.set_xlim(0, 1)
        bar_axis.set_xlabel("softmax probability")
        _tidy(bar_axis)
        for group in reading.groups:
            if group not in used_groups:
                used_groups.append(group)
        descriptions.append(
            f"{reading.photo.id}: "
            + ", ".join(f"{p.label} {percent(p.probability)} ({group})" for p, group in zip(reading.top, reading.groups))
        )
    handles = [plt.Rectangle((0, 0), 1, 1, color=GROUP_COLOURS[group]) for group in used_groups]
    figure.legend(handles, [GROUP_TITLES[group] for group in used_groups], loc="lower center", ncol=min(3, len(used_groups)), fontsize=8)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    alt = (
        f"{len(readings)} photos of people, each beside a bar chart of its top {len(readings[0].top)} ImageNet labels, "
        "coloured by vocabulary group. " + "; ".join(descriptions) + "."
    )
    return Figure(figure, alt)
