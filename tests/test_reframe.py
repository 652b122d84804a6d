"""Smart resize's plan per target: crop/extend, or a fallback composition the preset allows,
never a failure; and text found at every scale."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from packshot.models.text import TextBox, merge_boxes
from packshot.ops.extend import cutout_backdrop
from packshot.pipeline.reframe import plan_target
from packshot.presets import PresetError, get_preset
from packshot.sentinel.checks import composition
from packshot.sentinel.subject import Subject


def _wide_product_photo(h: int = 300, w: int = 400) -> tuple[npt.NDArray[np.uint8], np.ndarray]:
    """A wide product (a skateboard) on a wall: 9:16 from it cannot be reached by extending
    (far more than half the canvas would be synthesised)."""
    rng = np.random.default_rng(0)
    y = np.arange(h, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(150 + 0.2 * y, (h, w, 3)) + rng.normal(0, 2, (h, w, 3))
    alpha = np.zeros((h, w), np.uint8)
    alpha[120:180, 40:360] = 255
    img = np.where(alpha[..., None] > 0, np.array([200, 40, 40], np.float32), img)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), alpha


def test_a_refused_extension_falls_back_to_the_cutout_on_its_blurred_photo() -> None:
    rgb, alpha = _wide_product_photo()
    plan = plan_target(rgb, alpha, get_preset("tiktok-shop"))
    assert plan.composition is not None
    kind, why = plan.composition
    assert kind == "cutout-on-blur"
    assert "synthesise" in why
    h, w = plan.extended.rgb.shape[:2]
    assert abs(w / h - 9 / 16) < 0.01
    # The product is there at its own size and colour, where the coverage says.
    on = plan.alpha > 0.99
    assert abs(int(on.sum()) - int((alpha == 255).sum())) < 0.02 * (alpha == 255).sum()
    inner = cv2.erode(on.view(np.uint8), np.ones((21, 21), np.uint8)) > 0  # past the light wrap
    assert np.abs(plan.extended.rgb[inner].astype(int) - [200, 40, 40]).max() <= 12
    assert any("fallback cutout-on-blur" in s for s in plan.steps)


def test_a_product_cut_on_both_grown_sides_is_framed_not_cut_out() -> None:
    rgb, alpha = _wide_product_photo()
    alpha[:, :] = 0
    alpha[0:300, 100:300] = 255  # runs off the top and bottom: 9:16 grows both
    plan = plan_target(rgb, alpha, get_preset("tiktok-shop"))
    assert plan.composition is not None and plan.composition[0] == "blurred-backdrop"
    assert any("cut by the photo" in s for s in plan.steps)


def test_the_preset_decides_which_fallbacks_are_delivered() -> None:
    rgb = np.zeros((16, 16, 3), np.uint8)
    subject = Subject(rgb, np.zeros((16, 16), np.float32), composition=("studio-sweep", "why"))
    assert composition(subject, deliver=("studio-sweep",)).passed
    assert not composition(subject, deliver=("cutout-on-blur",)).passed
    assert not composition(subject).passed


def test_fallbacks_are_validated_preset_data() -> None:
    etsy = get_preset("etsy")
    assert "cutout-on-blur" in etsy.deliver_fallbacks
    assert "blurred-backdrop" not in etsy.deliver_fallbacks
    with pytest.raises(PresetError, match="not a composition"):
        dataclasses.replace(etsy, fallbacks=("paint-it",))
    with pytest.raises(PresetError, match="not among the fallbacks"):
        dataclasses.replace(
            etsy, fallbacks=("studio-sweep",), deliver_fallbacks=("cutout-on-blur",)
        )


def test_studio_sweep_takes_the_photo_palette() -> None:
    rgb, alpha = _wide_product_photo()
    made, cover = cutout_backdrop(rgb, alpha, 9, 16, "studio-sweep")
    back = made.rgb[cover < 0.01].astype(np.float32)
    photo_bg = rgb[alpha == 0].astype(np.float32)
    assert np.abs(np.median(back, axis=0) - np.median(photo_bg, axis=0)).max() < 25


def _box(x0: int, y0: int, x1: int, y1: int) -> TextBox:
    quad = np.asarray([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    return TextBox((x0, y0, x1, y1), quad, 0.9)


def test_a_line_found_at_two_scales_is_merged_and_others_stay_apart() -> None:
    merged = merge_boxes([_box(10, 10, 200, 60), _box(12, 8, 205, 58), _box(10, 100, 80, 120)])
    assert [t.box for t in merged] == [(10, 8, 205, 60), (10, 100, 80, 120)]


def test_a_smeared_fill_is_refused_though_its_brightness_joins() -> None:
    """An upsampled low-resolution fill joins the photo's brightness (the seam measure
    passes) but has none of its texture: the plan does not use it."""
    from packshot.pipeline.reframe import _smear

    rng = np.random.default_rng(5)
    rgb = np.clip(128 + rng.normal(0, 20, (200, 400, 3)), 0, 255).astype(np.uint8)
    synth = np.zeros((200, 400), bool)
    synth[:, 300:] = True
    smeared = rgb.copy()
    smeared[:, 300:] = 128
    alpha = np.zeros((200, 400), np.float32)
    assert _smear(smeared, synth, alpha) is not None
    assert _smear(rgb, synth, alpha) is None  # the same texture on both sides
    plain = np.full_like(rgb, 200)
    assert _smear(plain, synth, alpha) is None  # a plain wall filled plain
