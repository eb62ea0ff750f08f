"""The model comparison: presentation from fixed results, and a run over tiny staged models.

The run uses the tiny SavedModels of ``tiny_hub_models``, a synthetic flower
collection of two colours, and a registry with one staged and one unstaged hub
model, all offline.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ccs_transfer import comparison, registry
from ccs_transfer.comparison import Comparison, ModelResult, UnavailableModel
from ccs_transfer.datasets import grace_hopper_copies
from ccs_transfer.labels import Prediction
from ccs_transfer.model_sources import hub_cache_folder_name
from ccs_transfer.settings import Settings
from ccs_transfer.staging import stage_model


def predictions(entries: list[tuple[str, int, float]]) -> list[Prediction]:
    return [Prediction(rank, index, label, probability, 0.0) for rank, (label, index, probability) in enumerate(entries, start=1)]


def fixed_result(model_id: str, top5: list[tuple[str, int, float]], accuracy: float, vocabulary: str = "imagenet1k") -> ModelResult:
    spec = registry.load_registry()[model_id]
    offset = 1 if vocabulary == "imagenet1001" else 0
    probabilities = {index - offset: probability for _, index, probability in top5}
    return ModelResult(
        spec=spec, weights_sha256="a" * 64, feature_vector_sha256="b" * 64, vocabulary_name=vocabulary,
        grace_hopper={"matplotlib": predictions(top5)}, grace_hopper_probabilities={"matplotlib": probabilities},
        validation_accuracy=accuracy, validation_photos=734,
    )


@pytest.fixture
def fixed_comparison(tmp_path) -> Comparison:
    lite0 = fixed_result("efficientnet_lite0", [("military uniform", 652, 0.46), ("bulletproof vest", 465, 0.08),
                                                ("suit", 834, 0.04), ("Windsor tie", 906, 0.03), ("mortarboard", 667, 0.02)], 0.9012)
    mobilenet = fixed_result("mobilenet_v2", [("military uniform", 653, 0.71), ("suit", 835, 0.05),
                                               ("bow tie", 458, 0.03), ("Windsor tie", 907, 0.02), ("cornet", 514, 0.01)],
                             0.8801, vocabulary="imagenet1001")
    missing = UnavailableModel(registry.load_registry()["inception_v3"], "it is not staged | and the network is off")
    copies = grace_hopper_copies(Settings(cache_dir=tmp_path))
    return Comparison([lite0, mobilenet], [missing], copies)


# --- Presentation ------------------------------------------------------------------------------


def test_imagenet1k_index_aligns_vocabularies():
    assert comparison.imagenet1k_index("imagenet1k", 652) == 652
    assert comparison.imagenet1k_index("imagenet1001", 653) == 652
    assert comparison.imagenet1k_index("imagenet1001", 0) is None


def test_results_table_has_row_per_model(fixed_comparison):
    table = comparison.results_table_markdown(fixed_comparison).splitlines()

    assert table[0].startswith("| Model | Input (px) | Labels | Grace Hopper top-5, matplotlib copy |")
    assert len(table) == 2 + 2
    assert "EfficientNet-Lite0 (ImageNet-1k) (`efficientnet_lite0`)" in table[2]
    assert "military uniform 0.460; bulletproof vest 0.080" in table[2]
    assert "0.901 of 734 photos" in table[2]
    assert "| imagenet1001 |" in table[3]


def test_unavailable_table_escapes_pipes(fixed_comparison):
    table = comparison.unavailable_table_markdown(fixed_comparison)

    assert "`inception_v3`" in table
    assert "it is not staged \\| and the network is off" in table


def test_unavailable_table_when_all_ran(fixed_comparison):
    complete = Comparison(fixed_comparison.results, [], fixed_comparison.copies)

    assert comparison.unavailable_table_markdown(complete) == "Every model of the registry was available in this build."


def test_prose_values(fixed_comparison):
    values = comparison.prose_values(fixed_comparison)

    assert values["model_count"] == "2"
    assert values["model_names"] == "EfficientNet-Lite0 and MobileNet V2"
    assert values["top1_summary"] == "EfficientNet-Lite0: military uniform (0.46); MobileNet V2: military uniform (0.71)"
    assert values["uniform_first"] == "2 of 2"
    assert values["best_accuracy"] == "0.901 (EfficientNet-Lite0)"
    assert values["worst_accuracy"] == "0.880 (MobileNet V2)"
    assert values["accuracy_spread"] == "2.1"
    assert values["unavailable_count"] == "1"
    assert values["unavailable_summary"] == "One model of the registry could not be run here. The table above gives the reason."


def test_prose_values_without_results(fixed_comparison):
    values = comparison.prose_values(Comparison([], fixed_comparison.unavailable, fixed_comparison.copies))

    assert values["model_count"] == "0"
    assert values["unavailable_count"] == "1"


def test_provenance_results_are_json(fixed_comparison):
    results = comparison.provenance_results(fixed_comparison)

    assert json.loads(json.dumps(results)) == results
    assert results["models"]["efficientnet_lite0"]["validation_accuracy"] == 0.9012
    assert results["models"]["mobilenet_v2"]["grace_hopper_top5"]["matplotlib"][0] == {
        "label": "military uniform", "index": 653, "probability": 0.71
    }
    assert results["unavailable"] == {"inception_v3": "it is not staged | and the network is off"}


def test_union_of_top_labels_joins_vocabularies(fixed_comparison):
    indices, labels = comparison._union_of_top_labels(fixed_comparison.results)

    assert labels[0] == "military uniform"
    assert indices[0] == 652
    assert labels.count("suit") == 1
    assert set(labels) == {"military uniform", "bulletproof vest", "suit", "Windsor tie", "mortarboard", "bow tie", "cornet"}


def test_figure_alt_text_states_data(fixed_comparison):
    figure = comparison.comparison_figure(fixed_comparison)

    assert figure.png.startswith(b"\x89PNG\r\n\x1a\n")
    assert "EfficientNet-Lite0 0.901" in figure.alt
    assert "MobileNet V2 0.880" in figure.alt
    assert "MobileNet V2: military uniform 0.710; suit 0.050" in figure.alt
    assert "military uniform 0.710" in figure.alt
    assert "7 labels" in figure.alt


def test_figure_needs_results(fixed_comparison):
    with pytest.raises(ValueError, match="No model was compared"):
        comparison.comparison_figure(Comparison([], fixed_comparison.unavailable, fixed_comparison.copies))


# --- A run over tiny staged models ------------------------------------------------------------------


@pytest.fixture
def synthetic_flowers(tmp_path):
    """A data mirror with 10 reddish and 10 bluish photos."""
    rng = np.random.default_rng(5)
    root = tmp_path / "data" / "flower_photos"
    for name, colour in (("bluebells", (40, 60, 200)), ("poppies", (210, 40, 30))):
        (root / name).mkdir(parents=True)
        for number in range(10):
            pixels = np.clip(np.array(colour) + rng.normal(0, 20, size=(40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{number:02d}.jpg")
    return tmp_path / "data"


@pytest.fixture
def tiny_comparison_settings(tmp_path, tiny_hub_models, tiny_registry_yaml, synthetic_flowers, monkeypatch):
    specs = registry.parse_registry(tiny_registry_yaml(), "test registry")
    sources = {
        tiny_hub_models.classifier_handle: tiny_hub_models.classifier_1001,
        tiny_hub_models.feature_vector_handle: tiny_hub_models.feature_vector,
    }
    stage_model(specs["tiny_hub"], tmp_path / "mirror", allow_network=False, resolver=lambda handle, folder: sources[handle])
    monkeypatch.setattr(registry, "_packaged_registry", lambda: specs)
    return Settings(
        data_dir=synthetic_flowers, cache_dir=tmp_path / "cache", build_dir=tmp_path / "_build",
        models_dir=(tmp_path / "mirror").resolve(), allow_network=False, epochs=3,
    )


def test_compare_runs_available_models(tiny_comparison_settings, tiny_hub_models):
    result = comparison.compare_models(tiny_comparison_settings)

    assert [entry.spec.id for entry in result.results] == ["tiny_hub"]
    tiny = result.results[0]
    assert tiny.vocabulary_name == "imagenet1001"
    assert [p.rank for p in tiny.grace_hopper["matplotlib"]] == [1, 2, 3, 4, 5]
    assert tiny.grace_hopper["matplotlib"][0].index in (0, tiny_hub_models.bright_index)
    assert 0.0 <= tiny.validation_accuracy <= 1.0
    assert tiny.validation_photos == 4
    assert [(missing.spec.id, "not staged" in missing.reason) for missing in result.unavailable] == [("unstaged_hub", True)]


def test_compare_is_cached_on_second_run(tiny_comparison_settings):
    first = comparison.compare_models(tiny_comparison_settings)
    heads = list((tiny_comparison_settings.cache_dir / "heads").glob("*.npz"))

    second = comparison.compare_models(tiny_comparison_settings)

    assert len(heads) == 1
    assert second.results[0].validation_accuracy == first.results[0].validation_accuracy
    assert comparison.provenance_results(second) == comparison.provenance_results(first)


def test_compare_lists_changed_staged_copy(tiny_comparison_settings, tiny_hub_models):
    folder = tiny_comparison_settings.models_dir / hub_cache_folder_name(tiny_hub_models.feature_vector_handle)
    (folder / "extra.txt").write_text("changed after staging", encoding="utf-8")

    result = comparison.compare_models(tiny_comparison_settings)

    assert result.results == []
    reasons = {missing.spec.id: missing.reason for missing in result.unavailable}
    assert "was recorded when it was staged" in reasons["tiny_hub"]
    assert str(folder) in reasons["tiny_hub"]


def test_prepare_warms_caches(tiny_comparison_settings):
    prepared = comparison.prepare_comparison(tiny_comparison_settings, progress=False)

    heads = list((tiny_comparison_settings.cache_dir / "heads").glob("*.npz"))
    assert prepared == ["tiny_hub"]
    assert len(heads) == 1
    assert heads[0].name.startswith("tiny_hub-")


def test_fingerprint_follows_staging(tiny_comparison_settings, tiny_hub_models):
    before = comparison.availability_fingerprint(tiny_comparison_settings)
    manifest_path = tiny_comparison_settings.models_dir / "staged.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest[tiny_hub_models.classifier_handle]["sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")

    after = comparison.availability_fingerprint(tiny_comparison_settings)

    assert before["tiny_hub"].startswith("available=True; staged; ")
    assert f"{tiny_hub_models.classifier_handle}=" in before["tiny_hub"]
    assert before["unstaged_hub"].startswith("available=False; ")
    assert after["tiny_hub"] != before["tiny_hub"]
    assert after["tiny_hub"].startswith("available=False; ")


def test_registry_file_model_is_opened(tmp_path, tiny_hub_models, tiny_registry_yaml, synthetic_flowers):
    registry_path = tmp_path / "models.yml"
    registry_path.write_text(tiny_registry_yaml(), encoding="utf-8")
    spec = registry.load_registry(registry_path)["tiny_hub"]
    sources = {
        tiny_hub_models.classifier_handle: tiny_hub_models.classifier_1001,
        tiny_hub_models.feature_vector_handle: tiny_hub_models.feature_vector,
    }
    stage_model(spec, tmp_path / "mirror", allow_network=False, resolver=lambda handle, folder: sources[handle])
    settings = Settings(
        data_dir=synthetic_flowers, cache_dir=tmp_path / "cache", registry=registry_path,
        models_dir=(tmp_path / "mirror").resolve(), allow_network=False,
    )

    edition = comparison.open_model_edition(settings, spec)

    assert edition.spec.id == "tiny_hub"
    assert edition.vocabulary.name == "imagenet1001"
    assert edition.classifier.source == "staged"

