"""The gate judges a test set made from real photos the way a person would.

Cutouts of dev photos (true masks) on white at known fills, off-white backgrounds, a
ringing JPEG, a green fringe, a border, a price sticker, two products, a small image and
a cut-off product: each file is checked as a shop's existing image would be (no alpha,
the product found from the background colour), with OCR.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from packshot.imageio import load_image
from packshot.pipeline.check import check_file
from packshot.presets import get_preset
from packshot.sentinel.gate import run_gate
from packshot.sentinel.subject import subject_from_image
from sentinel_cases import Case, build_cases, dev_dir

DEV = dev_dir()
pytestmark = pytest.mark.skipif(DEV is None, reason="dev photos (../shared/eval/dev) absent")


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> dict[str, Path]:
    assert DEV is not None
    folder = tmp_path_factory.mktemp("sentinel-cases")
    written = {}
    for case in build_cases(DEV):
        path = folder / f"{case.name}.jpg"
        path.write_bytes(case.data)
        written[case.name] = path
    return written


CASES: dict[str, Case] = {}


def _case_names() -> list[str]:
    return [
        "fill-70", "fill-84", "fill-86", "fill-95", "car-90", "off-white-254",
        "off-white-250", "jpeg-ringing", "green-fringe", "border", "price-sticker",
        "two-products", "low-resolution", "cut-off",
    ]  # fmt: skip


@pytest.mark.parametrize("name", _case_names())
def test_case_is_judged_correctly(name: str, cases: dict[str, Path], real_models: Path) -> None:
    assert DEV is not None
    case = next(c for c in build_cases_cached(DEV) if c.name == name)
    verdict = check_file(cases[name], get_preset("amazon-main"))
    assert verdict.result is not None, verdict.error
    failed = {c.name for c in verdict.result.checks if not c.passed}
    assert case.expect <= failed, verdict.result.as_dict()
    assert failed <= case.expect | case.also, verdict.result.as_dict()
    assert verdict.result.verdict == ("hold" if case.expect else "deliver")
    assert verdict.mask_origin == "background"
    for check in verdict.result.checks:
        if check.name in case.expect:
            assert check.detail and check.threshold is not None


_BUILT: list[Case] = []


def build_cases_cached(dev: Path) -> list[Case]:
    if not _BUILT:
        _BUILT.extend(build_cases(dev))
    return _BUILT


def test_fill_cases_measure_the_fill(cases: dict[str, Path], real_models: Path) -> None:
    preset = get_preset("amazon-main")
    for name, expected in (("fill-70", 0.70), ("fill-84", 0.84), ("fill-86", 0.86)):
        result = check_file(cases[name], preset).result
        assert result is not None
        fill = next(c for c in result.checks if c.name == "frame_fill")
        assert fill.value == pytest.approx(expected, abs=0.006)
        assert fill.threshold == 0.85


def test_sticker_box_is_where_the_sticker_is(cases: dict[str, Path], real_models: Path) -> None:
    result = check_file(cases["price-sticker"], get_preset("amazon-main")).result
    assert result is not None
    text = next(c for c in result.checks if c.name == "text")
    assert text.value == 1.0
    # The sticker spans x 1216..1568, y 32..160 on the 1600 px canvas.
    x = int(text.detail.split(" at (")[1].split(",")[0])
    assert 1200 <= x <= 1400


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("fill-70", "reframe"),
        ("off-white-250", "refill-background"),
        ("border", "refill-background"),
        ("jpeg-ringing", "refill-background"),
        ("price-sticker", "remove-text"),  # a separate part on white: dropped
    ],
)
def test_one_fixable_failure_is_fixed(
    name: str, fix: str, cases: dict[str, Path], real_models: Path
) -> None:
    preset = get_preset("amazon-main")
    subject = subject_from_image(load_image(cases[name]).pixels, preset.background_color)
    outcome = run_gate(subject, preset)
    assert outcome.result.verdict == "fixed", outcome.result.as_dict()
    assert outcome.result.fixes == (fix,)
    assert all(c.passed for c in outcome.result.checks)
    assert any(fix in r for r in outcome.result.reasons)


def test_unfixable_failures_are_held_with_reasons(
    cases: dict[str, Path], real_models: Path
) -> None:
    preset = get_preset("amazon-main")
    for name, check in (("low-resolution", "resolution"), ("cut-off", "product_cut_off")):
        subject = subject_from_image(load_image(cases[name]).pixels, preset.background_color)
        outcome = run_gate(subject, preset)
        assert outcome.result.verdict == "hold"
        assert outcome.result.fixes == ()
        assert any(r.startswith(f"{check}:") for r in outcome.result.reasons)


def test_a_sticker_on_a_kept_background_is_repainted(real_models: Path) -> None:
    """Etsy-style outputs keep the photo: a price sticker on the scene is inpainted away,
    the product untouched, and the text check passes afterwards."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from packshot.models.text import detect_text
    from packshot.samples import sample_path
    from packshot.sentinel.fixes import remove_text
    from packshot.sentinel.subject import Subject

    pil = Image.open(sample_path("coffee")).convert("RGB")
    draw = ImageDraw.Draw(pil)
    draw.rectangle([430, 20, 590, 75], fill=(250, 220, 40))
    draw.text((440, 28), "$9.99", fill=(20, 20, 20), font=ImageFont.load_default(size=34))
    rgb = np.asarray(pil)
    alpha = np.zeros(rgb.shape[:2], np.float32)
    alpha[60:330, 120:420] = 1.0  # the cup and saucer
    assert detect_text(rgb)
    repair = remove_text(Subject(rgb, alpha), get_preset("etsy"))
    assert repair is not None and "repainted 1 text line" in repair.note
    assert detect_text(repair.rgb) == []
    assert (repair.rgb[alpha > 0] == rgb[alpha > 0]).all()
    # The tag is gone, not just its letters.
    tag = repair.rgb[22:74, 432:588].astype(np.int16)
    assert (np.abs(tag - (250, 220, 40)).max(axis=2) < 30).mean() < 0.05
