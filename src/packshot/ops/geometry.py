"""Geometric operations on image arrays."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

ImageArray = npt.NDArray[np.uint8]


def fit_within(pixels: ImageArray, max_side: int) -> ImageArray:
    """Downscale so the long side is at most ``max_side`` px (area filter); never upscales.

    RGBA is resized premultiplied so transparent pixels' colours do not bleed into edges.
    """
    height, width = pixels.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return pixels
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        alpha = pixels[..., 3:4].astype(np.float32) / 255.0
        premul = np.dstack([pixels[..., :3].astype(np.float32) * alpha, alpha[..., 0] * 255.0])
        small = cv2.resize(premul, size, interpolation=cv2.INTER_AREA)
        a = small[..., 3:4] / 255.0
        rgb = np.where(a > 0, small[..., :3] / np.maximum(a, 1e-6), 0.0)
        return np.dstack([np.clip(np.rint(rgb), 0, 255), np.rint(small[..., 3])]).astype(np.uint8)
    return np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
