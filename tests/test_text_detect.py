"""Text detection (PP-OCR DB detector) on real photos with synthetic price stickers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from packshot.errors import InputError
from packshot.imageio import load_image
from packshot.models.text import TextBox, detect_text, lines_from_probability
from packshot.ops.geometry import Box
from packshot.samples import sample_path


@pytest.fixture(scope="module")
def coffee(model_cache: object) -> np.ndarray:
    return load_image(sample_path("sample-coffee")).pixels[..., :3].copy()


def _with_sticker(rgb: np.ndarray, box: Box, text: str) -> np.ndarray:
    pil = Image.fromarray(rgb)
    draw = ImageDraw.Draw(pil)
    draw.rectangle([box.x0, box.y0, box.x1 - 1, box.y1 - 1], fill=(250, 220, 40))
    font = ImageFont.load_default(size=int(box.height * 0.6))
    draw.text((box.x0 + box.height // 5, box.y0 + box.height // 6), text, (20, 20, 20), font)
    return np.asarray(pil)


def _overlap(a: Box, b: Box) -> float:
    """Share of ``a`` covered by ``b``."""
    w = max(0, min(a.x1, b.x1) - max(a.x0, b.x0))
    h = max(0, min(a.y1, b.y1) - max(a.y0, b.y0))
    return w * h / max(a.width * a.height, 1)


def test_price_sticker_found_where_it_is(coffee: np.ndarray) -> None:
    sticker = Box(420, 30, 600, 90)
    found = detect_text(_with_sticker(coffee, sticker, "$19.99"))
    assert len(found) == 1
    line = found[0]
    assert isinstance(line, TextBox) and line.score >= 0.5
    # The line lies inside the sticker and covers most of its text.
    box = Box(*line.box)
    assert _overlap(box, sticker) > 0.9
    assert box.width > 0.5 * sticker.width
    assert line.polygon.shape == (4, 2)


def test_photo_without_text_has_none(coffee: np.ndarray) -> None:
    # The detector calls this whole textured photo one line; that box is dropped.
    assert detect_text(coffee) == []
    assert len(detect_text(coffee, max_area_share=1.0)) == 1


def test_two_lines_reported_top_to_bottom(coffee: np.ndarray) -> None:
    img = _with_sticker(coffee, Box(40, 300, 260, 360), "SALE")
    img = _with_sticker(img, Box(380, 20, 600, 80), "$5.00")
    found = detect_text(img)
    tops = [round(t.box[1], -2) for t in found]
    assert tops == sorted(tops)
    assert len(found) == 2


def test_post_processing_grows_kernels_back_to_lines() -> None:
    prob = np.zeros((64, 128), np.float32)
    prob[20:30, 10:90] = 0.9  # one shrunk text kernel
    (line,) = lines_from_probability(prob, (128, 256), thresh=0.3, box_thresh=0.5, unclip_ratio=1.6)
    # Mapped to image scale (x2) and grown on every side.
    x0, y0, x1, y1 = line.box
    assert x0 < 20 and x1 > 180
    assert y0 < 40 and y1 > 60
    # Scored on the dilated region's rectangle, as PP-OCR does: a little under the core.
    assert 0.7 < line.score <= 0.9


def test_weak_or_tiny_regions_are_not_text() -> None:
    prob = np.zeros((64, 64), np.float32)
    prob[10:20, 10:40] = 0.4  # above thresh, below box_thresh
    prob[40:41, 5:60] = 0.95  # one pixel thin
    found = lines_from_probability(prob, (64, 64), thresh=0.3, box_thresh=0.5, unclip_ratio=1.6)
    assert found == []


def test_non_image_input_is_refused(model_cache: object) -> None:
    with pytest.raises(InputError, match="expected an RGB image"):
        detect_text(np.zeros((10, 10), np.uint8))


def test_a_model_of_another_task_is_refused(model_cache: object) -> None:
    with pytest.raises(InputError, match="not a text-detection model"):
        detect_text(np.zeros((10, 10, 3), np.uint8), model="u2netp")
