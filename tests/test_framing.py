"""Frame fill and placement: measured fill, margins, anchoring, never cropping."""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from packshot.errors import InputError
from packshot.imageio import encode_image, load_image
from packshot.ops.compose import ShadowParams, shadow_mask
from packshot.ops.framing import (
    EXTENT_THRESHOLD,
    Box,
    fill_metrics,
    place_on_canvas,
    product_extent,
)
from packshot.samples import sample_path

Image = npt.NDArray[np.uint8]

CANVASES = {"1:1": (1000, 1000), "4:3": (1200, 900), "9:16": (720, 1280), "21:9": (1260, 540)}


def cutout(
    kind: str, height: int, width: int, color: tuple[int, int, int] = (70, 120, 160)
) -> Image:
    """A synthetic anti-aliased RGBA cutout: a disc, a tall bottle or a wide shoe. Fully
    transparent pixels carry black, which must never bleed into the edges."""
    s = 4
    h, w = height * s, width * s
    mask = np.zeros((h, w), dtype=np.uint8)
    if kind == "disc":
        cv2.circle(mask, (w // 2, h // 2), int(0.4 * min(h, w)), 255, -1)
    elif kind == "bottle":  # about 1 : 3.5, off-centre in its frame
        cx, bw = int(0.4 * w), int(0.1 * w)
        cv2.rectangle(mask, (cx - bw, int(0.3 * h)), (cx + bw, int(0.95 * h)), 255, -1)
        cv2.ellipse(mask, (cx, int(0.3 * h)), (bw, int(0.07 * h)), 0, 180, 360, 255, -1)
        cv2.rectangle(mask, (cx - bw // 3, int(0.1 * h)), (cx + bw // 3, int(0.3 * h)), 255, -1)
    elif kind == "shoe":  # about 3 : 1
        pts = np.array(
            [
                [0.05, 0.7],
                [0.15, 0.45],
                [0.45, 0.4],
                [0.6, 0.55],
                [0.97, 0.6],
                [0.97, 0.75],
                [0.05, 0.75],
            ]
        )
        cv2.fillPoly(mask, [np.rint(pts * [w, h]).astype(np.int32)], 255)
    else:
        raise ValueError(kind)
    alpha = cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA)
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    rgb[alpha > 0] = color
    return np.dstack([rgb, alpha])


SHAPES = {
    "disc": cutout("disc", 300, 300),
    "bottle": cutout("bottle", 420, 300),
    "shoe": cutout("shoe", 260, 500),
}


# ----------------------------------------------------------------------- extent and metrics


def test_product_extent_uint8_and_float() -> None:
    alpha = np.zeros((50, 80), dtype=np.uint8)
    alpha[10:20, 30:45] = 255
    alpha[25, 5] = 20  # faint: below the default threshold (0.1 = 25.5 / 255)
    assert product_extent(alpha) == Box(30, 10, 45, 20)
    assert product_extent(alpha.astype(np.float32) / 255) == Box(30, 10, 45, 20)
    assert product_extent(alpha, threshold=0.0) == Box(5, 10, 45, 26)
    box = product_extent(alpha)
    assert (box.width, box.height) == (15, 10)
    assert alpha[box.slices].min() == 255


@pytest.mark.parametrize(
    "alpha", [np.zeros((5, 5), np.uint8), np.full((5, 5), 0.05, np.float32)], ids=["0", "faint"]
)
def test_empty_alpha_is_an_input_error(alpha: npt.NDArray[np.generic]) -> None:
    with pytest.raises(InputError, match="no product found in the cutout"):
        product_extent(alpha)  # type: ignore[arg-type]


def test_product_extent_rejects_bad_arrays() -> None:
    with pytest.raises(InputError, match="HxW"):
        product_extent(np.zeros((4, 4, 4), dtype=np.uint8))
    with pytest.raises(InputError, match="uint8"):
        product_extent(np.zeros((4, 4), dtype=np.int32))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="threshold"):
        product_extent(np.ones((4, 4), dtype=np.uint8), threshold=1.0)


def test_fill_metrics_definitions() -> None:
    alpha = np.zeros((200, 400), dtype=np.uint8)
    alpha[50:150, 100:180] = 255  # 80 x 100 box
    alpha[50:150, 180] = 51  # 0.2 alpha column: product (above 0.1), counts 0.2 per pixel
    m = fill_metrics(alpha, 400, 200)
    assert m.width_share == pytest.approx(81 / 400)
    assert m.height_share == pytest.approx(100 / 200)
    assert m.bbox_long_share == pytest.approx(0.5)  # the tighter axis is the height
    assert m.area_share == pytest.approx((80 * 100 + 100 * 0.2) / (400 * 200))


def test_fill_metrics_rejects_bad_canvas() -> None:
    alpha = np.ones((4, 4), dtype=np.uint8)
    for w, h in ((0, 4), (4, -1), (4.0, 4), (True, 4)):
        with pytest.raises(InputError, match="canvas"):
            fill_metrics(alpha, w, h)  # type: ignore[arg-type]


# ----------------------------------------------------------------------- placement


def measured_fill(rgba: Image, canvas_w: int, canvas_h: int) -> float:
    """Fill measured independently from the placed layer's alpha."""
    mask = rgba[..., 3] > EXTENT_THRESHOLD * 255
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return max((cols[-1] - cols[0] + 1) / canvas_w, (rows[-1] - rows[0] + 1) / canvas_h)


def assert_uncut(source: Image, placed: Image) -> None:
    """Nothing of the product was cut: its whole alpha mass is there, scaled."""
    src_box = product_extent(source[..., 3], 0.0)
    out_box = product_extent(placed[..., 3], 0.0)
    sx, sy = out_box.width / src_box.width, out_box.height / src_box.height
    expected = float(source[..., 3].sum(dtype=np.int64)) * sx * sy
    assert float(placed[..., 3].sum(dtype=np.int64)) == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("aspect", list(CANVASES))
@pytest.mark.parametrize("fill", [0.70, 0.84, 0.86, 0.95])
def test_fill_is_reached_on_every_aspect(shape: str, aspect: str, fill: float) -> None:
    rgba = SHAPES[shape]
    cw, ch = CANVASES[aspect]
    p = place_on_canvas(rgba, cw, ch, fill=fill)
    assert p.rgb.shape == (ch, cw, 3)
    assert p.rgba.shape == (ch, cw, 4)
    got = measured_fill(p.rgba, cw, ch)
    assert got == pytest.approx(p.fill.bbox_long_share)
    tight_side = cw if p.fill.width_share >= p.fill.height_share else ch
    assert got >= fill - 0.5 / tight_side  # the gate: never short by more than rounding
    assert got >= fill  # and in fact the target is ceil(fill * side) pixels
    assert got <= fill + 2.0 / tight_side  # without overshooting
    assert not p.clamped
    assert p.requested_fill == fill
    assert p.box == product_extent(p.rgba[..., 3])
    # Centred: the product's box is equally far from opposite edges (within a pixel).
    assert abs(p.box.x0 - (cw - p.box.x1)) <= 1
    assert abs(p.box.y0 - (ch - p.box.y1)) <= 1
    assert_uncut(rgba, p.rgba)
    # Pure colour everywhere the product is not.
    assert (p.rgb[p.rgba[..., 3] == 0] == 255).all()


@pytest.mark.parametrize("aspect", list(CANVASES))
@pytest.mark.parametrize("anchor", ["center", "bottom"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_margin_keeps_the_product_off_the_edges(shape: str, anchor: str, aspect: str) -> None:
    cw, ch = CANVASES[aspect]
    margin = 0.05
    p = place_on_canvas(SHAPES[shape], cw, ch, fill=0.88, margin=margin, anchor=anchor)
    box = product_extent(p.rgba[..., 3], 0.0)  # every visible pixel, however faint
    gap_x, gap_y = math.ceil(margin * cw), math.ceil(margin * ch)
    assert box.x0 >= gap_x and cw - box.x1 >= gap_x
    assert box.y0 >= gap_y and ch - box.y1 >= gap_y
    assert p.fill.bbox_long_share >= 0.88
    assert not p.clamped
    if anchor == "bottom":
        # Stands on the bottom margin (the faint rim below the visible edge may hold it
        # up by a pixel, never push it into the margin).
        assert ch - gap_y - 2 <= p.box.y1 <= box.y1 == ch - gap_y
    assert_uncut(SHAPES[shape], p.rgba)


def test_fill_at_the_margin_limit_is_clamped_by_the_anti_aliased_edge() -> None:
    """fill + 2 * margin == 1: the visible disc would touch the margins exactly, so its
    faint anti-aliased rim (alpha <= 0.1) has no room; the fill is reduced a little and
    the placement says so, instead of cutting the rim."""
    p = place_on_canvas(SHAPES["disc"], 1000, 1000, fill=0.9, margin=0.05)
    assert p.clamped
    assert 0.895 <= p.fill.bbox_long_share < 0.9
    full = product_extent(p.rgba[..., 3], 0.0)
    assert full.x0 >= 50 and full.y0 >= 50 and full.x1 <= 950 and full.y1 <= 950


def test_tiny_margin_still_keeps_one_pixel_free() -> None:
    p = place_on_canvas(SHAPES["disc"], 101, 101, fill=0.99, margin=0.001)
    a = p.rgba[..., 3]
    assert not a[0].any() and not a[-1].any() and not a[:, 0].any() and not a[:, -1].any()


def test_fill_one_without_margin_spans_the_canvas() -> None:
    p = place_on_canvas(SHAPES["shoe"], 800, 800, fill=1.0)
    assert p.fill.width_share == 1.0
    assert p.fill.bbox_long_share == 1.0
    assert_uncut(SHAPES["shoe"], p.rgba)


def test_faint_outskirts_are_kept_and_clamp_the_fill() -> None:
    """A halo below the extent threshold is not product, but it is never cut: when it
    does not fit, the scale is reduced and the placement says so."""
    rgba = cutout("disc", 200, 200)
    halo = np.zeros((200, 200), dtype=np.uint8)
    cv2.circle(halo, (100, 100), 99, 12, -1)  # alpha 12/255, wider than the disc
    rgba[..., 3] = np.maximum(rgba[..., 3], halo)
    p = place_on_canvas(rgba, 500, 500, fill=1.0)
    assert p.clamped
    assert p.fill.bbox_long_share < 1.0
    full = product_extent(p.rgba[..., 3], 0.0)
    assert full.x0 >= 0 and full.x1 <= 500 and full.width >= 495
    assert_uncut(rgba, p.rgba)
    p2 = place_on_canvas(rgba, 500, 500, fill=0.8)
    assert not p2.clamped and p2.fill.bbox_long_share >= 0.8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fill": 0.9, "margin": 0.06}, "would be cut"),
        ({"fill": 0.0}, "fill"),
        ({"fill": 1.2}, "fill"),
        ({"fill": float("nan")}, "fill"),
        ({"fill": 0.5, "margin": -0.1}, "margin"),
        ({"fill": 0.5, "margin": 0.5}, "margin"),
        ({"fill": 0.5, "anchor": "top"}, "anchor"),
        ({"fill": 0.5, "color": (0, 0, 300)}, "colour"),
    ],
)
def test_bad_placements_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        place_on_canvas(SHAPES["disc"], 400, 400, **kwargs)  # type: ignore[arg-type]


def test_empty_cutout_is_refused() -> None:
    with pytest.raises(InputError, match="no product found"):
        place_on_canvas(np.zeros((20, 20, 4), dtype=np.uint8), 100, 100, fill=0.85)
    with pytest.raises(InputError, match="RGBA"):
        place_on_canvas(np.zeros((20, 20, 3), dtype=np.uint8), 100, 100, fill=0.85)


@pytest.mark.parametrize(("source", "canvas"), [(60, 1200), (1500, 300)], ids=["up", "down"])
def test_no_dark_fringe_when_scaling(source: int, canvas: int) -> None:
    """Transparent pixels carry black; premultiplied resampling keeps it out of the edge:
    a light product on white can only produce values between the two colours."""
    rgba = cutout("disc", source, source, color=(200, 210, 220))
    p = place_on_canvas(rgba, canvas, canvas, fill=0.85)
    edge = (p.rgba[..., 3] > 0) & (p.rgba[..., 3] < 255)
    assert edge.any()
    for ch, lo in enumerate((200, 210, 220)):
        assert int(p.rgb[..., ch].min()) >= lo - 1, "dark fringe at the product's edge"


def test_shadow_stays_in_its_box_and_background_stays_pure() -> None:
    params = ShadowParams(opacity=0.3)
    p = place_on_canvas(SHAPES["bottle"], 900, 1200, fill=0.85, shadow=params)
    plain = place_on_canvas(SHAPES["bottle"], 900, 1200, fill=0.85)
    assert p.shadow_box is not None and plain.shadow_box is None
    alpha = p.rgba[..., 3]
    assert np.array_equal(p.rgba, plain.rgba)
    assert np.array_equal(p.rgb[alpha == 255], plain.rgb[alpha == 255])
    changed = (p.rgb != plain.rgb).any(axis=-1)
    assert changed.any()
    region = shadow_mask(alpha, params)
    assert not (changed & ~region).any()
    outside = ~region & (alpha == 0)
    assert (p.rgb[outside] == 255).all()
    decoded = load_image(encode_image(p.rgb, "JPEG", quality=90)).pixels
    exempt = cv2.dilate((region | (alpha > 0)).astype(np.uint8), np.ones((15, 15), np.uint8))
    assert (decoded[exempt == 0] == 255).all()


def test_placement_is_deterministic() -> None:
    def run() -> tuple[bytes, bytes]:
        p = place_on_canvas(SHAPES["shoe"], 1200, 900, fill=0.86, shadow=ShadowParams())
        return encode_image(p.rgb, "JPEG", quality=95), encode_image(p.rgba, "PNG")

    assert run() == run()


@pytest.mark.usefixtures("real_models")
def test_small_cutout_is_super_resolved_before_placing() -> None:
    """A product far smaller than the frame goes through FSRCNN once, not bicubic alone:
    the placed product keeps more edge detail, and fill and placement rules still hold."""
    from packshot.models.upscale import upscale

    photo = load_image(sample_path("sample-astronaut")).pixels[40:200, 150:290, :3]  # the face
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:3, :, 3] = 0  # a transparent border, as a cutout has
    plain = place_on_canvas(rgba, 1000, 1000, fill=0.85, margin=0.02)
    sr = place_on_canvas(rgba, 1000, 1000, fill=0.85, margin=0.02, upscaler=upscale)
    assert plain.upscaled == 1 and sr.upscaled == 4
    assert sr.fill.bbox_long_share >= 0.85 and not sr.clamped
    assert sr.box == plain.box

    def detail(img: npt.NDArray[np.uint8]) -> float:
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F))[sr.box.slices].mean())

    assert detail(sr.rgb) > 1.15 * detail(plain.rgb)
