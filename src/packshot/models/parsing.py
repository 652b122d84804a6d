"""Semantic maps: skin / clothes / hair of people, and the 21 PASCAL VOC classes.

One class per model family: preprocess, run, postprocess. Sizes, normalisation and class
names come from the model's registry entry (``io`` table). Every map is returned at the
input image's resolution as float32 in 0..1 (probabilities) or as class indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError, ModelError
from packshot.models.family import ModelFamily
from packshot.models.registry import ModelSpec

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


def _check_rgb(rgb: ImageArray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
        raise InputError(f"expected a uint8 RGB image, got {rgb.dtype} of shape {rgb.shape}")


def _normalised(rgb: ImageArray, size: int, spec: ModelSpec) -> FloatArray:
    io = spec.io
    x = cv2.resize(rgb[..., :3], (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    x /= float(io.get("scale", 255.0))
    mean = np.asarray(io.get("mean", [0.0, 0.0, 0.0]), dtype=np.float32)
    std = np.asarray(io.get("std", [1.0, 1.0, 1.0]), dtype=np.float32)
    return np.asarray((x - mean) / std, dtype=np.float32)


def _upsample(prob: FloatArray, hw: tuple[int, int]) -> FloatArray:
    out = cv2.resize(prob, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)
    return np.asarray(out, dtype=np.float32)


@dataclass(frozen=True)
class HumanParts:
    """Per-pixel probabilities (0..1) of skin, clothes and hair, at the image's resolution."""

    skin: FloatArray
    clothes: FloatArray
    hair: FloatArray


class HumanParser(ModelFamily):
    """Skin / clothes / hair segmentation (PAN). It fires off people too: callers run it on
    a person's crop and use it inside that person."""

    TASK = "human-parsing"

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.size = int(spec.io.get("size", 512))
        classes = tuple(str(c) for c in spec.io.get("classes", ("skin", "clothes", "hair")))
        if sorted(classes) != ["clothes", "hair", "skin"]:
            raise ModelError(
                f"model {spec.name!r} must list classes skin, clothes and hair; got {classes}"
            )
        self.index = {name: i for i, name in enumerate(classes)}
        super().__init__(spec)

    def preprocess(self, rgb: ImageArray) -> FloatArray:
        _check_rgb(rgb)
        x = _normalised(rgb, self.size, self.spec)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def run(self, x: FloatArray) -> FloatArray:
        out = np.asarray(self.infer(x), dtype=np.float32)
        if out.ndim != 4 or out.shape[1] != 3:
            raise ModelError(
                f"model {self.spec.name!r} returned shape {out.shape}; expected 1x3xHxW"
            )
        maps: FloatArray = out[0]
        return maps

    def postprocess(self, maps: FloatArray, hw: tuple[int, int]) -> HumanParts:
        if str(self.spec.io.get("output", "sigmoid")) == "logits":
            maps = (1.0 / (1.0 + np.exp(-maps))).astype(np.float32)
        maps = np.clip(maps, 0.0, 1.0)
        return HumanParts(
            skin=_upsample(maps[self.index["skin"]], hw),
            clothes=_upsample(maps[self.index["clothes"]], hw),
            hair=_upsample(maps[self.index["hair"]], hw),
        )

    def parse(self, rgb: ImageArray) -> HumanParts:
        return self.postprocess(self.run(self.preprocess(rgb)), rgb.shape[:2])


class VocSegmenter(ModelFamily):
    """DeepLabV3 on PASCAL VOC: a class index per pixel (0 = background)."""

    TASK = "semantic-segmentation"

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.size = int(spec.io.get("size", 257))
        self.classes = tuple(str(c) for c in spec.io.get("classes", ()))
        if not self.classes:
            raise ModelError(f"model {spec.name!r} lists no classes in its io table")
        self.nhwc = str(spec.io.get("layout", "NHWC")).upper() == "NHWC"
        super().__init__(spec)

    def preprocess(self, rgb: ImageArray) -> FloatArray:
        _check_rgb(rgb)
        x = _normalised(rgb, self.size, self.spec)
        x = x if self.nhwc else x.transpose(2, 0, 1)
        return np.ascontiguousarray(x[None])

    def run(self, x: FloatArray) -> FloatArray:
        out = np.asarray(self.infer(x), dtype=np.float32)[0]
        scores = out if self.nhwc else out.transpose(1, 2, 0)
        if scores.shape[-1] != len(self.classes):
            raise ModelError(
                f"model {self.spec.name!r} returned {scores.shape[-1]} classes; "
                f"its registry entry lists {len(self.classes)}"
            )
        result: FloatArray = scores
        return result

    def postprocess(self, scores: FloatArray, hw: tuple[int, int]) -> npt.NDArray[np.uint8]:
        # Argmax at the network's resolution, labels upsampled nearest: upsampling 21 score
        # maps first costs about a second at 2K for boundaries no finer than 257 px allow.
        labels = np.asarray(np.argmax(scores, axis=-1), dtype=np.uint8)
        out = cv2.resize(labels, (hw[1], hw[0]), interpolation=cv2.INTER_NEAREST)
        return np.asarray(out, dtype=np.uint8)

    def segment(self, rgb: ImageArray) -> npt.NDArray[np.uint8]:
        return self.postprocess(self.run(self.preprocess(rgb)), rgb.shape[:2])

    def class_mask(self, labels: npt.NDArray[np.uint8], name: str) -> npt.NDArray[np.bool_]:
        """Pixels labelled ``name`` (a VOC class name)."""
        if name not in self.classes:
            raise InputError(
                f"{name!r} is not a class of {self.spec.name}: {', '.join(self.classes)}"
            )
        result: npt.NDArray[np.bool_] = labels == self.classes.index(name)
        return result


def human_parser(name: str | None = None) -> HumanParser:
    """The per-process skin/clothes/hair model (default human-parsing model)."""
    return HumanParser.load(name or None)


def voc_segmenter(name: str | None = None) -> VocSegmenter:
    """The per-process VOC segmenter (default semantic-segmentation model)."""
    return VocSegmenter.load(name or None)
