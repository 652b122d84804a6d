"""Resizing to an exact size with the filter that suits the scale.

* shrinking (no axis grows): the area filter, which averages and never aliases;
* enlarging by at least :data:`SR_MIN_FACTOR` on the longer-growing axis, when the caller
  passes an ``upscaler`` (e.g. :func:`packshot.models.upscale.upscale`): for RGB, ONE
  super-resolution pass (x4 from 4x on, else x2) whose output is sized to the target,
  the rest of the factor a Lanczos enlargement before it (a second network pass, or an
  overshoot thrown away by the area filter, measured 2-20x slower); for RGBA cutouts,
  the network to at least the factor, then the area filter down to the exact size;
* any other enlargement: Lanczos (8x8 taps), whose overshoot is clipped.

RGBA is resized premultiplied, so the colours of transparent pixels never bleed into an
edge. These functions record nothing: the caller records :func:`resize_method`'s name.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError
from packshot.ops.geometry import resize_rgba

__all__ = [
    "SR_MIN_FACTOR",
    "Upscaler",
    "resize_method",
    "resize_to",
    "sr_pass",
    "sr_passes",
    "super_resolve_rgba",
]

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
Upscaler = Callable[[ImageArray, float], ImageArray]
"""``(rgb, factor) -> rgb`` at least ``factor`` times larger on both axes."""

SR_MIN_FACTOR = 2.0
"""Enlargements from this factor on go through the upscaler, when one is given. Below it
Lanczos is within a fraction of a dB of FSRCNN and 30-50x faster (benchmarks/listing.py)."""


def sr_pass(factor: float) -> int:
    """The single super-resolution pass used for an enlargement by ``factor``."""
    return 4 if factor >= 4.0 else 2


def sr_passes(factor: float) -> tuple[int, ...]:
    """The x4/x2 super-resolution passes that reach at least ``factor``.

    The same plan as :func:`packshot.models.upscale.plan_passes` (ops may not import
    models; a test keeps the two equal): ``2 -> (2,)``, ``3 -> (4,)``, ``6 -> (4, 2)``.
    """
    passes: list[int] = []
    total = 1
    while total < factor - 1e-9:
        step = 4 if factor / total > 2 else 2
        passes.append(step)
        total *= step
    return tuple(passes)


def _factor(src_size: tuple[int, int], dst_size: tuple[int, int]) -> float:
    (sw, sh), (dw, dh) = src_size, dst_size
    if min(sw, sh, dw, dh) <= 0:
        raise InputError(f"sizes must be positive, got {src_size} -> {dst_size}")
    return max(dw / sw, dh / sh)


def resize_method(
    src_size: tuple[int, int],
    dst_size: tuple[int, int],
    *,
    sr_name: str | None = "fsrcnn",
    rgba: bool = False,
) -> str:
    """The name of the method :func:`resize_to` uses for ``src_size -> dst_size``.

    Sizes are ``(width, height)``. ``sr_name`` names the upscaler the caller passes (None
    when it passes none); ``rgba`` says the pixels have alpha. Returns ``"none"`` (same
    size), ``"area"``, ``"lanczos"``, ``"<sr_name>-x2"``, ``"lanczos+<sr_name>-x4"`` (RGB:
    a Lanczos pre-enlargement, then one network pass), or ``"<sr_name>-x4x2"`` ... (RGBA:
    the network passes, before the area filter).
    """
    factor = _factor(src_size, dst_size)
    if tuple(src_size) == tuple(dst_size):
        return "none"
    if factor <= 1.0:
        return "area"
    if sr_name is None or factor < SR_MIN_FACTOR:
        return "lanczos"
    if rgba:
        return f"{sr_name}-x" + "x".join(str(p) for p in sr_passes(factor))
    step = sr_pass(factor)
    (sw, sh), (dw, dh) = src_size, dst_size
    pre = "lanczos+" if (-(-dw // step), -(-dh // step)) != (sw, sh) else ""
    return f"{pre}{sr_name}-x{step}"


def resize_to(
    pixels: ImageArray,
    width: int,
    height: int,
    *,
    upscaler: Upscaler | None = None,
) -> ImageArray:
    """``pixels`` (uint8 RGB or straight-alpha RGBA) resized to exactly ``width x height``.

    See the module docstring for the filter chosen; :func:`resize_method` names it.
    """
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise InputError(
            f"resize_to expects uint8 RGB or RGBA (HxWx3/4), got {pixels.dtype} {pixels.shape}"
        )
    src_h, src_w = pixels.shape[:2]
    size = (int(width), int(height))
    factor = _factor((src_w, src_h), size)
    if (src_w, src_h) == size:
        return pixels.copy()
    rgba = pixels.shape[2] == 4
    if factor <= 1.0:
        return _area(pixels, size)
    if upscaler is not None and factor >= SR_MIN_FACTOR:
        if rgba:
            # Cutouts: the network at the full factor, then area down; a pre-enlargement
            # would blur the straight-alpha edge before the network sees it.
            big = super_resolve_rgba(pixels, factor, upscaler)
        else:
            step = sr_pass(factor)
            # Size the network's input so that its output is the target (rounded up).
            pre_size = (-(-size[0] // step), -(-size[1] // step))
            if pre_size != (src_w, src_h):
                pixels = _lanczos(pixels, pre_size)
            big = upscaler(pixels, step)
        if big.shape[0] < size[1] or big.shape[1] < size[0]:
            raise InputError(
                f"the upscaler returned {big.shape[1]}x{big.shape[0]} for a factor of "
                f"{factor:.3g} from {src_w}x{src_h}; {size[0]}x{size[1]} is needed"
            )
        return _area(big, size)
    if rgba:
        return _lanczos_premultiplied(pixels, size)
    return _lanczos(pixels, size)


def _area(pixels: ImageArray, size: tuple[int, int]) -> ImageArray:
    if pixels.shape[1] == size[0] and pixels.shape[0] == size[1]:
        return pixels
    if pixels.shape[2] == 4:
        return resize_rgba(pixels, size)
    return np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _lanczos(rgb: ImageArray, size: tuple[int, int]) -> ImageArray:
    # On uint8 input cv2 rounds and saturates the overshoot itself.
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_LANCZOS4), dtype=np.uint8)


def _lanczos_premultiplied(rgba: ImageArray, size: tuple[int, int]) -> ImageArray:
    """Lanczos on premultiplied colour; ringing clipped (alpha to 0..255, colour 0..255)."""
    f = rgba.astype(np.float32)
    alpha = f[..., 3:4] * np.float32(1.0 / 255.0)
    f[..., :3] *= alpha
    out = np.asarray(cv2.resize(f, size, interpolation=cv2.INTER_LANCZOS4), dtype=np.float32)
    return _unpremultiply(out[..., :3], out[..., 3])


def _unpremultiply(premul: FloatArray, alpha: FloatArray) -> ImageArray:
    """Straight uint8 RGBA from premultiplied colour and alpha (both 0..255 floats).

    Divides by the unrounded alpha, so colour and alpha resampled by the same linear
    filter give back the source colour exactly, even in a ringing lobe; pixels whose
    alpha rounds to 0 get colour 0.
    """
    a8 = np.clip(np.rint(alpha), 0.0, 255.0)
    straight = np.zeros_like(premul)
    np.divide(premul * np.float32(255.0), alpha[..., None], out=straight, where=a8[..., None] > 0)
    result = np.empty((*alpha.shape, 4), np.uint8)
    result[..., :3] = np.clip(np.rint(straight), 0, 255)
    result[..., 3] = a8
    return result


def super_resolve_rgba(rgba: ImageArray, factor: float, upscaler: Upscaler) -> ImageArray:
    """Straight RGBA at the upscaler's size: premultiplied colour and alpha upscaled alike.

    Premultiplying first keeps the arbitrary colours under transparent pixels out of the
    network's receptive field at the edge; alpha goes through the same upscaler (as grey)
    so that colour / alpha stays the source's colour across the edge. A network rings a
    little around a hard edge, so alpha is reset to 0 (255) wherever a clipped bicubic
    enlargement of alpha is 0 (255): no faint halo far from the object.
    """
    alpha8 = rgba[..., 3]
    alpha = alpha8.astype(np.float32)[..., None] * np.float32(1.0 / 255.0)
    premul = np.clip(np.rint(rgba[..., :3].astype(np.float32) * alpha), 0, 255).astype(np.uint8)
    big = upscaler(premul, factor)
    big_alpha = upscaler(np.repeat(alpha8[..., None], 3, axis=2), factor)
    if big_alpha.shape != big.shape:
        raise InputError("the upscaler returned different sizes for colour and alpha")
    size = (big.shape[1], big.shape[0])
    guide = np.rint(np.asarray(cv2.resize(alpha8, size, interpolation=cv2.INTER_CUBIC)))
    a = big_alpha[..., 1].astype(np.float32)
    a[guide <= 0] = 0.0
    a[guide >= 255] = 255.0
    colour = np.minimum(big.astype(np.float32), a[..., None])
    return _unpremultiply(colour, a)
