"""Garments worn by a person: the clothes map inside that person, split into upper and lower.

The skin/clothes/hair model fires on sofas and bed sheets too, so its clothes map is used
only inside the person's own mask (VOC "person" class, on the person's crop). Headwear
(clothes above the face) is left out of tops and dresses. A single "clothes" class does not
say where the top ends and the jeans begin: the two are told apart by colour (two Lab
clusters, one above the other), split at the row that best separates them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from packshot.isolate.vocabulary import Garment, to_lab
from packshot.models.parsing import HumanParts, human_parser, voc_segmenter
from packshot.ops.geometry import Box

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

# Distance (Lab, lightness weighted down) between the two clothes clusters above which
# they are two garments.
_SPLIT_DELTA_E = 12.0
_LIGHTNESS_WEIGHT = 0.35


@dataclass(frozen=True)
class PersonParse:
    """A person's crop with its semantic maps (all at the crop's resolution)."""

    crop: Box
    parts: HumanParts
    person: BoolArray  # the person's own pixels, limbs beyond the box included
    in_box: BoolArray  # ...and those inside the detector's box

    def body_part(self, which: str) -> FloatArray:
        """Probability of skin or hair, inside the person only."""
        prob = self.parts.skin if which == "skin" else self.parts.hair
        result: FloatArray = prob * self.person
        return result


def pad_box(box: Box, frac: float, hw: tuple[int, int], minimum: int = 8) -> Box:
    """``box`` grown by ``frac`` of its size on every side (at least ``minimum`` px), clipped."""
    dx = max(minimum, round(box.width * frac))
    dy = max(minimum, round(box.height * frac))
    return Box(
        max(0, box.x0 - dx), max(0, box.y0 - dy), min(hw[1], box.x1 + dx), min(hw[0], box.y1 + dy)
    )


def parse_person(rgb: ImageArray, person: Box) -> PersonParse:
    """Skin/clothes/hair and the person mask on a padded crop around ``person``."""
    # A tight crop: the 512 px parse loses detail on a wider one (and finds more sofa).
    crop = pad_box(person, 0.05, rgb.shape[:2])
    pixels = np.ascontiguousarray(rgb[crop.slices][..., :3])
    parts = human_parser().parse(pixels)
    segmenter = voc_segmenter()
    mask = segmenter.class_mask(segmenter.segment(pixels), "person")
    # DeepLab's 257 px boundary is coarse; a small dilation keeps garment edges, which the
    # clothes map then draws precisely.
    radius = max(2, round(0.005 * max(mask.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    person_mask = cv2.dilate(mask.astype(np.uint8), kernel)
    # Only the parts of the mask that are mostly this person's (inside their box): a
    # neighbour's body is not theirs.
    inside = np.zeros(person_mask.shape, dtype=bool)
    inside[person.y0 - crop.y0 : person.y1 - crop.y0, person.x0 - crop.x0 : person.x1 - crop.x0] = (
        True
    )
    count, labels = cv2.connectedComponents(person_mask, connectivity=8)
    in_box = np.bincount(labels[inside], minlength=count)
    areas = np.bincount(labels.ravel(), minlength=count)
    keep = in_box >= 0.5 * np.maximum(areas, 1)
    keep[0] = False
    own = keep[labels]
    return PersonParse(crop, parts, own, own & inside)


def _face_row(parse: PersonParse) -> int | None:
    """Row (in the crop) of the face's centre: the largest skin part in the upper half."""
    skin = (parse.body_part("skin") > 0.5).astype(np.uint8)
    half = skin.shape[0] // 2
    count, _labels, stats, centroids = cv2.connectedComponentsWithStats(skin[:half], connectivity=8)
    if count <= 1:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return int(centroids[largest][1])


def _drop_headwear(clothes: BoolArray, face_row: int | None) -> BoolArray:
    """Clothes parts whose centre lies above the face (hats, bows, hoods) removed."""
    if face_row is None:
        return clothes
    count, labels, _stats, centroids = cv2.connectedComponentsWithStats(
        clothes.astype(np.uint8), connectivity=8
    )
    keep = np.zeros(count, dtype=bool)
    keep[1:] = centroids[1:, 1] > face_row
    result: BoolArray = keep[labels]
    return result


def _waist_row(rgb_crop: ImageArray, clothes: BoolArray) -> int | None:
    """Row splitting two garments of different colour stacked vertically, or None."""
    ys, xs = np.nonzero(clothes)
    if len(ys) < 200:
        return None
    step = max(1, len(ys) // 20000)
    ys, xs = ys[::step], xs[::step]
    lab = to_lab(rgb_crop[ys, xs][None])[0]
    # Shading and folds change lightness within one garment far more than its hue: cluster
    # mostly on chroma, or a shadowed white top splits from its own lit half.
    lab[:, 0] *= _LIGHTNESS_WEIGHT
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    best = np.zeros((len(lab), 1), dtype=np.int32)
    _compact, found, centres = cv2.kmeans(
        np.ascontiguousarray(lab, dtype=np.float32), 2, best, criteria, 3, cv2.KMEANS_PP_CENTERS
    )
    labels = np.asarray(found).ravel()
    centres = np.asarray(centres)
    if float(np.linalg.norm(centres[0] - centres[1])) < _SPLIT_DELTA_E:
        return None
    rows = [ys[labels == k] for k in (0, 1)]
    if min(len(r) for r in rows) < 0.08 * len(ys):
        return None
    upper = 0 if rows[0].mean() < rows[1].mean() else 1
    # The split row minimises pixels on the wrong side of it.
    height = clothes.shape[0]
    above_lower = np.cumsum(np.bincount(ys[labels != upper], minlength=height))
    upper_counts = np.bincount(ys[labels == upper], minlength=height)
    below_upper = upper_counts.sum() - np.cumsum(upper_counts)
    errors = above_lower + below_upper
    row = int(np.argmin(errors))
    wrong = float(errors[row]) / len(ys)
    # Clusters that interleave (a patterned garment) are not two garments.
    return row + 1 if wrong < 0.2 else None


def _main_parts(mask: BoolArray, min_frac: float = 0.25) -> BoolArray:
    """The garment's main pieces: parts under ``min_frac`` of the largest (a cushion the
    clothes map took for fabric) are dropped, also when a thin bridge joins them."""
    radius = max(1, round(0.01 * max(mask.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if count <= 1:
        return mask
    areas = stats[:, cv2.CC_STAT_AREA]
    keep = areas >= min_frac * areas[1:].max()
    keep[0] = False
    kept = keep[labels].astype(np.uint8)
    near = cv2.dilate(kept, kernel, iterations=2).astype(bool)
    result: BoolArray = mask & near
    return result


def garment_probability(rgb: ImageArray, parse: PersonParse, garment: Garment) -> FloatArray | None:
    """Probability map (crop-sized) of the garment of kind ``garment``, or None if absent."""
    crop_rgb = np.ascontiguousarray(rgb[parse.crop.slices][..., :3])
    body = np.maximum(parse.body_part("skin"), parse.body_part("hair"))
    # Hair strands over a top and the skin line at a neckline are fuzzy in a 512 px map: a
    # small margin around the body keeps them out of the garment.
    margin = max(1, round(0.004 * max(body.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    body = np.asarray(cv2.dilate(body, kernel), dtype=np.float32)
    prob = parse.parts.clothes * parse.person * (1.0 - body)
    # Beyond the detector's box the person mask is trusted only for lower garments (legs
    # stretched out of a tight box); a top or dress stays inside it, clear of the sofa.
    solid = (prob > 0.5) & parse.in_box
    if solid.sum() < 0.002 * solid.size:
        return None
    solid = _drop_headwear(solid, _face_row(parse))
    if not solid.any():
        return None
    waist = _waist_row(crop_rgb, solid)
    region = np.zeros_like(solid)
    if garment == "full":
        region = solid
    elif waist is None:
        # One garment: it is the top (or the dress), and there is no separate lower one.
        if garment == "lower":
            return None
        region = solid
    elif garment == "upper":
        region[:waist] = solid[:waist]
    else:
        region[waist:] = (prob > 0.5)[waist:]
    region = _main_parts(region)
    if region.sum() < 0.001 * region.size:
        return None
    # Keep the soft edge of the clothes map around the chosen region, nothing beyond it.
    radius = max(2, round(0.01 * max(region.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    near = cv2.dilate(region.astype(np.uint8), kernel).astype(bool)
    if waist is not None and garment != "full":
        # ...but never across the waist line into the other garment.
        rows = np.arange(near.shape[0])[:, None]
        near &= rows < waist if garment == "upper" else rows >= waist
    result: FloatArray = (prob * near).astype(np.float32)
    return result
