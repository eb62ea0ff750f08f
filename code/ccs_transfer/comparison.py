"""Run the tutorial's two experiments with every registry model available in this build.

For each model, :func:`compare_models` classifies the Grace Hopper portrait (the
whole photo resized bicubically, as on the classifier page) and reads the flower
head's validation accuracy (same split, seed and epochs as the transfer page,
through ``Edition.trained_head``). Feature vectors and trained heads are cached
per model, so a build whose caches are warm loads each model and runs only the
portrait through it.

Models that are not available are listed with the reason, never skipped silently.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .datasets import PortraitCopy, grace_hopper_copies
from .errors import IntegrityError, ModelUnavailableError
from .images import load_photo
from .labels import Prediction, softmax, top_k
from .model_sources import EMBEDDED_PREFIX, handle_kind, model_availability, read_staged_manifest
from .registry import ModelSpec, load_registry
from .settings import Settings

logger = logging.getLogger(__name__)

TOP_K = 5
# The portrait copy that the figure and the prose use; matplotlib ships it, so every build has it.
MAIN_COPY = "matplotlib"


@dataclass(frozen=True)
class ModelResult:
    """One model's results: its Grace Hopper top-5 per portrait copy and its flower validation accuracy."""

    spec: ModelSpec
    weights_sha256: str
    feature_vector_sha256: str
    vocabulary_name: str
    grace_hopper: dict[str, list[Prediction]]
    # Softmax over all classes for each copy, keyed by ImageNet-1k index so that
    # 1000- and 1001-output models line up ("background" has no key).
    grace_hopper_probabilities: dict[str, dict[int, float]]
    validation_accuracy: float
    validation_photos: int


@dataclass(frozen=True)
class UnavailableModel:
    """A registry model that this build could not run, with the reason."""

    spec: ModelSpec
    reason: str


@dataclass(frozen=True)
class Comparison:
    """The results of every available model and the reasons for the others, in registry order."""

    results: list[ModelResult]
    unavailable: list[UnavailableModel]
    copies: list[PortraitCopy]


def open_model_edition(settings: Settings, spec: ModelSpec):
    """Open the edition of ``spec``: the same settings, with ``spec`` as the model."""
    from .edition import open_edition

    return open_edition(dataclasses.replace(settings, model=spec.id))


def imagenet1k_index(vocabulary_name: str, index: int) -> int | None:
    """Map a model's output index to the ImageNet-1k class index; None for imagenet1001's "background"."""
    if vocabulary_name == "imagenet1001":
        return index - 1 if index > 0 else None
    return index


def _class_probabilities(logits: np.ndarray, vocabulary_name: str) -> dict[int, float]:
    probabilities = softmax(logits)
    by_class = {}
    for index, probability in enumerate(probabilities):
        class_index = imagenet1k_index(vocabulary_name, index)
        if class_index is not None:
            by_class[class_index] = float(probability)
    return by_class


def evaluate_model(edition, portraits: dict[str, Any], *, progress: bool = False) -> ModelResult:
    """Classify each portrait with ``edition``'s classifier and read its flower head's validation accuracy."""
    top5 = {}
    probabilities = {}
    for name, photo in portraits.items():
        logits = edition.classifier_logits(edition.classifier_input(photo))[0]
        top5[name] = top_k(logits, edition.vocabulary, k=TOP_K)
        probabilities[name] = _class_probabilities(logits, edition.vocabulary.name)
    _, training = edition.trained_head(progress=progress)
    return ModelResult(
        spec=edition.spec,
        weights_sha256=edition.classifier.sha256,
        feature_vector_sha256=edition.feature_vector.sha256,
        vocabulary_name=edition.vocabulary.name,
        grace_hopper=top5,
        grace_hopper_probabilities=probabilities,
        validation_accuracy=float(training.validation_accuracy),
        validation_photos=len(edition.validation_photos),
    )


def compare_models(settings: Settings, *, progress: bool = False, registry: dict[str, ModelSpec] | None = None) -> Comparison:
    """Run every available registry model on the portrait and the flower task.

    A model whose availability check fails, or whose handles cannot be resolved
    (not staged, or a staged copy that fails its hash check), is listed in
    ``Comparison.unavailable`` with the error's message.
    """
    registry = load_registry(settings.registry) if registry is None else registry
    copies = grace_hopper_copies(settings)
    portraits = {copy.name: load_photo(copy.path, max_pixels=settings.max_image_pixels) for copy in copies}

    results = []
    unavailable = []
    for spec in registry.values():
        available, reason = model_availability(spec, settings)
        if not available:
            unavailable.append(UnavailableModel(spec, reason))
            continue
        started = time.perf_counter()
        try:
            edition = open_model_edition(settings, spec)
        except (ModelUnavailableError, IntegrityError) as error:
            unavailable.append(UnavailableModel(spec, error.message))
            continue
        results.append(evaluate_model(edition, portraits, progress=progress))
        logger.info("Compared %s in %.1f s.", spec.id, time.perf_counter() - started)
    return Comparison(results, unavailable, copies)


def availability_fingerprint(settings: Settings) -> dict[str, str]:
    """Return, per registry model, whether it is available and which weights it would load.

    The build fingerprint needs this because the comparison page runs models
    other than the build's own. Staging a model, or changing a staged copy or
    an installed weights package, must execute the page again instead of
    reusing its cached outputs. Staged copies are identified by the hashes
    recorded in staged.json, which resolution verifies.
    """
    from .integrity import sha256_file

    entries = {}
    for spec in load_registry(settings.registry).values():
        available, reason = model_availability(spec, settings)
        parts = [f"available={available}", reason]
        if available and spec.source == "embedded":
            from .embedded import weights_path_for

            variant = spec.classifier_handle[len(EMBEDDED_PREFIX):].partition("/")[0]
            parts.append(f"weights={sha256_file(weights_path_for(variant))}")
        elif available and settings.models_dir is not None:
            staged = read_staged_manifest(settings.models_dir)
            for handle in (spec.classifier_handle, spec.feature_vector_handle):
                if handle_kind(handle) == "hub" and handle in staged:
                    parts.append(f"{handle}={staged[handle]['sha256']}")
        entries[spec.id] = "; ".join(parts)
    return entries


def prepare_comparison(settings: Settings, *, progress: bool = True) -> list[str]:
    """Convert, extract features and train the head of every available model, and return their ids.

    Meant for the build's preparation step, where progress bars reach the
    terminal. Afterwards ``compare_models`` finds every cache warm. With warm
    caches this loads no model, because each head is read back from disk.
    """
    prepared = []
    for spec in load_registry(settings.registry).values():
        if not model_availability(spec, settings)[0]:
            continue
        started = time.perf_counter()
        try:
            edition = open_model_edition(settings, spec)
        except (ModelUnavailableError, IntegrityError) as error:
            logger.warning("Skipping %s in the comparison: %s", spec.id, error.message)
            continue
        _, training = edition.trained_head(progress=progress)
        logger.info("Prepared %s for the comparison in %.1f s (validation accuracy %.4f).",
                    spec.id, time.perf_counter() - started, training.validation_accuracy)
        prepared.append(spec.id)
    return prepared


# --- Presentation ------------------------------------------------------------


def _format_top5(predictions: list[Prediction]) -> str:
    return "; ".join(f"{p.label} {p.probability:.3f}" for p in predictions)


def _escape_cell(text: str) -> str:
    return text.replace("|", "\\|")


def results_table_markdown(comparison: Comparison) -> str:
    """Return a Markdown table: one row per compared model."""
    copy_names = [copy.name for copy in comparison.copies]
    header = ["Model", "Input (px)", "Labels"]
    header += [f"Grace Hopper top-5, {name} copy" for name in copy_names]
    header += ["Flower validation accuracy"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for result in comparison.results:
        cells = [f"{result.spec.title} (`{result.spec.id}`)", str(result.spec.input_size), result.vocabulary_name]
        cells += [_format_top5(result.grace_hopper[name]) for name in copy_names]
        cells += [f"{result.validation_accuracy:.3f} of {result.validation_photos} photos"]
        lines.append("| " + " | ".join(_escape_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def unavailable_table_markdown(comparison: Comparison) -> str:
    """Return a Markdown table of the models this build could not run, or a sentence when there are none."""
    if not comparison.unavailable:
        return "Every model of the registry was available in this build."
    lines = ["| Model | Source | Why it was not run |", "| --- | --- | --- |"]
    for missing in comparison.unavailable:
        cells = [f"{missing.spec.title} (`{missing.spec.id}`)", missing.spec.source, missing.reason]
        lines.append("| " + " | ".join(_escape_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def short_title(spec: ModelSpec) -> str:
    """Return the model's title without its parenthesised note, for example "EfficientNet-Lite0"."""
    return spec.title.split(" (")[0]


def _joined(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def prose_values(comparison: Comparison) -> dict[str, str]:
    """Return the values that the page's prose shows through ``glue``, as text."""
    results = comparison.results
    missing = len(comparison.unavailable)
    if missing == 0:
        unavailable_summary = "Every model of the registry could be run here."
    elif missing == 1:
        unavailable_summary = "One model of the registry could not be run here. The table above gives the reason."
    else:
        unavailable_summary = f"{missing} models of the registry could not be run here. The table above gives the reasons."
    if not results:
        return {"model_count": "0", "model_names": "no model", "top1_summary": "none", "uniform_first": "0 of 0",
                "best_accuracy": "none", "worst_accuracy": "none", "accuracy_spread": "0.0",
                "unavailable_count": str(missing), "unavailable_summary": unavailable_summary}
    by_accuracy = sorted(results, key=lambda result: result.validation_accuracy)
    worst, best = by_accuracy[0], by_accuracy[-1]
    top1 = [(short_title(result.spec), result.grace_hopper[MAIN_COPY][0]) for result in results]
    uniform_first = sum(1 for _, prediction in top1 if prediction.label == "military uniform")
    return {
        "model_count": str(len(results)),
        "model_names": _joined([short_title(result.spec) for result in results]),
        "top1_summary": "; ".join(f"{title}: {p.label} ({p.probability:.2f})" for title, p in top1),
        "uniform_first": f"{uniform_first} of {len(results)}",
        "best_accuracy": f"{best.validation_accuracy:.3f} ({short_title(best.spec)})",
        "worst_accuracy": f"{worst.validation_accuracy:.3f} ({short_title(worst.spec)})",
        "accuracy_spread": f"{(best.validation_accuracy - worst.validation_accuracy) * 100:.1f}",
        "unavailable_count": str(missing),
        "unavailable_summary": unavailable_summary,
    }


def provenance_results(comparison: Comparison) -> dict[str, Any]:
    """Return the comparison's results for the page's provenance record (no clock times, so builds compare)."""
    return {
        "models": {
            result.spec.id: {
                "weights_sha256": result.weights_sha256,
                "feature_vector_sha256": result.feature_vector_sha256,
                "input_size": result.spec.input_size,
                "labels": result.vocabulary_name,
                "grace_hopper_top5": {
                    name: [{"label": p.label, "index": p.index, "probability": round(p.probability, 4)} for p in predictions]
                    for name, predictions in result.grace_hopper.items()
                },
                "validation_accuracy": round(result.validation_accuracy, 6),
            }
            for result in comparison.results
        },
        "unavailable": {missing.spec.id: missing.reason for missing in comparison.unavailable},
    }


def comparison_figure(comparison: Comparison):
    """Draw validation accuracy per model beside a heat map of the portrait's top labels per model.

    The heat map has one row per label that any model ranks in its top 5 for
    matplotlib's copy. Each cell is one model's probability for that label.
    """
    import matplotlib.pyplot as plt

    from .figures import OKABE_ITO, Figure

    results = comparison.results
    if not results:
        raise ValueError("No model was compared, so there is nothing to draw.")
    titles = [short_title(result.spec) for result in results]
    class_indices, class_labels = _union_of_top_labels(results)
    grid = np.array(
        [[result.grace_hopper_probabilities[MAIN_COPY].get(index, 0.0) for result in results] for index in class_indices]
    )

    figure, (accuracy_axis, heat_axis) = plt.subplots(
        1, 2, figsize=(4.0 + 1.3 * len(results), 0.42 * len(class_labels) + 2.2), gridspec_kw={"width_ratios": [1, 1.4]}
    )
    accuracies = [result.validation_accuracy for result in results]
    bars = accuracy_axis.barh(titles[::-1], accuracies[::-1], color=OKABE_ITO[2])
    for bar, value in zip(bars, accuracies[::-1]):
        # Black on the Okabe-Ito green has a contrast ratio above 6:1; white would be near 3:1.
        accuracy_axis.text(bar.get_width() - 0.02, bar.get_y() + bar.get_height() / 2, f"{value:.3f}",
                           va="center", ha="right", color="black")
    accuracy_axis.set_xlim(0, 1)
    accuracy_axis.set_xlabel("validation accuracy, flower photos")
    accuracy_axis.set_title("Flower task")
    accuracy_axis.spines[["top", "right"]].set_visible(False)

    heat_axis.imshow(grid, cmap="cividis", vmin=0.0, vmax=1.0, aspect="auto")
    heat_axis.set_xticks(range(len(results)), titles, rotation=20, ha="right")
    heat_axis.set_yticks(range(len(class_labels)), class_labels)
    for row in range(grid.shape[0]):
        for column in range(grid.shape[1]):
            value = grid[row, column]
            # cividis is dark blue below about 0.35 and grey to yellow above, so the text colour flips there.
            heat_axis.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=8,
                           color="black" if value > 0.35 else "white")
    heat_axis.set_title(f"Grace Hopper, {MAIN_COPY} copy: probability")
    figure.tight_layout()
    return Figure(figure, _figure_alt_text(results, class_labels))


def _union_of_top_labels(results: list[ModelResult]) -> tuple[list[int], list[str]]:
    """Return the ImageNet-1k indices and labels in any model's top 5, ordered by their best rank, then by first appearance."""
    best_rank: dict[int, tuple[int, int, str]] = {}
    order = 0
    for result in results:
        for prediction in result.grace_hopper[MAIN_COPY]:
            class_index = imagenet1k_index(result.vocabulary_name, prediction.index)
            if class_index is None:
                continue
            if class_index not in best_rank or prediction.rank < best_rank[class_index][0]:
                first_seen = best_rank[class_index][1] if class_index in best_rank else order
                best_rank[class_index] = (prediction.rank, first_seen, prediction.label)
            order += 1
    ranked = sorted(best_rank.items(), key=lambda item: (item[1][0], item[1][1]))
    return [index for index, _ in ranked], [entry[2] for _, entry in ranked]


def _figure_alt_text(results: list[ModelResult], class_labels: list[str]) -> str:
    accuracies = "; ".join(f"{short_title(result.spec)} {result.validation_accuracy:.3f}" for result in results)
    top_labels = ". ".join(f"{short_title(result.spec)}: {_format_top5(result.grace_hopper[MAIN_COPY])}" for result in results)
    return (
        f"Two panels comparing {len(results)} models. Left, a bar chart of flower validation accuracy: {accuracies}. "
        f"Right, a heat map of each model's probability for the {len(class_labels)} labels that any model ranks in its "
        f"top 5 for the {MAIN_COPY} copy of the Grace Hopper portrait. Top 5 per model: {top_labels}."
    )
