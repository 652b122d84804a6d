"""Recipe steps: the step table, recipes that name steps, and listings that run them."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import TEST_MODEL, ProductPhoto
from packshot.errors import InputError
from packshot.imageio import load_image
from packshot.pipeline import steps as steps_module
from packshot.pipeline.listing import fingerprint, run_listing
from packshot.pipeline.recipe import RecipeError, parse_recipe
from packshot.pipeline.steps import (
    StepCall,
    StepError,
    StepResult,
    apply_steps,
    register_step,
    steps_key,
)
from packshot.presets import get_preset, parse_preset_names


def mirror_step(pixels: np.ndarray, params: Mapping[str, Any]) -> StepResult:
    """A real step for the plumbing: mirrors the photo (optionally only when asked)."""
    axis = params.get("axis", "x")
    if axis not in ("x", "y"):
        raise InputError(f"axis: {axis!r} must be 'x' or 'y'")
    flipped = pixels[:, ::-1] if axis == "x" else pixels[::-1]
    return StepResult(np.ascontiguousarray(flipped), {"axis": axis})


def matte_step(pixels: np.ndarray, params: Mapping[str, Any]) -> StepResult:
    """Hands a known matte to the targets: the left half of the photo is the product."""
    h, w = pixels.shape[:2]
    alpha = np.zeros((h, w, 1), np.uint8)
    alpha[:, : w // 2] = 255
    return StepResult(np.concatenate([pixels[..., :3], alpha], axis=2), {})


def cut_step(pixels: np.ndarray, params: Mapping[str, Any]) -> StepResult:
    """A step that cuts the product out as isolation does: transparent pixels are black."""
    from packshot.pipeline.cutout import cutout

    return StepResult(cutout(pixels, model=TEST_MODEL).rgba, {})


@pytest.fixture(autouse=True)
def _test_steps() -> Iterator[None]:
    saved = dict(steps_module._TABLE)
    register_step("mirror", f"{__name__}:mirror_step")
    register_step("cut", f"{__name__}:cut_step")
    register_step("left-half", f"{__name__}:matte_step")
    yield
    steps_module._TABLE.clear()
    steps_module._TABLE.update(saved)


def test_steps_run_in_order_and_report_what_they_did() -> None:
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    out, infos = apply_steps(img, [StepCall("mirror"), StepCall("mirror", {"axis": "y"})])
    assert np.array_equal(out, img[::-1, ::-1])
    assert infos == [{"step": "mirror", "axis": "x"}, {"step": "mirror", "axis": "y"}]


def test_a_failing_step_is_named() -> None:
    with pytest.raises(StepError, match="step 'mirror': axis: 'z' must be"):
        apply_steps(np.zeros((2, 2, 3), np.uint8), [StepCall("mirror", {"axis": "z"})])


def test_recipe_steps_parse_and_round_trip() -> None:
    recipe = parse_recipe(
        {
            "version": 1,
            "steps": ["mirror", {"mirror": {"axis": "y"}}, {"left-half": None}],
            "targets": ["shopify"],
        }
    )
    assert recipe.steps == (
        StepCall("mirror", {}),
        StepCall("mirror", {"axis": "y"}),
        StepCall("left-half", {}),
    )
    assert recipe.as_dict()["steps"] == [
        {"mirror": {}},
        {"mirror": {"axis": "y"}},
        {"left-half": {}},
    ]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (["mirorr"], r"steps\[0\]: unknown step 'mirorr'. Did you mean 'mirror'\?"),
        ([{"mirror": 3}], r"steps\[0\].mirror: parameters must be a mapping"),
        ([{"mirror": {}, "left-half": {}}], r"steps\[0\]: must be a step name or"),
        ("mirror", r"steps: must be a list of steps"),
    ],
)
def test_bad_steps_name_the_field(steps: object, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        parse_recipe({"version": 1, "steps": steps, "targets": ["shopify"]}, origin="r.yaml")


def test_changing_steps_changes_the_fingerprint() -> None:
    shopify = get_preset("shopify")
    plain = fingerprint(shopify, "u2net")
    assert fingerprint(shopify, "u2net", ()) == plain
    mirrored = fingerprint(shopify, "u2net", (StepCall("mirror"),))
    assert mirrored != plain
    assert fingerprint(shopify, "u2net", (StepCall("mirror", {"axis": "y"}),)) != mirrored


def test_renamed_steps_keep_their_fingerprints_and_read_under_former_names() -> None:
    # What steps_key wrote before the steps took their operations' names: a batch made
    # then re-runs nothing it finished.
    before = json.dumps([{"remove": {"text": True}}, {"isolate": {"prompt": "the bag"}}])
    recipe = parse_recipe(
        {
            "version": 1,
            "steps": [{"remove": {"text": True}}, {"isolate": {"prompt": "the bag"}}],
            "targets": ["shopify"],
        },
        origin="r.yaml",
    )
    assert [s.name for s in recipe.steps] == ["object-removal", "product-isolation"]
    assert steps_key(recipe.steps) == before


@pytest.mark.usefixtures("real_models")
def test_listing_runs_steps_and_uses_a_step_matte(
    tmp_path: Path, product_photo: ProductPhoto
) -> None:
    src = product_photo.save_jpeg(tmp_path / "bottle.jpg")
    [rec] = run_listing(
        [src],
        parse_preset_names("amazon-main"),
        tmp_path / "out",
        model=TEST_MODEL,
        workers=1,
        steps=(StepCall("left-half"),),
    )
    # The half-photo rectangle touches the photo's left, top and bottom edges, so the
    # quality gate holds the output as cut off (written under held/ for review).
    assert rec.held and "product_cut_off" in (rec.error or ""), rec.error
    assert rec.info["steps"] == [{"step": "left-half"}]
    # The step's matte (a full-height half-photo rectangle) is what was framed: its
    # box is the photo's half aspect, not the bottle's.
    pixels = load_image(rec.output or "").pixels
    product = (pixels != 255).any(axis=2)  # the canvas decodes to exactly 255
    rows, cols = np.flatnonzero(product.any(axis=1)), np.flatnonzero(product.any(axis=0))
    box_h, box_w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    src_h, src_w = product_photo.rgb.shape[:2]
    assert box_w / box_h == pytest.approx((src_w / 2) / src_h, rel=0.05)


@pytest.mark.usefixtures("real_models")
def test_a_failing_step_fails_that_source_alone(
    tmp_path: Path, product_photo: ProductPhoto
) -> None:
    src = product_photo.save_jpeg(tmp_path / "bottle.jpg")
    [rec] = run_listing(
        [src],
        parse_preset_names("shopify"),
        tmp_path / "out",
        model=TEST_MODEL,
        workers=1,
        steps=(StepCall("mirror", {"axis": "diagonal"}),),
    )
    assert not rec.ok
    assert rec.error is not None and "step 'mirror': axis: 'diagonal'" in rec.error


@pytest.mark.usefixtures("real_models")
def test_a_step_registered_at_run_time_reaches_spawned_workers(
    tmp_path: Path, product_photo: ProductPhoto
) -> None:
    # "mirror" exists only in this (driver) process's table; the recipe fixes its
    # module:function, which the two spawned workers import.
    sources = [product_photo.save_jpeg(tmp_path / f"bottle{i}.jpg") for i in range(2)]
    recipe = parse_recipe({"version": 1, "steps": ["mirror"], "targets": ["shopify"]})
    records = run_listing(
        sources,
        parse_preset_names("shopify"),
        tmp_path / "out",
        model=TEST_MODEL,
        workers=2,
        steps=recipe.steps,
    )
    assert [r.error for r in records] == [None, None]
    assert [r.info["steps"] for r in records] == [[{"step": "mirror", "axis": "x"}]] * 2


@pytest.mark.usefixtures("real_models")
def test_a_kept_background_after_a_cutout_step_is_the_photo_not_black(
    tmp_path: Path, product_photo: ProductPhoto
) -> None:
    """A step that cuts the product out (isolation) leaves transparent pixels black; an
    Etsy target keeps the photo's background, so it must show the photo there."""
    src = product_photo.save_jpeg(tmp_path / "bottle.jpg")
    [rec] = run_listing(
        [src],
        parse_preset_names("etsy"),
        tmp_path / "out",
        model=TEST_MODEL,
        workers=1,
        steps=[StepCall("cut")],
    )
    assert rec.output is not None, rec.error
    out = load_image(rec.output).pixels
    corners = [out[:40, :40], out[:40, -40:], out[-40:, :40], out[-40:, -40:]]
    assert min(float(c.mean()) for c in corners) > 150  # the light studio wall, not black
