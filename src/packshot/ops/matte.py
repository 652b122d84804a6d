"""Alpha matte operations at full resolution: clean, refine, decontaminate.

Salient-object models predict at 320 or 1024 px. Upsampling that probability map gives
soft, wobbly edges and leaves the old background's colour in every semi-transparent pixel.
These pure functions turn a coarse probability map into a production matte:

* ``clean_mask``: drop disconnected specks, fill holes the model left inside solid objects;
* ``refine_alpha``: snap the matte's edge to the photo's edges with an edge-aware
  (guided) filter inside a narrow band, keep it exactly 0 / 1 outside the band;
* ``estimate_foreground``: recover the object's own colour in semi-transparent pixels so
  no fringe of the old background survives compositing (blur-fusion estimation).

All functions take ``float32`` alpha/probability maps in 0..1 and ``uint8`` RGB images;
lengths are in pixels unless named ``*_frac`` (a share of the image's long side or
diagonal, so behaviour does not change with resolution).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
ImageArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class RefineParams:
    """Parameters of :func:`refine_alpha`; defaults measured on the dev set (benchmarks/cutout.py).

    Attributes:
        radius_frac: guided-filter window radius as a share of the long side.
        eps: guided-filter regularisation (larger = smoother, follows image edges less).
        band_frac: half-width of the band around the edge where alpha may be fractional,
            as a share of the image diagonal; outside it alpha is exactly 0 or 1.
        min_component_frac: connected parts smaller than this share of the largest part are
            dropped as specks.
        hole_area_frac: enclosed holes smaller than this share of the object's area are filled.
        hole_min_prob: enclosed holes whose mean model probability is above this are filled
            whatever their size (the model half-saw the object there).
        low_threshold: pixels above this probability that touch the confident (>= 0.5)
            object are object too (hysteresis).
        edge_gain: steepness applied to the alpha ramp around 0.5 (1 = as predicted).
        pinhole_frac: enclosed holes up to this share of the object's area that the
            refinement opened where the cleaned mask was solid are closed again.
    """

    radius_frac: float = 0.005
    eps: float = 1e-4
    band_frac: float = 0.01
    min_component_frac: float = 0.02
    hole_area_frac: float = 0.002
    hole_min_prob: float = 0.25
    low_threshold: float = 0.4
    edge_gain: float = 2.0
    pinhole_frac: float = 1e-5


def keep_major_components(mask: BoolArray, min_frac: float) -> BoolArray:
    """Drop 8-connected parts smaller than ``min_frac`` of the largest part.

    Thin parts attached to the object (straps, handles, antennae) belong to its component
    and are kept; only separate specks go.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    if count <= 2:
        return mask.copy()
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, dtype=bool)
    keep[1:] = areas >= min_frac * areas.max()
    result: BoolArray = keep[labels]
    return result


def fill_enclosed_holes(
    mask: BoolArray, prob: FloatArray, area_frac: float, min_prob: float
) -> BoolArray:
    """Fill background regions enclosed by the object that are tiny or that the model doubted.

    A mug handle's opening is large and confidently background, so it stays open; a
    speck of glare the model dropped inside a bottle is small, so it is filled.
    """
    background = (~mask).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(background, connectivity=4)
    if count <= 1:
        return mask.copy()
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    enclosed = np.ones(count, dtype=bool)
    enclosed[0] = False
    enclosed[edge_labels] = False
    if not enclosed.any():
        return mask.copy()
    sums = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=count)
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    mean_prob = sums / np.maximum(areas, 1.0)
    object_area = float(mask.sum())
    fill = enclosed & ((areas < area_frac * object_area) | (mean_prob > min_prob))
    result: BoolArray = mask | fill[labels]
    return result


def hysteresis_threshold(prob: FloatArray, high: float, low: float) -> BoolArray:
    """Pixels above ``high``, plus those above ``low`` connected to them.

    Thin parts (straps, stems) come out of a 320 px model with lower probability than the
    body they hang from; connected to the body, they are kept.
    """
    strong = prob >= high
    count, labels = cv2.connectedComponents((prob >= low).astype(np.uint8), connectivity=8)
    keep = np.zeros(count, dtype=bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    result: BoolArray = keep[labels]
    return result


def clean_mask(prob: FloatArray, params: RefineParams) -> BoolArray:
    """Binary object mask from a probability map: hysteresis threshold, no specks, no stray
    holes."""
    mask = hysteresis_threshold(prob, 0.5, params.low_threshold)
    if not mask.any():
        return mask
    mask = keep_major_components(mask, params.min_component_frac)
    return fill_enclosed_holes(mask, prob, params.hole_area_frac, params.hole_min_prob)


def _box(x: FloatArray, radius: int) -> FloatArray:
    size = 2 * radius + 1
    out = cv2.boxFilter(x, -1, (size, size), borderType=cv2.BORDER_REFLECT)
    return np.asarray(out, dtype=np.float32)


def _subsampled(
    height: int, width: int, radius: int, subsample: int
) -> tuple[tuple[int, int], int]:
    """(width, height) and radius of the reduced grid the fast guided filter works on."""
    step = max(1, min(subsample, radius))
    return (max(1, width // step), max(1, height // step)), max(1, radius // step)


def box_smooth(src: FloatArray, radius: int, subsample: int = 4) -> FloatArray:
    """What :func:`guided_filter` returns for a flat guide: the same two box passes on the
    same reduced grid, so the two can be subtracted to isolate the edge-aware part."""
    height, width = src.shape
    small, r = _subsampled(height, width, radius, subsample)
    src_s = np.asarray(cv2.resize(src, small, interpolation=cv2.INTER_AREA), np.float32)
    smooth = _box(_box(src_s, r), r)
    return np.asarray(cv2.resize(smooth, (width, height)), np.float32)


def guided_filter(
    guide: FloatArray, src: FloatArray, radius: int, eps: float, subsample: int = 4
) -> FloatArray:
    """Colour guided filter (He, Sun, Tang, TPAMI 2013), fast variant (He & Sun 2015).

    ``guide`` is HxWx3 float32 in 0..1, ``src`` HxW float32. The linear coefficients are
    solved at 1/``subsample`` resolution and applied at full resolution, so the output
    follows full-resolution edges at a fraction of the cost.
    """
    height, width = src.shape
    small, r = _subsampled(height, width, radius, subsample)
    guide_s = np.asarray(cv2.resize(guide, small, interpolation=cv2.INTER_AREA), np.float32)
    src_s = np.asarray(cv2.resize(src, small, interpolation=cv2.INTER_AREA), np.float32)
    mean_i = _box(guide_s, r)
    mean_p = _box(src_s, r)
    cov_ip = _box(guide_s * src_s[..., None], r) - mean_i * mean_p[..., None]
    var = np.empty((*src_s.shape, 3, 3), dtype=np.float32)
    for i in range(3):
        for j in range(i, 3):
            v = _box(guide_s[..., i] * guide_s[..., j], r) - mean_i[..., i] * mean_i[..., j]
            var[..., i, j] = v
            var[..., j, i] = v
    var += np.float32(eps) * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(var, cov_ip[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(axis=-1)
    a_full = np.asarray(cv2.resize(_box(a.astype(np.float32), r), (width, height)), np.float32)
    b_full = np.asarray(cv2.resize(_box(b.astype(np.float32), r), (width, height)), np.float32)
    out: FloatArray = (a_full * guide).sum(axis=-1) + b_full
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def edge_band(mask: BoolArray, half_width: int) -> tuple[BoolArray, BoolArray]:
    """Pixels surely inside and surely outside ``mask``: more than ``half_width`` from its edge."""
    m = mask.astype(np.uint8)
    # A distance transform costs the same for any width; erosion with a large disc does not.
    to_outside = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    to_inside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 3)
    return to_outside > half_width, to_inside > half_width


def refine_alpha(image: ImageArray, prob: FloatArray, params: RefineParams) -> FloatArray:
    """Full-resolution alpha from a probability map already resized to ``image``'s size.

    The cleaned mask decides what is object. Within a band of ``band_frac`` around its
    edge, the edge is moved to where the photo's edge runs: the guided filter's output
    minus a plain blur of the same radius is the edge-aware correction, added to the
    model's soft edge, weighted by how unsure the model was. Where the photo has no edge
    (low contrast) the correction vanishes and the model's edge stays put, instead of
    being smoothed inward as a bare guided filter would. Outside the band alpha is
    exactly 0 or 1, so backgrounds come out clean.
    """
    height, width = prob.shape
    if image.shape[:2] != (height, width):
        raise ValueError(f"image {image.shape[:2]} and probability {prob.shape} differ in size")
    mask = clean_mask(prob, params)
    alpha: FloatArray = np.zeros_like(prob, dtype=np.float32)
    radius = max(2, round(params.radius_frac * max(height, width)))
    half_width = max(1, round(params.band_frac * float(np.hypot(height, width))))
    # Everything beyond the band is exactly 0, so the work is done on the object's box
    # only, padded so that no filter window reaching the band crosses the crop's edge.
    box = bounding_box(mask, half_width + 2 * radius + 2)
    if box is None:
        return alpha
    alpha[box] = _refine_crop(image[box], prob[box], mask[box], radius, half_width, params)
    return alpha


def _refine_crop(
    image: ImageArray,
    prob_c: FloatArray,
    mask_c: BoolArray,
    radius: int,
    half_width: int,
    params: RefineParams,
) -> FloatArray:
    """:func:`refine_alpha`'s work on one crop whose filter windows stay inside it."""
    if mask_c.all() or not mask_c.any():
        # No edge in the crop: the band cannot reach it (callers pad crops by the band).
        return mask_c.astype(np.float32)
    # Keep the model's soft edge but make it agree with the cleaned decision on every pixel.
    prior = np.where(mask_c, np.maximum(prob_c, 0.5), np.minimum(prob_c, 0.499))
    prior = prior.astype(np.float32)
    guide = image[..., :3].astype(np.float32) / 255.0
    correction = guided_filter(guide, prior, radius, params.eps) - box_smooth(prior, radius)
    # Trust the correction where the model was unsure (prior near 0.5), not where it was
    # sure: a label's edge just inside a bottle must not carve a line into its alpha.
    trust = np.clip(8.0 * prior * (1.0 - prior), 0.0, 1.0)
    # The ramp of a 320 px prediction upsampled to the photo is several times wider than a
    # solid object's real edge: steepen it around 0.5 (where the edge is, which stays put).
    edge = (prior + trust * correction - 0.5) * params.edge_gain + 0.5
    alpha_c = np.clip(edge, 0.0, 1.0).astype(np.float32)
    inside, outside = edge_band(mask_c, half_width)
    alpha_c[inside] = 1.0
    alpha_c[outside] = 0.0
    return close_pinholes(alpha_c, mask_c, params.pinhole_frac)


def close_pinholes(alpha: FloatArray, mask: BoolArray, max_frac: float) -> FloatArray:
    """``alpha`` with the small enclosed holes (alpha < 0.5) that lie wholly inside ``mask``
    set opaque.

    The guided filter follows dark lines (trim, seams) near a solid object's edge and can
    open pixel-sized holes there; each costs boundary accuracy and shows as a speck of
    backdrop. Holes the cleaned mask already had (a handle's opening) touch pixels outside
    ``mask`` and stay.
    """
    clear = alpha < 0.5
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        clear.astype(np.uint8), connectivity=4
    )
    if count <= 1:
        return alpha
    close = stats[:, cv2.CC_STAT_AREA] <= max_frac * float(np.count_nonzero(mask))
    close[0] = False
    close[np.unique(labels[clear & ~mask])] = False
    edge_labels = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    close[np.unique(edge_labels)] = False
    if not close.any():
        return alpha
    out = alpha.copy()
    out[close[labels]] = 1.0
    return out


def _blur(x: FloatArray, radius: int) -> FloatArray:
    size = 2 * radius + 1
    return np.asarray(cv2.blur(x, (size, size), borderType=cv2.BORDER_REFLECT), np.float32)


def _blur_fusion_means(
    fg: FloatArray, bg: FloatArray, alpha: FloatArray, radius: int
) -> tuple[FloatArray, FloatArray]:
    """Local alpha-weighted means of foreground and background colours."""
    a = alpha[..., None]
    blurred_a = _blur(alpha, radius)[..., None]
    mean_fg = _blur(fg * a, radius) / (blurred_a + 1e-5)
    mean_bg = _blur(bg * (1.0 - a), radius) / ((1.0 - blurred_a) + 1e-5)
    return mean_fg.astype(np.float32), mean_bg.astype(np.float32)


def _solve_foreground(
    image: FloatArray, alpha: FloatArray, mean_fg: FloatArray, mean_bg: FloatArray
) -> FloatArray:
    a = alpha[..., None]
    fg: FloatArray = mean_fg + a * (image - a * mean_fg - (1.0 - a) * mean_bg)
    return np.clip(fg, 0.0, 1.0).astype(np.float32)


def bounding_box(mask: BoolArray, pad: int) -> tuple[slice, slice] | None:
    """(rows, columns) slices of ``mask``'s True pixels grown by ``pad``, clipped to the
    array; None when nothing is True."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (
        slice(max(0, int(rows[0]) - pad), min(h, int(rows[-1]) + pad + 1)),
        slice(max(0, int(cols[0]) - pad), min(w, int(cols[-1]) + pad + 1)),
    )


def estimate_foreground(
    image: ImageArray, alpha: FloatArray, radius_frac: float = 0.04
) -> ImageArray:
    """Object colours with the old background removed from semi-transparent pixels.

    Blur-fusion estimation (Forte & Pitié, "Approximate Fast Foreground Colour Estimation",
    ICIP 2021): a coarse pass with a large window and a fine pass with a small one, each
    solving the compositing equation I = aF + (1-a)B with local means of F and B. Opaque
    pixels keep exactly their photo colour; fully transparent ones are set to 0.

    The coarse means are smooth by construction, so they are computed at reduced
    resolution; the fine pass runs only around the semi-transparent pixels.
    """
    out = np.zeros((*alpha.shape, 3), dtype=np.uint8)
    opaque = alpha >= 1.0
    out[opaque] = image[..., :3][opaque]
    partial = (alpha > 0.0) & ~opaque
    long_side = max(alpha.shape)
    coarse = max(3, round(radius_frac * long_side))
    fine = max(1, round(coarse / 15))
    box = bounding_box(partial, 2 * coarse)
    if box is None:
        return out
    rgb = image[box][..., :3].astype(np.float32) / 255.0
    a = np.ascontiguousarray(alpha[box], dtype=np.float32)
    h, w = a.shape
    step = max(1, coarse // 8)
    small = (max(1, w // step), max(1, h // step))
    rgb_s = np.asarray(cv2.resize(rgb, small, interpolation=cv2.INTER_AREA), np.float32)
    a_s = np.asarray(cv2.resize(a, small, interpolation=cv2.INTER_AREA), np.float32)
    mean_fg_s, mean_bg_s = _blur_fusion_means(rgb_s, rgb_s, a_s, max(1, coarse // step))
    mean_fg = np.asarray(cv2.resize(mean_fg_s, (w, h)), np.float32)
    mean_bg = np.asarray(cv2.resize(mean_bg_s, (w, h)), np.float32)
    fg = _solve_foreground(rgb, a, mean_fg, mean_bg)
    mean_fg, _ = _blur_fusion_means(fg, mean_bg, a, fine)
    fg = _solve_foreground(rgb, a, mean_fg, mean_bg)
    region = out[box]
    inner = partial[box]
    region[inner] = np.rint(fg[inner] * 255.0).astype(np.uint8)
    return out


def to_rgba(foreground: ImageArray, alpha: FloatArray) -> ImageArray:
    """Stack RGB and a 0..1 alpha into straight-alpha uint8 RGBA."""
    a8 = np.rint(np.clip(alpha, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.dstack([foreground[..., :3], a8])


def composite_on_color(rgba: ImageArray, color: tuple[int, int, int]) -> ImageArray:
    """Straight-alpha RGBA over a flat colour, rounded to uint8 RGB."""
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    fg = rgba[..., :3].astype(np.float32)
    bg = np.asarray(color, dtype=np.float32)
    mixed: FloatArray = fg * a + bg * (1.0 - a)
    return np.rint(mixed).astype(np.uint8)


# Full-resolution work is done in horizontal strips of at most this many pixels (margins
# included), so the float temporaries of refinement and colour estimation (~100 bytes a
# pixel) are bounded by a strip, not by the photo: a 100 MP photo needed 10.6 GB before.
STRIP_PIXELS = 2_000_000
# Decisions about what is object (hysteresis, specks, holes) are taken on the model's
# upsampled probability at no more than this many pixels: it comes from a 320 px network,
# so a finer grid adds no information, only memory (labels are 4 bytes a pixel).
WORK_PIXELS = 4_000_000


def working_shape(height: int, width: int) -> tuple[int, int]:
    """The (H, W) at which a photo's probability map is kept and its mask decided."""
    if height * width <= WORK_PIXELS:
        return height, width
    scale = float(np.sqrt(WORK_PIXELS / (height * width)))
    return max(1, round(height * scale)), max(1, round(width * scale))


def upsample(prob: FloatArray, height: int, width: int) -> FloatArray:
    """A working-grid map at ``height x width`` (bilinear)."""
    return _upsample_rows(prob, (height, width), slice(0, height))


def _upsample_rows(small: FloatArray, full_hw: tuple[int, int], rows: slice) -> FloatArray:
    """Rows ``rows`` of ``cv2.resize(small, full size)`` (bilinear), made without the rest."""
    height, width = full_hw
    sh, sw = small.shape[:2]
    if (sh, sw) == (height, width):
        return np.asarray(small[rows], np.float32)
    start = rows.start or 0
    count = (rows.stop if rows.stop is not None else height) - start
    fy, fx = sh / height, sw / width
    # cv2.resize's own mapping (pixel centres), shifted to the first row wanted.
    matrix = np.array(
        [[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, (start + 0.5) * fy - 0.5]], dtype=np.float32
    )
    out = cv2.warpAffine(
        np.ascontiguousarray(small, np.float32),
        matrix,
        (width, count),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.asarray(out, np.float32)


def _strips(rows: slice, width: int, margin: int) -> list[tuple[slice, slice]]:
    """(inner rows, rows with margin within ``rows``) covering ``rows``."""
    start, stop = int(rows.start), int(rows.stop)
    step = max(1, STRIP_PIXELS // max(1, width) - 2 * margin)
    out = []
    for a in range(start, stop, step):
        b = min(stop, a + step)
        out.append((slice(a, b), slice(max(start, a - margin), min(stop, b + margin))))
    return out


def refine_rgba(
    image: ImageArray, prob: FloatArray, params: RefineParams, *, decontaminate: bool = True
) -> ImageArray:
    """Straight-alpha RGBA at ``image``'s resolution from a probability map at
    :func:`working_shape` (or at the image's own size): :func:`refine_alpha` and
    :func:`estimate_foreground` done strip by strip, so peak memory grows with the strip
    and the edge band, not with the photo's pixels.

    Strips without an edge are filled without filtering; a photo of at most
    ``STRIP_PIXELS`` in its object's box is one strip and comes out as the whole-image
    functions make it.
    """
    height, width = image.shape[:2]
    mask_w = clean_mask(prob, params)
    out = np.zeros((height, width, 4), np.uint8)
    alpha8 = out[..., 3]
    radius = max(2, round(params.radius_frac * max(height, width)))
    half_width = max(1, round(params.band_frac * float(np.hypot(height, width))))
    pad = half_width + 2 * radius + 2
    box_w = bounding_box(mask_w, 0)
    if box_w is not None:
        sy, sx = height / mask_w.shape[0], width / mask_w.shape[1]
        y0 = max(0, int(box_w[0].start * sy) - pad)
        y1 = min(height, int(np.ceil(box_w[0].stop * sy)) + pad)
        x0 = max(0, int(box_w[1].start * sx) - pad)
        x1 = min(width, int(np.ceil(box_w[1].stop * sx)) + pad)
        mask_f = mask_w.astype(np.float32)
        for inner, outer in _strips(slice(y0, y1), x1 - x0, pad):
            cols = slice(x0, x1)
            prob_c = _upsample_rows(prob, (height, width), outer)[:, cols]
            if mask_w.shape == (height, width):
                mask_c = mask_w[outer, cols]
            else:
                mask_c = _upsample_rows(mask_f, (height, width), outer)[:, cols] >= 0.5
            alpha_c = _refine_crop(image[outer, cols], prob_c, mask_c, radius, half_width, params)
            keep = slice(inner.start - outer.start, inner.stop - outer.start)
            alpha8[inner, cols] = np.rint(alpha_c[keep] * 255.0).astype(np.uint8)
    if not decontaminate:
        out[..., :3] = image[..., :3]
        return out
    _foreground_into(out, image)
    return out


def _foreground_into(out: ImageArray, image: ImageArray, radius_frac: float = 0.04) -> None:
    """:func:`estimate_foreground` strip by strip, into ``out``'s colour channels from its
    alpha: the coarse means on a reduced grid of the whole edge box, the fine pass per
    strip."""
    alpha8 = out[..., 3]
    # In place and with one-byte masks: no full-size copy of the photo is made.
    np.copyto(out[..., :3], image[..., :3], where=(alpha8 == 255)[..., None])
    height, width = alpha8.shape
    coarse = max(3, round(radius_frac * max(height, width)))
    fine = max(1, round(coarse / 15))
    box = bounding_box(cv2.inRange(alpha8, 1, 254) > 0, 2 * coarse)
    if box is None:
        return
    rgb8, a8 = image[box][..., :3], alpha8[box]
    h, w = a8.shape
    step = max(1, coarse // 8)
    small = (max(1, w // step), max(1, h // step))
    rgb_s: FloatArray = np.asarray(
        cv2.resize(rgb8, small, interpolation=cv2.INTER_AREA), np.float32
    )
    rgb_s /= np.float32(255.0)
    a_s: FloatArray = np.asarray(cv2.resize(a8, small, interpolation=cv2.INTER_AREA), np.float32)
    a_s /= np.float32(255.0)
    mean_fg_s, mean_bg_s = _blur_fusion_means(rgb_s, rgb_s, a_s, max(1, coarse // step))
    margin = 2 * fine + 2
    for inner, outer in _strips(slice(0, h), w, margin):
        a = a8[outer].astype(np.float32) / 255.0
        partial = (a > 0.0) & (a < 1.0)
        keep = slice(inner.start - outer.start, inner.stop - outer.start)
        if not partial[keep].any():
            continue
        rgb = rgb8[outer].astype(np.float32) / 255.0
        mean_fg = _upsample_rows(mean_fg_s, (h, w), outer)
        mean_bg = _upsample_rows(mean_bg_s, (h, w), outer)
        fg = _solve_foreground(rgb, a, mean_fg, mean_bg)
        mean_fg, _ = _blur_fusion_means(fg, mean_bg, a, fine)
        fg = _solve_foreground(rgb, a, mean_fg, mean_bg)
        rows = slice(box[0].start + inner.start, box[0].start + inner.stop)
        region = out[rows, box[1], :3]
        sel = partial[keep]
        region[sel] = np.rint(fg[keep][sel] * 255.0).astype(np.uint8)
