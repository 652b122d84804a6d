"""Reference-based inpainting: repaint a hole with what a reference image shows belongs
there (a badge, a logo, a label, a fabric swatch).

``align`` (the reference shows the same thing, at another scale, angle or perspective):
SIFT features of the reference are matched to features of the photo around the hole
(Lowe's ratio test), a homography is fitted with RANSAC, and the reference is warped into
the photo. Its colour and lighting are matched to the photo on the ring around the hole (a
per-channel gain and offset fitted by least squares there), and it is blended in the
gradient domain (Poisson, ``cv2.seamlessClone``): inside the hole the result has the
reference's detail, and at the hole's outline it meets the photo without a step. Parts of
the hole the warped reference does not cover are inpainted from the surroundings. The
alignment is reported (matches, RANSAC inliers, RMS reprojection error); with too few
inliers, a large error or a degenerate warp, :class:`ReferenceMatchError` is raised.

``texture`` (the reference is a swatch of the material that belongs there): the hole is
synthesised from the swatch at a given scale (PatchMatch with the swatch as the only
source, continuing the hole's surroundings), after the swatch's colour and contrast are
matched to the ring around the hole, and blended the same way.

Only hole pixels change: every pixel outside the mask is returned as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError
from packshot.ops.geometry import Box
from packshot.ops.inpaint import dilate, inpaint, patchmatch
from packshot.ops.matte import bounding_box

__all__ = [
    "Alignment",
    "ReferenceFilled",
    "ReferenceMatchError",
    "align_reference",
    "inpaint_from_reference",
]

ImageArray = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float32]
Mode = Literal["align", "texture"]

_RATIO = 0.75
"""Lowe's ratio test: a match must be this much closer than the second best."""

_SMALL_REFERENCE = 400
"""References whose short side is below this (pixels) are matched at twice their size."""


class ReferenceMatchError(InputError):
    """The reference could not be found in the photo (too few or inconsistent matches)."""

    code = "reference_not_found"
    http_status = 422


@dataclass(frozen=True)
class Alignment:
    """How the reference was placed in the photo.

    Attributes:
        homography: 3x3, maps reference pixel coordinates to photo coordinates.
        matches: feature matches that passed the ratio test.
        inliers: matches consistent with the homography (RANSAC).
        reprojection_error: RMS distance (photo pixels) between the inliers' photo
            positions and their reference positions mapped by the homography.
        scale: the homography's mean linear scale (photo px per reference px).
        coverage: share of the hole the warped reference covers (the rest is inpainted).
    """

    homography: npt.NDArray[np.float64]
    matches: int
    inliers: int
    reprojection_error: float
    scale: float
    coverage: float

    def as_dict(self) -> dict[str, object]:
        return {
            "matches": self.matches,
            "inliers": self.inliers,
            "reprojection_error": round(self.reprojection_error, 3),
            "scale": round(self.scale, 4),
            "coverage": round(self.coverage, 4),
            "homography": [[round(float(v), 6) for v in row] for row in self.homography],
        }


@dataclass(frozen=True, eq=False)
class ReferenceFilled:
    """The result of :func:`inpaint_from_reference`.

    Attributes:
        rgb: the repaired ``uint8`` HxWx3 photo, unchanged outside the hole.
        mode: ``"align"`` or ``"texture"``.
        alignment: the fitted alignment (``align`` only).
        gain, offset: the per-channel colour correction applied to the reference.
    """

    rgb: ImageArray
    mode: str
    alignment: Alignment | None
    gain: tuple[float, float, float]
    offset: tuple[float, float, float]


def _check(image: ImageArray, hole: BoolArray, reference: ImageArray) -> None:
    for name, arr in (("image", image), ("reference", reference)):
        if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 3:
            raise InputError(f"the {name} must be a uint8 HxWx3 array")
        if arr.shape[2] != 3:
            raise InputError(f"the {name} must be RGB (HxWx3), got shape {arr.shape}")
    if min(reference.shape[:2]) < 16:
        raise InputError(
            f"the reference is {reference.shape[1]}x{reference.shape[0]} px; it needs at "
            "least 16 px on each side"
        )
    if hole.shape != image.shape[:2]:
        raise InputError(
            f"the mask is {hole.shape[1]}x{hole.shape[0]} but the image is "
            f"{image.shape[1]}x{image.shape[0]}; pass a mask of the image's size"
        )
    if not hole.any():
        raise InputError("the mask is empty: there is no region to repaint")
    if hole.all():
        raise InputError("the mask covers the whole image: there is nothing to align to")


def _grey(rgb: ImageArray) -> npt.NDArray[np.uint8]:
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), np.uint8)


def _mean_scale(h: npt.NDArray[np.float64], at: tuple[float, float]) -> float:
    """The homography's local linear scale at reference point ``at``: sqrt(|det J|)."""
    x, y = at
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    u = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w
    v = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w
    j = np.array(
        [
            [(h[0, 0] - u * h[2, 0]) / w, (h[0, 1] - u * h[2, 1]) / w],
            [(h[1, 0] - v * h[2, 0]) / w, (h[1, 1] - v * h[2, 1]) / w],
        ]
    )
    det = float(np.linalg.det(j))
    return float(np.sqrt(abs(det))) if det > 0 else 0.0


def align_reference(
    image: ImageArray,
    hole: BoolArray,
    reference: ImageArray,
    *,
    min_inliers: int = 10,
    max_error: float = 3.0,
    context: float = 1.5,
) -> Alignment:
    """Find ``reference`` in ``image`` around ``hole``: the homography reference -> photo.

    Features of the photo are taken outside the hole, within its box grown by ``context``
    times its size (the content around the hole is what identifies the reference's place).

    Raises:
        ReferenceMatchError: fewer than ``min_inliers`` consistent matches, an RMS
            reprojection error above ``max_error`` pixels, or a warp that mirrors or
            collapses the reference.
    """
    hole = np.asarray(hole, dtype=bool)
    _check(image, hole, reference)
    slices = bounding_box(hole, 0)
    assert slices is not None
    tight = Box.from_slices(slices)
    pad = max(32, round(context * max(tight.width, tight.height)))
    around = bounding_box(hole, pad)
    assert around is not None
    box = Box.from_slices(around)
    where = np.zeros(hole.shape, np.uint8)
    where[box.slices] = 255
    where[dilate(hole, 3)] = 0
    # A lower contrast threshold than SIFT's default: fur, fabric and skin have few
    # high-contrast corners, and the ratio test and RANSAC reject the weak matches anyway.
    sift = cv2.SIFT.create(contrastThreshold=0.02)
    kp_i, des_i = sift.detectAndCompute(_grey(image), where)
    # A small reference is enlarged first: SIFT finds few features in a few hundred pixels.
    up = 2.0 if min(reference.shape[:2]) < _SMALL_REFERENCE else 1.0
    ref_grey = _grey(reference)
    if up > 1.0:
        ref_grey = np.asarray(
            cv2.resize(ref_grey, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC), np.uint8
        )
    kp_r, des_r = sift.detectAndCompute(ref_grey, None)
    if des_i is None or des_r is None or len(kp_i) < 4 or len(kp_r) < 4:
        raise ReferenceMatchError(
            "the reference does not match the photo: too few distinctive features "
            f"(photo around the hole: {len(kp_i)}, reference: {len(kp_r)}); for a plain "
            "material use mode 'texture'"
        )
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(des_r, des_i, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < _RATIO * p[1].distance]
    if len(good) < min_inliers:
        raise ReferenceMatchError(
            f"the reference does not match the photo around the hole: {len(good)} feature "
            f"matches, at least {min_inliers} are needed; check that the reference shows "
            "what belongs there (or use mode 'texture' for a swatch)"
        )
    src = np.array([kp_r[m.queryIdx].pt for m in good], np.float32).reshape(-1, 1, 2) / np.float32(
        up
    )
    dst = np.array([kp_i[m.trainIdx].pt for m in good], np.float32).reshape(-1, 1, 2)
    homography, inlier_mask = cv2.findHomography(src, dst, cv2.RANSAC, 3.0, maxIters=5000)
    if homography is None or inlier_mask is None:
        raise ReferenceMatchError(
            f"the reference does not match the photo: {len(good)} matches but no consistent "
            "geometry between them"
        )
    keep = inlier_mask.ravel().astype(bool)
    inliers = int(keep.sum())
    projected = cv2.perspectiveTransform(src[keep], homography)
    error = float(np.sqrt(np.mean(np.sum((projected - dst[keep]) ** 2, axis=2))))
    rh, rw = reference.shape[:2]
    scale = _mean_scale(np.asarray(homography, np.float64), (rw / 2.0, rh / 2.0))
    if inliers < min_inliers:
        raise ReferenceMatchError(
            f"the reference does not match the photo: only {inliers} of {len(good)} matches "
            f"agree on one placement, at least {min_inliers} are needed"
        )
    if error > max_error:
        raise ReferenceMatchError(
            f"the reference's alignment is too loose: RMS reprojection error {error:.2f} px "
            f"(limit {max_error:g} px)"
        )
    if not 0.05 <= scale <= 20.0:
        raise ReferenceMatchError(
            f"the reference's alignment is degenerate (it would be mirrored or scaled by "
            f"{scale:.3g}); check that the reference shows what belongs there"
        )
    return Alignment(
        homography=np.asarray(homography, np.float64),
        matches=len(good),
        inliers=inliers,
        reprojection_error=error,
        scale=scale,
        coverage=0.0,
    )


def _colour_fit(target: FloatArray, source: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-channel ``gain, offset`` with ``target ~ gain * source + offset`` (least squares,
    gain kept in 0.25..4: a ring of one flat colour must not produce a wild gain)."""
    gain = np.ones(3, np.float32)
    offset = np.zeros(3, np.float32)
    for c in range(3):
        s, t = source[:, c], target[:, c]
        var = float(s.var())
        g = float(np.cov(s, t, bias=True)[0, 1] / var) if var > 4.0 else 1.0
        g = min(max(g, 0.25), 4.0)
        gain[c] = g
        offset[c] = float(t.mean() - g * s.mean())
    return gain, offset


def _poisson(
    image: ImageArray, layer: ImageArray, hole: BoolArray, *, extend: bool = False
) -> ImageArray:
    """``layer``'s gradients inside ``hole``, ``image``'s values on its outline (Poisson).

    Only hole pixels are taken from the blend; the solve runs on the hole's box.
    """
    slices = bounding_box(hole, 6)
    assert slices is not None
    box = Box.from_slices(slices)
    src = np.ascontiguousarray(layer[box.slices])
    h = hole[box.slices]
    # OpenCV erodes the mask by 3 px before solving and takes the photo's gradients outside
    # what is left: grow the mask by 4 so the solve reaches one pixel past the hole, and
    # show it the layer (not the hole's old content) in that band.
    dst = np.ascontiguousarray(image[box.slices]).copy()
    dst[h] = src[h]
    mask = np.where(dilate(h, 4), 255, 0).astype(np.uint8)
    if extend:
        # The layer has nothing to say outside the hole (a synthesised texture): continue
        # its edge pixels outwards, so the solve sees no step at the hole's outline.
        src = src.copy()
        band = (mask > 0) & ~h
        _, labels = cv2.distanceTransformWithLabels(
            np.where(h, 0, 255).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
        )
        ys, xs = np.nonzero(h)  # labels number the hole's pixels in this (raster) order
        nearest = np.asarray(labels, np.int64)[band] - 1
        src[band] = src[ys[nearest], xs[nearest]]
    # seamlessClone ignores the crop's outermost pixels: keep the mask off them.
    mask[0, :] = mask[-1, :] = 0
    mask[:, 0] = mask[:, -1] = 0
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return image.copy()
    # The clone is centred on the mask's bounding rectangle: put that exactly where it is.
    bw, bh = int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)
    centre = (int(cols[0]) + bw // 2, int(rows[0]) + bh // 2)
    bgr = cv2.seamlessClone(
        cv2.cvtColor(src, cv2.COLOR_RGB2BGR),
        cv2.cvtColor(dst, cv2.COLOR_RGB2BGR),
        mask,
        centre,
        cv2.NORMAL_CLONE,
    )
    blended = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8)
    out = image.copy()
    region = out[box.slices]
    region[h] = blended[h]
    return out


def _match_spread(
    swatch: ImageArray, target: FloatArray
) -> tuple[ImageArray, FloatArray, FloatArray]:
    """The swatch with each channel's mean and spread matched to ``target`` pixels (Nx3);
    the gain is kept in 0.6..1.6 so a ring of one flat colour does not flatten it."""
    src = swatch.reshape(-1, 3).astype(np.float32)
    gain = np.clip(target.std(axis=0) / np.maximum(src.std(axis=0), 1.0), 0.6, 1.6)
    offset = target.mean(axis=0) - gain * src.mean(axis=0)
    out = np.clip(np.rint(swatch.astype(np.float32) * gain + offset), 0, 255).astype(np.uint8)
    return out, gain.astype(np.float32), offset.astype(np.float32)


def _synthesise(image: ImageArray, hole: BoolArray, swatch: ImageArray, seed: int) -> ImageArray:
    """``image`` with the hole filled by PatchMatch copying from ``swatch`` only.

    The hole's surroundings and the swatch share one canvas; the surroundings are not a
    source (so the fill is the swatch's material) but they are what the fill must continue.
    """
    slices = bounding_box(hole, 16)
    assert slices is not None
    box = Box.from_slices(slices)
    crop, h = image[box.slices], hole[box.slices]
    ch, cw = h.shape
    sh, sw = swatch.shape[:2]
    canvas = np.zeros((max(ch, sh), cw + sw, 3), np.uint8)
    canvas[:ch, :cw] = crop
    canvas[:sh, cw:] = swatch
    holes = np.zeros(canvas.shape[:2], bool)
    holes[:ch, :cw] = h
    exclude = np.ones(canvas.shape[:2], bool)
    exclude[:sh, cw:] = False
    filled = patchmatch(canvas, holes, exclude=exclude, seed=seed)
    out = image.copy()
    region = out[box.slices]
    region[h] = filled[:ch, :cw][h]
    return out


def inpaint_from_reference(
    image: ImageArray,
    mask: BoolArray,
    reference: ImageArray,
    *,
    mode: Mode = "align",
    texture_scale: float = 1.0,
    min_inliers: int = 10,
    max_error: float = 3.0,
    seed: int = 0,
) -> ReferenceFilled:
    """Repaint the ``mask`` pixels of ``image`` from ``reference``.

    Args:
        image: ``uint8`` HxWx3 photo.
        mask: ``bool`` HxW, True where the photo is to be repainted.
        reference: ``uint8`` HxWx3 image of what belongs in the hole.
        mode: ``"align"`` (the reference shows the same content: find and warp it) or
            ``"texture"`` (the reference is a swatch of the material: synthesise from it).
        texture_scale: ``texture`` only: the swatch's scale in the photo (photo px per
            swatch px).
        min_inliers, max_error: ``align`` only: acceptance limits (see
            :func:`align_reference`).
        seed: seeds PatchMatch (the texture synthesis and any fill of uncovered parts).

    Raises:
        InputError: bad shapes or parameters.
        ReferenceMatchError: ``align`` could not find the reference in the photo.
    """
    hole = np.asarray(mask, dtype=bool)
    _check(image, hole, reference)
    if mode not in ("align", "texture"):
        raise InputError(f"mode must be 'align' or 'texture', got {mode!r}")
    height, width = hole.shape
    ring = dilate(hole, 12) & ~dilate(hole, 2)
    alignment: Alignment | None = None
    if mode == "align":
        found = align_reference(
            image, hole, reference, min_inliers=min_inliers, max_error=max_error
        )
        layer = np.asarray(
            cv2.warpPerspective(
                reference, found.homography, (width, height), flags=cv2.INTER_CUBIC
            ),
            np.uint8,
        )
        valid = np.asarray(
            cv2.warpPerspective(
                np.full(reference.shape[:2], 255, np.uint8),
                found.homography,
                (width, height),
                flags=cv2.INTER_NEAREST,
            ),
            np.uint8,
        )
        covered = np.asarray(cv2.erode(valid, np.ones((3, 3), np.uint8)) > 0, dtype=bool)
        coverage = float((covered & hole).sum() / hole.sum())
        if coverage < 0.05:
            raise ReferenceMatchError(
                f"the reference was found in the photo but covers only {coverage:.0%} of the "
                "hole; use a reference that shows the missing region"
            )
        alignment = Alignment(
            found.homography,
            found.matches,
            found.inliers,
            found.reprojection_error,
            found.scale,
            coverage,
        )
        fit_on = ring & covered
        if int(fit_on.sum()) >= 30:
            gain, offset = _colour_fit(
                image[fit_on].astype(np.float32), layer[fit_on].astype(np.float32)
            )
        else:  # the reference barely reaches past the hole: no colour evidence to fit
            gain, offset = np.ones(3, np.float32), np.zeros(3, np.float32)
        corrected = np.clip(np.rint(layer.astype(np.float32) * gain + offset), 0, 255).astype(
            np.uint8
        )
    else:
        if not 0.05 <= texture_scale <= 20.0:
            raise InputError(f"texture_scale must be from 0.05 to 20, got {texture_scale!r}")
        rh, rw = reference.shape[:2]
        size = (max(8, round(rw * texture_scale)), max(8, round(rh * texture_scale)))
        interp = cv2.INTER_AREA if texture_scale < 1.0 else cv2.INTER_CUBIC
        swatch = np.asarray(cv2.resize(reference, size, interpolation=interp), np.uint8)
        # A swatch's pixels do not correspond to the photo's: match mean and spread.
        swatch, gain, offset = _match_spread(swatch, image[ring].astype(np.float32))
        corrected = _synthesise(image, hole, swatch, seed)
        covered = hole
    inside = hole & covered
    out = _poisson(image, corrected, inside, extend=mode == "texture")
    rest = hole & ~covered
    if rest.any():
        # Where the reference does not reach, the photo's own surroundings fill in.
        out = inpaint(out, rest, seed=seed).rgb
    out[~hole] = image[~hole]
    return ReferenceFilled(
        rgb=out,
        mode=mode,
        alignment=alignment,
        gain=(float(gain[0]), float(gain[1]), float(gain[2])),
        offset=(float(offset[0]), float(offset[1]), float(offset[2])),
    )
