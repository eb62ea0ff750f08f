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
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .determinism import seed_everything
from .tf_runtime import load_tensorflow

HEAD_FORMAT_VERSION = 1


@dataclass
class TrainingResult:
    """What fitting the head produced: its weights, per-epoch history and validation accuracy."""

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
    """Fit ``head`` (Adam, sparse cross-entropy on logits) on feature vectors and return the result."""
    seed_everything(seed)
    keras = load_tensorflow().keras
    feature_size = train_features.shape[1]
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


def head_cache_key(**parts: Any) -> str:
    text = json.dumps({"format": HEAD_FORMAT_VERSION, **parts}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def save_training_result(result: TrainingResult, path: Path) -> None:
    """Write the result atomically to ``path`` (.npz)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            np.savez(
                stream,
                kernel=result.kernel,
                bias=result.bias,
                history=json.dumps(result.history),
                meta=json.dumps({"epochs": result.epochs, "seed": result.seed, "validation_accuracy": result.validation_accuracy}),
            )
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_training_result(path: Path) -> TrainingResult | None:
    """Read a saved result, or return None when it is missing or damaged."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            return TrainingResult(
                stored["kernel"], stored["bias"], json.loads(str(stored["history"])),
                meta["validation_accuracy"], meta["epochs"], meta["seed"], from_cache=True,
            )
    except (OSError, ValueError, KeyError):
        return None
