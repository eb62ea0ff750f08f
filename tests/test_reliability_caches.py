"""The vector cache and the head cache: atomic writes, concurrent writers, damaged files.

A cache file is only ever replaced whole, so a build killed while writing
leaves the previous file (or none), and a damaged file is logged once and
computed again. Concurrency tests use separate processes, because the file
locks are what keeps two builds from losing each other's writes.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ccs_transfer import training, vector_cache
from ccs_transfer.datasets import Photo
from ccs_transfer.features import batched_model_outputs
from ccs_transfer.integrity import sha256_file
from ccs_transfer.training import TrainingResult, load_or_fit_training_result, load_training_result, save_training_result
from ccs_transfer.vector_cache import CacheWriteError, VectorCache, preprocessing_fingerprint, source_fingerprint

KEY = "model-feature_vector-0123456789abcdef-224-resize-whole"


def vectors_for(names: list[str], width: int = 4) -> dict[str, np.ndarray]:
    return {name: np.full(width, float(len(name)), dtype=np.float32) for name in names}


def training_result(value: float, epochs: int = 2) -> TrainingResult:
    kernel = np.full((3, 2), value, dtype=np.float32)
    bias = np.full(2, value, dtype=np.float32)
    history = {"loss": [value] * epochs, "acc": [0.5] * epochs, "val_loss": [value] * epochs, "val_acc": [0.5] * epochs}
    return TrainingResult(kernel, bias, history, 0.5, epochs, 7, from_cache=False)


def temporaries(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.tmp"))


def messages(caplog, logger_name: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == logger_name]


# --- File names and keys -----------------------------------------------------------------------


def test_vector_cache_name_has_preprocessing_fingerprint(tmp_path):
    cache = VectorCache(tmp_path, KEY)

    assert cache.path.name == f"{KEY}-{preprocessing_fingerprint()}.npz"


def test_source_fingerprint_ignores_comments_and_docstrings(tmp_path, monkeypatch):
    monkeypatch.setattr(vector_cache, "PACKAGE_FOLDER", tmp_path)
    module = tmp_path / "sample.py"
    module.write_text('"""Module docstring."""\n\ndef scale(x):\n    """Scale x."""\n    return x / 255.0\n')
    original = source_fingerprint(["sample"], [])

    module.write_text('"""Another docstring."""\n\n# A comment.\ndef scale(x):\n    """Scale the value."""\n    return x / 255.0  # unit range\n')
    reworded = source_fingerprint(["sample"], [])
    module.write_text('"""Module docstring."""\n\ndef scale(x):\n    """Scale x."""\n    return x * (1 / 255.0)\n')
    changed = source_fingerprint(["sample"], [])

    assert reworded == original
    assert changed != original


def test_source_fingerprint_follows_library_versions():
    assert source_fingerprint(["vector_cache"], ["numpy"]) != source_fingerprint(["vector_cache"], ["pillow"])


def test_head_cache_key_covers_training_code(monkeypatch):
    parts = {"model": "m", "seed": 1}
    original = training.head_cache_key(**parts)

    monkeypatch.setattr(training, "TRAINING_MODULES", ("training",))

    assert training.head_cache_key(**parts) != original


# --- Atomic writes -----------------------------------------------------------------------------


def _savez_cut_short(stream, **arrays):
    stream.write(b"PK\x03\x04 partial archive")
    raise OSError(28, "No space left on device")


def test_vector_merge_failing_mid_write_keeps_old_file(tmp_path, monkeypatch):
    cache = VectorCache(tmp_path, KEY)
    cache.merge(vectors_for(["a", "bb"]))
    before = cache.path.read_bytes()

    monkeypatch.setattr(vector_cache.np, "savez", _savez_cut_short)
    with pytest.raises(CacheWriteError, match="Cannot write the cache file .*: No space left on device"):
        cache.merge(vectors_for(["ccc"]))
    monkeypatch.undo()

    assert cache.path.read_bytes() == before
    assert sorted(cache.load()) == ["a", "bb"]
    assert temporaries(tmp_path) == []


def test_vector_merge_interrupted_before_rename(tmp_path, monkeypatch):
    cache = VectorCache(tmp_path, KEY)

    def interrupted_replace(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(vector_cache.os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        cache.merge(vectors_for(["a"]))
    monkeypatch.undo()

    assert not cache.path.exists()
    assert cache.load() == {}
    assert temporaries(tmp_path) == []


def test_head_save_failing_mid_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "heads" / "head.npz"
    save_training_result(training_result(1.0), path)

    monkeypatch.setattr(vector_cache.np, "savez", _savez_cut_short)
    with pytest.raises(CacheWriteError, match="No space left on device"):
        save_training_result(training_result(2.0), path)
    monkeypatch.undo()

    loaded = load_training_result(path)
    assert loaded is not None
    assert float(loaded.kernel[0, 0]) == 1.0
    assert temporaries(path.parent) == []


def test_cache_folder_file_raises_write_error(tmp_path):
    blocker = tmp_path / "vectors"
    blocker.write_text("a file where the cache folder should be")

    with pytest.raises(CacheWriteError, match="Cannot write the cache file .*vectors/.* EDITION_CACHE_DIR"):
        VectorCache(blocker, KEY).merge(vectors_for(["a"]))
    with pytest.raises(CacheWriteError, match="EDITION_CACHE_DIR"):
        save_training_result(training_result(1.0), blocker / "head.npz")


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
import numpy as np
from ccs_transfer import vector_cache

def savez_then_killed(stream, **arrays):
    stream.write(b"PK\\x03\\x04 half of an archive")
    stream.flush()
    os.kill(os.getpid(), signal.SIGKILL)

vector_cache.np.savez = savez_then_killed
if sys.argv[1] == "vectors":
    vector_cache.VectorCache(Path(sys.argv[2]), sys.argv[3]).merge({"new": np.ones(4, dtype=np.float32)})
else:
    from ccs_transfer import training
    result = training.TrainingResult(np.ones((3, 2), np.float32), np.ones(2, np.float32), {"loss": [1.0]}, 0.5, 1, 7, False)
    training.save_training_result(result, Path(sys.argv[2]))
"""


def run_killed_writer(*arguments: str) -> int:
    completed = subprocess.run([sys.executable, "-c", KILLED_WRITER, *arguments], capture_output=True, text=True, timeout=120)
    return completed.returncode


def test_killed_vector_writer_leaves_no_partial_entry(tmp_path):
    cache = VectorCache(tmp_path, KEY)
    cache.merge(vectors_for(["a", "bb"]))
    before = cache.path.read_bytes()

    assert run_killed_writer("vectors", str(tmp_path), KEY) == -9

    assert cache.path.read_bytes() == before
    assert sorted(cache.load()) == ["a", "bb"]
    assert len(temporaries(tmp_path)) == 1
    cache.merge(vectors_for(["ccc"]))
    assert sorted(cache.load()) == ["a", "bb", "ccc"]
    assert temporaries(tmp_path) == []


def test_killed_head_writer_leaves_no_entry(tmp_path):
    path = tmp_path / "heads" / "head.npz"

    assert run_killed_writer("head", str(path)) == -9

    assert not path.exists()
    assert load_training_result(path) is None
    save_training_result(training_result(3.0), path)
    assert temporaries(path.parent) == []


# --- Damaged files -----------------------------------------------------------------------------


def damage(path: Path, damage_kind: str) -> None:
    data = path.read_bytes()
    if damage_kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage_kind == "empty":
        path.write_bytes(b"")
    elif damage_kind == "flipped byte":
        # The first data byte of the archive's last .npy member (its header takes 128 bytes), which only its CRC protects.
        position = data.rfind(b"\x93NUMPY") + 128
        changed = bytearray(data)
        changed[position] ^= 0xFF
        path.write_bytes(bytes(changed))
    elif damage_kind == "not an archive":
        path.write_text("not an npz file")


DAMAGE = ["truncated", "empty", "flipped byte", "not an archive"]


@pytest.mark.parametrize("damage_kind", DAMAGE)
def test_damaged_vector_cache_logged_once_and_rebuilt(tmp_path, caplog, damage_kind):
    cache = VectorCache(tmp_path, KEY)
    cache.merge(vectors_for(["a", "bb"]))
    damage(cache.path, damage_kind)

    with caplog.at_level(logging.WARNING, logger="ccs_transfer.vector_cache"):
        assert cache.load() == {}
    cache.merge(vectors_for(["ccc"]))

    warnings = messages(caplog, "ccs_transfer.vector_cache")
    assert len(warnings) == 1
    assert "damaged" in warnings[0]
    assert str(cache.path) in warnings[0]
    assert sorted(cache.load()) == ["ccc"]


def test_vector_cache_mismatched_arrays_damaged(tmp_path, caplog):
    cache = VectorCache(tmp_path, KEY)
    np.savez(cache.path, sha256=np.array(["a", "b", "c"]), vectors=np.zeros((2, 4), dtype=np.float32))

    with caplog.at_level(logging.WARNING, logger="ccs_transfer.vector_cache"):
        assert cache.load() == {}

    assert "3 photo hashes" in messages(caplog, "ccs_transfer.vector_cache")[0]


@pytest.mark.parametrize("damage_kind", DAMAGE)
def test_damaged_head_cache_logged_once_and_retrained(tmp_path, caplog, damage_kind):
    path = tmp_path / "heads" / "head.npz"
    save_training_result(training_result(1.0), path)
    damage(path, damage_kind)
    fits = []

    def fit() -> TrainingResult:
        fits.append(1)
        return training_result(4.0)

    with caplog.at_level(logging.WARNING, logger="ccs_transfer.training"):
        assert load_training_result(path) is None
        result = load_or_fit_training_result(path, fit)

    warnings = messages(caplog, "ccs_transfer.training")
    assert len(warnings) == 2  # one per load of the damaged file: the check above and load_or_fit's
    assert all("damaged" in message and str(path) in message for message in warnings)
    assert fits == [1]
    assert result.from_cache is False
    reloaded = load_training_result(path)
    assert reloaded is not None
    assert float(reloaded.kernel[0, 0]) == 4.0


def test_head_cache_wrong_bias_shape_damaged(tmp_path, caplog):
    path = tmp_path / "head.npz"
    result = training_result(1.0)
    result.bias = np.zeros(5, dtype=np.float32)
    save_training_result(result, path)

    with caplog.at_level(logging.WARNING, logger="ccs_transfer.training"):
        assert load_training_result(path) is None

    assert "bias shape (5,)" in messages(caplog, "ccs_transfer.training")[0]


def small_photos(folder: Path, count: int) -> list[Photo]:
    folder.mkdir(parents=True, exist_ok=True)
    photos = []
    for index in range(count):
        path = folder / f"{index}.png"
        Image.new("RGB", (6, 6), (index * 30 % 256, 10, 200)).save(path)
        photos.append(Photo(path, path.name, 0, sha256_file(path)))
    return photos


def test_features_recomputed_after_cache_damage(tmp_path, caplog):
    photos = small_photos(tmp_path / "photos", 5)
    batches = []

    def run_batch(batch: np.ndarray) -> np.ndarray:
        batches.append(len(batch))
        return batch.mean(axis=(1, 2))

    def outputs() -> np.ndarray:
        return batched_model_outputs(
            run_batch, photos, input_size=4, batch_size=2, cache_folder=tmp_path / "vectors", cache_key=KEY, description="test", progress=False
        )

    first = outputs()
    # The lone fifth photo runs as a batch of two (itself twice).
    assert batches == [2, 2, 2]
    cache_file = VectorCache(tmp_path / "vectors", KEY).path
    damage(cache_file, "truncated")

    with caplog.at_level(logging.WARNING, logger="ccs_transfer.vector_cache"):
        second = outputs()

    assert batches == [2, 2, 2, 2, 2, 2]
    np.testing.assert_array_equal(first, second)
    assert len(messages(caplog, "ccs_transfer.vector_cache")) == 1
    assert sorted(VectorCache(tmp_path / "vectors", KEY).load()) == sorted(photo.sha256 for photo in photos)


# --- Concurrent writers ------------------------------------------------------------------------

ROUNDS = 25


def merge_worker(folder: str, prefix: str, start) -> None:
    start.wait(timeout=60)
    cache = VectorCache(Path(folder), KEY)
    for index in range(ROUNDS):
        cache.merge({f"{prefix}{index:03d}": np.full(64, index, dtype=np.float32)})


def head_save_worker(path: str, value: float, start) -> None:
    start.wait(timeout=60)
    for _ in range(ROUNDS):
        save_training_result(training_result(value), Path(path))


def load_or_fit_worker(path: str, fit_log: str, start) -> None:
    start.wait(timeout=60)

    def fit() -> TrainingResult:
        with open(fit_log, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()}\n")
        time.sleep(1.0)
        return training_result(float(os.getpid()))

    result = load_or_fit_training_result(Path(path), fit)
    Path(f"{fit_log}.{os.getpid()}").write_text(json.dumps(float(result.kernel[0, 0])))


def run_together(target, arguments: list[tuple]) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    processes = [context.Process(target=target, args=(*argument, start)) for argument in arguments]
    for process in processes:
        process.start()
    time.sleep(0.5)
    start.set()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0] * len(processes)


def test_concurrent_vector_merges_keep_union(tmp_path):
    run_together(merge_worker, [(str(tmp_path), "first-"), (str(tmp_path), "second-")])

    stored = VectorCache(tmp_path, KEY).load()
    assert len(stored) == 2 * ROUNDS
    assert {name.split("-")[0] for name in stored} == {"first", "second"}
    assert temporaries(tmp_path) == []


def test_concurrent_head_saves_leave_one_whole_result(tmp_path):
    path = tmp_path / "heads" / "head.npz"

    run_together(head_save_worker, [(str(path), 1.0), (str(path), 2.0)])

    loaded = load_training_result(path)
    assert loaded is not None
    value = float(loaded.kernel[0, 0])
    assert value in (1.0, 2.0)
    assert np.all(loaded.kernel == value)
    assert np.all(loaded.bias == value)
    assert loaded.history["loss"] == [value, value]
    assert temporaries(path.parent) == []


def test_concurrent_builds_train_head_once(tmp_path):
    path = tmp_path / "heads" / "head.npz"
    fit_log = tmp_path / "fits.log"

    run_together(load_or_fit_worker, [(str(path), str(fit_log)), (str(path), str(fit_log))])

    fitting_processes = fit_log.read_text().split()
    assert len(fitting_processes) == 1
    returned = {json.loads(path.read_text()) for path in tmp_path.glob("fits.log.*")}
    assert returned == {float(fitting_processes[0])}
