"""Shared fixtures: the local data mirror and settings that point at temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ccs_transfer.settings import REPOSITORY_ROOT, Settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def mirror_path() -> Path | None:
    """Return the local data mirror (EDITION_DATA_DIR, else ../shared/data), or None."""
    candidate = Path(os.environ.get("EDITION_DATA_DIR") or REPOSITORY_ROOT.parent / "shared" / "data")
    return candidate if (candidate / "flower_photos").is_dir() else None


@pytest.fixture
def data_mirror() -> Path:
    path = mirror_path()
    if path is None:
        pytest.skip("no local data mirror (set EDITION_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def shared_cache_dir(tmp_path_factory) -> Path:
    """A cache folder for converted models, shared by every test of the session."""
    configured = os.environ.get("EDITION_TEST_CACHE_DIR")
    return Path(configured) if configured else tmp_path_factory.mktemp("edition-cache")


@pytest.fixture
def offline_settings(tmp_path, shared_cache_dir) -> Settings:
    return Settings(data_dir=None, cache_dir=shared_cache_dir, build_dir=tmp_path / "_build", allow_network=False)
