"""Staging hub models into a mirror, verifying them offline, and the hub and 1001-label paths.

Every test works on tiny SavedModels made by the ``tiny_hub_models`` fixture.
Downloads are replaced by resolvers that copy those folders, and every setting
keeps the network off, so no test contacts a host.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ccs_transfer import cli, registry
from ccs_transfer.errors import IntegrityError, ModelUnavailableError
from ccs_transfer.model_sources import (
    STAGED_MANIFEST,
    find_in_hub_cache,
    find_staged,
    hub_cache_folder_name,
    model_availability,
    read_staged_manifest,
    resolve_handle,
    savedmodel_tree_sha256,
)
from ccs_transfer.settings import Settings
from ccs_transfer.staging import StagingError, stage_model, staging_not_needed


@pytest.fixture
def tiny_registry(tiny_registry_yaml):
    return registry.parse_registry(tiny_registry_yaml(), "test registry")


@pytest.fixture
def tiny_spec(tiny_registry):
    return tiny_registry["tiny_hub"]


def copying_resolver(sources: dict[str, Path]):
    """Return a resolver that hands back the local folder of each handle, as a download would."""

    def resolve(handle: str, download_dir: Path) -> Path:
        return sources[handle]

    return resolve


def tiny_sources(tiny_hub_models, classifier: Path | None = None) -> dict[str, Path]:
    return {
        tiny_hub_models.classifier_handle: classifier or tiny_hub_models.classifier_1001,
        tiny_hub_models.feature_vector_handle: tiny_hub_models.feature_vector,
    }


def offline_settings_for(tmp_path: Path, models_dir: Path | None, **overrides) -> Settings:
    values = dict(cache_dir=tmp_path / "cache", build_dir=tmp_path / "_build", models_dir=models_dir, allow_network=False)
    values.update(overrides)
    return Settings(**values)


def first_file(folder: Path) -> Path:
    return next(path for path in sorted(folder.rglob("*")) if path.is_file() and path.name != "saved_model.pb")


# --- Staging and verification ----------------------------------------------------------


def test_stage_writes_manifest_and_folders(tmp_path, tiny_hub_models, tiny_spec):
    mirror = tmp_path / "mirror"
    staged = stage_model(tiny_spec, mirror, allow_network=False, resolver=copying_resolver(tiny_sources(tiny_hub_models)))

    assert [entry.kind for entry in staged] == ["classification", "feature_vector"]
    manifest = json.loads((mirror / STAGED_MANIFEST).read_text(encoding="utf-8"))
    assert set(manifest) == {tiny_spec.classifier_handle, tiny_spec.feature_vector_handle}
    for entry in staged:
        record = manifest[entry.handle]
        assert record["folder"] == hub_cache_folder_name(entry.handle)
        assert record["sha256"] == savedmodel_tree_sha256(mirror / record["folder"])
        assert record["sha256"] == savedmodel_tree_sha256(tiny_sources(tiny_hub_models)[entry.handle])
        assert record["model"] == "tiny_hub"
        assert datetime.datetime.fromisoformat(record["staged_at"]).tzinfo is not None
        assert entry.folder == mirror.resolve() / record["folder"]
    assert sorted(path.name for path in mirror.iterdir() if path.name.startswith(".") and not path.name.endswith(".lock")) == []


def test_staged_copy_resolves_offline(tmp_path, tiny_hub_models, tiny_spec):
    mirror = tmp_path / "mirror"
    stage_model(tiny_spec, mirror, allow_network=False, resolver=copying_resolver(tiny_sources(tiny_hub_models)))
    settings = offline_settings_for(tmp_path, mirror.resolve())

    resolved = resolve_handle(tiny_spec.classifier_handle, settings)

    assert resolved.source == "staged"
    assert resolved.path == mirror.resolve() / hub_cache_folder_name(tiny_spec.classifier_handle)
    assert resolved.sha256 == savedmodel_tree_sha256(tiny_hub_models.classifier_1001)
    assert model_availability(tiny_spec, settings) == (True, "staged")


def test_resolver_may_download_into_folder(tmp_path, tiny_hub_models, tiny_spec):
    seen_download_dirs = []

    def download_like_hub(handle: str, download_dir: Path) -> Path:
        seen_download_dirs.append(download_dir)
        target = download_dir / hub_cache_folder_name(handle)
        shutil.copytree(tiny_sources(tiny_hub_models)[handle], target)
        return target

    mirror = tmp_path / "mirror"
    stage_model(tiny_spec, mirror, allow_network=False, resolver=download_like_hub)

    assert all(folder.parent == mirror.resolve() for folder in seen_download_dirs)
    assert all(not folder.exists() for folder in seen_download_dirs)
    assert find_staged(tiny_spec.classifier_handle, mirror.resolve()) is not None


def test_changed_file_is_rejected(tmp_path, tiny_hub_models, tiny_spec):
    mirror = tmp_path / "mirror"
    stage_model(tiny_spec, mirror, allow_network=False, resolver=copying_resolver(tiny_sources(tiny_hub_models)))
    folder = mirror.resolve() / hub_cache_folder_name(tiny_spec.classifier_handle)
    with open(first_file(folder), "ab") as stream:
        stream.write(b"\0")

    with pytest.raises(IntegrityError) as raised:
        find_staged(tiny_spec.classifier_handle, mirror.resolve())

    message = str(raised.value)
    assert tiny_spec.classifier_handle in message
    assert str(folder) in message
    assert "ccs-transfer stage" in message


def test_added_file_is_rejected(tmp_path, tiny_hub_models, tiny_spec):
    mirror = tmp_path / "mirror"
    stage_model(tiny_spec, mirror, allow_network=False, resolver=copying_resolver(tiny_sources(tiny_hub_models)))
    folder = mirror.resolve() / hub_cache_folder_name(tiny_spec.feature_vector_handle)
    (folder / "variables" / "extra.bin").write_bytes(b"not part of the model")

    with pytest.raises(IntegrityError, match="was recorded when it was staged"):
        find_staged(tiny_spec.feature_vector_handle, mirror.resolve())


def test_mismatch_never_falls_back_to_cache(tmp_path, tiny_hub_models, tiny_spec, monkeypatch):
    mirror = tmp_path / "mirror"
    stage_model(tiny_spec, mirror, allow_network=False, resolver=copying_resolver(tiny_sources(tiny_hub_models)))
    with open(first_file(mirror / hub_cache_folder_name(tiny_spec.classifier_handle)), "ab") as stream:
        stream.write(b"\0")
    hub_cache = tmp_path / "tfhub-cache"
    shutil.copytree(tiny_hub_models.classifier_1001, hub_cache / hub_cache_folder_name(tiny_spec.classifier_handle))
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(hub_cache))
    settings = offline_settings_for(tmp_path, mirror.resolve(), allow_network=True)

    with pytest.raises(IntegrityError):
        resolve_handle(tiny_spec.classifier_handle, settings)
    available, reason = model_availability(tiny_spec, settings)
    assert available is False
    assert tiny_spec.classifier_handle in reason


def test_missing_staged_folder_is_rejected(tmp_path, tiny_hub_models, tiny_spec):
    mirror = tmp_path / "mirror"
    stage_model(tiny_spec, mirror, allow_network=False, resolver=copying_resolver(tiny_sources(tiny_hub_models)))
    folder = mirror.resolve() / hub_cache_folder_name(tiny_spec.classifier_handle)
    shutil.rmtree(folder)

    with pytest.raises(IntegrityError, match="missing its saved_model.pb") as raised:
        find_staged(tiny_spec.classifier_handle, mirror.resolve())
    assert str(folder) in str(raised.value)


@pytest.mark.parametrize(
    ("manifest_text", "message"),
    [
        ("{not json", "cannot be read"),
        ("[1, 2]", "not a JSON object"),
        ('{"https://tfhub.dev/x/1": {"folder": 3, "sha256": "ab"}}', "invalid entry"),
    ],
)
def test_damaged_manifest_is_rejected(tmp_path, manifest_text, message):
    (tmp_path / STAGED_MANIFEST).write_text(manifest_text, encoding="utf-8")

    with pytest.raises(IntegrityError, match=message):
        read_staged_manifest(tmp_path)


@pytest.mark.parametrize("folder", ["..", "../elsewhere", "/etc", ""])
def test_folder_outside_mirror_is_rejected(tmp_path, folder):
    handle = "https://tfhub.dev/x/1"
    manifest = {handle: {"folder": folder, "sha256": "0" * 64, "staged_at": ""}}
    (tmp_path / STAGED_MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    with pytest.raises(IntegrityError, match="not a folder inside"):
        find_staged(handle, tmp_path)


def test_restaging_repairs_changed_copy(tmp_path, tiny_hub_models, tiny_spec):
    mirror = tmp_path / "mirror"
    resolver = copying_resolver(tiny_sources(tiny_hub_models))
    stage_model(tiny_spec, mirror, allow_network=False, resolver=resolver)
    with open(first_file(mirror / hub_cache_folder_name(tiny_spec.classifier_handle)), "ab") as stream:
        stream.write(b"\0")

    stage_model(tiny_spec, mirror, allow_network=False, resolver=resolver)

    assert find_staged(tiny_spec.classifier_handle, mirror.resolve()).source == "staged"


def test_stage_rejects_non_hub_models(tmp_path):
    lite0 = registry.load_registry()["efficientnet_lite0"]

    assert "needs no staging" in staging_not_needed(lite0)
    with pytest.raises(StagingError, match="needs no staging"):
        stage_model(lite0, tmp_path / "mirror", allow_network=True)


def test_stage_offline_without_resolver_fails(tmp_path, tiny_spec):
    with pytest.raises(ModelUnavailableError, match="network is off"):
        stage_model(tiny_spec, tmp_path / "mirror", allow_network=False)
    assert not (tmp_path / "mirror").exists()


def test_stage_rejects_download_without_savedmodel(tmp_path, tiny_spec):
    empty = tmp_path / "empty"
    empty.mkdir()

    with pytest.raises(StagingError, match="no saved_model.pb"):
        stage_model(tiny_spec, tmp_path / "mirror", allow_network=False, resolver=lambda handle, folder: empty)
    assert read_staged_manifest(tmp_path / "mirror") == {}


# --- The default resolver: hub.resolve with TFHUB_CACHE_DIR in the mirror -------------


def test_hub_resolver_downloads_into_mirror(tmp_path, tiny_hub_models, tiny_spec, monkeypatch):
    from ccs_transfer.tf_runtime import load_tensorflow

    caches_seen = []

    def fake_resolve(handle):
        cache = Path(os.environ["TFHUB_CACHE_DIR"])
        caches_seen.append((cache, socket.getdefaulttimeout()))
        target = cache / hub_cache_folder_name(handle)
        shutil.copytree(tiny_sources(tiny_hub_models)[handle], target)
        return str(target)

    monkeypatch.setattr(load_tensorflow().hub, "resolve", fake_resolve)
    monkeypatch.delenv("TFHUB_CACHE_DIR", raising=False)
    mirror = tmp_path / "mirror"

    staged = stage_model(tiny_spec, mirror, allow_network=True)

    assert len(staged) == 2
    assert all(cache.parent == mirror.resolve() and cache.name.startswith(".download-") for cache, _ in caches_seen)
    assert all(timeout is not None for _, timeout in caches_seen)
    assert "TFHUB_CACHE_DIR" not in os.environ
    assert socket.getdefaulttimeout() is None
    assert find_staged(tiny_spec.feature_vector_handle, mirror.resolve()) is not None


def test_failed_download_is_one_line(tmp_path, tiny_spec, monkeypatch):
    from ccs_transfer.tf_runtime import load_tensorflow

    def unreachable(handle):
        raise urllib.error.URLError("[Errno -3] Temporary failure\nin name resolution")

    monkeypatch.setattr(load_tensorflow().hub, "resolve", unreachable)

    with pytest.raises(ModelUnavailableError) as raised:
        stage_model(tiny_spec, tmp_path / "mirror", allow_network=True)

    message = str(raised.value)
    assert "\n" not in message
    assert tiny_spec.classifier_handle in message
    assert "URLError" in message
    assert read_staged_manifest(tmp_path / "mirror") == {}


# --- TFHUB_CACHE_DIR layout ----------------------------------------------------------------


def test_resolve_through_tfhub_cache(tmp_path, tiny_hub_models, tiny_spec, monkeypatch):
    cache = tmp_path / "tfhub-cache"
    folder = cache / hub_cache_folder_name(tiny_spec.classifier_handle)
    shutil.copytree(tiny_hub_models.classifier_1001, folder)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))

    resolved = resolve_handle(tiny_spec.classifier_handle, offline_settings_for(tmp_path, None))

    assert resolved.source == "tfhub-cache"
    assert resolved.path == folder
    assert resolved.sha256 == savedmodel_tree_sha256(folder)


def test_incomplete_tfhub_cache_folder_is_ignored(tmp_path, tiny_spec, monkeypatch):
    cache = tmp_path / "tfhub-cache"
    (cache / hub_cache_folder_name(tiny_spec.classifier_handle) / "variables").mkdir(parents=True)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))

    assert find_in_hub_cache(tiny_spec.classifier_handle) is None


def test_hub_cache_folder_is_sha1_of_handle():
    import hashlib

    handle = "https://tfhub.dev/google/tf2-preview/mobilenet_v2/classification/4"
    assert hub_cache_folder_name(handle) == hashlib.sha1(handle.encode("utf-8")).hexdigest()


# --- Unavailable models never fall back silently -------------------------------------------


def test_unavailable_hub_model_names_stage_command(tmp_path):
    mobilenet = registry.load_registry()["mobilenet_v2"]
    settings = offline_settings_for(tmp_path, None)

    with pytest.raises(ModelUnavailableError) as raised:
        resolve_handle(mobilenet.classifier_handle, settings)

    message = str(raised.value)
    assert "\n" not in message
    assert "'mobilenet_v2'" in message
    assert "ccs-transfer stage mobilenet_v2" in message
    assert "EDITION_ALLOW_NETWORK=0" in message
    assert "Available here: efficientnet_lite0, efficientnet_lite1, efficientnet_lite2." in message


def test_build_stops_with_one_line(tmp_path):
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("EDITION_", "TFHUB_"))
    }
    # The data directory's layout is checked before the model is resolved.
    (tmp_path / "data" / "flower_photos").mkdir(parents=True)
    environment.update(
        EDITION_DATA_DIR=str(tmp_path / "data"),
        EDITION_MODEL="mobilenet_v2",
        EDITION_ALLOW_NETWORK="0",
        EDITION_CACHE_DIR=str(tmp_path / "cache"),
        EDITION_BUILD_DIR=str(tmp_path / "_build"),
    )

    finished = subprocess.run(
        [sys.executable, "-m", "ccs_transfer.build"], env=environment, capture_output=True, text=True, timeout=300
    )

    errors = [line for line in finished.stderr.splitlines() if line.startswith("error:")]
    assert finished.returncode == 1
    assert len(errors) == 1
    assert "mobilenet_v2" in errors[0]
    assert "ccs-transfer stage mobilenet_v2" in errors[0]
    assert "Traceback" not in finished.stderr
    assert not (tmp_path / "_build" / "html").exists()


# --- The hub path and the 1001-label path through `ccs-transfer classify` --------------------


@pytest.fixture
def tiny_cli_environment(tmp_path, tiny_hub_models, tiny_registry_yaml, monkeypatch):
    """Stage the tiny models, make the test registry the packaged one, and return a folder of photos."""

    def prepare(classifier: Path | None = None, labels: str = "imagenet1001"):
        specs = registry.parse_registry(tiny_registry_yaml(labels=labels), "test registry")
        mirror = tmp_path / "mirror"
        stage_model(
            specs["tiny_hub"], mirror, allow_network=False,
            resolver=copying_resolver(tiny_sources(tiny_hub_models, classifier)),
        )
        monkeypatch.setattr(registry, "_packaged_registry", lambda: specs)
        for variable in [name for name in os.environ if name.startswith("EDITION_")]:
            monkeypatch.delenv(variable)
        monkeypatch.setenv("EDITION_MODELS_DIR", str(mirror))
        monkeypatch.setenv("EDITION_ALLOW_NETWORK", "0")
        monkeypatch.setenv("EDITION_CACHE_DIR", str(tmp_path / "cache"))
        photos = tmp_path / "photos"
        photos.mkdir()
        Image.new("RGB", (64, 48), (255, 255, 255)).save(photos / "white.png")
        Image.new("RGB", (40, 40), (0, 0, 0)).save(photos / "black.jpg")
        return photos

    return prepare


def test_classify_names_labels_from_1001_list(tiny_cli_environment, tiny_hub_models, capsys):
    photos = tiny_cli_environment()

    status = cli.main(["classify", "--model", "tiny_hub", "--json", "--top", "3", str(photos)])

    captured = capsys.readouterr()
    assert status == 0, captured.err
    records = {Path(record["path"]).name: record for record in map(json.loads, captured.out.splitlines())}
    assert records["black.jpg"]["top_k"][0]["index"] == 0
    assert records["black.jpg"]["top_k"][0]["label"] == "background"
    assert records["white.png"]["top_k"][0]["index"] == tiny_hub_models.bright_index
    assert records["white.png"]["top_k"][0]["label"] == "military uniform"
    assert records["white.png"]["model"] == "tiny_hub"
    assert captured.err == ""


def test_classify_output_size_mismatch_names_both(tiny_cli_environment, tiny_hub_models, capsys):
    photos = tiny_cli_environment(classifier=tiny_hub_models.classifier_1000, labels="imagenet1001")

    status = cli.main(["classify", "--model", "tiny_hub", str(photos / "white.png")])

    error_lines = capsys.readouterr().err.splitlines()
    assert status == 1
    assert len(error_lines) == 1
    assert "1001 labels" in error_lines[0]
    assert "1000 outputs" in error_lines[0]


def test_classify_rejects_changed_model(tiny_cli_environment, tmp_path, capsys):
    photos = tiny_cli_environment()
    folder = tmp_path / "mirror" / hub_cache_folder_name("https://tfhub.dev/ccs-transfer-tests/tiny/classification/1")
    with open(first_file(folder), "ab") as stream:
        stream.write(b"\0")

    status = cli.main(["classify", "--model", "tiny_hub", str(photos / "white.png")])

    error_lines = capsys.readouterr().err.splitlines()
    assert status == 1
    assert len(error_lines) == 1
    assert error_lines[0].startswith("error: The staged model")
    assert str(folder.resolve()) in error_lines[0]


def test_tiny_logits_match_expectation(tiny_hub_models):
    """Check the fixture itself: the tiny classifier's logits follow its documented formula."""
    from ccs_transfer.tf_runtime import load_tensorflow

    model = load_tensorflow().tf.saved_model.load(str(tiny_hub_models.classifier_1001))
    white = np.ones((1, 32, 32, 3), dtype=np.float32)
    logits = model(white).numpy()[0]

    assert logits.shape == (1001,)
    assert int(np.argmax(logits)) == tiny_hub_models.bright_index
    assert logits[tiny_hub_models.bright_index] == pytest.approx(30.0)
