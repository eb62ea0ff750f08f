"""Fuzz load_photo: whatever the bytes, it returns an RGB image or raises ImageError.

The inputs are random bytes and mutations (byte flips, truncations, insertions,
deletions, splices) of small valid files in every decoded format, generated here.
The default run tries 400 cases; the ``slow`` variants try 7,000.
"""

from __future__ import annotations

import faulthandler
import io
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ccs_transfer import images
from ccs_transfer.errors import ImageError
from ccs_transfer.images import load_photo

# Small, so that a mutated header cannot make the loader allocate much memory.
FUZZ_MAX_PIXELS = 1 << 16

# Hypothesis measures each example after it returns and fails a slow one.
EXAMPLE_DEADLINE = timedelta(seconds=5)
# A decoder stuck in C code never returns, so a watchdog thread dumps every
# thread's traceback and ends the test process after this many seconds.
HANG_SECONDS = 60

COMMON_SETTINGS = dict(
    deadline=EXAMPLE_DEADLINE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def _build_seeds() -> dict[str, bytes]:
    """Return small valid files, one or more per decoded format, keyed by a short name."""
    rng = np.random.default_rng(20200)
    photo = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    other = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    alpha = photo.copy()
    alpha.putalpha(Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8)))
    exif = Image.Exif()
    exif[0x0112] = 6

    seeds = {
        "jpeg": _encode(photo, "JPEG", quality=80, exif=exif),
        "jpeg-progressive": _encode(photo, "JPEG", progressive=True),
        "jpeg-cmyk": _encode(photo.convert("CMYK"), "JPEG"),
        "mpo": _encode(photo, "MPO", save_all=True, append_images=[other]),
        "png": _encode(photo, "PNG"),
        "png-rgba": _encode(alpha, "PNG"),
        "png-palette-transparent": _encode(photo.convert("P"), "PNG", transparency=3),
        "png-16-bit": _encode(Image.fromarray(rng.integers(0, 65536, (24, 32), dtype=np.uint16)), "PNG"),
        "apng": _encode(photo, "PNG", save_all=True, append_images=[other]),
        "gif": _encode(photo, "GIF", save_all=True, append_images=[other], transparency=0),
        "webp-lossy": _encode(photo, "WEBP"),
        "webp-lossless-animated": _encode(alpha, "WEBP", lossless=True, save_all=True, append_images=[alpha]),
        "bmp": _encode(photo, "BMP"),
        "tiff": _encode(photo, "TIFF"),
        "tiff-lzw": _encode(photo, "TIFF", compression="tiff_lzw"),
        "tiff-float": _encode(Image.fromarray(rng.random((24, 32), dtype=np.float32)), "TIFF"),
    }
    if "AVIF" in images._available_formats():
        seeds["avif"] = _encode(photo, "AVIF")
    return seeds


SEEDS = _build_seeds()
SEED_NAMES = sorted(SEEDS)
INTERESTING_BYTES = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]


@st.composite
def mutated_files(draw) -> bytes:
    """Draw a seed file and apply one to four random mutations to it."""
    data = bytearray(SEEDS[draw(st.sampled_from(SEED_NAMES))])
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "splice", "repeat"]))
        position = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[position] ^= draw(st.integers(1, 255))
        elif kind == "set":
            data[position] = draw(st.sampled_from(INTERESTING_BYTES))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 64))]
        elif kind == "splice":
            # Overwrite a range with bytes from another seed, often of another format.
            donor = SEEDS[draw(st.sampled_from(SEED_NAMES))]
            start = draw(st.integers(0, len(donor) - 1))
            chunk = donor[start : start + draw(st.integers(1, 256))]
            data[position : position + len(chunk)] = chunk
        else:
            # Repeat a range in place, as a duplicated chunk or marker would.
            data[position:position] = data[position : position + draw(st.integers(1, 128))]
    return bytes(data)


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "input.img"


def check_loader(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and check that load_photo returns RGB or raises ImageError."""
    path.write_bytes(data)
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    try:
        photo = load_photo(path, max_pixels=FUZZ_MAX_PIXELS)
    except ImageError as error:
        assert type(error) is ImageError
        assert error.reason
        assert error.fix
        return
    finally:
        faulthandler.cancel_dump_traceback_later()

    assert isinstance(photo, Image.Image)
    assert photo.mode == "RGB"
    width, height = photo.size
    assert width >= 1
    assert height >= 1
    assert width * height <= FUZZ_MAX_PIXELS
    photo.tobytes()  # every pixel is readable


@pytest.mark.parametrize("name", SEED_NAMES)
def test_seed_loads(tmp_path, name):
    path = tmp_path / "seed.img"
    path.write_bytes(SEEDS[name])

    photo = load_photo(path, max_pixels=FUZZ_MAX_PIXELS)

    assert photo.mode == "RGB"


@settings(max_examples=100, **COMMON_SETTINGS)
@given(data=st.binary(max_size=2048))
def test_random_bytes(fuzz_file, data):
    check_loader(fuzz_file, data)


@settings(max_examples=300, **COMMON_SETTINGS)
@given(data=mutated_files())
def test_mutated_seeds(fuzz_file, data):
    check_loader(fuzz_file, data)


@pytest.mark.slow
@settings(max_examples=2000, **COMMON_SETTINGS)
@given(data=st.binary(max_size=8192))
def test_random_bytes_many(fuzz_file, data):
    check_loader(fuzz_file, data)


@pytest.mark.slow
@settings(max_examples=5000, **COMMON_SETTINGS)
@given(data=mutated_files())
def test_mutated_seeds_many(fuzz_file, data):
    check_loader(fuzz_file, data)
