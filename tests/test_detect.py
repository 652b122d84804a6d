"""Detector post-processing that needs no model: non-maximum suppression."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from packshot.models.detect import nms


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]], float)
    scores = np.array([0.5, 0.9, 0.7, 0.0])
    assert nms(boxes, scores, 0.5) == [1, 2]  # the zero score is no detection
    assert nms(boxes, scores, 0.9) == [1, 2, 0]  # by score
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5) == []


@pytest.mark.skipif(not hasattr(cv2, "dnn"), reason="this OpenCV has no dnn module")
def test_nms_matches_opencv() -> None:
    """The numpy NMS that replaced cv2.dnn.NMSBoxes keeps the same boxes."""
    rng = np.random.default_rng(0)
    for trial in range(50):
        n = int(rng.integers(1, 40))
        xy = rng.uniform(0, 200, (n, 2))
        wh = rng.uniform(5, 80, (n, 2))
        boxes = np.hstack([xy, xy + wh])
        scores = rng.uniform(0.01, 1, n)
        iou = float(rng.uniform(0.2, 0.8))
        xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
        expected = [int(i) for i in np.asarray(cv2.dnn.NMSBoxes(xywh, scores.tolist(), 0.0, iou))]
        assert sorted(nms(boxes, scores, iou)) == sorted(expected), trial
