"""Hostile and broken input: links out of the data directory, changed photos, and artefact hashes.

Photo links are covered in test_settings_datasets.py. These tests add links on
the folders and on the tutorial's portrait, the manifest check as ``make book``
runs it, and the SavedModel hashes in the provenance records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from ccs_transfer.datasets import grace_hopper_copies, load_flower_collection
from ccs_transfer.errors import DataDirectoryError
from ccs_transfer.model_sources import SAVEDMODEL_FINGERPRINT_FILE, savedmodel_tree_sha256
from ccs_transfer.provenance import provenance_markdown
from ccs_transfer.settings import Settings

import small_mirror


def write_mirror(root: Path, per_class: int = 3) -> Path:
    return small_mirror.write_mirror(root, per_class)


def outside_class_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "outside" / "birds"
    folder.mkdir(parents=True)
    Image.new("RGB", (8, 8), (1, 2, 3)).save(folder / "0.jpg")
    return folder


# --- Symbolic links ----------------------------------------------------------------------------


def test_class_folder_link_outside_rejected(tmp_path):
    mirror = write_mirror(tmp_path / "mirror")
    os.symlink(outside_class_folder(tmp_path), mirror / "flower_photos" / "birds")

    with pytest.raises(DataDirectoryError, match="birds is a symbolic link to .*outside/birds, outside the data directory") as raised:
        load_flower_collection(Settings(data_dir=mirror, cache_dir=tmp_path))

    assert "replace the link with the file itself, or remove it" in str(raised.value)


def test_flower_folder_link_outside_rejected(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    elsewhere = write_mirror(tmp_path / "elsewhere")
    os.symlink(elsewhere / "flower_photos", mirror / "flower_photos")

    with pytest.raises(DataDirectoryError, match="flower_photos is a symbolic link to .*elsewhere/flower_photos, outside the data directory"):
        load_flower_collection(Settings(data_dir=mirror, cache_dir=tmp_path))


def test_flower_folder_link_inside_accepted(tmp_path):
    # Control: a link that stays inside the data directory is followed.
    mirror = write_mirror(tmp_path / "mirror")
    (mirror / "flower_photos").rename(mirror / "photos-2026")
    os.symlink(mirror / "photos-2026", mirror / "flower_photos")

    collection = load_flower_collection(Settings(data_dir=mirror, cache_dir=tmp_path))

    assert collection.counts() == {"cats": 3, "dogs": 3}
    assert collection.manifest_verified is True


def test_relative_class_folder_link_escaping_rejected(tmp_path):
    mirror = write_mirror(tmp_path / "mirror")
    outside_class_folder(tmp_path)
    os.symlink("../../outside/birds", mirror / "flower_photos" / "birds")

    with pytest.raises(DataDirectoryError, match="outside the data directory"):
        load_flower_collection(Settings(data_dir=mirror, cache_dir=tmp_path))


def test_tutorial_portrait_link_outside_rejected(tmp_path):
    mirror = write_mirror(tmp_path / "mirror")
    outside = tmp_path / "portrait.jpg"
    Image.new("RGB", (8, 8)).save(outside)
    os.symlink(outside, mirror / "grace_hopper_tutorial.jpg")

    with pytest.raises(DataDirectoryError, match="grace_hopper_tutorial.jpg is a symbolic link .* outside the data directory"):
        grace_hopper_copies(Settings(data_dir=mirror, cache_dir=tmp_path))


# --- The manifest check as `make book` runs it -------------------------------------------------


@pytest.mark.slow
def test_build_rejects_changed_photo_in_one_line(tmp_path, shared_cache_dir):
    mirror = write_mirror(tmp_path / "mirror")
    Image.new("RGB", (8, 8), (9, 9, 9)).save(mirror / "flower_photos" / "dogs" / "2.jpg")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("EDITION_")}
    environment.update(
        EDITION_DATA_DIR=str(mirror), EDITION_CACHE_DIR=str(shared_cache_dir), EDITION_BUILD_DIR=str(tmp_path / "_build"),
        EDITION_ALLOW_NETWORK="0", TF_CPP_MIN_LOG_LEVEL="3",
    )

    completed = subprocess.run(
        [sys.executable, "-m", "ccs_transfer.build"], capture_output=True, text=True, env=environment, timeout=600
    )

    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "differ from their recorded hash: dogs/2.jpg" in errors[0]
    assert str(mirror / "flower_photos.sha256") in errors[0]
    assert not (tmp_path / "_build" / "html").exists()


# --- SavedModel hashes -------------------------------------------------------------------------


def fake_savedmodel(folder: Path, graph: bytes = b"graph", export_id: bytes = b"uuid-1") -> Path:
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(graph)
    (folder / "variables" / "variables.index").write_bytes(b"index")
    (folder / SAVEDMODEL_FINGERPRINT_FILE).write_bytes(export_id)
    return folder


def test_savedmodel_hash_ignores_only_export_id(tmp_path):
    first = fake_savedmodel(tmp_path / "first")
    same_model_new_export = fake_savedmodel(tmp_path / "second", export_id=b"uuid-2")
    other_graph = fake_savedmodel(tmp_path / "third", graph=b"other graph", export_id=b"uuid-1")
    without_id = (SAVEDMODEL_FINGERPRINT_FILE,)

    assert savedmodel_tree_sha256(first, exclude=without_id) == savedmodel_tree_sha256(same_model_new_export, exclude=without_id)
    assert savedmodel_tree_sha256(first, exclude=without_id) != savedmodel_tree_sha256(other_graph, exclude=without_id)
    assert savedmodel_tree_sha256(first) != savedmodel_tree_sha256(same_model_new_export)


@pytest.mark.slow
def test_embedded_model_details_hash_savedmodel(shared_cache_dir, tmp_path):
    from ccs_transfer.model_sources import resolve_handle

    settings = Settings(cache_dir=shared_cache_dir, build_dir=tmp_path / "_build", allow_network=False)
    resolved = resolve_handle("embedded:efficientnet_lite0/feature_vector", settings)
    entry = resolved.path.parent
    recorded = json.loads((entry / "export.json").read_text())["files"]
    # The same hash, computed from the file hashes the export recorded when it wrote the entry.
    lines = [
        f"{digest}  {name.removeprefix('feature_vector/')}\n"
        for name, digest in sorted(recorded.items())
        if name.startswith("feature_vector/") and not name.endswith(SAVEDMODEL_FINGERPRINT_FILE)
    ]
    import hashlib

    expected = hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()

    assert resolved.details["savedmodel_sha256"] == expected
    assert SAVEDMODEL_FINGERPRINT_FILE in resolved.details["savedmodel_sha256_of"]
    assert resolved.provenance()["savedmodel_sha256"] == expected


def test_provenance_box_shows_savedmodel_hashes():
    model = {
        "title": "Model", "id": "m", "source": "embedded", "classifier_handle": "embedded:m/classification",
        "feature_vector_handle": "embedded:m/feature_vector", "weights_sha256": "ab" * 32, "weights_sha256_of": "weights",
        "classifier": {"savedmodel_sha256": "cd" * 32, "savedmodel_sha256_of": "SavedModel folder"},
        "feature_vector": {"savedmodel_sha256": "ef" * 32, "savedmodel_sha256_of": "SavedModel folder"},
    }
    record = {
        "model": model, "labels": {"name": "l", "size": 2, "source": "s", "sha256": "00" * 32}, "photos": [],
        "libraries": {"python": "3"}, "seed": 1, "epochs": 1, "edition_version": "0", "build_date": "2026-01-01",
    }

    box = provenance_markdown(record)

    assert "**Classifier SavedModel sha256:** `cdcdcdcdcdcdcdcd…`" in box
    assert "**Feature-vector SavedModel sha256:** `efefefefefefefef…`" in box
