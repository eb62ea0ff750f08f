"""Read a legacy PyTorch state dict (``torch.save`` before 1.6) with numpy only.

The legacy file is a chain of records written one after the other:

1. a pickle of the magic number ``0x1950A86A20F9469CFC6C``,
2. a pickle of the protocol version (1001),
3. a pickle of ``sys_info`` (byte order and C type sizes of the writer),
4. the main pickle, here an ``OrderedDict`` of tensors whose storages are
   persistent ids of the form ``('storage', storage_type, key, location,
   element_count, view_metadata)``,
5. a pickle of the list of storage keys, in the order their data follows,
6. for each key, an 8-byte little-endian element count followed by the raw
   little-endian elements.

Unpickling runs code named by the file, so every pickle here goes through
:class:`RestrictedUnpickler`, whose ``find_class`` returns local stand-ins for
the few torch globals a state dict names and raises
:class:`~ccs_transfer.errors.UnsafePickleError` for every other global. The
torch package is never imported, and nothing named by the file is called.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .errors import EditionError, UnsafePickleError

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
_ZIP_SIGNATURE = b"PK\x03\x04"

# Storage class name -> numpy element type. PyTorch writes storage bytes little-endian on every platform.
_STORAGE_DTYPES: dict[str, str] = {
    "DoubleStorage": "f8",
    "FloatStorage": "f4",
    "HalfStorage": "f2",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class TorchPickleError(EditionError):
    """A weights file is not a readable legacy PyTorch pickle."""


class NotLegacyPickleError(TorchPickleError):
    """A weights file is in another format, such as the zip format of ``torch.save`` since 1.6."""


class TruncatedPickleError(TorchPickleError):
    """A legacy weights file ends before all of its records or storage bytes."""


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for a ``torch.<Type>Storage`` class named by the pickle."""

    name: str

    @property
    def dtype_code(self) -> str:
        return _STORAGE_DTYPES[self.name]


@dataclass
class _StorageReference:
    """A storage as named by a persistent id, before its bytes are read."""

    key: str
    storage_type: _StorageType
    element_count: int


@dataclass
class _StorageView:
    """A slice of a root storage, written by very old ``torch.save`` versions."""

    root: _StorageReference
    offset: int
    element_count: int


@dataclass
class _PendingTensor:
    """A tensor whose storage bytes come after the main pickle."""

    storage: _StorageReference | _StorageView
    storage_offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]


def _rebuild_tensor(storage: Any, storage_offset: int, size: Any, stride: Any, *unused: Any) -> _PendingTensor:
    # Stand-in for torch._utils._rebuild_tensor and _rebuild_tensor_v2. The extra
    # arguments of v2 (requires_grad, backward_hooks, metadata) do not affect the values.
    if not isinstance(storage, (_StorageReference, _StorageView)):
        raise pickle.UnpicklingError(f"a tensor refers to {type(storage).__name__}, not to a storage")
    return _PendingTensor(storage, int(storage_offset), tuple(int(n) for n in size), tuple(int(n) for n in stride))


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None, *unused: Any) -> Any:
    # Stand-in for torch._utils._rebuild_parameter: a Parameter has the values of its tensor.
    return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}
_ALLOWED_GLOBALS.update({("torch", name): _StorageType(name) for name in _STORAGE_DTYPES})


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals needed to rebuild a state dict.

    ``find_class`` returns local stand-ins from an allow-list and raises
    :class:`UnsafePickleError` for any other ``module.global``. Storages are
    collected from persistent ids and read later by :func:`load_legacy_state_dict`.
    """

    def __init__(self, stream: BinaryIO, *, source: str, allowed_globals: dict[tuple[str, str], Any] | None = None):
        super().__init__(stream)
        self.source = source
        self.allowed_globals = _ALLOWED_GLOBALS if allowed_globals is None else allowed_globals
        self.storages: dict[str, _StorageReference] = {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed_globals[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self.source}: the pickle requests the global {module}.{name}, which is not on the allow-list "
                "of a PyTorch state dict, so it was not loaded.",
                "use weights from a trusted source, or re-save them with torch.save(model.state_dict(), path).",
            ) from None

    def persistent_load(self, pid: Any) -> _StorageReference | _StorageView:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, storage_type, key, _location, element_count, view_metadata = pid
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"persistent id {key!r} names {storage_type!r}, not a storage type")
        root = self.storages.get(key)
        if root is None:
            root = _StorageReference(str(key), storage_type, int(element_count))
            self.storages[root.key] = root
        if view_metadata is None:
            return root
        # Limitation: storage views (written by torch.save before 0.4) are decoded but no such file was tested.
        _view_key, offset, view_size = view_metadata
        return _StorageView(root, int(offset), int(view_size))


def _load_record(
    stream: BinaryIO, path: Path, record_name: str, allowed_globals: dict | None = None
) -> tuple[Any, RestrictedUnpickler]:
    unpickler = RestrictedUnpickler(stream, source=str(path), allowed_globals=allowed_globals)
    try:
        return unpickler.load(), unpickler
    except UnsafePickleError:
        raise
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError, AttributeError, struct.error) as error:
        # The C unpickler reports a cut-off pickle as UnpicklingError, so an exhausted stream is the test for truncation.
        if isinstance(error, EOFError) or not stream.read(1):
            raise TruncatedPickleError(
                f"{path}: the file ends inside its {record_name}.",
                "download or reinstall the weights file; it is incomplete.",
            ) from None
        raise TorchPickleError(
            f"{path}: the {record_name} is not a valid legacy PyTorch pickle ({error}).",
            "reinstall the weights file, or re-save it with torch.save(..., _use_new_zipfile_serialization=False).",
        ) from None


def _check_header(stream: BinaryIO, path: Path) -> None:
    """Check the magic number, protocol version and sys_info record at the start of ``stream``."""
    start = stream.read(4)
    stream.seek(0)

    if start.startswith(_ZIP_SIGNATURE):
        raise NotLegacyPickleError(
            f"{path} is a zip-format PyTorch file (torch.save since 1.6), not the legacy pickle format.",
            "re-save it with torch.save(obj, path, _use_new_zipfile_serialization=False).",
        )
    if not start:
        raise TruncatedPickleError(f"{path} is empty.", "download or reinstall the weights file.")
    if start[:1] != b"\x80":
        raise NotLegacyPickleError(
            f"{path} does not start with a pickle, so it is not a legacy PyTorch file.",
            "pass a .pth file written by torch.save before PyTorch 1.6.",
        )

    no_globals: dict = {}
    magic, _ = _load_record(stream, path, "magic number", no_globals)
    if magic != LEGACY_MAGIC_NUMBER:
        raise NotLegacyPickleError(
            f"{path} starts with a pickle that is not the PyTorch magic number, so it is not a legacy PyTorch file.",
            "pass a .pth file written by torch.save before PyTorch 1.6.",
        )
    version, _ = _load_record(stream, path, "protocol version", no_globals)
    if version != LEGACY_PROTOCOL_VERSION:
        raise NotLegacyPickleError(
            f"{path} has PyTorch protocol version {version!r}, but only {LEGACY_PROTOCOL_VERSION} is supported.",
            "re-save it with a PyTorch release between 0.4 and 1.13 and _use_new_zipfile_serialization=False.",
        )

    sys_info, _ = _load_record(stream, path, "sys_info record", no_globals)
    if not isinstance(sys_info, dict):
        raise TorchPickleError(
            f"{path}: the sys_info record is a {type(sys_info).__name__}, not a dict.",
            "pass a .pth file written by torch.save before PyTorch 1.6.",
        )


def _read_exactly(stream: BinaryIO, count: int, path: Path, part_name: str) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise TruncatedPickleError(
            f"{path}: the file ends inside {part_name} ({len(data)} of {count} bytes).",
            "download or reinstall the weights file; it is incomplete.",
        )
    return data


def _read_storages(
    stream: BinaryIO, path: Path, keys: list[str], storages: dict[str, _StorageReference]
) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for key in keys:
        reference = storages.get(key)
        if reference is None:
            raise TorchPickleError(
                f"{path}: the storage list names {key!r}, which no tensor uses.",
                "reinstall the weights file; it is not a state dict written by torch.save.",
            )
        count_bytes = _read_exactly(stream, 8, path, f"the size of storage {key}")
        (element_count,) = struct.unpack("<q", count_bytes)
        dtype = np.dtype("<" + reference.storage_type.dtype_code)
        if element_count != reference.element_count:
            raise TorchPickleError(
                f"{path}: storage {key} contains {element_count} elements, but the pickle recorded {reference.element_count}.",
                "reinstall the weights file; it is damaged.",
            )
        data = _read_exactly(stream, element_count * dtype.itemsize, path, f"the data of storage {key}")
        arrays[key] = np.frombuffer(data, dtype=dtype)
    missing = sorted(set(storages) - set(arrays))
    if missing:
        raise TorchPickleError(
            f"{path}: the tensors use storages {missing[:3]} that the storage list does not contain.",
            "reinstall the weights file; it is damaged.",
        )
    return arrays


def _materialise(name: str, tensor: _PendingTensor, arrays: dict[str, np.ndarray], path: Path) -> np.ndarray:
    storage = tensor.storage
    base_offset = 0
    if isinstance(storage, _StorageView):
        base_offset = storage.offset
        storage = storage.root
    flat = arrays[storage.key]
    offset = base_offset + tensor.storage_offset
    if any(n < 0 for n in tensor.shape) or any(s < 0 for s in tensor.strides) or len(tensor.shape) != len(tensor.strides):
        raise TorchPickleError(f"{path}: tensor {name} has an invalid shape or stride.", "reinstall the weights file.")
    last_index = offset + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.strides)) if all(tensor.shape) else offset - 1
    if offset < 0 or last_index >= flat.size:
        raise TorchPickleError(
            f"{path}: tensor {name} reaches past the end of its storage.",
            "reinstall the weights file; it is damaged.",
        )
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[offset:],
        shape=tensor.shape,
        strides=tuple(s * itemsize for s in tensor.strides),
        writeable=False,
    )
    # A copy gives each array its own contiguous, writeable memory (and keeps 0-d tensors 0-d).
    return np.array(view, copy=True, order="C")


def _collect_tensors(state: Any, path: Path) -> dict[str, _PendingTensor]:
    if not isinstance(state, dict):
        raise TorchPickleError(
            f"{path} contains a {type(state).__name__}, not a state dict.",
            "save the weights with torch.save(model.state_dict(), path).",
        )
    tensors: dict[str, _PendingTensor] = {}
    for name, value in state.items():
        if not isinstance(value, _PendingTensor):
            raise TorchPickleError(
                f"{path}: entry {name!r} is a {type(value).__name__}, not a tensor.",
                "save the weights with torch.save(model.state_dict(), path).",
            )
        tensors[str(name)] = value
    return tensors


def load_legacy_state_dict(path: Path | str) -> dict[str, np.ndarray]:
    """Read a legacy-format PyTorch state dict into numpy arrays, keys in file order.

    Raises :class:`NotLegacyPickleError` for other formats, :class:`TruncatedPickleError`
    for a file cut short, :class:`UnsafePickleError` for a pickle that names a global
    outside the allow-list, and :class:`TorchPickleError` for other damage.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise TorchPickleError(
            f"Cannot read the weights file {path}: {error.strerror}.",
            "check the path, or reinstall the package that ships the weights.",
        ) from None

    stream = io.BytesIO(data)
    _check_header(stream, path)
    state, unpickler = _load_record(stream, path, "state dict pickle")
    tensors = _collect_tensors(state, path)
    keys, _ = _load_record(stream, path, "storage key list", {})
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise TorchPickleError(f"{path}: the storage key list is not a list of strings.", "reinstall the weights file.")
    arrays = _read_storages(stream, path, keys, unpickler.storages)
    trailing = len(data) - stream.tell()
    if trailing:
        raise TorchPickleError(
            f"{path}: {trailing} bytes follow the last storage.",
            "reinstall the weights file; it is not a single state dict written by torch.save.",
        )
    return {name: _materialise(name, tensor, arrays, path) for name, tensor in tensors.items()}


def allowed_globals() -> list[str]:
    """Return the ``module.global`` names the restricted unpickler resolves, sorted."""
    return sorted(f"{module}.{name}" for module, name in _ALLOWED_GLOBALS)

