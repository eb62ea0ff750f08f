"""One place that seeds every random number generator a build uses."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow with ``seed`` and make TensorFlow's ops deterministic."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    from .tf_runtime import load_tensorflow

    runtime = load_tensorflow()
    runtime.keras.utils.set_random_seed(seed)
    try:
        runtime.tf.config.experimental.enable_op_determinism()
    except RuntimeError:
        # Already enabled in this process, which is what is wanted.
        pass
