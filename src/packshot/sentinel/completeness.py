"""Is the cutout the whole product? Completeness checks on the source photo and its mask.

A mask can be compliant by every rule and still wrong: a bear cut to its head, a handbag
without its handle, a product the photo's edge cuts off while the mask stops short of that
edge. These checks look at the source photo around the mask (the Subject's ``evidence``)
and measure whether the object goes on where the mask stops:

* ``completeness``: where the mask's outline is not an object edge. Just outside it, a
  pixel that looks like the product just inside it (colour within :data:`NEAR_PRODUCT`)
  and unlike the photo's backdrop (the colours along the photo's frame, away from the
  product) is the product going on; grown from there over product-like, backdrop-unlike
  pixels, those regions are the missing part. Value: the missing part's area as a share
  of the mask's.
* ``thin_parts``: a missing part that is thin and long (a handle, a strap, a cable):
  its length as a share of the mask's longer side. On a plain backdrop the product's
  contact and cast shadows (:attr:`Completeness.shadow`) are no missing part.
* ``mask_agreement``: the IoU of the mask with an independent opinion (U-2-Net-p on the
  mirrored photo, which no default ensemble member sees): the parts of it that overlap
  the mask.
* ``shape_sanity``: shreds and pieces (parts of the mask over 0.2% of its area), and the
  mask's box against the class-agnostic localizer's box around it (a mask much smaller
  than the object the localizer sees is a part of it).
* ``cutout_confidence``: the probability that the cutout is right, a logistic model of the
  values above fitted on the tune half of the labelled composite set
  (``benchmarks/completeness.py --fit``): calibrated, so 0.3 means about three in ten such
  cutouts were right.

All are measured at :data:`SIDE` px on the source photo's long side (a few ms each).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np
import numpy.typing as npt

from packshot.sentinel.result import CheckResult

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
XYXY = tuple[int, int, int, int]

SIDE = 384
"""Long side (px) the completeness measures work at."""
NEAR_PRODUCT = 28.0
"""RGB distance within which a pixel outside the mask looks like the product inside it."""
FAR_BACKDROP = 40.0
"""RGB distance from every backdrop colour beyond which a pixel is not the backdrop."""
FRAME_BAND = 0.03
"""Width of the photo's frame band the backdrop colours are taken from (share of SIDE)."""
REACH = 0.35
"""How far from the mask a missing part may reach (share of the mask's longer side)."""
SHADOW_DARKEST = 0.12
"""A shadow keeps at least this share of the lit backdrop's brightness beside it."""
SHADOW_LIGHTEST = 0.985
"""...and at most this share: lighter than that it is the backdrop itself."""
SHADOW_CHROMA = (3.0, 0.025)
"""A shadow is the backdrop's colour, darker: no channel further from the backdrop's colour
scaled to the pixel's brightness than 4 levels + 4% of the backdrop's level (JPEG chroma
noise and a slightly blue skylight; the composites' handles start at 20)."""
SHADOW_TEXTURE = 8.0
"""Roughness a shadow stays under: the std of grey levels about the best plane through
5x5 px at :data:`SIDE` (the highest within 2 px). A shadow is a soft gradient without
texture or edges of its own, planar over a few pixels however steep: the composites'
contact and cast shadows and the suite's studio bottle's read 1-3.6 (95th percentile up
to 6.6); their handles and cables 8-30, their edges against the backdrop more."""
SHADOW_FADING = 0.6
"""Share of a shadow's rim (away from the mask) that must fade smoothly into the backdrop."""
SHADOW_BELOW = 0.3
"""A shadow on the floor reaches below the mask's lowest row by at most this share of the
mask's height (a shadow cast towards the camera is foreshortened: the composites' cast
shadows lie behind the base, their contact shadows a few % below it)."""


@dataclass(frozen=True, eq=False)
class Evidence:
    """What the completeness checks look at besides the mask, in the source photo's frame.

    Attributes:
        photo: the source photo, HxWx3 uint8 (the frame of the Subject's ``source_alpha``).
        opinion: an independent foreground probability (0..1, HxW), or None.
        boxes: the localizer's object boxes (x0, y0, x1, y1) with their scores.
    """

    photo: ImageArray
    opinion: FloatArray | None = None
    boxes: tuple[tuple[XYXY, float], ...] = ()


@dataclass(frozen=True, eq=False)
class Measures:
    """The completeness measures of one mask on one photo (see the module docstring)."""

    missing: float
    missing_px: int
    leak: float
    thin: float
    thin_width: float
    frame_sides: tuple[str, ...]
    agreement: float | None
    pieces: int
    box_ratio: float | None
    mask_px: int

    def features(self) -> list[float]:
        """The calibration model's inputs (missing values at their neutral level)."""
        return [
            math.log1p(20 * self.missing),
            math.log1p(20 * self.leak),
            min(self.thin, 1.0),
            1.0 - (1.0 if self.agreement is None else self.agreement),
            float(min(self.pieces, 6) - 1),
            1.0 - (1.0 if self.box_ratio is None else min(self.box_ratio, 1.0)),
            float(len(self.frame_sides)),
        ]


FEATURES = ("missing", "leak", "thin", "disagreement", "pieces", "box_shortfall", "frame")

# Fitted by ``benchmarks/completeness.py --fit`` on the tune half (even scenes) of the
# composite set: intercept, then one weight per FEATURES entry.
CALIBRATION = (1.067, -1.719, -0.929, -0.028, -0.825, -0.968, -0.282, -0.352)


def confidence(m: Measures) -> float:
    """P(right) of a cutout with measures ``m`` (the calibrated logistic model)."""
    z = CALIBRATION[0] + sum(w * f for w, f in zip(CALIBRATION[1:], m.features(), strict=True))
    return 1.0 / (1.0 + math.exp(-z))


class Completeness:
    """The measures of ``alpha`` (source frame, 0..1) on ``evidence``, computed once."""

    def __init__(self, alpha: FloatArray, evidence: Evidence) -> None:
        h, w = alpha.shape
        self.scale = min(1.0, SIDE / max(h, w))
        size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
        self.full_hw = (h, w)

        def small(a: FloatArray) -> FloatArray:
            if self.scale >= 1.0:
                return a
            return np.asarray(cv2.resize(a, size, interpolation=cv2.INTER_AREA), np.float32)

        self.alpha = small(alpha.astype(np.float32))
        self.rgb = small(evidence.photo[..., :3].astype(np.float32))
        self.opinion = (
            None
            if evidence.opinion is None
            else np.asarray(small(evidence.opinion.astype(np.float32)), np.float32)
        )
        self.boxes = evidence.boxes
        self.mask = self.alpha > 0.5
        self.missing_mask = np.zeros(self.mask.shape, bool)
        """The missing part's pixels at :data:`SIDE` (set by :attr:`measures`)."""

    # ------------------------------------------------------------------ colour models

    def _backdrop(self) -> FloatArray:
        """The backdrop's colours: the main colour bins of the photo's frame band, away
        from the product (a product cut by the frame would otherwise count as backdrop)."""
        h, w = self.mask.shape
        b = max(2, round(FRAME_BAND * max(h, w)))
        band = np.zeros((h, w), bool)
        band[:b], band[-b:], band[:, :b], band[:, -b:] = True, True, True, True
        reach = max(3, round(0.08 * max(h, w)))
        near = cv2.dilate(self.mask.view(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)) > 0
        pick = band & ~near
        if np.count_nonzero(pick) < 0.05 * np.count_nonzero(band):
            pick = band & ~self.mask
        if not pick.any():
            return np.zeros((0, 3), np.float32)
        return _palette(self.rgb[pick], min_share=0.01)

    @cached_property
    def studio(self) -> bool:
        """Whether the photo's frame is a plain backdrop (its two main colour bins hold
        80% of the frame band): colour then tells product from backdrop."""
        h, w = self.mask.shape
        b = max(2, round(FRAME_BAND * max(h, w)))
        band = np.zeros((h, w), bool)
        band[:b], band[-b:], band[:, :b], band[:, -b:] = True, True, True, True
        pick = band & ~self.mask
        if not pick.any():
            return False
        counts = np.sort(np.bincount(self.codes[pick]))[::-1]
        return float(counts[:2].sum()) >= 0.8 * float(counts.sum())

    @cached_property
    def codes(self) -> npt.NDArray[np.int32]:
        """Each pixel's colour bin (see :func:`_palette`): distances to a palette are
        looked up per bin, not computed per pixel."""
        return _codes(self.rgb.reshape(-1, 3)).reshape(self.mask.shape)

    def _distance_to(self, palette: FloatArray) -> FloatArray:
        if len(palette) == 0:
            return np.full(self.mask.shape, 255.0, np.float32)
        d = np.linalg.norm(_BIN_CENTRES[:, None, :] - palette[None], axis=2).min(axis=1)
        return np.asarray(d[self.codes], np.float32)

    @cached_property
    def backdrop_distance(self) -> FloatArray:
        return self._distance_to(self._backdrop())

    @cached_property
    def outside_distance(self) -> FloatArray:
        """Each pixel's distance (px at :data:`SIDE`) to the mask."""
        d = cv2.distanceTransform((~self.mask).view(np.uint8), cv2.DIST_L2, 3)
        return np.asarray(d, np.float32)

    @cached_property
    def shadow(self) -> BoolArray:
        """The product's shadow on a plain backdrop, which is no missing part.

        Pixels outside the mask that are the backdrop's colour made darker (the lit
        backdrop beside them scaled down, no colour of their own), a soft gradient without
        texture or edges of their own (:data:`SHADOW_TEXTURE`), not seen as object by the
        independent pass, and on the floor: not above the product's top quarter, in regions
        that fade into the backdrop along most of their rim (:data:`SHADOW_FADING`) and
        reach below the base by a fraction of the product's height (:data:`SHADOW_BELOW`).
        A handle, strap or cable has its own colour or its own edges; a flat grey body the
        mask left out ends at its own edge and is as tall as a product: they stay missing
        parts."""
        mask = self.mask
        h, w = mask.shape
        near = self.outside_distance <= 2.0  # the mask and its own soft edge
        lit = (self.backdrop_distance <= FAR_BACKDROP) & ~near
        if not mask.any() or not lit.any():
            return np.zeros(mask.shape, bool)
        # The lit backdrop as it would be under the shadow: its nearby pixels, spread.
        sigma = 0.06 * max(h, w)
        weight = cv2.GaussianBlur(lit.astype(np.float32), (0, 0), sigma)
        spread = cv2.GaussianBlur(self.rgb * lit[..., None], (0, 0), sigma)
        field = spread / np.maximum(weight, 1e-6)[..., None]
        grey = self.rgb.mean(axis=2)
        level = np.maximum(field.mean(axis=2), 1.0)
        ratio = grey / level
        darker = (ratio >= SHADOW_DARKEST) & (ratio <= SHADOW_LIGHTEST) & (weight > 1e-3)
        tint = np.abs(self.rgb - ratio[..., None] * field).max(axis=2)
        same_colour = tint <= SHADOW_CHROMA[0] + SHADOW_CHROMA[1] * level
        # Texture from the pixels outside the mask only (the product's own edge beside a
        # contact shadow is not the shadow's), as what a plane does not explain: a soft
        # gradient, however steep, is planar over a few pixels; an edge or a texture is not.
        rough = _unplanar(grey, (~near).astype(np.float64), 2)
        smooth = cv2.dilate(rough, np.ones((5, 5), np.uint8)) < SHADOW_TEXTURE
        ys = np.flatnonzero(mask.any(axis=1))
        floor = np.zeros(mask.shape, bool)
        floor[int(ys[0] + 0.25 * (ys[-1] - ys[0])) :] = True
        candidate = ~near & darker & same_colour & smooth & floor
        if self.opinion is not None:  # what the independent pass sees as object is no shadow
            candidate &= self.opinion <= 0.5
        # A shadow fades into the backdrop; a flat grey part of the product (a body, a
        # strap) ends at an edge of its own: the share of each region's rim (away from the
        # mask) that is smooth tells them apart.
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            candidate.view(np.uint8), connectivity=8
        )
        if count <= 1:
            return np.asarray(candidate, bool)
        rim = cv2.dilate(candidate.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
        rim &= ~candidate & ~near
        owner = cv2.dilate(labels.astype(np.float32), np.ones((3, 3), np.uint8))
        owner = owner.astype(np.int32)[rim]
        total = np.bincount(owner, minlength=count)
        fading = np.bincount(owner, weights=smooth[rim].astype(np.float64), minlength=count)
        shadow = fading >= SHADOW_FADING * np.maximum(total, 1)
        # On the floor a shadow is foreshortened: it reaches below the product's base by a
        # fraction of the product's height (a flat grey body below the head the mask kept
        # reaches down by more than the head's height).
        height = float(ys[-1] - ys[0] + 1)
        lowest = stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT] - 1
        shadow &= lowest - ys[-1] <= SHADOW_BELOW * height
        shadow[0] = False
        return np.asarray(shadow[labels] & candidate)

    @cached_property
    def measures(self) -> Measures:
        mask = self.mask
        mask_px = int(np.count_nonzero(mask))
        if mask_px == 0:
            return Measures(0.0, 0, 0.0, 0.0, 0.0, (), None, 0, None, 0)
        ys, xs = np.nonzero(mask)
        long_side = max(int(ys.max() - ys.min()) + 1, int(xs.max() - xs.min()) + 1)
        ring_w = max(2, round(0.02 * long_side))
        m8 = mask.view(np.uint8)
        outside_d = self.outside_distance
        inside_d = cv2.distanceTransform(m8, cv2.DIST_L2, 3)
        # The product's colour near each point of its outline: a normalised local mean of
        # the mask's pixels 1..ring_w deep, spread over the ring outside.
        inner = ((inside_d >= 1) & (inside_d <= 2 * ring_w)).astype(np.float32)
        k = (4 * ring_w + 1, 4 * ring_w + 1)
        weight = cv2.boxFilter(inner, -1, k, normalize=True)
        summed = cv2.boxFilter(self.rgb * inner[..., None], -1, k, normalize=True)
        local = summed / np.maximum(weight[..., None], 1e-6)
        # The mask's own soft edge (a pixel or two outside it) is no missing part.
        ring = (outside_d > 2.0) & (outside_d <= ring_w + 2.0) & (weight > 0.02)
        near_product = np.linalg.norm(self.rgb - local, axis=2) < NEAR_PRODUCT
        not_backdrop = self.backdrop_distance > FAR_BACKDROP
        opinion = None if self.opinion is None else self.opinion > 0.5
        if self.studio:
            # On a plain backdrop: a pixel touching the outline that looks like the product
            # there, or that the independent pass sees as object (a part of another
            # material: a handle, a head), or that is plainly not the backdrop (twice as
            # far from it) is the product going on.
            plain = self.backdrop_distance > 2 * FAR_BACKDROP
            seeds = ring & (near_product | plain) & not_backdrop
            if opinion is not None:
                seeds |= ring & opinion & not_backdrop
            like = self._distance_to(_palette(self.rgb[mask], min_share=0.005)) < NEAR_PRODUCT
            grow = (like | near_product | plain) & not_backdrop
            # The product's shadow is darker than the backdrop but no part of the product.
            seeds &= ~self.shadow
            grow &= ~self.shadow
        elif opinion is not None:
            # In a scene the backdrop has the product's colours somewhere: only the
            # independent pass says where the object goes on.
            seeds = ring & opinion
            # ...and only over colours like the product's: the pass may also see another
            # salient thing beside it (a face, a cup) as object.
            like = self._distance_to(_palette(self.rgb[mask], min_share=0.005)) < NEAR_PRODUCT
            grow = opinion & (like | near_product)
        else:
            seeds = np.zeros(mask.shape, bool)
            grow = seeds
        ring_px = max(int(np.count_nonzero(ring)), 1)
        leak = float(np.count_nonzero(seeds)) / ring_px
        # The missing part: grown from the seeds within reach of the mask.
        reach = REACH * long_side
        grow = grow & (outside_d > 2.0) & (outside_d <= reach)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            grow.view(np.uint8), connectivity=8
        )
        # A part attached to the outline by a few stray pixels is noise, not a part.
        sizes = np.bincount(labels[seeds], minlength=count)
        hit = [int(i) for i in np.flatnonzero(sizes >= 3) if i > 0]
        missing_mask = np.isin(labels, hit) if hit else np.zeros(mask.shape, bool)
        missing_px = int(np.count_nonzero(missing_mask))
        self.missing_mask = missing_mask
        thin, thin_w = 0.0, 0.0
        if hit:
            depth = cv2.distanceTransform(missing_mask.view(np.uint8), cv2.DIST_L2, 3)
            for i in hit:
                part = labels == i
                # The 90th percentile of the depth: where a strap joins a blob it is deeper.
                width = 2.0 * float(np.percentile(depth[part], 90))
                bw, bh = stats[i, 2], stats[i, 3]
                length = float(max(bw, bh)) / long_side
                # Thin: a strap, a handle, a cable (under 6% of the object's size wide),
                # at least twice as long as it is wide.
                if width <= 0.06 * long_side and max(bw, bh) >= 2.0 * width and length > thin:
                    thin, thin_w = length, width
        # The photo's frame: the object going on to the frame (the missing part reaches it,
        # or the mask itself does) means the photo cut it off.
        sides = []
        for side, line_m, line_g in (
            ("left", mask[:, 0], missing_mask[:, 0]),
            ("top", mask[0], missing_mask[0]),
            ("right", mask[:, -1], missing_mask[:, -1]),
            ("bottom", mask[-1], missing_mask[-1]),
        ):
            if np.count_nonzero(line_g) >= 2 and np.count_nonzero(line_m) < 2:
                sides.append(side)
        agreement = None
        if self.opinion is not None:
            # The opinion of this object: the parts of the independent pass that overlap
            # the mask. Another salient thing apart from it on a busy photo (a face, a cup)
            # is no disagreement about this one.
            _, parts = cv2.connectedComponents((self.opinion > 0.5).view(np.uint8), connectivity=8)
            mine = np.unique(parts[mask])
            other = np.isin(parts, mine[mine > 0])
            union = int(np.count_nonzero(mask | other))
            agreement = float(np.count_nonzero(mask & other)) / max(union, 1)
        _, _, pstats, _ = cv2.connectedComponentsWithStats(m8, connectivity=8)
        pieces = int(np.count_nonzero(pstats[1:, cv2.CC_STAT_AREA] >= 0.002 * mask_px))
        return Measures(
            float(missing_px) / mask_px,
            round(missing_px / (self.scale**2)),
            leak,
            thin,
            thin_w / self.scale,
            tuple(sides),
            agreement,
            max(pieces, 1),
            self._box_ratio(xs, ys),
            mask_px,
        )

    def _box_ratio(self, xs: npt.NDArray[np.intp], ys: npt.NDArray[np.intp]) -> float | None:
        """The mask's box area over the area of the localizer's box that contains it (the
        smallest such box scoring 0.3+); None without one."""
        x0, y0 = float(xs.min()) / self.scale, float(ys.min()) / self.scale
        x1, y1 = float(xs.max() + 1) / self.scale, float(ys.max() + 1) / self.scale
        area = (x1 - x0) * (y1 - y0)
        best: float | None = None
        for (bx0, by0, bx1, by1), score in self.boxes:
            if score < 0.3:
                continue
            ix = max(0.0, min(x1, bx1) - max(x0, bx0))
            iy = max(0.0, min(y1, by1) - max(y0, by0))
            if ix * iy < 0.9 * area:  # the box must hold the mask's box
                continue
            ratio = area / max((bx1 - bx0) * (by1 - by0), 1.0)
            best = ratio if best is None else max(best, ratio)
        return best


def _unplanar(grey: FloatArray, weight: npt.NDArray[np.float64], radius: int) -> FloatArray:
    """Per pixel, the std of ``grey`` around the best plane through its (2r+1)^2
    neighbourhood, counting only pixels of positive ``weight`` (weighted least squares from
    box-filtered moments)."""
    h, w = grey.shape
    k = (2 * radius + 1, 2 * radius + 1)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    g = grey.astype(np.float64)

    def box(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(cv2.boxFilter(a * weight, cv2.CV_64F, k, normalize=False))

    n = np.maximum(box(np.ones_like(g)), 1e-9)
    mx, my, mg = box(xx) / n, box(yy) / n, box(g) / n
    cxx = box(xx * xx) / n - mx * mx
    cyy = box(yy * yy) / n - my * my
    cxy = box(xx * yy) / n - mx * my
    cxg = box(xx * g) / n - mx * mg
    cyg = box(yy * g) / n - my * mg
    cgg = box(g * g) / n - mg * mg
    det = cxx * cyy - cxy * cxy
    ok = det > 1e-6
    safe = np.where(ok, det, 1.0)
    a = np.where(ok, (cyy * cxg - cxy * cyg) / safe, 0.0)
    b = np.where(ok, (cxx * cyg - cxy * cxg) / safe, 0.0)
    residual = np.maximum(cgg - a * cxg - b * cyg, 0.0)
    return np.sqrt(residual).astype(np.float32)


def _codes(pixels: FloatArray) -> npt.NDArray[np.int32]:
    q = (pixels // 24).astype(np.int32)
    return np.asarray((q[:, 0] * 11 + q[:, 1]) * 11 + q[:, 2], np.int32)


_q = np.arange(11, dtype=np.float32) * 24 + 12
_BIN_CENTRES = np.stack(np.meshgrid(_q, _q, _q, indexing="ij"), -1).reshape(-1, 3)
"""The colour at the centre of each 24-level bin, in bin-code order."""


def _palette(pixels: FloatArray, min_share: float) -> FloatArray:
    """The mean colours of the 24-level colour bins holding at least ``min_share`` of
    ``pixels`` (N x 3)."""
    code = _codes(pixels)
    counts = np.bincount(code, minlength=11**3)
    keep = np.flatnonzero(counts >= max(1, min_share * len(code)))
    sums = np.stack([np.bincount(code, weights=pixels[:, c], minlength=11**3) for c in range(3)], 1)
    return np.asarray(sums[keep] / counts[keep, None], np.float32)


# --------------------------------------------------------------------------- checks


def _absent(name: str) -> CheckResult:
    return CheckResult(
        name, None, None, True, False, "not measured: no source photo to compare the cutout with"
    )


def completeness_check(c: Completeness | None, *, max_missing: float) -> CheckResult:
    name = "completeness"
    if c is None:
        return _absent(name)
    m = c.measures
    passed = m.missing <= max_missing
    detail = (
        f"the photo goes on past the mask over {m.leak:.1%} of its outline; the part it "
        f"leaves out covers {m.missing:.1%} of the mask's area ({m.missing_px} px; at most "
        f"{max_missing:.0%})"
    )
    return CheckResult(name, m.missing, max_missing, passed, True, detail)


def thin_parts_check(c: Completeness | None, *, max_length: float) -> CheckResult:
    name = "thin_parts"
    if c is None:
        return _absent(name)
    m = c.measures
    if m.thin <= 0:
        return CheckResult(name, 0.0, max_length, True, True, "no thin part leaves the mask")
    passed = m.thin <= max_length
    detail = (
        f"a thin part {m.thin_width:.0f} px wide and {m.thin:.0%} of the product's size long "
        f"leaves the mask (a handle, strap or cable; at most {max_length:.0%})"
    )
    return CheckResult(name, m.thin, max_length, passed, True, detail)


def mask_agreement_check(c: Completeness | None, *, min_iou: float) -> CheckResult:
    name = "mask_agreement"
    if c is None or c.measures.agreement is None:
        return (
            _absent(name)
            if c is None
            else CheckResult(name, None, min_iou, True, False, "not measured: no second opinion")
        )
    value = c.measures.agreement
    detail = (
        f"IoU {value:.3f} between the mask and an independent pass (U-2-Net-p, mirrored; "
        f"at least {min_iou:g})"
    )
    return CheckResult(name, value, min_iou, value >= min_iou, True, detail)


def shape_sanity_check(c: Completeness | None, *, min_box_ratio: float) -> CheckResult:
    name = "shape_sanity"
    if c is None:
        return _absent(name)
    m = c.measures
    ratio = m.box_ratio
    problems = []
    if m.pieces > 3:
        problems.append(f"the mask is in {m.pieces} pieces")
    if ratio is not None and ratio < min_box_ratio:
        problems.append(
            f"its box is {ratio:.0%} of the box the localizer sees around it "
            f"(at least {min_box_ratio:.0%})"
        )
    value = ratio if ratio is not None else 1.0
    if problems:
        return CheckResult(name, value, min_box_ratio, False, True, "; ".join(problems))
    box = "no localizer box holds it" if ratio is None else f"box {ratio:.0%} of the localizer's"
    detail = f"{m.pieces} piece(s), {box}"
    return CheckResult(name, value, min_box_ratio, True, True, detail)


def confidence_check(c: Completeness | None, *, min_confidence: float) -> CheckResult:
    name = "cutout_confidence"
    if c is None:
        return _absent(name)
    p = confidence(c.measures)
    detail = (
        f"{p:.0%} probability that the cutout is the whole, right product (calibrated on "
        f"labelled composites; at least {min_confidence:.0%})"
    )
    return CheckResult(name, p, min_confidence, p >= min_confidence, True, detail)


def frame_sides(c: Completeness | None) -> tuple[str, ...]:
    """The photo's sides the object goes on to while the mask stops short of them."""
    return () if c is None else c.measures.frame_sides


def gather_evidence(photo: ImageArray, *, localize: bool = True) -> Evidence:
    """The source photo with an independent foreground opinion (U-2-Net-p on the mirrored
    photo, at the photo's size) and the localizer's boxes: about one U-2-Net-p pass and one
    localizer pass per source photo, shared by all its targets."""
    # Imported here: the models load only where a cutout is gated.
    from packshot.models.detect import localizer
    from packshot.models.salient import salient_model

    rgb = np.ascontiguousarray(photo[..., :3])
    h, w = rgb.shape[:2]
    prob = salient_model("u2netp").predict(rgb, "flip")
    opinion = np.asarray(cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
    boxes: tuple[tuple[XYXY, float], ...] = ()
    if localize:
        found = localizer().detect(rgb)
        boxes = tuple(
            ((int(d.box[0]), int(d.box[1]), int(d.box[2]), int(d.box[3])), d.score) for d in found
        )
    return Evidence(rgb, opinion, boxes)
