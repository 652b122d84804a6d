"""Colourways: recolour a region (a garment) to a target colour or a print, shading kept.

A photographed fabric is, per pixel and in linear light, its dye's reflectance times the
light that reaches it (folds, creases, stitching relief, highlights). :func:`recolor`
keeps the light and changes the dye:

1. the shading ``S`` is each pixel's luminance over the luminance of the region's dominant
   colour (:func:`~packshot.ops.color.dominant_color`, its mid-tone), so ``S = 1`` on
   the typical pixel, below 1 in folds, above 1 on highlights;
2. the new pixel is the target's linear RGB times ``S``. Light made dark never clips
   (a product of numbers below 1); dark made light would push highlights past white, so
   ``S`` above 1 is compressed in log space into the headroom the target leaves
   (``log S -> h tanh(log S / h)``, ``h = log(1 / the target's largest linear
   channel)``): the mid-tone stays exact, highlights roll off smoothly instead of
   flattening at 255, and keep their hue;
3. whatever still leaves the sRGB gamut is desaturated towards its own luminance
   (as a real specular highlight whitens), never hue-shifted by
   per-channel clipping;
4. the variant's dominant colour is measured and the working target corrected, a few
   times, so the measured colour lands on the target (the compression and the gamut
   shift the median by a little);
5. the result is blended with the photo by the region's alpha: pixels with alpha 0 are
   returned bit-exact, soft edges mix.

:func:`recolor_pattern` does the same with a print: a swatch tiled (mirrored, so no seam)
at a scale, its texture coordinates pushed along the shading's gradient so the print
bends into folds, times the same shading.

A dark photo's shading is measured on few levels: made near-white, its JPEG noise and
blocks are amplified with it and show as a faint mottle (like a fabric's own texture at
a glance). Smoothing the shading was tried and dropped: it took the weave with the
noise, and a near-black source has no more detail to give.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError
from packshot.ops.color import (
    delta_e_2000,
    dominant_color,
    lab_to_rgb,
    linear_to_srgb,
    luminance,
    mean_color,
    rgb_to_lab,
    srgb_to_linear,
)
from packshot.ops.matte import bounding_box

__all__ = [
    "Recolored",
    "recolor",
    "recolor_pattern",
    "shading_correlation",
]

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

CORRECTIONS = 8
"""Measure-and-correct rounds at most; two usually bring the measured colour within 0.3."""

CORRECTED = 0.3
"""CIEDE2000 below which the measured colour is taken as on target (no further round)."""

MIN_HEADROOM = 0.02
"""log-luminance room left above a near-white target: highlights keep a trace of shape
instead of a flat 255 plateau."""


@dataclass(frozen=True, eq=False)
class Recolored:
    """A variant and what was measured on it (CIELAB, CIEDE2000 over the region)."""

    rgb: ImageArray
    source_lab: tuple[float, float, float]
    """The region's dominant colour before."""
    target_lab: tuple[float, float, float]
    measured_lab: tuple[float, float, float]
    """The variant region's dominant colour (the same measure)."""
    delta_e: float
    """CIEDE2000 between ``measured_lab`` and ``target_lab``."""
    shading_correlation: float
    """Pearson correlation of the band-passed lightness before and after
    (:func:`shading_correlation`)."""
    fabric: FloatArray
    """The alpha the variant was blended with: the region without its accents (the
    region itself with ``keep_accents`` off). Colours are measured over it."""

    def info(self) -> dict[str, object]:
        return {
            "source_lab": [round(v, 2) for v in self.source_lab],
            "target_lab": [round(v, 2) for v in self.target_lab],
            "measured_lab": [round(v, 2) for v in self.measured_lab],
            "delta_e": round(self.delta_e, 3),
            "shading_correlation": round(self.shading_correlation, 4),
        }


def _tuple3(v: npt.ArrayLike) -> tuple[float, float, float]:
    a = np.asarray(v, np.float64).reshape(3)
    return float(a[0]), float(a[1]), float(a[2])


def _check(rgb: ImageArray, alpha: FloatArray) -> tuple[slice, slice]:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError("recolor: the image must be uint8 RGB")
    if alpha.shape != rgb.shape[:2]:
        raise InputError(
            f"recolor: the region is {alpha.shape[1]}x{alpha.shape[0]} but the image is "
            f"{rgb.shape[1]}x{rgb.shape[0]}"
        )
    box = bounding_box(alpha > 0, 0)
    if box is None or not (alpha > 0.5).any():
        raise InputError("recolor: the region is empty (nothing to recolour)")
    return box


def _log_shading(lin: FloatArray, source_y: float) -> FloatArray:
    """log of each pixel's luminance over the region's dominant luminance."""
    y = np.maximum(luminance(lin), 1e-5)
    return np.asarray(np.log(y / max(source_y, 1e-5)), np.float32)


ACCENT_HUE = (30.0, 50.0)
"""Hue angle (degrees of CIELAB hue) from the fabric's dominant colour over which a
chromatic pixel goes from fabric (recoloured) to accent (kept): a patch, a print or a
trim of another hue. Shading, sheen and a clipped channel move a dyed fabric's hue by
under 20 degrees; orange to violet is 90."""

ACCENT_GREY = (0.35, 0.2)
"""Chroma of a pixel brighter than the fabric's mid-tone, as a share of the fabric's own
chroma, under which it goes from highlight to a white (or grey) trim, strap or print: a
highlight on a dyed fabric keeps over half its chroma."""

ACCENT_COLOR = (12.0, 24.0)
"""On a neutral fabric (white, grey, black: chroma under :data:`NEUTRAL`), chroma above
the fabric's over which a pixel is a coloured print or trim."""

NEUTRAL = 10.0
"""CIELAB chroma under which a fabric has no hue to compare with."""

ACCENT_LIGHT = (1.8, 2.6)
"""|log shading| over which a pixel goes from fabric to accent: 6x to 13x brighter (or
darker) than the fabric's mid-tone is a print of another lightness (a white print on a
black tee), not a fold or a highlight."""


ACCENT_RICHER = (1.6, 2.1)
"""Chroma as a multiple of a dyed fabric's own over which a pixel of a near hue goes from
fabric to accent: a saturated appliqué or gilt hardware on a pale leather of about its
hue (pink flowers on blush pink, gold on beige). Shading and sheen of one dye stay under
1.4x: a darker fold loses chroma, a highlight loses more."""

ACCENT_GROW = 0.5
"""An accent is a patch, not a pixel: from each pixel surely an accent (score above this),
it grows into the connected pixels that lean the same way on looser bounds (hue 15-30
degrees off, chroma 1.35-1.6x) within :data:`GROW_REACH`, so a flower's paler petals go
with its saturated heart, while the same faint lean alone, far from any accent (shading),
stays fabric."""


GROW_REACH = 0.02
"""How far (share of the region's diagonal) an accent grows from its sure pixels: a
petal's width, not a panel's; shading beside an appliqué stays fabric."""


def _grown(strong: FloatArray, weak: FloatArray) -> FloatArray:
    """``weak`` kept where its connected region (``weak > 0``, within
    :data:`GROW_REACH` of a sure pixel) holds a ``strong`` pixel."""
    sure = (strong > ACCENT_GROW).astype(np.uint8)
    reach = max(1, round(GROW_REACH * float(np.hypot(*strong.shape))))
    near = cv2.dilate(sure, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2))
    count, labels = cv2.connectedComponents(
        ((weak > 0.0) & (near > 0)).astype(np.uint8), connectivity=8
    )
    if count <= 1:
        return np.zeros_like(weak)
    seeded = np.zeros(count, bool)
    seeded[np.unique(labels[strong > ACCENT_GROW])] = True
    seeded[0] = False
    return np.asarray(np.where(seeded[labels], np.maximum(weak, strong), 0.0), np.float32)


def _ramp(x: npt.ArrayLike, lo: float, hi: float) -> FloatArray:
    return np.asarray(np.clip((np.asarray(x) - lo) / (hi - lo), 0.0, 1.0), np.float32)


def fabric_share(crop: ImageArray, log_s: FloatArray, dominant_lab: npt.ArrayLike) -> FloatArray:
    """Per pixel, how surely it is the garment's fabric (1) rather than an accent of
    another colour (0) that a colourway keeps; see :data:`ACCENT_HUE`,
    :data:`ACCENT_GREY`, :data:`ACCENT_COLOR`, :data:`ACCENT_LIGHT`."""
    lab = rgb_to_lab(crop)
    dom = np.asarray(dominant_lab, np.float64)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    dom_chroma = float(np.hypot(dom[1], dom[2]))
    light = _ramp(np.abs(log_s), *ACCENT_LIGHT)
    if dom_chroma < NEUTRAL:
        accent = np.maximum(_ramp(chroma - dom_chroma, *ACCENT_COLOR), light)
    else:
        hue = np.degrees(np.arctan2(lab[..., 2], lab[..., 1]) - np.arctan2(dom[2], dom[1]))
        hue = np.abs((hue + 180.0) % 360.0 - 180.0)
        # Hue is noise where there is little chroma (deep folds, near-white): those are
        # judged by the grey test and the lightness test alone.
        chromatic = _ramp(chroma, 6.0, 12.0)
        grey = _ramp(-chroma / dom_chroma, -ACCENT_GREY[0], -ACCENT_GREY[1])
        brighter = _ramp(lab[..., 0] - dom[0], 5.0, 15.0)
        ratio = chroma / dom_chroma
        richer = _ramp(ratio, *ACCENT_RICHER) * _ramp(chroma - dom_chroma, 8.0, 14.0)
        strong = np.maximum(_ramp(hue, *ACCENT_HUE) * chromatic, richer)
        lean = np.maximum(_ramp(hue, 15.0, 30.0) * chromatic, _ramp(ratio, 1.35, 1.6))
        accent = np.maximum.reduce([strong, _grown(strong, lean), grey * brighter, light])
    return np.asarray(cv2.GaussianBlur(1.0 - accent, (0, 0), 1.0), np.float32)


def _shade(albedo: FloatArray, log_s: FloatArray, top: float) -> FloatArray:
    """Linear RGB of ``albedo`` (HxWx3 or 3) lit by ``exp(log_s)``, highlights compressed
    into the headroom above ``top`` (the albedo's largest channel) and whatever still
    leaves the gamut desaturated towards its own luminance."""
    # The headroom is the largest channel's, not the luminance's: a bright yellow's red
    # channel clips long before its luminance does, and desaturating every highlight
    # white would leave a yellow garment with white folds.
    head = max(float(np.log(1.0 / max(top, 1e-4))), MIN_HEADROOM)
    s = np.where(log_s > 0, head * np.tanh(log_s / head), log_s)
    lit = np.asarray(albedo, np.float32) * np.exp(s)[..., None]
    y = np.minimum(luminance(lit), 1.0)[..., None]
    peak = lit.max(axis=-1, keepdims=True)
    over = peak > 1.0
    k = np.where(over, (1.0 - y) / np.maximum(peak - y, 1e-6), 1.0)
    return np.asarray(y + k * (lit - y), np.float32)


def _blend(
    rgb: ImageArray, new: FloatArray, alpha: FloatArray, box: tuple[slice, slice]
) -> ImageArray:
    out = rgb.copy()
    src = rgb[box].astype(np.float32)
    a = alpha[box][..., None]
    mixed = np.clip(np.rint(src + a * (new - src)), 0, 255).astype(np.uint8)
    # Only the region changes: alpha 0 keeps the photo's bytes.
    out[box] = np.where(a > 0, mixed, rgb[box])
    return out


def shading_correlation(
    before: ImageArray, after: ImageArray, alpha: FloatArray, *, sigma_frac: float = 0.03
) -> float:
    """Pearson correlation of band-passed L* inside the region, before vs after.

    The band-pass (L* minus its Gaussian blur, of the region alone, at ``sigma_frac`` of
    the region's long side)
    keeps folds, creases, texture and stitching and drops the overall light fall-off; the
    region is the alpha above 0.95, eroded by 3 px so its outline's step is not counted.
    1 = every fold and thread is where it was with the same relative depth; a flat tint
    of the region would give about 0.
    """
    box = bounding_box(alpha > 0.95, 0)
    if box is None:
        return float("nan")
    inner = cv2.erode((alpha[box] > 0.95).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    if inner.sum() < 16:
        return float("nan")
    h, w = inner.shape
    sigma = max(1.0, sigma_frac * max(h, w))

    weight = inner.astype(np.float32)
    norm = np.maximum(cv2.GaussianBlur(weight, (0, 0), sigma), 1e-6)

    def band(img: ImageArray) -> FloatArray:
        lum = rgb_to_lab(img[box])[..., 0].astype(np.float32)
        # A blur of the region alone (normalised convolution): the background's lightness
        # must not leak into the region's low-pass and ring along its outline.
        low = cv2.GaussianBlur(lum * weight, (0, 0), sigma) / norm
        return np.asarray(lum - low, np.float32)

    x, y = band(before)[inner], band(after)[inner]
    x, y = x - x.mean(), y - y.mean()
    denom = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def recolor(
    rgb: ImageArray,
    alpha: FloatArray,
    target: tuple[int, int, int],
    *,
    corrections: int = CORRECTIONS,
    keep_accents: bool = True,
) -> Recolored:
    """Recolour the region ``alpha`` (float32 0..1, the image's size) of ``rgb`` (uint8
    RGB) so that its dominant colour is ``target`` (sRGB), shading kept (module docstring).

    ``keep_accents``: pixels of another colour than the fabric's (a patch, a print, a
    trim: :func:`fabric_share`) keep theirs, as a colourway's do.

    Raises:
        InputError: the image is not uint8 RGB, the region has another size or is empty.
    """
    box = _check(rgb, alpha)
    alpha = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
    crop, a = rgb[box], alpha[box]
    source_lab = dominant_color(crop, a)
    source_y = float(luminance(srgb_to_linear(lab_to_rgb(source_lab))))
    lin = srgb_to_linear(crop)
    log_s = _log_shading(lin, source_y)
    blend = alpha
    if keep_accents:
        blend = alpha.copy()
        blend[box] = a * fabric_share(crop, log_s, source_lab)
    target_lab = rgb_to_lab(np.asarray(target, np.float32))
    work = target_lab.copy()
    best: tuple[float, ImageArray, npt.NDArray[np.float64]] | None = None
    for _ in range(max(1, corrections)):
        albedo = srgb_to_linear(lab_to_rgb(work))
        new = linear_to_srgb(_shade(albedo, log_s, float(albedo.max())))
        out = _blend(rgb, new, blend, box)
        measured = dominant_color(out[box], blend[box])
        de = float(delta_e_2000(measured, target_lab))
        if best is None or de < best[0]:
            best = (de, out, measured)
        if de <= CORRECTED:
            break
        work = np.clip(work + (target_lab - measured), [0.0, -128.0, -128.0], [100.0, 127.0, 127.0])
    assert best is not None
    de, out, measured = best
    return Recolored(
        out,
        _tuple3(source_lab),
        _tuple3(target_lab),
        _tuple3(measured),
        de,
        shading_correlation(rgb, out, alpha),
        blend,
    )


def _tile_coords(
    h: int, w: int, ph: int, pw: int, scale: float, shift_x: FloatArray, shift_y: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Swatch coordinates of every region pixel: mirrored tiling (no seam) at ``scale``
    photo px per swatch px, displaced by the fold shift (photo px)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xs + shift_x) / np.float32(scale)
    v = (ys + shift_y) / np.float32(scale)

    def mirror(t: FloatArray, n: int) -> FloatArray:
        period = 2.0 * (n - 1) if n > 1 else 1.0
        t = np.mod(t, period)
        return np.asarray(np.where(t > n - 1, period - t, t), np.float32)

    return mirror(u, pw), mirror(v, ph)


def recolor_pattern(
    rgb: ImageArray,
    alpha: FloatArray,
    pattern: ImageArray,
    *,
    scale: float | None = None,
    fold_warp: float = 1.0,
    keep_accents: bool = True,
) -> Recolored:
    """Print ``pattern`` (a uint8 RGB swatch) onto the region, following its folds.

    Args:
        scale: photo px per swatch px; default: the swatch's long side spans a quarter
            of the region's long side (a print repeat a shopper can read).
        fold_warp: how far the print is pushed along the shading's gradient into folds
            (1 = up to about a twentieth of a repeat on a deep fold; 0 = flat tiling).

        keep_accents: as for :func:`recolor` (patches and trims keep their colour).

    The colour reported is the variant's mean over the region (its fabric part) against
    the swatch's mean, in CIELAB.
    """
    box = _check(rgb, alpha)
    if pattern.dtype != np.uint8 or pattern.ndim != 3 or pattern.shape[2] != 3:
        raise InputError("recolor: the pattern swatch must be uint8 RGB")
    ph, pw = pattern.shape[:2]
    if min(ph, pw) < 8:
        raise InputError(f"recolor: the pattern swatch is {pw}x{ph}; at least 8x8 px are needed")
    alpha = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
    crop, a = rgb[box], alpha[box]
    h, w = crop.shape[:2]
    if scale is None:
        scale = 0.25 * max(h, w) / max(ph, pw)
    if not scale > 0:
        raise InputError(f"recolor: pattern scale {scale} must be positive")
    source_lab = dominant_color(crop, a)
    source_y = float(luminance(srgb_to_linear(lab_to_rgb(source_lab))))
    log_s = _log_shading(srgb_to_linear(crop), source_y)
    # Folds: the gradient of the smoothed shading points across them; pushing the print's
    # coordinates along it compresses the print into the fold, as cloth does.
    smooth = cv2.GaussianBlur(log_s, (0, 0), max(1.0, 0.01 * max(h, w)))
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    reach = np.float32(fold_warp * 0.05 * scale * max(ph, pw))
    shift_x = np.asarray(np.clip(gx * reach * 20.0, -reach, reach), np.float32)
    shift_y = np.asarray(np.clip(gy * reach * 20.0, -reach, reach), np.float32)
    map_x, map_y = _tile_coords(h, w, ph, pw, scale, shift_x, shift_y)
    # A print shown smaller than the swatch is low-passed first so remapping does not
    # alias it (moire on a fine check).
    src = pattern if scale >= 1.0 else cv2.GaussianBlur(pattern, (0, 0), 0.5 / scale)
    albedo_srgb = cv2.remap(src, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    albedo = srgb_to_linear(albedo_srgb)
    # A print's colours are its mean (a median of a two-colour check is either colour):
    # the shading is normalised to mean 1 over the region so the variant's mean colour
    # is the swatch's, lit as the garment is.
    inside = a > 0.5
    log_s = log_s - float(np.log(np.mean(np.exp(log_s[inside]))))
    top = float(np.percentile(albedo.max(axis=-1), 99))
    new = linear_to_srgb(_shade(albedo, log_s, top))
    blend = alpha
    if keep_accents:
        blend = alpha.copy()
        blend[box] = a * fabric_share(crop, log_s, source_lab)
    out = _blend(rgb, new, blend, box)
    target_lab = mean_color(pattern)
    measured = mean_color(out[box], blend[box])
    return Recolored(
        out,
        _tuple3(source_lab),
        _tuple3(target_lab),
        _tuple3(measured),
        float(delta_e_2000(measured, target_lab)),
        shading_correlation(rgb, out, alpha),
        blend,
    )
