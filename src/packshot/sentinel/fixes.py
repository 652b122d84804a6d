"""Automatic fixes the gate can apply with image operations alone.

Each takes the failing :class:`~packshot.sentinel.subject.Subject` and returns the new
canvas pixels and product alpha, or None when it cannot help. Fixes that need the
pipeline (re-running the cutout with another model ensemble) are passed in by the caller
as hooks of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError
from packshot.models.text import detect_text
from packshot.ops.framing import place_on_canvas
from packshot.ops.geometry import Box
from packshot.ops.inpaint import inpaint
from packshot.ops.sticker import sticker_mask
from packshot.presets import Preset
from packshot.sentinel.subject import Subject
from packshot.sentinel.text_check import INSIDE_SHARE, MIN_SCORE, main_object

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class Repair:
    """A fix's result: new canvas pixels and product alpha, and what was done."""

    rgb: ImageArray
    alpha: FloatArray
    note: str
    source_alpha: FloatArray | None = None
    """The new cutout's alpha in the source photo, when the fix made a new cutout (the
    completeness checks judge it there)."""


Fix = Callable[[Subject, Preset], Repair | None]


def refill_background(subject: Subject, preset: Preset) -> Repair | None:
    """Every pixel outside the product (alpha 0) and any border set to the exact target
    colour; the product and its soft edge are kept."""
    if preset.background != "white":
        return None
    rgb = subject.rgb.copy()
    rgb[subject.alpha <= 0] = preset.background_color
    inner = subject.inner
    frame = np.ones(rgb.shape[:2], dtype=bool)
    frame[inner.slices] = False
    rgb[frame] = preset.background_color
    alpha = subject.alpha.copy()
    alpha[frame] = 0.0
    return Repair(rgb, alpha, "background re-filled with the exact target colour")


def keep_largest(subject: Subject, preset: Preset) -> Repair | None:
    """Only the largest connected object kept; the others (props, stickers, a second
    product) replaced by the background colour."""
    if preset.background != "white":
        return None
    mask = (subject.alpha > 0).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    main = (labels == largest).astype(np.uint8)
    others = ((labels != largest) & (mask > 0)).astype(np.uint8)
    # The removed objects' soft outskirts go too, never the kept object's edge.
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (17, 17))
    near_main = cv2.dilate(main, np.ones((5, 5), np.uint8)) > 0
    drop = (cv2.dilate(others, kernel) > 0) & ~near_main
    rgb = subject.rgb.copy()
    rgb[drop] = preset.background_color
    alpha = subject.alpha.copy()
    alpha[drop] = 0.0
    return Repair(rgb, alpha, f"kept the largest of {count - 1} objects")


def reframe(subject: Subject, preset: Preset) -> Repair | None:
    """The product re-placed at the preset's fill and margin on its exact colour."""
    if preset.background != "white":
        return None
    rgba = np.dstack([subject.rgb, np.rint(subject.alpha * 255.0).astype(np.uint8)])
    try:
        placed = place_on_canvas(
            rgba,
            preset.width,
            preset.height,
            fill=preset.target_fill,
            margin=preset.margin,
            color=preset.background_color,
        )
    except InputError:
        return None
    alpha = placed.rgba[..., 3].astype(np.float32) / np.float32(255.0)
    return Repair(placed.rgb, alpha, f"re-framed at {placed.fill.bbox_long_share:.1%} fill")


def remove_text(subject: Subject, preset: Preset) -> Repair | None:
    """Text off the product (a price sticker, a watermark): on a colour canvas it is a
    separate part, dropped like any other; on a kept background the lines and the tags
    they are printed on are repainted from their surroundings, the product never used as
    a source (the same sticker mask and inpainting as ``packshot tag-removal``)."""
    if preset.background == "white":
        return keep_largest(subject, preset)
    main = main_object(subject)
    found = [Box(*t.box) for t in detect_text(subject.rgb) if t.score >= MIN_SCORE]
    boxes = [box for box in found if float(main[box.slices].mean()) < INSIDE_SHARE]
    if not boxes:
        return None
    product = subject.alpha > 0
    hole = sticker_mask(subject.rgb, boxes) & ~product
    if not hole.any():
        return None
    filled = inpaint(subject.rgb, hole, protect=product)
    return Repair(filled.rgb, subject.alpha, f"repainted {len(boxes)} text line(s) off the product")


BUILTIN_FIXES: dict[str, Fix] = {
    "refill-background": refill_background,
    "keep-largest": keep_largest,
    "reframe": reframe,
    "remove-text": remove_text,
}
"""Fixes available everywhere, by name."""

FIX_FOR_CHECK: dict[str, str] = {
    "background_purity": "refill-background",
    "border": "refill-background",
    "edge_halo": "refill-background",
    "frame_fill": "reframe",
    "multiple_objects": "keep-largest",
    "text": "remove-text",
    "edge_contamination": "rerun-model",
    "mask_confidence": "rerun-model",
    "completeness": "rerun-model",
    "thin_parts": "rerun-model",
    "mask_agreement": "rerun-model",
    "shape_sanity": "rerun-model",
    "cutout_confidence": "rerun-model",
}
"""Which fix answers which failed check (``rerun-model`` is a pipeline hook)."""
