"""Frame fill and placement: find the product in a cutout, measure it, place it on a canvas.

Marketplaces' guides disagree on how "the product fills 85% of the frame" is measured.
packshot gates on the bounding box: ``bbox_long_share = max(bbox_w / canvas_w,
bbox_h / canvas_h)``, the product's share of the frame along its tighter axis (a bottle on
a square canvas is measured by its height, a shoe by its width), and reports the
alpha-weighted pixel-area share beside it.

The product's extent counts pixels whose alpha is above ``threshold`` (default 0.1), so a
faint halo a matting model leaves around an object does not count as product. Placement
never cuts anything: the crop that is scaled and placed keeps every pixel with alpha > 0,
and it always lies inside the canvas (inside the margin when one is given).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from packshot.errors import InputError
from packshot.ops.compose import (
    Color,
    ContactShadow,
    ShadowParams,
    compose_on_color,
    contact_shadow,
)
from packshot.ops.geometry import Box, resize_rgba
from packshot.ops.matte import bounding_box
from packshot.ops.resample import SR_MIN_FACTOR, Upscaler, sr_pass, super_resolve_rgba

__all__ = [
    "EXTENT_THRESHOLD",
    "Box",
    "FillMetrics",
    "Placement",
    "fill_metrics",
    "place_on_canvas",
    "product_extent",
]

ImageArray = npt.NDArray[np.uint8]
AlphaArray = npt.NDArray[np.uint8] | npt.NDArray[np.floating]
Anchor = Literal["center", "bottom"]

EXTENT_THRESHOLD = 0.1
"""Alpha (0..1) above which a pixel counts as product when measuring extent and fill."""

_MAX_ATTEMPTS = 4
"""Resamplings :func:`place_on_canvas` may try to land on the requested fill (rounding)."""


@dataclass(frozen=True)
class FillMetrics:
    """How much of a canvas the product fills.

    Attributes:
        bbox_long_share: ``max(width_share, height_share)``: what marketplaces' "product
            fills 85% of the frame" is gated on.
        area_share: alpha-weighted product pixels / canvas pixels.
        width_share: product bounding-box width / canvas width.
        height_share: product bounding-box height / canvas height.
    """

    bbox_long_share: float
    area_share: float
    width_share: float
    height_share: float


@dataclass(frozen=True, eq=False)
class Placement:
    """A cutout placed on a canvas by :func:`place_on_canvas`.

    Attributes:
        rgb: the final ``uint8`` HxWx3 image (product over the colour, with shadow if asked).
        rgba: the placed cutout alone, canvas-sized, transparent elsewhere (straight alpha).
        scale: the factor the cutout was resampled by (its new size is this times the
            size of its extent, each side rounded to whole pixels).
        box: the product's extent on the canvas (alpha above the extent threshold).
        fill: the measured fill of ``rgba`` on the canvas.
        requested_fill: the ``fill`` asked for.
        clamped: True when the requested fill was reduced so that the whole cutout (every
            pixel with alpha > 0) fits inside the canvas and its margin; ``fill`` then says
            what was reached.
        shadow_box: the region the contact shadow may darken, or None without a shadow.
        upscaled: the super-resolution factor the cutout went through first (1: none).
    """

    rgb: ImageArray
    rgba: ImageArray
    scale: float
    box: Box
    fill: FillMetrics
    requested_fill: float
    clamped: bool
    shadow_box: Box | None
    upscaled: int = 1


def _alpha_mask(alpha: AlphaArray, threshold: float) -> npt.NDArray[np.bool_]:
    """``alpha > threshold`` for uint8 (0..255) or float (0..1) alpha."""
    if not isinstance(alpha, np.ndarray) or alpha.ndim != 2:
        shape = alpha.shape if isinstance(alpha, np.ndarray) else type(alpha).__name__
        raise InputError(f"alpha must be an HxW array, got {shape}")
    if not math.isfinite(threshold) or not 0.0 <= threshold < 1.0:
        raise InputError(f"threshold must be from 0 up to (not including) 1, got {threshold!r}")
    if alpha.dtype == np.uint8:
        mask: npt.NDArray[np.bool_] = alpha > threshold * 255.0
        return mask
    if np.issubdtype(alpha.dtype, np.floating):
        mask = alpha > threshold
        return mask
    raise InputError(f"alpha must be uint8 (0-255) or float (0-1), got {alpha.dtype}")


def _alpha_sum(alpha: AlphaArray) -> float:
    """Sum of alpha in 0..1 units (exact for uint8)."""
    if alpha.dtype == np.uint8:
        return int(alpha.sum(dtype=np.int64)) / 255.0
    return float(np.clip(alpha, 0.0, 1.0).sum(dtype=np.float64))


def _extent(alpha: AlphaArray, threshold: float) -> Box | None:
    box = bounding_box(_alpha_mask(alpha, threshold), 0)
    return None if box is None else Box.from_slices(box)


def product_extent(alpha: AlphaArray, threshold: float = EXTENT_THRESHOLD) -> Box:
    """The bounding box of the pixels whose alpha (0..1) is above ``threshold``.

    ``alpha`` is ``uint8`` (0-255) or float (0-1), HxW. ``threshold=0`` gives the box of
    every pixel that is not fully transparent.

    Raises:
        InputError: no pixel is above the threshold ("no product found in the cutout").
    """
    box = _extent(alpha, threshold)
    if box is None:
        raise InputError("no product found in the cutout (its alpha channel is empty)")
    return box


def fill_metrics(
    alpha: AlphaArray, canvas_w: int, canvas_h: int, *, threshold: float = EXTENT_THRESHOLD
) -> FillMetrics:
    """Fill of the product in ``alpha`` (at canvas scale, usually canvas-sized) on a
    ``canvas_w x canvas_h`` canvas; see :class:`FillMetrics`.

    Raises:
        InputError: the alpha is empty or the canvas size is not positive.
    """
    _check_canvas(canvas_w, canvas_h)
    box = product_extent(alpha, threshold)
    width_share = box.width / canvas_w
    height_share = box.height / canvas_h
    area = _alpha_sum(alpha)
    return FillMetrics(
        bbox_long_share=max(width_share, height_share),
        area_share=area / (canvas_w * canvas_h),
        width_share=width_share,
        height_share=height_share,
    )


def _check_canvas(canvas_w: int, canvas_h: int) -> None:
    for name, value in (("canvas width", canvas_w), ("canvas height", canvas_h)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")


def _check_placement(fill: float, margin: float, anchor: str) -> None:
    if not (math.isfinite(fill) and 0.0 < fill <= 1.0):
        raise InputError(f"fill must be above 0 and at most 1, got {fill!r}")
    if not (math.isfinite(margin) and 0.0 <= margin < 0.5):
        raise InputError(f"margin must be from 0 up to (not including) 0.5, got {margin!r}")
    if fill + 2.0 * margin > 1.0 + 1e-9:
        raise InputError(
            f"fill {fill:g} with a margin of {margin:g} on each side needs "
            f"{fill + 2 * margin:.0%} of the canvas: the product would be cut; lower the "
            f"fill to at most {1 - 2 * margin:g} or the margin to at most {(1 - fill) / 2:g}"
        )
    if anchor not in ("center", "bottom"):
        raise InputError(f"anchor must be 'center' or 'bottom', got {anchor!r}")


def _gap(margin: float, side: int) -> int:
    """Pixels kept free along one edge: ``margin`` of the side, at least 1 when > 0."""
    if margin <= 0.0:
        return 0
    return max(1, math.ceil(margin * side - 1e-9))


def _scale_to_target(
    crop: ImageArray,
    target: int,
    scale: float,
    max_scale: float,
    avail: tuple[int, int],
    along_x: bool,
    threshold: float,
) -> tuple[ImageArray, Box, float] | None:
    """Resample ``crop`` so its measured extent along one axis is ``target`` pixels.

    Soft edges make the extent measured after resampling differ from ``scale`` times the
    source extent by a pixel or two, so the result is measured and the scale corrected
    (at most ``_MAX_ATTEMPTS`` resamplings). Returns the smallest result that reaches the
    target (ideally exactly it), else, when ``max_scale`` stops it, the largest allowed;
    with its measured box and the scale used. None if the product vanished entirely.
    """
    height, width = crop.shape[:2]
    # Preference: reaching the target with the least overshoot, else the closest below.
    best: tuple[tuple[int, int], ImageArray, Box, float] | None = None
    for _ in range(_MAX_ATTEMPTS):
        used = min(scale, max_scale)
        size = (
            min(avail[0], max(1, round(width * used))),
            min(avail[1], max(1, round(height * used))),
        )
        layer = resize_rgba(crop, size)
        box = _extent(layer[..., 3], threshold)
        got = 0 if box is None else (box.width if along_x else box.height)
        rank = (0, got) if got >= target else (1, -got)
        if box is not None and (best is None or rank < best[0]):
            best = (rank, layer, box, used)
        if target <= got <= target + 1 or (got < target and used >= max_scale):
            break
        # Aim a quarter pixel past the target when short, just onto it when over.
        scale = used * (target + (0.5 if got < target else 0.25)) / max(got, 1)
    if best is None:
        return None
    return best[1], best[2], best[3]


def place_on_canvas(
    rgba: ImageArray,
    canvas_w: int,
    canvas_h: int,
    *,
    fill: float,
    margin: float = 0.0,
    color: Color = (255, 255, 255),
    anchor: Anchor = "center",
    shadow: ShadowParams | None = None,
    threshold: float = EXTENT_THRESHOLD,
    upscaler: Upscaler | None = None,
) -> Placement:
    """Scale and place a cutout on a ``canvas_w x canvas_h`` canvas of ``color``.

    The cutout is cropped to its extent (every pixel with alpha > 0), scaled with
    premultiplied alpha (area filter down, bicubic up) so that its measured fill
    ``max(bbox_w / canvas_w, bbox_h / canvas_h)`` is at least ``fill`` (the target is
    ``ceil(fill * side)`` pixels along the tighter axis, measured on the resampled alpha,
    the scale corrected when soft edges and rounding missed it), then placed centred
    (``anchor="center"``) or centred horizontally on the bottom margin
    (``anchor="bottom"``) and composited with :func:`~packshot.ops.compose.compose_on_color`.

    Args:
        rgba: straight-alpha ``uint8`` HxWx4 cutout with decontaminated colours.
        fill: requested fill, 0 < fill <= 1 (Amazon main: 0.85).
        margin: free space kept along each edge, as a share of that canvas side (so at
            most ``1 - 2 * margin`` of a side is product); when above 0 the product keeps
            at least one pixel off every edge.
        color: the background colour.
        anchor: ``"center"`` or ``"bottom"``.
        shadow: an optional contact shadow under the placed product.
        threshold: alpha above which a pixel counts as product for measuring fill.
        upscaler: when given and the cutout must grow by :data:`SR_MIN_FACTOR` or more, it
            first goes through one super-resolution pass (x2, or x4 from 4x on) instead of
            being enlarged by bicubic interpolation alone (a small product photographed
            from afar would otherwise be a blur at 85% of a 2000 px frame).

    Returns:
        A :class:`Placement`. When the cutout's faint outskirts (alpha > 0 but not above
        ``threshold``) need more room than ``fill`` leaves, the scale is reduced so the
        cutout still fits and ``clamped`` is True.

    Raises:
        InputError: bad parameters, an empty cutout, or ``fill + 2 * margin > 1`` (a fill
            that cannot fit inside the margins would cut the product: refused, not clamped).
    """
    if not isinstance(rgba, np.ndarray) or rgba.dtype != np.uint8 or rgba.ndim != 3:
        raise InputError("the cutout must be a uint8 HxWx4 RGBA array")
    if rgba.shape[2] != 4:
        raise InputError(f"the cutout must be an HxWx4 RGBA array, got shape {rgba.shape}")
    _check_canvas(canvas_w, canvas_h)
    _check_placement(fill, margin, anchor)
    canvas_w, canvas_h = int(canvas_w), int(canvas_h)
    alpha = rgba[..., 3]
    crop_box = product_extent(alpha, 0.0)
    measure = product_extent(alpha, threshold)
    crop = rgba[crop_box.slices]
    gap_x, gap_y = _gap(margin, canvas_w), _gap(margin, canvas_h)
    avail_w, avail_h = canvas_w - 2 * gap_x, canvas_h - 2 * gap_y
    if avail_w < 1 or avail_h < 1:
        raise InputError(f"a margin of {margin:g} leaves no room on a {canvas_w}x{canvas_h} canvas")

    along_x = measure.width / canvas_w >= measure.height / canvas_h
    side, extent = (canvas_w, measure.width) if along_x else (canvas_h, measure.height)
    target = math.ceil(fill * side - 1e-9)
    max_scale = min(avail_w / crop_box.width, avail_h / crop_box.height)
    scale = target / extent
    sr, grown = 1, 1.0
    if upscaler is not None and min(scale, max_scale) >= SR_MIN_FACTOR:
        sr = sr_pass(min(scale, max_scale))
        width = crop.shape[1]
        crop = super_resolve_rgba(crop, sr, upscaler)
        grown = crop.shape[1] / width  # an upscaler may return more than asked
        scale, max_scale = scale / grown, max_scale / grown
    fitted = _scale_to_target(
        crop, target, scale, max_scale, (avail_w, avail_h), along_x, threshold
    )
    if fitted is None:
        raise InputError(
            f"the product vanishes when scaled to a {canvas_w}x{canvas_h} canvas at fill "
            f"{fill:g}: the cutout has almost no opaque pixels"
        )
    layer, got_box, used = fitted
    got = got_box.width if along_x else got_box.height
    clamped = got < target and used >= max_scale
    # Resampling can leave fully transparent rows or columns at the layer's border: trim
    # them so that only visible pixels are held inside the margins.
    tight = _extent(layer[..., 3], 0.0) or Box(0, 0, layer.shape[1], layer.shape[0])
    layer = layer[tight.slices]
    got_box = Box(
        got_box.x0 - tight.x0, got_box.y0 - tight.y0, got_box.x1 - tight.x0, got_box.y1 - tight.y0
    )

    # Centre the visible product (not its faint outskirts), keeping the crop inside the
    # margins; with anchor="bottom" the visible product stands on the bottom margin.
    new_h, new_w = layer.shape[:2]
    x = (canvas_w - got_box.width) // 2 - got_box.x0
    if anchor == "bottom":
        y = canvas_h - gap_y - got_box.y1
    else:
        y = (canvas_h - got_box.height) // 2 - got_box.y0
    x = min(max(x, gap_x), canvas_w - gap_x - new_w)
    y = min(max(y, gap_y), canvas_h - gap_y - new_h)
    placed = np.zeros((canvas_h, canvas_w, 4), dtype=np.uint8)
    placed[y : y + new_h, x : x + new_w] = layer

    shade: ContactShadow | None = None
    if shadow is not None:
        shade = contact_shadow(placed[..., 3], shadow)
    rgb = compose_on_color(placed, color, shadow=shade)
    return Placement(
        rgb=rgb,
        rgba=placed,
        scale=used * grown,
        box=Box(got_box.x0 + x, got_box.y0 + y, got_box.x1 + x, got_box.y1 + y),
        fill=fill_metrics(placed[..., 3], canvas_w, canvas_h, threshold=threshold),
        requested_fill=fill,
        clamped=clamped,
        shadow_box=None if shade is None else shade.box,
        upscaled=sr,
    )
