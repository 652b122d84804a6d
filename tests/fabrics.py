"""Synthetic shaded fabrics with a known region, for the colourway tests and benchmark.

A fabric is rendered the way a photo forms: a dye colour (linear light) times a shading
field made of folds (low-frequency ridges), a weave (a fine periodic texture), a row of
raised stitches and a soft highlight, then encoded to sRGB with a little sensor noise.
It sits on a two-colour background inside a soft-edged region (a garment-like
silhouette, or an ellipse) whose alpha is returned with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Fabric:
    rgb: ImageArray
    alpha: FloatArray
    shading: FloatArray
    """log shading the fabric was lit with (zero where nothing was drawn)."""


def _srgb(lin: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    c = np.clip(lin, 0.0, 1.0)
    out = np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055) * 255.0
    return np.asarray(out, np.float32)


def _linear(rgb: tuple[int, int, int]) -> npt.NDArray[np.float32]:
    c = np.asarray(rgb, np.float32) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def tee_silhouette(h: int, w: int) -> FloatArray:
    """A T-shirt laid flat: body, two sleeves and a neck opening, soft edged."""
    m = np.zeros((h, w), np.float32)
    body = np.array(
        [[0.3, 0.18], [0.42, 0.12], [0.58, 0.12], [0.7, 0.18], [0.7, 0.92], [0.3, 0.92]]
    )
    sleeve_l = np.array([[0.3, 0.18], [0.12, 0.34], [0.2, 0.46], [0.3, 0.36]])
    sleeve_r = sleeve_l * [-1, 1] + [1, 0]
    for poly in (body, sleeve_l, sleeve_r):
        cv2.fillPoly(m, [np.rint(poly * [w, h]).astype(np.int32)], 1.0)
    cv2.ellipse(m, (w // 2, int(0.12 * h)), (int(0.08 * w), int(0.05 * h)), 0, 0, 360, 0.0, -1)
    return np.asarray(cv2.GaussianBlur(m, (0, 0), 1.2), np.float32)


def shaded_fabric(
    color: tuple[int, int, int] = (40, 60, 120),
    *,
    size: tuple[int, int] = (360, 480),
    shape: str = "ellipse",
    fold_depth: float = 0.3,
    noise: float = 1.0,
    seed: int = 0,
    patch: tuple[int, int, int] | None = None,
) -> Fabric:
    """A fabric of dye ``color`` (sRGB) with folds, weave, stitches and a highlight.

    ``shape`` is ``"ellipse"`` or ``"tee"``; ``patch`` adds a flat square badge of that
    colour in the middle (an accent a colourway keeps). Returns the composited photo,
    the region's alpha and the log-shading used.
    """
    h, w = size
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    folds = fold_depth * (
        0.8 * np.sin(xs / (0.05 * w) + 2.0 * np.sin(ys / (0.17 * h)))
        + 0.5 * np.sin((xs + ys) / (0.085 * w))
    )
    weave = 0.04 * np.sin(xs * 1.7) * np.sin(ys * 1.7)
    stitch = np.zeros_like(xs)
    row = (np.abs(ys - 0.7 * h) < 1.2) & ((xs.astype(int) // 6) % 2 == 0)
    stitch[row] = 0.3
    highlight = 0.4 * np.exp(-((xs - 0.6 * w) ** 2 + (ys - 0.3 * h) ** 2) / (2 * (0.06 * w) ** 2))
    log_s = (folds + weave + stitch + highlight - 0.1).astype(np.float32)
    lin = _linear(color) * np.exp(log_s)[..., None]
    if patch is not None:
        y0, x0, side = int(0.42 * h), int(0.44 * w), int(0.12 * w)
        lin[y0 : y0 + side, x0 : x0 + side] = (
            _linear(patch) * np.exp(0.3 * log_s[y0 : y0 + side, x0 : x0 + side])[..., None]
        )
    fabric = _srgb(lin) + rng.normal(0.0, noise, lin.shape)
    if shape == "tee":
        alpha = tee_silhouette(h, w)
    else:
        alpha = np.zeros((h, w), np.float32)
        cv2.ellipse(alpha, (w // 2, h // 2), (int(w * 0.4), int(h * 0.42)), 0, 0, 360, 1.0, -1)
        alpha = np.asarray(cv2.GaussianBlur(alpha, (0, 0), 1.5), np.float32)
    background = np.full((h, w, 3), 200.0, np.float32)
    background[:, : w // 3] = (90, 140, 90)
    a = alpha[..., None]
    rgb = np.clip(np.rint(fabric * a + background * (1 - a)), 0, 255).astype(np.uint8)
    return Fabric(rgb, alpha, np.where(alpha > 0, log_s, 0.0).astype(np.float32))
