"""Background colour fix: exact colour by construction, and still exact after encoding.

Purity is checked the way a marketplace sees it: the composed image is encoded with
packshot's own encoder, decoded with its own loader, and every pixel outside the product
(and outside the shadow's declared box) must be exactly the colour.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from packshot.errors import InputError
from packshot.imageio import encode_image, load_image
from packshot.ops.compose import (
    ContactShadow,
    ShadowParams,
    compose_on_color,
    contact_shadow,
    shadow_mask,
)
from packshot.ops.matte import composite_on_color

Image = npt.NDArray[np.uint8]
WHITE = (255, 255, 255)
GARBAGE = (255, 0, 255)  # colour under fully transparent pixels: must never show


def cutout(kind: str, height: int, width: int, *, offset: tuple[int, int] = (0, 0)) -> Image:
    """A synthetic RGBA cutout with anti-aliased edges (drawn 4x larger, area-reduced), a
    shaded product colour and garbage under alpha 0."""
    s = 4
    mask = np.zeros((height * s, width * s), dtype=np.uint8)
    dy, dx = offset[0] * s, offset[1] * s
    h, w = height * s, width * s
    if kind == "disc":
        cv2.circle(mask, (w // 2 + dx, h // 2 + dy), int(0.3 * min(h, w)), 255, -1)
    elif kind == "bottle":
        cx = w // 2 + dx
        bw, top, bottom = int(0.12 * w), int(0.15 * h) + dy, int(0.85 * h) + dy
        cv2.rectangle(mask, (cx - bw, top + int(0.2 * h)), (cx + bw, bottom), 255, -1)
        cv2.ellipse(mask, (cx, top + int(0.2 * h)), (bw, int(0.08 * h)), 0, 180, 360, 255, -1)
        cv2.rectangle(mask, (cx - bw // 3, top), (cx + bw // 3, top + int(0.15 * h)), 255, -1)
    elif kind == "shoe":
        sole = np.array([[0.15, 0.62], [0.85, 0.62], [0.88, 0.70], [0.12, 0.70]], dtype=np.float64)
        upper = np.array(
            [[0.15, 0.62], [0.20, 0.40], [0.40, 0.35], [0.55, 0.50], [0.85, 0.55], [0.85, 0.62]]
        )
        for poly in (sole, upper):
            pts = np.rint(poly * [w, h] + [dx, dy]).astype(np.int32)
            cv2.fillPoly(mask, [pts], 255)
    else:
        raise ValueError(kind)
    alpha = cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.dstack(
        [
            (40 + 150 * xx / max(1, width - 1)).astype(np.uint8),
            (90 + 100 * yy / max(1, height - 1)).astype(np.uint8),
            np.full((height, width), 160, dtype=np.uint8),
        ]
    )
    rgb[alpha == 0] = GARBAGE
    return np.dstack([rgb, alpha])


def jpeg_exempt(alpha_or_region: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The 8x8 JPEG blocks (4:4:4) that contain any pixel of the region: the only places
    where the DCT can put ringing. Every other block is flat colour and decodes exactly."""
    h, w = alpha_or_region.shape
    ph, pw = -h % 8, -w % 8
    padded = np.pad(alpha_or_region, ((0, ph), (0, pw)))
    blocks = padded.reshape((h + ph) // 8, 8, (w + pw) // 8, 8).any(axis=(1, 3))
    full = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)
    out: npt.NDArray[np.bool_] = full[:h, :w]
    return out


def roundtrip(rgb: Image, fmt: str, quality: int) -> Image:
    return load_image(encode_image(rgb, fmt, quality=quality)).pixels


# ----------------------------------------------------------------------- construction


@pytest.mark.parametrize("kind", ["disc", "bottle", "shoe"])
@pytest.mark.parametrize("color", [WHITE, (0, 0, 0), (12, 200, 99)])
def test_transparent_pixels_are_exactly_the_colour(kind: str, color: tuple[int, int, int]) -> None:
    rgba = cutout(kind, 203, 317, offset=(3, -5))
    out = compose_on_color(rgba, color)
    assert out.dtype == np.uint8
    assert out.shape == (203, 317, 3)
    alpha = rgba[..., 3]
    assert (out[alpha == 0] == color).all()
    assert (out[alpha == 255] == rgba[..., :3][alpha == 255]).all()
    # Same arithmetic as the matte module's compositor, bit for bit.
    assert np.array_equal(out, composite_on_color(rgba, color))


def test_edges_use_the_cutouts_own_colour() -> None:
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., :3] = GARBAGE
    rgba[1, 1] = (200, 20, 20, 128)  # a decontaminated red edge pixel, half transparent
    out = compose_on_color(rgba, WHITE)
    assert tuple(out[1, 1]) == (227, 137, 137)  # red over white, no trace of magenta
    assert (out[0] == 255).all()


def test_no_product_gives_a_flat_canvas() -> None:
    rgba = np.zeros((10, 12, 4), dtype=np.uint8)
    assert (compose_on_color(rgba, (1, 2, 3)) == (1, 2, 3)).all()
    assert (compose_on_color(rgba, WHITE, shadow=ShadowParams()) == 255).all()
    assert not shadow_mask(rgba[..., 3], ShadowParams()).any()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((4, 4, 3), dtype=np.uint8), "HxWx4"),
        (np.zeros((4, 4, 4), dtype=np.float32), "uint8"),
        (np.zeros((0, 4, 4), dtype=np.uint8), "HxWx4"),
    ],
)
def test_bad_cutouts_are_refused(bad: Image, message: str) -> None:
    with pytest.raises(InputError, match=message):
        compose_on_color(bad)


@pytest.mark.parametrize("color", [(256, 0, 0), (1, 2), (1.0, 2, 3), (True, 0, 0)])
def test_bad_colours_are_refused(color: tuple[int, int, int]) -> None:
    with pytest.raises(InputError, match="colour"):
        compose_on_color(np.zeros((2, 2, 4), dtype=np.uint8), color)


@pytest.mark.parametrize(
    "params",
    [
        {"opacity": 1.5},
        {"opacity": -0.1},
        {"softness": -1.0},
        {"height": 0.0},
        {"base": 0.0},
        {"offset": float("nan")},
    ],
)
def test_bad_shadow_parameters_are_refused(params: dict[str, float]) -> None:
    with pytest.raises(InputError, match="shadow"):
        ShadowParams(**params)


# ----------------------------------------------------------------------- shadow


@pytest.mark.parametrize("kind", ["disc", "bottle", "shoe"])
def test_shadow_darkens_only_background_inside_its_box(kind: str) -> None:
    rgba = cutout(kind, 300, 400)
    alpha = rgba[..., 3]
    plain = compose_on_color(rgba, WHITE)
    params = ShadowParams(opacity=0.3)
    shaded = compose_on_color(rgba, WHITE, shadow=params)
    layer = contact_shadow(alpha, params)
    assert isinstance(layer, ContactShadow)
    # The product itself is never darkened.
    assert np.array_equal(shaded[alpha == 255], plain[alpha == 255])
    # The shadow is visible, and only ever darkens.
    assert (shaded < plain).any()
    assert (shaded <= plain).all()
    changed = (shaded != plain).any(axis=-1)
    in_box = np.zeros_like(changed)
    in_box[layer.box.slices] = True
    assert changed.any()
    assert not (changed & ~in_box).any(), "the shadow leaked out of its declared box"
    assert not (changed & ~shadow_mask(alpha, params) & (alpha == 0)).any()
    # Darkest background pixel: about the requested opacity, under the base.
    background = alpha == 0
    darkest = int(shaded[background].min())
    assert 255 * (1 - 0.3) - 2 <= darkest < 250
    product_rows = np.flatnonzero(alpha.any(axis=1))
    middle = (int(product_rows[0]) + int(product_rows[-1])) / 2
    assert np.flatnonzero(changed.any(axis=1)).min() > middle  # under the base, not above


def test_shadow_accepts_a_precomputed_layer() -> None:
    rgba = cutout("bottle", 240, 180)
    params = ShadowParams()
    layer = contact_shadow(rgba[..., 3], params)
    assert layer is not None
    assert np.array_equal(
        compose_on_color(rgba, shadow=layer), compose_on_color(rgba, shadow=params)
    )
    assert contact_shadow(rgba[..., 3], ShadowParams(opacity=0.0)) is None


def test_shadow_follows_every_grounded_part() -> None:
    """Two feet at different heights (a chair or car wheels in perspective) each get a
    shadow; a part hanging high above the ground (the seat between them) does not."""
    alpha = np.zeros((200, 300), dtype=np.uint8)
    alpha[40:100, 50:250] = 255  # seat
    alpha[100:180, 50:70] = 255  # near leg, reaches the ground at row 179
    alpha[100:165, 230:250] = 255  # far leg, 15 px higher (perspective)
    rgba = np.dstack([np.full((200, 300, 3), 90, dtype=np.uint8), alpha])
    shaded = compose_on_color(rgba, WHITE, shadow=ShadowParams(softness=0.01, base=0.3))
    assert shaded[181:186, 55:65].max() < 255  # under the near leg
    assert shaded[166:171, 235:245].max() < 255  # under the far leg
    assert (shaded[101:110, 120:180] == 255).all()  # nothing under the seat's middle


# ----------------------------------------------------------------------- after encoding


@pytest.mark.parametrize("kind", ["disc", "bottle", "shoe"])
@pytest.mark.parametrize(
    ("fmt", "quality"), [("JPEG", 90), ("JPEG", 95), ("PNG", 95), ("WEBP", 100)]
)
@pytest.mark.parametrize("shadow", [None, ShadowParams()], ids=["plain", "shadow"])
def test_background_is_exactly_white_after_decoding(
    kind: str, fmt: str, quality: int, shadow: ShadowParams | None
) -> None:
    # Odd size and offset: the product straddles 8x8 block boundaries.
    rgba = cutout(kind, 389, 517, offset=(-7, 11))
    alpha = rgba[..., 3]
    rgb = compose_on_color(rgba, WHITE, shadow=shadow)
    decoded = roundtrip(rgb, fmt, quality)
    assert decoded.shape == rgb.shape
    exempt = alpha > 0
    if shadow is not None:
        exempt |= shadow_mask(alpha, shadow)
    if fmt == "JPEG":
        exempt = jpeg_exempt(exempt)  # ringing stays inside the blocks it starts in
    else:
        assert np.array_equal(decoded, rgb)  # lossless: the exact composite comes back
    impure = (decoded != 255).any(axis=-1) & ~exempt
    assert not impure.any(), f"{int(impure.sum())} non-white background pixels after {fmt}"
    assert (decoded[~exempt] == 255).all()


@pytest.mark.parametrize("quality", [90, 95])
def test_jpeg_white_blocks_are_exact_and_ringing_is_confined(quality: int) -> None:
    """Quantified: at 4:4:4 (quality >= 90) only the blocks the product touches differ."""
    rgba = cutout("shoe", 400, 640, offset=(5, 3))
    rgb = compose_on_color(rgba, WHITE)
    decoded = roundtrip(rgb, "JPEG", quality)
    alpha = rgba[..., 3]
    off = (decoded != 255).any(axis=-1) & (alpha == 0)
    assert off.any(), "expected some ringing next to the edge (else the test proves little)"
    distance = cv2.distanceTransform((alpha == 0).astype(np.uint8), cv2.DIST_C, 3)
    assert float(distance[off].max()) <= 8.0
    assert not (off & ~jpeg_exempt(alpha > 0)).any()


def test_output_is_deterministic() -> None:
    rgba = cutout("bottle", 300, 200)
    first = compose_on_color(rgba, WHITE, shadow=ShadowParams())
    second = compose_on_color(rgba.copy(), WHITE, shadow=ShadowParams())
    assert np.array_equal(first, second)
    for fmt, quality in (("JPEG", 95), ("PNG", 95), ("WEBP", 100)):
        assert encode_image(first, fmt, quality=quality) == encode_image(
            second, fmt, quality=quality
        )
