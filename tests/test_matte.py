"""packshot.ops.matte on small synthetic arrays: discs, rings, straps, shifted priors."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from packshot.ops.mask_metrics import score_matte
from packshot.ops.matte import (
    RefineParams,
    clean_mask,
    close_pinholes,
    composite_on_color,
    edge_band,
    estimate_foreground,
    fill_enclosed_holes,
    guided_filter,
    hysteresis_threshold,
    keep_major_components,
    refine_alpha,
    refine_rgba,
    to_rgba,
    working_shape,
)

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]

RED = np.array([230.0, 20.0, 25.0], np.float32)
GREEN = np.array([30.0, 200.0, 40.0], np.float32)


def disc(h: int, w: int, cy: float, cx: float, r: float) -> BoolArray:
    yy, xx = np.mgrid[0:h, 0:w]
    result: BoolArray = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    return result


def blur(x: FloatArray, sigma: float) -> FloatArray:
    """Gaussian blur: a soft prior, like a model's upsampled 320 px prediction."""
    return np.asarray(cv2.GaussianBlur(x, (0, 0), sigma), np.float32)


def disc_scene(
    h: int = 300, w: int = 300, r: float = 90, seed: int = 0
) -> tuple[ImageArray, BoolArray]:
    """A noisy red disc on a noisy two-way colour gradient; returns (image, true mask)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    background = np.stack([60 + 120 * xx / w, 180 - 60 * yy / h, np.full_like(xx, 200)], -1)
    background += rng.normal(0, 4, background.shape)
    truth = disc(h, w, h / 2, w / 2, r)
    foreground = RED + rng.normal(0, 4, (h, w, 3))
    image = np.where(truth[..., None], foreground, background)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), truth


# --------------------------------------------------------------------------- components


def test_specks_dropped_thin_strap_kept() -> None:
    mask = disc(200, 200, 100, 100, 50)  # ~7850 px body
    strap = np.zeros_like(mask)
    strap[99:101, 150:195] = True  # 2 px wide strap attached to the body's right side
    diagonal = np.zeros_like(mask)
    for i in range(20):  # 1 px diagonal antenna, 8-connected only
        diagonal[60 - i, 130 + i] = True
    specks = np.zeros_like(mask)
    specks[10:14, 10:14] = True  # 16 px
    specks[180:185, 20:25] = True  # 25 px
    mask_in = mask | strap | diagonal | specks

    kept = keep_major_components(mask_in, 0.02)

    assert kept[strap].all()
    assert kept[diagonal].all()
    assert not kept[specks].any()
    assert (kept == (mask | strap | diagonal)).all()
    assert kept.dtype == np.bool_


def test_second_object_of_comparable_size_kept() -> None:
    mask = disc(200, 300, 100, 80, 50) | disc(200, 300, 100, 230, 30)
    kept = keep_major_components(mask, 0.02)
    assert (kept == mask).all()


def test_single_component_returned_as_copy() -> None:
    mask = disc(50, 50, 25, 25, 10)
    kept = keep_major_components(mask, 0.5)
    assert (kept == mask).all() and kept is not mask


# --------------------------------------------------------------------------- holes


def ring_scene() -> tuple[BoolArray, FloatArray, BoolArray]:
    """A ring (a mug handle's opening / a bangle) with one glare speck in its band.

    Returns (mask, probability, speck): the opening is large and confidently background.
    """
    outer = disc(240, 240, 120, 120, 90)
    opening = disc(240, 240, 120, 120, 40)
    speck = np.zeros_like(outer)
    speck[118:122, 180:184] = True  # 16 px, inside the ring's band
    mask = outer & ~opening & ~speck
    prob = np.where(mask, 0.97, 0.02).astype(np.float32)
    return mask, prob, speck


def test_small_enclosed_hole_filled_large_confident_hole_kept_open() -> None:
    mask, prob, speck = ring_scene()
    opening = disc(240, 240, 120, 120, 40)
    filled = fill_enclosed_holes(mask, prob, area_frac=0.002, min_prob=0.25)
    assert filled[speck].all(), "a glare speck inside the object is filled"
    assert not filled[opening].any(), "the ring's opening stays open"
    assert (filled == (mask | speck)).all()


def test_doubted_hole_filled_whatever_its_size() -> None:
    body = disc(200, 200, 100, 100, 80)
    hole = np.zeros_like(body)
    hole[80:120, 80:120] = True  # 1600 px: far above 0.2 % of the object
    mask = body & ~hole
    doubted = np.where(body, 0.95, 0.0).astype(np.float32)
    doubted[hole] = 0.4  # the model half-saw the object there
    confident = doubted.copy()
    confident[hole] = 0.05
    assert fill_enclosed_holes(mask, doubted, 0.002, 0.25)[hole].all()
    assert not fill_enclosed_holes(mask, confident, 0.002, 0.25)[hole].any()


def test_background_touching_the_border_is_never_a_hole() -> None:
    # A "U" open at the top edge: its inside reaches the border, so it is background.
    mask = np.zeros((100, 100), bool)
    mask[20:90, 20:80] = True
    mask[0:70, 40:60] = False
    prob = np.where(mask, 0.9, 0.6).astype(np.float32)  # even a doubted region stays
    filled = fill_enclosed_holes(mask, prob, area_frac=0.5, min_prob=0.25)
    assert (filled == mask).all()


def test_hole_in_an_object_with_no_enclosed_background_is_a_copy() -> None:
    mask = disc(60, 60, 30, 30, 20)
    filled = fill_enclosed_holes(mask, mask.astype(np.float32), 0.1, 0.25)
    assert (filled == mask).all() and filled is not mask


def test_clean_mask_combines_threshold_specks_and_holes() -> None:
    mask, prob, speck = ring_scene()
    prob = prob.copy()
    prob[5:9, 5:9] = 0.8  # a separate confident speck in the corner
    prob[speck] = 0.3  # below threshold, but a tiny enclosed hole
    cleaned = clean_mask(prob, RefineParams())
    assert cleaned[speck].all()
    assert not cleaned[5:9, 5:9].any()
    assert not cleaned[disc(240, 240, 120, 120, 40)].any()
    assert (cleaned == (mask | speck)).all()


def test_clean_mask_of_empty_probability_is_empty() -> None:
    prob = np.full((40, 40), 0.3, np.float32)
    cleaned = clean_mask(prob, RefineParams())
    assert cleaned.shape == prob.shape and not cleaned.any()


# --------------------------------------------------------------------------- guided filter


def two_tone_guide(h: int = 100, w: int = 100, edge: int = 50) -> FloatArray:
    guide = np.empty((h, w, 3), np.float32)
    guide[:, :edge] = [0.1, 0.2, 0.3]
    guide[:, edge:] = [0.9, 0.8, 0.7]
    return guide


def test_guided_filter_preserves_a_constant_input() -> None:
    rng = np.random.default_rng(1)
    guide = rng.random((64, 80, 3), dtype=np.float32)
    src = np.full((64, 80), 0.37, np.float32)
    out = guided_filter(guide, src, radius=4, eps=1e-3)
    assert out.shape == src.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, 0.37, atol=1e-4)


@pytest.mark.parametrize("subsample", [1, 4])
def test_guided_filter_follows_a_step_edge_in_the_guide(subsample: int) -> None:
    guide = two_tone_guide()
    step = np.zeros((100, 100), np.float32)
    step[:, 53:] = 1.0  # the source's edge is 3 px right of the guide's, and blurred
    src = blur(step, 3)
    out = guided_filter(guide, src, radius=8, eps=1e-4, subsample=subsample)

    row_src, row_out = src[50], out[50]
    jumps = np.diff(row_out)
    assert int(np.argmax(jumps)) == 49, "the output's edge is where the guide's edge is"
    assert jumps[49] > 0.5 > np.diff(row_src).max()
    # Flat on each side of the guide's edge: no smooth ramp left.
    assert row_out[:45].max() < 0.05
    assert out.min() >= 0.0 and out.max() <= 1.0


# --------------------------------------------------------------------------- refine


def test_edge_band_sure_inside_and_outside() -> None:
    mask = np.zeros((50, 50), bool)
    mask[10:40, 10:40] = True
    inside, outside = edge_band(mask, 3)
    assert inside[25, 25] and outside[2, 2]
    assert not inside[11, 25] and not outside[8, 25]  # within 3 px of the edge
    assert not (inside & ~mask).any() and not (outside & mask).any()


def test_refine_alpha_exact_outside_the_band_fractional_only_inside() -> None:
    image, truth = disc_scene()
    prior = blur(truth.astype(np.float32), 2)
    params = RefineParams()
    alpha = refine_alpha(image, prior, params)

    assert alpha.shape == truth.shape and alpha.dtype == np.float32
    half_width = max(1, round(params.band_frac * float(np.hypot(*truth.shape))))
    inside, outside = edge_band(clean_mask(prior, params), half_width)
    assert (alpha[inside] == 1.0).all()
    assert (alpha[outside] == 0.0).all()
    fractional = (alpha > 0.0) & (alpha < 1.0)
    assert fractional.any()
    assert not (fractional & (inside | outside)).any()
    # Far corners are exactly transparent, the centre exactly opaque.
    assert alpha[:20, :20].max() == 0.0 and alpha[140:160, 140:160].min() == 1.0


@pytest.mark.parametrize(("shift", "softness"), [(2, 2), (3, 3)])
def test_refine_alpha_snaps_a_shifted_prior_to_the_true_edge(shift: int, softness: int) -> None:
    image, truth = disc_scene()
    # A model prior off by a few px and unsure over about as many (an upsampled 320 px
    # prediction is softer still). The correction is trusted where the model was unsure.
    prior = blur(np.roll(truth, shift, axis=1).astype(np.float32), softness)
    reference = truth.astype(np.float32)
    before = score_matte(prior, reference)

    after = score_matte(refine_alpha(image, prior, RefineParams()), reference)
    assert after.iou > before.iou + 0.01
    assert after.boundary_iou > before.boundary_iou + 0.1

    # With a window as wide as the error the edge lands (nearly) on the true edge; the
    # model's confident pixels are only partly corrected, by design.
    wide = RefineParams(radius_frac=0.03, band_frac=0.03)
    snapped = score_matte(refine_alpha(image, prior, wide), reference)
    assert snapped.iou > 0.99
    assert snapped.boundary_iou > 0.92


def test_refine_alpha_of_an_empty_prediction_is_all_transparent() -> None:
    image, _ = disc_scene(60, 60, 20)
    alpha = refine_alpha(image, np.full((60, 60), 0.1, np.float32), RefineParams())
    assert alpha.dtype == np.float32 and not alpha.any()


def test_refine_alpha_rejects_mismatched_sizes() -> None:
    image, _ = disc_scene(60, 60, 20)
    with pytest.raises(ValueError, match="differ in size"):
        refine_alpha(image, np.zeros((30, 30), np.float32), RefineParams())


def test_refine_alpha_accepts_rgba_images() -> None:
    image, truth = disc_scene(120, 120, 40)
    rgba = np.dstack([image, np.full(truth.shape, 7, np.uint8)])
    prior = truth.astype(np.float32)
    np.testing.assert_array_equal(
        refine_alpha(rgba, prior, RefineParams()), refine_alpha(image, prior, RefineParams())
    )


def half_alpha_ring(width: int) -> tuple[ImageArray, FloatArray]:
    """A red disc whose edge is a ``width`` px ring at alpha 0.5 over a green background."""
    r = np.hypot(*np.mgrid[-100:100, -100:100])
    alpha = np.where(r < 60, 1.0, np.where(r < 60 + width, 0.5, 0.0)).astype(np.float32)
    a = alpha[..., None]
    image = np.clip(np.rint(a * RED + (1 - a) * GREEN), 0, 255).astype(np.uint8)
    return image, alpha


def test_estimate_foreground_removes_the_old_background_colour() -> None:
    image, alpha = half_alpha_ring(3)
    fg = estimate_foreground(image, alpha)
    ring = alpha == 0.5
    blended = image[ring].astype(float).mean(axis=0)  # ~ (130, 110, 32): half green
    estimated = fg[ring].astype(float)
    assert blended[1] > 100
    assert estimated[:, 1].max() < 60, "green from the background is gone"
    assert estimated[:, 0].min() > 190, "the object's red is recovered"
    assert (estimated[:, 0] > 3 * estimated[:, 1]).all()


def test_estimate_foreground_keeps_opaque_pixels_and_zeroes_transparent_ones() -> None:
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    alpha = np.zeros((120, 160), np.float32)
    alpha[30:90, 40:120] = 1.0
    alpha[28:30, 40:120] = 0.5
    alpha[90:93, 40:120] = np.linspace(0.8, 0.2, 3, dtype=np.float32)[:, None]
    fg = estimate_foreground(image, alpha)
    assert fg.shape == image.shape and fg.dtype == np.uint8
    opaque = alpha == 1.0
    np.testing.assert_array_equal(fg[opaque], image[opaque])
    assert not fg[alpha == 0.0].any()


def test_estimate_foreground_with_a_binary_alpha_is_just_the_masked_image() -> None:
    image, truth = disc_scene(80, 80, 25)
    rgba_image = np.dstack([image, np.zeros(truth.shape, np.uint8)])
    fg = estimate_foreground(rgba_image, truth.astype(np.float32))
    np.testing.assert_array_equal(fg, np.where(truth[..., None], image, 0))


# --------------------------------------------------------------------------- RGBA output


def test_to_rgba_rounds_and_clips_alpha() -> None:
    fg = np.full((1, 5, 3), 9, np.uint8)
    alpha = np.array([[-0.2, 0.0, 0.5, 1.0, 1.3]], np.float32)
    rgba = to_rgba(fg, alpha)
    assert rgba.shape == (1, 5, 4) and rgba.dtype == np.uint8
    assert rgba[0, :, 3].tolist() == [0, 0, 128, 255, 255]
    assert (rgba[..., :3] == 9).all()


def test_composite_on_color_exact_at_both_ends() -> None:
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (32, 32, 4), dtype=np.uint8)
    rgba[:16, :, 3] = 0
    rgba[16:, :, 3] = 255
    out = composite_on_color(rgba, (255, 255, 255))
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert (out[:16] == 255).all(), "alpha 0 gives exactly the colour"
    np.testing.assert_array_equal(out[16:], rgba[16:, :, :3])
    assert (composite_on_color(rgba, (12, 34, 56))[:16] == [12, 34, 56]).all()


def test_composite_on_color_blends_half_alpha() -> None:
    rgba = np.array([[[200, 0, 100, 128]]], np.uint8)
    out = composite_on_color(rgba, (0, 255, 100))
    expected = np.rint(np.array([200, 0, 100]) * 128 / 255 + np.array([0, 255, 100]) * 127 / 255)
    assert out[0, 0].tolist() == expected.astype(int).tolist()


def test_decontaminated_cutout_has_no_green_fringe_on_white() -> None:
    """End to end on arrays: estimated colours leave less green than the raw photo."""
    image, alpha = half_alpha_ring(3)
    ring = alpha == 0.5
    naive = composite_on_color(to_rgba(image, alpha), (255, 255, 255))
    clean = composite_on_color(to_rgba(estimate_foreground(image, alpha), alpha), (255, 255, 255))

    def greenness(rgb: ImageArray) -> float:
        px = rgb[ring].astype(float)
        return float((px[:, 1] - px[:, 2]).mean())

    assert greenness(clean) < greenness(naive) - 30


def test_hysteresis_keeps_weak_parts_only_when_attached() -> None:
    prob = np.zeros((60, 80), np.float32)
    prob[10:50, 10:40] = 0.9  # the body
    prob[28:31, 40:75] = 0.45  # a thin strap the model half-saw, attached to the body
    prob[5:10, 60:70] = 0.45  # a weak blob on its own: background
    mask = hysteresis_threshold(prob, 0.5, 0.4)
    assert mask[29, 70] and mask[30, 20]
    assert not mask[7, 65]
    assert clean_mask(prob, RefineParams())[29, 70]
    assert not clean_mask(prob, RefineParams(low_threshold=0.5))[29, 70]


def test_pinholes_refinement_opened_are_closed_holes_the_mask_had_stay_open() -> None:
    mask, _, _ = ring_scene()  # a ring: its opening is a hole of the mask itself
    alpha = mask.astype(np.float32)
    alpha[60, 120] = 0.2  # a pinhole opened inside the solid ring
    alpha[120, 80:85] = 0.3  # the opening's edge moved outward a little (touches the hole)
    closed = close_pinholes(alpha, mask, max_frac=1e-3)
    assert closed[60, 120] == 1.0
    np.testing.assert_array_equal(closed[120, 80:85], alpha[120, 80:85])
    assert (closed[disc(240, 240, 120, 120, 40)] < 0.5).all(), "the ring's opening stays open"
    # A hole above the size limit is kept: it may be real.
    big = mask.astype(np.float32)
    big[55:65, 115:125] = 0.0
    np.testing.assert_array_equal(close_pinholes(big, mask, max_frac=1e-4), big)


def _disc_scene(height: int, width: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """A red disc on a blue-grey backdrop with some texture, and its true mask."""
    yy, xx = np.mgrid[0:height, 0:width]
    truth = (yy - height * 0.5) ** 2 + (xx - width * 0.45) ** 2 < (0.35 * min(height, width)) ** 2
    rng = np.random.default_rng(7)
    rgb = np.where(truth[..., None], [200, 40, 40], [90, 110, 140]).astype(np.int16)
    rgb += rng.integers(-8, 9, size=rgb.shape, dtype=np.int16)
    return np.clip(rgb, 0, 255).astype(np.uint8), truth


def _coarse_prob(truth: npt.NDArray[np.bool_], shape: tuple[int, int]) -> FloatArray:
    """What a 320 px network gives, upsampled to ``shape``."""
    small = cv2.resize(truth.astype(np.float32), (320, 320), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.5)
    return np.asarray(cv2.resize(small, (shape[1], shape[0])), np.float32)


def test_refine_rgba_in_one_strip_is_the_whole_image_refinement() -> None:
    rgb, truth = _disc_scene(300, 400)
    prob = _coarse_prob(truth, truth.shape)
    params = RefineParams()
    alpha = refine_alpha(rgb, prob, params)
    rgba = refine_rgba(rgb, prob, params)
    np.testing.assert_array_equal(rgba[..., 3], to_rgba(rgb, alpha)[..., 3])
    opaque = rgba[..., 3] == 255
    np.testing.assert_array_equal(rgba[..., :3][opaque], rgb[opaque])
    plain = refine_rgba(rgb, prob, params, decontaminate=False)
    np.testing.assert_array_equal(plain[..., :3], rgb)


def test_refine_rgba_strips_and_working_grid_keep_quality_and_bound_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tracemalloc

    from packshot.ops import matte

    rgb, truth = _disc_scene(1500, 2000)
    params = RefineParams()
    full_prob = _coarse_prob(truth, truth.shape)
    tracemalloc.start()
    reference = to_rgba(
        estimate_foreground(rgb, refine_alpha(rgb, full_prob, params)),
        refine_alpha(rgb, full_prob, params),
    )
    whole_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    monkeypatch.setattr(matte, "STRIP_PIXELS", 150_000)
    monkeypatch.setattr(matte, "WORK_PIXELS", 300_000)
    work = working_shape(*truth.shape)
    assert work[0] * work[1] <= 300_000 and abs(work[1] / work[0] - 4 / 3) < 0.01
    prob = _coarse_prob(truth, work)
    tracemalloc.start()
    rgba = refine_rgba(rgb, prob, params)
    strip_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    pixels = truth.size
    # The output (4 bytes a pixel) is the only full-size array beside one-byte masks; the
    # rest is strips (here 5 % of the photo each).
    assert strip_peak < 12 * pixels, strip_peak / pixels
    assert whole_peak > 50 * pixels, whole_peak / pixels
    ours = score_matte(rgba[..., 3].astype(np.float32) / 255.0, truth.astype(np.float32))
    theirs = score_matte(reference[..., 3].astype(np.float32) / 255.0, truth.astype(np.float32))
    assert ours.iou >= theirs.iou - 0.002 and ours.boundary_iou >= theirs.boundary_iou - 0.01
    # The colour of edge pixels is estimated in every strip: none is left black.
    edge = (rgba[..., 3] > 0) & (rgba[..., 3] < 255)
    assert edge.any() and rgba[..., :3][edge].max(axis=-1).min() > 30
