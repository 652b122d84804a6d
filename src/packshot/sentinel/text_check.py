"""Text, watermarks and stickers that are not part of the product.

Text printed on the product itself (a label, a logo on a box) is allowed by every
marketplace; text added around it (a price sticker, a badge, a watermark on the
background) is not. A detected line counts when most of its box lies outside the product's
main object (the largest connected part of the mask): on the background, or on a separate
part such as a sticker.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from packshot.models.text import TextBox
from packshot.sentinel.result import CheckResult
from packshot.sentinel.subject import Subject

INSIDE_SHARE = 0.5
"""A text box with at least this share of its area on the main object is the product's own."""

MIN_SCORE = 0.6
"""Detector score below which a line is not counted: on the dev photos the DB detector
scores fabric and rope texture 0.50-0.59, rendered price stickers 0.8 and above."""


def main_object(subject: Subject) -> np.ndarray:
    """The largest 8-connected part of the product mask (bool HxW)."""
    mask = (subject.alpha > 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros(mask.shape, dtype=bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.asarray(labels == largest)


def added_text(subject: Subject, boxes: Sequence[TextBox]) -> CheckResult:
    """Text lines found by the text detector that are not on the product (see module)."""
    main = main_object(subject)
    added = []
    boxes = [t for t in boxes if t.score >= MIN_SCORE]
    for t in boxes:
        region = main[t.box.slices]
        if region.size == 0 or float(region.mean()) < INSIDE_SHARE:
            added.append(t)
    on_product = len(boxes) - len(added)
    if added:
        where = "; ".join(
            f"{t.box.width}x{t.box.height} at ({t.box.x0}, {t.box.y0}), score {t.score:.2f}"
            for t in added[:3]
        )
        detail = f"{len(added)} text line(s) outside the product: {where}"
    else:
        detail = "no text outside the product"
    if on_product:
        detail += f"; {on_product} line(s) printed on the product itself (allowed)"
    # An automatic fix exists when the text sits on a separate part (removed with it) or
    # on the background (re-filled).
    return CheckResult("text", float(len(added)), 0.0, not added, bool(added), detail)
