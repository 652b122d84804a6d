"""Background colour fix: a cutout onto an exact colour, with an optional contact shadow.

The background's purity comes from construction, not from a snap afterwards: a pixel
whose alpha is 0 is given the colour itself, never a blend that could round to a
neighbour, and the optional shadow is zero (not merely small) outside a bounded box, so a
check can say "exactly the colour everywhere except the product and this box".

Alpha is straight (not premultiplied) ``uint8``; the cutout's colours are expected to be
decontaminated already (:func:`packshot.ops.matte.estimate_foreground`), so edge pixels
are composited with the object's own colour and no fringe of the old background appears.
Lengths in :class:`ShadowParams` are shares of the product's width or height, so the
shadow looks the same at any resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError
from packshot.ops.geometry import Box
from packshot.ops.matte import bounding_box, composite_on_color

__all__ = [
    "ContactShadow",
    "ShadowParams",
    "compose_on_color",
    "contact_shadow",
    "shadow_mask",
]

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
Color = tuple[int, int, int]

_BASE_ALPHA = 128
"""Alpha (of 255) from which a pixel counts as solid when looking for the product's base."""

_KERNEL_SIGMAS = 3.0
"""Gaussian kernels are cut at this many sigmas: the shadow's support is bounded."""


@dataclass(frozen=True)
class ShadowParams:
    """A soft contact shadow under the product's base.

    The base is found in the alpha: every column whose lowest opaque pixel lies within the
    bottom ``base`` share of the product's height touches the ground (a bottle's bottom, a
    shoe's sole, all four wheels of a car seen in three-quarter view). Under each such
    column the shadow is an elliptical profile centred on that lowest pixel (darkest at the
    contact, zero ``height`` below and above it); the whole is blurred with a Gaussian, so
    a flat base gives a soft elliptical pool. It darkens the background by at most
    ``opacity`` and is exactly zero outside a bounded box.

    Attributes:
        opacity: darkening at the shadow's core, 0..1 (0.25: the colour times 0.75).
        softness: Gaussian blur sigma as a share of the product's width.
        height: the profile's vertical half-axis as a share of the product's height.
        offset: how far below each contact point the profile is centred, as a share of the
            product's height (negative moves it up, behind the product).
        base: share of the product's height, from its lowest opaque row up, within which a
            column's lowest opaque pixel counts as touching the ground.
        direction: how far the shadow is drawn out sideways, away from the light, as a
            share of the product's width: 0 for light from straight ahead or above, 0.3
            for light from the left (the shadow reaches 30% of the width to the right,
            fading), negative for light from the right.
    """

    opacity: float = 0.25
    softness: float = 0.03
    height: float = 0.03
    offset: float = 0.0
    base: float = 0.3
    direction: float = 0.0

    def __post_init__(self) -> None:
        checks = (
            ("opacity", self.opacity, 0.0 <= self.opacity <= 1.0, "from 0 to 1"),
            ("softness", self.softness, 0.0 <= self.softness <= 1.0, "from 0 to 1"),
            ("height", self.height, 0.0 < self.height <= 1.0, "above 0 and at most 1"),
            ("offset", self.offset, -1.0 <= self.offset <= 1.0, "from -1 to 1"),
            ("base", self.base, 0.0 < self.base <= 1.0, "above 0 and at most 1"),
            ("direction", self.direction, -2.0 <= self.direction <= 2.0, "from -2 to 2"),
        )
        for name, value, ok, allowed in checks:
            if not (math.isfinite(value) and ok):
                raise InputError(f"shadow {name} must be {allowed}, got {value!r}")


@dataclass(frozen=True, eq=False)
class ContactShadow:
    """A shadow computed for one alpha: zero everywhere outside ``box``.

    Attributes:
        box: the bounded region the shadow may darken (in the alpha's pixel grid).
        strength: ``box.height x box.width`` float32 in 0..1; the background colour is
            multiplied by ``1 - opacity * strength``.
        opacity: the darkening at strength 1.
    """

    box: Box
    strength: FloatArray
    opacity: float

    def mask(self, height: int, width: int) -> BoolArray:
        """``HxW`` bool: True where the shadow can change the background (strength > 0)."""
        out = np.zeros((height, width), dtype=bool)
        out[self.box.slices] = self.strength > 0.0
        return out


def _check_rgba(rgba: ImageArray) -> None:
    if not isinstance(rgba, np.ndarray) or rgba.dtype != np.uint8:
        kind = rgba.dtype if isinstance(rgba, np.ndarray) else type(rgba).__name__
        raise InputError(f"the cutout must be a uint8 RGBA array, got {kind}")
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.shape[0] == 0 or rgba.shape[1] == 0:
        raise InputError(f"the cutout must be an HxWx4 RGBA array, got shape {rgba.shape}")


def _check_color(color: Color) -> Color:
    values = tuple(color)
    if len(values) != 3 or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and 0 <= int(v) <= 255
        for v in values
    ):
        raise InputError(f"colour must be an (r, g, b) tuple of 0-255 integers, got {color!r}")
    return int(values[0]), int(values[1]), int(values[2])


def _gaussian_blur(x: FloatArray, sigma: float) -> FloatArray:
    """Gaussian blur cut at ``_KERNEL_SIGMAS`` sigmas, zero beyond ``x``'s borders.

    Wide blurs run on a grid reduced by about sigma / 4 (the result is smooth at that
    scale anyway) and are interpolated back: the same picture at a fraction of the cost.
    """
    height, width = x.shape
    step = max(1, int(sigma // 4))
    small = x
    if step > 1:
        reduced = (max(1, width // step), max(1, height // step))
        small = np.asarray(cv2.resize(x, reduced, interpolation=cv2.INTER_AREA), np.float32)
    s = sigma / step
    k = math.ceil(_KERNEL_SIGMAS * s)
    small = np.asarray(
        cv2.GaussianBlur(small, (2 * k + 1, 2 * k + 1), s, borderType=cv2.BORDER_CONSTANT),
        np.float32,
    )
    if step == 1:
        return small
    return np.asarray(
        cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), np.float32
    )


def _draw_out(strength: FloatArray, reach: int, rightwards: bool) -> FloatArray:
    """The shadow drawn out sideways by ``reach`` columns, fading linearly with distance
    from the contact (a running maximum, so the core stays as dark as it was)."""
    src = strength if rightwards else strength[:, ::-1]
    out = src.copy()
    width = src.shape[1]
    # At most ~64 shifted copies: beyond that, steps of several columns look the same
    # after the Gaussian that follows.
    step = max(1, reach // 64)
    for t in range(step, min(reach, width - 1) + 1, step):
        fade = np.float32(1.0 - t / (reach + 1))
        np.maximum(out[:, t:], src[:, :-t] * fade, out=out[:, t:])
    return out if rightwards else np.ascontiguousarray(out[:, ::-1])


def contact_shadow(alpha: ImageArray, params: ShadowParams) -> ContactShadow | None:
    """The contact shadow of the product in ``alpha`` (``uint8`` HxW, straight alpha).

    Returns None when there is nothing to shadow (no product, ``opacity`` 0, or a shadow
    that falls entirely below the canvas).
    """
    if params.opacity == 0.0:
        return None
    extent = bounding_box(alpha > 0, 0)
    if extent is None:
        return None
    rows, cols = extent
    prod_w = int(cols.stop) - int(cols.start)
    prod_h = int(rows.stop) - int(rows.start)
    solid = alpha >= _BASE_ALPHA
    if not solid.any():  # a faint product: its every pixel counts
        solid = alpha > 0
    height, width = alpha.shape
    has = solid.any(axis=0)
    # Lowest solid row of every column (the contact point of that column, if grounded).
    lowest = height - 1 - np.argmax(solid[::-1], axis=0)
    ground = int(lowest[has].max())
    xs = np.flatnonzero(has & (lowest >= ground - params.base * prod_h))
    centres = lowest[xs].astype(np.float32) + np.float32(params.offset * prod_h)
    half = max(1.0, params.height * prod_h)
    sigma = params.softness * prod_w
    k = math.ceil(_KERNEL_SIGMAS * sigma) if sigma >= 0.3 else 0
    reach = round(abs(params.direction) * prod_w)
    box = Box(
        max(0, int(xs[0]) - k - (reach if params.direction < 0 else 0)),
        max(0, math.floor(float(centres.min()) - half) - k),
        min(width, int(xs[-1]) + k + 1 + (reach if params.direction > 0 else 0)),
        min(height, math.ceil(float(centres.max()) + half) + k + 1),
    )
    if box.width <= 0 or box.height <= 0:  # the shadow lies below the canvas
        return None
    ys = np.arange(box.y0, box.y1, dtype=np.float32)[:, None]
    profile = np.clip(1.0 - ((ys - centres[None, :]) / np.float32(half)) ** 2, 0.0, 1.0)
    strength = np.zeros((box.height, box.width), dtype=np.float32)
    strength[:, xs - box.x0] = profile  # darkest at the contact, elliptical falloff
    if reach > 0:
        strength = _draw_out(strength, reach, params.direction > 0)
    if k > 0:
        strength = _gaussian_blur(strength, sigma)
    peak = float(strength.max())
    if peak <= 0.0:
        return None
    strength = np.clip(strength / peak, 0.0, 1.0).astype(np.float32)
    return ContactShadow(box=box, strength=strength, opacity=params.opacity)


def shadow_mask(alpha: ImageArray, params: ShadowParams) -> BoolArray:
    """Where :func:`compose_on_color` with this shadow may differ from the plain colour,
    besides the product itself (``alpha > 0``): an ``HxW`` bool array."""
    shadow = contact_shadow(alpha, params)
    if shadow is None:
        return np.zeros(alpha.shape, dtype=bool)
    return shadow.mask(*alpha.shape)


def compose_on_color(
    rgba: ImageArray,
    color: Color = (255, 255, 255),
    *,
    shadow: ShadowParams | ContactShadow | None = None,
) -> ImageArray:
    """Composite a straight-alpha ``uint8`` HxWx4 cutout onto ``color``: ``uint8`` HxWx3.

    Pixels with alpha 0 are exactly ``color`` and pixels with alpha 255 exactly the
    cutout's colour. With ``shadow`` (parameters, or a :class:`ContactShadow` already
    computed for this alpha), the background under the product's base is darkened before
    the product goes over it: opaque product pixels are never touched, semi-transparent
    edge pixels show the shadow in proportion to their transparency, and every pixel
    outside the shadow's box (and outside the product) is still exactly ``color``.

    Raises:
        InputError: ``rgba`` is not ``uint8`` HxWx4, or ``color`` is not three 0-255 ints.
    """
    _check_rgba(rgba)
    color = _check_color(color)
    height, width = rgba.shape[:2]
    out = np.empty((height, width, 3), dtype=np.uint8)
    # Row-wise copy of one tiled row: ~20x faster than broadcasting a 3-tuple per pixel.
    out.reshape(height, width * 3)[:] = np.tile(np.asarray(color, dtype=np.uint8), width)
    alpha = rgba[..., 3]
    product = bounding_box(alpha > 0, 0)
    if product is not None:
        # Only the product's box is blended, and there only the semi-transparent pixels
        # (few): copying beats blending the whole canvas in float by an order of magnitude.
        region, a = rgba[product], alpha[product]
        target = out[product]
        opaque = a == 255
        np.copyto(target, region[..., :3], where=opaque[..., None])
        partial = (a > 0) & ~opaque
        target[partial] = composite_on_color(region[partial][None], color)[0]
    layer = contact_shadow(alpha, shadow) if isinstance(shadow, ShadowParams) else shadow
    if layer is None:
        return out
    if layer.box.x1 > width or layer.box.y1 > height:
        raise InputError(
            f"the shadow's box {layer.box} lies outside the {width}x{height} cutout it is "
            "composited with"
        )
    # The shadowed ground under the product, then the product over it (same arithmetic
    # as composite_on_color, with a per-pixel ground colour).
    darken = 1.0 - np.float32(layer.opacity) * layer.strength[..., None]
    ground = np.rint(np.asarray(color, dtype=np.float32) * darken).astype(np.uint8)
    region, a = rgba[layer.box.slices], alpha[layer.box.slices]
    target = out[layer.box.slices]
    clear = a == 0
    np.copyto(target, ground, where=clear[..., None])
    partial = (a > 0) & (a < 255)
    a_p = a[partial][:, None].astype(np.float32) / 255.0
    mixed = region[..., :3][partial].astype(np.float32) * a_p + ground[partial] * (1.0 - a_p)
    target[partial] = np.rint(mixed).astype(np.uint8)
    return out
