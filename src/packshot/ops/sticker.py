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

__all__ = ["island_patches", "sticker_mask"]

ImageArray = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]

_TOLERANCE = 28.0
"""Colour distance (max over channels, 0..255) within which a pixel belongs to the patch."""

_MAX_GROWTH = 12.0
"""A patch may cover at most this many times its text box's area."""

_WINDOW = 2.0
"""The patch may extend this many box heights beyond the text box on each side."""


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


def _patch(rgb: ImageArray, box: Box, pad: int) -> BoolArray | None:
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
) -> BoolArray:
    """The pixels to repaint to remove the text in ``boxes`` and the patches it is on.

    Args:
        rgb: ``uint8`` HxWx3 photo.
        boxes: text boxes (e.g. from :func:`packshot.models.text.detect_text`).
        pad: each box is grown by this share of its height (the detector's boxes hug the
            letters; anti-aliasing and JPEG ringing reach further).
        grow: the final mask is dilated by this many pixels (a patch's soft border, its
            drop shadow).

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
        patch = _patch(rgb[..., :3], box, p)
        grown = _grow(box, p, width, height)
        mask[grown.slices] = True
        if patch is not None:
            mask |= patch
    return dilate(mask, grow) if mask.any() else mask


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
