"""EfficientNet-Lite in tf-keras, with weights ported from PyTorch state dicts.

The architecture is EfficientNet-B0's stage table with the Lite changes of the
TensorFlow reference implementation (tensorflow/tpu, models/official/efficientnet/lite).
Lite uses ReLU6 in place of swish and has no squeeze-and-excitation. The width
multiplier does not scale the stem (32 channels) or the head (1280 channels), and
the depth multiplier does not scale the repeats of the first and last stage.
Convolutions use TensorFlow ``same`` padding, which puts the extra row and column
of a strided convolution at the bottom and right. Batch normalisation uses epsilon 1e-3.

Every Keras layer with weights is named after the prefix of its PyTorch keys
(``_blocks.3._expand_conv`` -> ``blocks_3_expand_conv``), so :func:`expected_weight_shapes`
and :func:`assign_state_dict` work from one table. The PyTorch key names are
those of the EfficientNet-PyTorch family (lukemelas/EfficientNet-PyTorch and
its Lite fork ml-illustrated/EfficientNet-Lite-PyTorch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import numpy as np

from .errors import EditionError
from .tf_runtime import load_tensorflow

STEM_FILTERS = 32
HEAD_FILTERS = 1280
NUM_CLASSES = 1000
BATCH_NORM_EPSILON = 1e-3
# Keras momentum of the moving averages. PyTorch writes the same setting as momentum=0.01.
BATCH_NORM_MOMENTUM = 0.99
DROP_CONNECT_RATE = 0.2
WIDTH_DIVISOR = 8
# The weights expect pixels scaled as (value - 127) / 128 for 0..255 values.
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0

# Optional PyTorch buffers that hold no value used by the forward pass.
IGNORED_KEY_SUFFIXES = (".num_batches_tracked",)


class WeightsMismatchError(EditionError):
    """A state dict does not fit the EfficientNet-Lite architecture it is loaded into."""


@dataclass(frozen=True)
class LiteVariant:
    """Scaling coefficients of one EfficientNet-Lite model."""

    name: str
    width_multiplier: float
    depth_multiplier: float
    input_size: int
    dropout_rate: float


@dataclass(frozen=True)
class StageSpec:
    """One stage of EfficientNet-B0 before width and depth scaling."""

    repeats: int
    kernel_size: int
    stride: int
    expand_ratio: int
    output_filters: int


@dataclass(frozen=True)
class BlockSpec:
    """One inverted-residual (MBConv) block after scaling."""

    index: int
    input_filters: int
    output_filters: int
    expand_ratio: int
    kernel_size: int
    stride: int

    @property
    def expanded_filters(self) -> int:
        return self.input_filters * self.expand_ratio

    @property
    def has_residual(self) -> bool:
        return self.stride == 1 and self.input_filters == self.output_filters


# Coefficients from efficientnet_lite_builder.py in tensorflow/tpu.
LITE_VARIANTS: dict[str, LiteVariant] = {
    "efficientnet_lite0": LiteVariant("efficientnet_lite0", 1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": LiteVariant("efficientnet_lite1", 1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": LiteVariant("efficientnet_lite2", 1.1, 1.2, 260, 0.3),
}

B0_STAGES: tuple[StageSpec, ...] = (
    StageSpec(repeats=1, kernel_size=3, stride=1, expand_ratio=1, output_filters=16),
    StageSpec(repeats=2, kernel_size=3, stride=2, expand_ratio=6, output_filters=24),
    StageSpec(repeats=2, kernel_size=5, stride=2, expand_ratio=6, output_filters=40),
    StageSpec(repeats=3, kernel_size=3, stride=2, expand_ratio=6, output_filters=80),
    StageSpec(repeats=3, kernel_size=5, stride=1, expand_ratio=6, output_filters=112),
    StageSpec(repeats=4, kernel_size=5, stride=2, expand_ratio=6, output_filters=192),
    StageSpec(repeats=1, kernel_size=3, stride=1, expand_ratio=6, output_filters=320),
)


def lite_variant(name: str) -> LiteVariant:
    """Return the coefficients of ``name``, or raise :class:`WeightsMismatchError` for an unknown name."""
    try:
        return LITE_VARIANTS[name]
    except KeyError:
        raise WeightsMismatchError(
            f"Unknown EfficientNet-Lite variant {name!r}.",
            f"use one of {', '.join(sorted(LITE_VARIANTS))}.",
        ) from None


def round_filters(filters: int, width_multiplier: float) -> int:
    """Scale a channel count by the width multiplier, rounded to a multiple of 8 and never down by over 10%."""
    scaled = filters * width_multiplier
    rounded = max(WIDTH_DIVISOR, int(scaled + WIDTH_DIVISOR / 2) // WIDTH_DIVISOR * WIDTH_DIVISOR)
    if rounded < 0.9 * scaled:
        rounded += WIDTH_DIVISOR
    return int(rounded)


def block_specs(variant: LiteVariant) -> list[BlockSpec]:
    """List the MBConv blocks of ``variant`` in order."""
    blocks: list[BlockSpec] = []
    input_filters = STEM_FILTERS
    last_stage = len(B0_STAGES) - 1
    for stage_index, stage in enumerate(B0_STAGES):
        output_filters = round_filters(stage.output_filters, variant.width_multiplier)
        if stage_index in (0, last_stage):
            repeats = stage.repeats
        else:
            repeats = int(math.ceil(stage.repeats * variant.depth_multiplier))
        for repeat in range(repeats):
            blocks.append(
                BlockSpec(
                    index=len(blocks),
                    input_filters=input_filters,
                    output_filters=output_filters,
                    expand_ratio=stage.expand_ratio,
                    kernel_size=stage.kernel_size,
                    stride=stage.stride if repeat == 0 else 1,
                )
            )
            input_filters = output_filters
    return blocks


def _batch_norm_shapes(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{field}": (channels,) for field in ("weight", "bias", "running_mean", "running_var")}


def expected_weight_shapes(variant: LiteVariant) -> dict[str, tuple[int, ...]]:
    """Return every PyTorch key the forward pass reads, with its shape, in PyTorch order."""
    shapes: dict[str, tuple[int, ...]] = {"_conv_stem.weight": (STEM_FILTERS, 3, 3, 3)}
    shapes.update(_batch_norm_shapes("_bn0", STEM_FILTERS))
    for block in block_specs(variant):
        prefix = f"_blocks.{block.index}"
        if block.expand_ratio != 1:
            shapes[f"{prefix}._expand_conv.weight"] = (block.expanded_filters, block.input_filters, 1, 1)
            shapes.update(_batch_norm_shapes(f"{prefix}._bn0", block.expanded_filters))
        kernel = block.kernel_size
        shapes[f"{prefix}._depthwise_conv.weight"] = (block.expanded_filters, 1, kernel, kernel)
        shapes.update(_batch_norm_shapes(f"{prefix}._bn1", block.expanded_filters))
        shapes[f"{prefix}._project_conv.weight"] = (block.output_filters, block.expanded_filters, 1, 1)
        shapes.update(_batch_norm_shapes(f"{prefix}._bn2", block.output_filters))
    last_filters = block_specs(variant)[-1].output_filters
    shapes["_conv_head.weight"] = (HEAD_FILTERS, last_filters, 1, 1)
    shapes.update(_batch_norm_shapes("_bn1", HEAD_FILTERS))
    shapes["_fc.weight"] = (NUM_CLASSES, HEAD_FILTERS)
    shapes["_fc.bias"] = (NUM_CLASSES,)
    return shapes


def _preview(names: list[str], limit: int = 3) -> str:
    listed = ", ".join(names[:limit])
    if len(names) > limit:
        listed += f" and {len(names) - limit} more"
    return listed


def check_state_dict(state_dict: Mapping[str, np.ndarray], variant: LiteVariant, source: str) -> None:
    """Raise :class:`WeightsMismatchError` unless ``state_dict`` has exactly the keys and shapes of ``variant``.

    Keys ending in ``.num_batches_tracked`` may be present or absent because the
    forward pass does not read them. Every other key must be expected and present.
    """
    expected = expected_weight_shapes(variant)
    present = [key for key in state_dict if not key.endswith(IGNORED_KEY_SUFFIXES)]
    missing = [key for key in expected if key not in state_dict]
    unused = [key for key in present if key not in expected]
    wrong_shape = [
        f"{key} {tuple(state_dict[key].shape)} (expected {expected[key]})"
        for key in expected
        if key in state_dict and tuple(state_dict[key].shape) != expected[key]
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys ({_preview(missing)})")
    if unused:
        problems.append(f"{len(unused)} unused keys ({_preview(unused)})")
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} keys with another shape ({_preview(wrong_shape)})")
    if problems:
        raise WeightsMismatchError(
            f"{source} does not fit {variant.name}: {'; '.join(problems)}.",
            f"pass the {variant.name} weights file, or the variant that matches these weights.",
        )


def keras_layer_name(torch_prefix: str) -> str:
    """Map a PyTorch module prefix such as ``_blocks.3._bn0`` to its Keras layer name ``blocks_3_bn0``."""
    return torch_prefix.replace("._", "_").replace(".", "_").lstrip("_")


def build_keras_model(variant: LiteVariant, output: Literal["logits", "features"] = "logits") -> Any:
    """Build the tf-keras model of ``variant`` with fresh weights.

    The model takes float32 RGB images of shape [batch, S, S, 3] with values in
    [0, 1] (the TF Hub image convention) and rescales them to the weights'
    convention ``(255 * value - 127) / 128`` in its first layer. ``output`` selects
    the 1000 ImageNet logits or the 1280 pooled features.
    """
    keras = load_tensorflow().keras
    layers = keras.layers
    size = variant.input_size

    def batch_norm(prefix: str) -> Any:
        return layers.BatchNormalization(
            epsilon=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM, name=keras_layer_name(prefix)
        )

    def relu6(name: str) -> Any:
        return layers.ReLU(max_value=6.0, name=name)

    # Limitation: the input size is fixed at the variant's training resolution, so other image sizes are rejected.
    images = keras.Input(shape=(size, size, 3), dtype="float32", name="images")
    # 255/128 and 127/128 are exact in float32, so this equals (255 * x - 127) / 128 bit for bit.
    x = layers.Rescaling(scale=255.0 / PIXEL_STD, offset=-PIXEL_MEAN / PIXEL_STD, name="rescale_to_weights_range")(images)
    x = layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name=keras_layer_name("_conv_stem"))(x)
    x = batch_norm("_bn0")(x)
    x = relu6("stem_relu6")(x)

    blocks = block_specs(variant)
    for block in blocks:
        prefix = f"_blocks.{block.index}"
        shortcut = x
        if block.expand_ratio != 1:
            x = layers.Conv2D(
                block.expanded_filters, 1, padding="same", use_bias=False, name=keras_layer_name(f"{prefix}._expand_conv")
            )(x)
            x = batch_norm(f"{prefix}._bn0")(x)
            x = relu6(f"blocks_{block.index}_expand_relu6")(x)
        x = layers.DepthwiseConv2D(
            block.kernel_size,
            strides=block.stride,
            padding="same",
            use_bias=False,
            name=keras_layer_name(f"{prefix}._depthwise_conv"),
        )(x)
        x = batch_norm(f"{prefix}._bn1")(x)
        x = relu6(f"blocks_{block.index}_depthwise_relu6")(x)
        x = layers.Conv2D(
            block.output_filters, 1, padding="same", use_bias=False, name=keras_layer_name(f"{prefix}._project_conv")
        )(x)
        x = batch_norm(f"{prefix}._bn2")(x)
        if block.has_residual:
            # Drop connect (stochastic depth) grows linearly with depth and acts only in training.
            rate = DROP_CONNECT_RATE * block.index / len(blocks)
            if rate > 0:
                x = layers.Dropout(rate, noise_shape=(None, 1, 1, 1), name=f"blocks_{block.index}_drop_connect")(x)
            x = layers.Add(name=f"blocks_{block.index}_add")([x, shortcut])

    x = layers.Conv2D(HEAD_FILTERS, 1, padding="same", use_bias=False, name=keras_layer_name("_conv_head"))(x)
    x = batch_norm("_bn1")(x)
    x = relu6("head_relu6")(x)
    features = layers.GlobalAveragePooling2D(name="global_average_pooling")(x)
    if output == "features":
        return keras.Model(images, features, name=f"{variant.name}_feature_vector")
    if output != "logits":
        raise ValueError(f"output must be 'logits' or 'features', not {output!r}")
    x = layers.Dropout(variant.dropout_rate, name="head_dropout")(features)
    logits = layers.Dense(NUM_CLASSES, name=keras_layer_name("_fc"))(x)
    return keras.Model(images, logits, name=f"{variant.name}_classification")


def _converted_weights(layer: Any, prefix: str, state_dict: Mapping[str, np.ndarray]) -> list[np.ndarray] | None:
    """Return the Keras weights of ``layer`` from the PyTorch tensors under ``prefix``, or None for a layer without weights."""
    keras = load_tensorflow().keras
    layers = keras.layers
    if isinstance(layer, layers.BatchNormalization):
        return [state_dict[f"{prefix}.{field}"] for field in ("weight", "bias", "running_mean", "running_var")]
    if isinstance(layer, layers.DepthwiseConv2D):
        # PyTorch (channels, 1, kh, kw) -> Keras (kh, kw, channels, 1).
        return [state_dict[f"{prefix}.weight"].transpose(2, 3, 0, 1)]
    if isinstance(layer, layers.Conv2D):
        # PyTorch OIHW -> Keras HWIO.
        return [state_dict[f"{prefix}.weight"].transpose(2, 3, 1, 0)]
    if isinstance(layer, layers.Dense):
        return [state_dict[f"{prefix}.weight"].T, state_dict[f"{prefix}.bias"]]
    return None


def assign_state_dict(model: Any, state_dict: Mapping[str, np.ndarray], variant: LiteVariant, source: str) -> None:
    """Copy a checked PyTorch state dict into a model from :func:`build_keras_model`.

    Raises :class:`WeightsMismatchError` if the state dict does not fit ``variant``
    or if a key the model needs is not read, so no weight stays at its initial value.
    """
    check_state_dict(state_dict, variant, source)
    prefixes = {keras_layer_name(key.rsplit(".", 1)[0]): key.rsplit(".", 1)[0] for key in expected_weight_shapes(variant)}
    used_prefixes: set[str] = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = prefixes.get(layer.name)
        if prefix is None:
            raise WeightsMismatchError(
                f"The Keras layer {layer.name} of {variant.name} has no PyTorch weights in {source}.",
                "report this as a bug in ccs_transfer.efficientnet_lite: the layer table is incomplete.",
            )
        weights = _converted_weights(layer, prefix, state_dict)
        if weights is None:
            raise WeightsMismatchError(
                f"The Keras layer {layer.name} ({type(layer).__name__}) has no weight conversion.",
                "report this as a bug in ccs_transfer.efficientnet_lite.",
            )
        layer.set_weights([np.asarray(weight, dtype=np.float32) for weight in weights])
        used_prefixes.add(prefix)
    needed_prefixes = set(prefixes.values())
    layer_names = {layer.name for layer in model.layers}
    if keras_layer_name("_fc") not in layer_names:
        # The feature-vector model ends before the classifier.
        needed_prefixes.discard("_fc")
    unread = sorted(needed_prefixes - used_prefixes)
    if unread:
        raise WeightsMismatchError(
            f"{source}: the {variant.name} model did not read {_preview(unread)}.",
            "report this as a bug in ccs_transfer.efficientnet_lite.",
        )


def build_ported_model(
    variant_name: str,
    state_dict: Mapping[str, np.ndarray],
    output: Literal["logits", "features"] = "logits",
    source: str = "the state dict",
) -> Any:
    """Build the Keras model of ``variant_name`` and load ``state_dict`` into it."""
    variant = lite_variant(variant_name)
    check_state_dict(state_dict, variant, source)
    model = build_keras_model(variant, output)
    assign_state_dict(model, state_dict, variant, source)
    return model
