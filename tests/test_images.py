"""Tests of ccs_transfer.images on photos generated in each test's tmp_path."""

from __future__ import annotations

import io
import logging
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from ccs_transfer import images
from ccs_transfer.errors import ImageError
from ccs_transfer.images import (
    DEFAULT_BACKGROUND,
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    center_crop,
    iter_image_files,
    load_photo,
    resize_whole,
)
from ccs_transfer.settings import Settings

TRUNCATED = "the file is truncated. The image data ends before the picture is complete."
NOT_AN_IMAGE = "not an image. Pillow cannot identify the file's format."
EMPTY = "the file is empty (0 bytes)."
NOT_FOUND = "file not found."
FOLDER = "the path is a folder, not an image file."
PERMISSION = "permission denied. This user cannot read the file."
NOT_REGULAR = "the path is not a regular file but a device, FIFO or socket."
HEIF = "the file is a HEIC/HEIF photo, which Pillow cannot decode."
INVALID_DATA = "the image data is invalid and cannot be decoded ("
NO_MEMORY = "not enough memory to decode the image."

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def save(path: Path, image: Image.Image, format: str, **options) -> Path:
    image.save(path, format, **options)
    return path


def rejection(path, **options) -> ImageError:
    """Call load_photo, check that it raises exactly ImageError, and return the error."""
    with pytest.raises(ImageError) as caught:
        load_photo(path, **options)
    assert type(caught.value) is ImageError
    assert caught.value.fix
    return caught.value


def pixel(image: Image.Image, x: int, y: int) -> tuple[int, ...]:
    return tuple(image.getpixel((x, y)))


def assert_close(actual, expected, tolerance: int) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert abs(got - want) <= tolerance, f"{actual} is not within {tolerance} of {expected}"


def png_chunk(chunk_type: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(chunk_type + data)
    return struct.pack(">I", len(data)) + chunk_type + data + struct.pack(">I", crc)


def png_header_only(width: int, height: int) -> bytes:
    """Return a complete, tiny PNG file whose IHDR claims width x height RGB pixels.

    Its IDAT contains one compressed row only, so the file costs nothing to build. A
    loader that trusted the header would allocate width * height * 3 bytes.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = zlib.compress(b"\x00" + b"\x00" * 3)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", row)
        + png_chunk(b"IEND", b"")
    )


def marked_image(width: int, height: int) -> Image.Image:
    """Return a blue image with a red square in its top-left corner."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width // 4, height // 4))
    return image


# --- EXIF orientation -------------------------------------------------------

# Stored image: 40 wide, 20 high, red marker at the top-left. For each EXIF
# orientation: the displayed size and the corner where the marker must end up.
ORIENTATION_CASES = [
    (1, (40, 20), "top-left"),
    (2, (40, 20), "top-right"),
    (3, (40, 20), "bottom-right"),
    (4, (40, 20), "bottom-left"),
    (5, (20, 40), "top-left"),
    (6, (20, 40), "top-right"),
    (7, (20, 40), "bottom-right"),
    (8, (20, 40), "bottom-left"),
]


def corner_point(corner: str, size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    x = 1 if "left" in corner else width - 2
    y = 1 if "top" in corner else height - 2
    return x, y


@pytest.mark.parametrize(("orientation", "size", "corner"), ORIENTATION_CASES)
def test_exif_orientation_applied(tmp_path, orientation, size, corner):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save(tmp_path / "rotated.jpg", marked_image(40, 20), "JPEG", exif=exif, quality=95)

    photo = load_photo(path)

    assert photo.mode == "RGB"
    assert photo.size == size
    assert_close(pixel(photo, *corner_point(corner, size)), RED, 40)
    for other in {"top-left", "top-right", "bottom-left", "bottom-right"} - {corner}:
        assert_close(pixel(photo, *corner_point(other, size)), BLUE, 40)


def test_returned_photo_has_no_exif(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(tmp_path / "rotated.jpg", marked_image(40, 20), "JPEG", exif=exif)

    photo = load_photo(path)

    assert photo.info == {}
    assert photo.getexif().get(0x0112) is None


@pytest.mark.parametrize("exif", [b"Exif\x00\x00garbage", b"Exif\x00\x00II*\x00\xff\xff\xff\x7f"])
def test_malformed_exif_keeps_photo(tmp_path, exif):
    path = save(tmp_path / "odd-exif.jpg", marked_image(40, 20), "JPEG", exif=exif, quality=95)

    photo = load_photo(path)

    assert photo.size == (40, 20)
    assert_close(pixel(photo, 1, 1), RED, 40)


def test_out_of_range_orientation_ignored(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 9
    path = save(tmp_path / "odd.jpg", marked_image(40, 20), "JPEG", exif=exif, quality=95)

    assert load_photo(path).size == (40, 20)


# --- Colour modes -------------------------------------------------------------


def test_greyscale_l(tmp_path):
    path = save(tmp_path / "grey.png", Image.new("L", (4, 3), 77), "PNG")

    photo = load_photo(path)

    assert photo.mode == "RGB"
    assert photo.size == (4, 3)
    assert pixel(photo, 0, 0) == (77, 77, 77)


def test_bilevel_1(tmp_path):
    image = Image.new("1", (4, 4), 0)
    image.putpixel((3, 3), 1)
    path = save(tmp_path / "bilevel.png", image, "PNG")

    photo = load_photo(path)

    assert pixel(photo, 0, 0) == (0, 0, 0)
    assert pixel(photo, 3, 3) == (255, 255, 255)


def palette_image() -> Image.Image:
    """Return a 4 x 2 palette image: left half index 0, right half index 1."""
    image = Image.new("P", (4, 2), 0)
    palette = [0] * 768
    palette[0:3] = [10, 20, 30]
    palette[3:6] = [10, 200, 30]
    image.putpalette(palette)
    image.paste(1, (2, 0, 4, 2))
    return image


def test_palette_p(tmp_path):
    path = save(tmp_path / "palette.png", palette_image(), "PNG")

    photo = load_photo(path)

    assert pixel(photo, 0, 0) == (10, 20, 30)
    assert pixel(photo, 3, 1) == (10, 200, 30)


@pytest.mark.parametrize("format", ["PNG", "GIF"])
def test_palette_transparency_on_white(tmp_path, format):
    path = save(tmp_path / f"palette.{format.lower()}", palette_image(), format, transparency=0)

    photo = load_photo(path)

    assert pixel(photo, 0, 0) == (255, 255, 255)
    assert pixel(photo, 3, 1) == (10, 200, 30)


def test_palette_transparency_on_background(tmp_path):
    path = save(tmp_path / "palette.png", palette_image(), "PNG", transparency=0)

    photo = load_photo(path, background=(1, 2, 3))

    assert pixel(photo, 0, 0) == (1, 2, 3)
    assert pixel(photo, 3, 1) == (10, 200, 30)


def test_sixteen_bit_png_scaled(tmp_path):
    values = np.array([[0, 257, 1000, 32896, 65535]], dtype=np.uint16)
    source = Image.fromarray(values)
    assert source.mode == "I;16"
    path = save(tmp_path / "deep.png", source, "PNG")
    assert Image.open(path).mode == "I;16"

    photo = load_photo(path)

    grey = np.asarray(photo)[0, :, 0]
    # 1000 / 257 = 3.89. Image.convert("L") would clip 1000 and above to 255.
    assert grey.tolist() == [0, 1, 4, 128, 255]
    assert np.all(np.asarray(photo)[..., 0] == np.asarray(photo)[..., 2])


def test_thirty_two_bit_tiff_in_sixteen_bit_range(tmp_path):
    values = np.array([[0, 257, 65535]], dtype=np.int32)
    path = save(tmp_path / "deep.tif", Image.fromarray(values), "TIFF")
    assert Image.open(path).mode == "I"

    grey = np.asarray(load_photo(path))[0, :, 0]

    assert grey.tolist() == [0, 1, 255]


def test_thirty_two_bit_tiff_other_range_stretched(tmp_path):
    values = np.array([[-50, 0, 150]], dtype=np.int32)
    path = save(tmp_path / "signed.tif", Image.fromarray(values), "TIFF")

    grey = np.asarray(load_photo(path))[0, :, 0]

    # (0 - -50) * 255 / 200 = 63.75
    assert grey.tolist() == [0, 64, 255]


def test_float_tiff_unit_range(tmp_path):
    values = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    path = save(tmp_path / "float.tif", Image.fromarray(values), "TIFF")
    assert Image.open(path).mode == "F"

    grey = np.asarray(load_photo(path))[0, :, 0]

    assert grey.tolist() == [0, 128, 255]


def rgba_image() -> Image.Image:
    """Return a 3 x 1 red image whose alpha is 0, 255 and 128 from left to right."""
    image = Image.new("RGBA", (3, 1))
    image.putdata([(255, 0, 0, 0), (255, 0, 0, 255), (255, 0, 0, 128)])
    return image


def test_rgba_on_white(tmp_path):
    path = save(tmp_path / "alpha.png", rgba_image(), "PNG")

    photo = load_photo(path)

    assert photo.mode == "RGB"
    assert pixel(photo, 0, 0) == DEFAULT_BACKGROUND == (255, 255, 255)
    assert pixel(photo, 1, 0) == RED
    assert_close(pixel(photo, 2, 0), (255, 127, 127), 1)


def test_rgba_on_given_background(tmp_path):
    path = save(tmp_path / "alpha.png", rgba_image(), "PNG")

    photo = load_photo(path, background=(0, 0, 255))

    assert pixel(photo, 0, 0) == (0, 0, 255)
    assert pixel(photo, 1, 0) == RED
    assert_close(pixel(photo, 2, 0), (128, 0, 127), 1)


def test_la_on_background(tmp_path):
    image = Image.new("LA", (2, 1))
    image.putdata([(100, 0), (100, 255)])
    path = save(tmp_path / "grey-alpha.png", image, "PNG")

    photo = load_photo(path, background=(0, 50, 0))

    assert pixel(photo, 0, 0) == (0, 50, 0)
    assert pixel(photo, 1, 0) == (100, 100, 100)


def test_rgb_transparency_key(tmp_path):
    image = Image.new("RGB", (2, 1), (9, 9, 9))
    image.putpixel((1, 0), (200, 100, 50))
    path = save(tmp_path / "keyed.png", image, "PNG", transparency=(9, 9, 9))

    photo = load_photo(path, background=(0, 0, 0))

    assert pixel(photo, 0, 0) == (0, 0, 0)
    assert pixel(photo, 1, 0) == (200, 100, 50)


def test_premultiplied_la_tiff(tmp_path):
    image = Image.new("LA", (2, 1))
    image.putdata([(50, 128), (200, 255)])
    buffer = io.BytesIO()
    image.save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    # Pillow writes ExtraSamples (tag 338) = 2, unassociated alpha. The value 1 marks
    # the colour values as premultiplied, and Pillow opens such a file as mode "La".
    entry = data.find(struct.pack("<HHI", 338, 3, 1) + struct.pack("<H", 2))
    assert entry > 0
    data[entry + 8] = 1
    path = tmp_path / "premultiplied.tif"
    path.write_bytes(bytes(data))
    assert Image.open(path).mode == "La"

    photo = load_photo(path, background=(100, 0, 255))

    # 50 + background * (1 - 128 / 255)
    assert pixel(photo, 0, 0) == (100, 50, 177)
    assert pixel(photo, 1, 0) == (200, 200, 200)


def test_cmyk_jpeg(tmp_path):
    image = Image.new("CMYK", (16, 16), (0, 255, 255, 0))
    image.paste((0, 0, 0, 255), (8, 0, 16, 16))
    path = save(tmp_path / "print.jpg", image, "JPEG", quality=95)
    assert Image.open(path).mode == "CMYK"

    photo = load_photo(path)

    assert photo.mode == "RGB"
    assert_close(pixel(photo, 2, 8), RED, 8)
    assert_close(pixel(photo, 13, 8), (0, 0, 0), 8)


def test_lab_tiff(tmp_path):
    path = save(tmp_path / "lab.tif", Image.new("LAB", (2, 2), (255, 128, 128)), "TIFF")
    assert Image.open(path).mode == "LAB"

    assert_close(pixel(load_photo(path), 0, 0), (255, 255, 255), 2)


def two_frames() -> list[Image.Image]:
    return [Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), (0, 255, 0))]


@pytest.mark.parametrize(
    ("format", "suffix", "options"),
    [
        ("GIF", "gif", {}),
        ("PNG", "png", {}),
        ("WEBP", "webp", {"lossless": True}),
        ("TIFF", "tif", {}),
        ("MPO", "jpg", {"quality": 95}),
    ],
)
def test_animated_first_frame(tmp_path, format, suffix, options):
    first, *rest = two_frames()
    path = save(tmp_path / f"animated.{suffix}", first, format, save_all=True, append_images=rest, **options)
    assert Image.open(path).n_frames == 2

    photo = load_photo(path)

    assert photo.mode == "RGB"
    assert_close(pixel(photo, 4, 4), RED, 4)


@pytest.mark.parametrize(
    ("format", "suffix", "tolerance"),
    [("JPEG", "jpg", 4), ("PNG", "png", 0), ("BMP", "bmp", 0), ("TIFF", "tiff", 0), ("WEBP", "webp", 8), ("AVIF", "avif", 8)],
)
def test_each_decoded_format(tmp_path, format, suffix, tolerance):
    if format not in images._available_formats():
        pytest.skip(f"this Pillow build has no {format} plugin")
    path = save(tmp_path / f"flat.{suffix}", Image.new("RGB", (16, 16), (200, 120, 40)), format)

    photo = load_photo(path)

    assert photo.size == (16, 16)
    assert_close(pixel(photo, 8, 8), (200, 120, 40), tolerance)


def test_suffix_does_not_matter(tmp_path):
    path = save(tmp_path / "really-a-png.jpg", Image.new("RGB", (2, 2), BLUE), "PNG")

    assert pixel(load_photo(path), 0, 0) == BLUE


# --- Rejected files: the file system ------------------------------------------


def test_missing_file(tmp_path):
    error = rejection(tmp_path / "missing.jpg")

    assert error.reason == NOT_FOUND
    assert error.path == str(tmp_path / "missing.jpg")
    assert str(error).startswith(f"{tmp_path / 'missing.jpg'}: {NOT_FOUND}")


def test_parent_is_a_file(tmp_path):
    parent = tmp_path / "photo.jpg"
    parent.write_bytes(b"x")

    error = rejection(parent / "child.jpg")

    assert error.reason == "file not found. A part of the path before the file name is not a folder."


def test_folder(tmp_path):
    assert rejection(tmp_path).reason == FOLDER


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")

    assert rejection(path).reason == EMPTY


@pytest.mark.skipif(sys.platform == "win32", reason="chmod 000 does not block reading on Windows")
def test_unreadable_file(tmp_path):
    if os.geteuid() == 0:
        # root bypasses file permission checks, so the file stays readable.
        pytest.skip("running as root, where chmod 000 does not stop reading")
    path = save(tmp_path / "locked.png", Image.new("RGB", (2, 2)), "PNG")
    path.chmod(0)
    try:
        assert rejection(path).reason == PERMISSION
    finally:
        path.chmod(0o644)


def test_permission_error_message(tmp_path, monkeypatch):
    """Check the permission message where chmod cannot, for example when running as root."""
    path = save(tmp_path / "locked.png", Image.new("RGB", (2, 2)), "PNG")

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images.os, "open", deny)

    assert rejection(path).reason == PERMISSION


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlink_to_itself(tmp_path):
    path = tmp_path / "loop.jpg"
    path.symlink_to(path)

    assert rejection(path).reason.startswith("the file cannot be opened (")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_fifo_does_not_block(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)

    assert rejection(fifo).reason == NOT_REGULAR


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_device_file():
    assert rejection("/dev/zero").reason == NOT_REGULAR


# --- Rejected files: contents -----------------------------------------------


def test_text_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("These are not the pixels you are looking for.\n")

    assert rejection(path).reason == NOT_AN_IMAGE


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(bytes(range(7, 250)) * 3)

    assert rejection(path).reason == NOT_AN_IMAGE


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("keep", [0.5, 0.9, -2])
def test_truncated_jpeg(tmp_path, keep):
    data = jpeg_bytes()
    end = len(data) + keep if keep < 0 else int(len(data) * keep)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[:end])

    assert rejection(path).reason == TRUNCATED


@pytest.mark.parametrize("cut", ["half", "last byte", "IEND chunk", "IEND and IDAT CRC"])
def test_truncated_png(tmp_path, cut):
    data = png_bytes()
    end = {"half": len(data) // 2, "last byte": -1, "IEND chunk": -12, "IEND and IDAT CRC": -13}[cut]
    path = tmp_path / "cut.png"
    path.write_bytes(data[:end])

    assert rejection(path).reason == TRUNCATED


def test_png_with_trailing_bytes_accepted(tmp_path):
    path = tmp_path / "trailing.png"
    path.write_bytes(png_bytes() + b"appended by some tool")

    assert load_photo(path).size == (48, 48)


def test_truncated_webp(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), RED).save(buffer, "WEBP")
    path = tmp_path / "cut.webp"
    path.write_bytes(buffer.getvalue()[:-5])

    assert rejection(path).reason == TRUNCATED


@pytest.mark.parametrize(
    ("start", "format"),
    [
        (b"\xff\xd8\xff\xe0", "JPEG"),
        (b"GIF89a", "GIF"),
        (b"II*\x00\xff\xff\xff\x7f", "TIFF"),
        (b"RIFF\x10\x00\x00\x00WEBPJUNK", "WebP"),
    ],
)
def test_damaged_header(tmp_path, start, format):
    path = tmp_path / "damaged"
    path.write_bytes(start + b"\x00\x01" * 4)

    error = rejection(path)

    assert error.reason == f"the file starts with the {format} signature, but its header is invalid or cut short."


def test_heic_photo(tmp_path):
    path = tmp_path / "phone.heic"
    path.write_bytes(struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00mif1heic" + bytes(64))

    assert rejection(path).reason == HEIF


def test_other_pillow_format(tmp_path):
    path = save(tmp_path / "renamed.jpg", Image.new("RGB", (4, 4)), "TGA")

    error = rejection(path)

    assert error.reason == "the file is in the TGA format, which this loader does not decode."


def test_corrupt_png_data(tmp_path):
    data = bytearray(png_bytes())
    # Overwrite the zlib stream inside the first IDAT chunk, keeping the file's length.
    start = data.find(b"IDAT") + 4
    data[start : start + 40] = b"\xff" * 40
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))

    error = rejection(path)

    assert error.reason.startswith(INVALID_DATA)


def test_unconvertible_mode(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_CONVERTIBLE_MODES", images._CONVERTIBLE_MODES - {"L"})
    path = save(tmp_path / "grey.png", Image.new("L", (2, 2)), "PNG")

    assert rejection(path).reason == "the colour mode L cannot be converted to RGB."


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ValueError("broken"), INVALID_DATA),
        (OSError("decoder error -2"), INVALID_DATA),
        (SyntaxError("broken PNG file"), INVALID_DATA),
        (struct.error("unpack requires a buffer"), INVALID_DATA),
        (IndexError("list index out of range"), INVALID_DATA),
        (ZeroDivisionError("division by zero"), INVALID_DATA),
        (TypeError("bad operand"), INVALID_DATA),
        (KeyError("missing"), INVALID_DATA),
        (RecursionError("too deep"), INVALID_DATA),
        (EOFError(), TRUNCATED),
        (OSError("image file is truncated"), TRUNCATED),
        (MemoryError(), NO_MEMORY),
    ],
)
def test_decoder_exceptions_become_image_error(tmp_path, monkeypatch, raised, expected):
    path = save(tmp_path / "fine.png", Image.new("RGB", (4, 4)), "PNG")

    def fail(self):
        raise raised

    monkeypatch.setattr(ImageFile.ImageFile, "load", fail)

    assert rejection(path).reason.startswith(expected)


def test_long_decoder_message_shortened(tmp_path, monkeypatch):
    path = save(tmp_path / "fine.png", Image.new("RGB", (4, 4)), "PNG")

    def fail(self):
        raise ValueError("x" * 5000)

    monkeypatch.setattr(ImageFile.ImageFile, "load", fail)

    assert len(rejection(path).reason) < 300


# --- Pixel limit ----------------------------------------------------------------


def test_default_limit_is_settings_default():
    assert DEFAULT_MAX_PIXELS == Settings().max_image_pixels == 40_000_000


def test_header_bomb_rejected(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(30000, 30000))
    assert path.stat().st_size < 100

    error = rejection(path)

    assert "900,000,000 pixels" in error.reason
    assert "limit of 40,000,000 pixels" in error.reason
    assert "EDITION_MAX_IMAGE_PIXELS" in error.reason
    assert "EDITION_MAX_IMAGE_PIXELS" in error.fix


def test_header_above_own_limit_names_size(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(png_header_only(7000, 7000))

    error = rejection(path)

    assert error.reason == (
        "the image is 7000 x 7000 = 49,000,000 pixels, more than the limit of "
        "40,000,000 pixels (EDITION_MAX_IMAGE_PIXELS)."
    )


def test_max_pixels_bound_is_inclusive(tmp_path):
    path = save(tmp_path / "ten.png", Image.new("RGB", (10, 10)), "PNG")

    assert load_photo(path, max_pixels=100).size == (10, 10)
    assert "10 x 10 = 100 pixels" in rejection(path, max_pixels=99).reason


def test_limit_checked_before_decoding(tmp_path, monkeypatch):
    path = save(tmp_path / "twenty.png", Image.new("RGB", (20, 20)), "PNG")

    def must_not_decode(self):
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)

    assert "20 x 20 = 400 pixels" in rejection(path, max_pixels=100).reason


@pytest.mark.parametrize(("side", "pillow_raises"), [(8, "DecompressionBombWarning"), (12, "DecompressionBombError")])
def test_pillow_bomb_check_becomes_image_error(tmp_path, monkeypatch, side, pillow_raises):
    # Pillow warns above MAX_IMAGE_PIXELS (50 here) and raises above twice that.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)
    path = save(tmp_path / "small.png", Image.new("RGB", (side, side)), "PNG")

    error = rejection(path, max_pixels=1000)

    assert f"{side * side:,} pixels" in error.reason
    assert "limit of 50 pixels (EDITION_MAX_IMAGE_PIXELS)" in error.reason
    assert "PIL.Image.MAX_IMAGE_PIXELS" in error.fix


@pytest.mark.parametrize("max_pixels", [0, -1, 2.5, True, "100"])
def test_invalid_max_pixels(tmp_path, max_pixels):
    with pytest.raises(ValueError, match="max_pixels"):
        load_photo(tmp_path / "unused.png", max_pixels=max_pixels)


@pytest.mark.parametrize("background", [(0, 0), (0, 0, 256), (0, 0, -1), (0.5, 0, 0), 255, "white"])
def test_invalid_background(tmp_path, background):
    with pytest.raises(ValueError, match="background"):
        load_photo(tmp_path / "unused.png", background=background)


def test_reasons_are_distinct():
    fixed = [TRUNCATED, NOT_AN_IMAGE, EMPTY, NOT_FOUND, FOLDER, PERMISSION, NOT_REGULAR, HEIF, NO_MEMORY]
    assert len(set(fixed)) == len(fixed)


# --- resize_whole and center_crop ------------------------------------------------


def random_rgb(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize("function", [resize_whole, center_crop])
@pytest.mark.parametrize(("width", "height"), [(37, 23), (23, 37), (300, 200), (1, 1)])
def test_output_shape_and_range(function, width, height):
    array = function(random_rgb(width, height), 224)

    assert array.shape == (224, 224, 3)
    assert array.dtype == np.float32
    assert array.min() >= 0.0
    assert array.max() <= 1.0


def test_resize_whole_same_size_exact():
    image = random_rgb(5, 5)

    array = resize_whole(image, 5)

    np.testing.assert_array_equal(array, np.asarray(image, dtype=np.float32) / np.float32(255))


def test_resize_whole_averages_to_one_pixel():
    values = np.zeros((2, 2, 3), dtype=np.uint8)
    values[..., 0] = [[0, 100], [200, 100]]
    values[..., 1] = [[10, 20], [30, 40]]

    array = resize_whole(Image.fromarray(values), 1)

    # Pillow's BILINEAR filter spans all four pixels when it shrinks 2 x 2 to 1 x 1.
    np.testing.assert_allclose(array[0, 0], np.array([100, 25, 0]) / 255, rtol=0, atol=1e-7)


def test_resize_whole_ignores_aspect_ratio():
    image = Image.new("RGB", (40, 10), RED)
    image.paste(BLUE, (20, 0, 40, 10))

    array = resize_whole(image, 4)

    np.testing.assert_array_equal(array[:, 0], np.tile([1.0, 0.0, 0.0], (4, 1)))
    np.testing.assert_array_equal(array[:, 3], np.tile([0.0, 0.0, 1.0], (4, 1)))


def test_center_crop_landscape_exact():
    values = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)

    # size 2 / fraction 0.5 = shorter side 4, the image's own height, so nothing is resampled.
    array = center_crop(Image.fromarray(values), 2, crop_fraction=0.5)

    np.testing.assert_array_equal(array, values[1:3, 2:4].astype(np.float32) / np.float32(255))


def test_center_crop_portrait_exact():
    values = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(6, 4, 3)

    array = center_crop(Image.fromarray(values), 2, crop_fraction=0.5)

    np.testing.assert_array_equal(array, values[2:4, 1:3].astype(np.float32) / np.float32(255))


def test_center_crop_matches_reference_steps():
    image = random_rgb(300, 200, seed=3)

    array = center_crop(image, 224)

    # Shorter side 224 / 0.875 = 256, so 300 x 200 becomes 384 x 256. The crop
    # starts (384 - 224) / 2 = 80 from the left and (256 - 224) / 2 = 16 from the top.
    expected = image.resize((384, 256), Image.BICUBIC).crop((80, 16, 304, 240))
    np.testing.assert_array_equal(array, np.asarray(expected, dtype=np.float32) / np.float32(255))


def test_center_crop_uniform_stays_uniform():
    array = center_crop(Image.new("RGB", (50, 30), (37, 99, 201)), 8)

    np.testing.assert_array_equal(array, np.broadcast_to(np.array([37, 99, 201], np.float32) / 255, (8, 8, 3)))


@pytest.mark.parametrize("crop_fraction", [0, -0.5, 1.01, float("nan"), True, "0.875"])
def test_center_crop_invalid_fraction(crop_fraction):
    with pytest.raises(ValueError, match="crop_fraction"):
        center_crop(random_rgb(8, 8), 4, crop_fraction=crop_fraction)


def test_center_crop_fraction_one():
    values = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)

    array = center_crop(Image.fromarray(values), 3, crop_fraction=1.0)

    np.testing.assert_array_equal(array, values[:, 1:4].astype(np.float32) / np.float32(255))


@pytest.mark.parametrize("function", [resize_whole, center_crop])
def test_non_rgb_input_rejected(function):
    with pytest.raises(ValueError, match="RGB"):
        function(Image.new("RGBA", (4, 4)), 2)


@pytest.mark.parametrize("function", [resize_whole, center_crop])
@pytest.mark.parametrize("size", [0, -3, 2.0, True])
def test_invalid_size_rejected(function, size):
    with pytest.raises(ValueError, match="size"):
        function(random_rgb(4, 4), size)


# --- iter_image_files -------------------------------------------------------------


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_suffixes_lower_case():
    assert all(suffix == suffix.lower() and suffix.startswith(".") for suffix in IMAGE_SUFFIXES)
    assert {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"} <= IMAGE_SUFFIXES


def test_walk_sorted_recursive_filtered(tmp_path):
    root = tmp_path / "photos"
    for name in [
        "b.JPG",
        "a.png",
        "Z.gif",
        "notes.txt",
        ".hidden.jpg",
        ".cache/x.jpg",
        "sub/c.jpeg",
        "sub/deeper/d.webp",
        "sub/readme",
    ]:
        touch(root / name)

    found = list(iter_image_files([root]))

    assert found == [
        root / "Z.gif",
        root / "a.png",
        root / "b.JPG",
        root / "sub" / "c.jpeg",
        root / "sub" / "deeper" / "d.webp",
    ]


def test_named_paths_always_yielded(tmp_path):
    notes = touch(tmp_path / "notes.txt")
    hidden = touch(tmp_path / ".hidden.jpg")
    missing = tmp_path / "missing.jpg"

    assert list(iter_image_files([notes, str(missing), hidden])) == [notes, missing, hidden]


def test_single_path_argument(tmp_path):
    photo = touch(tmp_path / "a.jpg")

    assert list(iter_image_files(str(tmp_path))) == [photo]
    assert list(iter_image_files(photo)) == [photo]


def test_named_hidden_folder_walked(tmp_path):
    photo = touch(tmp_path / ".photos" / "a.jpg")

    assert list(iter_image_files([tmp_path / ".photos"])) == [photo]


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlink_loop_ends(tmp_path):
    root = tmp_path / "photos"
    photo = touch(root / "sub" / "a.jpg")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "again").symlink_to(root / "sub", target_is_directory=True)

    found = list(iter_image_files([root, root / "sub"]))

    # "again" and the second named path are the folder already walked as "sub".
    assert found == [root / "again" / "a.jpg"]
    assert photo.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlinked_folder_followed(tmp_path):
    elsewhere = touch(tmp_path / "elsewhere" / "e.png")
    root = tmp_path / "photos"
    root.mkdir()
    (root / "linked").symlink_to(elsewhere.parent, target_is_directory=True)

    assert list(iter_image_files([root])) == [root / "linked" / "e.png"]


def test_unlistable_folder_skipped_with_warning(tmp_path, monkeypatch, caplog):
    root = tmp_path / "photos"
    first = touch(root / "a.jpg")
    touch(root / "locked" / "b.jpg")
    last = touch(root / "z.jpg")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(images.os, "scandir", scandir)

    with caplog.at_level(logging.WARNING, logger="ccs_transfer.images"):
        found = list(iter_image_files([root]))

    assert found == [first, last]
    assert "locked" in caplog.text
    assert "Permission denied" in caplog.text
