"""Shared fixtures: the local data mirror and settings that point at temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ccs_transfer.settings import REPOSITORY_ROOT, Settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def mirror_path() -> Path | None:
    """Return the local data mirror (EDITION_DATA_DIR, else ../shared/data), or None."""
    candidate = Path(os.environ.get("EDITION_DATA_DIR") or REPOSITORY_ROOT.parent / "shared" / "data")
    return candidate if (candidate / "flower_photos").is_dir() else None


@pytest.fixture
def data_mirror() -> Path:
    path = mirror_path()
    if path is None:
        pytest.skip("no local data mirror (set EDITION_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def shared_cache_dir(tmp_path_factory) -> Path:
    """A cache folder for converted models, shared by every test of the session."""
    configured = os.environ.get("EDITION_TEST_CACHE_DIR")
    return Path(configured) if configured else tmp_path_factory.mktemp("edition-cache")


@pytest.fixture
def offline_settings(tmp_path, shared_cache_dir) -> Settings:
    return Settings(data_dir=None, cache_dir=shared_cache_dir, build_dir=tmp_path / "_build", allow_network=False)


# --- Tiny TF Hub-format SavedModels (hub, staging, CLI and comparison tests) ----------

TINY_INPUT_SIZE = 32
TINY_FEATURE_SIZE = 8
TINY_CLASSIFIER_HANDLE = "https://tfhub.dev/ccs-transfer-tests/tiny/classification/1"
TINY_FEATURE_VECTOR_HANDLE = "https://tfhub.dev/ccs-transfer-tests/tiny/feature_vector/1"


def _save_tiny_model(folder: Path, outputs: int, kernel, bias) -> Path:
    """Save a Keras model [None, S, S, 3] float32 -> [None, outputs] with tf.saved_model.save, as TF Hub models are."""
    from ccs_transfer.tf_runtime import load_tensorflow

    runtime = load_tensorflow()
    keras = runtime.keras
    inputs = keras.Input(shape=(TINY_INPUT_SIZE, TINY_INPUT_SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    dense = keras.layers.Dense(outputs)
    model = keras.Model(inputs, dense(pooled))
    dense.set_weights([kernel, bias])
    runtime.tf.saved_model.save(model, str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_hub_models(tmp_path_factory):
    """Three tiny SavedModels: classifiers with 1001 and 1000 outputs, and an 8-value feature vector.

    Each classifier averages the pixels: a white photo scores highest at
    ``bright_index`` (1 + the ImageNet-1k index of "military uniform", so 653),
    and a black photo at index 0 ("background" in imagenet1001).
    """
    import types

    import numpy as np

    from ccs_transfer.labels import imagenet1k

    root = tmp_path_factory.mktemp("tiny-hub-models")
    bright_index = 1 + imagenet1k().index_of("military uniform")

    def classifier_weights(outputs: int):
        kernel = np.zeros((3, outputs), dtype=np.float32)
        kernel[:, bright_index] = 10.0
        bias = np.zeros(outputs, dtype=np.float32)
        bias[0] = 5.0
        return kernel, bias

    features_kernel = np.random.default_rng(0).normal(size=(3, TINY_FEATURE_SIZE)).astype(np.float32)
    return types.SimpleNamespace(
        classifier_1001=_save_tiny_model(root / "classifier-1001", 1001, *classifier_weights(1001)),
        classifier_1000=_save_tiny_model(root / "classifier-1000", 1000, *classifier_weights(1000)),
        feature_vector=_save_tiny_model(
            root / "feature-vector", TINY_FEATURE_SIZE, features_kernel, np.zeros(TINY_FEATURE_SIZE, dtype=np.float32)
        ),
        bright_index=bright_index,
        classifier_handle=TINY_CLASSIFIER_HANDLE,
        feature_vector_handle=TINY_FEATURE_VECTOR_HANDLE,
    )


@pytest.fixture(scope="session")
def tiny_registry_yaml():
    """Return a function that builds registry YAML: a hub entry for the tiny models and one that is never staged."""
    return _tiny_registry_text


def _tiny_registry_text(labels: str = "imagenet1001", model_id: str = "tiny_hub") -> str:
    return f"""
models:
  - id: {model_id}
    title: Tiny test model
    source: hub
    classifier_handle: {TINY_CLASSIFIER_HANDLE}
    feature_vector_handle: {TINY_FEATURE_VECTOR_HANDLE}
    input_size: {TINY_INPUT_SIZE}
    value_range: [0.0, 1.0]
    labels: {labels}
    feature_size: {TINY_FEATURE_SIZE}
    licence: CC0-1.0
    citation_key: none
  - id: unstaged_hub
    title: Hub model that is never staged
    source: hub
    classifier_handle: https://tfhub.dev/ccs-transfer-tests/unstaged/classification/1
    feature_vector_handle: https://tfhub.dev/ccs-transfer-tests/unstaged/feature_vector/1
    input_size: 224
    value_range: [0.0, 1.0]
    labels: imagenet1001
    feature_size: 1280
    licence: CC0-1.0
    citation_key: none
"""
