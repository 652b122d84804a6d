"""Masked inpainting: fill a hole in a photo from the photo itself, one interface for every
back-end.

:func:`inpaint` works on the hole's bounding box grown by a margin, at full resolution
(a sticker on a 2048 px photo is a few hundred pixels; the rest of the photo is never
touched), and writes only the hole: every pixel outside it is returned unchanged.

Back-ends:

``patchmatch``
    the default: PatchMatch (``pypatchmatch``, Barnes et al. 2009) copies patches from the
    surroundings. Good on textures and plain backgrounds alike.
``telea``
    OpenCV's fast-marching method (Telea 2004) for thin or tiny holes (a scratch, a
    one-line caption, dust), where it is exact enough and a hundred times faster.
a :class:`Filler`
    any object with ``name`` and ``fill(rgb, hole) -> rgb``, e.g. a neural network
    (:mod:`packshot.models.inpaint`); it sees the same crop and only its hole pixels are
    used.

The source guard: PatchMatch happily copies whatever matches best, including the letters
of a neighbouring label or the edge of the product, into the hole. Pixels in ``protect``
(grown by the patch radius) are never used as a source. After filling,
:func:`fill_quality` measures whether strong edges appeared inside the hole that the
surroundings do not have (``structure``) and whether the hole's outline shows as a step
(``seam``); when ``structure`` is high the fill is redone once with the busy,
edge-dense parts of the surroundings excluded as sources, and the better result is kept.
Both measures are returned so that the quality gate can flag a fill that is still bad.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError
from packshot.ops.geometry import Box
from packshot.ops.matte import bounding_box

__all__ = [
    "SEAM_LIMIT",
    "STRUCTURE_LIMIT",
    "FillQuality",
    "Filled",
    "Filler",
    "dilate",
    "fill_quality",
    "inpaint",
    "inpaint_region",
    "patchmatch",
]

ImageArray = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float32]
Method = Literal["auto", "patchmatch", "telea"]

STRUCTURE_LIMIT = 2.5
"""``structure`` above which a fill invented or copied edges the surroundings lack."""

SEAM_LIMIT = 2.0
"""``seam`` above which the hole's outline shows as a step."""

_THIN_RADIUS = 3.0
"""Holes no thicker than twice this (pixels) go to Telea under ``method="auto"``."""

_TINY_AREA = 150
"""Holes of fewer pixels go to Telea under ``method="auto"``."""

_PATCH_RADIUS = 3
"""PatchMatch patch radius (7x7 patches), as in the library's examples."""

_PATCHMATCH_LOCK = threading.Lock()
"""pypatchmatch keeps its random seed in a process global: seed and run under one lock."""


class Filler(Protocol):
    """A fill back-end: ``fill`` returns ``rgb`` with the ``hole`` pixels repainted."""

    @property
    def name(self) -> str: ...

    def fill(self, rgb: ImageArray, hole: BoolArray) -> ImageArray: ...


@dataclass(frozen=True)
class FillQuality:
    """How believable a fill is, measured on the output.

    Attributes:
        structure: density of strong edges inside the hole divided by their density in the
            ring around it (0 when the hole is empty of edges; about 1 when the fill is as
            busy as its surroundings; above :data:`STRUCTURE_LIMIT`, edges were invented
            or copied into the hole).
        seam: mean gradient along the hole's outline divided by the mean gradient in the
            ring just outside it (about 1: invisible; above :data:`SEAM_LIMIT`, a step).
    """

    structure: float
    seam: float

    @property
    def ok(self) -> bool:
        return self.structure <= STRUCTURE_LIMIT and self.seam <= SEAM_LIMIT


@dataclass(frozen=True, eq=False)
class Filled:
    """The result of :func:`inpaint`.

    Attributes:
        rgb: the repaired ``uint8`` HxWx3 image; identical to the input outside the hole.
        method: ``"none"`` (empty hole), ``"telea"``, ``"patchmatch"``, or the filler's
            name; ``"+guarded"`` is appended when the fill was redone with busy sources
            excluded.
        box: the region the back-end worked on (the hole's box plus margin).
        quality: :class:`FillQuality` of the result.
    """

    rgb: ImageArray
    method: str
    box: Box
    quality: FillQuality


def _check(rgb: ImageArray, hole: BoolArray, name: str) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3:
        raise InputError(f"{name} needs a uint8 HxWx3 image, got {getattr(rgb, 'shape', rgb)}")
    if rgb.shape[2] != 3:
        raise InputError(f"{name} needs an RGB image (HxWx3), got shape {rgb.shape}")
    if not isinstance(hole, np.ndarray) or hole.shape != rgb.shape[:2]:
        got = hole.shape if isinstance(hole, np.ndarray) else type(hole).__name__
        raise InputError(
            f"the mask is {got} but the image is {rgb.shape[1]}x{rgb.shape[0]} "
            f"(HxW {rgb.shape[:2]}); pass a mask of the image's size"
        )


def _disk(radius: int) -> npt.NDArray[np.uint8]:
    return np.asarray(
        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)), np.uint8
    )


def dilate(mask: BoolArray, radius: int) -> BoolArray:
    """``mask`` grown by a disc of ``radius`` pixels."""
    if radius <= 0:
        return mask.copy()
    return np.asarray(cv2.dilate(mask.astype(np.uint8), _disk(radius)), dtype=bool)


def _erode(mask: BoolArray, radius: int) -> BoolArray:
    if radius <= 0:
        return mask.copy()
    return np.asarray(cv2.erode(mask.astype(np.uint8), _disk(radius)), dtype=bool)


def patchmatch(
    rgb: ImageArray,
    hole: BoolArray,
    *,
    exclude: BoolArray | None = None,
    patch_size: int = _PATCH_RADIUS,
    seed: int = 0,
) -> ImageArray:
    """PatchMatch fill of ``hole`` in ``rgb`` (all of it: callers crop first).

    ``exclude`` pixels are neither filled nor used as a source. Deterministic for a seed.
    """
    from patchmatch import patch_match

    if not patch_match.patchmatch_available:  # pragma: no cover - the package is a dependency
        raise InputError("PatchMatch is unavailable: its native library failed to load")
    holes = np.where(hole, 255, 0).astype(np.uint8)
    glob = None if exclude is None else np.where(exclude & ~hole, 255, 0).astype(np.uint8)
    with _PATCHMATCH_LOCK:
        patch_match.set_random_seed(seed)
        out = patch_match.inpaint(
            np.ascontiguousarray(rgb), holes, global_mask=glob, patch_size=patch_size
        )
    return np.asarray(out, dtype=np.uint8)


def _telea(rgb: ImageArray, hole: BoolArray) -> ImageArray:
    out = cv2.inpaint(np.ascontiguousarray(rgb), hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    return np.asarray(out, dtype=np.uint8)


def _thickness(hole: BoolArray) -> float:
    """Largest distance (pixels) from a hole pixel to the hole's outside: half the width of
    its thickest part."""
    padded = np.pad(hole, 1).astype(np.uint8)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 3)
    return float(dist.max())


def _margin(box: Box) -> int:
    """Context kept around the hole's box: enough patches to copy from, never the photo."""
    return int(min(max(24, round(0.4 * max(box.width, box.height))), 400))


def _grey(rgb: ImageArray) -> npt.NDArray[np.uint8]:
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY), np.uint8)


def _strong_edges(rgb: ImageArray) -> BoolArray:
    grey = cv2.GaussianBlur(_grey(rgb), (0, 0), 1.0)
    return np.asarray(cv2.Canny(grey, 60, 140), dtype=bool)


def fill_quality(rgb: ImageArray, hole: BoolArray) -> FillQuality:
    """Measure a filled image around its ``hole`` (see :class:`FillQuality`)."""
    _check(rgb, hole, "fill_quality")
    if not hole.any():
        return FillQuality(0.0, 1.0)
    slices = bounding_box(hole, 24)
    assert slices is not None
    crop, h = rgb[slices], hole[slices]
    inner = _erode(h, 3)
    ring = dilate(h, 20) & ~dilate(h, 4)
    edges = _strong_edges(crop)
    inside_density = float(edges[inner].mean()) if inner.any() else 0.0
    ring_density = float(edges[ring].mean()) if ring.any() else 0.0
    # A floor of one edge pixel in 200: a flat surround must not turn any line into "infinite".
    structure = inside_density / max(ring_density, 0.005)
    grey = _grey(crop).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    grad = np.hypot(gx, gy)
    outline = dilate(h, 1) & ~_erode(h, 1)
    near = dilate(h, 8) & ~dilate(h, 3)
    seam = float(grad[outline].mean()) / max(float(grad[near].mean()), 2.0) if near.any() else 1.0
    return FillQuality(structure=structure, seam=seam)


def _busy(rgb: ImageArray, hole: BoolArray) -> BoolArray:
    """Edge-dense pixels (lettering, product outlines) of the surroundings: the sources the
    guarded retry leaves out."""
    edges = _strong_edges(rgb).astype(np.float32)
    density = cv2.boxFilter(edges, -1, (9, 9))
    busy = dilate(np.asarray(density > 0.12, dtype=bool), _PATCH_RADIUS + 1)
    return busy & ~hole


def _guard(exclude: BoolArray, hole: BoolArray) -> BoolArray:
    """Pixels PatchMatch may not copy from: ``exclude`` grown by the patch radius (so no
    source patch overlaps it), never the hole itself."""
    return dilate(exclude, _PATCH_RADIUS + 1) & ~hole


def inpaint_region(
    rgb: ImageArray,
    hole: BoolArray,
    *,
    method: Method = "auto",
    filler: Filler | None = None,
    exclude: BoolArray | None = None,
    seed: int = 0,
) -> tuple[ImageArray, str]:
    """Fill ``hole`` of an already cropped region; returns the region and the method used.

    This is the back-end dispatch of :func:`inpaint`; callers that prepare their own crop
    (the reference fill) use it directly.
    """
    if filler is not None:
        filled = filler.fill(rgb, hole)
        if filled.shape != rgb.shape or filled.dtype != np.uint8:
            raise InputError(
                f"inpainting back-end {filler.name!r} returned {filled.dtype} {filled.shape}, "
                f"expected uint8 {rgb.shape}"
            )
        return filled, filler.name
    if method == "telea" or (
        method == "auto" and (_thickness(hole) <= _THIN_RADIUS or int(hole.sum()) < _TINY_AREA)
    ):
        return _telea(rgb, hole), "telea"
    if method not in ("auto", "patchmatch"):
        raise InputError(f"inpaint method must be auto, patchmatch or telea, got {method!r}")
    guard = None if exclude is None else _guard(exclude, hole)
    if guard is not None and int((~hole & ~guard).sum()) < int(hole.sum()):
        guard = None  # too little left to copy from: an unguarded fill beats none
    return patchmatch(rgb, hole, exclude=guard, seed=seed), "patchmatch"


def inpaint(
    rgb: ImageArray,
    mask: BoolArray,
    *,
    method: Method = "auto",
    filler: Filler | None = None,
    protect: BoolArray | None = None,
    seed: int = 0,
) -> Filled:
    """Repaint the ``mask`` pixels of ``rgb`` from their surroundings.

    Args:
        rgb: ``uint8`` HxWx3 photo.
        mask: ``bool`` HxW, True where the image is to be repainted.
        method: ``"auto"`` (Telea for thin or tiny holes, else PatchMatch),
            ``"patchmatch"`` or ``"telea"``; ignored when ``filler`` is given.
        filler: a :class:`Filler` back-end (a neural network) used instead.
        protect: ``bool`` HxW, pixels that must never be copied into the hole (text, the
            product's edge); they are not changed either. PatchMatch only: a network sees
            the whole crop.
        seed: PatchMatch's seed: the same inputs give the same bytes.

    Raises:
        InputError: bad shapes, or a mask that covers the whole image.
    """
    hole = np.asarray(mask, dtype=bool)
    _check(rgb, hole, "inpaint")
    if protect is not None and protect.shape != hole.shape:
        raise InputError(
            f"the protect mask is {protect.shape} but the image is HxW {hole.shape[:2]}"
        )
    slices = bounding_box(hole, 0)
    if slices is None:
        return Filled(rgb.copy(), "none", Box(0, 0, 0, 0), FillQuality(0.0, 1.0))
    if hole.all():
        raise InputError("the mask covers the whole image: there is nothing to fill it from")
    tight = Box.from_slices(slices)
    margin = _margin(tight)
    while True:
        grown = bounding_box(hole, margin)
        assert grown is not None
        box = Box.from_slices(grown)
        crop, h = rgb[box.slices], hole[box.slices]
        excl = None if protect is None else np.asarray(protect, dtype=bool)[box.slices]
        # Protected surroundings leave fewer sources: widen the context until there are
        # several times the hole's area to copy from (or the whole photo is in view).
        if excl is None or margin >= max(hole.shape):
            break
        if int((~h & ~_guard(excl, h)).sum()) >= 4 * int(h.sum()):
            break
        margin *= 2
    filled, used = inpaint_region(crop, h, method=method, filler=filler, exclude=excl, seed=seed)
    region = crop.copy()
    region[h] = filled[h]
    quality = fill_quality(region, h)
    if used == "patchmatch" and quality.structure > STRUCTURE_LIMIT:
        # Edges appeared in the hole: copy again, this time from the calm parts only.
        busy = _busy(crop, h) if excl is None else _busy(crop, h) | excl
        retry, _ = inpaint_region(crop, h, method="patchmatch", exclude=busy, seed=seed + 1)
        second = crop.copy()
        second[h] = retry[h]
        q2 = fill_quality(second, h)
        if q2.structure < quality.structure:
            region, quality, used = second, q2, "patchmatch+guarded"
    out = rgb.copy()
    out[box.slices] = region
    return Filled(out, used, box, quality)
