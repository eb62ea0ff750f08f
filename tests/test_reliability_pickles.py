"""More hostile weights pickles for the restricted unpickler.

test_torch_pickle.py rejects os.system, builtins.eval and subprocess.Popen
called by REDUCE in the main pickle and os.system in the first header pickle.
These cases add the other opcodes that name a global (STACK_GLOBAL of protocol
4, INST of protocol 0) and ``posix.system``, the name pickle writes for
``os.system`` on Linux. They also put payloads inside the state dict and in the
later records of the file.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import subprocess

import pytest

from ccs_transfer.errors import UnsafePickleError
from ccs_transfer.torch_pickle import LEGACY_MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION, load_legacy_state_dict


class CallOnLoad:
    """Pickles as a call of ``function(*arguments)``, which a plain unpickler makes on load."""

    def __init__(self, function, *arguments):
        self.function = function
        self.arguments = arguments

    def __reduce__(self):
        return self.function, self.arguments


def header(sys_info: bytes | None = None) -> bytes:
    stream = io.BytesIO()
    pickle.dump(LEGACY_MAGIC_NUMBER, stream, protocol=2)
    pickle.dump(LEGACY_PROTOCOL_VERSION, stream, protocol=2)
    if sys_info is None:
        pickle.dump({"little_endian": True}, stream, protocol=2)
    else:
        stream.write(sys_info)
    return stream.getvalue()


def empty_state_dict() -> bytes:
    return pickle.dumps(collections.OrderedDict(), protocol=2)


def payloads(marker) -> dict[str, bytes]:
    """Pickles that create ``marker`` when a plain unpickler loads them."""
    command = f"touch {marker}"
    return {
        "posix.system by GLOBAL": pickle.dumps(CallOnLoad(os.system, command), protocol=2),
        "posix.system by STACK_GLOBAL": pickle.dumps(CallOnLoad(os.system, command), protocol=4),
        "subprocess.Popen by STACK_GLOBAL": pickle.dumps(CallOnLoad(subprocess.Popen, ["touch", str(marker)]), protocol=4),
        "builtins.exec": pickle.dumps(CallOnLoad(exec, f"open({str(marker)!r}, 'w').close()"), protocol=2),
        "posix.system by INST": b"(S'" + command.encode() + b"'\nios\nsystem\n.",
        "posix.system inside the state dict": pickle.dumps(
            collections.OrderedDict(weight=CallOnLoad(os.system, command)), protocol=2
        ),
    }


PAYLOAD_NAMES = list(payloads("marker"))


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_payload_runs_under_plain_pickle(tmp_path, name):
    # Control: each payload runs under the standard unpickler, so the rejections below can fail.
    marker = tmp_path / "ran"
    loaded = pickle.loads(payloads(marker)[name])
    if isinstance(loaded, subprocess.Popen):
        loaded.wait()

    assert marker.exists()


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_payload_in_state_dict_rejected(tmp_path, name):
    marker = tmp_path / "ran"
    weights = tmp_path / "hostile.pth"
    weights.write_bytes(header() + payloads(marker)[name])

    with pytest.raises(UnsafePickleError, match="not on the allow-list") as raised:
        load_legacy_state_dict(weights)

    assert not marker.exists()
    assert str(weights) in str(raised.value)


def test_payload_in_sys_info_rejected(tmp_path):
    marker = tmp_path / "ran"
    weights = tmp_path / "hostile_sys_info.pth"
    weights.write_bytes(header(sys_info=payloads(marker)["posix.system by GLOBAL"]))

    with pytest.raises(UnsafePickleError, match=r"posix\.system"):
        load_legacy_state_dict(weights)

    assert not marker.exists()


def test_payload_in_storage_key_list_rejected(tmp_path):
    marker = tmp_path / "ran"
    weights = tmp_path / "hostile_keys.pth"
    weights.write_bytes(header() + empty_state_dict() + payloads(marker)["posix.system by STACK_GLOBAL"])

    with pytest.raises(UnsafePickleError, match=r"posix\.system"):
        load_legacy_state_dict(weights)

    assert not marker.exists()


def test_allowed_name_in_key_list_rejected(tmp_path):
    # The storage key list is a plain list, so even the state dict's own globals are refused there.
    weights = tmp_path / "ordered_dict_keys.pth"
    weights.write_bytes(header() + empty_state_dict() + pickle.dumps(collections.OrderedDict(), protocol=2))

    with pytest.raises(UnsafePickleError, match=r"collections\.OrderedDict"):
        load_legacy_state_dict(weights)
