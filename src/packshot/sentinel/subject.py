"""What the gate looks at: the output's pixels, where the product is, and its provenance.

Outputs packshot renders carry the product's alpha on the canvas. Images packshot did not
make (a shop's existing catalogue) have none, so it is derived (:func:`derive_product_mask`):
first from the background colour (pixels near the target colour connected to the image's
frame are background, everything else is product), and, when too little of the frame is
near that colour for this to mean anything (a lifestyle photo, a grey studio sweep), from
the salient-object model instead. ``Subject.mask_origin`` says which was used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np
import numpy.typing as npt

from packshot.ops.geometry import Box
from packshot.ops.matte import bounding_box
from packshot.sentinel.completeness import Completeness, Evidence

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
Color = tuple[int, int, int]

NEAR_TARGET = 16
"""Largest channel difference (levels) at which a pixel counts as background of the target
colour when deriving the product mask (an off-white 250 background still counts)."""

PRODUCT_ALPHA = 0.5
"""Alpha above which a pixel is product for counting objects, edges and cut-offs."""

MIN_FRAME_SHARE = 0.5
"""Share of the image's frame (inside any border) that must be near the target colour for
the background-colour mask to be used; below it the salient model decides."""

BORDER_UNIFORM = 0.97
"""Share of a border line's pixels within :data:`BORDER_TOLERANCE` of its median colour."""
BORDER_TOLERANCE = 12
MAX_BORDER_SHARE = 0.2
"""A 'border' wider than this share of the side is the background itself, not a frame."""


@dataclass(frozen=True, eq=False)
class Subject:
    """One output as the gate sees it.

    Attributes:
        rgb: the pixels as delivered (decoded from the file when there is one), HxWx3 uint8.
        alpha: the product's coverage on that canvas, float32 0..1, HxW.
        mask_origin: ``"alpha"`` (rendered by packshot / the file's alpha channel),
            ``"background"`` (derived from the background colour) or ``"model"`` (derived by
            the salient model).
        file_format: the encoded format (``"JPEG"``), or None before encoding.
        file_bytes: the encoded size in bytes, or None before encoding.
        border: the frame drawn around the image (left, top, right, bottom widths in px);
            all zero without one.
        source_rgb, source_alpha: the product in the source photo (the cutout at the
            source's resolution), for colour fidelity and cut-off; None when unknown.
        synthesized: pixels that did not come from the photo (canvas extension), for the
            seam check; None when nothing was synthesised or it is unknown.
        composition: the fallback composition the canvas was made with where the preset's
            own could not be (``"blurred-backdrop"``), and why; None when it was made as
            the preset asks.
        evidence: the source photo with an independent opinion of its object, for the
            completeness checks (in ``source_alpha``'s frame); None when unknown.
    """

    rgb: ImageArray
    alpha: FloatArray
    mask_origin: str = "alpha"
    file_format: str | None = None
    file_bytes: int | None = None
    border: tuple[int, int, int, int] = (0, 0, 0, 0)
    source_rgb: ImageArray | None = None
    source_alpha: FloatArray | None = None
    synthesized: BoolArray | None = None
    composition: tuple[str, str] | None = None
    evidence: Evidence | None = None
    _deviations: dict[Color, ImageArray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    # The measures below are shared by several checks: each is computed once per subject
    # (the pixels never change; a fix makes a new Subject), which keeps the gate's cost a
    # small share of the pipeline's.

    @cached_property
    def product(self) -> BoolArray:
        """Pixels that are product (alpha above :data:`PRODUCT_ALPHA`), HxW."""
        mask: BoolArray = self.alpha > PRODUCT_ALPHA
        return mask

    @cached_property
    def completeness(self) -> Completeness | None:
        """The completeness measures of the source mask on the evidence (None without
        either)."""
        if self.evidence is None or self.source_alpha is None:
            return None
        if self.source_alpha.shape != self.evidence.photo.shape[:2]:
            return None
        return Completeness(self.source_alpha, self.evidence)

    @cached_property
    def product_box(self) -> Box | None:
        """The bounding box of :attr:`product`, None without one."""
        slices = bounding_box(self.product, 0)
        return None if slices is None else Box.from_slices(slices)

    @cached_property
    def covered_box(self) -> Box | None:
        """The bounding box of every pixel the product covers at all (alpha above 0)."""
        slices = bounding_box(self.alpha > 0, 0)
        return None if slices is None else Box.from_slices(slices)

    def deviation(self, color: Color) -> ImageArray:
        """:func:`color_deviation` of the whole canvas from ``color`` (computed once)."""
        if color not in self._deviations:
            self._deviations[color] = color_deviation(self.rgb, color)
        return self._deviations[color]

    def padded(self, box: Box, pad: int) -> Box:
        """``box`` grown by ``pad`` on every side, clipped to the canvas."""
        return Box(
            max(0, box.x0 - pad),
            max(0, box.y0 - pad),
            min(self.width, box.x1 + pad),
            min(self.height, box.y1 + pad),
        )

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def inner(self) -> Box:
        """The image inside its border (the whole image without one)."""
        left, top, right, bottom = self.border
        return Box(left, top, self.width - right, self.height - bottom)


def color_deviation(rgb: ImageArray, color: Color) -> ImageArray:
    """Per pixel, the largest channel difference from ``color`` in levels (HxW uint8)."""
    # A scalar operand: OpenCV subtracts it per channel without a full-size colour image
    # (filling one costs ten times the difference itself at 2000 px).
    scalar = np.array([color[0], color[1], color[2], 0], dtype=np.float64)
    r, g, b = cv2.split(cv2.absdiff(np.ascontiguousarray(rgb), scalar))
    return np.asarray(cv2.max(cv2.max(r, g), b), dtype=np.uint8)


def near_color(rgb: ImageArray, color: Color, tolerance: int) -> BoolArray:
    """Pixels whose every channel is within ``tolerance`` levels of ``color``."""
    result: BoolArray = color_deviation(rgb, color) <= tolerance
    return result


def detect_border(rgb: ImageArray, color: Color) -> tuple[int, int, int, int]:
    """Widths (left, top, right, bottom) of a uniform frame drawn around the image.

    A side's width is the number of outermost lines whose pixels are nearly all one colour
    that is not the target colour. A frame counts only when all four sides have one and
    none is wider than :data:`MAX_BORDER_SHARE` of its side (a dark photo is not a frame).
    """
    height, width = rgb.shape[:2]
    widths = []
    for side in ("left", "top", "right", "bottom"):

        def lines(i: int, side: str = side) -> ImageArray:
            if side == "left":
                return np.asarray(rgb[:, i])
            if side == "right":
                return np.asarray(rgb[:, width - 1 - i])
            return np.asarray(rgb[i] if side == "top" else rgb[height - 1 - i])

        limit = int((width if side in ("left", "right") else height) * MAX_BORDER_SHARE)
        count = 0
        while count < limit:
            line = lines(count).astype(np.int16)
            median = np.median(line, axis=0)
            if np.abs(median - np.asarray(color)).max() <= NEAR_TARGET:
                break
            uniform = np.abs(line - median).max(axis=1) <= BORDER_TOLERANCE
            if uniform.mean() < BORDER_UNIFORM:
                break
            count += 1
        if count == 0 or count >= limit:
            return (0, 0, 0, 0)
        widths.append(count)
    return (widths[0], widths[1], widths[2], widths[3])


def background_mask(rgb: ImageArray, color: Color, inner: Box) -> tuple[BoolArray, float]:
    """Pixels near ``color`` connected to the frame of ``inner`` (the background), and the
    share of that frame which is near ``color``."""
    near = np.zeros(rgb.shape[:2], dtype=bool)
    near[inner.slices] = near_color(rgb[inner.slices], color, NEAR_TARGET)
    count, labels = cv2.connectedComponents(near.astype(np.uint8), connectivity=4)
    sub = labels[inner.slices]
    frame = np.concatenate([sub[0], sub[-1], sub[:, 0], sub[:, -1]])
    share = float(np.count_nonzero(frame)) / max(frame.size, 1)
    keep = np.zeros(count, dtype=bool)
    keep[np.unique(frame)] = True
    keep[0] = False
    result: BoolArray = keep[labels]
    return result, share


SOFT_REACH = 0.005
"""How far (share of the long side) a fur or hair edge may fade into the background."""
FADE_DENSE = 0.85
"""Share of the pixels one pixel outside the derived product that must be off the target
colour for its outline to be a soft edge (fur, hair): a fade is continuous. Ringing and
fringes are patchy (0.3-0.6 measured on JPEG ringing, an off-white sweep, a colour
fringe; 0.98+ on soft-alpha fur at quality 92)."""
FADE_END = 0.03
"""Share of off-colour pixels at which the fade has ended."""


def soft_edge(rgb: ImageArray, product: BoolArray, color: Color) -> FloatArray:
    """The derived mask (float32) with a soft outline's fade counted as product.

    A fur or hair edge fading into the background colour is the product, not a halo: the
    pixels next to it are off the colour all along the outline and the fade ends within
    :data:`SOFT_REACH`. Such a fade gets alpha by how far off the colour it is; anything
    else (ringing, a fringe, an off-white backdrop: patchy, or reaching far) stays
    outside the product for the halo and purity checks to see."""
    alpha = product.astype(np.float32)
    reach = max(2, round(SOFT_REACH * max(product.shape)))
    box = bounding_box(product, reach + 1)
    if box is None:
        return alpha
    crop = product[box]
    dist = cv2.distanceTransform((~crop).view(np.uint8), cv2.DIST_L2, 3)
    off = color_deviation(rgb[box], color) >= 4
    width = 0
    for k in range(1, reach + 1):
        ring = (dist > k - 0.5) & (dist <= k + 0.5)
        share = float(np.count_nonzero(off & ring)) / max(int(np.count_nonzero(ring)), 1)
        if k == 1 and share < FADE_DENSE:
            return alpha
        if share <= FADE_END:
            width = k
            break
    if width == 0:  # still off the colour at the reach: a halo, not a fade
        return alpha
    dev = color_deviation(rgb[box], color).astype(np.float32)
    fade = (dist > 0) & (dist <= width) & (dev > 0)
    sub = alpha[box]
    sub[fade] = np.minimum(dev[fade] / NEAR_TARGET, 1.0)
    return alpha


def derive_product_mask(
    rgb: ImageArray, color: Color, border: tuple[int, int, int, int]
) -> tuple[FloatArray, str]:
    """The product's mask (float32 0/1) of an image without alpha, and how it was found:
    ``"background"`` or ``"model"`` (see the module docstring)."""
    height, width = rgb.shape[:2]
    left, top, right, bottom = border
    inner = Box(left, top, width - right, height - bottom)
    background, frame_share = background_mask(rgb, color, inner)
    if frame_share >= MIN_FRAME_SHARE:
        product = np.zeros((height, width), dtype=bool)
        product[inner.slices] = ~background[inner.slices]
        return soft_edge(rgb, product, color), "background"
    # Imported here: the model is loaded only for images that need it.
    from packshot.models.salient import DEFAULT_ENSEMBLE, predict_probability, resolve_ensemble
    from packshot.ops.matte import RefineParams, clean_mask

    prob = predict_probability(rgb[inner.slices], resolve_ensemble(DEFAULT_ENSEMBLE))
    product = np.zeros((height, width), dtype=bool)
    product[inner.slices] = clean_mask(prob, RefineParams())
    return product.astype(np.float32), "model"


def subject_from_image(
    pixels: ImageArray,
    color: Color,
    *,
    file_format: str | None = None,
    file_bytes: int | None = None,
) -> Subject:
    """A :class:`Subject` for any image: its own alpha when it has a meaningful one (the
    canvas pixels then are the image over ``color``), else a derived mask."""
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        alpha8 = pixels[..., 3]
        if alpha8.min() < 255 and alpha8.max() >= 128:
            alpha = alpha8.astype(np.float32) / np.float32(255.0)
            a = alpha[..., None]
            rgb = np.rint(pixels[..., :3] * a + np.asarray(color, np.float32) * (1 - a))
            return Subject(
                rgb.astype(np.uint8),
                alpha,
                "alpha",
                file_format,
                file_bytes,
            )
    rgb = np.ascontiguousarray(pixels[..., :3])
    border = detect_border(rgb, color)
    mask, origin = derive_product_mask(rgb, color, border)
    return Subject(rgb, mask, origin, file_format, file_bytes, border)
