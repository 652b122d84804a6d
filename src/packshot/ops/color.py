"""Colour science: sRGB <-> linear light <-> CIELAB (D65), the CIEDE2000 colour
difference, and the dominant colour of a region.

CIEDE2000 (Sharma, Wu and Dalal, 2005) is the perceptual difference the print and
e-commerce trades quote: about 1 is a just-noticeable difference side by side, 2-3 is
noticeable at a glance, above 5 is a different colour.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "LUMA",
    "delta_e_2000",
    "dominant_color",
    "lab_to_rgb",
    "linear_to_srgb",
    "luminance",
    "mean_color",
    "rgb_to_lab",
    "srgb_to_linear",
]

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]

LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
"""Relative luminance Y of linear sRGB (Rec. 709 primaries, D65)."""

DOMINANT_HUE_BAND = 30.0
"""Pixels of a chromatic region (median chroma at least :data:`DOMINANT_NEUTRAL`) whose
CIELAB hue lies within this many degrees of the region's median hue make its dominant
colour: a print, a logo or a trim of another hue is left out, while shading and sheen
(which move lightness and chroma, and hue by under 20 degrees) stay in."""

DOMINANT_NEUTRAL = 10.0
"""CIELAB chroma under which a region is neutral (white, grey, black): its dominant
colour is then made of the pixels within :data:`DOMINANT_CHROMA_BAND` of its median a*b*."""

DOMINANT_CHROMA_BAND = 12.0

DOMINANT_SAMPLES = 60_000
"""Pixels a dominant colour is measured on (a regular subsample): a median over more
changes by less than a CIEDE2000 of 0.1."""


def rgb_to_lab(rgb: npt.ArrayLike) -> FloatArray:
    """sRGB (uint8 0..255, any shape ending in 3) to CIELAB L* 0..100, a*, b* (D65)."""
    arr = np.asarray(rgb, dtype=np.float32).reshape(-1, 1, 3) / np.float32(255.0)
    lab = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2Lab)
    return np.asarray(lab, dtype=np.float64).reshape(np.shape(rgb))


def srgb_to_linear(rgb: npt.ArrayLike) -> Float32Array:
    """sRGB (uint8 0..255 or float 0..255) to linear light 0..1 (IEC 61966-2-1)."""
    c = np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
    out = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return np.asarray(out, dtype=np.float32)


def linear_to_srgb(linear: npt.ArrayLike) -> Float32Array:
    """Linear light 0..1 to sRGB float 0..255 (clipped to the range, not rounded)."""
    c = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    out = np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)
    return np.asarray(out * 255.0, dtype=np.float32)


def luminance(linear: npt.ArrayLike) -> Float32Array:
    """Relative luminance Y (0..1) of linear sRGB (any shape ending in 3)."""
    return np.asarray(np.asarray(linear, np.float32) @ LUMA, dtype=np.float32)


def lab_to_rgb(lab: npt.ArrayLike) -> FloatArray:
    """CIELAB (D65) to sRGB float 0..255, clipped to the sRGB gamut (not rounded)."""
    arr = np.asarray(lab, dtype=np.float32).reshape(-1, 1, 3)
    rgb = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_Lab2RGB)
    out = np.clip(np.asarray(rgb, np.float64) * 255.0, 0.0, 255.0)
    return out.reshape(np.shape(lab))


def _region(rgb: npt.ArrayLike, weight: npt.ArrayLike | None) -> npt.NDArray[np.generic]:
    """The Nx3 pixels whose weight is above 0.5 (all when None); raises ValueError when
    there are none."""
    pixels = np.asarray(rgb).reshape(-1, 3)
    if weight is not None:
        pixels = pixels[np.asarray(weight).reshape(-1) > 0.5]
    if len(pixels) == 0:
        raise ValueError("the region is empty")
    return pixels


def dominant_color(rgb: npt.ArrayLike, weight: npt.ArrayLike | None = None) -> FloatArray:
    """The colour a region is seen as, in CIELAB: the per-channel median of its pixels of
    the majority hue (see :data:`DOMINANT_HUE_BAND`, :data:`DOMINANT_CHROMA_BAND`).

    ``rgb`` is uint8 HxWx3 (or Nx3); ``weight`` (HxW, or N) selects the region: pixels
    above 0.5 count (all when None). The median of a shaded garment is its mid-tone, what
    a swatch of the fabric shows. The same measure is applied to a swatch photo, a
    recoloured variant and the gate's output.

    Raises:
        ValueError: the region is empty.
    """
    pixels = _region(rgb, weight)
    step = max(1, len(pixels) // DOMINANT_SAMPLES)
    lab = rgb_to_lab(pixels[::step])
    a, b = lab[:, 1], lab[:, 2]
    med_a, med_b = float(np.median(a)), float(np.median(b))
    med_chroma = float(np.hypot(med_a, med_b))
    if med_chroma >= DOMINANT_NEUTRAL:
        hue = np.degrees(np.arctan2(b, a) - np.arctan2(med_b, med_a))
        # Pixels with little chroma have no reliable hue (a deep fold, a highlight gone
        # white) and stay: leaving them out would pull the median away from the mid-tone.
        near = (np.abs((hue + 180.0) % 360.0 - 180.0) <= DOMINANT_HUE_BAND) & (
            np.hypot(a, b) >= 0.25 * med_chroma
        )
    else:
        near = np.hypot(a - med_a, b - med_b) <= DOMINANT_CHROMA_BAND
    core = lab[near] if near.sum() >= 0.1 * len(lab) else lab
    return np.asarray(np.median(core, axis=0), dtype=np.float64)


def mean_color(rgb: npt.ArrayLike, weight: npt.ArrayLike | None = None) -> FloatArray:
    """CIELAB of the mean colour in linear light (what the eye averages a fine print to)
    of the pixels whose ``weight`` is above 0.5 (all when None).

    Raises:
        ValueError: the region is empty.
    """
    mean = srgb_to_linear(_region(rgb, weight)).mean(axis=0)
    return rgb_to_lab(linear_to_srgb(mean))


def delta_e_2000(lab1: npt.ArrayLike, lab2: npt.ArrayLike) -> FloatArray:
    """CIEDE2000 difference between Lab colours (arrays ending in 3, broadcast together),
    with the reference weights kL = kC = kH = 1."""
    l1, a1, b1 = np.moveaxis(np.asarray(lab1, dtype=np.float64), -1, 0)
    l2, a2, b2 = np.moveaxis(np.asarray(lab2, dtype=np.float64), -1, 0)
    c1 = np.hypot(a1, b1)
    c2 = np.hypot(a2, b2)
    c_mean7 = ((c1 + c2) / 2.0) ** 7
    g = 0.5 * (1.0 - np.sqrt(c_mean7 / (c_mean7 + 25.0**7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    chroma_zero = (c1p * c2p) == 0

    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(chroma_zero, 0.0, dh)
    dhh = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2.0)

    l_mean = (l1 + l2) / 2.0
    c_mean = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_mean = np.where(
        np.abs(h1p - h2p) <= 180.0,
        h_sum / 2.0,
        np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0),
    )
    h_mean = np.where(chroma_zero, h_sum, h_mean)
    t = (
        1.0
        - 0.17 * np.cos(np.radians(h_mean - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_mean))
        + 0.32 * np.cos(np.radians(3.0 * h_mean + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_mean - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((h_mean - 275.0) / 25.0) ** 2))
    c_mean7p = c_mean**7
    r_c = 2.0 * np.sqrt(c_mean7p / (c_mean7p + 25.0**7))
    s_l = 1.0 + 0.015 * (l_mean - 50.0) ** 2 / np.sqrt(20.0 + (l_mean - 50.0) ** 2)
    s_c = 1.0 + 0.045 * c_mean
    s_h = 1.0 + 0.015 * c_mean * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c
    result = np.sqrt(
        (dl / s_l) ** 2 + (dc / s_c) ** 2 + (dhh / s_h) ** 2 + r_t * (dc / s_c) * (dhh / s_h)
    )
    return np.asarray(result, dtype=np.float64)
