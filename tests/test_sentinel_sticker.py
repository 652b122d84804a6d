"""A price sticker stuck onto the product is held; the product's own printed label is not.

The suite's studio bottle (its cream label printed with lines of words, wrapping the bottle
to its outline) cut out exactly and placed on white at 2000 px as amazon-main delivers it;
stickers are pasted onto the source photo before the cutout, so they are inside the mask
(the text check, which looks for text off the product, allowed them).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw, ImageFont

from conftest import make_product_photo
from packshot.imageio import encode_image, load_image
from packshot.ops.framing import place_on_canvas
from packshot.ops.matte import to_rgba
from packshot.presets import get_preset
from packshot.sentinel.gate import evaluate, run_gate
from packshot.sentinel.result import CheckResult
from packshot.sentinel.subject import Subject

AMAZON = get_preset("amazon-main")
ImageArray = npt.NDArray[np.uint8]
pytestmark = pytest.mark.slow  # the real text detector (ppocr-det) on 2000 px outputs


def with_sticker(
    rgb: ImageArray, xy: tuple[int, int], text: str, colour: tuple[int, int, int]
) -> ImageArray:
    """A flat tag of ``colour`` with dark ``text`` on it (Pillow's packaged font)."""
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=22)
    x0, y0, x1, y1 = draw.textbbox(xy, text, font=font)
    draw.rounded_rectangle((x0 - 8, y0 - 6, x1 + 8, y1 + 6), radius=5, fill=colour)
    draw.text(xy, text, font=font, fill=(30, 30, 30))
    return np.asarray(image)


def delivered(rgb: ImageArray, mask: npt.NDArray[np.bool_]) -> Subject:
    """The cutout on white at 2000 px, as the JPEG amazon-main delivers."""
    placed = place_on_canvas(to_rgba(rgb, mask.astype(np.float32)), 2000, 2000, fill=0.85)
    data = encode_image(placed.rgb, "JPEG", quality=90, exact_colors=True)
    alpha = placed.rgba[..., 3].astype(np.float32) / np.float32(255.0)
    return Subject(load_image(data).pixels[..., :3], alpha)


def sticker_check(subject: Subject) -> CheckResult:
    (result,) = evaluate(subject, AMAZON, only=["sticker"])
    return result


@pytest.mark.parametrize(("size", "seed"), [((480, 640), 0), ((360, 480), 0), ((360, 480), 8)])
def test_the_products_own_printed_label_is_no_sticker(
    real_models: Path, size: tuple[int, int], seed: int
) -> None:
    """The label is found as text on the product, in patches of the label's shades; it
    reaches the bottle's outline, so none is an island (a strip of it was flagged while
    the ring around a patch only had to be the product)."""
    bottle = make_product_photo(*size, seed=seed)
    result = sticker_check(delivered(bottle.rgb, bottle.mask))
    assert result.passed and result.value == 0.0, result.detail


@pytest.mark.parametrize(
    ("xy", "text", "colour"),
    [((205, 240), "$9.99", (250, 220, 40)), ((200, 515), "SALE", (252, 252, 252))],
)
def test_a_price_sticker_on_the_product_is_held(
    real_models: Path, xy: tuple[int, int], text: str, colour: tuple[int, int, int]
) -> None:
    bottle = make_product_photo()
    subject = delivered(with_sticker(bottle.rgb, xy, text, colour), bottle.mask)
    result = sticker_check(subject)
    assert not result.passed and result.value == 1.0, result.detail
    assert "stuck on the product" in result.detail
    # Inside the product, so the text check allows it; the gate holds it for the sticker.
    (text_result,) = evaluate(subject, AMAZON, only=["text"])
    assert text_result.passed
    # Opt-in (a car's number plate reads as a sticker): a preset that lists it holds it.
    checks = (*AMAZON.gate_checks, "sticker")
    strict = dataclasses.replace(AMAZON, gate=dataclasses.replace(AMAZON.gate, checks=checks))
    outcome = run_gate(subject, strict, remake=None, detect=None)
    assert outcome.result.verdict == "deliver"  # every other check passes: the sticker decides
    outcome = run_gate(subject, strict, remake=None)
    assert outcome.result.verdict == "hold"
    assert "sticker" in {c.name for c in outcome.result.failed}
