"""The only image loader and saver of packshot.

Everything that reads or writes image bytes goes through this module so that the rest of
the code can assume one canonical in-memory form: a ``uint8`` numpy array, ``HxWx3`` (RGB)
or ``HxWx4`` (RGBA, straight alpha), upright (EXIF orientation applied) and in sRGB
(embedded ICC profiles converted). The messy parts of real shop photos live here and
nowhere else: CMYK and 16-bit files, palette transparency, rotated phone pictures, wide
gamut profiles, truncated uploads and decompression bombs.

Loading is strict on purpose: a truncated file raises :class:`ImageDecodeError` instead of
decoding half grey (``ImageFile.LOAD_TRUNCATED_IMAGES`` must stay ``False``), and the
pixel-count limit is checked from the header before any pixel is decoded. Every failure is
a :class:`~packshot.errors.PackshotError` whose message names the file, never a raw PIL or
``OSError`` traceback.

Saving is deterministic (same pixels, same bytes: no timestamps, fixed encoder settings)
and exact where it can be: JPEGs at quality >= 90 use 4:4:4 chroma so a pure-white
background decodes back to exactly 255, and files are written atomically.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image, ImageCms, ImageOps, features

from packshot.errors import (
    ImageDecodeError,
    ImageTooLargeError,
    InputError,
    PackshotError,
    UnsupportedFormatError,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "QUALITY_FLOOR",
    "SUPPORTED_SUFFIXES",
    "LoadedImage",
    "encode_image",
    "encode_within",
    "iter_image_files",
    "load_image",
    "save_image",
    "write_bytes",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 100_000_000
"""Default pixel-count limit (100 MP); ``PACKSHOT_MAX_PIXELS`` or ``max_pixels=`` override it."""

MAX_PIXELS_ENV = "PACKSHOT_MAX_PIXELS"

# packshot enforces its own, configurable limit (checked from the header before decoding,
# with a message that says how to raise it). PIL's global guard would otherwise fire first
# with its own wording and a fixed threshold (~179 MP for the error), making
# PACKSHOT_MAX_PIXELS above that useless, so it is switched off once for the process.
Image.MAX_IMAGE_PIXELS = None

# Formats load_image accepts. Restricting Image.open to these keeps exotic, rarely
# hardened decoders (EPS via Ghostscript, FITS, SPIDER, ...) out of reach of uploaded bytes.
# "HEIF" is registered by pillow_heif; "AVIF" by Pillow >= 11.2 or pillow_heif.
_ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "HEIF", "AVIF")

# Formats PIL can identify but packshot refuses: named in an UnsupportedFormatError rather
# than being called "not an image". Only formats with a reliable signature are listed, so
# that a text file is never mistaken for one of them.
_RECOGNISED_UNSUPPORTED = ("PSD", "ICO", "JPEG2000", "QOI", "DDS", "ICNS", "EPS", "PPM")

_BASE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"})

# Output format for each suffix save_image understands.
_SUFFIX_TO_FORMAT = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".gif": "GIF",
}
_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF"}
_SAVE_FORMATS = frozenset(_SUFFIX_TO_FORMAT.values())
# GIF only has 1-bit transparency and BMP alpha is ignored by many readers, so both are
# treated like JPEG: an RGBA image must be composited over an explicit background.
_ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})

# ISO-BMFF (HEIF/AVIF) brands found in the "ftyp" box.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)

_SNIFF_BYTES = 256
_HEIF_INSTALL_HINT = "pip install 'packshot[heif]'"

PixelArray = npt.NDArray[np.uint8]


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded image in packshot's canonical form, plus what was done to get there.

    ``eq=False`` because comparing numpy arrays with ``==`` is elementwise; identity
    semantics avoid an "ambiguous truth value" error when images are compared or hashed.
    """

    pixels: PixelArray
    """``uint8`` ``HxWx3`` (RGB) or ``HxWx4`` (RGBA, straight alpha), upright, sRGB."""
    source: str
    """The path, ``"<bytes>"``, or the caller's label; used in messages."""
    format: str
    """Container format as PIL names it (``"JPEG"``, ``"PNG"``, ``"WEBP"``, ...)."""
    original_mode: str
    """PIL mode before conversion (``"CMYK"``, ``"I;16"``, ``"P"``, ``"LA"``, ...)."""
    icc_converted: bool
    """An embedded ICC profile was converted to sRGB."""
    exif_rotated: bool
    """A non-trivial EXIF orientation (2-8) was applied."""

    @property
    def has_alpha(self) -> bool:
        """True for RGBA pixels."""
        return self.pixels.ndim == 3 and self.pixels.shape[2] == 4

    @property
    def width(self) -> int:
        """Width in pixels (after EXIF orientation)."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Height in pixels (after EXIF orientation)."""
        return int(self.pixels.shape[0])


# --------------------------------------------------------------------------- decoders


@functools.cache
def _pillow_reads_avif() -> bool:
    """Whether this Pillow build has its own AVIF plugin (Pillow >= 11.2 wheels do)."""
    try:
        return bool(features.check_module("avif"))
    except Exception:  # an unknown feature name on old Pillow raises ValueError
        return False


@functools.cache
def _register_heif() -> bool:
    """Import ``pillow_heif`` and register its openers, once, only when first needed.

    Importing it costs time and it is an optional dependency, so it is only done when a
    HEIF/AVIF file actually arrives. Returns whether a HEIF decoder is now available.
    """
    try:
        import pillow_heif
    except ImportError:
        return False
    try:
        pillow_heif.register_heif_opener()
        register_avif = getattr(pillow_heif, "register_avif_opener", None)
        if register_avif is not None and not _pillow_reads_avif():
            register_avif()
    except Exception as exc:  # a broken install must not break JPEG loading
        logger.warning("pillow_heif is installed but could not be registered: %s", exc)
        return False
    return True


def _heif_importable() -> bool:
    """Cheap check (no import) that ``pillow_heif`` is installed, for SUPPORTED_SUFFIXES."""
    import importlib.util

    return importlib.util.find_spec("pillow_heif") is not None


def _supported_suffixes() -> frozenset[str]:
    suffixes = set(_BASE_SUFFIXES)
    heif = _heif_importable()
    if heif:
        suffixes |= {".heic", ".heif"}
    if heif or _pillow_reads_avif():
        suffixes.add(".avif")
    return frozenset(suffixes)


SUPPORTED_SUFFIXES: frozenset[str] = _supported_suffixes()
"""Lower-case suffixes :func:`iter_image_files` picks up when walking folders."""


def _sniff_isobmff(head: bytes) -> str | None:
    """Return ``"AVIF"`` or ``"HEIF"`` if *head* starts with an ISO-BMFF ftyp box for one.

    Pillow cannot say "this is HEIC but I lack a decoder" (it just fails to identify), so
    the container is recognised here to give an actionable message instead.
    """
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    box_size = int.from_bytes(head[0:4], "big")
    end = min(len(head), box_size if box_size >= 16 else len(head))
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}
    if brands & _AVIF_BRANDS:
        return "AVIF"
    if brands & _HEIF_BRANDS:
        return "HEIF"
    return None


def _require_isobmff_decoder(kind: str, name: str) -> None:
    """Make sure a decoder for a HEIF/AVIF file is registered, or explain how to get one."""
    if kind == "AVIF":
        if _pillow_reads_avif() or _register_heif():
            return
        raise UnsupportedFormatError(
            f"{name}: AVIF image, but no AVIF decoder is installed; upgrade Pillow to "
            f">= 11.2 (its wheels read AVIF) or install {_HEIF_INSTALL_HINT}"
        )
    if not _register_heif():
        raise UnsupportedFormatError(
            f"{name}: HEIC/HEIF image, but no HEIF decoder is installed; "
            f"install it with: {_HEIF_INSTALL_HINT}"
        )


def _magic_format(head: bytes) -> str | None:
    """Name the format from its signature, to tell "corrupt PNG" from "not an image"."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "TIFF"
    if head.startswith(b"BM") and len(head) >= 18:
        return "BMP"
    return None


# --------------------------------------------------------------------------- loading


def _resolve_max_pixels(max_pixels: int | None) -> int:
    """The explicit argument wins, then ``PACKSHOT_MAX_PIXELS``, then the default."""
    if max_pixels is not None:
        if max_pixels <= 0:
            raise InputError(f"max_pixels must be a positive number of pixels, got {max_pixels}")
        return int(max_pixels)
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        try:
            as_float = float(raw)  # accept "2e8"
        except ValueError:
            as_float = -1.0
        value = int(as_float) if as_float.is_integer() else -1
    if value <= 0:
        raise InputError(
            f"{MAX_PIXELS_ENV} must be a positive number of pixels (e.g. 200000000), got {raw!r}"
        )
    return value


def _pixel_count(n: int, limit: int) -> str:
    """Megapixels as users think of them; exact counts when the limit is below 1 MP."""
    return f"{n / 1_000_000:.1f} MP" if limit >= 1_000_000 else f"{n} pixels"


def load_image(
    src: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    max_pixels: int | None = None,
    label: str | None = None,
    keep_alpha: bool = True,
) -> LoadedImage:
    """Decode a file or byte string into packshot's canonical upright sRGB uint8 array.

    Args:
        src: a path, or the encoded bytes of an image (e.g. an upload or a fetched URL).
        max_pixels: refuse images with more than this many pixels; defaults to
            ``PACKSHOT_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`. Checked from the header
            before decoding, so a decompression bomb costs no memory.
        label: the name used in ``source`` and in error messages (defaults to the path, or
            ``"<bytes>"``), e.g. the original URL of fetched bytes.
        keep_alpha: when False an alpha channel is dropped (not composited: callers that
            need a background do that themselves), so the result is always RGB.

    Raises:
        InputError: the path does not exist, is a directory or cannot be read.
        ImageDecodeError: the data is empty, not an image, truncated or corrupt.
        ImageTooLargeError: the image has more pixels than the limit.
        UnsupportedFormatError: a recognised format without an installed decoder (HEIC
            without ``pillow_heif``) or one packshot does not accept (PSD, ICO, ...).
    """
    limit = _resolve_max_pixels(max_pixels)
    if isinstance(src, bytes | bytearray | memoryview):
        data = bytes(src)
        name = label if label is not None else "<bytes>"
        if not data:
            raise ImageDecodeError(f"{name}: data is empty (0 bytes)")
        return _decode(io.BytesIO(data), name, limit, keep_alpha)

    path = os.fspath(src)
    if not isinstance(path, str):  # os.PathLike[bytes]
        path = os.fsdecode(path)
    name = label if label is not None else path
    if os.path.isdir(path):
        raise InputError(f"{name}: is a directory, not an image file")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with-block below
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not an image file") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot open ({exc.strerror or exc})") from None
    with fh:
        return _decode(fh, name, limit, keep_alpha)


def as_pixels(
    image: PixelArray | Image.Image, *, what: str = "image", min_side: int = 1, purpose: str = ""
) -> PixelArray:
    """An in-memory image (a uint8 array, or a PIL image, converted keeping its alpha) as a
    uint8 HxWx3 (RGB) or HxWx4 (RGBA) array, checked; the one gate for arrays callers pass.

    Raises:
        InputError: another dtype or shape, or a side under ``min_side`` pixels (the
            message says it is too small ``purpose``, e.g. "to cut out").
    """
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB"))
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InputError(
            f"the {what} must be a uint8 HxWx3 (RGB) or HxWx4 (RGBA) array, got dtype "
            f"{arr.dtype} and shape {arr.shape}"
        )
    if min(arr.shape[:2]) < min_side:
        raise InputError(
            f"the {what} is too small {purpose or 'to process'} ({arr.shape[1]}x{arr.shape[0]} px)"
        )
    return arr


def _open_formats() -> list[str]:
    """The allowed formats that are registered right now (Image.open rejects unknown names)."""
    Image.init()
    return [f for f in _ALLOWED_FORMATS if f in Image.OPEN]


def _decode(fh: IO[bytes], name: str, limit: int, keep_alpha: bool) -> LoadedImage:
    try:
        head = fh.read(_SNIFF_BYTES)
        fh.seek(0)
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    if not head:
        raise ImageDecodeError(f"{name}: file is empty (0 bytes)")

    kind = _sniff_isobmff(head)
    if kind is not None:
        _require_isobmff_decoder(kind, name)

    try:
        im = Image.open(fh, formats=_open_formats())
    except Image.DecompressionBombError as exc:
        # Only reachable if someone re-enabled PIL's guard after import.
        raise ImageTooLargeError(
            f"{name}: {exc} (set {MAX_PIXELS_ENV} to raise packshot's limit)"
        ) from exc
    except Exception as exc:  # PIL raises many types for unreadable headers
        raise _identify_failure(fh, head, name) from exc

    with im:
        width, height = im.size
        if width * height > limit:
            raise ImageTooLargeError(
                f"{name}: {width}x{height} = {_pixel_count(width * height, limit)} exceeds "
                f"the limit of {_pixel_count(limit, limit)} (set {MAX_PIXELS_ENV} to raise it)"
            )
        try:
            im.load()
        except Exception as exc:  # decoder errors surface as OSError, SyntaxError, ...
            reason = str(exc).strip() or type(exc).__name__
            raise ImageDecodeError(
                f"{name}: image data is truncated or corrupt ({reason})"
            ) from exc
        fmt = "JPEG" if im.format == "MPO" else (im.format or kind or "unknown")
        return _to_canonical(im, name=name, fmt=fmt, keep_alpha=keep_alpha)


def _identify_failure(fh: IO[bytes], head: bytes, name: str) -> PackshotError:
    """Explain why Image.open failed: corrupt known format, refused format, or not an image."""
    magic = _magic_format(head)
    if magic is not None:
        return ImageDecodeError(
            f"{name}: image data is truncated or corrupt (unreadable {magic} file)"
        )
    try:
        fh.seek(0)
        Image.init()
        formats = [f for f in _RECOGNISED_UNSUPPORTED if f in Image.OPEN]
        with Image.open(fh, formats=formats) as other:
            other_format = other.format
    except Exception:
        other_format = None
    if other_format:
        return UnsupportedFormatError(
            f"{name}: {other_format} images are not supported; convert it to JPEG, PNG, "
            "WebP, TIFF, BMP or GIF"
        )
    return ImageDecodeError(f"{name}: not an image (unrecognised format)")


def _to_canonical(im: Image.Image, *, name: str, fmt: str, keep_alpha: bool) -> LoadedImage:
    """Orientation, then mode normalisation, then ICC -> sRGB, then the numpy array.

    Alpha is only split off when an ICC transform needs the colour channels alone, so a
    plain RGBA image costs one conversion less (it matters at 100 MP).
    """
    original_mode = im.mode
    icc = im.info.get("icc_profile")
    im, rotated = _apply_exif_orientation(im, name)
    im = _normalise_mode(im, name)

    converted = False
    if isinstance(icc, bytes) and icc:
        srgb = _icc_to_srgb(im, icc, name)
        if srgb is not None:
            im, converted = srgb, True
    if im.has_transparency_data and keep_alpha:
        if im.mode != "RGBA":
            im = im.convert("RGBA")  # LA
    elif im.mode != "RGB":
        im = im.convert("RGB")  # drops alpha without compositing; L and CMYK to RGB

    pixels: PixelArray = np.array(im, dtype=np.uint8)  # a writable copy
    return LoadedImage(
        pixels=pixels,
        source=name,
        format=fmt,
        original_mode=original_mode,
        icc_converted=converted,
        exif_rotated=rotated,
    )


def _apply_exif_orientation(im: Image.Image, name: str) -> tuple[Image.Image, bool]:
    """Apply EXIF orientation 2-8; a broken EXIF block is ignored, not fatal.

    Phone photos store pixels sensor-up and only record the rotation, so without this a
    portrait product shot arrives sideways. Corrupt EXIF is common in edited files and
    must not make an otherwise fine image unreadable.
    """
    try:
        orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
        if orientation not in range(2, 9):
            return im, False
        transposed = ImageOps.exif_transpose(im)
    except Exception as exc:
        logger.debug("%s: ignoring unreadable EXIF orientation: %s", name, exc)
        return im, False
    return transposed, True


def _normalise_mode(im: Image.Image, name: str) -> Image.Image:
    """Reduce any PIL mode to 8-bit RGB, RGBA, L, LA or CMYK (the modes ICC handling knows).

    Palette and colour-key (tRNS) transparency become a real alpha channel, premultiplied
    modes become straight alpha, and high bit depths are scaled (not clipped) to 8 bits.
    """
    mode = im.mode
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I") or mode == "F":
        return _high_depth_to_l(im)
    if mode in ("P", "PA"):
        return im.convert("RGBA" if im.has_transparency_data else "RGB")
    if mode in ("L", "RGB") and "transparency" in im.info:  # tRNS colour key
        return im.convert("LA" if mode == "L" else "RGBA")
    if mode in ("RGBa", "La"):  # premultiplied -> straight
        return im.convert("RGBA" if mode == "RGBa" else "LA")
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return im
    try:
        return im.convert("RGB")  # RGBX, YCbCr, HSV, LAB
    except ValueError as exc:
        raise UnsupportedFormatError(f"{name}: pixel mode {mode} is not supported") from exc


def _high_depth_to_l(im: Image.Image) -> Image.Image:
    """Scale 16-bit, 32-bit integer and float greyscale to 8-bit without clipping.

    PIL's own ``convert("L")`` clips these modes at 255, turning a 16-bit image almost
    entirely white; here 65535 maps to 255 and 32768 to 128 (rounded ``v / 257``).
    ``I`` images whose values fit 0..65535 are treated as 16-bit (how 16-bit PNG/TIFF
    decode); anything wider is stretched from its min..max. ``F`` images in 0..1 are
    scaled by 255, in 0..255 used as is, otherwise stretched; NaN becomes 0.
    """
    arr = np.asarray(im)
    mode = im.mode
    out: npt.NDArray[Any]
    if mode.startswith("I;16"):
        out = (arr.astype(np.uint32) * 255 + 32767) // 65535
    elif mode == "I":
        wide = arr.astype(np.int64)
        if wide.size and (wide.min() < 0 or wide.max() > 65535):
            out = _stretch(wide.astype(np.float64))
        else:
            out = (wide * 255 + 32767) // 65535
    else:  # "F"
        flt = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo = float(flt.min()) if flt.size else 0.0
        hi = float(flt.max()) if flt.size else 0.0
        if lo >= 0.0 and hi <= 1.0:
            out = np.rint(flt * 255.0)
        elif lo >= 0.0 and hi <= 255.0:
            out = np.rint(flt)
        else:
            out = _stretch(flt)
    return Image.fromarray(np.ascontiguousarray(out, dtype=np.uint8))


def _stretch(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros_like(values)
    return np.rint((values - lo) * (255.0 / (hi - lo)))


_ICC_SPACE_FOR_MODE = {"RGB": "RGB", "CMYK": "CMYK", "L": "GRAY"}


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@functools.lru_cache(maxsize=16)
def _icc_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """Build (and cache) the perceptual transform from an embedded profile to sRGB.

    Building a transform costs milliseconds (tens for CMYK LUT profiles) and batches
    usually share one camera/press profile, so transforms are cached by profile bytes.
    Returns None if the profile is unreadable or does not describe *mode*'s colour space.
    """
    expected = _ICC_SPACE_FOR_MODE.get(mode)
    if expected is None:
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if profile.profile.xcolor_space.strip() != expected:
            return None
        return ImageCms.buildTransform(
            profile,
            _srgb_profile(),
            mode,
            "RGB",
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
        )
    except Exception:  # broken or exotic profiles: PyCMSError, OSError, ValueError, ...
        return None


def _icc_to_srgb(im: Image.Image, icc: bytes, name: str) -> Image.Image | None:
    """Convert *im* to sRGB with its embedded profile; None (keep as is) if unusable.

    Alpha is split off and re-attached around the transform so lcms only ever sees colour
    channels, whatever it would do with an extra channel in a given mode.
    """
    colour_mode = {"RGBA": "RGB", "LA": "L"}.get(im.mode, im.mode)
    transform = _icc_transform(icc, colour_mode)
    if transform is None:
        logger.debug("%s: embedded ICC profile unusable for mode %s; ignored", name, im.mode)
        return None
    try:
        if colour_mode == im.mode:
            return transform.apply(im)
        out = transform.apply(im.convert(colour_mode))
        out.putalpha(im.getchannel("A"))
        return out
    except Exception as exc:
        logger.debug("%s: ICC conversion failed, profile ignored: %s", name, exc)
        return None


# --------------------------------------------------------------------------- saving


def _normalise_format(format: str) -> str:
    fmt = format.strip().upper().lstrip(".")
    fmt = _FORMAT_ALIASES.get(fmt, fmt)
    if fmt not in _SAVE_FORMATS:
        supported = ", ".join(sorted(_SAVE_FORMATS))
        raise InputError(f"cannot save as {format!r}: supported formats are {supported}")
    return fmt


def _format_from_suffix(path: Path) -> str:
    fmt = _SUFFIX_TO_FORMAT.get(path.suffix.lower())
    if fmt is None:
        known = " ".join(sorted(_SUFFIX_TO_FORMAT))
        raise InputError(
            f"{path}: cannot tell the output format from the suffix {path.suffix!r}; "
            f"use one of {known} or pass format="
        )
    return fmt


def _check_background(background: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
    if background is None:
        return None
    values = tuple(background)
    if len(values) != 3 or not all(
        isinstance(v, int | np.integer) and 0 <= int(v) <= 255 for v in values
    ):
        raise InputError(
            f"background must be an (r, g, b) tuple of 0-255 integers, got {background!r}"
        )
    return (int(values[0]), int(values[1]), int(values[2]))


def _composite(pixels: PixelArray, background: tuple[int, int, int]) -> PixelArray:
    """Straight-alpha "over" onto an opaque colour, exact at alpha 0 and 255."""
    rgb = pixels[..., :3].astype(np.uint16)
    alpha = pixels[..., 3:4].astype(np.uint16)
    bg = np.array(background, dtype=np.uint16)
    out = (rgb * alpha + bg * (255 - alpha) + 127) // 255
    return out.astype(np.uint8)


def _to_pil(
    pixels: PixelArray, fmt: str, background: tuple[int, int, int] | None, where: str
) -> Image.Image:
    if not isinstance(pixels, np.ndarray):
        raise InputError(f"{where}pixels must be a numpy array, got {type(pixels).__name__}")
    if pixels.dtype != np.uint8:
        raise InputError(f"{where}pixels must be uint8, got {pixels.dtype}")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in (3, 4))):
        raise InputError(f"{where}pixels must be HxW, HxWx3 or HxWx4, got shape {pixels.shape}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise InputError(f"{where}cannot save an empty image (shape {pixels.shape})")
    if pixels.ndim == 3 and pixels.shape[2] == 4 and fmt not in _ALPHA_FORMATS:
        if background is None:
            raise InputError(
                f"{where}{fmt} has no alpha channel: pass background=(r, g, b) to composite "
                "the RGBA image onto a colour, or save as PNG, WebP or TIFF"
            )
        pixels = _composite(pixels, background)
    return Image.fromarray(np.ascontiguousarray(pixels))


def _save_options(
    fmt: str, quality: int, *, exact_colors: bool = False, png_effort: int = 0
) -> dict[str, Any]:
    """Fixed encoder settings: part of the output contract (determinism, exact colours).

    ``exact_colors`` keeps JPEG chroma at 4:4:4 at every quality (4:2:0 averages chroma
    over 2x2 blocks, so a flat colour next to an edge no longer decodes exactly).
    ``png_effort`` 0, 1, 2: zlib level 6, level 9, level 9 with PIL's optimize pass.
    """
    if fmt == "JPEG":
        # 4:4:4 at high quality keeps flat colours (white backgrounds) exact; no ICC or
        # EXIF is embedded because every output is plain sRGB.
        full_chroma = exact_colors or quality >= 90
        return {"quality": quality, "subsampling": 0 if full_chroma else 2, "optimize": True}
    if fmt == "PNG":
        if png_effort >= 2:
            return {"compress_level": 9, "optimize": True}
        return {"compress_level": 9 if png_effort == 1 else 6}
    if fmt == "WEBP":
        if quality == 100:
            # exact: keep RGB under fully transparent pixels so round trips are lossless.
            return {"lossless": True, "exact": True, "method": 4}
        return {"quality": quality, "method": 4}
    if fmt == "TIFF":
        return {"compression": "tiff_lzw"}
    return {}


def _check_quality(quality: int, where: str) -> None:
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise InputError(f"{where}quality must be an integer from 1 to 100, got {quality!r}")


def _encode(
    pixels: PixelArray,
    fmt: str,
    *,
    quality: int,
    background: tuple[int, int, int] | None,
    where: str,
    exact_colors: bool = False,
    png_effort: int = 0,
    image: Image.Image | None = None,
) -> bytes:
    _check_quality(quality, where)
    im = image if image is not None else _to_pil(pixels, fmt, _check_background(background), where)
    buf = io.BytesIO()
    options = _save_options(fmt, quality, exact_colors=exact_colors, png_effort=png_effort)
    try:
        im.save(buf, format=fmt, **options)
    except KeyError as exc:
        raise UnsupportedFormatError(
            f"{where}this Pillow build cannot write {fmt} (missing encoder)"
        ) from exc
    except (OSError, ValueError) as exc:
        raise PackshotError(f"{where}cannot encode {fmt}: {exc}") from exc
    return buf.getvalue()


def encode_image(
    pixels: PixelArray,
    format: str,
    *,
    quality: int = 95,
    background: tuple[int, int, int] | None = None,
    exact_colors: bool = False,
) -> bytes:
    """Encode a uint8 array (HxW grey, HxWx3 RGB or HxWx4 RGBA) to image file bytes.

    Args:
        pixels: the image; must be ``uint8``, treated as sRGB with straight alpha.
        format: ``"PNG"``, ``"JPEG"``/``"JPG"``, ``"WEBP"``, ``"TIFF"``, ``"BMP"`` or
            ``"GIF"`` (case-insensitive).
        quality: 1-100. JPEG: libjpeg quality, with 4:4:4 chroma from 90 up. WebP: lossy
            quality, or lossless at exactly 100. Ignored by the other formats.
        background: an RGBA image going to a format without alpha (JPEG, BMP, GIF) is
            composited over this colour; without it that is an InputError.
        exact_colors: JPEG keeps 4:4:4 chroma at every quality (not only from 90 up), so
            flat colours beside edges (a pure-white background) decode exactly.

    The output is deterministic: the same pixels and arguments give the same bytes.
    """
    return _encode(
        pixels,
        _normalise_format(format),
        quality=quality,
        background=background,
        where="",
        exact_colors=exact_colors,
    )


QUALITY_FLOOR = 70
"""The lowest JPEG/WebP quality :func:`encode_within` goes down to for a size budget."""
_QUALITY_STEP = 5


def encode_within(
    pixels: PixelArray,
    format: str,
    *,
    quality: int = 95,
    max_bytes: int | None,
    background: tuple[int, int, int] | None = None,
    exact_colors: bool = False,
) -> tuple[bytes, int]:
    """Encode like :func:`encode_image`, within a file-size budget; returns (bytes, quality).

    Encodes at ``quality`` first. Over ``max_bytes``, JPEG and WebP are re-encoded at
    lower qualities, in steps of 5 down to :data:`QUALITY_FLOOR` (70) (a WebP at 100,
    lossless, goes on lossy from 95); PNG is re-encoded with more compression effort
    (zlib level 9, then PIL's optimize pass); other formats have no size knob. The
    returned quality is the one used (``quality`` itself for PNG and other formats).
    The result is deterministic: the same pixels and arguments give the same bytes.

    Raises:
        InputError: bad arguments, or nothing within the budget; the message names the
            smallest size reached and at which setting.
    """
    fmt = _normalise_format(format)
    _check_quality(quality, "")
    if max_bytes is not None and (
        isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0
    ):
        raise InputError(f"max_bytes must be a positive number of bytes, got {max_bytes!r}")
    # Converted once: only the encoder settings change between attempts.
    im = _to_pil(pixels, fmt, _check_background(background), "")

    def encode(q: int, png_effort: int = 0) -> bytes:
        return _encode(
            pixels,
            fmt,
            quality=q,
            background=None,
            where="",
            exact_colors=exact_colors,
            png_effort=png_effort,
            image=im,
        )

    data = encode(quality)
    if max_bytes is None or len(data) <= max_bytes:
        return data, quality
    tried = f"quality {quality}"
    if fmt in ("JPEG", "WEBP"):
        # A WebP at 100 is lossless; the first step down (95) is lossy.
        q = quality
        while q > QUALITY_FLOOR:
            q = max(QUALITY_FLOOR, q - _QUALITY_STEP)
            data = encode(q)
            tried = f"quality {q}"
            if len(data) <= max_bytes:
                return data, q
    elif fmt == "PNG":
        for effort, what in ((1, "zlib level 9"), (2, "zlib level 9 + optimize")):
            data = encode(quality, effort)
            tried = what
            if len(data) <= max_bytes:
                return data, quality
    raise InputError(
        f"cannot encode {fmt} within {_size(max_bytes)}: the smallest reached is "
        f"{_size(len(data))} ({tried}"
        + (f", the quality floor is {QUALITY_FLOOR}" if fmt in ("JPEG", "WEBP") else "")
        + "); allow a larger file or a smaller image"
    )


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.2f} MB ({n} bytes)"
    if n >= 1_000:
        return f"{n / 1_000:.1f} kB ({n} bytes)"
    return f"{n} bytes"


def save_image(
    pixels: PixelArray,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    quality: int = 95,
    background: tuple[int, int, int] | None = None,
) -> Path:
    """Encode *pixels* (see :func:`encode_image`) and write them to *path* atomically.

    The format comes from the suffix unless given. The bytes go to a temporary file in the
    same directory which then replaces *path*, so readers and resumed batches never see a
    half-written image. Missing parent directories are created. Returns the path.
    """
    target = Path(path)
    fmt = _normalise_format(format) if format is not None else _format_from_suffix(target)
    data = _encode(pixels, fmt, quality=quality, background=background, where=f"{target}: ")
    _atomic_write(target, data)
    return target


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write already-encoded image bytes (e.g. from :func:`encode_within`) atomically."""
    target = Path(path)
    _atomic_write(target, data)
    return target


def _atomic_write(target: Path, data: bytes) -> None:
    """Write *data* to a temporary sibling, fsync it, then rename it over *target*."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # os.open with 0o666 lets the umask decide permissions, as for any new file
        # (tempfile.mkstemp would leave outputs readable by their owner only).
        fd = os.open(tmp, flags, 0o666)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise PackshotError(f"{target}: cannot write ({exc.strerror or exc})") from exc
        raise


# --------------------------------------------------------------------------- folders


def iter_image_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand folders into the image files inside them; keep explicit files as given.

    Folders are walked recursively and yield files whose suffix is in
    :data:`SUPPORTED_SUFFIXES`, sorted, skipping hidden files and folders (names starting
    with ``.``, e.g. ``.DS_Store``, ``._IMG.jpg``, ``.git``) below the given folder.
    Explicitly named files are kept whatever their suffix, so the loader can say what is
    wrong with them. Symlinked folders are not followed (no cycles). Duplicates are
    dropped, first occurrence wins. A single path (not in a list) is accepted too.

    Raises:
        InputError: naming every given path that does not exist, before walking anything.
    """
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    given = [Path(p) for p in items]
    missing = [str(p) for p in given if not p.exists()]
    if missing:
        raise InputError(f"{', '.join(missing)}: no such file or directory")

    result: list[Path] = []
    seen: set[Path] = set()
    for path in given:
        found = sorted(_walk_images(path)) if path.is_dir() else [path]
        for file in found:
            if file not in seen:
                seen.add(file)
                result.append(file)
    return result


def _walk_images(root: Path) -> list[Path]:
    def on_error(exc: OSError) -> None:
        # One unreadable sub-folder should not abort a batch, but must not vanish silently.
        logger.warning("skipping unreadable folder %s: %s", exc.filename, exc.strerror or exc)

    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        base = Path(dirpath)
        for filename in filenames:
            if filename.startswith("."):
                continue
            if Path(filename).suffix.lower() in SUPPORTED_SUFFIXES:
                found.append(base / filename)
    return found
