"""The classification head: a Dense layer trained on frozen feature vectors.

The tutorial trains ``Sequential([feature_extractor_layer, Dense(n)])`` with
the extractor frozen (``trainable = False``). Because the frozen layers never
change, running them once per photo and training the Dense layer on their
outputs gives the same head as running them in every epoch, and much faster.
The head object is shared: the page puts it after the frozen extractor to
classify photos, and this module fits the same layer on cached feature vectors.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from filelock import FileLock
from tqdm.auto import tqdm

from .determinism import seed_everything
from .tf_runtime import load_tensorflow
from .vector_cache import (
    DAMAGED_NPZ_ERRORS,
    holding_cache_lock,
    preprocessing_fingerprint,
    remove_leftover_temporaries,
    source_fingerprint,
    write_npz_atomically,
)

logger = logging.getLogger(__name__)

HEAD_FORMAT_VERSION = 1
# Modules and libraries whose changes can change a trained head for the same inputs.
TRAINING_MODULES = ("training", "determinism")
TRAINING_LIBRARIES = ("tensorflow", "tf-keras", "numpy")


@dataclass
class TrainingResult:
    """The result of fitting the head: its weights, per-epoch history and validation accuracy."""

    kernel: np.ndarray
    bias: np.ndarray
    history: dict[str, list[float]]
    validation_accuracy: float
    epochs: int
    seed: int
    from_cache: bool

    def summary(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "seed": self.seed,
            "validation_accuracy": round(self.validation_accuracy, 6),
            "final_training_accuracy": round(self.history["acc"][-1], 6),
            "final_training_loss": round(self.history["loss"][-1], 6),
        }


class _EpochProgress:
    """A Keras callback showing one tqdm step per finished epoch."""

    def __new__(cls, epochs: int, enabled: bool):
        keras = load_tensorflow().keras

        class EpochProgress(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.bar = tqdm(total=epochs, desc="training the head", unit="epoch", disable=not enabled)

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                self.bar.set_postfix(loss=f"{logs.get('loss', 0):.3f}", val_acc=f"{logs.get('val_acc', 0):.3f}")
                self.bar.update(1)

            def on_train_end(self, logs=None):
                self.bar.close()

        return EpochProgress()


def new_classification_head(num_classes: int):
    """Return the tutorial's head: a Dense layer with one logit per class and no activation."""
    keras = load_tensorflow().keras
    return keras.layers.Dense(num_classes, name="classification_head")


def fit_head_on_features(
    head,
    train_features: np.ndarray,
    train_labels: np.ndarray,
    validation_features: np.ndarray,
    validation_labels: np.ndarray,
    *,
    epochs: int,
    seed: int,
    batch_size: int = 32,
    progress: bool = True,
) -> TrainingResult:
    """Fit ``head`` (Adam, sparse cross-entropy on logits) on feature vectors and return the result.

    The head's weights are initialised again after seeding, so the result
    depends only on the inputs and ``seed``, also when ``head`` was built
    earlier (as it is when a page puts it after the extractor first).
    """
    keras = load_tensorflow().keras
    feature_size = train_features.shape[1]
    if not head.built:
        head.build((None, feature_size))
    seed_everything(seed)
    _initialise_weights(head)
    trainer = keras.Sequential([keras.Input(shape=(feature_size,)), head])
    trainer.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["acc"],
    )
    fit = trainer.fit(
        train_features,
        train_labels,
        validation_data=(validation_features, validation_labels),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[_EpochProgress(epochs, progress)],
    )
    history = {name: [float(v) for v in values] for name, values in fit.history.items()}
    kernel, bias = (np.asarray(w) for w in head.get_weights())
    return TrainingResult(kernel, bias, history, history["val_acc"][-1], epochs, seed, from_cache=False)


def _initialise_weights(head) -> None:
    """Set ``head``'s weights to fresh draws of its own initializers, from the current seeded state."""
    keras = load_tensorflow().keras
    values = []
    for weight, initializer in ((head.kernel, head.kernel_initializer), (head.bias, head.bias_initializer)):
        # A new instance, because an unseeded tf-keras initializer fixes its random seed at its first call.
        fresh = keras.initializers.get(keras.initializers.serialize(initializer))
        values.append(fresh(weight.shape, dtype=weight.dtype))
    head.set_weights(values)


def head_cache_key(**parts: Any) -> str:
    """Return the cache key of a head trained from ``parts``, this package's training code and its preprocessing."""
    code = {"training": source_fingerprint(TRAINING_MODULES, TRAINING_LIBRARIES), "preprocessing": preprocessing_fingerprint()}
    text = json.dumps({"format": HEAD_FORMAT_VERSION, "code": code, **parts}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def head_cache_lock(path: Path) -> FileLock:
    """Return the file lock that guards the head cache file ``path``.

    The lock is one object per path in a process, so a holder can take it again
    (``load_or_fit_training_result`` saves while holding it).
    """
    return FileLock(str(path) + ".lock", is_singleton=True)


def save_training_result(result: TrainingResult, path: Path) -> None:
    """Write the result atomically to ``path`` (.npz), holding the path's lock."""
    meta = {"epochs": result.epochs, "seed": result.seed, "validation_accuracy": result.validation_accuracy}
    with holding_cache_lock(head_cache_lock(path), path):
        remove_leftover_temporaries(path)
        write_npz_atomically(
            path,
            {"kernel": result.kernel, "bias": result.bias, "history": np.array(json.dumps(result.history)), "meta": np.array(json.dumps(meta))},
        )


def load_training_result(path: Path) -> TrainingResult | None:
    """Read a saved result, or return None when it is missing or damaged (a damaged file is logged)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            result = TrainingResult(
                stored["kernel"], stored["bias"], json.loads(str(stored["history"])),
                float(meta["validation_accuracy"]), int(meta["epochs"]), int(meta["seed"]), from_cache=True,
            )
    except (*DAMAGED_NPZ_ERRORS, TypeError) as error:
        logger.warning("Head cache %s is damaged (%s: %s), so the head is trained again.", path, type(error).__name__, error)
        return None
    if result.kernel.ndim != 2 or result.bias.shape != (result.kernel.shape[1],):
        logger.warning(
            "Head cache %s is damaged (kernel shape %s, bias shape %s), so the head is trained again.",
            path, result.kernel.shape, result.bias.shape,
        )
        return None
    return result


def load_or_fit_training_result(path: Path, fit: Callable[[], TrainingResult]) -> TrainingResult:
    """Return the result cached at ``path``, or call ``fit``, save its result and return it.

    The path's lock is held from the lookup to the save, so when two builds need
    the same head at once, one trains it and the other loads the saved result.
    """
    with holding_cache_lock(head_cache_lock(path), path):
        cached = load_training_result(path)
        if cached is not None:
            return cached
        result = fit()
        save_training_result(result, path)
        return result
