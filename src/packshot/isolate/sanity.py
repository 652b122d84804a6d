"""Is a cut-out mask a plausible answer? Empty, tiny and shredded masks are not.

A text prompt's answer is only as good as its mask: the right box drawn as two specks, or
a blouse in shreds, is a wrong answer however sure the box was. The check looks at the
mask alone (pure arrays) and returns a factor for the answer's confidence and, when it is
not an object, the reason, for the caller's error message.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from packshot.ops.geometry import Box

BoolArray = npt.NDArray[np.bool_]

# A mask below this share of the photo is a speck, not a product.
MIN_IMAGE_SHARE = 0.001
# ... or below this share of the box it was found in; a garment, of the person wearing it
# (a camisole on a seated model is 4 % of her, a hat less).
MIN_BOX_SHARE = 0.06
MIN_PERSON_SHARE = {"upper": 0.015, "lower": 0.015, "full": 0.015, "head": 0.004}
# Pieces below this share of the mask are crumbs: counted neither as pieces nor as shreds.
CRUMB_SHARE = 0.01
# The main pieces (one, two for a pair, three for a garment parted by arms or hair) and
# one more hold at least this share of the mask in a whole object. The main ones alone
# holding FULL_SHARE leave no doubt; at HALF_SHARE and below, the confidence is halved.
MIN_MAIN_SHARE = 0.6
FULL_SHARE = 0.85
HALF_SHARE = 0.5
# A model's box is drawn around an object: the answer reaches across at least this share
# of its width and of its height.
MIN_SPAN = 0.5
# More pieces of substance than this is a shredded mask, whatever their sizes.
MAX_PIECES = 6


@dataclass(frozen=True)
class MaskCheck:
    """``factor`` (0..1) scales the answer's confidence; ``problem`` says why it is low."""

    factor: float
    problem: str | None
    pieces: int
    main_share: float

    def info(self) -> dict[str, object]:
        return {"pieces": self.pieces, "main_share": round(self.main_share, 4)}


def check_mask(
    solid: BoolArray,
    reference_area: int,
    parts: int = 1,
    min_share: float = MIN_BOX_SHARE,
    box: Box | None = None,
) -> MaskCheck:
    """How plausible ``solid`` (the answer's opaque pixels, full photo) is as one object.

    ``reference_area``: the area of the box (or person) the answer was found in;
    ``parts``: how many pieces a whole answer may have (2 for a pair of shoes);
    ``min_share``: the least share of ``reference_area`` an answer covers; ``box``: the
    box a model drew around the object, which the answer spans (a localizer's box of a
    plush toy whose map holds only a wheel beside it is not the toy).
    """
    area = int(solid.sum())
    if area == 0:
        return MaskCheck(0.0, "the mask is empty", 0, 0.0)
    _count, _labels, stats, _ = cv2.connectedComponentsWithStats(
        solid.astype(np.uint8), connectivity=8
    )
    sizes = np.sort(stats[1:, cv2.CC_STAT_AREA])[::-1].astype(np.float64)
    pieces = int((sizes >= CRUMB_SHARE * area).sum())
    main_share = float(sizes[:parts].sum()) / area
    # One piece more than expected is doubted (a strap across a bag parts it), not refused.
    loose_share = float(sizes[: parts + 1].sum()) / area
    if area < MIN_IMAGE_SHARE * solid.size:
        share = area / solid.size
        return MaskCheck(0.0, f"the mask is tiny ({share:.2%} of the photo)", pieces, main_share)
    if area < min_share * max(1, reference_area):
        share = area / reference_area
        return MaskCheck(
            0.0, f"the mask is tiny ({share:.1%} of where it was found)", pieces, main_share
        )
    if box is not None:
        inside = solid[box.slices]
        rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
        span = 0.0
        if len(rows) and len(cols):
            span = min((rows[-1] - rows[0] + 1) / box.height, (cols[-1] - cols[0] + 1) / box.width)
        if span < MIN_SPAN:
            return MaskCheck(
                0.0, f"the mask spans {span:.0%} of the object's box", pieces, main_share
            )
    if pieces > MAX_PIECES or loose_share < MIN_MAIN_SHARE:
        return MaskCheck(
            0.0,
            f"the mask is shredded ({pieces} pieces, the largest {main_share:.0%} of it)",
            pieces,
            main_share,
        )
    doubt = (FULL_SHARE - main_share) / (FULL_SHARE - HALF_SHARE)
    factor = float(np.clip(1.0 - 0.5 * doubt, 0.5, 1.0))
    return MaskCheck(factor, None, pieces, main_share)
