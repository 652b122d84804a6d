"""The measures the gate's checks share: computed once per subject, equal to the plain
definitions they replace."""

from __future__ import annotations

import numpy as np

from packshot.sentinel.checks import _pinholes, mask_confidence
from packshot.sentinel.subject import Subject, color_deviation


def test_colour_deviation_is_the_largest_channel_difference() -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for color in ((255, 255, 255), (250, 12, 128), (0, 0, 0)):
        expected = np.abs(rgb.astype(int) - np.asarray(color)).max(axis=2)
        assert np.array_equal(color_deviation(rgb, color), expected)
        # A view (a crop) gives the same as a copy.
        assert np.array_equal(color_deviation(rgb[5:30, 7:40], color), expected[5:30, 7:40])


def test_subject_caches_its_masks_and_boxes() -> None:
    alpha = np.zeros((60, 80), np.float32)
    alpha[10:40, 20:50] = 1.0
    alpha[9, 20:50] = 0.3  # soft edge: covered, not product
    subject = Subject(np.full((60, 80, 3), 255, np.uint8), alpha)
    assert subject.product is subject.product
    box, covered = subject.product_box, subject.covered_box
    assert box is not None and (box.x0, box.y0, box.x1, box.y1) == (20, 10, 50, 40)
    assert covered is not None and covered.y0 == 9
    assert subject.padded(box, 30).x0 == 0 and subject.padded(box, 30).y1 == 60
    assert subject.deviation((255, 255, 255)) is subject.deviation((255, 255, 255))


def test_pinholes_are_enclosed_small_gaps_only() -> None:
    product = np.zeros((100, 100), bool)
    product[10:90, 10:90] = True
    product[30, 30] = False  # a pinhole
    product[50:52, 60:62] = False  # another, 4 px
    product[20:60, 70:85] = False  # a large enclosed opening (a handle's)
    product[80:90, 40:45] = False  # a notch open to the outside
    assert sorted(_pinholes(product, max_area=100)) == [1, 4]
    assert _pinholes(np.ones((20, 20), bool), max_area=10) == []
    alpha = product.astype(np.float32)
    result = mask_confidence(Subject(np.zeros((100, 100, 3), np.uint8), alpha), max_uncertain=0.2)
    assert "2 pinholes" in result.detail
