"""From a chosen box (or points) to the object's probability map, then to RGBA.

The salient-object model runs on a padded crop around the box, where the product is the
salient thing even when it was not in the whole photo. Its map is kept to the box (and to
the parts the box or the points select), semantic masks are applied where they help, and
the edge is refined exactly as background removal does (``ops.matte``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from packshot.isolate.garments import PersonParse, pad_box
from packshot.models.parsing import voc_segmenter
from packshot.models.salient import predict_probability, resolve_ensemble
from packshot.ops.geometry import Box
from packshot.ops.matte import RefineParams, estimate_foreground, refine_alpha, to_rgba

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
Point = tuple[int, int]

# Context around the box the salient model sees (share of the box's size per side).
CROP_PAD = 0.2
# Colour difference from a negative point (per channel, 0..255) its flood fill covers.
_FILL_DIFF = (28, 28, 28)
# A padded crop covering this share of the photo is replaced by the whole photo.
WHOLE_IMAGE_SHARE = 0.6
# How far beyond the box the object may reach (detector boxes are a little tight).
BOX_MARGIN = 0.04
# How far past a found box (share of its size) the object may continue (a bag's handle),
# and the crop padding that lets the salient model see that far.
REACH = 0.35
REACH_PAD = 0.4


def salient_in_box(
    rgb: ImageArray, box: Box, model: str, pad: float = CROP_PAD
) -> tuple[Box, FloatArray]:
    """The salient model's probability on a crop around ``box`` padded by ``pad`` of its
    size per side (crop, map)."""
    height, width = rgb.shape[:2]
    crop = pad_box(box, pad, (height, width), minimum=16)
    if crop.width * crop.height >= WHOLE_IMAGE_SHARE * width * height:
        # A crop this large gains the model no resolution, only loses it context.
        crop = Box(0, 0, width, height)
    pixels = np.ascontiguousarray(rgb[crop.slices][..., :3])
    return crop, predict_probability(pixels, resolve_ensemble(model))


def box_prior(crop: Box, box: Box) -> FloatArray:
    """1 inside ``box`` grown by a margin, falling to 0 over another margin (crop-sized)."""
    prior = np.zeros((crop.height, crop.width), dtype=np.float32)
    inner = pad_box(box, BOX_MARGIN, (crop.y1, crop.x1), minimum=2)
    prior[inner.y0 - crop.y0 : inner.y1 - crop.y0, inner.x0 - crop.x0 : inner.x1 - crop.x0] = 1.0
    fade = max(3, round(BOX_MARGIN * max(box.width, box.height)))
    dist = cv2.distanceTransform((prior < 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    result: FloatArray = np.clip(1.0 - dist / fade, 0.0, 1.0).astype(np.float32)
    return result


def attached_prior(prob: FloatArray, crop: Box, box: Box) -> FloatArray:
    """:func:`box_prior`, plus what of the object continues past a box a model drew.

    The localizer's box of a handbag may end at the handle's clasps: solid parts of
    ``prob`` joined to the solid inside the box are kept up to ``REACH`` of the box's size
    beyond it (a handle, a strap), other things past the box are not.
    """
    prior = box_prior(crop, box)
    solid = prob >= 0.5
    reach = pad_box(box, REACH, (crop.y1, crop.x1))
    zone = np.zeros_like(solid)
    zone[reach.y0 - crop.y0 : reach.y1 - crop.y0, reach.x0 - crop.x0 : reach.x1 - crop.x0] = True
    count, parts = cv2.connectedComponents((solid & zone).astype(np.uint8), connectivity=8)
    joined = np.zeros(count, dtype=bool)
    joined[parts[solid & (prior >= 1.0)]] = True
    joined[0] = False
    result: FloatArray = np.maximum(prior, joined[parts].astype(np.float32))
    return result


def keep_parts_in_box(prob: FloatArray, crop: Box, box: Box) -> FloatArray:
    """Zero the parts of ``prob`` that lie mostly outside ``box`` (a neighbour's edge)."""
    solid = (prob >= 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    if count <= 2:
        return prob
    inside = np.zeros_like(solid, dtype=bool)
    inside[box.y0 - crop.y0 : box.y1 - crop.y0, box.x0 - crop.x0 : box.x1 - crop.x0] = True
    in_counts = np.bincount(labels[inside], minlength=count)
    areas = stats[:, cv2.CC_STAT_AREA]
    keep = in_counts >= 0.5 * np.maximum(areas, 1)
    keep[0] = True
    result: FloatArray = prob * keep[labels]
    return result


def apply_points(
    rgb_crop: ImageArray, prob: FloatArray, positive: Sequence[Point], negative: Sequence[Point]
) -> FloatArray:
    """Keep the parts the positive points are on; cut out what the negative ones are on.

    A negative point removes the region of similar colour it lies on (a flood fill over
    the slightly blurred photo, within a fixed colour distance of the point and inside the
    salient map), so a point on a spoon takes the spoon off the cup but not the cup.
    Points are in crop pixels.
    """
    out = prob.copy()
    if positive:
        count, parts = cv2.connectedComponents((prob >= 0.5).astype(np.uint8), connectivity=8)
        touched = {int(parts[y, x]) for x, y in positive} - {0}
        if touched and count > 2:
            out *= np.isin(parts, [0, *touched])
    if negative:
        smooth = cv2.GaussianBlur(np.ascontiguousarray(rgb_crop[..., :3]), (0, 0), 1.5)
        height, width = prob.shape
        radius = max(2, round(0.01 * np.hypot(height, width)))
        for x, y in negative:
            # The fill stays inside what the model saw (non-zero mask pixels block it).
            fill = np.ones((height + 2, width + 2), dtype=np.uint8)
            fill[1:-1, 1:-1] = prob < 0.2
            if fill[y + 1, x + 1]:
                continue  # on the background already
            flags = 8 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (255 << 8)
            cv2.floodFill(smooth, fill, (x, y), (0, 0, 0), _FILL_DIFF, _FILL_DIFF, flags)
            region = fill[1:-1, 1:-1] == 255
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
            region = cv2.dilate(region.astype(np.uint8), kernel).astype(bool)
            out[region] = 0.0
    # Removing a part can leave slivers of it: keep what the positive points are on.
    if positive and negative:
        count, parts = cv2.connectedComponents((out >= 0.5).astype(np.uint8), connectivity=8)
        touched = {int(parts[y, x]) for x, y in positive} - {0}
        if touched and count > 2:
            out *= np.isin(parts, [0, *touched])
    return out.astype(np.float32)


def subtract_body(prob: FloatArray, crop: Box, parse: PersonParse) -> FloatArray:
    """Remove the person's skin and hair from a held object's map (same full-image frame)."""
    body = np.maximum(parse.body_part("skin"), parse.body_part("hair"))
    ox0, oy0 = max(crop.x0, parse.crop.x0), max(crop.y0, parse.crop.y0)
    ox1, oy1 = min(crop.x1, parse.crop.x1), min(crop.y1, parse.crop.y1)
    if ox0 >= ox1 or oy0 >= oy1:
        return prob
    out = prob.copy()
    region = out[oy0 - crop.y0 : oy1 - crop.y0, ox0 - crop.x0 : ox1 - crop.x0]
    cut = body[oy0 - parse.crop.y0 : oy1 - parse.crop.y0, ox0 - parse.crop.x0 : ox1 - parse.crop.x0]
    region *= np.clip(1.0 - 1.5 * cut, 0.0, 1.0)
    return out


def voc_restrict(rgb: ImageArray, prob: FloatArray, crop: Box, voc_class: str) -> FloatArray:
    """Keep the salient map near pixels DeepLab labels ``voc_class``, when it finds some.

    The salient model may take a neighbour in the crop along; DeepLab's coarser mask of the
    right class says which part is the product. Absent or tiny, it is not trusted.
    """
    segmenter = voc_segmenter()
    pixels = np.ascontiguousarray(rgb[crop.slices][..., :3])
    mask = segmenter.class_mask(segmenter.segment(pixels), voc_class)
    solid = prob >= 0.5
    if mask.sum() < 0.3 * max(1, int(solid.sum())):
        return prob
    radius = max(3, round(0.03 * max(mask.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    near = cv2.dilate(mask.astype(np.uint8), kernel).astype(np.float32)
    result: FloatArray = prob * near
    return result


def paste(prob: FloatArray, crop: Box, hw: tuple[int, int]) -> FloatArray:
    """A crop's map placed in a zero full-image map."""
    full = np.zeros(hw, dtype=np.float32)
    full[crop.slices] = prob
    return full


def finish(rgb: ImageArray, prob: FloatArray) -> tuple[ImageArray, FloatArray]:
    """RGBA and alpha from a full-image probability map, refined as background removal
    refines (``pipeline/cutout.cutout``)."""
    alpha = refine_alpha(rgb, prob, RefineParams())
    return to_rgba(estimate_foreground(rgb, alpha), alpha), alpha
