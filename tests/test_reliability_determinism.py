"""Determinism of the head training and of the cached vectors that feed it.

The book's numbers must be the same on every rebuild from one commit, model and
data. Training is seeded through ``determinism.seed_everything``; these tests
train a small head on synthetic feature vectors, which takes a few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ccs_transfer.training import TrainingResult, fit_head_on_features, new_classification_head

FEATURES = 32
CLASSES = 3


@pytest.fixture(scope="module")
def small_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """60 training and 20 validation vectors, with labels that a linear head can partly learn."""
    rng = np.random.default_rng(2024)
    centres = rng.normal(size=(CLASSES, FEATURES))
    train_labels = rng.integers(0, CLASSES, 60)
    validation_labels = rng.integers(0, CLASSES, 20)
    train = (centres[train_labels] + rng.normal(scale=2.0, size=(60, FEATURES))).astype(np.float32)
    validation = (centres[validation_labels] + rng.normal(scale=2.0, size=(20, FEATURES))).astype(np.float32)
    return train, train_labels, validation, validation_labels


def train(problem, seed: int, *, build_first: bool = False) -> TrainingResult:
    head = new_classification_head(CLASSES)
    if build_first:
        # The transfer page builds the head inside Sequential([extractor, head]) before fitting it.
        from ccs_transfer.tf_runtime import load_tensorflow

        keras = load_tensorflow().keras
        keras.Sequential([keras.Input(shape=(FEATURES,)), head])
    train_features, train_labels, validation_features, validation_labels = problem
    return fit_head_on_features(
        head, train_features, train_labels, validation_features, validation_labels, epochs=4, seed=seed, batch_size=8, progress=False
    )


def test_same_seed_gives_identical_head(small_problem):
    first = train(small_problem, seed=123)
    second = train(small_problem, seed=123)

    np.testing.assert_array_equal(first.kernel, second.kernel)
    np.testing.assert_array_equal(first.bias, second.bias)
    assert first.history == second.history
    assert first.validation_accuracy == second.validation_accuracy


def test_other_seed_gives_other_head(small_problem):
    first = train(small_problem, seed=123)
    other = train(small_problem, seed=124)

    assert not np.array_equal(first.kernel, other.kernel)
    assert first.history["loss"] != other.history["loss"]


def test_head_built_before_fitting_gives_identical_head(small_problem):
    fresh = train(small_problem, seed=123)
    built_first = train(small_problem, seed=123, build_first=True)

    np.testing.assert_array_equal(fresh.kernel, built_first.kernel)
    np.testing.assert_array_equal(fresh.bias, built_first.bias)
    assert fresh.history == built_first.history


TRAIN_IN_PROCESS = """
import json, sys
import numpy as np
from ccs_transfer.training import fit_head_on_features, new_classification_head
data = np.load(sys.argv[1])
result = fit_head_on_features(
    new_classification_head(3), data["train"], data["train_labels"], data["validation"], data["validation_labels"],
    epochs=4, seed=123, batch_size=8, progress=False,
)
print(json.dumps({"kernel": result.kernel.tolist(), "bias": result.bias.tolist(), "history": result.history}))
"""


@pytest.mark.slow
def test_two_processes_train_identical_heads(small_problem, tmp_path):
    train_features, train_labels, validation_features, validation_labels = small_problem
    problem_file = tmp_path / "problem.npz"
    np.savez(problem_file, train=train_features, train_labels=train_labels, validation=validation_features, validation_labels=validation_labels)

    outputs = []
    for hash_seed in ("0", "4242"):
        environment = {**os.environ, "PYTHONHASHSEED": hash_seed, "TF_CPP_MIN_LOG_LEVEL": "3"}
        completed = subprocess.run(
            [sys.executable, "-c", TRAIN_IN_PROCESS, str(problem_file)], capture_output=True, text=True, env=environment, timeout=300
        )
        assert completed.returncode == 0, completed.stderr[-2000:]
        outputs.append(json.loads(completed.stdout.strip().splitlines()[-1]))

    assert outputs[0] == outputs[1]


# --- Cached vectors and batch composition ------------------------------------------------------


@pytest.fixture(scope="module")
def lite0_edition(tmp_path_factory, shared_cache_dir):
    from ccs_transfer.edition import open_edition
    from ccs_transfer.settings import Settings

    settings = Settings(cache_dir=shared_cache_dir, build_dir=tmp_path_factory.mktemp("build"), allow_network=False)
    return open_edition(settings)


def portrait_photos(folder: Path, count: int):
    """Write ``count`` distinct crops of matplotlib's Grace Hopper photo and return them as Photos."""
    import matplotlib
    from PIL import Image

    from ccs_transfer.datasets import Photo
    from ccs_transfer.integrity import sha256_file

    portrait = Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")
    folder.mkdir(parents=True, exist_ok=True)
    photos = []
    for index in range(count):
        path = folder / f"crop{index}.png"
        portrait.crop((index * 20, index * 10, 400 + index * 20, 500 + index * 10)).save(path)
        photos.append(Photo(path, path.name, 0, sha256_file(path)))
    return photos


@pytest.mark.slow
def test_vectors_identical_across_runs_of_one_batching(lite0_edition, tmp_path):
    from ccs_transfer.features import batched_model_outputs

    photos = portrait_photos(tmp_path / "photos", 4)
    runs = []
    for run in ("first", "second"):
        runs.append(
            batched_model_outputs(
                lite0_edition.feature_vectors, photos, input_size=224, batch_size=2,
                cache_folder=tmp_path / run, cache_key="lite0-test", description="test", progress=False,
            )
        )

    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.slow
def test_vectors_independent_of_cache_state(lite0_edition, tmp_path):
    from ccs_transfer.features import batched_model_outputs

    photos = portrait_photos(tmp_path / "photos", 3)

    def outputs(folder: Path, subset) -> np.ndarray:
        return batched_model_outputs(
            lite0_edition.feature_vectors, subset, input_size=224, batch_size=32,
            cache_folder=folder, cache_key="lite0-test", description="test", progress=False,
        )

    all_at_once = outputs(tmp_path / "empty-cache", photos)
    outputs(tmp_path / "partial-cache", photos[:2])
    last_photo_alone = outputs(tmp_path / "partial-cache", photos)

    np.testing.assert_array_equal(all_at_once, last_photo_alone)
