"""Repairs on real photos: sticker and text removal, masked inpainting, reference-based
inpainting, replace background; their recipe steps and CLI commands.

Images the tests produce are written to ``/tmp/repair-out/tests`` (the fills also at 4x
contrast) so that a person can look at them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from conftest import TEST_MODEL, ProductPhoto
from packshot.cli import app
from packshot.errors import InputError
from packshot.imageio import load_image, save_image
from packshot.models.text import detect_text
from packshot.ops.compose import ShadowParams, contact_shadow
from packshot.ops.geometry import Box
from packshot.ops.inpaint import SEAM_LIMIT, STRUCTURE_LIMIT, dilate, fill_quality, inpaint
from packshot.ops.matte import to_rgba
from packshot.ops.reference import ReferenceMatchError, inpaint_from_reference
from packshot.ops.scene import SceneParams, cover, place_in_scene, studio_gradient
from packshot.ops.sticker import glyph_mask, sticker_mask
from packshot.pipeline.repair import remove, replace_background
from packshot.pipeline.steps import StepCall, StepError, apply_steps
from packshot.samples import sample_path

ImageArray = npt.NDArray[np.uint8]
OUT = Path("/tmp/repair-out/tests")
_ROOT = Path(__file__).resolve().parents[1]
DEV = next(
    (
        p
        for p in (_ROOT.parent / "shared/eval/dev", _ROOT.parents[1] / "shared/eval/dev")
        if p.is_dir()
    ),
    None,
)


@pytest.fixture(autouse=True)
def _models(real_models: Path) -> Iterator[None]:
    OUT.mkdir(parents=True, exist_ok=True)
    yield


def photo(name: str) -> ImageArray:
    return load_image(sample_path(name), keep_alpha=False).pixels


def dev_photo(image_id: str) -> ImageArray:
    if DEV is None:
        pytest.skip("../shared/eval/dev is not present")
    path = next(DEV.glob(f"{image_id}_image.*"))
    return load_image(path, keep_alpha=False).pixels


def add_sticker(
    rgb: ImageArray,
    x: int,
    y: int,
    text: str = "$19.99",
    *,
    size: int = 30,
    colour: tuple[int, int, int] = (220, 38, 38),
    margin: float = 0.3,
) -> tuple[ImageArray, Box]:
    """A price sticker: a rounded patch of ``colour`` with white text; returns the photo
    and the patch's box."""
    im = Image.fromarray(rgb)
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad_x, pad_y = round(size * (0.3 + margin)), round(size * (0.2 + margin))
    w, h = right - left + 2 * pad_x, bottom - top + 2 * pad_y
    draw.rounded_rectangle([x, y, x + w, y + h], radius=max(3, size // 5), fill=colour)
    draw.text((x + pad_x - left, y + pad_y - top), text, fill=(255, 255, 255), font=font)
    return np.asarray(im), Box(x, y, x + w + 1, y + h + 1)


def sticker_pixels(before: ImageArray, after: ImageArray) -> np.ndarray:
    """Exactly the pixels the sticker changed."""
    return np.asarray((before != after).any(axis=2))


def overlaps(a: Box, b: Box) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def contrast4(rgb: ImageArray, box: Box, pad: int = 30) -> ImageArray:
    """The region at 4x contrast around its local mean (a seam shows as a line)."""
    h, w = rgb.shape[:2]
    crop = rgb[
        max(0, box.y0 - pad) : min(h, box.y1 + pad), max(0, box.x0 - pad) : min(w, box.x1 + pad)
    ]
    f = crop.astype(np.float32)
    local = cv2.GaussianBlur(f, (0, 0), 12)
    return np.clip((f - local) * 4 + 128, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- removal


STICKER_CASES = [
    ("coffee", 0.70, 0.75, 0.3),
    ("chelsea", 0.05, 0.62, 0.3),
    ("astronaut", 0.08, 0.10, 0.8),
    ("product", 0.40, 0.52, 0.8),
]


@pytest.mark.parametrize(("name", "fx", "fy", "margin"), STICKER_CASES)
def test_text_removal_takes_the_sticker_and_nothing_else(
    name: str, fx: float, fy: float, margin: float
) -> None:
    rgb = photo(name)
    h, w = rgb.shape[:2]
    size = max(24, round(0.045 * max(h, w)))
    tagged, patch = add_sticker(rgb, round(fx * w), round(fy * h), size=size, margin=margin)
    assert any(overlaps(Box(*t.box), patch) for t in detect_text(tagged)), (
        "the test sticker is text"
    )

    result = remove(tagged, text=True)

    # The whole sticker went into the mask, and the mask stayed near the sticker.
    assert result.mask[sticker_pixels(rgb, tagged)].all()
    ys, xs = np.nonzero(result.mask)
    reach = round(0.8 * size) + 8
    assert xs.min() >= patch.x0 - reach and xs.max() < patch.x1 + reach
    assert ys.min() >= patch.y0 - reach and ys.max() < patch.y1 + reach
    # Not one pixel outside the mask changed.
    assert np.array_equal(result.rgb[~result.mask], tagged[~result.mask])
    # OCR finds no text where the sticker was.
    left = [Box(*t.box) for t in detect_text(result.rgb) if overlaps(Box(*t.box), patch)]
    assert left == []
    # The fill is no brighter red than the photo was there, and shows no seam.
    assert result.quality.seam < SEAM_LIMIT, result.quality
    assert result.quality.structure < STRUCTURE_LIMIT, result.quality
    print(f"\n{name}: {result.info()}")
    save_image(np.concatenate([tagged, result.rgb], axis=1), OUT / f"sticker-{name}.png")
    save_image(
        np.concatenate([contrast4(tagged, patch), contrast4(result.rgb, patch)], axis=1),
        OUT / f"sticker-{name}-x4.png",
    )


@pytest.mark.parametrize(("image_id", "fx", "fy"), [("002", 0.62, 0.2), ("020", 0.55, 0.6)])
def test_text_removal_on_dev_photos(image_id: str, fx: float, fy: float) -> None:
    rgb = dev_photo(image_id)
    h, w = rgb.shape[:2]
    tagged, patch = add_sticker(rgb, round(fx * w), round(fy * h), "SALE -30%", size=44)
    result = remove(tagged, text=True)
    assert result.mask[sticker_pixels(rgb, tagged)].all()
    # The studio wall of 020 is "text" to the detector (a box over a quarter of the photo):
    # such boxes are not removed, so the mask stays about the sticker's size.
    assert result.mask.sum() < 3 * patch.width * patch.height
    assert np.array_equal(result.rgb[~result.mask], tagged[~result.mask])
    assert not any(overlaps(Box(*t.box), patch) for t in detect_text(result.rgb))
    assert result.quality.ok, result.quality
    save_image(contrast4(result.rgb, patch), OUT / f"sticker-dev{image_id}-x4.png")


def test_sticker_mask_grows_to_the_patch_the_text_is_on() -> None:
    rgb = photo("coffee")
    tagged, patch = add_sticker(rgb, 60, 250, "$9.99", size=26, colour=(250, 210, 40), margin=1.2)
    text_boxes = [Box(*t.box) for t in detect_text(tagged) if overlaps(Box(*t.box), patch)]
    assert text_boxes and all(b.width < patch.width - 20 for b in text_boxes)
    mask = sticker_mask(tagged, text_boxes)
    assert mask[sticker_pixels(rgb, tagged)].all()  # the patch's margin is in the mask too
    assert mask.sum() < 2.0 * patch.width * patch.height


def test_watermark_on_the_open_photo_keeps_a_tight_mask() -> None:
    # Text printed straight on the photo (no patch under it): the "patch" would be the
    # whole background, so only the grown text box is removed.
    rgb = photo("astronaut")
    im = Image.fromarray(rgb)
    ImageDraw.Draw(im).text((300, 440), "(c) SHOP", fill=(255, 255, 255),
                            font=ImageFont.load_default(size=28))  # fmt: skip
    marked = np.asarray(im)
    changed = sticker_pixels(rgb, marked)
    result = remove(marked, text=True)
    assert result.mask[changed].all()
    ys, xs = np.nonzero(changed)
    my, mx = np.nonzero(result.mask)
    reach = 32  # the detector's box (a few px past the ink), grown by pad and 3 px
    assert mx.min() >= xs.min() - reach and mx.max() <= xs.max() + reach
    assert my.min() >= ys.min() - reach and my.max() <= ys.max() + reach
    assert np.array_equal(result.rgb[~result.mask], marked[~result.mask])
    assert result.quality.ok, result.quality


def test_box_removal_on_real_photo_and_bad_boxes() -> None:
    rgb = photo("chelsea")
    hole = np.zeros(rgb.shape[:2], bool)
    hole[100:150, 30:90] = True
    result = remove(rgb, box=Box(30, 100, 90, 150))
    assert result.method.startswith("patchmatch")
    assert np.array_equal(result.rgb[~hole], rgb[~hole])
    assert not np.array_equal(result.rgb[hole], rgb[hole])
    with pytest.raises(InputError, match="say what to remove"):
        remove(rgb)
    with pytest.raises(InputError, match="mask"):
        remove(rgb, mask=np.ones((5, 5), bool))


def test_thin_masks_use_telea_and_empty_masks_change_nothing() -> None:
    rgb = photo("coffee")
    scratch = np.zeros(rgb.shape[:2], bool)
    cv2.line(scratch.view(np.uint8), (50, 40), (400, 300), 1, 3)
    result = inpaint(rgb, scratch)
    assert result.method == "telea"
    assert np.array_equal(result.rgb[~scratch], rgb[~scratch])
    empty = inpaint(rgb, np.zeros(rgb.shape[:2], bool))
    assert empty.method == "none" and np.array_equal(empty.rgb, rgb)
    with pytest.raises(InputError, match="whole image"):
        inpaint(rgb, np.ones(rgb.shape[:2], bool))


def test_protected_text_is_never_copied_into_the_hole() -> None:
    # A card printed with lines of prices; a word in the middle is to go. Unguarded,
    # PatchMatch fills the gap with copies of the neighbouring digits; with the lettering
    # protected it fills it with card.
    rng = np.random.default_rng(0)
    im = Image.fromarray(np.clip(rng.normal(180, 3, (220, 400, 3)), 0, 255).astype(np.uint8))
    font = ImageFont.load_default(size=30)
    for y in (30, 80, 130, 180):
        ImageDraw.Draw(im).text((10, y), "PRICE 19.99 SALE 4.99", fill=(20, 20, 20), font=font)
    rgb = np.asarray(im)
    lettering = rgb.max(axis=2) < 120
    hole = np.zeros(rgb.shape[:2], bool)
    hole[75:125, 150:260] = True
    protect = dilate_bool(lettering, 2) & ~hole
    inner = cv2.erode(hole.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    guarded = inpaint(rgb, hole, method="patchmatch", protect=protect)
    unguarded = inpaint(rgb, hole, method="patchmatch")
    assert int((guarded.rgb[inner].max(axis=1) < 120).sum()) == 0
    assert int((unguarded.rgb[inner].max(axis=1) < 120).sum()) > 100
    assert guarded.quality.structure < unguarded.quality.structure
    assert np.array_equal(guarded.rgb[~hole], rgb[~hole])
    save_image(np.concatenate([rgb, guarded.rgb, unguarded.rgb]), OUT / "guard.png")


def dilate_bool(mask: np.ndarray, r: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


# --------------------------------------------------------------------------- reference


def rotated_copy(region: ImageArray, angle: float, scale: float) -> ImageArray:
    h, w = region.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(w * cos + h * sin) + 2, int(w * sin + h * cos) + 2
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    out = cv2.warpAffine(region, m, (nw, nh), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    return np.asarray(out, np.uint8)


REFERENCE_CASES = [
    ("astronaut", 200, 150, 90, 23.0, 0.7),
    ("chelsea", 260, 120, 80, -31.0, 1.3),
    ("coffee", 230, 230, 80, 12.0, 0.8),
]


@pytest.mark.parametrize(("name", "x", "y", "s", "angle", "scale"), REFERENCE_CASES)
def test_reference_restores_a_cut_region_far_better_than_plain_inpainting(
    name: str, x: int, y: int, s: int, angle: float, scale: float
) -> None:
    original = photo(name)
    hole = np.zeros(original.shape[:2], bool)
    hole[y : y + s, x : x + s] = True
    c = s // 2
    # The reference: the region with some context, rotated, rescaled and lit differently.
    region = original[y - c : y + s + c, x - c : x + s + c]
    reference = np.clip(rotated_copy(region, angle, scale) * 0.85 + 12, 0, 255).astype(np.uint8)
    damaged = original.copy()
    damaged[hole] = 0

    restored = inpaint_from_reference(damaged, hole, reference)
    plain = inpaint(damaged, hole)

    err_ref = float(np.abs(restored.rgb[hole].astype(float) - original[hole]).mean())
    err_plain = float(np.abs(plain.rgb[hole].astype(float) - original[hole]).mean())
    a = restored.alignment
    assert a is not None
    print(
        f"\n{name}: reference MAE {err_ref:.2f}, plain inpainting MAE {err_plain:.2f}; "
        f"{a.inliers}/{a.matches} inliers, RMS reprojection {a.reprojection_error:.2f} px, "
        f"scale {a.scale:.3f}"
    )
    assert err_ref < 0.4 * err_plain
    assert err_ref < 8.0
    assert a.inliers >= 10 and a.reprojection_error < 1.5
    assert abs(a.scale - 1.0 / scale) < 0.05 * (1.0 / scale)
    assert a.coverage == 1.0
    assert np.array_equal(restored.rgb[~hole], damaged[~hole])
    assert fill_quality(restored.rgb, hole).seam < SEAM_LIMIT
    save_image(
        np.concatenate([damaged, restored.rgb, plain.rgb], axis=1), OUT / f"reference-{name}.png"
    )


def test_reference_that_does_not_match_is_refused() -> None:
    image = photo("astronaut")
    hole = np.zeros(image.shape[:2], bool)
    hole[150:240, 200:290] = True
    unrelated = photo("chelsea")[50:250, 100:300]
    with pytest.raises(ReferenceMatchError, match="does not match"):
        inpaint_from_reference(image, hole, unrelated)
    flat = np.full((100, 100, 3), 128, np.uint8)
    with pytest.raises(ReferenceMatchError, match="texture"):
        inpaint_from_reference(image, hole, flat)
    with pytest.raises(InputError, match="mask is empty"):
        inpaint_from_reference(image, np.zeros_like(hole), unrelated)


def test_texture_reference_synthesises_the_material() -> None:
    image = photo("coffee")
    hole = np.zeros(image.shape[:2], bool)
    hole[250:330, 480:560] = True  # on the wooden table
    swatch = image[20:140, 440:590]  # another piece of the same table
    result = inpaint_from_reference(image, hole, swatch, mode="texture")
    assert result.mode == "texture"
    assert np.array_equal(result.rgb[~hole], image[~hole])
    ring = dilate_bool(hole, 14) & ~dilate_bool(hole, 2)
    fill = result.rgb[hole].astype(float)
    around = image[ring].astype(float)
    assert np.abs(fill.mean(axis=0) - around.mean(axis=0)).max() < 10

    # Texture, not a smooth fill: fine detail (high-pass spread) of the same order as the
    # photo's own in that place (a blur-like fill scores below 0.15).
    def detail(rgb: ImageArray) -> float:
        f = rgb.astype(np.float32)
        return float((f - cv2.GaussianBlur(f, (0, 0), 4))[hole].std(axis=0).mean())

    ratio = detail(result.rgb) / detail(image)
    print(f"\ntexture fill: fine detail {ratio:.2f} of the photo's own there")
    assert 0.35 < ratio < 2.0
    assert fill_quality(result.rgb, hole).seam < SEAM_LIMIT
    save_image(contrast4(result.rgb, Box(480, 250, 560, 330)), OUT / "texture-coffee-x4.png")


# --------------------------------------------------------------------------- scene


def synthetic_cutout(product: ProductPhoto) -> ImageArray:
    return to_rgba(product.rgb, product.mask.astype(np.float32))


@pytest.mark.parametrize("placement", ["center", "floor", "thirds-left", "thirds-right"])
def test_placement_rules(product_photo: ProductPhoto, placement: str) -> None:
    bg = studio_gradient(900, 600)
    params = SceneParams(placement=placement, scale=0.5, floor=0.8)  # type: ignore[arg-type]
    scene = place_in_scene(synthetic_cutout(product_photo), bg, params)
    assert scene.rgb.shape == (600, 900, 3)
    b = scene.box
    assert max(b.width / 900, b.height / 600) == pytest.approx(0.5, abs=0.01)
    cx = (b.x0 + b.x1) / 2
    if placement == "center":
        assert abs((b.y0 + b.y1) / 2 - 300) <= 2 and abs(cx - 450) <= 2
    else:
        assert abs(b.y1 - 480) <= 2
        want = {"floor": 450, "thirds-left": 300, "thirds-right": 600}[placement]
        assert abs(cx - want) <= 2
    # Far from the product and its shadow, the scene is untouched.
    assert np.array_equal(scene.rgb[:20, :20], bg[:20, :20])


def test_shadow_darkens_under_the_product_and_follows_its_direction(
    product_photo: ProductPhoto,
) -> None:
    rgba = synthetic_cutout(product_photo)
    alpha = rgba[..., 3]
    plain = contact_shadow(alpha, ShadowParams(opacity=0.5))
    right = contact_shadow(alpha, ShadowParams(opacity=0.5, direction=0.4))
    left = contact_shadow(alpha, ShadowParams(opacity=0.5, direction=-0.4))
    assert plain is not None and right is not None and left is not None

    def centroid(s: object) -> float:
        assert hasattr(s, "strength") and hasattr(s, "box")
        cols = s.strength.sum(axis=0)
        return float((np.arange(len(cols)) + s.box.x0) @ cols / cols.sum())

    assert centroid(right) > centroid(plain) + 10 > centroid(left) + 20
    assert right.box.x1 > plain.box.x1 and left.box.x0 < plain.box.x0
    with pytest.raises(InputError, match="direction"):
        ShadowParams(direction=5.0)
    bg = np.full((600, 900, 3), 200, np.uint8)
    scene = place_in_scene(rgba, bg, SceneParams(placement="floor", grain=False, harmonize=0.0))
    below = scene.rgb[scene.box.y1 : scene.box.y1 + 4, scene.box.x0 : scene.box.x1]
    assert below.mean() < 190  # the contact shadow
    assert np.array_equal(scene.rgb[:50], bg[:50])


def test_harmonisation_and_light_wrap_move_the_edge_towards_the_scene(
    product_photo: ProductPhoto,
) -> None:
    rgba = synthetic_cutout(product_photo)
    warm = np.zeros((600, 900, 3), np.uint8)
    warm[:] = (230, 150, 60)
    raw = place_in_scene(rgba, warm, SceneParams(harmonize=0.0, light_wrap=0.0, grain=False))
    tuned = place_in_scene(rgba, warm, SceneParams(harmonize=1.0, light_wrap=1.0, grain=False))
    assert tuned.cast[0] > 1.0 > tuned.cast[2]
    inside = np.zeros((600, 900), bool)
    inside[raw.box.slices] = True
    diff = tuned.rgb.astype(int) - raw.rgb.astype(int)
    assert diff[inside][:, 0].mean() > 0 > diff[inside][:, 2].mean()


def test_replace_background_on_real_photos_looks_like_one_photograph() -> None:
    product = photo("product")
    coffee = photo("coffee")
    table = cover(coffee[60:400, 380:600], 1200, 900)  # the wooden table alone
    outputs = {
        "studio": replace_background(product, "studio", size=(1200, 900), model=TEST_MODEL),
        "colour": replace_background(
            product,
            (214, 226, 236),
            size=(1200, 900),
            model=TEST_MODEL,
            params=SceneParams(
                placement="thirds-left", shadow=ShadowParams(opacity=0.45, direction=0.35)
            ),
        ),
        "table": replace_background(
            product,
            table,
            model=TEST_MODEL,
            params=SceneParams(placement="thirds-right", scale=0.55, floor=0.92),
        ),
    }
    for key, scene in outputs.items():
        assert scene.rgb.shape == (900, 1200, 3)
        save_image(scene.rgb, OUT / f"scene-{key}.png")
    corner = outputs["colour"].rgb[:40, -40:]
    assert np.abs(corner.astype(int) - (214, 226, 236)).max() == 0


# --------------------------------------------------------------------------- steps, CLI


def test_recipe_steps_run_and_name_bad_fields(tmp_path: Path) -> None:
    rgb = photo("chelsea")
    out, infos = apply_steps(
        rgb,
        [
            StepCall("object-removal", {"box": [30, 100, 60, 50]}),
            StepCall("replace-background", {"background": "#ffffff", "model": TEST_MODEL}),
        ],
    )
    assert out.shape == rgb.shape
    assert infos[0]["step"] == "object-removal" and infos[0]["masked_pixels"] == 3000
    assert infos[1]["step"] == "replace-background"
    with pytest.raises(StepError, match=r"object-removal: box"):
        apply_steps(rgb, [StepCall("object-removal", {"box": "1,2,3"})])
    with pytest.raises(StepError, match="unknown parameter"):
        apply_steps(rgb, [StepCall("replace-background", {"colour": "red"})])
    with pytest.raises(StepError, match="shadow direction"):
        apply_steps(rgb, [StepCall("replace-background", {"shadow": {"direction": 9}})])
    with pytest.raises(StepError, match="reference"):
        apply_steps(rgb, [StepCall("reference-inpaint", {"box": [1, 1, 20, 20]})])


def test_cli_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    original = photo("astronaut")
    tagged, patch = add_sticker(original, 40, 50, "$24.50", size=26)
    src = save_image(tagged, tmp_path / "tagged.png")
    out = tmp_path / "clean.png"
    res = runner.invoke(app, ["object-removal", str(src), "--text", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["text_boxes"] and Path(info["output"]) == out
    assert not any(overlaps(Box(*t.box), patch) for t in detect_text(load_image(out).pixels))
    # tag-removal (the API's name for it) is object-removal --text: the same bytes.
    tags = tmp_path / "tags.png"
    res = runner.invoke(app, ["tag-removal", str(src), "--out", str(tags)])
    assert res.exit_code == 0, res.output
    assert tags.read_bytes() == out.read_bytes()

    # reference inpaint from a file: a cut-out region and a rotated copy of it
    hole = np.zeros(original.shape[:2], np.uint8)
    hole[150:240, 200:290] = 255
    damaged = original.copy()
    damaged[hole > 0] = 0
    save_image(damaged, tmp_path / "damaged.png")
    save_image(hole, tmp_path / "mask.png")
    save_image(rotated_copy(original[105:285, 155:335], 17, 0.75), tmp_path / "ref.png")
    res = runner.invoke(
        app,
        [
            "inpaint-reference", str(tmp_path / "damaged.png"), "--reference",
            str(tmp_path / "ref.png"), "--mask", str(tmp_path / "mask.png"),
            "--out", str(tmp_path / "restored.png"), "--json",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["alignment"]["inliers"] >= 10
    restored = load_image(tmp_path / "restored.png").pixels
    assert np.abs(restored[hole > 0].astype(float) - original[hole > 0]).mean() < 8

    res = runner.invoke(
        app,
        [
            "replace-background", str(src), "--background", "studio", "--size", "640x480",
            "--model", TEST_MODEL, "--out", str(tmp_path / "scene.jpg"),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert load_image(tmp_path / "scene.jpg").pixels.shape == (480, 640, 3)

    bad = runner.invoke(app, ["object-removal", str(src), "--out", str(tmp_path / "x.png")])
    assert bad.exit_code == 2 and "say what to remove" in bad.output
    bad = runner.invoke(
        app,
        ["reference-inpaint", str(src), "-r", str(src), "--box", "0,0,10", "-o", str(out)],
    )
    assert bad.exit_code == 2 and "x,y,w,h" in bad.output
    bad = runner.invoke(app, ["replace-background", str(src), "--size", "big", "-o", str(out)])
    assert bad.exit_code == 2 and "WIDTHxHEIGHT" in bad.output


def _headline(rgb: Image.Image | npt.NDArray[np.uint8], text: str, y: int, size: int):  # type: ignore[no-untyped-def]
    """``text`` as display type (white, black outline) centred at row ``y``; the image and
    the pixels the letters changed."""
    im = Image.fromarray(np.asarray(rgb)).copy()
    font = ImageFont.load_default(size=size)
    width = ImageDraw.Draw(im).textbbox((0, 0), text, font=font)[2]
    ImageDraw.Draw(im).text(((im.width - width) // 2, y), text, font=font, fill=(255, 255, 255),
                            stroke_width=max(2, size // 14), stroke_fill=(20, 20, 20))  # fmt: skip
    out = np.asarray(im)
    return out, sticker_pixels(np.asarray(rgb), out)


def test_a_headline_across_a_face_is_removed_letter_by_letter() -> None:
    # A poster's headline over the astronaut's face: its box covers the face from brow to
    # chin. Repainting the box painted the face away; only the letters are repainted now,
    # and a line this large (over 8% of the photo) is removed at all.
    rgb = photo("astronaut")
    h = rgb.shape[0]
    poster, letters = _headline(rgb, "SALE", round(0.06 * h), round(0.2 * h))
    [line] = [Box(*t.box) for t in detect_text(poster) if Box(*t.box).height > 0.1 * h]
    mask = sticker_mask(poster, [line])
    assert mask[letters].mean() > 0.97
    between = np.zeros_like(letters)
    between[line.slices] = True
    between &= ~dilate(letters, round(0.06 * line.height))
    assert mask[between].mean() < 0.25, mask[between].mean()  # the face between the letters
    result = remove(poster, text=True)
    assert result.mask[letters].mean() > 0.97
    assert not any(b.height > 0.1 * h for b in (Box(*t.box) for t in detect_text(result.rgb)))
    assert np.array_equal(result.rgb[~result.mask], poster[~result.mask])
    save_image(result.rgb, OUT / "headline-removed.png")


def test_texture_boxed_as_text_is_not_repainted_as_letters() -> None:
    # A box on a texture holds no flat ink colour rarer inside than around it.
    rng = np.random.default_rng(3)
    grain = cv2.GaussianBlur(rng.integers(0, 256, (400, 600, 3), dtype=np.uint8), (0, 0), 1)
    box = Box(100, 100, 500, 300)
    assert glyph_mask(np.ascontiguousarray(grain), box) is None
    # ...and such a large box is left alone rather than repainted whole.
    assert not sticker_mask(np.ascontiguousarray(grain), [box]).any()
