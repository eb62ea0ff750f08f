"""The edition's pipeline, as the pages use it: one model, one data set, cached results.

``open_edition`` resolves the build's model (converting embedded weights when
needed), reads its label vocabulary and verifies the flower photos. The other
functions compute, or read back from the cache, what several pages share:
feature vectors, the ImageNet logits of the flower photos, and the trained
head. ``prepare`` runs them all once before the book is built, so that the
terminal shows their progress and the pages find them cached.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from .datasets import FlowerCollection, Photo, load_flower_collection, locate_flowers, split_train_validation
from .features import batched_model_outputs
from .images import resize_whole
from .labels import LabelVocabulary, load_vocabulary
from .model_sources import ResolvedModel, resolve_handle
from .registry import ModelSpec, get_model_spec, load_registry
from .settings import Settings, current_settings
from .tf_runtime import load_tensorflow
from .training import TrainingResult, fit_head_on_features, head_cache_key, load_or_fit_training_result, new_classification_head

logger = logging.getLogger(__name__)

VALIDATION_FRACTION = 0.2
# The tutorial resizes the Grace Hopper photo with PIL's ``Image.resize`` and no
# filter argument, which means bicubic. Its flower photos go through
# ``image_dataset_from_directory``, which resizes bilinearly.
CLASSIFIER_RESAMPLE = Image.BICUBIC
FLOWER_RESAMPLE = Image.BILINEAR


@dataclass
class Edition:
    """Everything one build works with."""

    settings: Settings
    spec: ModelSpec
    vocabulary: LabelVocabulary
    classifier: ResolvedModel
    feature_vector: ResolvedModel

    @cached_property
    def flowers(self) -> FlowerCollection:
        return load_flower_collection(self.settings)

    @cached_property
    def split(self) -> tuple[list[Photo], list[Photo]]:
        return split_train_validation(self.flowers, VALIDATION_FRACTION, self.settings.seed)

    @property
    def train_photos(self) -> list[Photo]:
        return self.split[0]

    @property
    def validation_photos(self) -> list[Photo]:
        return self.split[1]

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.spec.image_shape

    def keras_layer(self, kind: str, **kwargs):
        """Return ``hub.KerasLayer`` for the classifier or the feature vector, as the tutorial builds it."""
        hub = load_tensorflow().hub
        resolved = self.classifier if kind == "classification" else self.feature_vector
        return hub.KerasLayer(str(resolved.path), input_shape=self.image_shape + (3,), **kwargs)

    @property
    def classifier_model(self):
        """The ImageNet classifier as ``tf.keras.Sequential([hub.KerasLayer(...)])``, built once per edition."""
        return self._classifier_model

    @cached_property
    def _classifier_model(self):
        keras = load_tensorflow().keras
        return keras.Sequential([self.keras_layer("classification")])

    @cached_property
    def _feature_model(self):
        keras = load_tensorflow().keras
        return keras.Sequential([self.keras_layer("feature_vector", trainable=False)])

    def classifier_input(self, photo: Image.Image) -> np.ndarray:
        """Return a batch of one: ``photo`` resized whole, bicubic, as the tutorial's classifier step does."""
        return resize_whole(photo, self.spec.input_size, resample=CLASSIFIER_RESAMPLE)[np.newaxis, ...]

    def classifier_logits(self, batch: np.ndarray) -> np.ndarray:
        """Return the ImageNet classifier's logits for a float batch in [0, 1]."""
        logits = self._classifier_model(batch, training=False).numpy()
        self.vocabulary.check_fits(logits.shape[-1], self.spec.classifier_handle)
        return logits

    def feature_vectors(self, batch: np.ndarray) -> np.ndarray:
        return self._feature_model(batch, training=False).numpy()

    def _cache_key(self, kind: str, resolved: ResolvedModel) -> str:
        # The SavedModel's own hash, where known, so a re-exported model never
        # reuses vectors of an earlier export of the same weights.
        model_hash = resolved.details.get("savedmodel_sha256", resolved.sha256)
        return f"{self.spec.id}-{kind}-{model_hash[:16]}-{self.spec.input_size}-resize-whole"

    def flower_feature_vectors(self, photos: list[Photo], progress: bool = True) -> np.ndarray:
        """Return the frozen extractor's feature vector of each photo (cached per model and photo)."""
        return self._cached_photo_outputs(self.feature_vectors, "feature_vector", self.feature_vector, photos, "feature vectors", progress)

    def flower_imagenet_logits(self, photos: list[Photo], progress: bool = True) -> np.ndarray:
        """Return the ImageNet classifier's logits for each photo (cached per model and photo)."""
        return self._cached_photo_outputs(self.classifier_logits, "classification", self.classifier, photos, "ImageNet logits", progress)

    def _cached_photo_outputs(self, run_batch, kind: str, resolved: ResolvedModel, photos: list[Photo], description: str, progress: bool) -> np.ndarray:
        return batched_model_outputs(
            run_batch, photos,
            input_size=self.spec.input_size, batch_size=self.settings.batch_size,
            cache_folder=self.settings.cache_dir / "vectors", cache_key=self._cache_key(kind, resolved),
            description=description, progress=progress, resample=FLOWER_RESAMPLE,
            max_pixels=self.settings.max_image_pixels,
        )

    def head_cache_path(self) -> Path:
        key = head_cache_key(
            model=self.spec.id, features=self.feature_vector.details.get("savedmodel_sha256", self.feature_vector.sha256), collection=self.flowers.collection_sha256,
            seed=self.settings.seed, epochs=self.settings.epochs, batch_size=self.settings.batch_size,
            validation_fraction=VALIDATION_FRACTION,
        )
        return self.settings.cache_dir / "heads" / f"{self.spec.id}-{key}.npz"

    def fit_head(self, head, progress: bool = True) -> TrainingResult:
        """Fit ``head`` on the training photos' feature vectors, or load the identical cached result.

        Training is seeded and deterministic, so a cached result is the result
        this call would compute; it is loaded into ``head`` either way. The
        cache lock makes two builds that need the same head train it once.
        """

        def fit() -> TrainingResult:
            train_features = self.flower_feature_vectors(self.train_photos, progress)
            validation_features = self.flower_feature_vectors(self.validation_photos, progress)
            return fit_head_on_features(
                head, train_features, labels_of(self.train_photos), validation_features, labels_of(self.validation_photos),
                epochs=self.settings.epochs, seed=self.settings.seed, batch_size=self.settings.batch_size, progress=progress,
            )

        result = load_or_fit_training_result(self.head_cache_path(), fit)
        if not head.built:
            head.build((None, result.kernel.shape[0]))
        head.set_weights([result.kernel, result.bias])
        return result

    def trained_head(self, progress: bool = False):
        """Return (head layer with trained weights, training result)."""
        head = new_classification_head(len(self.flowers.class_names))
        result = self.fit_head(head, progress)
        return head, result

    def provenance(self) -> dict:
        return {
            "model": {
                **self.spec.provenance(),
                "weights_sha256": self.classifier.sha256,
                "weights_sha256_of": self.classifier.sha256_of,
                "classifier": self.classifier.provenance(),
                "feature_vector": self.feature_vector.provenance(),
            },
            "labels": self.vocabulary.provenance(),
            "seed": self.settings.seed,
            "epochs": self.settings.epochs,
        }


def labels_of(photos: list[Photo]) -> np.ndarray:
    return np.array([photo.label_index for photo in photos], dtype=np.int64)


def open_edition(settings: Settings | None = None) -> Edition:
    """Resolve the build's model and label vocabulary."""
    settings = settings or current_settings()
    spec = get_model_spec(settings.model, load_registry(settings.registry))
    vocabulary = load_vocabulary(spec.labels)
    classifier = resolve_handle(spec.classifier_handle, settings)
    feature_vector = resolve_handle(spec.feature_vector_handle, settings)
    return Edition(settings, spec, vocabulary, classifier, feature_vector)


def prepare(settings: Settings | None = None, progress: bool = True) -> Edition:
    """Compute everything the pages share, showing progress: model, data, feature vectors, head."""
    settings = settings or current_settings()
    # The model id and the data directory's layout are checked first: both
    # checks are quick, while converting a model takes half a minute.
    get_model_spec(settings.model, load_registry(settings.registry))
    locate_flowers(settings)
    edition = open_edition(settings)
    logger.info("Model %s ready (%s).", edition.spec.id, edition.classifier.path)
    flowers = edition.flowers
    logger.info("Flower photos: %d in %d classes, manifest verified: %s.", len(flowers.photos), len(flowers.class_names), flowers.manifest_verified)
    edition.flower_feature_vectors(list(flowers.photos), progress)
    edition.flower_imagenet_logits(edition.validation_photos, progress)
    _, result = edition.trained_head(progress)
    logger.info("Head: validation accuracy %.4f after %d epochs.", result.validation_accuracy, result.epochs)
    return edition
