"""The exception family for every failure a reader or builder can cause.

Each error carries a one-line message naming the thing that failed and, in
``fix``, what to do about it. The CLI and the book print ``str(error)`` and
never a traceback.
"""

from __future__ import annotations


class EditionError(Exception):
    """Base class: a failure with a message and a suggested fix."""

    def __init__(self, message: str, fix: str | None = None):
        self.message = message
        self.fix = fix
        super().__init__(message if not fix else f"{message} Fix: {fix}")


class SettingsError(EditionError):
    """An ``EDITION_*`` setting has an invalid value."""


class DataDirectoryError(EditionError):
    """The local data mirror is missing, incomplete or unsafe."""


class ImageError(EditionError):
    """A photo could not be read, or was rejected before decoding."""

    def __init__(self, path, reason: str, fix: str | None = None):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}", fix)


class IntegrityError(EditionError):
    """A file's sha256 does not match the hash recorded for it."""


class UnsafePickleError(EditionError):
    """A weights pickle asked for a global outside the allow-list."""


class ModelUnavailableError(EditionError):
    """A model handle cannot be resolved here (offline, not staged, or not found)."""


class LabelVocabularyError(EditionError):
    """A label vocabulary does not fit the model's output."""


class RegistryError(EditionError):
    """The model registry file is invalid."""
