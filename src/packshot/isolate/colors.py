"""Colour words against pixels: which share of an object is "red", and what colour it is.

Pixels are named by their nearest colour prototype in CIE Lab (the vocabulary's
``[colors]`` table). Only the object's own pixels count: inside a box, pixels close to the
box border's median colour are taken as background.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from packshot.isolate.vocabulary import Vocabulary, to_lab
from packshot.ops.geometry import Box

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

# Colour statistics need a few thousand pixels, not millions.
_SAMPLE_SIDE = 96
# Lab distance below which a pixel looks like the border (background) colour.
_BACKGROUND_DELTA_E = 18.0


def _sample(
    rgb: ImageArray, box: Box, weight: FloatArray | None
) -> tuple[ImageArray, FloatArray | None]:
    crop = rgb[box.slices][..., :3]
    scale = min(1.0, _SAMPLE_SIDE / max(crop.shape[:2]))
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    if weight is None:
        return small, None
    w = np.asarray(cv2.resize(weight[box.slices], size, interpolation=cv2.INTER_AREA), np.float32)
    return small, w


def object_weights(lab: FloatArray) -> FloatArray:
    """Weight (0/1) of each pixel of a box's crop as object rather than background."""
    ring = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    background = np.median(ring, axis=0)
    distance = np.linalg.norm(lab - background, axis=-1)
    weights = (distance > _BACKGROUND_DELTA_E).astype(np.float32)
    # A box whose inside all looks like its border (a flat product filling it): use it all.
    return weights if weights.mean() > 0.05 else np.ones_like(weights)


def color_shares(
    rgb: ImageArray, box: Box, vocabulary: Vocabulary, weight: FloatArray | None = None
) -> dict[str, float]:
    """Share (0..1) of the object's pixels named by each colour.

    ``weight`` (full-image, 0..1) says which pixels are the object (a garment's map);
    without it the box's pixels unlike its border are.
    """
    small, w = _sample(rgb, box, weight)
    lab = to_lab(small)
    if w is None:
        w = object_weights(lab)
    prototypes, owner = vocabulary.prototypes_lab()
    flat = lab.reshape(-1, 3)
    distances = np.linalg.norm(flat[:, None, :] - prototypes[None], axis=-1)
    names = owner[np.argmin(distances, axis=1)]
    counts = np.bincount(names, weights=w.ravel(), minlength=len(vocabulary.colors))
    total = max(float(counts.sum()), 1e-6)
    return {name: float(counts[i] / total) for i, name in enumerate(vocabulary.colors)}


def dominant_colors(shares: dict[str, float], count: int = 2) -> tuple[str, ...]:
    """The ``count`` colours covering most of the object (for messages)."""
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])
    return tuple(name for name, share in ranked[:count] if share >= 0.15)
