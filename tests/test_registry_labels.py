import pytest

from ccs_transfer.errors import LabelVocabularyError, RegistryError
from ccs_transfer.labels import imagenet1001, imagenet1k, load_vocabulary, softmax, top_k
from ccs_transfer.registry import get_model_spec, load_registry, parse_registry

import numpy as np

VALID_ENTRY = """
models:
  - id: tiny
    title: Tiny
    source: local
    classifier_handle: /tmp/c
    feature_vector_handle: /tmp/f
    input_size: 64
    value_range: [0.0, 1.0]
    labels: imagenet1k
    feature_size: 8
    licence: MIT
    citation_key: none
"""


def test_imagenet1k_vocabulary_values():
    vocabulary = imagenet1k()
    assert len(vocabulary) == 1000
    assert vocabulary[652] == "military uniform"
    assert vocabulary[400] == "academic gown"
    assert vocabulary[667] == "mortarboard"
    assert vocabulary[0] == "tench"
    assert len(vocabulary.source_sha256) == 64


def test_imagenet1001_has_background_first():
    vocabulary = imagenet1001()
    assert len(vocabulary) == 1001
    assert vocabulary[0] == "background"
    assert vocabulary[653] == "military uniform"


def test_vocabulary_size_mismatch_rejected():
    with pytest.raises(LabelVocabularyError, match="has 1000 labels, but the model 'm' has 1001 outputs"):
        imagenet1k().check_fits(1001, "m")


def test_unknown_vocabulary_rejected():
    with pytest.raises(LabelVocabularyError, match="Unknown label vocabulary 'imagenet21k'"):
        load_vocabulary("imagenet21k")


def test_top_k_ranks_and_probabilities():
    logits = np.zeros(1000)
    logits[652] = 3.0
    logits[400] = 2.0
    ranked = top_k(logits, imagenet1k(), k=3)
    assert [p.index for p in ranked] == [652, 400, 0]
    assert ranked[0].label == "military uniform"
    expected = np.exp(3.0) / (np.exp(3.0) + np.exp(2.0) + 998)
    assert ranked[0].probability == pytest.approx(expected, rel=1e-12)
    assert softmax(logits).sum() == pytest.approx(1.0)


def test_top_k_rejects_wrong_length():
    with pytest.raises(LabelVocabularyError, match="1001 outputs"):
        top_k(np.zeros(1001), imagenet1k())


def test_registry_entries():
    registry = load_registry()
    assert list(registry) == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mobilenet_v2", "inception_v3"]
    assert registry["efficientnet_lite1"].input_size == 240
    assert registry["efficientnet_lite2"].input_size == 260
    assert registry["mobilenet_v2"].labels == "imagenet1001"
    assert registry["mobilenet_v2"].classifier_handle == "https://tfhub.dev/google/tf2-preview/mobilenet_v2/classification/4"
    assert registry["inception_v3"].input_size == 299


def test_registry_accepts_valid_entry():
    assert parse_registry(VALID_ENTRY)["tiny"].feature_size == 8


@pytest.mark.parametrize(
    "change, message",
    [
        (("source: local", "source: ftp"), "source 'ftp' is invalid"),
        (("labels: imagenet1k", "labels: coco"), "labels 'coco' is not a known vocabulary"),
        (("input_size: 64", "input_size: big"), "'input_size' must be a whole number"),
        (("value_range: [0.0, 1.0]", "value_range: [1.0, 0.0]"), "value_range must be \\[low, high\\]"),
        (("    licence: MIT\n", ""), "the field 'licence' is missing"),
        (("    licence: MIT\n", "    licence: MIT\n    colour: red\n"), "unknown field\\(s\\) colour"),
    ],
)
def test_registry_validation_errors(change, message):
    with pytest.raises(RegistryError, match=message):
        parse_registry(VALID_ENTRY.replace(*change))


def test_registry_rejects_duplicate_ids():
    twice = VALID_ENTRY + VALID_ENTRY.split("models:\n", 1)[1]
    with pytest.raises(RegistryError, match="appears twice"):
        parse_registry(twice)


def test_unknown_model_id_lists_known_ids():
    with pytest.raises(RegistryError, match="Unknown model id 'resnet'.*efficientnet_lite0, efficientnet_lite1"):
        get_model_spec("resnet")
