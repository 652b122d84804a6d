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
from packshot.ops.matte import bounding_box

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

# Distance (Lab, lightness weighted down) between the two clothes clusters above which
# they are two garments.
_SPLIT_DELTA_E = 12.0
_LIGHTNESS_WEIGHT = 0.35
# Rows either side of the waist (share of the clothes' height) where colour, not the row,
# says which garment a pixel is.
_WAIST_BAND = 0.2
# A piece of a lower garment down to this share of the main one is kept when its hue
# (Lab a, b) is this close to the main piece's (a grey cushion is 15-20 from denim).
_SMALL_PIECE = 0.05
_PIECE_HUE_DISTANCE = 10.0
# A person crop this share of the photo reuses the whole photo's VOC person mask.
_REUSE_SHARE = 0.5
# Lightness weight when telling a garment's edge from the skin and hair beside it.
_EDGE_LIGHTNESS_WEIGHT = 0.5
# Passes of the colour snap, each reaching 1 % of the crop further from the parser's edge.
_SNAP_STEPS = 2


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


def _ellipse(radius: int) -> npt.NDArray[np.uint8]:
    """A disc of ``radius`` for morphology."""
    size = (2 * radius + 1, 2 * radius + 1)
    return np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, size), dtype=np.uint8)


def _grow(mask: BoolArray, radius: float) -> BoolArray:
    """``mask`` dilated by a disc of ``radius``. A distance transform costs the same at
    any radius; a 40 px kernel on a 2K photo costs a tenth of a second per call."""
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    result: BoolArray = dist <= radius
    return result


def _shrink(mask: BoolArray, radius: float) -> BoolArray:
    """``mask`` eroded by a disc of ``radius``."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    result: BoolArray = dist > radius
    return result


def pad_box(box: Box, frac: float, hw: tuple[int, int], minimum: int = 8) -> Box:
    """``box`` grown by ``frac`` of its size on every side (at least ``minimum`` px), clipped."""
    dx = max(minimum, round(box.width * frac))
    dy = max(minimum, round(box.height * frac))
    return Box(
        max(0, box.x0 - dx), max(0, box.y0 - dy), min(hw[1], box.x1 + dx), min(hw[0], box.y1 + dy)
    )


def _own_parts(mask: BoolArray, box: Box) -> BoolArray:
    """The connected parts of ``mask`` lying mostly inside ``box`` (in ``mask``'s frame):
    a person's own limbs, also where they leave the box, but not a neighbour's body."""
    inside = np.zeros(mask.shape, dtype=bool)
    inside[max(0, box.y0) : max(0, box.y1), max(0, box.x0) : max(0, box.x1)] = True
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    in_box = np.bincount(labels[inside], minlength=count)
    areas = np.bincount(labels.ravel(), minlength=count)
    keep = in_box >= 0.5 * np.maximum(areas, 1)
    keep[0] = False
    result: BoolArray = keep[labels]
    return result


def _whole_extent(whole: BoolArray, person: Box) -> Box:
    """``person`` grown to the person's own regions of ``whole`` (the VOC person mask of
    the whole photo): detector boxes cut off what sticks out, a leg stretched to the
    photo's edge."""
    ys, xs = np.nonzero(_own_parts(whole, person))
    if len(ys) == 0:
        return person
    return Box(
        min(person.x0, int(xs.min())),
        min(person.y0, int(ys.min())),
        max(person.x1, int(xs.max()) + 1),
        max(person.y1, int(ys.max()) + 1),
    )


def parse_person(rgb: ImageArray, person: Box) -> PersonParse:
    """Skin/clothes/hair and the person mask on a padded crop around the whole person."""
    segmenter = voc_segmenter()
    whole = segmenter.class_mask(segmenter.segment(np.ascontiguousarray(rgb[..., :3])), "person")
    # A tight crop: the 512 px parse loses detail on a wider one (and finds more sofa).
    crop = pad_box(_whole_extent(whole, person), 0.05, rgb.shape[:2])
    pixels = np.ascontiguousarray(rgb[crop.slices][..., :3])
    parts = human_parser().parse(pixels)
    if crop.width * crop.height >= _REUSE_SHARE * rgb.shape[0] * rgb.shape[1]:
        # DeepLab would see this crop at about the resolution it saw the whole photo at.
        mask = whole[crop.slices]
    else:
        mask = segmenter.class_mask(segmenter.segment(pixels), "person")
    # DeepLab's 257 px boundary is coarse; a small dilation keeps garment edges, which the
    # clothes map then draws precisely.
    radius = max(2, round(0.005 * max(mask.shape)))
    person_mask = _grow(mask, radius)
    box = Box(person.x0 - crop.x0, person.y0 - crop.y0, person.x1 - crop.x0, person.y1 - crop.y0)
    own = _own_parts(person_mask, box)
    inside = np.zeros(own.shape, dtype=bool)
    inside[box.slices] = True
    return PersonParse(crop, parts, own, own & inside)


def _face_centre(parse: PersonParse) -> tuple[int, int] | None:
    """(x, y) in the crop of the face's centre: the largest skin part in the upper half."""
    skin = (parse.body_part("skin") > 0.5).astype(np.uint8)
    half = skin.shape[0] // 2
    count, _labels, stats, centroids = cv2.connectedComponentsWithStats(skin[:half], connectivity=8)
    if count <= 1:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return int(centroids[largest][0]), int(centroids[largest][1])


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


def _upper_side(lab: FloatArray, solid: BoolArray, clothes: BoolArray) -> BoolArray | None:
    """Where two garments of different colour are stacked, the pixels of ``clothes`` that
    belong to the upper one; None when ``solid`` (the clothes inside the person's box) is
    one garment. ``lab``: the crop in CIE Lab."""
    ys, xs = np.nonzero(solid)
    if len(ys) < 200:
        return None
    step = max(1, len(ys) // 20000)
    # Shading and folds change lightness within one garment far more than its hue: cluster
    # mostly on chroma, or a shadowed white top splits from its own lit half.
    weight = np.asarray([_LIGHTNESS_WEIGHT, 1.0, 1.0], dtype=np.float32)
    sample = np.ascontiguousarray(lab[ys[::step], xs[::step]] * weight, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    # Seeded upper half against lower half (deterministic, unlike k-means++).
    seeds = (ys[::step] > np.median(ys)).astype(np.int32).reshape(-1, 1)
    _compact, found, centres = cv2.kmeans(
        sample, 2, seeds, criteria, 1, cv2.KMEANS_USE_INITIAL_LABELS
    )
    labels = np.asarray(found).ravel()
    centres = np.asarray(centres)
    if float(np.linalg.norm(centres[0] - centres[1])) < _SPLIT_DELTA_E:
        return None
    rows = ys[::step]
    by_cluster = [rows[labels == k] for k in (0, 1)]
    if min(len(r) for r in by_cluster) < 0.08 * len(rows):
        return None
    upper = 0 if by_cluster[0].mean() < by_cluster[1].mean() else 1
    # The waist row minimises pixels on the wrong side of it.
    height = clothes.shape[0]
    above_lower = np.cumsum(np.bincount(rows[labels != upper], minlength=height))
    upper_counts = np.bincount(rows[labels == upper], minlength=height)
    below_upper = upper_counts.sum() - np.cumsum(upper_counts)
    errors = above_lower + below_upper
    waist = int(np.argmin(errors)) + 1
    # Clusters that interleave (a patterned garment) are not two garments.
    if float(errors[waist - 1]) / len(rows) >= 0.2:
        return None
    # A leaning or twisting body's waistband is not level: near the waist row each pixel
    # takes the garment of the nearer colour (by majority around it, so a print on the top
    # stays with the top); far above or below it, the row decides.
    band = max(1, round(_WAIST_BAND * (ys.max() - ys.min())))
    size = 2 * max(1, round(0.01 * max(clothes.shape))) + 1
    # Only the rows around the waist (and a blur window's worth more) are looked at.
    top, bottom = max(0, waist - band - size), min(height, waist + band + size)
    near = lab[top:bottom] * weight
    near_upper = ((near - centres[upper]) ** 2).sum(axis=2) < (
        (near - centres[1 - upper]) ** 2
    ).sum(axis=2)
    votes = cv2.blur((near_upper & clothes[top:bottom]).astype(np.float32), (size, size))
    voters = cv2.blur(clothes[top:bottom].astype(np.float32), (size, size))
    upper_colour = np.zeros_like(clothes)
    upper_colour[top:bottom] = votes > 0.5 * voters
    row = np.arange(height)[:, None]
    side: BoolArray = clothes & ((row < waist - band) | ((row < waist + band) & upper_colour))
    return side


def _main_parts(
    mask: BoolArray,
    column: int | None,
    links: BoolArray | None,
    lab: FloatArray | None = None,
    min_frac: float = 0.25,
) -> BoolArray:
    """The garment's pieces: the main one (the largest, preferring one under the face at
    ``column``), other pieces joined to it through ``links`` (hair lying over a top) or,
    without links, at least ``min_frac`` of its size (the other leg, an arm's width away)
    or, given the crop's ``lab``, smaller ones of the main piece's hue (the lap between the
    forearms, in shadow), and thin parts hanging on any of them (a strap, a hem).

    Other pieces (a cushion the clothes map took for fabric) are dropped, also when a thin
    bridge joins them.
    """
    radius = max(1, round(0.01 * max(mask.shape)))
    opened = _grow(_shrink(mask, radius), radius).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if count <= 1:
        return mask
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    areas[0] = 0.0
    candidates = areas.copy()
    if column is not None:
        band = max(1, round(0.1 * mask.shape[1]))
        under = np.unique(labels[:, max(0, column - band) : column + band])
        if (under > 0).any():
            candidates[~np.isin(np.arange(count), under)] = 0.0
    main = int(np.argmax(candidates))
    if links is None:
        keep = areas >= min_frac * areas[main]
        if lab is not None:
            # Shade changes a piece's lightness (a lit and a shadowed leg), not its hue.
            hue = np.median(lab[labels == main][:, 1:], axis=0)
            for k in np.flatnonzero(~keep & (areas >= _SMALL_PIECE * areas[main])):
                piece = np.median(lab[labels == k][:, 1:], axis=0)
                keep[k] = float(np.linalg.norm(piece - hue)) < _PIECE_HUE_DISTANCE
    else:
        _n, joined = cv2.connectedComponents((opened.astype(bool) | links).astype(np.uint8))
        group = joined[labels == main][0]
        keep = np.zeros(count, dtype=bool)
        keep[np.unique(labels[joined == group])] = True
    keep[main] = True
    keep[0] = False
    dropped = (labels > 0) & ~keep[labels]
    # The opening strips a rim off every piece: a dropped piece's rim goes with it.
    rest = mask & ~_grow(dropped, 2 * radius)
    count, pieces = cv2.connectedComponents(rest.astype(np.uint8), connectivity=8)
    attached = np.zeros(count, dtype=bool)
    attached[pieces[keep[labels] & rest]] = True
    attached[0] = False
    result: BoolArray = attached[pieces]
    return result


def _colours(lab: FloatArray, where: BoolArray, k: int) -> FloatArray | None:
    """``k`` Lab cluster centres of the pixels ``where`` (None when too few)."""
    ys, xs = np.nonzero(where)
    if len(ys) < 20 * k:
        return None
    step = max(1, len(ys) // 4000)
    sample = np.ascontiguousarray(lab[ys[::step], xs[::step]], dtype=np.float32)
    # Seeded from lightness bands, not k-means++: its random seeds come from OpenCV's
    # process-wide generator, and the same photo must give the same garment.
    ranks = np.argsort(np.argsort(sample[:, 0], kind="stable"), kind="stable")
    seeds = (ranks * k // len(sample)).astype(np.int32).reshape(-1, 1)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 15, 0.5)
    _c, _l, centres = cv2.kmeans(sample, k, seeds, criteria, 1, cv2.KMEANS_USE_INITIAL_LABELS)
    result: FloatArray = np.asarray(centres, dtype=np.float32)
    return result


def _nearest(lab: FloatArray, centres: FloatArray) -> FloatArray:
    """Squared distance of each pixel (``N x 3``) to the nearest centre, less the pixel's
    own squared norm (the same for any set of centres, so comparisons hold)."""
    partial = (centres**2).sum(axis=1)[None] - 2.0 * (lab @ centres.T)
    result: FloatArray = partial.min(axis=1).astype(np.float32)
    return result


def _snap_edge(
    lab: FloatArray, region: BoolArray, body: BoolArray, away: BoolArray, radius: int
) -> BoolArray:
    """``region`` with its edge moved to where the garment's colours end.

    The parser's 512 px map puts a garment's edge several pixels off and the margin kept
    from the body takes more: a strap a few dozen pixels wide kept only its middle. Within
    a band around the edge a pixel belongs to the garment when its colour is nearer the
    garment's own colours than those of what lies around it (``body``: skin and hair, and
    ``away``: the other garment and the background, which it never enters), so the strap's
    edges come back and skin stays out. Each pass reaches ``radius`` further.
    """
    grown = _grow(region, radius)
    # Colours are sampled clear of the band, where the parser is sure.
    around = _grow(grown, 2 * radius) & ~grown
    own = _colours(lab, _shrink(region, radius), 6)
    others = _colours(lab, around & (body | away), 4)
    if own is None or others is None:
        return region
    snapped = region
    for _ in range(_SNAP_STEPS):
        band = _grow(snapped, radius) & ~away & ~_shrink(snapped, radius)
        ys, xs = np.nonzero(band)
        pixels = lab[ys, xs]
        snapped = snapped & ~band
        snapped[ys, xs] = _nearest(pixels, own) < _nearest(pixels, others)
        # Only what hangs on the garment: a skin-coloured speck in the band is not cloth.
        count, parts = cv2.connectedComponents(snapped.astype(np.uint8), connectivity=8)
        touched = np.zeros(count, dtype=bool)
        touched[parts[region & snapped]] = True
        touched[0] = False
        snapped = touched[parts]
    # Small holes are the print's colours taken for skin, not skin seen through the cloth.
    count, holes, stats, _ = cv2.connectedComponentsWithStats(
        (~snapped).astype(np.uint8), connectivity=4
    )
    small = stats[:, cv2.CC_STAT_AREA] < 4 * radius * radius
    border = np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]])
    small[border] = False
    result: BoolArray = snapped | (small[holes] & ~away)
    return result


def garment_probability(rgb: ImageArray, parse: PersonParse, garment: Garment) -> FloatArray | None:
    """Probability map (crop-sized) of the garment of kind ``garment``, or None if absent."""
    lab = to_lab(np.ascontiguousarray(rgb[parse.crop.slices][..., :3]))
    body = np.maximum(parse.body_part("skin"), parse.body_part("hair"))
    # Where the parser is surer of cloth than of skin it is cloth: a pink blouse is half
    # "skin" to it, and taking all of that away left the blouse in shreds.
    body = body * (body > parse.parts.clothes)
    # Hair strands over a top and the skin line at a neckline are fuzzy in a 512 px map: a
    # small margin around the body keeps them out of the garment.
    margin = max(1, round(0.004 * max(body.shape)))
    kernel = _ellipse(margin)
    body = np.asarray(cv2.dilate(body, kernel), dtype=np.float32)
    prob = parse.parts.clothes * parse.person * (1.0 - body)
    clothes = prob > 0.5
    # Beyond the detector's box the person mask is trusted only for lower garments (legs
    # stretched out of a tight box); a top or dress stays inside it, clear of the sofa.
    solid = clothes & parse.in_box
    if solid.sum() < 0.002 * solid.size:
        return None
    face = _face_centre(parse)
    worn = solid
    solid = _drop_headwear(solid, None if face is None else face[1])
    if garment == "head":
        # Headwear is what the other garments leave out: clothes above the face.
        if face is None:
            return None
        solid = clothes & ~_drop_headwear(clothes, face[1])
        worn = clothes
    if not solid.any():
        return None
    upper_side = None if garment == "head" else _upper_side(lab, solid, clothes)
    other = worn & ~solid
    if garment in ("full", "head"):
        region = solid
    elif upper_side is None:
        # One garment: it is the top (or the dress), and there is no separate lower one.
        if garment == "lower":
            return None
        region = solid
    elif garment == "upper":
        region, other = solid & upper_side, clothes & ~upper_side
    else:
        region, other = clothes & ~upper_side, solid & upper_side
    if garment == "lower":
        region = _main_parts(region, None, None, lab)
    else:
        # A top's pieces are one piece of cloth, or pieces parted by the hair over it; a
        # piece beyond an arm is the sofa.
        hair = parse.body_part("hair") > 0.5
        region = _main_parts(region, None if face is None else face[0], hair)
    if region.sum() < 0.001 * region.size:
        return None
    lab[..., 0] *= _EDGE_LIGHTNESS_WEIGHT
    solid_body = (parse.body_part("skin") > 0.5) | (parse.body_part("hair") > 0.5)
    radius = max(2, round(0.01 * max(region.shape)))
    box = bounding_box(region, (2 * _SNAP_STEPS + 4) * radius)
    if box is not None:
        snapped = _snap_edge(
            lab[box], region[box], solid_body[box], (other | ~parse.person)[box], radius
        )
        region = np.zeros_like(region)
        region[box] = snapped
    # A soft edge of a pixel or two; refine_alpha moves it onto the photo's edge.
    soft = cv2.GaussianBlur(region.astype(np.float32), (0, 0), 1.0)
    result: FloatArray = np.asarray(soft, dtype=np.float32)
    return result
