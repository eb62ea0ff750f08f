"""Tests of the EfficientNet-Lite architecture table and the PyTorch-to-Keras weight port."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ccs_transfer.efficientnet_lite import (
    HEAD_FILTERS,
    LITE_VARIANTS,
    STEM_FILTERS,
    WeightsMismatchError,
    block_specs,
    build_ported_model,
    check_state_dict,
    expected_weight_shapes,
    keras_layer_name,
    lite_variant,
    round_filters,
)
from ccs_transfer.embedded import weights_path_for
from ccs_transfer.integrity import sha256_file
from ccs_transfer.torch_pickle import load_legacy_state_dict
from reference_photo import grace_hopper_unit_rgb, softmax

REFERENCE_PATH = Path(__file__).parent / "data" / "efficientnet_lite_grace_hopper_reference.json"
# Measured max |port - PyTorch| over the 1000 logits: below 6e-6 (TF 2.21 vs torch 2.13, 2-core x86-64 CPU).
# The tolerance leaves room for other CPUs and kernels.
LOGIT_TOLERANCE = 1e-4
PROBABILITY_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def state_dicts() -> dict[str, dict[str, np.ndarray]]:
    return {name: load_legacy_state_dict(weights_path_for(name)) for name in LITE_VARIANTS}


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(REFERENCE_PATH.read_text(encoding="utf-8"))


def test_round_filters_matches_lite2_widths():
    assert [round_filters(filters, 1.1) for filters in (16, 24, 40, 80, 112, 192, 320)] == [16, 24, 48, 88, 120, 208, 352]


def test_round_filters_never_rounds_down_over_ten_percent():
    # 17 * 0.7 = 11.9 rounds to 8, more than 10% below, so one divisor (8) is added back.
    assert round_filters(17, 0.7) == 16


@pytest.mark.parametrize("name, block_count", [("efficientnet_lite0", 16), ("efficientnet_lite1", 21), ("efficientnet_lite2", 21)])
def test_block_count_per_variant(name, block_count):
    assert len(block_specs(lite_variant(name))) == block_count


def test_lite0_stage_layout():
    blocks = block_specs(lite_variant("efficientnet_lite0"))

    assert blocks[0].input_filters == STEM_FILTERS
    assert blocks[0].expand_ratio == 1
    assert [block.stride for block in blocks if block.stride != 1] == [2, 2, 2, 2]
    assert [block.index for block in blocks if block.stride == 2] == [1, 3, 5, 11]
    assert [block.kernel_size for block in blocks] == [3, 3, 3, 5, 5, 3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 3]
    assert blocks[-1].output_filters == 320


def test_lite2_keeps_first_and_last_stage_repeats():
    blocks = block_specs(lite_variant("efficientnet_lite2"))

    assert [block.output_filters for block in blocks].count(16) == 1
    assert [block.output_filters for block in blocks].count(352) == 1


@pytest.mark.parametrize("name", sorted(LITE_VARIANTS))
def test_shipped_weights_fit_variant(state_dicts, name):
    check_state_dict(state_dicts[name], lite_variant(name), name)

    expected = expected_weight_shapes(lite_variant(name))
    loaded = {key for key in state_dicts[name] if not key.endswith(".num_batches_tracked")}
    assert set(expected) == loaded
    assert expected["_conv_head.weight"][0] == HEAD_FILTERS


def test_missing_key_rejected(state_dicts):
    state = dict(state_dicts["efficientnet_lite0"])
    del state["_blocks.5._depthwise_conv.weight"]

    with pytest.raises(WeightsMismatchError, match=r"1 missing keys \(_blocks\.5\._depthwise_conv\.weight\)"):
        check_state_dict(state, lite_variant("efficientnet_lite0"), "edited.pth")


def test_unused_key_rejected(state_dicts):
    state = dict(state_dicts["efficientnet_lite0"])
    state["_blocks.0._se_reduce.weight"] = np.zeros((8, 32, 1, 1), dtype=np.float32)

    with pytest.raises(WeightsMismatchError, match=r"1 unused keys \(_blocks\.0\._se_reduce\.weight\)"):
        check_state_dict(state, lite_variant("efficientnet_lite0"), "edited.pth")


def test_wrong_shape_rejected(state_dicts):
    state = dict(state_dicts["efficientnet_lite0"])
    state["_fc.bias"] = np.zeros(1001, dtype=np.float32)

    with pytest.raises(WeightsMismatchError, match=r"_fc\.bias \(1001,\) \(expected \(1000,\)\)"):
        check_state_dict(state, lite_variant("efficientnet_lite0"), "edited.pth")


def test_num_batches_tracked_optional(state_dicts):
    state = {key: value for key, value in state_dicts["efficientnet_lite0"].items() if "num_batches_tracked" not in key}

    check_state_dict(state, lite_variant("efficientnet_lite0"), "without counters")


def test_other_variant_weights_rejected(state_dicts):
    with pytest.raises(WeightsMismatchError, match="does not fit efficientnet_lite2") as caught:
        check_state_dict(state_dicts["efficientnet_lite0"], lite_variant("efficientnet_lite2"), "lite0.pth")
    assert "missing keys" in str(caught.value)


def test_unknown_variant_rejected():
    with pytest.raises(WeightsMismatchError, match="efficientnet_lite9"):
        lite_variant("efficientnet_lite9")


@pytest.mark.parametrize(
    "prefix, name",
    [("_conv_stem", "conv_stem"), ("_blocks.3._expand_conv", "blocks_3_expand_conv"), ("_blocks.12._bn2", "blocks_12_bn2"), ("_fc", "fc")],
)
def test_keras_layer_name(prefix, name):
    assert keras_layer_name(prefix) == name


@pytest.mark.slow
@pytest.mark.parametrize("index, name", enumerate(["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]))
def test_port_matches_pytorch_reference(state_dicts, reference, index, name):
    expected = reference["models"][index]
    assert expected["model"] == name
    assert expected["weights_sha256"] == sha256_file(weights_path_for(name))
    model = build_ported_model(name, state_dicts[name])
    images = grace_hopper_unit_rgb(expected["input_size"], reference)

    logits = model(images, training=False).numpy()[0]
    probabilities = softmax(logits)

    top5 = [int(i) for i in np.argsort(-probabilities)[:5]]
    assert top5 == expected["top5_indices"]
    np.testing.assert_allclose(logits, np.array(expected["logits"]), rtol=0, atol=LOGIT_TOLERANCE)
    np.testing.assert_allclose(probabilities[top5], expected["top5_probabilities"], rtol=0, atol=PROBABILITY_TOLERANCE)


@pytest.mark.slow
def test_feature_model_ends_at_pooling(state_dicts):
    model = build_ported_model("efficientnet_lite0", state_dicts["efficientnet_lite0"], output="features")

    assert model.output_shape == (None, HEAD_FILTERS)
    assert "fc" not in {layer.name for layer in model.layers}


@pytest.mark.slow
def test_rescaling_layer_matches_weights_convention(state_dicts):
    model = build_ported_model("efficientnet_lite0", state_dicts["efficientnet_lite0"])
    rescale = model.get_layer("rescale_to_weights_range")
    pixels = np.arange(256, dtype=np.float32) / np.float32(255.0)

    scaled = rescale(pixels.reshape(1, 16, 16, 1)).numpy().ravel()

    np.testing.assert_array_equal(scaled, (pixels * np.float32(255.0) - np.float32(127.0)) / np.float32(128.0))
