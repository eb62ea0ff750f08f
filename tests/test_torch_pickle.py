"""Tests of the numpy-only reader of legacy PyTorch state dicts."""

from __future__ import annotations

import collections
import io
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ccs_transfer.embedded import weights_path_for
from ccs_transfer.errors import EditionError, UnsafePickleError
from ccs_transfer.torch_pickle import (
    LEGACY_MAGIC_NUMBER,
    LEGACY_PROTOCOL_VERSION,
    NotLegacyPickleError,
    TorchPickleError,
    TruncatedPickleError,
    allowed_globals,
    load_legacy_state_dict,
)

# Offset where the main pickle of efficientnet-lite0-57934424.pth starts, after the three header pickles.
LITE0_MAIN_PICKLE_OFFSET = 137


# --- Writing legacy files without torch -------------------------------------------------------


class _FakeStorage:
    """Pickled as the persistent id of a storage, as torch.save writes it."""

    def __init__(self, key: str, type_name: str, values: np.ndarray):
        self.key = key
        self.type_name = type_name
        self.values = values


class _FakeTensor:
    def __init__(self, storage: _FakeStorage, offset: int, shape: tuple, stride: tuple):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return (rebuild, (self.storage, self.offset, self.shape, self.stride, False, collections.OrderedDict()))


@pytest.fixture
def fake_torch(monkeypatch):
    """Install importable stand-ins for the torch globals so the stdlib pickler can name them."""
    torch_module = types.ModuleType("torch")
    utils_module = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
        raise AssertionError("stand-in called")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils_module._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "LongStorage", "DoubleStorage"):
        storage_class = type(name, (), {"__module__": "torch"})
        setattr(torch_module, name, storage_class)
    torch_module._utils = utils_module
    monkeypatch.setitem(sys.modules, "torch", torch_module)
    monkeypatch.setitem(sys.modules, "torch._utils", utils_module)
    return torch_module


def _write_legacy_file(path: Path, state: dict, storages: list[_FakeStorage], torch_module) -> None:
    """Write ``state`` in the legacy torch.save layout."""
    stream = io.BytesIO()
    pickle.dump(LEGACY_MAGIC_NUMBER, stream, protocol=2)
    pickle.dump(LEGACY_PROTOCOL_VERSION, stream, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}, stream, protocol=2)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _FakeStorage):
                storage_type = getattr(torch_module, obj.type_name)
                return ("storage", storage_type, obj.key, "cpu", obj.values.size, None)
            return None

    Pickler(stream, protocol=2).dump(collections.OrderedDict(state))
    pickle.dump([storage.key for storage in storages], stream, protocol=2)
    for storage in storages:
        stream.write(struct.pack("<q", storage.values.size))
        stream.write(storage.values.astype(storage.values.dtype.newbyteorder("<")).tobytes())
    path.write_bytes(stream.getvalue())


# --- Malicious pickles ------------------------------------------------------------------------


def _reduce_pickle(module: str, name: str, arguments: tuple) -> bytes:
    """Return protocol-2 pickle bytes that call ``module.name(*arguments)`` when loaded."""
    arguments_body = pickle.dumps(arguments, protocol=2)[2:-1]  # drop PROTO and STOP
    return b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n" + arguments_body + b"R."


def _payloads(marker: Path) -> dict[str, bytes]:
    return {
        "os.system": _reduce_pickle("os", "system", (f"touch {marker}",)),
        "builtins.eval": _reduce_pickle("builtins", "eval", (f"open({str(marker)!r}, 'w').close()",)),
        "subprocess.Popen": _reduce_pickle("subprocess", "Popen", (["touch", str(marker)],)),
    }


def _legacy_header() -> bytes:
    stream = io.BytesIO()
    pickle.dump(LEGACY_MAGIC_NUMBER, stream, protocol=2)
    pickle.dump(LEGACY_PROTOCOL_VERSION, stream, protocol=2)
    pickle.dump({"little_endian": True}, stream, protocol=2)
    return stream.getvalue()


@pytest.mark.parametrize("global_name", ["os.system", "builtins.eval", "subprocess.Popen"])
def test_payload_runs_under_plain_pickle(tmp_path, global_name):
    # Control: the payloads do run under the stdlib unpickler, so the rejection tests below can fail.
    marker = tmp_path / "ran"
    result = pickle.loads(_payloads(marker)[global_name])
    if global_name == "subprocess.Popen":
        result.wait()
    assert marker.exists()


@pytest.mark.parametrize("global_name", ["os.system", "builtins.eval", "subprocess.Popen"])
def test_restricted_unpickler_rejects_global(tmp_path, global_name):
    marker = tmp_path / "ran"
    weights = tmp_path / "malicious.pth"
    weights.write_bytes(_legacy_header() + _payloads(marker)[global_name])

    with pytest.raises(UnsafePickleError, match=global_name.replace(".", r"\.")) as caught:
        load_legacy_state_dict(weights)

    assert not marker.exists()
    assert str(weights) in str(caught.value)


def test_os_system_rejected_in_header(tmp_path):
    marker = tmp_path / "ran"
    weights = tmp_path / "header.pth"
    weights.write_bytes(_payloads(marker)["os.system"])

    with pytest.raises(UnsafePickleError, match=r"os\.system"):
        load_legacy_state_dict(weights)
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [("torch", "load"), ("torch.nn", "Module"), ("collections", "defaultdict")])
def test_other_globals_rejected(tmp_path, module, name):
    weights = tmp_path / "other.pth"
    weights.write_bytes(_legacy_header() + b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R.")

    with pytest.raises(UnsafePickleError, match=f"{module}.{name}"):
        load_legacy_state_dict(weights)


def test_allow_list_contents():
    names = allowed_globals()
    assert "torch._utils._rebuild_tensor_v2" in names
    assert "torch.FloatStorage" in names
    assert "collections.OrderedDict" in names
    assert not any(name.startswith(("os.", "builtins.", "subprocess.")) for name in names)


# --- Reading synthetic files ------------------------------------------------------------------


def test_synthetic_file_round_trip(tmp_path, fake_torch):
    shared = _FakeStorage("1", "FloatStorage", np.arange(12, dtype=np.float32))
    counts = _FakeStorage("2", "LongStorage", np.array([7], dtype=np.int64))
    state = {
        "matrix": _FakeTensor(shared, 0, (3, 4), (4, 1)),
        "transposed": _FakeTensor(shared, 0, (4, 3), (1, 4)),
        "tail": _FakeTensor(shared, 8, (4,), (1,)),
        "count": _FakeTensor(counts, 0, (), ()),
    }
    weights = tmp_path / "synthetic.pth"
    _write_legacy_file(weights, state, [shared, counts], fake_torch)

    loaded = load_legacy_state_dict(weights)

    assert list(loaded) == ["matrix", "transposed", "tail", "count"]
    np.testing.assert_array_equal(loaded["matrix"], np.arange(12, dtype=np.float32).reshape(3, 4))
    np.testing.assert_array_equal(loaded["transposed"], np.arange(12, dtype=np.float32).reshape(3, 4).T)
    np.testing.assert_array_equal(loaded["tail"], np.array([8, 9, 10, 11], dtype=np.float32))
    assert loaded["count"].dtype == np.int64
    assert loaded["count"].shape == ()
    assert int(loaded["count"]) == 7


def test_arrays_are_independent_copies(tmp_path, fake_torch):
    shared = _FakeStorage("1", "FloatStorage", np.zeros(4, dtype=np.float32))
    weights = tmp_path / "shared.pth"
    _write_legacy_file(weights, {"a": _FakeTensor(shared, 0, (4,), (1,)), "b": _FakeTensor(shared, 0, (4,), (1,))}, [shared], fake_torch)

    loaded = load_legacy_state_dict(weights)
    loaded["a"][0] = 5.0

    assert loaded["b"][0] == 0.0


def test_tensor_past_storage_end_rejected(tmp_path, fake_torch):
    storage = _FakeStorage("1", "FloatStorage", np.zeros(4, dtype=np.float32))
    weights = tmp_path / "overrun.pth"
    _write_legacy_file(weights, {"a": _FakeTensor(storage, 2, (4,), (1,))}, [storage], fake_torch)

    with pytest.raises(TorchPickleError, match="past the end"):
        load_legacy_state_dict(weights)


def test_non_tensor_entry_rejected(tmp_path, fake_torch):
    storage = _FakeStorage("1", "FloatStorage", np.zeros(1, dtype=np.float32))
    weights = tmp_path / "mixed.pth"
    _write_legacy_file(weights, {"a": _FakeTensor(storage, 0, (1,), (1,)), "epoch": 3}, [storage], fake_torch)

    with pytest.raises(TorchPickleError, match="'epoch' is a int, not a tensor"):
        load_legacy_state_dict(weights)


# --- The shipped EfficientNet-Lite0 weights ---------------------------------------------------


@pytest.fixture(scope="module")
def lite0_bytes() -> bytes:
    return weights_path_for("efficientnet_lite0").read_bytes()


def test_lite0_state_dict_keys_and_types():
    state = load_legacy_state_dict(weights_path_for("efficientnet_lite0"))

    keys = list(state)
    assert len(keys) == 296
    assert keys[0] == "_conv_stem.weight"
    assert keys[-2:] == ["_fc.weight", "_fc.bias"]
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_conv_stem.weight"].dtype == np.float32
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_bn0.num_batches_tracked"].dtype == np.int64
    assert all(np.isfinite(array).all() for array in state.values())


@pytest.mark.parametrize("variant, key_count", [("efficientnet_lite1", 386), ("efficientnet_lite2", 386)])
def test_lite1_lite2_state_dicts_load(variant, key_count):
    state = load_legacy_state_dict(weights_path_for(variant))

    assert len(state) == key_count
    assert state["_conv_head.weight"].shape[0] == 1280


@pytest.mark.parametrize(
    "cut_at, where",
    [
        (LITE0_MAIN_PICKLE_OFFSET - 5, "sys_info"),
        (LITE0_MAIN_PICKLE_OFFSET + 1000, "state dict pickle"),
        (-1, "data of storage"),
    ],
)
def test_truncated_file_rejected(tmp_path, lite0_bytes, cut_at, where):
    weights = tmp_path / "truncated.pth"
    weights.write_bytes(lite0_bytes[:cut_at])

    with pytest.raises(TruncatedPickleError, match=where) as caught:
        load_legacy_state_dict(weights)
    assert "reinstall" in str(caught.value)


def test_empty_file_rejected(tmp_path):
    weights = tmp_path / "empty.pth"
    weights.write_bytes(b"")

    with pytest.raises(TruncatedPickleError, match="is empty"):
        load_legacy_state_dict(weights)


def test_trailing_bytes_rejected(tmp_path, lite0_bytes):
    weights = tmp_path / "trailing.pth"
    weights.write_bytes(lite0_bytes + b"extra")

    with pytest.raises(TorchPickleError, match="5 bytes follow the last storage"):
        load_legacy_state_dict(weights)


def test_zip_format_rejected(tmp_path):
    weights = tmp_path / "zip_format.pth"
    with zipfile.ZipFile(weights, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("archive/version", b"3\n")

    with pytest.raises(NotLegacyPickleError, match="zip-format") as caught:
        load_legacy_state_dict(weights)
    assert "_use_new_zipfile_serialization=False" in str(caught.value)


def test_plain_pickle_rejected(tmp_path):
    weights = tmp_path / "plain.pkl"
    weights.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}, protocol=2))

    with pytest.raises(NotLegacyPickleError, match="not the PyTorch magic number"):
        load_legacy_state_dict(weights)


def test_text_file_rejected(tmp_path):
    weights = tmp_path / "notes.txt"
    weights.write_text("not weights\n")

    with pytest.raises(NotLegacyPickleError, match="does not start with a pickle"):
        load_legacy_state_dict(weights)


def test_missing_file_is_edition_error(tmp_path):
    with pytest.raises(EditionError, match="Cannot read the weights file"):
        load_legacy_state_dict(tmp_path / "absent.pth")
