"""A watermark laid across the product is held; text printed on the product is not.

Real photos: a dev car (true mask) on white at 2000 px. Its number plate, badge and logo
are text the detector finds on the product (allowed); a semi-transparent watermark drawn
across it (Pillow's packaged Aileron font, 35% opaque) runs on over the white background
beyond the car's outline, which is the evidence the watermark check measures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw, ImageFont

from packshot.imageio import encode_image, load_image
from packshot.models.text import detect_text
from packshot.ops.framing import place_on_canvas
from packshot.ops.geometry import Box
from packshot.pipeline.check import check_file
from packshot.presets import get_preset
from packshot.sentinel.gate import run_gate
from packshot.sentinel.subject import Subject
from packshot.sentinel.text_check import main_object, watermark
from sentinel_cases import dev_dir, true_cutout

DEV = dev_dir()
pytestmark = pytest.mark.skipif(DEV is None, reason="dev photos (../shared/eval/dev) absent")
SIDE = 2000
ImageArray = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def car() -> tuple[ImageArray, npt.NDArray[np.float32]]:
    """Dev car 020 (front view: plate, grille logo) placed on white at 90% fill."""
    assert DEV is not None
    placed = place_on_canvas(true_cutout(DEV, "020"), SIDE, SIDE, fill=0.9, margin=0.05)
    return placed.rgb, placed.rgba[..., 3].astype(np.float32) / np.float32(255.0)


def _text(
    rgb: ImageArray, text: str, *, xy: tuple[float, float], size: int, rgba: tuple[int, ...]
) -> ImageArray:
    image = Image.fromarray(rgb).convert("RGBA")
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    ImageDraw.Draw(layer).text(xy, text, font=ImageFont.load_default(size=size), fill=rgba)
    return np.asarray(Image.alpha_composite(image, layer).convert("RGB"))


def _as_delivered(rgb: ImageArray) -> ImageArray:
    data = encode_image(rgb, "JPEG", quality=90, exact_colors=True)
    return load_image(data).pixels[..., :3]


def test_printed_text_on_the_product_is_allowed(
    car: tuple[ImageArray, npt.NDArray[np.float32]], real_models: Path
) -> None:
    rgb, alpha = car
    # A large opaque label printed within the bonnet, besides the car's own plate and logo.
    labelled = _text(rgb, "HYBRID", xy=(700, 1080), size=110, rgba=(20, 30, 90, 255))
    assert (alpha[1080:1200, 700:1150] > 0.99).all()  # the label lies inside the outline
    for pixels in (_as_delivered(rgb), _as_delivered(labelled)):
        subject = Subject(pixels, alpha)
        lines = detect_text(pixels)
        main = main_object(subject)
        on_product = [t for t in lines if t.score >= 0.5 and main[Box(*t.box).slices].mean() >= 0.5]
        assert on_product, "the detector should see the car's own text"
        result = watermark(subject, lines, main)
        assert result.passed and result.value == 0.0, result.detail
        assert "printed on the product (allowed)" in result.detail
    outcome = run_gate(Subject(_as_delivered(labelled), alpha), get_preset("amazon-main"))
    text_checks = {c.name: c for c in outcome.result.checks if c.name in ("text", "watermark")}
    assert text_checks["text"].passed and text_checks["watermark"].passed


def test_a_watermark_across_the_product_is_held_with_its_reason(
    car: tuple[ImageArray, npt.NDArray[np.float32]], real_models: Path, tmp_path: Path
) -> None:
    rgb, alpha = car
    # Centred on the canvas at the windscreen's height, wider than the car is there.
    marked = _as_delivered(_text(rgb, "PHOTOSTUDIO", xy=(215, 600), size=200, rgba=(0, 0, 0, 89)))
    outcome = run_gate(Subject(marked, alpha), get_preset("amazon-main"))
    checks = {c.name: c for c in outcome.result.checks}
    mark = checks["watermark"]
    assert not mark.passed and mark.value == 1.0 and not mark.fixable
    assert "run across the product onto the background" in mark.detail
    assert "px of letter strokes on the background" in mark.detail
    assert checks["text"].passed  # the line lies on the car: not a sticker off it
    assert outcome.result.verdict == "hold"
    assert any(r.startswith("watermark: ") for r in outcome.result.reasons)
    # A shop's existing file (no alpha: the car found from the white background).
    path = tmp_path / "marked.jpg"
    path.write_bytes(encode_image(marked, "JPEG", quality=90, exact_colors=True))
    verdict = check_file(path, get_preset("amazon-main"))
    assert verdict.result is not None and verdict.mask_origin == "background"
    assert any(c.name == "watermark" and not c.passed for c in verdict.result.checks)
