"""Photo loading and preprocessing shared by the book and ``ccs-transfer classify``.

:func:`load_photo` turns a file into an upright RGB :class:`PIL.Image.Image`, or
raises :class:`~ccs_transfer.errors.ImageError` with a reason and a fix. It never
raises another exception type for a bad file. :func:`resize_whole` and
:func:`center_crop` turn that image into the float32 arrays a model takes.
:func:`iter_image_files` expands the paths a reader names into image files.

Only the formats photos come in are decoded: JPEG (including camera MPO files),
PNG and APNG, GIF, WebP, BMP, TIFF and AVIF. Other formats that Pillow could open,
such as EPS, whose loader runs Ghostscript, are rejected with a message naming the
format.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import stat
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import ExifTags, Image, ImageCms

from .errors import ImageError
from .settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_BACKGROUND: tuple[int, int, int] = (255, 255, 255)
DEFAULT_MAX_PIXELS: int = Settings.max_image_pixels

# Pillow format ids that load_photo decodes. Pillow's JPEG plugin also opens MPO files.
# Limitation: libtiff prints its own warnings about damaged TIFF files to stderr, and load_photo does not suppress them.
DECODED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF")

# Suffixes that iter_image_files picks up in folders, compared in lower case.
# HEIC and HEIF are listed although Pillow cannot decode them, so that a folder of
# phone photos gets one clear rejection per file instead of being skipped silently.
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".mpo",
        ".png", ".apng",
        ".gif",
        ".webp",
        ".bmp",
        ".tif", ".tiff",
        ".avif",
        ".heic", ".heif",
    }
)

_DECODED_FORMAT_NAMES = "JPEG, PNG, GIF, WebP, BMP, TIFF or AVIF"

# First bytes of the decoded formats, used to tell a damaged header from a file that
# is not an image at all. BMP is left out because its two-byte signature "BM" also
# starts ordinary text.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"II+\x00", "TIFF"),  # BigTIFF
    (0, b"MM\x00+", "TIFF"),
    (4, b"ftypavif", "AVIF"),
    (4, b"ftypavis", "AVIF"),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}

# EXIF orientation value (tag 0x0112) -> the transpose that makes the picture upright.
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
_ALPHA_MODES = {"RGBA", "LA", "PA"}
# Modes whose colour values are already multiplied by alpha (TIFF "associated alpha").
_PREMULTIPLIED_MODES = {"La", "RGBa"}
# Modes that Image.convert turns into RGB (or RGBA) correctly.
_CONVERTIBLE_MODES = {"1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "HSV"} | _ALPHA_MODES

_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")
_MAX_DETAIL_CHARS = 200


# --- Opening the file -------------------------------------------------------


@contextmanager
def _open_regular_file(path: Path) -> Iterator[BinaryIO]:
    """Open ``path`` for reading, or raise ImageError unless it is a non-empty regular file.

    The file is opened before it is inspected, with O_NONBLOCK, so that a FIFO put at the
    path cannot block the call and fstat describes the file that is actually read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise ImageError(path, "file not found.", "check the path and its spelling.") from None
    except NotADirectoryError:
        raise ImageError(
            path,
            "file not found. A part of the path before the file name is not a folder.",
            "check the path and its spelling.",
        ) from None
    except IsADirectoryError:
        raise _folder_error(path) from None
    except PermissionError:
        # Windows reports a folder opened as a file as permission denied.
        if os.path.isdir(path):
            raise _folder_error(path) from None
        raise _permission_error(path) from None
    except OSError as error:
        raise ImageError(
            path,
            f"the file cannot be opened ({error.strerror or error}).",
            "check that the path names a readable image file.",
        ) from None

    try:
        _check_file_status(path, os.fstat(descriptor))
        # fdopen takes ownership of the descriptor only once it returns.
        stream = os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
    with stream:
        yield stream


def _check_file_status(path: Path, status: os.stat_result) -> None:
    if stat.S_ISDIR(status.st_mode):
        raise _folder_error(path)
    if not stat.S_ISREG(status.st_mode):
        raise ImageError(
            path,
            "the path is not a regular file but a device, FIFO or socket.",
            "copy the photo into a regular file and pass that file.",
        )
    if status.st_size == 0:
        raise ImageError(
            path,
            "the file is empty (0 bytes).",
            "copy or download the photo again.",
        )


def _folder_error(path: Path) -> ImageError:
    return ImageError(
        path,
        "the path is a folder, not an image file.",
        "name the image files, or give the folder to a command that walks folders.",
    )


def _permission_error(path: Path) -> ImageError:
    return ImageError(
        path,
        "permission denied. This user cannot read the file.",
        "make the file readable, for example with `chmod u+r`.",
    )


# --- Identifying the image --------------------------------------------------


@functools.cache
def _available_formats() -> tuple[str, ...]:
    # A Pillow build without libwebp or libavif lacks those plugins, and Image.open
    # raises KeyError for a format id it does not know.
    Image.init()
    return tuple(name for name in DECODED_FORMATS if name in Image.OPEN)


def _open_image(path: Path, stream: BinaryIO, limit: int, pillow_capped: bool) -> Image.Image:
    """Check the file's end and header, and return the opened image with no pixels decoded."""
    head = stream.read(16)
    _check_complete(path, stream, head)
    try:
        image = Image.open(stream, formats=_available_formats())
    except Image.UnidentifiedImageError:
        raise _unidentified_error(path, stream, head) from None
    except Exception as error:  # noqa: BLE001  Pillow plugins raise many types on bad headers.
        raise _decode_error(path, error, limit, pillow_capped) from None

    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError(
            path,
            f"the image header gives an empty size of {width} x {height} pixels.",
            "open the photo in an image viewer to check it, then export or download it again.",
        )
    if width * height > limit:
        raise _too_large_error(path, limit, pillow_capped, width * height, (width, height))
    return image


def _unidentified_error(path: Path, stream: BinaryIO, head: bytes) -> ImageError:
    """Build the error for a file that none of the decoded formats' plugins accepts."""

    for offset, signature, format_name in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return ImageError(
                path,
                f"the file starts with the {format_name} signature, but its header is invalid or cut short.",
                "open the photo in an image viewer to check it, then copy or download it again.",
            )
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ImageError(
            path,
            "the file starts with the WebP signature, but its header is invalid or cut short.",
            "open the photo in an image viewer to check it, then copy or download it again.",
        )
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return ImageError(
            path,
            "the file is a HEIC/HEIF photo, which Pillow cannot decode.",
            "export or convert the photo to JPEG (phones and photo apps can do this).",
        )

    other_format = _identify_any_format(stream)
    if other_format is not None:
        return ImageError(
            path,
            f"the file is in the {other_format} format, which this loader does not decode.",
            f"convert it to one of {_DECODED_FORMAT_NAMES}.",
        )
    return ImageError(
        path,
        "not an image. Pillow cannot identify the file's format.",
        f"check that the file is a {_DECODED_FORMAT_NAMES} image. Renaming a file does not "
        "change its format, whatever the extension says.",
    )


def _identify_any_format(stream: BinaryIO) -> str | None:
    """Return the format id of any Pillow plugin that reads the header, or None.

    Only headers are parsed here, so plugins whose decoders are not trusted (such as
    EPS with Ghostscript) never decode data.
    """
    stream.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probe = Image.open(stream)
    except Exception:  # noqa: BLE001  Any failure means "not identified"; the caller reports that.
        return None
    return probe.format


# --- Completeness checks that Pillow's decoders skip ------------------------


def _check_complete(path: Path, stream: BinaryIO, head: bytes) -> None:
    """Raise ImageError if a file with a PNG or WebP signature ends before its last byte.

    Pillow decodes a PNG whose final chunks are cut off without complaint, and reports
    a cut WebP file only as a failed decoder. Both formats state where they end.
    """
    # Limitation: only the first frame is decoded and only PNG and WebP ends are checked, so a GIF missing just its trailer byte, or damaged after its first frame, is accepted.
    size = os.fstat(stream.fileno()).st_size
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        complete = _png_reaches_end(stream, size)
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        declared = int.from_bytes(head[4:8], "little")
        complete = size >= 8 + declared
    else:
        complete = True
    stream.seek(0)
    if not complete:
        raise _truncated_error(path)


def _png_reaches_end(stream: BinaryIO, size: int) -> bool:
    """Walk the chunk headers of a PNG and return False if the file ends before a complete IEND chunk.

    A chunk type that is not four ASCII letters means the chunk list itself is damaged.
    The walk then returns True and leaves the report to Pillow's parser, which gives a
    more specific message than "truncated".
    """
    offset = 8  # after the PNG signature
    while offset + 12 <= size:
        stream.seek(offset)
        header = stream.read(8)
        chunk_type = header[4:8]
        if not (chunk_type.isascii() and chunk_type.isalpha()):
            return True
        if chunk_type == b"IEND":
            return True
        # Each chunk is length (4 bytes), type (4), data (length) and CRC (4).
        offset += 12 + int.from_bytes(header[:4], "big")
    return False


# --- Decoding and conversion to RGB -----------------------------------------


def _decode_to_rgb(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Decode the first frame and return it as an upright RGB image without metadata."""
    image.load()
    orientation = _read_orientation(image)
    rgb = _convert_to_rgb(image, background)
    transpose = _ORIENTATION_TRANSPOSE.get(orientation)
    if transpose is not None:
        rgb = rgb.transpose(transpose)
    # The copied EXIF block still gives the stored orientation. Dropping the metadata
    # stops a later exif_transpose from turning the picture a second time.
    rgb.info.clear()
    return rgb


def _read_orientation(image: Image.Image) -> int:
    """Return the EXIF orientation (1 to 8), or 1 when it is missing or unreadable."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # noqa: BLE001  Malformed EXIF must not reject pixels that decoded.
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _convert_to_rgb(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES or mode in {"I", "F"}:
        return _scale_to_grey(image).convert("RGB")
    if mode == "LAB":
        # Image.convert copies LAB channels into RGB unchanged, so LittleCMS converts here.
        transform = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        return ImageCms.applyTransform(image, transform)
    if mode in _PREMULTIPLIED_MODES:
        return _flatten_premultiplied(image, background)
    if mode not in _CONVERTIBLE_MODES:
        raise _UnsupportedModeError(mode)

    if mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flattened = Image.new("RGB", rgba.size, background)
        flattened.paste(rgba, mask=rgba.getchannel("A"))
        return flattened
    # Limitation: embedded ICC profiles are ignored. CMYK uses Pillow's plain formula, and Adobe RGB or Display P3 values are read as sRGB.
    return image.convert("RGB")


def _flatten_premultiplied(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Composite a premultiplied "La" or "RGBa" image onto ``background`` as RGB.

    With premultiplied colour c and alpha a in [0, 1], the result is c + background * (1 - a).
    Image.convert cannot convert "La" at all, so both modes are composited here.
    """
    values = np.asarray(image).astype(np.float64)
    colour = values[..., :-1]
    alpha = values[..., -1:] / 255.0
    if colour.shape[-1] == 1:
        colour = np.repeat(colour, 3, axis=-1)
    flattened = colour + np.asarray(background, dtype=np.float64) * (1.0 - alpha)
    return Image.fromarray(np.clip(np.rint(flattened), 0, 255).astype(np.uint8))


def _scale_to_grey(image: Image.Image) -> Image.Image:
    """Scale a 16-bit, 32-bit integer or float greyscale image to 8-bit "L".

    16-bit data is divided by 257, so 65535 becomes 255. Image.convert("L") would clip
    every value above 255 to white instead.
    """
    values = np.asarray(image)
    if image.mode in _SIXTEEN_BIT_MODES:
        scaled = values.astype(np.float64) / 257.0
    else:
        # Limitation: "I" and "F" images state no white point. Values in [0, 65535] ("I") or [0, 1] ("F") are read as 16-bit or unit data, and other ranges are stretched from min to max.
        values = values.astype(np.float64)
        finite = values[np.isfinite(values)]
        low = float(finite.min()) if finite.size else 0.0
        high = float(finite.max()) if finite.size else 0.0
        if image.mode == "I" and low >= 0 and high <= 65535:
            scaled = values / 257.0
        elif image.mode == "F" and low >= 0 and high <= 1:
            scaled = values * 255.0
        elif high > low and math.isfinite(high - low):
            scaled = (values - low) * (255.0 / (high - low))
        else:
            scaled = np.zeros_like(values)
    # NaN becomes 0, and infinities become the largest floats, which the clip maps to 0 and 255.
    grey = np.clip(np.rint(np.nan_to_num(scaled)), 0, 255).astype(np.uint8)
    return Image.fromarray(grey)


class _UnsupportedModeError(Exception):
    def __init__(self, mode: str):
        super().__init__(mode)
        self.mode = mode


# --- Turning failures into ImageError ---------------------------------------


def _decode_error(path: Path, error: BaseException, limit: int, pillow_capped: bool) -> ImageError:
    """Translate an exception raised by Pillow while reading ``path`` into an ImageError."""
    if isinstance(error, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        match = _BOMB_PIXELS.search(str(error))
        pixels = int(match.group(1)) if match else None
        return _too_large_error(path, limit, pillow_capped, pixels, None)
    if isinstance(error, _UnsupportedModeError):
        return ImageError(
            path,
            f"the colour mode {error.mode} cannot be converted to RGB.",
            "convert the image to RGB in an image editor and save it as JPEG or PNG.",
        )
    if isinstance(error, MemoryError):
        return ImageError(
            path,
            "not enough memory to decode the image.",
            "scale the photo down, or close other programs and try again.",
        )
    if isinstance(error, EOFError) or "truncated" in str(error).lower():
        return _truncated_error(path)

    detail = f"{type(error).__name__}: {error}"
    if len(detail) > _MAX_DETAIL_CHARS:
        detail = detail[: _MAX_DETAIL_CHARS - 3] + "..."
    return ImageError(
        path,
        f"the image data is invalid and cannot be decoded ({detail}).",
        "open the photo in an image viewer to check it, then copy, export or download it again.",
    )


def _truncated_error(path: Path) -> ImageError:
    return ImageError(
        path,
        "the file is truncated. The image data ends before the picture is complete.",
        "copy or download the photo again, because an interrupted transfer can cut a file short.",
    )


def _too_large_error(
    path: Path, limit: int, pillow_capped: bool, pixels: int | None, size: tuple[int, int] | None
) -> ImageError:
    if size is not None:
        dimensions = f"{size[0]} x {size[1]} = {pixels:,} pixels"
    elif pixels is not None:
        dimensions = f"{pixels:,} pixels"
    else:
        dimensions = "of unknown size"
    fix = (
        "scale the photo down, or raise EDITION_MAX_IMAGE_PIXELS if you trust the file. "
        "The limit protects against decompression bombs."
    )
    if pillow_capped:
        fix += f" In this process Pillow's PIL.Image.MAX_IMAGE_PIXELS ({limit:,}) caps the limit."
    return ImageError(
        path,
        f"the image is {dimensions}, more than the limit of {limit:,} pixels (EDITION_MAX_IMAGE_PIXELS).",
        fix,
    )


# --- Public API ---------------------------------------------------------------


def load_photo(
    path: Path | str,
    *,
    max_pixels: int | None = None,
    background: tuple[int, int, int] = DEFAULT_BACKGROUND,
) -> Image.Image:
    """Read a photo and return its first frame as an upright RGB image.

    The EXIF orientation is applied. Greyscale, palette, 16-bit and CMYK images are
    converted to RGB, and transparent pixels are composited onto ``background``.
    Images of more than ``max_pixels`` pixels (default :data:`DEFAULT_MAX_PIXELS`, or
    Pillow's ``MAX_IMAGE_PIXELS`` if that is lower) are rejected from their header,
    before any pixel data is decoded.

    Raises:
        ImageError: for every file that cannot be returned as a complete RGB image.
            Its ``reason`` states the cause and its ``fix`` the next step.
        ValueError: if ``max_pixels`` or ``background`` is invalid.
    """
    limit, pillow_capped = _pixel_limit(max_pixels)
    background = _validate_background(background)
    path = Path(path)

    # Limitation: decoding has no time limit. The pixel limit bounds most formats, but a progressive JPEG with very many scans can still decode slowly.
    # Limitation: warnings.catch_warnings changes process-wide filters, so warnings from other threads may be hidden while a photo loads.
    with _open_regular_file(path) as stream, warnings.catch_warnings():
        # Pillow warns about damaged metadata (EXIF, palettes) that does not stop decoding.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)

        image = _open_image(path, stream, limit, pillow_capped)
        try:
            # Pillow's ImageFile.LOAD_TRUNCATED_IMAGES must stay False (its default), or
            # the decoders return a cut-off image without raising.
            return _decode_to_rgb(image, background)
        except ImageError:
            raise
        # Pillow's decoders raise ValueError, OSError, SyntaxError, struct.error,
        # EOFError, IndexError, ZeroDivisionError, MemoryError and more on bad data.
        except Exception as error:  # noqa: BLE001
            raise _decode_error(path, error, limit, pillow_capped) from None


def _pixel_limit(max_pixels: int | None) -> tuple[int, bool]:
    """Return the effective pixel limit and whether Pillow's own limit lowered it."""
    if max_pixels is None:
        max_pixels = DEFAULT_MAX_PIXELS
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a whole number of at least 1, not {max_pixels!r}.")

    # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that. load_photo
    # rejects both, so a max_pixels above MAX_IMAGE_PIXELS cannot take effect.
    pillow_limit = Image.MAX_IMAGE_PIXELS
    if pillow_limit is not None and pillow_limit < max_pixels:
        return int(pillow_limit), True
    return max_pixels, False


def _validate_background(background: Iterable[int]) -> tuple[int, int, int]:
    try:
        values = tuple(background)
    except TypeError:
        values = ()
    if len(values) != 3 or not all(
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255 for value in values
    ):
        raise ValueError(f"background must be three whole numbers from 0 to 255 (R, G, B), not {background!r}.")
    return values  # type: ignore[return-value]


def resize_whole(image: Image.Image, size: int, resample: Image.Resampling = Image.Resampling.BILINEAR) -> np.ndarray:
    """Squash the whole photo to ``size`` x ``size`` and return float32 values in [0, 1].

    This is the tutorial's preprocessing, which keeps every pixel row and column but
    not the aspect ratio. Pillow's BILINEAR widens its filter when it shrinks an image.
    ``tf.image.resize`` with its default ``antialias=False`` does not, so the two give
    slightly different values.

    Returns:
        An array of shape (size, size, 3).
    """
    _require_rgb(image)
    _validate_output_size(size)
    resized = image.resize((size, size), resample=resample)
    return _to_unit_float(resized)


def center_crop(
    image: Image.Image,
    size: int,
    crop_fraction: float = 0.875,
    resample: Image.Resampling = Image.Resampling.BICUBIC,
) -> np.ndarray:
    """Resize and cut out the central square, as ImageNet evaluation commonly does.

    The photo is resized, keeping its aspect ratio, so that its shorter side is
    ``size / crop_fraction`` pixels (256 for size 224 and the default 0.875). Then the
    central ``size`` x ``size`` square is cut out. Values are float32 in [0, 1].

    Returns:
        An array of shape (size, size, 3).

    Raises:
        ValueError: if ``crop_fraction`` is not in (0, 1] or ``size`` is not positive.
    """
    _require_rgb(image)
    _validate_output_size(size)
    if isinstance(crop_fraction, bool) or not isinstance(crop_fraction, (int, float)) or not 0 < crop_fraction <= 1:
        raise ValueError(f"crop_fraction must be a number in (0, 1], not {crop_fraction!r}.")

    shorter_side = max(size, _round_half_up(size / crop_fraction))
    width, height = image.size
    if width <= height:
        new_width, new_height = shorter_side, max(shorter_side, _round_half_up(height * shorter_side / width))
    else:
        new_width, new_height = max(shorter_side, _round_half_up(width * shorter_side / height)), shorter_side

    resized = image.resize((new_width, new_height), resample=resample)
    left = (new_width - size) // 2
    top = (new_height - size) // 2
    cropped = resized.crop((left, top, left + size, top + size))
    return _to_unit_float(cropped)


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def _require_rgb(image: Image.Image) -> None:
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL.Image.Image, not {type(image).__name__}.")
    if image.mode != "RGB":
        raise ValueError(f"expected an RGB image, not mode {image.mode!r}. Read photos with load_photo().")


def _validate_output_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a whole number of at least 1, not {size!r}.")


def _to_unit_float(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32) / np.float32(255.0)


def iter_image_files(paths: Iterable[Path | str] | Path | str) -> Iterator[Path]:
    """Yield the image files that ``paths`` name, in a stable order.

    A path that is not a folder is yielded as given, whatever its suffix and even if
    it does not exist, so that load_photo reports the problem with it. A folder is
    walked recursively in sorted name order. The walk yields files whose suffix is in
    IMAGE_SUFFIXES (in any case) and skips hidden files and folders, whose names start
    with ".". Symlinked folders are followed, but each folder is walked at most once,
    so a symlink loop ends. A folder that cannot be listed is logged as a warning and
    skipped.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    walked: set[tuple[int, int]] = set()
    for named in paths:
        path = Path(named)
        if path.is_dir():
            yield from _walk_folder(path, walked)
        else:
            yield path


def _walk_folder(root: Path, walked: set[tuple[int, int]]) -> Iterator[Path]:
    """Yield image files below ``root`` depth-first in sorted order, marking folders in ``walked``."""
    # Each stack entry is a folder still to list, or a file ready to yield. The stack
    # replaces recursion so that deep trees cannot hit Python's recursion limit.
    stack: list[tuple[Path, bool]] = [(root, True)]
    while stack:
        path, is_folder = stack.pop()
        if not is_folder:
            yield path
            continue

        try:
            status = path.stat()
            folder_id = (status.st_dev, status.st_ino)
            if folder_id in walked:
                continue
            walked.add(folder_id)
            with os.scandir(path) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as error:
            logger.warning("Skipping folder %s: it cannot be listed (%s).", path, error.strerror or error)
            continue

        children: list[tuple[Path, bool]] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                entry_is_folder = entry.is_dir()  # follows symlinks
            except OSError:
                entry_is_folder = False
            if entry_is_folder:
                children.append((Path(entry.path), True))
            elif Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                children.append((Path(entry.path), False))
        stack.extend(reversed(children))
