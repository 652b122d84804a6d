"""Text, watermarks and stickers that are not part of the product.

Text printed on the product itself (a label, a logo on a box) is allowed by every
marketplace; text added around it (a price sticker, a badge, a watermark on the
background) is not, and neither is a watermark laid across the product.

* ``text`` (:func:`added_text`): a detected line counts when most of its box lies outside
  the product's main object (the largest connected part of the mask): on the background,
  or on a separate part such as a sticker. Fixable (the part or the background goes).
* ``watermark`` (:func:`watermark`): a line whose box lies mostly on the product, but
  whose lettering continues beyond the product's outline onto the plain background.
* ``sticker`` (:func:`sticker`): a line on the product printed on a solid patch of its own
  colour (a price sticker, a "SALE" tag) that is an island inside the product: the
  product's surface all around it (:data:`ISLAND_SHARE` of a ring around the patch). A
  label printed on the product reaches the product's outline (it wraps a bottle, covers
  a box's face) or shares the product's shading, so its patch is not an island of one
  colour. Not fixable: the product's surface under the sticker is in no source.

Why that evidence for a watermark: print lies on the product's surface, so it ends at the
product's outline, however large, bold or repeated it is (a book's title, a brand name
around a mug, a patterned bag's logo) -- size, contrast or repetition would all flag real
products. A watermark is laid over the whole picture and does not know where the product
ends, so its letters run on over the background. On a plain background those letters are
measurable as stroke edges (a local contrast of :data:`STROKE_CONTRAST` levels or more in
3x3 pixels, which a smooth shadow or the product's own soft edge never reaches) beyond a
guard band around the product. A faint or white watermark the detector does not see, or
one wholly inside the outline, is not caught: the evidence is not there to tell it from
print. Not fixable automatically: the lettering over the product hides pixels that no
other source has.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import cv2
import numpy as np
import numpy.typing as npt

from packshot.models.text import TextBox
from packshot.ops.geometry import Box
from packshot.ops.sticker import island_patches
from packshot.sentinel.result import CheckResult
from packshot.sentinel.subject import Subject

BoolArray = npt.NDArray[np.bool_]

INSIDE_SHARE = 0.5
"""A text box with at least this share of its area on the main object is the product's own."""

MIN_SCORE = 0.6
"""Detector score below which a line is not counted: on the dev photos the DB detector
scores fabric and rope texture 0.50-0.59, rendered price stickers 0.8 and above."""

WATERMARK_MIN_SCORE = 0.5
"""Lines across the product count from the detector's own box threshold: semi-transparent
watermarks score 0.52-0.66 on the dev cars, and the lettering beyond the outline, which
texture never has, is the evidence that decides."""

STROKE_CONTRAST = 24
"""Local contrast (3x3 max - min, grey levels) of a letter's stroke edge on the background.
Measured at 2000 px: 35%-opaque grey letters on white reach 90 (90th percentile of their
edges); the white background beyond the guard band around dev products at most 2, even in
4:2:0 JPEGs at quality 40."""

STROKE_PER_SIDE = 0.25
"""Stroke-edge pixels beyond the outline needed per pixel of the line box's shorter side
(and at least :data:`MIN_STROKE_PIXELS`): a letter's whole outline has 4-6 times its height
in edge pixels, so this is part of one letter, not a stray speck. Text printed on the
product leaves none there (0 on every dev car, whose plates, badges and logos are
detected)."""
MIN_STROKE_PIXELS = 60

GUARD_FRAC = 0.006
"""Background this close to the product (share of the long side, at least 6 px) is not
searched for letters: the product's own soft edge and a codec's ringing live there."""


def main_object(subject: Subject) -> BoolArray:
    """The largest 8-connected part of the product mask (bool HxW)."""
    mask = subject.product.view(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros(mask.shape, dtype=bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.asarray(labels == largest)


def added_text(
    subject: Subject, boxes: Sequence[TextBox], main: BoolArray | None = None
) -> CheckResult:
    """Text lines found by the text detector that are not on the product (see module);
    ``main`` is :func:`main_object` when the caller has it."""
    main = main_object(subject) if main is None else main
    added = []
    boxes = [t for t in boxes if t.score >= MIN_SCORE]
    for t in boxes:
        region = main[Box(*t.box).slices]
        if region.size == 0 or float(region.mean()) < INSIDE_SHARE:
            added.append(t)
    on_product = len(boxes) - len(added)
    if added:
        where = "; ".join(_where(t) for t in added[:3])
        detail = f"{len(added)} text line(s) outside the product: {where}"
    else:
        detail = "no text outside the product"
    if on_product:
        detail += f"; {on_product} line(s) printed on the product itself (allowed)"
    # An automatic fix exists when the text sits on a separate part (removed with it) or
    # on the background (re-filled).
    return CheckResult("text", float(len(added)), 0.0, not added, bool(added), detail)


def strokes_beyond(subject: Subject, box: Box, main: BoolArray) -> tuple[int, int]:
    """(stroke-edge pixels, searched pixels) in ``box`` on the background beyond a guard
    band around the product (see the module docstring)."""
    guard = max(6, round(GUARD_FRAC * max(subject.width, subject.height)))
    # Objects are the main object and every part of the mask that crosses the search
    # area's frame (another product, a prop); parts wholly inside the line's box are not
    # objects on a mask derived from the background colour, where a watermark's letters
    # over the background are parts of their own.
    grown = subject.padded(box, guard)
    mask = (subject.alpha[grown.slices] > 0) | main[grown.slices]
    _, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
    frame = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    near = np.isin(labels, frame[frame > 0]) | main[grown.slices]
    if subject.mask_origin == "alpha":
        near |= mask  # a matte is the product's alone: letters drawn later are not in it
    kernel = np.ones((2 * guard + 1, 2 * guard + 1), np.uint8)
    inner = Box(box.x0 - grown.x0, box.y0 - grown.y0, box.x1 - grown.x0, box.y1 - grown.y0)
    beyond = cv2.dilate(near.view(np.uint8), kernel)[inner.slices] == 0
    searched = int(np.count_nonzero(beyond))
    if searched == 0:
        return 0, 0
    grey = cv2.cvtColor(np.ascontiguousarray(subject.rgb[box.slices]), cv2.COLOR_RGB2GRAY)
    square = np.ones((3, 3), np.uint8)
    contrast = cv2.dilate(grey, square) - cv2.erode(grey, square)
    return int(np.count_nonzero((contrast >= STROKE_CONTRAST) & beyond)), searched


def on_product(boxes: Sequence[TextBox], main: BoolArray) -> Iterator[tuple[TextBox, Box]]:
    """The lines (from the detector's own box threshold) whose box lies mostly on the main
    object; the others are the text check's."""
    for t in boxes:
        box = Box(*t.box)
        region = main[box.slices]
        if t.score >= WATERMARK_MIN_SCORE and region.size and region.mean() >= INSIDE_SHARE:
            yield t, box


def watermark(
    subject: Subject, boxes: Sequence[TextBox], main: BoolArray | None = None
) -> CheckResult:
    """Text lines laid across the product: mostly on it, their lettering continuing over
    the background beyond its outline (see the module docstring for why)."""
    main = main_object(subject) if main is None else main
    across: list[tuple[TextBox, int]] = []
    printed = 0
    for t, box in on_product(boxes, main):
        strokes, _ = strokes_beyond(subject, box, main)
        needed = max(MIN_STROKE_PIXELS, STROKE_PER_SIDE * min(box.width, box.height))
        if strokes >= needed:
            across.append((t, strokes))
        else:
            printed += 1
    if across:
        where = "; ".join(
            f"{_where(t)}, {n} px of letter strokes on the background beyond the product's outline"
            for t, n in across[:3]
        )
        detail = f"{len(across)} text line(s) run across the product onto the background: {where}"
    else:
        detail = "no text runs across the product's outline"
    if printed:
        detail += f"; {printed} line(s) end at the outline, printed on the product (allowed)"
    return CheckResult("watermark", float(len(across)), 0.0, not across, False, detail)


ISLAND_SHARE = 0.97
"""Share of a ring around a text patch that must be the product for the patch to be a
sticker stuck on it (a printed label reaching the product's outline has far less)."""

ISLAND_SURROUND = 0.8
"""...and that share of the ring must be about one colour: the surface it is stuck on."""

ISLAND_MAX_AREA = 0.25
"""A sticker covers at most this share of the product (a bigger patch is its packaging)."""


def sticker(
    subject: Subject, boxes: Sequence[TextBox], main: BoolArray | None = None
) -> CheckResult:
    """Text lines on the product printed on a sticker stuck onto it (see the module)."""
    main = main_object(subject) if main is None else main
    area = max(int(np.count_nonzero(main)), 1)
    found: list[tuple[TextBox, int, float]] = []
    for t, box in on_product(boxes, main):
        for patch in island_patches(subject.rgb, box, main):
            px = int(np.count_nonzero(patch))
            if px > ISLAND_MAX_AREA * area:
                continue
            ys, xs = np.nonzero(patch)
            side = min(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
            reach = max(8, round(0.15 * side))
            disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
            ring = cv2.dilate(patch.view(np.uint8), disc).view(bool) & ~patch
            if not ring.any():
                continue
            # Stuck on one surface: the ring is the product, of about one colour (a strip
            # of a printed label has the rest of the label on one side).
            share = float(main[ring].mean())
            if share >= ISLAND_SHARE and _one_colour(subject.rgb[ring]) >= ISLAND_SURROUND:
                found.append((t, px, share))
                break
    if found:
        where = "; ".join(
            f"{_where(t)}, on a {px} px patch of its own colour with the product all around "
            f"it ({share:.0%} of a ring around it; a print reaches the product's outline)"
            for t, px, share in found[:3]
        )
        detail = f"{len(found)} sticker(s) stuck on the product: {where}"
    else:
        detail = "no text on a sticker stuck onto the product"
    return CheckResult("sticker", float(len(found)), 0.0, not found, False, detail)


def _one_colour(pixels: npt.NDArray[np.uint8]) -> float:
    """Share of ``pixels`` (Nx3) within 40 levels (each channel) of their commonest colour."""
    q = pixels.astype(np.int32) // 32
    code = (q[:, 0] * 8 + q[:, 1]) * 8 + q[:, 2]
    mode = pixels[code == np.bincount(code, minlength=512).argmax()].astype(np.float32)
    centre = np.median(mode, axis=0)
    return float((np.abs(pixels.astype(np.float32) - centre).max(axis=1) <= 40).mean())


def _where(t: TextBox) -> str:
    box = Box(*t.box)
    return f"{box.width}x{box.height} at ({box.x0}, {box.y0}), score {t.score:.2f}"
