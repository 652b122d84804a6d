"""Super-resolution: FSRCNN x2/x4 on ONNX Runtime, like every other network.

The weights are OpenCV ``dnn_superres``'s FSRCNN graphs, converted once to ONNX by the
registry (:mod:`packshot.models.convert`). Around the network this does what
``dnn_superres`` does for FSRCNN: convert to YCrCb, run the network on luma (float 0..1, a
1x1xHxW tensor), upscale Cr/Cb with bicubic, merge, convert back, clip. Two differences,
both measured: the image is reflect-padded before the network (the graph's zero "SAME"
padding darkens the border by up to 13 levels at x4), and flat neighbourhoods keep bicubic
luma, because the network's output on a flat input is off by 1-3 levels (a pure-white
background would not stay 255).

Large images are processed in tiles (with a margin wider than the network's 13-pixel
receptive field), so memory stays bounded and the result equals an untiled run.
"""

from __future__ import annotations

import hashlib
import threading

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError, ModelError
from packshot.models.family import ModelFamily
from packshot.models.registry import ModelSpec

__all__ = [
    "MODELS",
    "Upscaler",
    "plan_passes",
    "upscale",
    "upscaler",
]

RgbArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

MODELS: dict[int, str] = {2: "fsrcnn-x2", 4: "fsrcnn-x4"}
"""The registered model for each single-pass factor."""

_TILE = 512
"""Input tile side, pixels (x4 output of a tile: 2048 px; about 60 MB of activations)."""
_FIELD = 13
"""The network's receptive field, input pixels (a 5x5 and four 3x3 convolutions)."""
_MARGIN = 8
"""Context around each tile, input pixels: more than the receptive field's radius."""
_FLAT_LO, _FLAT_HI = 2, 8
"""Luma range (levels) in the receptive field below which bicubic luma is kept, above
which the network's is; linear in between."""


def plan_passes(factor: float) -> tuple[int, ...]:
    """The x4/x2 passes that reach at least ``factor`` with the fewest passes and pixels.

    ``2 -> (2,)``, ``3 -> (4,)``, ``4 -> (4,)``, ``6 -> (4, 2)``, ``16 -> (4, 4)``;
    ``factor <= 1 -> ()``.
    """
    passes: list[int] = []
    total = 1
    while total < factor - 1e-9:
        step = 4 if factor / total > 2 else 2
        passes.append(step)
        total *= step
    return tuple(passes)


class Upscaler(ModelFamily):
    """One FSRCNN network: RGB in, RGB ``factor`` times larger out."""

    TASK = "super-resolution"

    def __init__(self, spec: ModelSpec) -> None:
        io = spec.io
        self.spec = spec
        self.factor = int(io.get("factor", 0))
        if self.factor < 2:
            raise ModelError(
                f"model {spec.name!r} has no upscale factor (io.factor) in its registry entry"
            )
        self.input_scale = float(io.get("scale", 255.0))
        super().__init__(spec)

    def upscale(self, rgb: RgbArray) -> RgbArray:
        """``rgb`` (uint8 HxWx3) enlarged ``factor`` times on both axes."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise InputError(
                f"upscale expects a uint8 RGB image (HxWx3), got {rgb.dtype} {rgb.shape}"
            )
        height, width = rgb.shape[:2]
        if height == 0 or width == 0:
            raise InputError(f"cannot upscale an empty image (shape {rgb.shape})")
        s = self.factor
        # Float YCrCb (Y 0..1, Cr/Cb around 0.5): a uint8 round trip alone moves colours
        # by a level or two.
        rgbf = rgb.astype(np.float32) * np.float32(1.0 / 255.0)
        ycrcb = np.asarray(cv2.cvtColor(rgbf, cv2.COLOR_RGB2YCrCb), dtype=np.float32)
        size = (width * s, height * s)
        big = np.asarray(cv2.resize(ycrcb, size, interpolation=cv2.INTER_CUBIC), np.float32)
        luma_in = np.ascontiguousarray(ycrcb[..., 0])
        luma = self._luma(luma_in)
        # Flat neighbourhoods keep bicubic luma (exact there): see the module docstring.
        k = cv2.getStructuringElement(cv2.MORPH_RECT, (_FIELD, _FIELD))
        spread = np.asarray(cv2.dilate(luma_in, k) - cv2.erode(luma_in, k), np.float32) * 255
        flat = np.clip((spread - _FLAT_LO) / (_FLAT_HI - _FLAT_LO), 0.0, 1.0)
        weight = np.asarray(cv2.resize(flat, size, interpolation=cv2.INTER_NEAREST), np.float32)
        bicubic = big[..., 0]
        big[..., 0] = bicubic + weight * (luma - bicubic)
        out = np.asarray(cv2.cvtColor(big, cv2.COLOR_YCrCb2RGB), dtype=np.float32)
        return np.asarray(np.clip(np.rint(out * np.float32(255.0)), 0, 255), dtype=np.uint8)

    def _luma(self, y: FloatArray) -> FloatArray:
        """The network's luma (0..1) at ``factor`` x the size of ``y`` (0..1), by tiles."""
        height, width = y.shape
        s, m = self.factor, _MARGIN
        padded = cv2.copyMakeBorder(y, m, m, m, m, cv2.BORDER_REFLECT_101)
        norm = np.asarray(padded, np.float32) * np.float32(255.0 / self.input_scale)
        out = np.empty((height * s, width * s), np.float32)
        for y0 in range(0, height, _TILE):
            y1 = min(y0 + _TILE, height)
            for x0 in range(0, width, _TILE):
                x1 = min(x0 + _TILE, width)
                # padded[y0 : y1 + 2m] holds rows y0 - m .. y1 + m of the image.
                tile = norm[y0 : y1 + 2 * m, x0 : x1 + 2 * m]
                hr = self._run(tile)
                out[y0 * s : y1 * s, x0 * s : x1 * s] = hr[m * s : -m * s, m * s : -m * s]
        return out

    def _run(self, tile: FloatArray) -> FloatArray:
        h, w = tile.shape
        s = self.factor
        raw = np.asarray(
            self.infer(np.ascontiguousarray(tile[None, None])),
            dtype=np.float32,
        )
        if raw.shape != (1, 1, h * s, w * s):
            raise ModelError(
                f"model {self.spec.name!r} returned shape {raw.shape}; expected "
                f"(1, 1, {h * s}, {w * s}) for an x{s} FSRCNN network"
            )
        return np.ascontiguousarray(raw[0, 0])


def upscaler(name: str) -> Upscaler:
    """The per-process instance of a registered super-resolution model (read once)."""
    return Upscaler.load(name)


def upscale(rgb: RgbArray, factor: float) -> RgbArray:
    """Enlarge ``rgb`` by at least ``factor`` with FSRCNN passes (:func:`plan_passes`).

    The result is ``prod(passes)`` times larger (e.g. 4x for ``factor=3``); the caller
    resizes it down to the exact size it needs. ``factor <= 1`` returns ``rgb`` as is.
    """
    if not np.isfinite(factor) or factor <= 0:
        raise InputError(f"upscale factor must be a positive number, got {factor!r}")
    passes = plan_passes(factor)
    if not passes:
        return rgb
    key = (passes, rgb.shape, hashlib.blake2b(np.ascontiguousarray(rgb).data).digest())
    with _RECENT_LOCK:
        hit = _RECENT.get(key)
    if hit is not None:
        return hit.copy()
    out = rgb
    for step in passes:
        out = upscaler(MODELS[step]).upscale(out)
    with _RECENT_LOCK:
        _RECENT[key] = out
        while len(_RECENT) > _RECENT_SIZE:
            _RECENT.pop(next(iter(_RECENT)))
    return out.copy()  # callers own what they get; the cached array stays as made


# The targets of one source (Amazon, Shopify, ...) enlarge the same cutout by the same
# factor: the last few results are kept so the network runs once for all of them.
_RECENT: dict[tuple[object, ...], RgbArray] = {}
_RECENT_SIZE = 4
_RECENT_LOCK = threading.Lock()
