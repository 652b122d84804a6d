"""Smart resize by extension: reach a target aspect by synthesising background, never by
stretching the photo or cutting the product.

:func:`extend_to_aspect` enlarges the canvas along one axis, places the photo on it (centred
on the product along that axis where the photo allows, the photo kept whole and contiguous)
and fills the new strip on each side with one of two methods, chosen per strip:

``studio-fit``
    for plain backgrounds (seamless paper, gradients, vignettes, sensor grain). A smooth
    model, a low-order 2-D polynomial per channel (degree 2 across the edge, 4 along it), is
    fitted to the background pixels of a band next to the edge, extrapolated across the strip
    with a damped coordinate (so a vignette keeps falling off gently instead of running to
    black or white), and grain is added whose standard deviation matches the background's
    measured noise.
``patch``
    for textured scenes (a wooden table, a room): PatchMatch inpainting (``pypatchmatch``)
    of the strip at reduced resolution, product pixels excluded from the source, upsampled,
    with the same measured grain added back.

The choice is made from how well the smooth model explains the background near that edge:
the robust spread (1.4826 x MAD, grey levels) of the fit's residual on a lightly blurred,
downscaled copy (grain averages out there, texture does not). Below
:data:`TEXTURE_THRESHOLD` the strip is ``studio-fit``, above it ``patch``.

Each strip is blended into the photo over a feather zone of :func:`feather_width` pixels
inside the photo (product pixels are never blended), so there is no seam; every photo pixel
outside the feather zones is kept unchanged. With ``allow_crop`` the background is first
cropped along the other axis (never the product box plus its margin) so less has to be
synthesised; a crop alone that reaches the aspect is method ``crop``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError
from packshot.ops.compose import ShadowParams, contact_shadow
from packshot.ops.geometry import Box
from packshot.ops.inpaint import dilate, patchmatch
from packshot.ops.matte import bounding_box
from packshot.ops.scene import cover, studio_gradient

__all__ = [
    "TEXTURE_THRESHOLD",
    "Extended",
    "ExtensionRefused",
    "blurred_backdrop",
    "cut_sides",
    "cutout_backdrop",
    "extend_to_aspect",
    "feather_width",
]

ImageArray = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float32]

TEXTURE_THRESHOLD = 2.5
"""Robust residual spread (grey levels, 0..255) of the smooth background model above which
a strip is filled by ``patch`` instead of ``studio-fit``."""

_MAX_GRAIN = 8.0
"""High-pass spread (grey levels) above which fine background detail counts as texture."""

_FIT_HEIGHT = 400
"""Rows of the downscaled band the smooth model is fitted on (and texture measured on)."""

_PATCH_HEIGHT = 256
"""Rows of the downscaled region PatchMatch works on."""

_DEG_ACROSS = 2
_DEG_ALONG = 4

_EDGE_TRIM = 0.01
"""Share of the photo's height resynthesised at an extended edge (2..16 px): lenses darken
the last few columns and JPEG encoders smear them, which would show as a line mid-canvas."""

_CHROMA_JUMP = 6.0
"""Lab a*b* distance from the local (7 px median) colour above which a background pixel is
a thin foreign detail, not background texture (wood grain and fabric vary in lightness)."""


class ExtensionRefused(InputError):
    """The photo cannot be extended to the aspect without continuing the product or
    synthesising too much of the image: the caller composes it another way
    (:func:`blurred_backdrop`)."""


@dataclass(frozen=True, eq=False)
class Extended:
    """The result of :func:`extend_to_aspect` (and of :func:`blurred_backdrop`).

    Attributes:
        rgb: the reframed ``uint8`` HxWx3 image, at the source's scale, with the target aspect
            (width = round(height x aspect), or the other way round, to the nearest pixel).
        method: ``"none"`` (already that aspect), ``"crop"``, ``"studio-fit"``, ``"patch"``,
            or a ``+``-joined combination such as ``"crop+studio-fit"`` or
            ``"patch+studio-fit"`` (two strips filled differently).
        product_box: where the product (mask > 0) is in ``rgb``.
        synthesized: ``bool`` HxW, True for pixels that did not come from the photo (the new
            strips and the few edge columns of the photo that were resynthesised).
        photo_box: where the (possibly cropped) photo sits in ``rgb``; pixels inside it but
            outside the feather zones next to the synthesised strips are the photo's own.
    """

    rgb: ImageArray
    method: str
    product_box: Box
    synthesized: BoolArray
    photo_box: Box


def feather_width(length: int, photo_width: int) -> int:
    """Columns inside the photo over which a strip is blended in (0 when the photo is tiny).

    ``length`` is the photo's extent along the seam (its height for left/right strips),
    ``photo_width`` its extent across it.
    """
    return int(min(max(4, round(0.03 * length)), 64, photo_width // 4))


def _check(rgb: ImageArray, mask: BoolArray, aw: int, ah: int, share: float, margin: float) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(
            f"extend_to_aspect needs a uint8 HxWx3 image, got {rgb.dtype} {rgb.shape}."
        )
    if mask.shape != rgb.shape[:2]:
        raise InputError(
            f"The product mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
            f"{rgb.shape[1]}x{rgb.shape[0]}; pass a mask of the image's size."
        )
    if aw <= 0 or ah <= 0:
        raise InputError(f"The aspect {aw}:{ah} is not valid; both sides must be positive.")
    if not 0.0 < share <= 1.0:
        raise InputError(f"max_synth_share must be in (0, 1], got {share}.")
    if not 0.0 <= margin < 0.5:
        raise InputError(f"margin must be in [0, 0.5), got {margin}.")
    if not mask.any():
        raise InputError(
            "The product mask is empty: no product was found, so there is nothing to keep uncut."
        )


def _box(mask: BoolArray, pad: int) -> Box:
    slices = bounding_box(mask, pad)
    assert slices is not None  # the mask was checked non-empty
    return Box.from_slices(slices)


def _resize(img: npt.NDArray[np.generic], width: int, height: int, interp: int) -> FloatArray:
    out = cv2.resize(
        np.asarray(img, dtype=np.float32), (max(1, width), max(1, height)), interpolation=interp
    )
    return np.asarray(out, dtype=np.float32).reshape(max(1, height), max(1, width), -1)


def _noise_std(band: ImageArray, background: BoolArray) -> FloatArray:
    """Per-channel grain: robust std of the high-pass of the background (grey levels)."""
    f = band.astype(np.float32)
    high = f - np.asarray(cv2.GaussianBlur(f, (0, 0), 1.5), dtype=np.float32)
    values = high[background]
    if values.shape[0] < 16:
        return np.zeros(3, np.float32)
    mad = np.median(np.abs(values - np.median(values, axis=0)), axis=0)
    # x - blur(x) keeps ~0.95 of white noise's std at sigma 1.5: undo that.
    return np.asarray(1.4826 * mad / 0.95, dtype=np.float32)


def _design(u: FloatArray, v: FloatArray) -> FloatArray:
    cols = [u**i * v**j for i in range(_DEG_ACROSS + 1) for j in range(_DEG_ALONG + 1)]
    return np.stack(cols, axis=-1).astype(np.float32)


@dataclass(frozen=True)
class _Fit:
    coef: FloatArray  # (terms, 3)
    texture: float  # robust residual spread, grey levels
    tau: float  # damping length of the extrapolated coordinate, in units of the height


def _fit_smooth(band: ImageArray, background: BoolArray) -> _Fit:
    """Fit the polynomial on a downscaled, lightly blurred copy of the edge band.

    Coordinates: ``v`` = row / H in [0, 1], ``u`` = (column - band width) / H, so ``u`` < 0
    inside the photo and the strip starts at ``u`` = 0.
    """
    h, b = band.shape[:2]
    s = min(1.0, _FIT_HEIGHT / h)
    hs, bs = max(1, round(h * s)), max(1, round(b * s))
    small = _resize(band, bs, hs, cv2.INTER_AREA)
    small = np.asarray(cv2.GaussianBlur(small, (0, 0), 1.0), dtype=np.float32).reshape(hs, bs, 3)
    weight = _resize(background.astype(np.float32), bs, hs, cv2.INTER_AREA)[..., 0]
    keep = weight > 0.99
    if int(keep.sum()) < 3 * (_DEG_ACROSS + 1) * (_DEG_ALONG + 1):
        # Almost no background next to this edge: a flat fill of what there is.
        vals = band[background] if background.any() else band.reshape(-1, 3)
        coef = np.zeros(((_DEG_ACROSS + 1) * (_DEG_ALONG + 1), 3), np.float32)
        coef[0] = np.median(vals.astype(np.float32), axis=0)
        return _Fit(coef, 0.0, 0.25)
    ys, xs = np.nonzero(keep)
    v = ((ys + 0.5) / hs).astype(np.float32)
    u = (((xs + 0.5) / bs - 1.0) * (b / h)).astype(np.float32)
    a = _design(u, v)
    target = small[ys, xs]
    inliers = np.ones(len(ys), dtype=bool)
    coef = np.zeros((a.shape[1], 3), np.float32)
    for _ in range(2):
        coef = np.linalg.lstsq(a[inliers], target[inliers], rcond=None)[0].astype(np.float32)
        res = np.abs(target - a @ coef).mean(axis=1)
        spread = 1.4826 * float(np.median(res)) + 1e-3
        inliers = res <= 3.0 * spread
        if int(inliers.sum()) < a.shape[1] * 3:
            break
    residual = (target - a @ coef).mean(axis=1)
    texture = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    return _Fit(coef, texture, max(0.05, 0.5 * b / h))


def _eval_smooth(fit: _Fit, h: int, x_from: int, x_to: int) -> FloatArray:
    """The model over columns ``x_from .. x_to - 1`` relative to the edge (x = 0 is the first
    new column), all ``h`` rows; beyond the edge the across coordinate is damped."""
    x = np.arange(x_from, x_to, dtype=np.float32) + 0.5
    u = x / h
    pos = u > 0
    u[pos] = fit.tau * (1.0 - np.exp(-u[pos] / fit.tau))
    v = (np.arange(h, dtype=np.float32) + 0.5) / h
    terms = fit.coef.reshape(_DEG_ACROSS + 1, _DEG_ALONG + 1, 3)
    along = np.stack([v**j for j in range(_DEG_ALONG + 1)], axis=-1)  # (h, J)
    out = np.zeros((h, len(x), 3), np.float32)
    for i in range(_DEG_ACROSS + 1):
        g = along @ terms[i]  # (h, 3)
        out += g[:, None, :] * (u**i)[None, :, None]
    return out


def _patch_fill(
    band: ImageArray, product: BoolArray, strip: int, feather: int, seed: int
) -> FloatArray | None:
    """PatchMatch the strip at reduced resolution; returns the upsampled last
    ``feather + strip`` columns."""
    h, b = band.shape[:2]
    s = min(1.0, _PATCH_HEIGHT / h)
    hs = max(8, round(h * s))
    bs, rs = max(4, round(b * s)), max(1, round(strip * s))
    small = np.zeros((hs, bs + rs, 3), np.uint8)
    small[:, :bs] = np.clip(np.rint(_resize(band, bs, hs, cv2.INTER_AREA)), 0, 255)
    hole = np.zeros((hs, bs + rs), bool)
    hole[:, bs:] = True
    excluded = _resize(product.astype(np.float32), bs, hs, cv2.INTER_AREA)[..., 0] > 0
    glob = np.zeros((hs, bs + rs), bool)
    glob[:, :bs] = dilate(excluded, 1)
    patch_size = 3 if hs < 160 else 4
    filled = patchmatch(small, hole, exclude=glob, patch_size=patch_size, seed=seed)
    up = _resize(filled, b + strip, h, cv2.INTER_CUBIC)
    return up[:, b - feather :]


def _edge_trim(mask: BoolArray) -> int:
    """Columns at the right edge to resynthesise (0 when the product reaches into them)."""
    h, w = mask.shape
    trim = int(min(max(2, round(_EDGE_TRIM * h)), 16, w // 8))
    return 0 if mask[:, w - 2 * trim :].any() else trim


def _product_like(band: ImageArray, background: BoolArray) -> BoolArray:
    """Background pixels of ``band`` that look like stray bits of the product: thin details
    whose chroma departs from the local background (a strand of hair over a plain wall).
    Colour alone is not enough: a scene often shares the product's colours (brown hair,
    brown buildings) and its texture must stay available to the fill."""
    lab = cv2.cvtColor(np.ascontiguousarray(band), cv2.COLOR_RGB2LAB).astype(np.float32)
    local = cv2.medianBlur(np.ascontiguousarray(band), 7)
    local_lab = cv2.cvtColor(local, cv2.COLOR_RGB2LAB).astype(np.float32)
    chroma_jump = np.hypot(*(lab[..., 1:] - local_lab[..., 1:]).transpose(2, 0, 1))
    return np.asarray(background & dilate(chroma_jump > _CHROMA_JUMP, 1), dtype=bool)


def _match_seam(synth: FloatArray, photo: FloatArray, usable: BoolArray, strip: int) -> FloatArray:
    """Shift ``synth``'s low frequencies to the photo's along the seam.

    ``photo`` and ``synth[:, :feather]`` are the same columns; their per-row difference
    (smoothed along the seam, product pixels ignored) is added to the synthesis, fully in
    the feather zone and fading out across the strip, so the blend joins equal colours.
    """
    h, feather = photo.shape[:2]
    weight = usable.astype(np.float32)
    diff = ((photo - synth[:, :feather]) * weight[..., None]).sum(axis=1)
    count = weight.sum(axis=1)
    sigma = max(2.0, h / 40.0)
    num = np.asarray(cv2.GaussianBlur(diff[:, None, :], (1, 0), sigma), np.float32)[:, 0]
    den = np.asarray(cv2.GaussianBlur(count[:, None], (1, 0), sigma), np.float32).reshape(h)
    offset = num / np.maximum(den, 1e-3)[:, None]
    offset[den < 1e-3] = 0.0
    x = np.arange(synth.shape[1] - feather, dtype=np.float32)
    fade = np.concatenate([np.ones(feather, np.float32), np.exp(-x / max(8.0, 0.5 * strip))])
    return np.asarray(synth + offset[:, None, :] * fade[None, :, None], dtype=np.float32)


def _synth_right(
    rgb: ImageArray, mask: BoolArray, strip: int, seed: int
) -> tuple[ImageArray, ImageArray, str, int]:
    """Synthesise ``strip`` new columns right of ``rgb``.

    Returns the strip (HxSx3), the photo's last columns after blending (the feather zone
    then the ``trim`` resynthesised edge columns), the method used, and ``trim``.
    """
    trim = _edge_trim(mask)
    if not trim:
        return (*_synth_strip(rgb, mask, strip, seed), 0)
    # The photo's outermost columns are replaced by synthesis like the strip.
    strip_px, edge, method = _synth_strip(rgb[:, :-trim], mask[:, :-trim], strip + trim, seed)
    return strip_px[:, trim:], np.concatenate([edge, strip_px[:, :trim]], axis=1), method, trim


def _synth_strip(
    rgb: ImageArray, mask: BoolArray, strip: int, seed: int
) -> tuple[ImageArray, ImageArray, str]:
    h, w = rgb.shape[:2]
    feather = feather_width(h, w)
    b = min(w, max(2 * strip, h // 2, 16))
    band = rgb[:, w - b :]
    near_product = dilate(mask[:, w - b :], max(2, round(0.01 * h)))
    background = ~near_product
    fit = _fit_smooth(band, background)
    grain = _noise_std(band, background)
    rng = np.random.default_rng(seed)
    method = "studio-fit"
    synth: FloatArray | None = None
    # Texture either shows at the fit's scale or, when finer, as "grain" no sensor makes.
    if fit.texture > TEXTURE_THRESHOLD or float(grain.max()) > _MAX_GRAIN:
        avoid = near_product | _product_like(band, background)
        synth = _patch_fill(band, avoid, strip, feather, seed)
        if synth is not None:
            method = "patch"
    if synth is None:
        synth = _eval_smooth(fit, h, -feather, strip)
    synth = _match_seam(
        synth, rgb[:, w - feather :].astype(np.float32), background[:, b - feather :], strip
    )
    synth = synth + rng.standard_normal(synth.shape, dtype=np.float32) * grain
    # Blend weight: smoothstep 0 -> 1 over the feather zone, 1 in the strip, 0 on product.
    t = (np.arange(feather, dtype=np.float32) + 0.5) / max(feather, 1)
    ramp = t * t * (3.0 - 2.0 * t)
    alpha = np.broadcast_to(ramp, (h, feather)).copy()
    alpha[near_product[:, b - feather :]] = 0.0
    photo = rgb[:, w - feather :].astype(np.float32)
    a = alpha[..., None]
    blended = photo * (1.0 - a) + synth[:, :feather] * a
    return _to_uint8(synth[:, feather:]), _to_uint8(blended), method


def _to_uint8(x: npt.NDArray[np.floating]) -> ImageArray:
    return np.asarray(np.clip(np.rint(x), 0, 255), dtype=np.uint8)


def _extend_width(
    rgb: ImageArray, mask: BoolArray, new_w: int, seed: int
) -> tuple[ImageArray, int, list[str], tuple[int, int]]:
    """Widen to ``new_w`` columns; returns the image, the photo's x offset, the methods and
    how many of the photo's own columns were resynthesised on the (left, right)."""
    h, w = rgb.shape[:2]
    extra = new_w - w
    box = _box(mask, 0)
    centre = (box.x0 + box.x1) / 2.0
    ox = int(min(max(round(new_w / 2.0 - centre), 0), extra))
    # A product cut by the photo's edge would be continued by any fill on that side
    # (a tongue smeared into the new strip): grow only the sides it does not touch.
    touches_left, touches_right = box.x0 <= 1, box.x1 >= w - 1
    if touches_left and touches_right:
        raise ExtensionRefused(
            "The product touches both sides the photo would be extended on; extending would "
            "continue the product."
        )
    if touches_left:
        ox = 0
    elif touches_right:
        ox = extra
    left, right = ox, extra - ox
    out = np.empty((h, new_w, 3), np.uint8)
    out[:, ox : ox + w] = rgb
    methods: list[str] = []
    trim_left = trim_right = 0
    if right > 0:
        strip, edge, m, trim_right = _synth_right(rgb, mask, right, seed)
        out[:, ox + w :] = strip
        out[:, ox + w - edge.shape[1] : ox + w] = edge
        methods.append(m)
    if left > 0:
        strip, edge, m, trim_left = _synth_right(rgb[:, ::-1], mask[:, ::-1], left, seed + 1)
        out[:, :ox] = strip[:, ::-1]
        out[:, ox : ox + edge.shape[1]] = edge[:, ::-1]
        methods.append(m)
    return out, ox, methods, (trim_left, trim_right)


def _crop_rows(mask: BoolArray, keep: Box, box: Box, want_h: int) -> tuple[int, int]:
    """Rows ``y0, y1`` of a crop at least ``want_h`` tall (never below the kept box's height),
    centred on the product where possible, containing ``keep``."""
    h = mask.shape[0]
    hc = min(h, max(want_h, keep.height))
    centre = (box.y0 + box.y1) / 2.0
    y0 = round(centre - hc / 2.0)
    y0 = min(max(y0, keep.y1 - hc, 0), keep.y0, h - hc)
    return int(y0), int(y0 + hc)


def _same_aspect(w: int, h: int, ratio: float) -> bool:
    return abs(w - round(h * ratio)) <= 1 or abs(h - round(w / ratio)) <= 1


def extend_to_aspect(
    rgb: ImageArray,
    product_mask: BoolArray,
    aspect_w: int,
    aspect_h: int,
    *,
    allow_crop: bool = False,
    max_synth_share: float = 0.5,
    margin: float = 0.05,
    seed: int = 0,
) -> Extended:
    """Reframe ``rgb`` to ``aspect_w:aspect_h`` without stretching it or cutting the product.

    Args:
        rgb: ``uint8`` HxWx3 photo.
        product_mask: ``bool`` HxW, True on the product.
        aspect_w, aspect_h: the target aspect, e.g. 16, 9.
        allow_crop: crop background along the other axis first (never the product's box grown
            by the margin) so that less is synthesised.
        max_synth_share: the largest share of the output's pixels that may be synthesised;
            more raises :class:`InputError`.
        margin: background kept around the product's box when cropping, as a share of the
            photo's longer side.
        seed: seed of the grain and of PatchMatch: the same inputs give the same bytes.

    Raises:
        InputError: bad shapes or parameters, an empty mask, or an extension that would
            synthesise more than ``max_synth_share`` of the output.
    """
    mask = np.asarray(product_mask, dtype=bool)
    _check(rgb, mask, aspect_w, aspect_h, max_synth_share, margin)
    h, w = mask.shape
    ratio = aspect_w / aspect_h
    if _same_aspect(w, h, ratio):
        return Extended(rgb.copy(), "none", _box(mask, 0), np.zeros((h, w), bool), Box(0, 0, w, h))
    # Work on the "too narrow: widen" case; the other one is its transpose.
    transposed = w / h > ratio
    if transposed:
        rgb_w, mask_w, ratio_w = rgb.transpose(1, 0, 2), mask.T, 1.0 / ratio
    else:
        rgb_w, mask_w, ratio_w = rgb, mask, ratio
    hh, ww = mask_w.shape
    methods: list[str] = []
    y0, y1 = 0, hh
    if allow_crop:
        pad = round(margin * max(h, w))
        y0, y1 = _crop_rows(mask_w, _box(mask_w, pad), _box(mask_w, 0), round(ww / ratio_w))
        if (y0, y1) != (0, hh):
            methods.append("crop")
            rgb_w, mask_w = rgb_w[y0:y1], mask_w[y0:y1]
    hc = y1 - y0
    new_w = ww if _same_aspect(ww, hc, ratio_w) else round(hc * ratio_w)
    share = (new_w - ww) / new_w
    if share > max_synth_share:
        raise ExtensionRefused(
            f"Reaching {aspect_w}:{aspect_h} would synthesise {share:.0%} of the image, more "
            f"than the allowed {max_synth_share:.0%}; allow cropping, raise max_synth_share, "
            "or place the cutout on a plain background instead."
        )
    ox = 0
    out = np.ascontiguousarray(rgb_w)
    synthesized = np.zeros((hc, new_w), bool)
    if new_w > ww:
        out, ox, strip_methods, (trim_left, trim_right) = _extend_width(out, mask_w, new_w, seed)
        methods.extend(sorted(set(strip_methods)))
        synthesized[:, : ox + trim_left] = True
        synthesized[:, ox + ww - trim_right :] = True
    else:
        out = out.copy()
    product = _box(mask_w, 0)
    product = Box(product.x0 + ox, product.y0, product.x1 + ox, product.y1)
    photo = Box(ox, 0, ox + ww, hc)
    if transposed:
        out = np.ascontiguousarray(out.transpose(1, 0, 2))
        synthesized = np.ascontiguousarray(synthesized.T)
        product = Box(product.y0, product.x0, product.y1, product.x1)
        photo = Box(photo.y0, photo.x0, photo.y1, photo.x1)
    return Extended(out, "+".join(methods), product, synthesized, photo)


def _without_product(small: ImageArray, product: BoolArray) -> ImageArray:
    """``small`` (the photo downscaled) with the product filled from around it, so that a
    blurred, enlarged copy shows the scene and not a ghost of the product."""
    sh, sw = small.shape[:2]
    hole = cv2.resize(product.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST)
    hole = dilate(hole > 0, max(2, round(0.03 * max(sw, sh)))).astype(np.uint8)
    radius = max(3, round(0.05 * max(sw, sh)))
    return np.asarray(cv2.inpaint(np.ascontiguousarray(small), hole, radius, cv2.INPAINT_TELEA))


def blurred_backdrop(
    rgb: ImageArray, product_mask: BoolArray, aspect_w: int, aspect_h: int
) -> Extended:
    """The whole photo, untouched, centred on a canvas of ``aspect_w:aspect_h`` whose
    other pixels are the photo itself scaled to cover the canvas and heavily blurred.

    The composition that works for every photo and aspect (the product is never
    continued, nothing is invented that could look like the scene): used where
    :func:`extend_to_aspect` refuses. The margins are made from the photo with the product
    filled away (an enlarged, blurred ghost of the product would read as a smear). Only
    the blurred margins are ``synthesized``.
    """
    mask = np.asarray(product_mask, dtype=bool)
    _check(rgb, mask, aspect_w, aspect_h, 1.0, 0.0)
    h, w = mask.shape
    ratio = aspect_w / aspect_h
    if _same_aspect(w, h, ratio):
        return Extended(rgb.copy(), "none", _box(mask, 0), np.zeros((h, w), bool), Box(0, 0, w, h))
    if w / h < ratio:
        cw, ch = round(h * ratio), h
    else:
        cw, ch = w, round(w / ratio)
    # Blurred at a small size (cheap, and the blur's reach scales with the canvas).
    small_w = max(8, min(cw, 256))
    small_h = max(8, round(small_w * ch / cw))
    cover = max(small_w / w, small_h / h)
    sw, sh = max(small_w, round(w * cover)), max(small_h, round(h * cover))
    scaled = _without_product(
        np.asarray(cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA), np.uint8), mask
    )
    x0, y0 = (sw - small_w) // 2, (sh - small_h) // 2
    tiny = np.ascontiguousarray(scaled[y0 : y0 + small_h, x0 : x0 + small_w])
    tiny = np.asarray(cv2.GaussianBlur(tiny, (0, 0), sigmaX=0.04 * small_w), np.uint8)
    out = np.asarray(cv2.resize(tiny, (cw, ch), interpolation=cv2.INTER_CUBIC), np.uint8)
    ox, oy = (cw - w) // 2, (ch - h) // 2
    out[oy : oy + h, ox : ox + w] = rgb
    synthesized = np.ones((ch, cw), bool)
    synthesized[oy : oy + h, ox : ox + w] = False
    product = _box(mask, 0)
    product = Box(product.x0 + ox, product.y0 + oy, product.x1 + ox, product.y1 + oy)
    return Extended(out, "blurred-backdrop", product, synthesized, Box(ox, oy, ox + w, oy + h))


_CUTOUT_KINDS = ("cutout-on-blur", "studio-sweep")

_EDGE = 2
"""A product within this many pixels of the photo's frame is cut by it."""


def cut_sides(mask: BoolArray) -> tuple[str, ...]:
    """The photo edges (``left``, ``right``, ``top``, ``bottom``) the product touches."""
    h, w = mask.shape
    e = _EDGE
    edges = {
        "left": mask[:, :e],
        "right": mask[:, w - e :],
        "top": mask[:e],
        "bottom": mask[h - e :],
    }
    return tuple(name for name, edge in edges.items() if edge.any())


def _canvas_size(w: int, h: int, ratio: float) -> tuple[int, int]:
    """The canvas of ``ratio`` that holds a ``w`` x ``h`` photo at its own scale."""
    return (round(h * ratio), h) if w / h < ratio else (w, round(w / ratio))


def _palette(rgb: ImageArray, background: BoolArray) -> tuple[FloatArray, FloatArray]:
    """The photo's wall and floor colours: median background colour of its upper and lower
    halves (the whole background where a half has too little)."""
    h = rgb.shape[0]
    colours = []
    for rows in (slice(0, h // 2), slice(h // 2, h)):
        px = rgb[rows][background[rows]]
        if px.shape[0] < 64:
            px = rgb[background] if background.sum() >= 64 else rgb.reshape(-1, 3)
        colours.append(np.median(px.astype(np.float32), axis=0))
    return colours[0], colours[1]


def _soft_scene(
    rgb: ImageArray, product: BoolArray, cw: int, ch: int, ox: int, oy: int
) -> ImageArray:
    """The photo without its product (filled from around it at a small scale) at offset
    ``ox, oy`` of a ``cw`` x ``ch`` canvas whose margins are the photo scaled to cover it,
    all blurred as one: a shallow-focus view of the same scene, aligned with where the
    product stood in it, with no frame line and nothing that reads as a second product."""
    h, w = product.shape
    s = min(1.0, 256 / max(cw, ch))
    sw, sh = max(8, round(w * s)), max(8, round(h * s))
    tiny_w, tiny_h = max(8, round(cw * s)), max(8, round(ch * s))
    clean = _without_product(
        np.asarray(cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA), np.uint8), product
    )
    canvas = cover(np.ascontiguousarray(clean), tiny_w, tiny_h)
    x0, y0 = min(round(ox * s), tiny_w - sw), min(round(oy * s), tiny_h - sh)
    canvas[y0 : y0 + sh, x0 : x0 + sw] = clean
    soft = cv2.GaussianBlur(canvas, (0, 0), sigmaX=0.03 * max(tiny_w, tiny_h))
    return np.asarray(cv2.resize(soft, (cw, ch), interpolation=cv2.INTER_CUBIC), np.uint8)


def _offset(canvas: int, photo: int, low: int, high: int, lo_cut: bool, hi_cut: bool) -> int:
    """Where the photo's frame goes along a grown axis: the product centred, or flush with
    the canvas edge that cuts it (its cut then is the canvas's)."""
    extra = canvas - photo
    if lo_cut:
        return 0
    if hi_cut:
        return extra
    return int(min(max(round(canvas / 2.0 - (low + high) / 2.0), 0), extra))


def cutout_backdrop(
    rgb: ImageArray,
    alpha: ImageArray,
    aspect_w: int,
    aspect_h: int,
    kind: str,
    *,
    seed: int = 0,
) -> tuple[Extended, FloatArray]:
    """The cut-out product on a new background of ``aspect_w:aspect_h`` made from the photo.

    The canvas is the photo grown along one axis; the product keeps its pixels exactly
    (its scale, its place along the other axis), centred along the grown one, or flush
    with a canvas edge where the photo's edge cuts it there. ``kind``:

    ``"cutout-on-blur"``
        the photo with the product filled away, at the same place, its margins the photo
        scaled to cover the canvas, all blurred (a shallow-focus view of the same scene).
    ``"studio-sweep"``
        a sweep from the photo's upper background colour (the wall) to its lower one (the
        floor), with a soft contact shadow under the product.

    Returns the canvas (``synthesized`` everywhere but the product) and the product's
    coverage on it (float32 0..1).

    Raises:
        InputError: bad arrays, an unknown kind, or a product cut by both sides of the
            grown axis (no placement hides both cuts).
    """
    mask = np.asarray(alpha, dtype=np.uint8) >= 128
    _check(rgb, mask, aspect_w, aspect_h, 1.0, 0.0)
    if kind not in _CUTOUT_KINDS:
        raise InputError(f"unknown cutout composition {kind!r}; known: {', '.join(_CUTOUT_KINDS)}")
    h, w = mask.shape
    cw, ch = _canvas_size(w, h, aspect_w / aspect_h)
    box = _box(mask, 0)
    cut = set(cut_sides(mask))
    widen = cw > w
    grown = ("left", "right") if widen else ("top", "bottom")
    if set(grown) <= cut:
        raise ExtensionRefused(
            f"The product is cut by the photo's {grown[0]} and {grown[1]} edges; on a wider "
            "canvas one of the cuts would show."
        )
    ox = _offset(cw, w, box.x0, box.x1, "left" in cut, "right" in cut) if widen else 0
    oy = 0 if widen else _offset(ch, h, box.y0, box.y1, "top" in cut, "bottom" in cut)
    a = np.zeros((ch, cw), np.float32)
    a[oy : oy + h, ox : ox + w] = np.asarray(alpha, np.float32) / np.float32(255.0)
    front = np.zeros((ch, cw, 3), np.float32)
    front[oy : oy + h, ox : ox + w] = rgb
    if kind == "studio-sweep":
        wall, floor = _palette(rgb, ~dilate(mask, max(2, round(0.01 * max(h, w)))))
        horizon = min(0.85, max(0.3, (oy + box.y1) / ch - 0.08))
        back = studio_gradient(
            cw,
            ch,
            wall=tuple(int(v) for v in np.clip(wall * 1.04 + 4.0, 0, 255)),  # type: ignore[arg-type]
            floor=tuple(int(v) for v in floor),  # type: ignore[arg-type]
            horizon=horizon,
            vignette=0.12,
            seed=seed,
        ).astype(np.float32)
        shadow = contact_shadow(np.asarray(np.rint(a * 255), np.uint8), ShadowParams(opacity=0.35))
        if shadow is not None:
            back[shadow.box.slices] *= (1.0 - shadow.opacity * shadow.strength)[..., None]
    else:
        back = _soft_scene(rgb, mask, cw, ch, ox, oy).astype(np.float32)
    out = back * (1.0 - a[..., None]) + front * a[..., None]
    product = Box(box.x0 + ox, box.y0 + oy, box.x1 + ox, box.y1 + oy)
    made = Extended(_to_uint8(out), kind, product, a < 0.5, Box(ox, oy, ox + w, oy + h))
    return made, a
