"""The mask that removes a piece of text together with what it is printed on.

A text detector boxes the letters; a price tag, a sticker or a "SALE" badge is a solid
patch of colour with the letters on it, and removing only the letters leaves the patch. So
each text box is grown to the patch it sits on: the patch colour is the median of the ring
just outside the letters; the pixels of about that colour connected to the ring, inside a
bounded window, are the patch; the letters enclosed by it are filled in. When that region
runs out of the window (the "patch" is the open background: a watermark printed straight
on the photo), only the grown box is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError
from packshot.ops.geometry import Box
from packshot.ops.inpaint import dilate
from packshot.ops.matte import fill_enclosed_holes

__all__ = ["glyph_mask", "island_patches", "sticker_mask"]

ImageArray = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]

_TOLERANCE = 28.0
"""Colour distance (max over channels, 0..255) within which a pixel belongs to the patch."""

_MAX_GROWTH = 12.0
"""A patch may cover at most this many times its text box's area."""

_WINDOW = 2.0
"""The patch may extend this many box heights beyond the text box on each side."""


DISPLAY_HEIGHT = 40
"""Text boxes at least this tall (pixels) are display type: repainted letter by letter
(:func:`glyph_mask`), not as a box."""

_FLAT_STD = 10.0
"""A display line's patch must be flat: the largest per-channel standard deviation of its
colour at most this. A printed tag is one colour; a face or a bow under a headline is
about that colour too but shaded, and taking it for the tag would paint it away."""

_MIN_RING_SHARE = 0.4
"""Share of the ring around the letters that must be the patch's colour. A tag hugging its
text puts part of the ring outside the tag, on the photo."""


def _dominant(pixels: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The most common colour of ``pixels`` (Nx3): the median of the fullest 32-level bin.
    A plain median mixes a tag's colour with the photo's where the ring straddles both."""
    q = (pixels // 32).astype(np.int32)
    code = (q[:, 0] * 8 + q[:, 1]) * 8 + q[:, 2]
    mode = np.bincount(code, minlength=512).argmax()
    return np.asarray(np.median(pixels[code == mode], axis=0), dtype=np.float32)


def _grow(box: Box, pad: int, width: int, height: int) -> Box:
    return Box(
        max(0, box.x0 - pad),
        max(0, box.y0 - pad),
        min(width, box.x1 + pad),
        min(height, box.y1 + pad),
    )


def _patch(rgb: ImageArray, box: Box, pad: int, flat: bool = False) -> BoolArray | None:
    """The solid patch around ``box`` in full-image coordinates, or None when the colour
    region is not bounded (no patch: the text is on the open background)."""
    height, width = rgb.shape[:2]
    reach = max(pad, round(_WINDOW * box.height))
    window = _grow(box, reach, width, height)
    inner = _grow(box, pad, width, height)
    crop = rgb[window.slices].astype(np.float32)
    ix0, iy0 = inner.x0 - window.x0, inner.y0 - window.y0
    ix1, iy1 = inner.x1 - window.x0, inner.y1 - window.y0
    # The ring sampled for the tag's colour hugs the letters: tags leave little margin.
    ring = np.zeros(crop.shape[:2], bool)
    outer = _grow(box, max(3, pad // 2), width, height)
    ring[
        outer.y0 - window.y0 : outer.y1 - window.y0, outer.x0 - window.x0 : outer.x1 - window.x0
    ] = True
    core = _grow(box, max(1, pad // 5), width, height)
    ring[core.y0 - window.y0 : core.y1 - window.y0, core.x0 - window.x0 : core.x1 - window.x0] = (
        False
    )
    if not ring.any():
        return None
    colour = _dominant(crop[ring])
    similar = np.abs(crop - colour).max(axis=2) <= _TOLERANCE
    _, labels = cv2.connectedComponents(similar.astype(np.uint8), connectivity=8)
    touching = np.unique(labels[ring & similar])
    touching = touching[touching > 0]
    if touching.size == 0 or similar[ring].mean() < _MIN_RING_SHARE:
        return None  # the ring is not mostly one colour: no solid patch here
    region = np.isin(labels, touching)
    # A patch reaching the window's border on a side the image continues is the background.
    open_sides = (
        (window.y0 > 0 and region[0, :].any())
        or (window.y1 < height and region[-1, :].any())
        or (window.x0 > 0 and region[:, 0].any())
        or (window.x1 < width and region[:, -1].any())
    )
    if open_sides:
        return None
    if int(region.sum()) > _MAX_GROWTH * box.width * box.height:
        return None  # far larger than any tag around a line of text: not a patch
    if flat and float(crop[region].std(axis=0).max()) > _FLAT_STD:
        return None  # shaded (a face, a fabric): the scene behind a headline, not a tag
    region[iy0:iy1, ix0:ix1] = True
    # Every hole the patch encloses is its lettering.
    region = fill_enclosed_holes(region, region.astype(np.float32), np.inf, 0.0)
    out = np.zeros((height, width), bool)
    out[window.slices] = region
    return out


def sticker_mask(
    rgb: ImageArray,
    boxes: Sequence[Box],
    *,
    pad: float = 0.3,
    grow: int = 3,
    max_box_share: float = 0.08,
) -> BoolArray:
    """The pixels to repaint to remove the text in ``boxes`` and the patches it is on.

    Args:
        rgb: ``uint8`` HxWx3 photo.
        boxes: text boxes (e.g. from :func:`packshot.models.text.detect_text`).
        pad: each box is grown by this share of its height (the detector's boxes hug the
            letters; anti-aliasing and JPEG ringing reach further).
        grow: the final mask is dilated by this many pixels (a patch's soft border, its
            drop shadow).
        max_box_share: a box larger than this share of the image is repainted only
            letter by letter (see :func:`glyph_mask`), never whole nor with a patch: the
            detector calls a studio wall's grain "text" too.

    A line on a solid patch takes the patch; a display line (at least
    :data:`DISPLAY_HEIGHT` px tall) on the open photo takes its letters only; any other
    line its grown box.

    Returns:
        ``bool`` HxW; all False for no boxes.
    """
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3:
        raise InputError("sticker_mask needs a uint8 HxWx3 image")
    if not 0.0 <= pad <= 5.0:
        raise InputError(f"pad must be from 0 to 5 (a share of the text height), got {pad!r}")
    if not 0 <= grow <= 100:
        raise InputError(f"grow must be from 0 to 100 pixels, got {grow!r}")
    height, width = rgb.shape[:2]
    mask = np.zeros((height, width), bool)
    for box in boxes:
        if box.width <= 0 or box.height <= 0:
            continue
        p = max(2, round(pad * box.height))
        display = box.height >= DISPLAY_HEIGHT
        # A box over ``max_box_share`` is lettering or nothing: on a "patch" it is a wall.
        big = box.width * box.height > max_box_share * width * height
        patch = None if big else _patch(rgb[..., :3], box, p, flat=display)
        grown = _grow(box, p, width, height)
        if patch is not None:
            mask[grown.slices] = True
            mask |= patch
            continue
        if display:
            glyphs = glyph_mask(rgb, box)
            if glyphs is not None:
                mask |= glyphs
                # Behind the letters one flat colour: a tag the ring strayed off (a pill
                # hugging its price), repainted whole; a scene (a face, fur) is kept.
                behind = rgb[box.slices][..., :3][~glyphs[box.slices]].astype(np.float32)
                if not big and behind.size and float(behind.std(axis=0).max()) <= _FLAT_STD:
                    mask[grown.slices] = True
                continue
        if not big:
            mask[grown.slices] = True
    return dilate(mask, grow) if mask.any() else mask


_INK_TOLERANCE = 24.0
"""Colour distance (max over channels) within which a pixel has a line's ink colour."""

_INK_RARITY = 2.0
"""An ink colour is at least this many times commoner inside the line's box than in the
ring of photo around it (and covers at least :data:`_INK_MIN_SHARE` of the box)."""

_INK_MIN_SHARE = 0.03

_INK_SECOND = 1.2
"""A second ink colour is at least this much commoner inside the box than around it."""

_INK_REACH = 0.08
"""...and lies within this share of the line's height from the first one: at least
:data:`_INK_BESIDE` of its pixels in the box."""

_INK_BESIDE = 0.85

_INK_OUTSIDE = 0.1
"""A region of an ink colour with more than this share of its pixels outside the line's
(padded) box is not a letter."""

_INK_SHARE = (0.06, 0.8)
"""Share of a display line's box its ink covers: a headline's strokes, outlines and
counters fill a good part of the box but never all of it; outside this range what the
detector boxed is not lettering (a textured wall, a grille) and is left alone."""


def glyph_mask(rgb: ImageArray, box: Box, *, grow: int | None = None) -> BoolArray | None:
    """The letters of one display line in ``box`` (and their outline and glow), in
    full-image coordinates; None when the box does not hold lettering (see
    :data:`_INK_SHARE`).

    A headline over a photo covers a face, a bow, a horizon: repainting its whole box
    paints those away. Only the strokes are repainted, so what shows between the letters
    stays and anchors the fill. Display type is set in one or two flat colours (a fill, an
    outline) that the scene around the line hardly has: the colours far commoner inside the
    box than in the ring of photo around it (see :data:`_INK_RARITY`) are the ink, and the
    holes the ink encloses (a letter's fill inside its outline, its counters) are ink too.
    A face behind the letters is shaded and continues past the box, so it is neither.
    """
    height, width = rgb.shape[:2]
    pad = max(2, round(0.15 * box.height))
    ring = max(4, round(0.3 * box.height))
    inner = _grow(box, pad, width, height)
    window = _grow(inner, ring, width, height)
    crop = rgb[window.slices][..., :3].astype(np.float32)
    inside = np.zeros(crop.shape[:2], bool)
    inside[
        inner.y0 - window.y0 : inner.y1 - window.y0, inner.x0 - window.x0 : inner.x1 - window.x0
    ] = True
    if inside.all():
        return None  # no photo around the line to tell its ink from
    q = (crop // 32).astype(np.int32)
    code = (q[..., 0] * 8 + q[..., 1]) * 8 + q[..., 2]
    share_in = np.bincount(code[inside], minlength=512) / max(1, int(inside.sum()))
    share_out = np.bincount(code[~inside], minlength=512) / max(1, int((~inside).sum()))
    rarity = np.where(share_in >= _INK_MIN_SHARE, share_in / (share_out + 1e-3), 0.0)
    best = int(rarity.argmax())
    if rarity[best] < _INK_RARITY:
        return None

    def near(bin_: int) -> BoolArray:
        colour = np.median(crop[inside & (code == bin_)], axis=0)
        similar = (np.abs(crop - colour).max(axis=2) <= _INK_TOLERANCE).astype(np.uint8)
        # A letter lies within its line's box; a region of the ink's colour that goes on
        # past the box (a windscreen, dark hair) is the scene.
        count, labels = cv2.connectedComponents(similar, connectivity=8)
        total = np.bincount(labels.ravel(), minlength=count)
        outside = np.bincount(labels[~inside], minlength=count)
        letter = outside <= _INK_OUTSIDE * total
        letter[0] = False
        return np.asarray(letter[labels] & inside)

    # The rarest colour around the line is the ink (an outline, or the letters' own
    # colour). A second colour (a fill inside an outline, an outline round a fill) counts
    # only next to it: the scene is about that colour too in places (a white bow under
    # white letters), and only the part touching the letters goes with them.
    ink = near(best)
    reach = max(2, round(_INK_REACH * box.height))
    beside = dilate(ink, reach)
    for other in np.flatnonzero(rarity >= _INK_SECOND):
        if other == best:
            continue
        pixels = near(int(other))
        # An outline (or the fill inside one) lies wholly beside the first ink; a face or a
        # fabric of about that colour goes on past it.
        if (pixels & beside).sum() >= _INK_BESIDE * max(1, int(pixels.sum())):
            ink |= pixels & beside
    if not ink.any():
        return None
    # Counters and a letter's fill inside its outline: holes the strokes enclose.
    ink = fill_enclosed_holes(ink, ink.astype(np.float32), np.inf, 0.0)
    share = float(ink[inside].mean())
    if not _INK_SHARE[0] <= share <= _INK_SHARE[1]:
        return None
    out = np.zeros((height, width), bool)
    out[window.slices] = ink
    radius = max(2, round(0.04 * box.height)) if grow is None else grow
    return dilate(out, radius)


_SURFACE_CONTRAST = 40.0
"""Colour distance (max over channels) by which a sticker's colour differs from the product
surface around its text box."""


def _lettered(filled: BoolArray, region: BoolArray) -> bool:
    """Whether a patch encloses letters: at least two holes of a letter's size (not a
    codec's specks), together 3% of it or more."""
    holes = (filled & ~region).view(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=8)
    size = max(12.0, 0.001 * float(np.count_nonzero(filled)))
    letters = stats[1:, cv2.CC_STAT_AREA][stats[1:, cv2.CC_STAT_AREA] >= size]
    return len(letters) >= 2 and float(letters.sum()) >= 0.03 * float(np.count_nonzero(filled))


def island_patches(rgb: ImageArray, box: Box, product: BoolArray) -> list[BoolArray]:
    """Solid patches of their own colour, with lettering, that a text line's box on the
    product holds: full-image bool masks (their lettering included), the candidates for a
    sticker stuck on the product.

    The product's surface is the commonest colour of the product's pixels around the box;
    the patches are the connected regions of about one colour unlike that surface (each of
    the three commonest such colours in the box) inside a window around the box. A region
    that runs out of the window is not a patch (a label printed across the product, the
    background), nor is one without letters enclosed in it, nor a speck.
    """
    height, width = rgb.shape[:2]
    pad = max(4, round(0.3 * min(box.width, box.height)))
    window = _grow(box, pad, width, height)
    crop = rgb[window.slices].astype(np.float32)
    inside = np.zeros(crop.shape[:2], bool)
    inside[box.y0 - window.y0 : box.y1 - window.y0, box.x0 - window.x0 : box.x1 - window.x0] = True
    surface_px = crop[~inside & product[window.slices]]
    if len(surface_px) < 16:
        return []
    surface = _dominant(surface_px)
    unlike = inside & product[window.slices]
    unlike &= np.abs(crop - surface).max(axis=2) > _SURFACE_CONTRAST
    pixels = crop[unlike]
    if len(pixels) < 16:
        return []
    q = (pixels // 32).astype(np.int32)
    code = (q[:, 0] * 8 + q[:, 1]) * 8 + q[:, 2]
    counts = np.bincount(code, minlength=512)
    found: list[BoolArray] = []
    for mode in np.argsort(counts)[::-1][:3]:
        if counts[mode] < 0.02 * len(pixels):
            break
        colour = np.median(pixels[code == mode], axis=0)
        similar = np.abs(crop - colour).max(axis=2) <= _TOLERANCE
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            similar.view(np.uint8), connectivity=8
        )
        edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        for k in range(1, count):
            if k in edge or stats[k, cv2.CC_STAT_AREA] < 0.01 * box.width * box.height:
                continue
            region = labels == k
            filled = fill_enclosed_holes(region, region.astype(np.float32), np.inf, 0.0)
            if not _lettered(filled, region):
                continue  # no lettering on it: a plain patch of colour is the product's
            out = np.zeros((height, width), bool)
            out[window.slices] = filled
            found.append(out)
    return found
