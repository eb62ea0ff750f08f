"""Import TensorFlow the way the edition needs it: legacy Keras, quiet logs, CPU.

``TF_USE_LEGACY_KERAS=1`` must be set before TensorFlow is first imported,
otherwise ``tf.keras`` is Keras 3 and ``hub.KerasLayer`` cannot be added to a
``tf.keras.Sequential``. Every module that needs TensorFlow calls
:func:`load_tensorflow` instead of importing it directly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from types import SimpleNamespace

_RUNTIME: SimpleNamespace | None = None


def _quiet_environment() -> None:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    # 3 hides INFO, WARNING and ERROR lines of TensorFlow's C++ logger.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 to /dev/null while TensorFlow's native libraries load.

    TensorFlow 2.21 prints absl log lines (CUDA and oneDNN notices) from C++
    before ``TF_CPP_MIN_LOG_LEVEL`` is read, so only the file descriptor can
    keep them off the terminal and the pages. Python exceptions still propagate.
    """
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_tensorflow() -> SimpleNamespace:
    """Import and return ``tf``, ``keras`` (tf-keras) and ``hub`` as one namespace."""
    global _RUNTIME
    if _RUNTIME is not None:
        return _RUNTIME
    _quiet_environment()
    with warnings.catch_warnings(), _native_stderr_silenced():
        warnings.simplefilter("ignore")
        import tensorflow as tf
        import tf_keras as keras
        import tensorflow_hub as hub

    tf.get_logger().setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # absl is a TensorFlow dependency; absent only in odd installs.
        pass
    tf.autograph.set_verbosity(0)
    _RUNTIME = SimpleNamespace(tf=tf, keras=keras, hub=hub)
    return _RUNTIME
