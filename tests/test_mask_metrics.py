"""packshot.ops.mask_metrics: IoU, MAE and boundary IoU on hand-checkable masks."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest

from packshot.ops.mask_metrics import (
    BOUNDARY_BAND_FRAC,
    MatteScore,
    boundary_iou,
    inner_boundary,
    score_matte,
)

BoolArray = npt.NDArray[np.bool_]


def disc(h: int, w: int, cy: float, cx: float, r: float) -> BoolArray:
    yy, xx = np.mgrid[0:h, 0:w]
    result: BoolArray = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    return result


def f32(mask: BoolArray) -> npt.NDArray[np.float32]:
    return mask.astype(np.float32)


# --------------------------------------------------------------------------- IoU / MAE


def test_identical_masks_score_perfectly() -> None:
    mask = disc(120, 160, 60, 80, 35)
    score = score_matte(f32(mask), f32(mask))
    assert score == MatteScore(iou=1.0, mae=0.0, boundary_iou=1.0)


def test_disjoint_masks_score_zero() -> None:
    a = np.zeros((40, 40), bool)
    b = np.zeros((40, 40), bool)
    a[5:15, 5:15] = True
    b[25:35, 25:35] = True
    score = score_matte(f32(a), f32(b))
    assert score.iou == 0.0 and score.boundary_iou == 0.0
    assert score.mae == pytest.approx(200 / 1600)


def test_both_empty_is_a_perfect_match() -> None:
    empty = np.zeros((30, 20), np.float32)
    assert score_matte(empty, empty) == MatteScore(iou=1.0, mae=0.0, boundary_iou=1.0)
    assert boundary_iou(empty > 0, empty > 0) == 1.0


def test_empty_prediction_of_a_real_object_scores_zero() -> None:
    truth = np.zeros((10, 10), np.float32)
    truth[2:5, 2:5] = 1.0
    score = score_matte(np.zeros_like(truth), truth)
    assert score.iou == 0.0 and score.boundary_iou == 0.0
    assert score.mae == pytest.approx(9 / 100)


def test_iou_hand_computed() -> None:
    # pred: 2x2 block; truth: the same rows, one column wider. I = 4, U = 6.
    pred = np.zeros((4, 4), np.float32)
    truth = np.zeros((4, 4), np.float32)
    pred[0:2, 0:2] = 1.0
    truth[0:2, 0:3] = 1.0
    assert score_matte(pred, truth).iou == pytest.approx(4 / 6)
    assert score_matte(truth, pred).iou == pytest.approx(4 / 6)  # symmetric


def test_mae_hand_computed_and_threshold_at_half() -> None:
    alpha = np.array([[0.0, 0.5], [1.0, 0.25]], np.float32)
    truth = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    score = score_matte(alpha, truth)
    assert score.mae == pytest.approx((0.0 + 0.5 + 0.0 + 0.25) / 4)
    # alpha >= 0.5 counts as object: {(0,1), (1,0)} vs truth {(0,1), (1,0)}.
    assert score.iou == 1.0


def test_mae_uses_soft_values_iou_binary_ones() -> None:
    truth = np.zeros((10, 10), np.float32)
    truth[:, :5] = 1.0
    alpha = truth * 0.8  # right decision everywhere, 0.2 short inside
    score = score_matte(alpha, truth)
    assert score.iou == 1.0 and score.boundary_iou == 1.0
    assert score.mae == pytest.approx(0.1)


def test_float64_reference_accepted() -> None:
    truth = np.array([[0.0, 1.0]], np.float64)
    alpha = np.array([[0.0, 0.75]], np.float32)
    assert score_matte(alpha, truth).mae == pytest.approx(0.125)  # type: ignore[arg-type]


def test_mismatched_sizes_rejected() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        score_matte(np.zeros((4, 4), np.float32), np.zeros((4, 5), np.float32))


# --------------------------------------------------------------------------- boundary IoU


def test_inner_boundary_is_the_ring_inside_the_mask() -> None:
    mask = np.zeros((10, 10), bool)
    mask[2:8, 2:8] = True
    ring = inner_boundary(mask, 1)
    expected = mask.copy()
    expected[3:7, 3:7] = False
    np.testing.assert_array_equal(ring, expected)
    wide = inner_boundary(mask, 2)
    expected[3:7, 3:7] = True
    expected[4:6, 4:6] = False
    np.testing.assert_array_equal(wide, expected)
    assert not (inner_boundary(mask, 50) & ~mask).any()


def test_boundary_iou_hand_computed() -> None:
    # 10x10 image: band = max(1, round(0.02 * 14.1)) = 1 px, i.e. each square's outline.
    pred = np.zeros((10, 10), bool)
    truth = np.zeros((10, 10), bool)
    pred[2:6, 2:6] = True  # outline: 12 px
    truth[2:6, 3:7] = True  # outline: 12 px, one column right
    # Shared outline: rows 2 and 5, columns 3..5 -> 6 px; union 12 + 12 - 6 = 18.
    assert boundary_iou(pred, truth) == pytest.approx(6 / 18)


def test_boundary_iou_shift_by_one_pixel_is_high_by_many_is_low() -> None:
    truth = disc(200, 200, 100, 100, 50)
    one = np.roll(truth, 1, axis=1)
    many = np.roll(truth, 10, axis=1)
    assert boundary_iou(one, truth) > 0.75
    assert boundary_iou(many, truth) < 0.2
    # Boundary IoU punishes the edge error far more than region IoU does.
    many_score = score_matte(f32(many), f32(truth))
    assert many_score.iou > 0.75 > 3 * many_score.boundary_iou


def test_boundary_iou_decreases_with_the_shift() -> None:
    truth = disc(200, 200, 100, 100, 50)
    scores = [boundary_iou(np.roll(truth, s, axis=0), truth) for s in (0, 1, 2, 4, 8, 16)]
    assert scores[0] == 1.0
    assert all(a > b for a, b in itertools.pairwise(scores))


def test_boundary_band_scales_with_the_image() -> None:
    # The same shape and shift at twice the resolution (twice the shift) scores the same.
    small = disc(100, 100, 50, 50, 25)
    large = disc(200, 200, 100, 100, 50)
    a = boundary_iou(np.roll(small, 2, axis=1), small)
    b = boundary_iou(np.roll(large, 4, axis=1), large)
    assert a == pytest.approx(b, abs=0.05)
    assert BOUNDARY_BAND_FRAC == 0.02
    # A wider band forgives the same error more.
    assert boundary_iou(np.roll(large, 4, axis=1), large, band_frac=0.08) > b + 0.2


def test_mask_touching_the_image_border() -> None:
    # The image border counts as boundary (as in Cheng et al.'s reference code): a mask
    # that fills the bottom half has a band along its top edge and along the frame.
    mask = np.zeros((100, 100), bool)
    mask[50:] = True
    band = inner_boundary(mask, 3)
    assert band[50:53, 50].all() and not band[53:97, 50].any() and band[97:, 50].all()
    assert band[60:97, 0:3].all() and not band[60:97, 3:97].any()
    assert not (band & ~mask).any()

    assert boundary_iou(mask, mask) == 1.0
    assert score_matte(f32(mask), f32(mask)).iou == 1.0
    # Moved up by 1 px: the top edge's band moves, the frame's band mostly stays.
    moved = np.zeros_like(mask)
    moved[49:] = True
    assert 0.75 < boundary_iou(moved, mask) < 1.0
    assert score_matte(f32(moved), f32(mask)).iou == pytest.approx(50 / 51)


def test_full_frame_masks() -> None:
    full = np.ones((40, 60), bool)
    assert boundary_iou(full, full) == 1.0
    assert inner_boundary(full, 2).sum() == 40 * 60 - 36 * 56
