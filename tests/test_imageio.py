"""Tests for packshot.imageio: every fixture is synthesised in memory or under tmp_path."""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile, JpegImagePlugin, features

from packshot import imageio
from packshot.errors import (
    ImageDecodeError,
    ImageTooLargeError,
    InputError,
    PackshotError,
    UnsupportedFormatError,
)
from packshot.imageio import (
    DEFAULT_MAX_PIXELS,
    SUPPORTED_SUFFIXES,
    LoadedImage,
    encode_image,
    iter_image_files,
    load_image,
    save_image,
)

# --------------------------------------------------------------------------- helpers


def pil_bytes(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def noise(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    shape = (h, w) if c == 1 else (h, w, c)
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png16(arr: np.ndarray, color_type: int) -> bytes:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB/RGBA PNGs)."""
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def tiff16_rgb(arr: np.ndarray) -> bytes:
    """An uncompressed little-endian 16-bit RGB TIFF written by hand."""
    h, w, _ = arr.shape
    data = arr.astype("<u2").tobytes()
    bps_offset, data_offset = 8, 14
    ifd_offset = data_offset + len(data)
    ifd_offset += ifd_offset % 2
    short, long_ = 3, 4
    tags = [
        (256, short, 1, w),
        (257, short, 1, h),
        (258, short, 3, bps_offset),
        (259, short, 1, 1),  # no compression
        (262, short, 1, 2),  # RGB
        (273, long_, 1, data_offset),
        (277, short, 1, 3),
        (278, short, 1, h),
        (279, long_, 1, len(data)),
        (284, short, 1, 1),
    ]
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd_offset))
    out += struct.pack("<HHH", 16, 16, 16) + data
    out += b"\x00" * (ifd_offset - len(out))
    out += struct.pack("<H", len(tags))
    for tag, typ, count, value in tags:
        if typ == short and count == 1:
            out += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            out += struct.pack("<HHII", tag, typ, count, value)
    return bytes(out + struct.pack("<I", 0))


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def rgb_icc_profile(
    red: tuple[float, float, float],
    green: tuple[float, float, float],
    blue: tuple[float, float, float],
    gamma: float = 2.2,
) -> bytes:
    """A minimal ICC v2 matrix/TRC display profile with the given D50 colorants."""

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + _s15(x) + _s15(y) + _s15(z)

    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(gamma * 256)) + b"\x00\x00"
    text = b"packshot test profile\x00"
    desc = b"desc\x00\x00\x00\x00" + struct.pack(">I", len(text)) + text
    desc += struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\x00" * 67
    tags = [
        (b"desc", desc),
        (b"cprt", b"text\x00\x00\x00\x00public domain\x00"),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(*red)),
        (b"gXYZ", xyz(*green)),
        (b"bXYZ", xyz(*blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    first = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for sig, data in tags:
        data += b"\x00" * (-len(data) % 4)
        table += sig + struct.pack(">II", first + len(body), len(data))
        body += data
    header = (
        struct.pack(">I", first + len(body))
        + b"\x00" * 4
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\x00" * 12
        + b"acsp"
        + b"\x00" * 24
        + struct.pack(">I", 0)
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\x00" * 48
    )
    assert len(header) == 128
    return header + table + body


# sRGB primaries adapted to D50, as in the sRGB ICC profile.
SRGB_R = (0.4361, 0.2225, 0.0139)
SRGB_G = (0.3851, 0.7169, 0.0971)
SRGB_B = (0.1431, 0.0606, 0.7141)


def block_mean(px: np.ndarray, y: int, x: int, size: int = 16) -> np.ndarray:
    block = px[y : y + size, x : x + size, :3].reshape(-1, 3)
    return np.asarray(block.mean(axis=0), dtype=np.float64)


# --------------------------------------------------------------------------- bad inputs


def test_nonexistent_path(tmp_path: Path) -> None:
    path = tmp_path / "missing.jpg"
    with pytest.raises(InputError, match="no such file") as exc:
        load_image(path)
    assert str(path) in str(exc.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory") as exc:
        load_image(tmp_path)
    assert str(tmp_path) in str(exc.value)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.jpg", b"")
    with pytest.raises(ImageDecodeError) as exc:
        load_image(path)
    assert str(exc.value) == f"{path}: file is empty (0 bytes)"


def test_empty_bytes() -> None:
    with pytest.raises(ImageDecodeError, match=r"^upload\.png: data is empty \(0 bytes\)$"):
        load_image(b"", label="upload.png")


def test_text_file_is_not_an_image(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.jpg", b"hello, this is not a picture\n" * 20)
    with pytest.raises(ImageDecodeError) as exc:
        load_image(path)
    assert str(exc.value) == f"{path}: not an image (unrecognised format)"


def test_truncated_jpeg(tmp_path: Path) -> None:
    data = pil_bytes(Image.fromarray(noise(128, 128)), "JPEG", quality=90)
    path = write(tmp_path / "cut.jpg", data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match="image data is truncated or corrupt") as exc:
        load_image(path)
    assert str(path) in str(exc.value)


def test_truncated_png(tmp_path: Path) -> None:
    data = pil_bytes(Image.fromarray(noise(128, 128)), "PNG")
    path = write(tmp_path / "cut.png", data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match="image data is truncated or corrupt") as exc:
        load_image(path)
    assert str(path) in str(exc.value)


def test_png_cut_inside_header(tmp_path: Path) -> None:
    data = pil_bytes(Image.fromarray(noise(8, 8)), "PNG")
    path = write(tmp_path / "stub.png", data[:20])
    with pytest.raises(
        ImageDecodeError, match=r"truncated or corrupt \(unreadable PNG file\)"
    ) as exc:
        load_image(path)
    assert str(path) in str(exc.value)


def test_corrupt_png_data(tmp_path: Path) -> None:
    data = bytearray(pil_bytes(Image.fromarray(noise(64, 64)), "PNG"))
    start = data.index(b"IDAT") + 4
    data[start + 10 : start + 200] = b"\xff" * 190  # destroy the zlib stream
    path = write(tmp_path / "corrupt.png", bytes(data))
    with pytest.raises(ImageDecodeError, match="truncated or corrupt") as exc:
        load_image(path)
    assert str(path) in str(exc.value)


def test_recognised_but_refused_format(tmp_path: Path) -> None:
    path = write(tmp_path / "favicon.ico", pil_bytes(Image.new("RGB", (16, 16)), "ICO"))
    with pytest.raises(UnsupportedFormatError, match="ICO images are not supported") as exc:
        load_image(path)
    assert str(path) in str(exc.value)


def test_heic_without_decoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imageio, "_register_heif", lambda: False)
    ftyp = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic"
    path = write(tmp_path / "IMG_0001.HEIC", ftyp + b"\x00" * 100)
    with pytest.raises(UnsupportedFormatError) as exc:
        load_image(path)
    message = str(exc.value)
    assert str(path) in message
    assert "pip install 'packshot[heif]'" in message


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_errors_never_leak_raw_pil_exceptions(tmp_path: Path) -> None:
    """Random garbage with image signatures must still map onto PackshotError."""
    rng = np.random.default_rng(1)
    prefixes = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00", b""]
    for i, prefix in enumerate(prefixes):
        blob = prefix + rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
        with pytest.raises(PackshotError, match=f"blob{i}"):
            load_image(blob, label=f"blob{i}")


# --------------------------------------------------------------------------- size limit


def png_claiming(width: int, height: int) -> bytes:
    """A valid tiny PNG whose IHDR (and CRC) is patched to claim width x height."""
    data = bytearray(pil_bytes(Image.new("RGB", (1, 1)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def test_huge_dimensions_rejected_before_decoding(tmp_path: Path) -> None:
    path = write(tmp_path / "bomb.png", png_claiming(50000, 50000))
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError) as exc:
        load_image(path)
    assert time.perf_counter() - start < 2.0
    assert str(exc.value) == (
        f"{path}: 50000x50000 = 2500.0 MP exceeds the limit of 100.0 MP "
        "(set PACKSHOT_MAX_PIXELS to raise it)"
    )


def test_limit_message_format() -> None:
    with pytest.raises(ImageTooLargeError) as exc:
        load_image(png_claiming(30000, 30000), label="big.png")
    assert str(exc.value) == (
        "big.png: 30000x30000 = 900.0 MP exceeds the limit of 100.0 MP "
        "(set PACKSHOT_MAX_PIXELS to raise it)"
    )


def test_limit_from_argument_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    small = pil_bytes(Image.new("RGB", (20, 20)), "PNG")
    assert load_image(small, max_pixels=400).width == 20
    with pytest.raises(ImageTooLargeError):
        load_image(small, max_pixels=399)
    monkeypatch.setenv("PACKSHOT_MAX_PIXELS", "399")
    with pytest.raises(
        ImageTooLargeError, match=r"^<bytes>: 20x20 = 400 pixels exceeds the limit of 399 pixels "
    ):
        load_image(small)
    assert load_image(small, max_pixels=1000).width == 20  # argument beats env
    monkeypatch.setenv("PACKSHOT_MAX_PIXELS", "lots")
    with pytest.raises(InputError, match="PACKSHOT_MAX_PIXELS"):
        load_image(small)
    monkeypatch.delenv("PACKSHOT_MAX_PIXELS")
    assert DEFAULT_MAX_PIXELS == 100_000_000


def test_pil_bomb_guard_reenabled_still_gives_our_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    with pytest.raises(ImageTooLargeError, match=r"^bomb\.png: "):
        load_image(pil_bytes(Image.new("RGB", (20, 20)), "PNG"), label="bomb.png")


def test_truncated_images_are_not_tolerated_globally() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --------------------------------------------------------------------------- modes


def test_rgb_png_roundtrip_metadata(tmp_path: Path) -> None:
    px = noise(5, 7)
    img = load_image(write(tmp_path / "a.png", pil_bytes(Image.fromarray(px), "PNG")))
    assert isinstance(img, LoadedImage)
    assert img.pixels.dtype == np.uint8
    assert img.pixels.shape == (5, 7, 3)
    assert (img.width, img.height, img.has_alpha) == (7, 5, False)
    assert (img.format, img.original_mode) == ("PNG", "RGB")
    assert not img.icc_converted and not img.exif_rotated
    assert img.source == str(tmp_path / "a.png")
    np.testing.assert_array_equal(img.pixels, px)
    img.pixels[0, 0] = 0  # callers get a writable array of their own


def test_bytes_input_and_label() -> None:
    data = pil_bytes(Image.new("RGB", (3, 2), (10, 20, 30)), "PNG")
    assert load_image(data).source == "<bytes>"
    assert load_image(bytearray(data), label="https://x/y.png").source == "https://x/y.png"


def test_mpo_jpeg_reports_jpeg() -> None:
    """Phone JPEGs with extra pictures (MPO) are JPEGs to the rest of packshot."""
    first, second = Image.new("RGB", (8, 8), (250, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 250))
    data = pil_bytes(first, "MPO", save_all=True, append_images=[second])
    img = load_image(data)
    assert img.format == "JPEG"
    assert img.pixels[4, 4, 0] > 200 and img.pixels[4, 4, 2] < 50


def test_cmyk_jpeg_becomes_plausible_rgb() -> None:
    colours = [(0, 0, 0, 0), (0, 255, 255, 0), (255, 0, 255, 0), (0, 0, 0, 255)]
    expected = [(255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 0)]
    im = Image.new("CMYK", (64, 16))
    for i, c in enumerate(colours):
        im.paste(c, (16 * i, 0, 16 * i + 16, 16))
    data = pil_bytes(im, "JPEG", quality=95)
    assert b"Adobe" in data  # Pillow writes Adobe (inverted) CMYK JPEGs
    img = load_image(data)
    assert img.original_mode == "CMYK"
    assert img.pixels.shape == (16, 64, 3)
    for i, rgb in enumerate(expected):
        np.testing.assert_allclose(block_mean(img.pixels, 0, 16 * i), rgb, atol=6)


def test_16bit_grey_png_scaled_not_clipped() -> None:
    values = np.array([[0, 257, 32768, 65535, 257 * 100, 65280]], dtype=np.uint16)
    data = pil_bytes(Image.fromarray(values), "PNG")
    img = load_image(data)
    assert img.original_mode.startswith("I")
    np.testing.assert_array_equal(img.pixels[0, :, 0], [0, 1, 128, 255, 100, 254])
    np.testing.assert_array_equal(img.pixels[..., 0], img.pixels[..., 2])


def test_16bit_rgb_and_rgba_png() -> None:
    rgb = np.array([[[0, 32768, 65535], [257 * 200, 257 * 10, 0]]], dtype=np.uint16)
    img = load_image(png16(rgb, color_type=2))
    np.testing.assert_array_equal(img.pixels, [[[0, 128, 255], [200, 10, 0]]])
    rgba = np.array([[[65535, 0, 32768, 32768]]], dtype=np.uint16)
    img = load_image(png16(rgba, color_type=6))
    assert img.has_alpha
    np.testing.assert_array_equal(img.pixels, [[[255, 0, 128, 128]]])


def test_16bit_tiff_grey_and_rgb() -> None:
    grey = np.array([[0, 32768, 65535]], dtype=np.uint16)
    img = load_image(pil_bytes(Image.fromarray(grey), "TIFF"))
    assert img.format == "TIFF" and img.original_mode.startswith("I;16")
    np.testing.assert_array_equal(img.pixels[0, :, 1], [0, 128, 255])
    rgb = np.array([[[0, 32768, 65535], [65535, 65535, 65535]]], dtype=np.uint16)
    img = load_image(tiff16_rgb(rgb))
    np.testing.assert_array_equal(img.pixels, [[[0, 128, 255], [255, 255, 255]]])


def test_16bit_big_endian_mode() -> None:
    im = Image.frombytes("I;16B", (3, 1), np.array([0, 32768, 65535], ">u2").tobytes())
    img = load_image(pil_bytes(im, "TIFF"))
    np.testing.assert_array_equal(img.pixels[0, :, 0], [0, 128, 255])


def test_32bit_int_and_float_tiff() -> None:
    ints = np.array([[0, 32768, 65535]], dtype=np.int32)
    img = load_image(pil_bytes(Image.fromarray(ints), "TIFF"))
    assert img.original_mode == "I"
    np.testing.assert_array_equal(img.pixels[0, :, 0], [0, 128, 255])
    floats = np.array([[0.0, 0.5, 1.0, np.nan]], dtype=np.float32)
    img = load_image(pil_bytes(Image.fromarray(floats), "TIFF"))
    assert img.original_mode == "F"
    np.testing.assert_array_equal(img.pixels[0, :, 0], [0, 128, 255, 0])


def test_one_bit_and_greyscale() -> None:
    bits = Image.new("1", (2, 1))
    bits.putpixel((1, 0), 1)
    img = load_image(pil_bytes(bits, "PNG"))
    assert img.original_mode == "1"
    np.testing.assert_array_equal(img.pixels, [[[0, 0, 0], [255, 255, 255]]])
    img = load_image(pil_bytes(Image.new("L", (2, 2), 77), "PNG"))
    assert img.pixels.shape == (2, 2, 3) and (img.pixels == 77).all()


def test_palette_with_transparency_becomes_rgba() -> None:
    im = Image.new("P", (4, 1))
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    im.putdata([0, 1, 2, 1])
    data = pil_bytes(im, "PNG", transparency=0)
    img = load_image(data)
    assert img.original_mode == "P" and img.has_alpha
    np.testing.assert_array_equal(img.pixels[0, :, 3], [0, 255, 255, 255])
    np.testing.assert_array_equal(img.pixels[0, 1], [255, 0, 0, 255])
    np.testing.assert_array_equal(img.pixels[0, 2], [0, 0, 255, 255])
    opaque = load_image(pil_bytes(im, "PNG"))
    assert not opaque.has_alpha


def test_la_becomes_rgba() -> None:
    arr = np.array([[[10, 0], [200, 128]]], dtype=np.uint8)
    img = load_image(pil_bytes(Image.fromarray(arr, "LA"), "PNG"))
    assert img.original_mode == "LA"
    np.testing.assert_array_equal(img.pixels, [[[10, 10, 10, 0], [200, 200, 200, 128]]])
    no_alpha = load_image(pil_bytes(Image.fromarray(arr, "LA"), "PNG"), keep_alpha=False)
    np.testing.assert_array_equal(no_alpha.pixels, [[[10, 10, 10], [200, 200, 200]]])


def test_colour_key_transparency_becomes_alpha() -> None:
    grey = Image.fromarray(np.array([[0, 90]], dtype=np.uint8))
    img = load_image(pil_bytes(grey, "PNG", transparency=90))
    np.testing.assert_array_equal(img.pixels, [[[0, 0, 0, 255], [90, 90, 90, 0]]])
    rgb = Image.fromarray(np.array([[[1, 2, 3], [4, 5, 6]]], dtype=np.uint8))
    img = load_image(pil_bytes(rgb, "PNG", transparency=(4, 5, 6)))
    np.testing.assert_array_equal(img.pixels[0, :, 3], [255, 0])


def test_keep_alpha_false_just_drops_alpha() -> None:
    rgba = np.array([[[255, 0, 0, 0], [0, 255, 0, 128]]], dtype=np.uint8)
    data = pil_bytes(Image.fromarray(rgba), "PNG")
    img = load_image(data, keep_alpha=False)
    assert not img.has_alpha
    np.testing.assert_array_equal(img.pixels, rgba[..., :3])
    np.testing.assert_array_equal(load_image(data).pixels, rgba)


def test_gif_first_frame_and_transparency() -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 255, 0)]]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    img = load_image(buf.getvalue())
    assert img.format == "GIF"
    assert (img.pixels[..., :3] == [255, 0, 0]).all()

    pal = Image.new("P", (2, 1))
    pal.putpalette([0, 0, 0, 255, 255, 255] + [0] * (254 * 3))
    pal.putdata([0, 1])
    img = load_image(pil_bytes(pal, "GIF", transparency=0))
    assert img.has_alpha
    np.testing.assert_array_equal(img.pixels[0, :, 3], [0, 255])


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_avif_when_pillow_reads_it() -> None:
    data = pil_bytes(Image.new("RGB", (16, 16), (200, 100, 50)), "AVIF", quality=90)
    img = load_image(data)
    assert img.format == "AVIF"
    np.testing.assert_allclose(img.pixels.reshape(-1, 3).mean(axis=0), (200, 100, 50), atol=6)
    assert ".avif" in SUPPORTED_SUFFIXES


# --------------------------------------------------------------------------- EXIF


def oriented(display: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels a camera would write for *display* with this EXIF orientation."""
    inverse = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, k=1),  # stored = display turned 90 deg counter-clockwise
        7: lambda a: np.rot90(a, k=2).transpose(1, 0, 2),
        8: lambda a: np.rot90(a, k=-1),
    }
    return np.ascontiguousarray(inverse[orientation](display))


def marked_display() -> np.ndarray:
    """A 32x64 (portrait) white image: red block top-left, blue block top-right."""
    px = np.full((64, 32, 3), 255, dtype=np.uint8)
    px[:16, :16] = (255, 0, 0)
    px[:16, 16:] = (0, 0, 255)
    return px


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_exif_orientations_png(orientation: int) -> None:
    display = marked_display()
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = Image.fromarray(oriented(display, orientation))
    img = load_image(pil_bytes(stored, "PNG", exif=exif))
    assert img.exif_rotated is (orientation != 1)
    np.testing.assert_array_equal(img.pixels, display)


@pytest.mark.parametrize(
    ("orientation", "corner"),
    [(6, "top-right"), (8, "bottom-left"), (3, "bottom-right")],
)
def test_exif_rotated_jpeg(orientation: int, corner: str) -> None:
    """A 64x32 landscape JPEG with a red marker in its stored top-left corner."""
    stored = np.full((32, 64, 3), 255, dtype=np.uint8)
    stored[:16, :16] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    img = load_image(pil_bytes(Image.fromarray(stored), "JPEG", quality=95, exif=exif))
    assert img.exif_rotated
    h, w = img.height, img.width
    assert (w, h) == ((32, 64) if orientation in (6, 8) else (64, 32))
    corners = {
        "top-left": (0, 0),
        "top-right": (0, w - 16),
        "bottom-left": (h - 16, 0),
        "bottom-right": (h - 16, w - 16),
    }
    for name, (y, x) in corners.items():
        want = (255, 0, 0) if name == corner else (255, 255, 255)
        np.testing.assert_allclose(block_mean(img.pixels, y, x), want, atol=8, err_msg=name)


def test_broken_exif_is_ignored() -> None:
    data = pil_bytes(Image.new("RGB", (4, 2), (1, 2, 3)), "JPEG", exif=b"Exif\x00\x00garbage!")
    img = load_image(data)
    assert img.pixels.shape == (2, 4, 3) and not img.exif_rotated


# --------------------------------------------------------------------------- ICC


def test_icc_profile_converted_to_srgb() -> None:
    """A profile with red and blue primaries swapped: stored red must come out blue."""
    swapped = rgb_icc_profile(red=SRGB_B, green=SRGB_G, blue=SRGB_R)
    px = np.zeros((16, 48, 3), dtype=np.uint8)
    px[:, :16] = (255, 0, 0)
    px[:, 16:32] = (0, 255, 0)
    px[:, 32:] = (255, 255, 255)
    img = load_image(pil_bytes(Image.fromarray(px), "PNG", icc_profile=swapped))
    assert img.icc_converted
    np.testing.assert_allclose(img.pixels[8, 8], (0, 0, 255), atol=3)
    np.testing.assert_allclose(img.pixels[8, 24], (0, 255, 0), atol=3)
    np.testing.assert_allclose(img.pixels[8, 40], (255, 255, 255), atol=3)


def test_icc_in_jpeg_with_alpha_free_and_rgba_png() -> None:
    swapped = rgb_icc_profile(red=SRGB_B, green=SRGB_G, blue=SRGB_R)
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 100
    img = load_image(pil_bytes(Image.fromarray(rgba), "PNG", icc_profile=swapped))
    assert img.icc_converted and img.has_alpha
    np.testing.assert_allclose(img.pixels[0, 0], (0, 0, 255, 100), atol=3)
    jpeg = pil_bytes(Image.fromarray(rgba[..., :3]), "JPEG", quality=95, icc_profile=swapped)
    np.testing.assert_allclose(load_image(jpeg).pixels[8, 8], (0, 0, 255), atol=4)


def test_embedded_srgb_profile_leaves_values() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    px = noise(16, 16, seed=3)
    img = load_image(pil_bytes(Image.fromarray(px), "PNG", icc_profile=srgb))
    assert img.icc_converted
    assert np.abs(img.pixels.astype(int) - px).max() <= 1


def test_broken_icc_profile_is_skipped() -> None:
    px = noise(8, 8, seed=4)
    for fmt in ("PNG", "JPEG"):
        data = pil_bytes(Image.fromarray(px), fmt, icc_profile=b"not a profile at all" * 10)
        img = load_image(data)
        assert not img.icc_converted
        assert img.pixels.shape == (8, 8, 3)


def test_icc_profile_for_wrong_colour_space_is_skipped() -> None:
    rgb_profile = rgb_icc_profile(red=SRGB_R, green=SRGB_G, blue=SRGB_B)
    img = load_image(pil_bytes(Image.new("L", (4, 4), 90), "PNG", icc_profile=rgb_profile))
    assert not img.icc_converted
    assert (img.pixels == 90).all()


# --------------------------------------------------------------------------- saving


def test_pure_white_jpeg_stays_exact(tmp_path: Path) -> None:
    white = np.full((64, 64, 3), 255, dtype=np.uint8)
    out = save_image(white, tmp_path / "white.jpg", quality=95)
    assert (load_image(out).pixels == 255).all()


def test_white_background_around_dark_product_stays_exact() -> None:
    px = np.full((64, 64, 3), 255, dtype=np.uint8)
    px[16:32, 16:32] = (20, 30, 40)
    decoded = load_image(encode_image(px, "JPEG", quality=95)).pixels
    assert (decoded[40:, :] == 255).all()  # 8x8 blocks without an edge are exact
    assert (decoded[:, 40:] == 255).all()
    black = np.zeros((16, 16, 3), dtype=np.uint8)
    assert (load_image(encode_image(black, "JPEG")).pixels == 0).all()


@pytest.mark.parametrize(
    ("suffix", "fmt"),
    [(".png", "PNG"), (".bmp", "BMP"), (".tif", "TIFF"), (".tiff", "TIFF"), (".webp", "WEBP")],
)
def test_lossless_roundtrips(tmp_path: Path, suffix: str, fmt: str) -> None:
    px = noise(12, 10, seed=5)
    path = save_image(px, tmp_path / f"out{suffix}", quality=100)
    assert path == tmp_path / f"out{suffix}"
    img = load_image(path)
    assert img.format == fmt
    np.testing.assert_array_equal(img.pixels, px)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_rgba_roundtrips(fmt: str) -> None:
    px = noise(9, 11, c=4, seed=6)
    img = load_image(encode_image(px, fmt, quality=100))
    np.testing.assert_array_equal(img.pixels, px)


def test_lossy_webp_and_jpeg_close() -> None:
    px = np.full((32, 32, 3), (180, 90, 40), dtype=np.uint8)
    for fmt in ("WEBP", "JPEG", "jpg"):
        decoded = load_image(encode_image(px, fmt, quality=80)).pixels
        assert np.abs(decoded.astype(int) - px).max() <= 8


def test_gif_save() -> None:
    px = np.zeros((8, 8, 3), dtype=np.uint8)
    px[:, 4:] = (255, 255, 255)
    np.testing.assert_array_equal(load_image(encode_image(px, "GIF")).pixels, px)


def test_rgba_to_jpeg_needs_background(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    path = tmp_path / "x.jpg"
    with pytest.raises(InputError, match="JPEG has no alpha") as exc:
        save_image(rgba, path)
    assert str(path) in str(exc.value)
    assert not path.exists()
    with pytest.raises(InputError, match="BMP has no alpha"):
        encode_image(rgba, "BMP")


def test_rgba_composited_over_background() -> None:
    rgba = np.array([[[0, 0, 0, 0], [0, 0, 0, 255], [255, 0, 0, 128]]], dtype=np.uint8)
    img = load_image(encode_image(rgba, "BMP", background=(255, 255, 255)))
    np.testing.assert_array_equal(img.pixels, [[[255, 255, 255], [0, 0, 0], [255, 127, 127]]])
    jpeg = load_image(encode_image(np.zeros((8, 8, 4), np.uint8), "JPEG", background=(255,) * 3))
    assert (jpeg.pixels == 255).all()


def test_grey_2d_arrays_are_saved_as_l(tmp_path: Path) -> None:
    mask = np.array([[0, 128], [200, 255]], dtype=np.uint8)
    path = save_image(mask, tmp_path / "mask.png")
    with Image.open(path) as im:
        assert im.mode == "L"
    img = load_image(path)
    np.testing.assert_array_equal(img.pixels[..., 0], mask)
    assert load_image(encode_image(mask[..., None], "TIFF")).pixels.shape == (2, 2, 3)


def test_encode_is_deterministic() -> None:
    px = noise(40, 30, seed=7)
    rgba = noise(40, 30, c=4, seed=8)
    for fmt in ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF"):
        assert encode_image(px, fmt) == encode_image(px.copy(), fmt), fmt
    for fmt in ("PNG", "WEBP", "TIFF"):
        assert encode_image(rgba, fmt, quality=100) == encode_image(rgba.copy(), fmt, quality=100)
    png = encode_image(px, "PNG")
    assert b"tIME" not in png and b"iCCP" not in png
    assert b"ICC_PROFILE" not in encode_image(px, "JPEG")


def test_jpeg_quality_controls_subsampling() -> None:
    px = noise(16, 16, seed=9)
    with Image.open(io.BytesIO(encode_image(px, "JPEG", quality=95))) as im:
        assert JpegImagePlugin.get_sampling(im) == 0  # 4:4:4
    with Image.open(io.BytesIO(encode_image(px, "JPEG", quality=80))) as im:
        assert JpegImagePlugin.get_sampling(im) == 2  # 4:2:0


def test_save_format_override_and_bad_suffix(tmp_path: Path) -> None:
    px = noise(4, 4)
    path = save_image(px, tmp_path / "out.bin", format="png")
    assert load_image(path).format == "PNG"
    with pytest.raises(InputError, match=r"out\.xyz.*suffix"):
        save_image(px, tmp_path / "out.xyz")
    with pytest.raises(InputError, match="cannot save as"):
        encode_image(px, "PSD")


def test_save_is_atomic_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "dir" / "out.png"
    save_image(np.zeros((4, 4, 3), np.uint8), target)
    save_image(np.full((4, 4, 3), 9, np.uint8), target)
    assert (load_image(target).pixels == 9).all()
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.png"]
    if os.name == "posix":
        umask = os.umask(0)
        os.umask(umask)
        assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_into_unwritable_place_is_packshot_error(tmp_path: Path) -> None:
    blocker = write(tmp_path / "file", b"x")
    with pytest.raises(PackshotError, match="cannot write"):
        save_image(np.zeros((2, 2, 3), np.uint8), blocker / "out.png")


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((4, 4, 3), np.float32), "uint8"),
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
    ],
)
def test_bad_pixel_arrays(pixels: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message):
        encode_image(pixels, "PNG")


def test_bad_quality_and_background() -> None:
    px = np.zeros((2, 2, 4), np.uint8)
    with pytest.raises(InputError, match="quality"):
        encode_image(px, "PNG", quality=0)
    with pytest.raises(InputError, match="background"):
        encode_image(px, "JPEG", background=(0, 0, 300))


# --------------------------------------------------------------------------- folders


def test_iter_image_files(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for rel in [
        "b.jpg",
        "a.PNG",
        "notes.txt",
        ".hidden.jpg",
        "._a.jpg",
        ".git/c.jpg",
        "sub/d.webp",
        "sub/deeper/e.tiff",
        "sub/.DS_Store",
    ]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    explicit = root / "notes.txt"
    found = iter_image_files([explicit, root, str(root / "b.jpg")])
    assert found == [
        explicit,
        root / "a.PNG",
        root / "b.jpg",
        root / "sub" / "d.webp",
        root / "sub" / "deeper" / "e.tiff",
    ]
    assert iter_image_files(str(root / "sub")) == [
        root / "sub" / "d.webp",
        root / "sub" / "deeper" / "e.tiff",
    ]
    hidden = root / ".hidden.jpg"
    assert iter_image_files([hidden]) == [hidden]  # explicit files are kept as given


def test_iter_image_files_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(InputError, match="no such file") as exc:
        iter_image_files([tmp_path, missing])
    assert str(missing) in str(exc.value)


def test_supported_suffixes() -> None:
    assert {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"} <= (
        SUPPORTED_SUFFIXES
    )
    assert all(s == s.lower() and s.startswith(".") for s in SUPPORTED_SUFFIXES)
    if not imageio._heif_importable():
        assert ".heic" not in SUPPORTED_SUFFIXES
