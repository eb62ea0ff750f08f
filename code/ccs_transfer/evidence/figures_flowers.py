"""Figures of the evidence pages about the flower photos: before the head, after it, and the labels.

As in :mod:`.figures_classifier`, every builder returns a
:class:`ccs_transfer.figures.Figure` with alt text generated from the data,
in Okabe-Ito colours. Flower classes get one colour and one marker each, so
the scatter plot can also be read without colour.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# ccs_transfer.figures selects the Agg backend, so it is imported before pyplot.
from ..figures import OKABE_ITO, Figure
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from .confusion import Mistake  # noqa: E402
from .figures_classifier import GROUP_COLOURS, MARKERS, percent  # noqa: E402
from .imagenet_view import FlowerClassView  # noqa: E402
from .vocabulary import GROUP_TITLES, GROUPS  # noqa: E402


def _tidy(axis) -> None:
    axis.spines[["top", "right"]].set_visible(False)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _group_legend(figure, used_groups: Sequence[str]) -> None:
    ordered = [group for group in GROUPS if group in used_groups]
    handles = [plt.Rectangle((0, 0), 1, 1, color=GROUP_COLOURS[group]) for group in ordered]
    figure.legend(handles, [GROUP_TITLES[group] for group in ordered], loc="lower center", ncol=min(3, len(ordered)), fontsize=8)


def imagenet_top1_figure(views: Sequence[FlowerClassView]) -> Figure:
    """Draw, per flower class, the most frequent ImageNet top-1 labels, coloured by vocabulary group."""
    figure, axes = plt.subplots(len(views), 1, figsize=(7.2, 1.75 * len(views) + 0.8), squeeze=False)
    used_groups: set[str] = set()
    descriptions = []
    for axis, view in zip(axes[:, 0], views):
        answers = list(view.top_labels)[::-1]
        counts = [answer.count for answer in answers]
        bars = axis.barh([answer.label for answer in answers], counts, color=[GROUP_COLOURS[answer.group] for answer in answers])
        for bar, count in zip(bars, counts):
            axis.text(bar.get_width() + 0.5, bar.get_y() + bar.get_height() / 2, str(count), va="center", fontsize=8)
        axis.set_title(
            f"{view.flower_class}: {view.photo_count} photos, {view.distinct_labels} different top-1 labels",
            fontsize=9, loc="left",
        )
        axis.set_xlim(0, max([view.photo_count * 0.6] + [count * 1.15 for count in counts]))
        axis.tick_params(labelsize=8)
        _tidy(axis)
        used_groups.update(answer.group for answer in answers)
        descriptions.append(
            f"{view.flower_class} ({view.photo_count} photos): "
            + ", ".join(f"{answer.label} {answer.count} ({answer.group})" for answer in view.top_labels)
        )
    axes[-1, 0].set_xlabel("validation photos with this top-1 label")
    _group_legend(figure, sorted(used_groups))
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    alt = (
        f"{len(views)} bar charts, one per flower class, of the most frequent top-1 labels of the ImageNet classifier "
        "on the validation photos, coloured by vocabulary group. " + "; ".join(descriptions) + "."
    )
    return Figure(figure, alt)


def confusion_matrix_figure(matrix: np.ndarray, class_names: Sequence[str]) -> Figure:
    """Draw a confusion matrix with the count in every cell; rows are true classes."""
    matrix = np.asarray(matrix)
    figure, axis = plt.subplots(figsize=(5.6, 4.8))
    shown = axis.imshow(matrix, cmap="cividis")
    threshold = matrix.max() / 2 if matrix.size else 0
    for row in range(matrix.shape[0]):
        for column in range(matrix.shape[1]):
            value = int(matrix[row, column])
            axis.text(column, row, str(value), ha="center", va="center", color="black" if value > threshold else "white", fontsize=10)
    axis.set_xticks(range(len(class_names)), class_names, rotation=30, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted by the head")
    axis.set_ylabel("folder (label in the data)")
    axis.set_title("Validation photos by label and prediction")
    figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.04, label="photos")
    rows = []
    for row, name in enumerate(class_names):
        cells = ", ".join(f"{class_names[column]} {int(matrix[row, column])}" for column in range(len(class_names)))
        rows.append(f"{name} photos predicted as {cells}")
    alt = f"Confusion matrix of {int(matrix.sum())} validation photos, rows are labels and columns predictions: " + "; ".join(rows) + "."
    return Figure(figure, alt)


def mistakes_figure(
    images: Sequence[np.ndarray], mistakes: Sequence[Mistake], file_names: Sequence[str], class_names: Sequence[str], columns: int = 4
) -> Figure:
    """Show the most confident mistakes with file name, prediction, probability and label."""
    if not (len(images) == len(mistakes) == len(file_names)):
        raise ValueError(f"{len(images)} images, {len(mistakes)} mistakes and {len(file_names)} file names do not match.")
    rows = max(1, int(np.ceil(len(images) / columns)))
    figure, axes = plt.subplots(rows, columns, figsize=(2.7 * columns, 3.1 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    captions = []
    for axis, pixels, mistake, file_name in zip(axes.flat, images, mistakes, file_names):
        caption = (
            f"{file_name}: predicted {class_names[mistake.predicted_class]} {percent(mistake.confidence)}, "
            f"labelled {class_names[mistake.true_class]} ({percent(mistake.true_class_probability)})"
        )
        captions.append(caption)
        axis.imshow(pixels)
        axis.set_title(
            f"{file_name}\npredicted {class_names[mistake.predicted_class]} {percent(mistake.confidence)}\n"
            f"labelled {class_names[mistake.true_class]}",
            fontsize=7.5,
        )
    figure.suptitle("The head's most confident mistakes")
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    alt = f"Grid of the {len(images)} validation photos on which the head was most confident and wrong: " + "; ".join(captions) + "."
    return Figure(figure, alt)


def pca_scatter(coordinates: np.ndarray, labels: Sequence[int], class_names: Sequence[str], explained: Sequence[float], subject: str) -> Figure:
    """Scatter the first two principal components, one colour and marker per class."""
    coordinates = np.asarray(coordinates)
    labels = np.asarray(labels)
    figure, axis = plt.subplots(figsize=(6.8, 5.4))
    descriptions = []
    for class_index, name in enumerate(class_names):
        members = coordinates[labels == class_index]
        axis.scatter(
            members[:, 0], members[:, 1], s=9, alpha=0.55, marker=MARKERS[class_index % len(MARKERS)],
            color=OKABE_ITO[class_index % len(OKABE_ITO)], label=f"{name} ({len(members)})", linewidths=0,
        )
        if len(members):
            centre = members.mean(axis=0)
            descriptions.append(f"{name}: {_count(len(members), 'point')} centred at ({centre[0]:.2f}, {centre[1]:.2f})")
    axis.set_xlabel(f"first principal component ({percent(explained[0])} of the variance)")
    axis.set_ylabel(f"second principal component ({percent(explained[1])})")
    axis.set_title(f"Frozen feature vectors of {subject}, projected with PCA")
    legend = axis.legend(fontsize=8, markerscale=2)
    for handle in legend.legend_handles:
        handle.set_alpha(1)
    _tidy(axis)
    alt = (
        f"Scatter plot of {len(coordinates)} feature vectors ({subject}) on the first two principal components, "
        f"which explain {percent(explained[0])} and {percent(explained[1])} of the variance. " + "; ".join(descriptions) + "."
    )
    return Figure(figure, alt)


def class_balance_chart(class_counts: dict[str, int]) -> Figure:
    """Draw the number of photos in each class folder."""
    figure, axis = plt.subplots(figsize=(6.0, 3.0))
    names = list(class_counts)
    counts = [class_counts[name] for name in names]
    bars = axis.bar(names, counts, color=[OKABE_ITO[index % len(OKABE_ITO)] for index in range(len(names))])
    for bar, count in zip(bars, counts):
        axis.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 8, str(count), ha="center")
    axis.set_ylabel("photos")
    axis.set_ylim(0, max(counts) * 1.15)
    axis.set_title(f"{sum(counts)} photos in {len(names)} class folders")
    _tidy(axis)
    alt = f"Bar chart of the photos per class folder, {sum(counts)} in all: " + ", ".join(f"{name} {count}" for name, count in class_counts.items()) + "."
    return Figure(figure, alt)


def captioned_photos_figure(images: Sequence[np.ndarray], captions: Sequence[str], title: str, columns: int = 4) -> Figure:
    """Show photos in a grid, each with its caption; the alt text repeats every caption."""
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images for {len(captions)} captions.")
    if not images:
        raise ValueError("no photos to show.")
    columns = min(columns, len(images))
    rows = int(np.ceil(len(images) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.9 * columns, 3.2 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, pixels, caption in zip(axes.flat, images, captions):
        axis.imshow(pixels)
        axis.set_title(caption, fontsize=7.5)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0, 1, 0.92))
    alt = f"{title}. {_count(len(images), 'photo')}: " + "; ".join(caption.replace("\n", " ") for caption in captions) + "."
    return Figure(figure, alt)
