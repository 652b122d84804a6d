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

__all__ = ["sticker_mask"]

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
