"""How well a predicted alpha matte matches a reference: IoU, MAE, boundary IoU.

The same definitions are used by the cutout benchmark and the acceptance measurements
(see ../shared/eval/README.md), so figures from either are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

BOUNDARY_BAND_FRAC = 0.02
"""Boundary band width as a share of the image diagonal (Cheng et al., CVPR 2021)."""


@dataclass(frozen=True)
class MatteScore:
    iou: float
    mae: float
    boundary_iou: float


def _iou(a: BoolArray, b: BoolArray) -> float:
    union = int(np.count_nonzero(a | b))
    if union == 0:
        return 1.0  # both empty: a perfect match, not a division by zero
    return int(np.count_nonzero(a & b)) / union


def inner_boundary(mask: BoolArray, width: float) -> BoolArray:
    """Pixels of ``mask`` within ``width`` pixels (Euclidean) of its outside."""
    padded = np.pad(mask.astype(np.uint8), 1, constant_values=0)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    result: BoolArray = mask & (dist <= width)
    return result


def boundary_iou(pred: BoolArray, truth: BoolArray, band_frac: float = BOUNDARY_BAND_FRAC) -> float:
    """IoU of the two masks' inner boundary bands, band = ``band_frac`` of the diagonal."""
    width = max(1.0, round(band_frac * float(np.hypot(*truth.shape))))
    return _iou(inner_boundary(pred, width), inner_boundary(truth, width))


def score_matte(alpha: FloatArray, truth: FloatArray) -> MatteScore:
    """Compare a 0..1 alpha with a 0..1 reference matte of the same size."""
    if alpha.shape != truth.shape:
        raise ValueError(f"alpha {alpha.shape} and reference {truth.shape} differ in size")
    pred = alpha >= 0.5
    ref = truth >= 0.5
    return MatteScore(
        iou=_iou(pred, ref),
        mae=float(np.abs(alpha.astype(np.float32) - truth.astype(np.float32)).mean()),
        boundary_iou=boundary_iou(pred, ref),
    )
