"""A mask's pieces that belong to another object: colour likelihood against that object.

A salient model asked for a handbag parked in front of a car also draws the car's grille
seen through the handle: salient, joined to the bag, inside the bag's box. What tells it
apart is that another model boxed a car there, and that those pixels look like the rest of
that car, not like the rest of the bag. :func:`foreign_pixels` compares each masked pixel
inside the rival's box under two colour models (CIE Lab histograms): the object's (its
mask outside the rival's box) and the rival's (the rival's box outside the mask).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from packshot.ops.color import rgb_to_lab
from packshot.ops.geometry import Box

ImageArray = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float32]

# Colour statistics and the decision are made on the region scaled to this long side:
# a few tens of thousands of pixels, milliseconds at 2K.
WORK_SIDE = 256
# Histogram bins per Lab channel (L 0..100, a and b -128..127).
BINS = 12
# A pixel is the rival's when its colour is this many times likelier under the rival's
# colours than under the object's (after smoothing over a few pixels: texture, not noise).
LIKELIER = 4.0
# The object's own colours are learnt from at least this share of its mask lying outside
# the rival's box; with less there is nothing to compare with and nothing is called foreign.
MIN_OWN_SHARE = 0.1
# The mask has grown onto the rival when one piece of the rival's colours is at least this
# share of it: a product's own details of other colours (an eye, a rim in shadow: up to
# 0.027 on the tune split of ``benchmarks/isolate_set.py``) are smaller.
MIN_PIECE_SHARE = 0.04
# Once it has, the rival's smaller pieces down to this share go too (the rest of the car
# seen beside the handle); smaller ones are left alone (a reflection, a seam).
MIN_MORE_SHARE = 0.01


def _histogram(lab: FloatArray) -> FloatArray:
    """Normalised, slightly smoothed Lab histogram of ``lab`` (N x 3)."""
    ranges = ((0.0, 100.0), (-128.0, 128.0), (-128.0, 128.0))
    hist, _ = np.histogramdd(lab, bins=BINS, range=ranges)
    hist = hist.astype(np.float32) + 0.5  # no colour is impossible, only unlikely
    # Neighbouring bins share counts: a shade darker is the same material.
    for axis in range(3):
        hist = (hist + np.roll(hist, 1, axis) + np.roll(hist, -1, axis)) / 3.0
    result: FloatArray = (hist / hist.sum()).astype(np.float32)
    return result


def _bins(lab: FloatArray) -> tuple[npt.NDArray[np.intp], ...]:
    lows = np.array([0.0, -128.0, -128.0])
    widths = np.array([100.0, 256.0, 256.0]) / BINS
    index = np.clip(((lab - lows) / widths).astype(np.intp), 0, BINS - 1)
    return index[:, 0], index[:, 1], index[:, 2]


def foreign_pixels(rgb: ImageArray, solid: BoolArray, rival: Box) -> BoolArray:
    """The pixels of ``solid`` (a full-image mask) inside ``rival`` (another object's box)
    whose colours are the rival's rather than the mask's own: whole pieces, at full
    resolution, when one is at least ``MIN_PIECE_SHARE`` of the mask (all False when none
    is, or when too little of the mask lies outside ``rival`` to know its own colours)."""
    height, width = solid.shape
    empty = np.zeros_like(solid)
    ys, xs = np.nonzero(solid)
    if len(ys) == 0:
        return empty
    region = Box(
        min(int(xs.min()), rival.x0),
        min(int(ys.min()), rival.y0),
        max(int(xs.max()) + 1, rival.x1),
        max(int(ys.max()) + 1, rival.y1),
    )
    region = Box(
        max(0, region.x0), max(0, region.y0), min(width, region.x1), min(height, region.y1)
    )
    scale = min(1.0, WORK_SIDE / max(region.width, region.height))
    size = (max(1, round(region.width * scale)), max(1, round(region.height * scale)))
    small_rgb = cv2.resize(
        np.ascontiguousarray(rgb[region.slices]), size, interpolation=cv2.INTER_AREA
    )
    small_solid = (
        cv2.resize(solid[region.slices].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    )
    in_rival = np.zeros_like(small_solid)
    rx0, ry0 = round((rival.x0 - region.x0) * scale), round((rival.y0 - region.y0) * scale)
    rx1, ry1 = round((rival.x1 - region.x0) * scale), round((rival.y1 - region.y0) * scale)
    in_rival[max(0, ry0) : ry1, max(0, rx0) : rx1] = True
    # Away from the mask's edge on both sides: edge pixels mix the two colours.
    kernel = np.ones((3, 3), np.uint8)
    core = cv2.erode(small_solid.astype(np.uint8), kernel) > 0
    outside = cv2.dilate(small_solid.astype(np.uint8), kernel, iterations=2) == 0
    own = core & ~in_rival
    theirs = outside & in_rival
    if own.sum() < MIN_OWN_SHARE * max(1, core.sum()) or theirs.sum() < 50:
        return empty
    lab = rgb_to_lab(small_rgb).astype(np.float32)
    flat = lab.reshape(-1, 3)
    p_own = _histogram(flat[own.ravel()])
    p_theirs = _histogram(flat[theirs.ravel()])
    index = _bins(flat)
    ratio = (p_theirs[index] / p_own[index]).reshape(small_solid.shape).astype(np.float32)
    # Log ratio averaged over a few pixels: a texture (a grille, a badge) decides, not a pixel.
    log_ratio = cv2.blur(np.log(ratio), (5, 5))
    candidate = (log_ratio > np.log(LIKELIER)) & small_solid & in_rival
    _count, labels, stats, _ = cv2.connectedComponentsWithStats(
        candidate.astype(np.uint8), connectivity=8
    )
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64) / max(1, int(small_solid.sum()))
    areas[0] = 0.0
    if areas.max() < MIN_PIECE_SHARE:
        return empty
    keep = areas >= MIN_MORE_SHARE
    small_foreign = keep[labels].astype(np.uint8)
    big = (
        cv2.resize(small_foreign, (region.width, region.height), interpolation=cv2.INTER_LINEAR) > 0
    )
    out = empty.copy()
    out[region.slices] = big
    result: BoolArray = out & solid
    return result
