"""Object boxes: the YOLOX COCO detector and the class-agnostic Mobile Object Localizer.

One class per model family: preprocess, run, postprocess. Input conventions come from the
model's registry entry (``io`` table), class names from the labels model it names, so other
weights of the same family registered by path work without code.

Boxes are ``(x0, y0, x1, y1)`` in the input image's pixels (x1, y1 exclusive); callers
wrap them in :class:`packshot.ops.geometry.Box` (models import nothing from ``ops``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError, ModelError
from packshot.models.family import ModelFamily
from packshot.models.registry import ModelSpec, model_path

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

# The localizer has no classes; its boxes carry this label.
OBJECT_LABEL = "object"


XYXY = tuple[int, int, int, int]


@dataclass(frozen=True)
class Detection:
    """One box: what it is (``label``), how sure the model is, which model said so."""

    box: XYXY
    label: str
    score: float
    model: str


def _check_rgb(rgb: ImageArray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
        raise InputError(f"expected a uint8 RGB image, got {rgb.dtype} of shape {rgb.shape}")


def clip_box(x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> XYXY | None:
    """The box rounded to pixels and clipped to the image; None when under 2 px a side."""
    box = (max(0, round(x0)), max(0, round(y0)), min(width, round(x1)), min(height, round(y1)))
    return box if box[2] - box[0] > 1 and box[3] - box[1] > 1 else None


def nms(boxes: FloatArray, scores: FloatArray, iou: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression; ``boxes`` are ``N x 4`` x0,y0,x1,y1."""
    if len(boxes) == 0:
        return []
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    s = np.asarray(scores, np.float64).reshape(-1)
    area = np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)
    # Highest score first, ties in input order; a zero score is no detection.
    order = [int(i) for i in np.argsort(-s, kind="stable") if s[i] > 0]
    kept: list[int] = []
    for i in order:
        if kept:
            k = np.asarray(kept)
            w = np.minimum(b[k, 2], b[i, 2]) - np.maximum(b[k, 0], b[i, 0])
            h = np.minimum(b[k, 3], b[i, 3]) - np.maximum(b[k, 1], b[i, 1])
            inter = np.maximum(w, 0) * np.maximum(h, 0)
            union = area[k] + area[i] - inter
            overlap = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
            if np.any(overlap > iou):
                continue
        kept.append(i)
    return kept


def read_labels(name: str) -> tuple[str, ...]:
    """Class names held by the registered labels model ``name`` (one a line)."""
    path = model_path(name)
    lines = path.read_text(encoding="utf-8").splitlines()
    labels = tuple(line.strip() for line in lines if line.strip())
    if not labels:
        raise ModelError(f"labels model {name!r} ({path}) holds no class names")
    return labels


class YoloxDetector(ModelFamily):
    """YOLOX (anchor-free, decoded on the host): labelled boxes for the COCO classes."""

    TASK = "object-detection"

    def __init__(self, spec: ModelSpec) -> None:
        io = spec.io
        self.spec = spec
        self.size = int(io.get("size", 416))
        self.strides = tuple(int(s) for s in io.get("strides", (8, 16, 32)))
        self.pad_value = float(io.get("pad_value", 114))
        self.bgr = str(io.get("channels", "BGR")).upper() == "BGR"
        labels = io.get("labels")
        if not isinstance(labels, str):
            raise ModelError(f"model {spec.name!r} names no labels model in its io table")
        self.labels = read_labels(labels)
        super().__init__(spec)
        self._grid = self._make_grid()

    def _make_grid(self) -> tuple[FloatArray, FloatArray]:
        cells, strides = [], []
        for stride in self.strides:
            n = self.size // stride
            ys, xs = np.mgrid[0:n, 0:n]
            cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
            strides.append(np.full((n * n, 1), stride))
        return (
            np.concatenate(cells).astype(np.float32),
            np.concatenate(strides).astype(np.float32),
        )

    def preprocess(self, rgb: ImageArray) -> tuple[FloatArray, float]:
        """Letterboxed tensor (resized keeping aspect, pasted top-left) and the scale used."""
        _check_rgb(rgb)
        height, width = rgb.shape[:2]
        scale = min(self.size / height, self.size / width)
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        resized = cv2.resize(rgb[..., :3], size, interpolation=cv2.INTER_LINEAR)
        canvas = np.full((self.size, self.size, 3), self.pad_value, dtype=np.float32)
        canvas[: size[1], : size[0]] = resized[..., ::-1] if self.bgr else resized
        return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None]), scale

    def run(self, x: FloatArray) -> FloatArray:
        out = self.infer(x)
        raw = np.asarray(out, dtype=np.float32)[0]
        if raw.shape != (len(self._grid[0]), 5 + len(self.labels)):
            raise ModelError(
                f"model {self.spec.name!r} returned shape {raw.shape}; expected "
                f"({len(self._grid[0])}, {5 + len(self.labels)}) for {len(self.labels)} classes"
            )
        result: FloatArray = raw
        return result

    def postprocess(
        self,
        raw: FloatArray,
        scale: float,
        image_hw: tuple[int, int],
        min_score: float,
        iou: float,
    ) -> list[Detection]:
        cells, strides = self._grid
        centre = (raw[:, :2] + cells) * strides
        size = np.exp(np.clip(raw[:, 2:4], -10.0, 10.0)) * strides
        class_scores = raw[:, 5:] * raw[:, 4:5]
        classes = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(len(classes)), classes]
        keep = scores >= min_score
        xyxy = np.concatenate([centre - size / 2, centre + size / 2], axis=1)[keep] / scale
        scores, classes = scores[keep], classes[keep]
        height, width = image_hw
        detections: list[Detection] = []
        for cls in np.unique(classes):
            idx = np.flatnonzero(classes == cls)
            for i in nms(xyxy[idx], scores[idx], iou):
                x0, y0, x1, y1 = (float(v) for v in xyxy[idx[i]])
                box = clip_box(x0, y0, x1, y1, width, height)
                if box is not None:
                    label = self.labels[int(cls)]
                    detections.append(Detection(box, label, float(scores[idx[i]]), self.spec.name))
        return sorted(detections, key=lambda d: -d.score)

    def detect(self, rgb: ImageArray, min_score: float = 0.3, iou: float = 0.45) -> list[Detection]:
        x, scale = self.preprocess(rgb)
        return self.postprocess(self.run(x), scale, rgb.shape[:2], min_score, iou)


class ObjectLocalizer(ModelFamily):
    """Mobile Object Localizer: class-agnostic boxes, NMS done inside the graph."""

    TASK = "object-localization"

    def __init__(self, spec: ModelSpec) -> None:
        self.size = int(spec.io.get("size", 192))
        super().__init__(spec)

    def preprocess(self, rgb: ImageArray) -> ImageArray:
        _check_rgb(rgb)
        resized = cv2.resize(rgb[..., :3], (self.size, self.size), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(resized[None], dtype=np.uint8)

    def run(self, x: ImageArray) -> tuple[FloatArray, FloatArray, int]:
        boxes, _classes, scores, count = self.infer_all(x)
        return (
            np.asarray(boxes, np.float32)[0],
            np.asarray(scores, np.float32)[0],
            int(np.asarray(count).reshape(-1)[0]),
        )

    def postprocess(
        self,
        boxes: FloatArray,
        scores: FloatArray,
        count: int,
        image_hw: tuple[int, int],
        min_score: float,
    ) -> list[Detection]:
        height, width = image_hw
        detections: list[Detection] = []
        for (y0, x0, y1, x1), score in zip(boxes[:count], scores[:count], strict=True):
            if score < min_score:
                continue
            box = clip_box(x0 * width, y0 * height, x1 * width, y1 * height, width, height)
            if box is not None:
                detections.append(Detection(box, OBJECT_LABEL, float(score), self.spec.name))
        return sorted(detections, key=lambda d: -d.score)

    def detect(self, rgb: ImageArray, min_score: float = 0.2, iou: float = 0.5) -> list[Detection]:
        """Boxes over the whole image and, for wide or tall images, over square windows.

        The network squashes its input to a square: on a 2:1 scene objects lose half their
        width and small ones vanish, so square windows along the long side are run too and
        all boxes merged by NMS.
        """
        height, width = rgb.shape[:2]
        found: list[Detection] = []
        for window in square_windows(height, width):
            wx0, wy0, wx1, wy1 = window
            pixels = np.ascontiguousarray(rgb[wy0:wy1, wx0:wx1])
            boxes, scores, count = self.run(self.preprocess(pixels))
            for d in self.postprocess(boxes, scores, count, pixels.shape[:2], min_score):
                x0, y0, x1, y1 = d.box
                moved = (x0 + wx0, y0 + wy0, x1 + wx0, y1 + wy0)
                found.append(Detection(moved, d.label, d.score, d.model))
        if not found:
            return []
        xyxy = np.asarray([d.box for d in found], np.float32)
        kept = nms(xyxy, np.asarray([d.score for d in found], np.float32), iou)
        return sorted((found[i] for i in kept), key=lambda d: -d.score)


def square_windows(height: int, width: int, max_aspect: float = 1.25) -> list[XYXY]:
    """The whole image, plus overlapping square windows along its long side when it is
    more elongated than ``max_aspect``."""
    windows: list[XYXY] = [(0, 0, width, height)]
    side = min(height, width)
    long_side = max(height, width)
    if long_side <= max_aspect * side:
        return windows
    count = int(np.ceil(long_side / side)) + 1
    for start in np.linspace(0, long_side - side, count):
        s = round(float(start))
        windows.append((s, 0, s + side, height) if width > height else (0, s, width, s + side))
    return windows


def detector(name: str | None = None) -> YoloxDetector:
    """The per-process COCO detector (the registry's default object-detection model)."""
    return YoloxDetector.load(name or None)


def localizer(name: str | None = None) -> ObjectLocalizer:
    """The per-process class-agnostic localizer (default object-localization model)."""
    return ObjectLocalizer.load(name or None)
