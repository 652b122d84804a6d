"""Colour difference: sRGB to CIELAB (D65) and the CIEDE2000 colour difference.

CIEDE2000 (Sharma, Wu and Dalal, 2005) is the perceptual difference the print and
e-commerce trades quote: about 1 is a just-noticeable difference side by side, 2-3 is
noticeable at a glance, above 5 is a different colour.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["delta_e_2000", "rgb_to_lab"]

FloatArray = npt.NDArray[np.float64]


def rgb_to_lab(rgb: npt.ArrayLike) -> FloatArray:
    """sRGB (uint8 0..255, any shape ending in 3) to CIELAB L* 0..100, a*, b* (D65)."""
    arr = np.asarray(rgb, dtype=np.float32).reshape(-1, 1, 3) / np.float32(255.0)
    lab = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2Lab)
    return np.asarray(lab, dtype=np.float64).reshape(np.shape(rgb))


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
