"""Pixel checks: background, edges, framing, objects, matte, colour, sharpness, seams.

Each check is a pure function of a :class:`~packshot.sentinel.subject.Subject` and its
thresholds, returning a :class:`~packshot.sentinel.result.CheckResult` with the measured
value. Lengths scale with the image (shares of its long side) so that a check means the
same at 1000 and at 4000 px.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError
from packshot.ops.color import delta_e_2000, dominant_color, mean_color, rgb_to_lab
from packshot.ops.framing import fill_metrics
from packshot.ops.geometry import Box
from packshot.ops.matte import bounding_box
from packshot.sentinel.completeness import frame_sides
from packshot.sentinel.result import CheckResult
from packshot.sentinel.subject import PRODUCT_ALPHA, Color, Subject

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

GUARD_FRAC = 0.004
GUARD_MIN = 8
"""Background pixels this close to the product (share of the long side, at least one JPEG
block of 8 px) are
left out of the purity check: a lossy codec's blocks that straddle the product's edge
cannot be exactly flat, and nobody sees a one-level ripple a few pixels from an edge."""

ANALYSIS_SIDE = 512
"""Long side (px) of the product crop that scale-free measures (sharpness, colour cells,
objects) work on."""


def _long(subject: Subject) -> int:
    return max(subject.width, subject.height)


def _dilate(mask: BoolArray, radius: int) -> BoolArray:
    # A square kernel: OpenCV dilates with it separably, many times faster than a disc
    # at 2000 px, and a guard band need not be round.
    if radius <= 0:
        return mask
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return np.asarray(cv2.dilate(mask.astype(np.uint8), kernel), dtype=bool)


def _product_box(subject: Subject, pad: int = 0) -> Box | None:
    box = subject.product_box
    return None if box is None else subject.padded(box, pad)


def _whole_blocks(subject: Subject, box: Box, q: int) -> Box:
    """``box`` grown (or, at the canvas edge, trimmed) to whole ``q`` x ``q`` blocks."""
    if q <= 1:
        return box

    def span(start: int, stop: int, limit: int) -> int:
        grown = start + -(-(stop - start) // q) * q
        return grown if grown <= limit else start + max(q, (stop - start) // q * q)

    x1 = span(box.x0, box.x1, subject.width)
    y1 = span(box.y0, box.y1, subject.height)
    return Box(box.x0, box.y0, min(x1, subject.width), min(y1, subject.height))


def _not_applicable(name: str, why: str) -> CheckResult:
    return CheckResult(name, None, None, True, False, f"not measured: {why}")


# --------------------------------------------------------------------------- background


def background_purity(subject: Subject, *, color: Color, min_share: float) -> CheckResult:
    """Share of the background (outside the product, its guard band and any border) that is
    exactly ``color``, with the worst deviation found; fixable by re-filling it."""
    name = "background_purity"
    guard = max(GUARD_MIN, round(GUARD_FRAC * _long(subject)))
    inner = subject.inner
    mask = np.zeros((subject.height, subject.width), np.uint8)
    mask[inner.slices] = 1
    if subject.covered_box is not None:
        box = subject.padded(subject.covered_box, guard)
        # Only the product's box can hold its guard band: dilate there alone.
        near = _dilate(subject.alpha[box.slices] > 0, guard)
        mask[box.slices][near] = 0
    total = cv2.countNonZero(mask)
    if total == 0:
        return CheckResult(
            name, 0.0, min_share, False, True, "no background is visible around the product"
        )
    deviation = subject.deviation(color)
    exact = total - cv2.countNonZero(cv2.bitwise_and(deviation, deviation, mask=mask))
    share = exact / total
    _, high, _, (x, y) = cv2.minMaxLoc(deviation, mask=mask)
    worst = int(high)
    passed = share >= min_share
    where = f" at x={x}, y={y}" if worst > 0 else ""
    detail = (
        f"{share:.2%} of {total} background pixels are exactly {_rgb(color)} "
        f"(at least {min_share:.2%} required); worst deviation {worst} levels{where}"
    )
    return CheckResult(name, share, min_share, passed, True, detail)


def _rgb(color: Color) -> str:
    return f"({color[0]}, {color[1]}, {color[2]})"


HALO_BAND = (2, 8)
"""Distances (px, at 2000 px scaled) from the product where :func:`edge_halo` looks:
beyond a soft edge's own blend, inside the reach of a codec's blocks."""


def edge_halo(subject: Subject, *, color: Color, max_share: float, level: int = 4) -> CheckResult:
    """Ringing or a halo just outside the product: the share of background pixels 2..8 px
    from it (at 2000 px; scaled) that deviate from ``color`` by ``level`` levels or more.
    A crisp edge on an exact background has almost none there (measured 2-5% on good
    JPEGs at quality 90, 9-15% on 4:2:0 JPEGs at quality 25-60). Fixable by re-filling.

    On packshot's own renders (``mask_origin == "alpha"``) the background is the exact
    colour by construction and what remains there is the codec at the quality the preset
    chose (a user's quality 72 rings): the value is reported, not gated."""
    name = "edge_halo"
    scale = max(1.0, _long(subject) / 2000.0)
    near, far = HALO_BAND[0] * scale, HALO_BAND[1] * scale
    box = _product_box(subject, pad=int(far) + 2)
    if box is None:
        return _not_applicable(name, "no product found")
    outside = (subject.alpha[box.slices] <= 0).astype(np.uint8)
    dist = cv2.distanceTransform(outside, cv2.DIST_L2, 3)
    band = (dist > near) & (dist <= far)
    count = int(np.count_nonzero(band))
    if count == 0:
        return _not_applicable(name, "no background next to the product")
    deviation = subject.deviation(color)[box.slices][band]
    share = float(np.count_nonzero(deviation >= level)) / count
    gated = subject.mask_origin != "alpha"
    detail = (
        f"{share:.2%} of {count} background pixels {near:g}-{far:g} px from the product "
        f"deviate {level}+ levels from {_rgb(color)} (at most {max_share:.0%}); "
        f"mean deviation {float(deviation.mean()):.2f} levels"
    )
    if not gated:
        detail += "; reported only: rendered on the exact colour, this is the encoder's"
    return CheckResult(name, share, max_share, share <= max_share or not gated, True, detail)


def edge_contamination(
    subject: Subject, *, color: Color, max_share: float, distance: float = 40.0
) -> CheckResult:
    """Share of the product's edge band whose colour is neither the product's nearby colour
    nor the background nor a blend of the two: a halo or fringe of a foreign colour (the old
    background, a colour cast). Products with dark trim along their outline (a car's
    rubber seals) score up to about a third; a fringe of the old background scores 80%+.

    Each edge pixel is compared with the segment from the product's local interior colour
    (a normalised blur of pixels deeper inside) to ``color``; it is contaminated when its
    RGB distance to that segment exceeds ``distance`` levels.
    """
    name = "edge_contamination"
    long_side = _long(subject)
    band = max(2, round(0.002 * long_side))
    box = _product_box(subject, pad=6 * band)
    if box is None:
        return _not_applicable(name, "no product found")
    # The interior colour is a wide local mean: estimated at a quarter of the resolution
    # (the fringe itself is measured at full resolution). A crop of whole 4x4 blocks lets
    # OpenCV average blocks directly instead of resampling.
    q = 4 if band >= 4 else 1
    box = _whole_blocks(subject, box, q)
    alpha = subject.alpha[box.slices]
    rgb8 = subject.rgb[box.slices]
    product = subject.product[box.slices].view(np.uint8)
    depth = cv2.distanceTransform(product, cv2.DIST_L2, 3)
    # Product pixels within ``band`` of the outline, and the soft edge outside it (depth 0;
    # every product pixel has alpha above 0.05 too).
    ring = (alpha > 0.05) & (depth <= band)
    interior8 = (depth > 2 * band).view(np.uint8)
    interior = interior8.astype(np.float32)
    # Masked in uint8 before the one float conversion: the same sums at a third of the cost.
    small = (max(1, rgb8.shape[1] // q), max(1, rgb8.shape[0] // q))
    weight_s = cv2.resize(interior, small, interpolation=cv2.INTER_AREA)
    masked = cv2.bitwise_and(rgb8, rgb8, mask=interior8).astype(np.float32)
    summed_s = cv2.resize(masked, small, interpolation=cv2.INTER_AREA)
    radius = max(1, 4 * band // q)
    ksize = (2 * radius + 1, 2 * radius + 1)
    weight = cv2.boxFilter(weight_s, -1, ksize, normalize=True)
    summed = cv2.boxFilter(summed_s, -1, ksize, normalize=True)
    points = cv2.findNonZero(ring.view(np.uint8))
    if points is None:
        return _not_applicable(name, "the product has no edge")
    points = points.reshape(-1, 2)
    xs, ys = points[:, 0], points[:, 1]
    ys_s = np.minimum(ys // q, small[1] - 1)
    xs_s = np.minimum(xs // q, small[0] - 1)
    w = weight[ys_s, xs_s]
    known = w > 0.05
    count = int(np.count_nonzero(known))
    if count == 0:
        return _not_applicable(name, "the product has no interior to compare its edge with")
    f = summed[ys_s[known], xs_s[known]] / w[known][:, None]
    p = rgb8[ys[known], xs[known]].astype(np.float32)
    b = np.asarray(color, dtype=np.float32)
    seg = b - f
    t = np.clip(((p - f) * seg).sum(axis=1) / np.maximum((seg * seg).sum(axis=1), 1e-6), 0, 1)
    off = np.linalg.norm(p - (f + t[:, None] * seg), axis=1)
    share = float(np.count_nonzero(off > distance)) / count
    passed = share <= max_share
    detail = (
        f"{share:.2%} of {count} edge pixels are more than {distance:g} levels off the blend "
        f"of the product's colour and the background (at most {max_share:.2%} allowed); "
        f"median offset {float(np.median(off)):.1f} levels"
    )
    return CheckResult(name, share, max_share, passed, True, detail)


def border(subject: Subject) -> CheckResult:
    """A uniform frame drawn around the image (widths found by
    :func:`~packshot.sentinel.subject.detect_border`); fixable by re-filling it."""
    widths = subject.border
    worst = max(widths)
    if worst == 0:
        detail = "no uniform frame around the image"
    else:
        sides = ("left", "top", "right", "bottom")
        px = ", ".join(f"{s} {w} px" for s, w in zip(sides, widths, strict=True))
        detail = f"a uniform frame surrounds the image ({px})"
    return CheckResult("border", float(worst), 0.0, worst == 0, True, detail)


# --------------------------------------------------------------------------- framing


def frame_fill(subject: Subject, *, min_fill: float) -> CheckResult:
    """The product's bounding box's longer side as a share of the canvas (gated), with the
    pixel-area share (reported); fixable by re-framing."""
    name = "frame_fill"
    inner = subject.inner
    alpha = subject.alpha[inner.slices]
    covered = subject.covered_box
    if covered is not None:
        # Extent and area both lie within the covered box: measure there alone.
        x0, y0 = max(covered.x0, inner.x0), max(covered.y0, inner.y0)
        x1, y1 = min(covered.x1, inner.x1), min(covered.y1, inner.y1)
        if x1 > x0 and y1 > y0:
            alpha = subject.alpha[y0:y1, x0:x1]
    try:
        fill = fill_metrics(alpha, inner.width, inner.height)
    except InputError:
        return CheckResult(name, 0.0, min_fill, False, False, "no product found in the image")
    passed = fill.bbox_long_share >= min_fill - 1e-9
    detail = (
        f"the product spans {fill.bbox_long_share:.1%} of the frame along its longer side "
        f"({fill.width_share:.1%} wide, {fill.height_share:.1%} high; at least {min_fill:.0%} "
        f"required); it covers {fill.area_share:.1%} of the pixels"
    )
    return CheckResult(name, fill.bbox_long_share, min_fill, passed, True, detail)


def _edge_touch(alpha: FloatArray) -> list[str]:
    sides = {
        "left": alpha[:, 0],
        "top": alpha[0],
        "right": alpha[:, -1],
        "bottom": alpha[-1],
    }
    # A run of a few pixels is a real contact; a lone pixel is matting noise.
    return [side for side, line in sides.items() if np.count_nonzero(line > PRODUCT_ALPHA) >= 3]


def product_cut_off(subject: Subject) -> CheckResult:
    """The product touching the canvas edge (inside any border), or already touching the
    source photo's edge (cut off before packshot saw it). Not fixable: pixels that were
    never photographed cannot be re-framed back."""
    inner = subject.inner
    touched = _edge_touch(subject.alpha[inner.slices])
    in_source = [] if subject.source_alpha is None else _edge_touch(subject.source_alpha)
    # The mask may stop short of the photo's edge while the object goes on to it (the part
    # touching the edge left out): the photo cuts the product off all the same.
    beyond = [s for s in frame_sides(subject.completeness) if s not in in_source]
    count = len(touched) + len(in_source) + len(beyond)
    parts = []
    if touched:
        parts.append(f"the product touches the canvas edge ({', '.join(touched)})")
    if in_source:
        parts.append(f"the product is cut off by the source photo's edge ({', '.join(in_source)})")
    if beyond:
        parts.append(
            "the object goes on past the mask to the source photo's edge "
            f"({', '.join(beyond)}): the photo cuts it off"
        )
    detail = "; ".join(parts) if parts else "the whole product is inside the frame"
    return CheckResult("product_cut_off", float(count), 0.0, count == 0, False, detail)


# --------------------------------------------------------------------------- objects, matte


def _analysis_scale(box: Box) -> float:
    return min(1.0, ANALYSIS_SIDE / max(box.width, box.height))


def object_components(subject: Subject, min_share: float) -> tuple[int, list[int]]:
    """Separate objects in the product's alpha: (count of parts at least ``min_share`` of
    the largest, their areas in analysis pixels, largest first)."""
    box = _product_box(subject, pad=1)
    if box is None:
        return 0, []
    scale = _analysis_scale(box)
    crop = subject.alpha[box.slices]
    if scale < 1.0:
        size = (max(1, round(box.width * scale)), max(1, round(box.height * scale)))
        crop = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), np.float32)
    mask = (crop > PRODUCT_ALPHA).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    areas = sorted((int(a) for a in stats[1:, cv2.CC_STAT_AREA]), reverse=True)
    if not areas:
        return 0, []
    kept = [a for a in areas if a >= min_share * areas[0]]
    return len(kept), kept


def multiple_objects(subject: Subject, *, min_share: float = 0.05) -> CheckResult:
    """More than one object (props, a second product, a sticker beside it): connected parts
    of the product mask at least ``min_share`` of the largest. Fixable by keeping the
    largest."""
    count, areas = object_components(subject, min_share)
    if count <= 1:
        detail = "one object" if count == 1 else "no object found"
    else:
        shares = ", ".join(f"{a / areas[0]:.0%}" for a in areas[1:4])
        detail = f"{count} separate objects (the others {shares} of the largest's area)"
    return CheckResult("multiple_objects", float(count), 1.0, count == 1, count > 1, detail)


def _pinholes(product: BoolArray, max_area: float) -> list[int]:
    """Areas of the gaps in ``product`` enclosed by it (not connected, 4-neighbour, to the
    crop's frame) and smaller than ``max_area``."""
    # Filling the outside from a one-pixel frame first leaves only enclosed gaps, which
    # are few: labelling just those costs a fraction of labelling every gap.
    gaps = cv2.copyMakeBorder((~product).view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
    cv2.floodFill(gaps, None, (0, 0), 0, flags=4)
    points = cv2.findNonZero(gaps)
    if points is None:
        return []
    # Labels without OpenCV's statistics (which cost five times the labelling), on the
    # gaps' own box; the areas are counted at the gap pixels.
    x, y, w, h = cv2.boundingRect(gaps)
    count, labels = cv2.connectedComponents(gaps[y : y + h, x : x + w], connectivity=4)
    points = points.reshape(-1, 2)
    areas = np.bincount(labels[points[:, 1] - y, points[:, 0] - x], minlength=count)[1:]
    return [int(a) for a in areas if a < max_area]


def mask_confidence(subject: Subject, *, max_uncertain: float) -> CheckResult:
    """Share of the product that the matte is unsure about: semi-transparent alpha
    (0.05..0.95) plus pinholes (enclosed gaps under 1% of the product's area), relative to
    the product's area. Fixable by re-running another model ensemble."""
    name = "mask_confidence"
    if subject.mask_origin != "alpha":
        return _not_applicable(name, f"the mask was derived ({subject.mask_origin}), not matted")
    box = _product_box(subject, pad=2)
    if box is None:
        return CheckResult(name, 1.0, max_uncertain, False, True, "no product found")
    crop = subject.alpha[box.slices]
    product = subject.product[box.slices]
    area = int(np.count_nonzero(product))
    uncertain = int(np.count_nonzero((crop > 0.05) & (crop < 0.95)))
    holes = _pinholes(product, 0.01 * area)
    value = (uncertain + sum(holes)) / max(area, 1)
    detail = (
        f"{uncertain / max(area, 1):.2%} of the product's area is semi-transparent and "
        f"{len(holes)} pinholes cover {sum(holes) / max(area, 1):.2%} "
        f"(at most {max_uncertain:.0%} together)"
    )
    return CheckResult(name, value, max_uncertain, value <= max_uncertain, True, detail)


# --------------------------------------------------------------------------- colour, detail

CELLS = 8
"""Product crops are compared as CELLS x CELLS grids of mean colours of opaque pixels."""


CELL_SAMPLING = cv2.INTER_AREA


def _cell_colors(
    rgb: ImageArray, alpha: FloatArray, box: Box | None
) -> tuple[FloatArray, BoolArray]:
    if box is None:
        raise InputError("no product")
    crop, a = rgb[box.slices], alpha[box.slices]
    # Cells are means over thousands of pixels: a 256 px copy gives the same colours.
    scale = min(1.0, 256 / max(box.width, box.height))
    if scale < 1.0:
        size = (max(CELLS, round(box.width * scale)), max(CELLS, round(box.height * scale)))
        crop = np.asarray(cv2.resize(crop, size, interpolation=CELL_SAMPLING), np.uint8)
        a = np.asarray(cv2.resize(a, size, interpolation=CELL_SAMPLING), np.float32)
    opaque = (a > 0.95).astype(np.float32)
    colors = crop.astype(np.float32) * opaque[..., None]
    size = (CELLS, CELLS)
    weight = cv2.resize(opaque, size, interpolation=cv2.INTER_AREA)
    mean = cv2.resize(colors, size, interpolation=cv2.INTER_AREA) / np.maximum(
        weight[..., None], 1e-6
    )
    return np.asarray(mean, dtype=np.float32), np.asarray(weight > 0.5)


def colour_fidelity(subject: Subject, *, max_delta_e: float) -> CheckResult:
    """CIEDE2000 between the product's colours in the output and in the source photo: the
    mean over a grid of cells (mean colour of opaque pixels each) across the product. Not
    fixable automatically: a shifted colour means a processing step is wrong."""
    name = "colour_fidelity"
    if subject.source_rgb is None or subject.source_alpha is None:
        return _not_applicable(name, "no source photo to compare with")
    try:
        out_cells, out_ok = _cell_colors(subject.rgb, subject.alpha, subject.product_box)
        src_box = bounding_box(subject.source_alpha > PRODUCT_ALPHA, 0)
        src_cells, src_ok = _cell_colors(
            subject.source_rgb,
            subject.source_alpha,
            None if src_box is None else Box.from_slices(src_box),
        )
    except InputError:
        return CheckResult(name, None, max_delta_e, False, False, "no product found")
    both = out_ok & src_ok
    if not both.any():
        return _not_applicable(name, "the product has no opaque area to compare")
    de = delta_e_2000(rgb_to_lab(out_cells[both]), rgb_to_lab(src_cells[both]))
    mean = float(de.mean())
    detail = (
        f"mean CIEDE2000 {mean:.2f} between output and source over {int(both.sum())} product "
        f"cells (at most {max_delta_e:g}); worst cell {float(de.max()):.2f}"
    )
    return CheckResult(name, mean, max_delta_e, mean <= max_delta_e, False, detail)


SwatchMeasure = Literal["closest", "dominant", "mean"]
"""How :func:`swatch_match` reads the product's colour: ``closest``, the product cell
nearest the swatch (the swatch's colour must appear somewhere on a product of several
colours); ``dominant``, the product's measured colour
(:func:`~packshot.ops.color.dominant_color`: the median of its majority hue, what a
colourway's swatch is held against); ``mean``, its mean colour in linear light
(:func:`~packshot.ops.color.mean_color`: a print against its swatch's mean)."""


def swatch_match(
    subject: Subject, swatch: Color, *, max_delta_e: float, measure: SwatchMeasure = "closest"
) -> CheckResult:
    """CIEDE2000 between a reference swatch colour and the output's product: its closest
    cell, or its measured (dominant) colour (see :data:`SwatchMeasure`). Not fixable: a
    colour off its swatch needs a person (or another recolouring)."""
    name = "swatch_match"
    target = rgb_to_lab(np.asarray(swatch, np.float32))
    if measure != "closest":
        read = dominant_color if measure == "dominant" else mean_color
        try:
            lab = read(subject.rgb, subject.alpha)
        except ValueError:
            return CheckResult(name, None, max_delta_e, False, False, "no product found")
        de = float(delta_e_2000(lab, target))
        what = "measured" if measure == "dominant" else "mean"
        detail = (
            f"the product's {what} colour L*a*b* ({lab[0]:.1f}, {lab[1]:.1f}, {lab[2]:.1f}) "
            f"is CIEDE2000 {de:.2f} from the swatch {_rgb(swatch)} (at most {max_delta_e:g})"
        )
        return CheckResult(name, de, max_delta_e, de <= max_delta_e, False, detail)
    try:
        cells, ok = _cell_colors(subject.rgb, subject.alpha, subject.product_box)
    except InputError:
        return CheckResult(name, None, max_delta_e, False, False, "no product found")
    des = delta_e_2000(rgb_to_lab(cells[ok]), target)
    best = float(des.min()) if des.size else float("inf")
    detail = (
        f"the product's closest cell is CIEDE2000 {best:.2f} from the swatch {_rgb(swatch)} "
        f"(at most {max_delta_e:g})"
    )
    return CheckResult(name, best, max_delta_e, best <= max_delta_e, False, detail)


SEPARATION = "accent_separation"

ACCENT_UNSURE = (0.15, 0.85)
"""A pixel's fabric share (its blend weight over its coverage) strictly between these is
one the recolouring could not call fabric or accent: it came out part old, part new."""


def accent_separation(
    region: npt.NDArray[np.float32], fabric: npt.NDArray[np.float32], *, max_unsure: float
) -> CheckResult:
    """How cleanly a colourway told the region's fabric (recoloured) from its accents
    (kept): the share of the region's sure pixels (coverage >= 0.5) that are neither. Pale
    appliques the colour of the leather around them, or a handle lit like the flowers,
    come out half-recoloured, mottled: that variant is not the product in that colour.
    Not fixable (``--all`` recolours everything, a mask names the fabric)."""
    sure = region >= 0.5
    if not sure.any():
        return CheckResult(SEPARATION, None, max_unsure, False, False, "no region to measure")
    share = fabric[sure] / region[sure]
    lo, hi = ACCENT_UNSURE
    return separation_check(float(np.mean((share > lo) & (share < hi))), max_unsure)


def separation_check(unsure: float, max_unsure: float) -> CheckResult:
    """``accent_separation`` on its measured value (a colourway step's, read again at a
    preset's threshold in a listing)."""
    detail = (
        f"{100 * unsure:.1f}% of the recoloured region is neither surely fabric nor surely a "
        f"kept accent (at most {100 * max_unsure:g}%)"
    )
    passed = unsure <= max_unsure
    return CheckResult(SEPARATION, round(unsure, 4), max_unsure, passed, False, detail)


def sharpness(subject: Subject, *, min_sharpness: float) -> CheckResult:
    """How steep the product's edges are: on the product crop at
    :data:`ANALYSIS_SIDE` px, the 90th percentile, over pixels with local contrast, of the
    gradient magnitude divided by the local range (5x5). A crisp step gives about 0.5, a
    step blurred over 5 px about 0.2. Not fixable automatically (re-shoot or a better
    source)."""
    name = "sharpness"
    box = _product_box(subject, pad=2)
    if box is None:
        return _not_applicable(name, "no product found")
    grey = cv2.cvtColor(subject.rgb[box.slices], cv2.COLOR_RGB2GRAY)
    scale = _analysis_scale(box)
    if scale < 1.0:
        size = (max(1, round(box.width * scale)), max(1, round(box.height * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    g = grey.astype(np.float32)
    gx = np.asarray(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), np.float32)
    gy = np.asarray(cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3), np.float32)
    grad = np.hypot(gx, gy) / np.float32(8.0)
    kernel = np.ones((5, 5), np.uint8)
    local = cv2.dilate(g, kernel) - cv2.erode(g, kernel)
    edges = local >= 40.0
    if np.count_nonzero(edges) < 50:
        return _not_applicable(name, "the product has too little contrast to judge")
    ratio = grad[edges] / local[edges]
    value = float(np.percentile(ratio, 90))
    detail = (
        f"edge steepness {value:.3f} (gradient / local range, 90th percentile; at least "
        f"{min_sharpness:g}); {value / 0.5:.0%} of a crisp step"
    )
    return CheckResult(name, value, min_sharpness, value >= min_sharpness, False, detail)


def _seams(mask: BoolArray) -> list[tuple[str, int]]:
    """Straight boundaries of a synthesised region: ("x", column) or ("y", row)."""
    out: list[tuple[str, int]] = []
    height, width = mask.shape
    cols = mask.mean(axis=0)
    rows = mask.mean(axis=1)
    for x in np.nonzero(np.abs(np.diff((cols > 0.5).astype(np.int8))))[0]:
        out.append(("x", int(x) + 1))
    for y in np.nonzero(np.abs(np.diff((rows > 0.5).astype(np.int8))))[0]:
        out.append(("y", int(y) + 1))
    return [(axis, pos) for axis, pos in out if 8 <= pos <= (width if axis == "x" else height) - 8]


def visible_seams(subject: Subject, *, max_step: float) -> CheckResult:
    """Where the canvas was extended, the step in brightness across each seam beyond what
    the image's own gradient there explains: block means (32 px along the seam) of 8 px on
    each side, compared with the same difference 16 px further inside the photo. The 90th
    percentile over blocks, in grey levels."""
    name = "visible_seams"
    if subject.synthesized is None or not subject.synthesized.any():
        return _not_applicable(name, "nothing was synthesised")
    if subject.composition is not None:
        # The photo's edge on a backdrop is the composition's frame, not a seam to hide.
        return _not_applicable(name, f"the photo is framed by a {subject.composition[0]}")
    grey = cv2.cvtColor(subject.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    steps: list[float] = []
    for axis, pos in _seams(subject.synthesized):
        g = grey if axis == "x" else grey.T
        synth = subject.synthesized if axis == "x" else subject.synthesized.T
        inside_photo = -1 if synth[:, min(pos, g.shape[1] - 1)].mean() > 0.5 else 1
        for r0 in range(0, g.shape[0] - 31, 32):
            block = g[r0 : r0 + 32]
            if (block.shape[1] - 1 - pos) < 8 or pos - 24 < 0 or pos + 24 > block.shape[1]:
                continue

            def across(at: int, block: npt.NDArray[np.float32] = block) -> float:
                return float(block[:, at : at + 8].mean() - block[:, at - 8 : at].mean())

            seam = across(pos)
            natural = across(pos + inside_photo * 16)
            steps.append(abs(seam - natural))
    if not steps:
        return _not_applicable(name, "no straight seam long enough to measure")
    value = float(np.percentile(steps, 90))
    detail = (
        f"brightness step across the extension seams {value:.1f} levels beyond the photo's "
        f"own gradient (90th percentile of {len(steps)} blocks; at most {max_step:g})"
    )
    return CheckResult(name, value, max_step, value <= max_step, False, detail)


def composition(subject: Subject, *, deliver: tuple[str, ...] = ()) -> CheckResult:
    """Whether the canvas was made as the preset asks: by extending the photo, or with a
    fallback composition the preset delivers (``deliver``, its ``deliver_fallbacks``).
    Any other fallback waits for a person."""
    name = "composition"
    if subject.composition is None:
        return CheckResult(name, "as the preset asks", None, True, False, "made as asked")
    kind, why = subject.composition
    if kind in deliver:
        detail = f"made with a {kind}, which the preset delivers: {why}"
        return CheckResult(name, kind, "as the preset asks", True, False, detail)
    detail = f"made with a {kind} instead: {why}"
    return CheckResult(name, kind, "as the preset asks", False, False, detail)
