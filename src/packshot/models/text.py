"""Text detection: where the text, price tags and watermarks are (not what they say).

The DB family (differentiable binarisation, PP-OCR's detector): the network predicts a
per-pixel probability of "inside a text line", shrunk towards each line's centre; lines are
the connected regions above ``thresh``, kept when their mean probability reaches
``box_thresh``, and grown back by ``area * unclip_ratio / perimeter`` (the inverse of the
shrink used in training). Sizes and thresholds come from the model's registry ``io``
table, so other DB-family weights registered by path work without code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError
from packshot.models.family import ModelFamily
from packshot.models.registry import ModelSpec

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

TASK = "text-detection"
# DB nets downsample by 32; inputs must be multiples of it.
STRIDE = 32
# Regions thinner than this (network pixels) are noise, not a line of text.
MIN_SIDE = 3
MAX_CANDIDATES = 1000
# DB detectors sometimes call a whole textured photo one "line" (seen on scikit-image's
# coffee at every scale); real text never covers most of a product photo.
MAX_AREA_SHARE = 0.5


@dataclass(frozen=True)
class TextBox:
    """One detected text line: its upright bounding box in image pixels, its (possibly
    rotated) quadrilateral as 4x2 float32 x,y corners, and the detector's mean score."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
    polygon: FloatArray
    score: float

    @property
    def area(self) -> int:
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)


class TextDetector(ModelFamily):
    """A DB text detector: RGB image in, text-line boxes out."""

    TASK = TASK

    def __init__(self, spec: ModelSpec) -> None:
        io = spec.io
        self.spec = spec
        self.long_side = int(io.get("long_side", 960))
        self.bgr = io.get("channels", "BGR") == "BGR"
        self.scale = float(io.get("scale", 255.0))
        self.mean = np.asarray(io.get("mean", [0.5, 0.5, 0.5]), dtype=np.float32)
        self.std = np.asarray(io.get("std", [0.5, 0.5, 0.5]), dtype=np.float32)
        self.thresh = float(io.get("thresh", 0.3))
        self.box_thresh = float(io.get("box_thresh", 0.5))
        self.unclip_ratio = float(io.get("unclip_ratio", 1.6))
        super().__init__(spec)

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) the image is resized to: long side at most ``long_side``, never upscaled
        past it, each side rounded to a multiple of the stride."""
        ratio = min(1.0, self.long_side / max(height, width))
        h = max(STRIDE, round(height * ratio / STRIDE) * STRIDE)
        w = max(STRIDE, round(width * ratio / STRIDE) * STRIDE)
        return h, w

    def preprocess(self, rgb: ImageArray) -> FloatArray:
        h, w = self.network_size(*rgb.shape[:2])
        x = cv2.resize(rgb[..., :3], (w, h), interpolation=cv2.INTER_AREA)
        if self.bgr:
            x = x[..., ::-1]
        xf = (x.astype(np.float32) / self.scale - self.mean) / self.std
        return np.ascontiguousarray(xf.transpose(2, 0, 1)[None], dtype=np.float32)

    def probability(self, rgb: ImageArray) -> FloatArray:
        """The text probability map at the network's resolution."""
        if rgb.ndim != 3 or rgb.shape[2] < 3:
            raise InputError(f"expected an RGB image, got an array of shape {rgb.shape}")
        out = self.infer(self.preprocess(rgb))
        return np.asarray(out, dtype=np.float32).reshape(out.shape[-2:])

    def detect(self, rgb: ImageArray, max_area_share: float = MAX_AREA_SHARE) -> list[TextBox]:
        """Text lines in ``rgb``, top to bottom then left to right; lines whose box covers
        more than ``max_area_share`` of the image are dropped (a known false positive)."""
        height, width = rgb.shape[:2]
        lines = lines_from_probability(
            self.probability(rgb),
            (height, width),
            thresh=self.thresh,
            box_thresh=self.box_thresh,
            unclip_ratio=self.unclip_ratio,
        )
        return [t for t in lines if t.area <= max_area_share * height * width]


def lines_from_probability(
    prob: FloatArray,
    image_hw: tuple[int, int],
    *,
    thresh: float,
    box_thresh: float,
    unclip_ratio: float,
) -> list[TextBox]:
    """DB post-processing: text-line quadrilaterals from a probability map, in the
    coordinates of an image of ``image_hw`` (the map may be smaller)."""
    ph, pw = prob.shape
    sy, sx = image_hw[0] / ph, image_hw[1] / pw
    # Touching characters' kernels are joined into one line, as PP-OCR does.
    bitmap = cv2.dilate((prob > thresh).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    found: list[TextBox] = []
    for contour in contours[:MAX_CANDIDATES]:
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
        if min(rw, rh) < MIN_SIDE:
            continue
        score = _mean_inside(prob, cv2.boxPoints(((cx, cy), (rw, rh), angle)))
        if score < box_thresh:
            continue
        grow = rw * rh * unclip_ratio / max(2.0 * (rw + rh), 1e-6)
        rw, rh = rw + 2 * grow, rh + 2 * grow
        if min(rw, rh) < MIN_SIDE + 2:
            continue
        quad = cv2.boxPoints(((cx, cy), (rw, rh), angle)).astype(np.float32)
        quad[:, 0] = np.clip(quad[:, 0] * sx, 0, image_hw[1])
        quad[:, 1] = np.clip(quad[:, 1] * sy, 0, image_hw[0])
        found.append(TextBox(_upright(quad, image_hw), _clockwise(quad), round(score, 4)))
    found.sort(key=lambda t: (t.box[1], t.box[0]))
    return found


def _mean_inside(prob: FloatArray, quad: npt.NDArray[Any]) -> float:
    """Mean probability inside a quadrilateral (on its bounding rectangle only: fast)."""
    h, w = prob.shape
    x0, y0 = (max(0, math.floor(float(v))) for v in quad.min(axis=0))
    x1 = min(w, math.ceil(float(quad[:, 0].max())) + 1)
    y1 = min(h, math.ceil(float(quad[:, 1].max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round(quad - (x0, y0)).astype(np.int32)], 1)
    if not mask.any():
        return 0.0
    return float(prob[y0:y1, x0:x1][mask > 0].mean())


def _upright(quad: FloatArray, image_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    x0, y0 = (math.floor(float(v)) for v in quad.min(axis=0))
    x1, y1 = (math.ceil(float(v)) for v in quad.max(axis=0))
    return max(0, x0), max(0, y0), min(image_hw[1], x1), min(image_hw[0], y1)


def _clockwise(quad: FloatArray) -> FloatArray:
    """Corners ordered top-left, top-right, bottom-right, bottom-left."""
    s = quad.sum(axis=1)
    d = np.diff(quad, axis=1).ravel()
    tl, br = quad[np.argmin(s)], quad[np.argmax(s)]
    tr, bl = quad[np.argmin(d)], quad[np.argmax(d)]
    return np.stack([tl, tr, br, bl]).astype(np.float32)


def text_detector(name: str | None = None) -> TextDetector:
    """The per-process detector for a registered text-detection model (default if None)."""
    return TextDetector.load(name)


def detect_text(
    rgb: ImageArray, *, model: str | None = None, max_area_share: float = MAX_AREA_SHARE
) -> list[TextBox]:
    """Text lines (price tags, stickers, watermarks, printed labels) in an RGB image."""
    return text_detector(model).detect(rgb, max_area_share)


COARSE_FACTOR = 0.5
"""The second pass sees the image at this share of the network's usual size: a display
headline's letters (a tenth of the height and more) outgrow what the network reads as a
letter at the usual size, and the pass at half size finds them whole."""

TILE_OVERLAP = 0.15
"""Overlap of the full-resolution tiles, as a share of a tile: a line cut by one tile's
edge lies whole in its neighbour."""

MERGE_SHARE = 0.5
"""Two boxes whose intersection covers this share of the smaller one are one line found
twice (at two scales, or in two tiles): they are merged into their union."""


def _scaled(rgb: ImageArray, factor: float) -> ImageArray:
    h, w = rgb.shape[:2]
    size = (max(STRIDE, round(w * factor)), max(STRIDE, round(h * factor)))
    return np.asarray(cv2.resize(rgb[..., :3], size, interpolation=cv2.INTER_AREA), np.uint8)


def _moved(t: TextBox, sx: float, sy: float, dx: int, dy: int, hw: tuple[int, int]) -> TextBox:
    quad = t.polygon * np.asarray([sx, sy], np.float32) + np.asarray([dx, dy], np.float32)
    quad[:, 0] = np.clip(quad[:, 0], 0, hw[1])
    quad[:, 1] = np.clip(quad[:, 1], 0, hw[0])
    return TextBox(_upright(quad, hw), quad.astype(np.float32), t.score)


def merge_boxes(boxes: list[TextBox]) -> list[TextBox]:
    """Boxes of the same line found more than once merged into their union (see
    :data:`MERGE_SHARE`), top to bottom then left to right."""
    items = list(boxes)
    merged = True
    while merged:
        merged = False
        out: list[TextBox] = []
        for t in items:
            for i, u in enumerate(out):
                ix0, iy0 = max(t.box[0], u.box[0]), max(t.box[1], u.box[1])
                ix1, iy1 = min(t.box[2], u.box[2]), min(t.box[3], u.box[3])
                inter = max(0, ix1 - ix0) * max(0, iy1 - iy0)
                if inter >= MERGE_SHARE * max(1, min(t.area, u.area)):
                    x0, y0 = min(t.box[0], u.box[0]), min(t.box[1], u.box[1])
                    x1, y1 = max(t.box[2], u.box[2]), max(t.box[3], u.box[3])
                    quad = np.asarray([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
                    out[i] = TextBox((x0, y0, x1, y1), quad, max(t.score, u.score))
                    merged = True
                    break
            else:
                out.append(t)
        items = out
    items.sort(key=lambda t: (t.box[1], t.box[0]))
    return items


def detect_text_all_scales(
    rgb: ImageArray, *, model: str | None = None, max_area_share: float = MAX_AREA_SHARE
) -> list[TextBox]:
    """Text lines at every scale: the usual pass, a coarse pass for large display type
    (:data:`COARSE_FACTOR`) and, on images larger than the network's input, overlapping
    full-resolution tiles for small print; boxes found more than once are merged."""
    det = text_detector(model)
    height, width = rgb.shape[:2]
    hw = (height, width)
    found = det.detect(rgb, max_area_share)
    coarse_side = det.long_side * COARSE_FACTOR
    if max(height, width) > coarse_side:
        factor = coarse_side / max(height, width)
        small = _scaled(rgb, factor)
        sx, sy = width / small.shape[1], height / small.shape[0]
        found += [_moved(t, sx, sy, 0, 0, hw) for t in det.detect(small, max_area_share)]
    tile = det.long_side
    if max(height, width) > 1.25 * tile:
        step = round(tile * (1.0 - TILE_OVERLAP))
        for y in range(0, max(1, height - tile + step), step):
            for x in range(0, max(1, width - tile + step), step):
                y0, x0 = min(y, max(0, height - tile)), min(x, max(0, width - tile))
                crop = np.ascontiguousarray(rgb[y0 : y0 + tile, x0 : x0 + tile, :3])
                found += [_moved(t, 1.0, 1.0, x0, y0, hw) for t in det.detect(crop, 1.0)]
    return merge_boxes(found)
