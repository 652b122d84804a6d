"""imageio.encode_within (file-size budgets) and exact_colors (4:4:4 JPEG at any quality)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from packshot.errors import InputError
from packshot.imageio import QUALITY_FLOOR, encode_image, encode_within, load_image

Pixels = npt.NDArray[np.uint8]


def _photo(h: int = 256, w: int = 320, seed: int = 0) -> Pixels:
    """Smooth gradients plus texture: compresses like a photo, not like noise or flat."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx / w * 200, yy / h * 180, (xx + yy) / (w + h) * 220], axis=-1)
    tex = rng.normal(0, 12, (h // 4, w // 4, 3)).repeat(4, 0).repeat(4, 1)
    return np.clip(base + tex + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)


def _product_on_white(h: int = 200, w: int = 200) -> Pixels:
    """A saturated red disc with a detailed rim on pure white."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.full((h, w, 3), 255, np.uint8)
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (h * 0.3) ** 2
    img[disc] = (200, 20, 30)
    stripes = disc & ((xx // 3) % 2 == 0)
    img[stripes] = (30, 40, 200)
    return img


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
def test_no_budget_is_encode_image(fmt: str) -> None:
    px = _photo()
    data, q = encode_within(px, fmt, quality=92, max_bytes=None)
    assert q == 92
    assert data == encode_image(px, fmt, quality=92)
    data2, q2 = encode_within(px, fmt, quality=92, max_bytes=len(data))
    assert (data2, q2) == (data, 92)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_lowers_quality_to_fit(fmt: str) -> None:
    px = _photo()
    sizes = {q: len(encode_image(px, fmt, quality=q)) for q in (95, 90, 85, 80, 75, 70)}
    budget = sizes[80] + 1
    assert sizes[85] > budget  # the test image must need a few steps
    data, q = encode_within(px, fmt, quality=95, max_bytes=budget)
    assert q == 80
    assert len(data) <= budget
    assert data == encode_image(px, fmt, quality=80)
    assert load_image(data).pixels.shape == px.shape


def test_steps_reach_the_floor_exactly() -> None:
    px = _photo()
    floor_size = len(encode_image(px, "JPEG", quality=QUALITY_FLOOR))
    data, q = encode_within(px, "JPEG", quality=93, max_bytes=floor_size)
    assert q == QUALITY_FLOOR == 70
    assert len(data) == floor_size


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_over_budget_at_the_floor_raises_with_the_size(fmt: str) -> None:
    px = _photo()
    floor_size = len(encode_image(px, fmt, quality=QUALITY_FLOOR))
    with pytest.raises(InputError) as info:
        encode_within(px, fmt, quality=95, max_bytes=floor_size - 1)
    message = str(info.value)
    assert f"({floor_size} bytes)" in message
    assert "quality 70" in message and fmt in message


def test_webp_lossless_steps_down_to_lossy() -> None:
    px = _photo()
    lossless = len(encode_image(px, "WEBP", quality=100))
    lossy95 = len(encode_image(px, "WEBP", quality=95))
    assert lossy95 < lossless
    data, q = encode_within(px, "WEBP", quality=100, max_bytes=lossy95)
    assert q == 95 and len(data) == lossy95


def test_png_tries_harder_compression_then_raises() -> None:
    px = _product_on_white(400, 400)
    default = len(encode_image(px, "PNG"))
    data, q = encode_within(px, "PNG", quality=95, max_bytes=default - 1)
    assert len(data) < default and q == 95
    assert np.array_equal(load_image(data).pixels, px)  # still lossless
    with pytest.raises(InputError, match=r"PNG within .*the smallest reached is"):
        encode_within(px, "PNG", quality=95, max_bytes=1000)


def test_formats_without_a_knob_raise() -> None:
    with pytest.raises(InputError, match="BMP"):
        encode_within(_photo(), "BMP", quality=95, max_bytes=100)


@pytest.mark.parametrize("bad", [0, -5, True, 1.5])
def test_bad_budget(bad: object) -> None:
    with pytest.raises(InputError, match="max_bytes"):
        encode_within(_photo(), "JPEG", quality=90, max_bytes=bad)  # type: ignore[arg-type]


def test_bad_quality() -> None:
    with pytest.raises(InputError, match="quality"):
        encode_within(_photo(), "JPEG", quality=0, max_bytes=None)


def _subsampling(data: bytes) -> tuple[int, ...]:
    with Image.open(io.BytesIO(data)) as im:
        layers = getattr(im, "layer", [])
        return tuple(h * 10 + v for _, h, v, _ in layers)


def test_exact_colors_keeps_444_below_90() -> None:
    px = _product_on_white()
    default = encode_image(px, "JPEG", quality=80)
    exact = encode_image(px, "JPEG", quality=80, exact_colors=True)
    assert _subsampling(default) == (22, 11, 11)  # today's behaviour: 4:2:0 below 90
    assert _subsampling(exact) == (11, 11, 11)
    assert _subsampling(encode_image(px, "JPEG", quality=95)) == (11, 11, 11)


def test_exact_colors_keep_white_pure_within_a_budget() -> None:
    """At 4:4:4 JPEG damage stays inside the edge's own 8x8 blocks, as at quality 95; at
    4:2:0 chroma smears white over 16x16 blocks, further from the product."""
    px = _product_on_white()
    white = np.all(px == 255, axis=-1)
    far = cv2.distanceTransform(white.astype(np.uint8), cv2.DIST_L2, 3) >= 11
    budget = len(encode_image(px, "JPEG", quality=80, exact_colors=True))
    data, q = encode_within(px, "JPEG", quality=95, max_bytes=budget, exact_colors=True)
    assert q <= 80
    assert _subsampling(data) == (11, 11, 11)
    decoded = load_image(data).pixels
    assert np.all(decoded[far] == 255)
    # Without exact_colors the same quality subsamples chroma and tints white further out.
    sub = load_image(encode_image(px, "JPEG", quality=q)).pixels
    assert not np.all(sub[far] == 255)


def test_rgba_needs_a_background_for_jpeg() -> None:
    rgba = np.dstack([_photo(64, 64), np.full((64, 64), 128, np.uint8)])
    with pytest.raises(InputError, match="background"):
        encode_within(rgba, "JPEG", quality=90, max_bytes=10**6)
    data, _ = encode_within(rgba, "JPEG", quality=90, max_bytes=10**6, background=(255, 255, 255))
    assert load_image(data).pixels.shape == (64, 64, 3)
