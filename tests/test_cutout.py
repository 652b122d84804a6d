"""The cutout pipeline with the real u2netp model on a synthetic studio product photo.

Nothing here fakes model output: u2netp (4.6 MB) is resolved through the registry into the
session-wide cache (see conftest.py). The photo is drawn, saved as JPEG and loaded back
through packshot's own loader, so the model sees real JPEG artefacts and noise.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from packshot.errors import InputError, UnknownModelError
from packshot.imageio import load_image, save_image
from packshot.models.registry import MODELS_DIR_ENV
from packshot.models.salient import Ensemble, Member, predict_probability, zoom_box
from packshot.ops.mask_metrics import score_matte
from packshot.ops.matte import RefineParams, composite_on_color, refine_alpha
from packshot.pipeline import cutout as cutout_module
from packshot.pipeline.cutout import (
    Cutout,
    ItemResult,
    cutout,
    cutout_files,
    output_names,
)

if TYPE_CHECKING:
    from conftest import ProductPhoto

TEST_MODEL = "u2netp"  # 4.6 MB; every test here runs the real model
pytestmark = pytest.mark.usefixtures("real_models")


def unit(alpha8: np.ndarray) -> npt.NDArray[np.float32]:
    """8-bit alpha as 0..1 float32."""
    return (alpha8 / 255.0).astype(np.float32)


def distance_inside(mask: np.ndarray) -> np.ndarray:
    return cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)


@pytest.fixture(scope="module")
def photo_jpeg(product_photo: ProductPhoto, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return product_photo.save_jpeg(tmp_path_factory.mktemp("photo") / "bottle.jpg")


@pytest.fixture
def small_photo(photo_factory: Callable[..., ProductPhoto]) -> ProductPhoto:
    """A 240x320 variant: enough for API checks, a quarter of the pixels."""
    return photo_factory(240, 320, seed=1)


@pytest.fixture(scope="module")
def bottle_cut(photo_jpeg: Path, model_cache: Path) -> tuple[np.ndarray, Cutout, Cutout]:
    """(decoded JPEG pixels, refined cutout, raw cutout), computed once."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(MODELS_DIR_ENV, str(model_cache))
        pixels = load_image(photo_jpeg).pixels
        return (
            pixels,
            cutout(pixels, model=TEST_MODEL),
            cutout(pixels, model=TEST_MODEL, refine=False),
        )


@pytest.fixture(scope="module")
def small_cut(model_cache: Path, photo_factory: Callable[..., ProductPhoto]) -> Cutout:
    """The refined cutout of ``small_photo`` from its array, computed once."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(MODELS_DIR_ENV, str(model_cache))
        return cutout(photo_factory(240, 320, seed=1).rgb, model=TEST_MODEL)


# --------------------------------------------------------------------------- quality


def test_cutout_of_a_studio_bottle(
    bottle_cut: tuple[np.ndarray, Cutout, Cutout], product_photo: ProductPhoto
) -> None:
    pixels, result, _ = bottle_cut

    assert isinstance(result, Cutout)
    assert result.model == TEST_MODEL
    assert set(result.timings) == {"model_s", "refine_s"}
    assert result.rgba.shape == (640, 480, 4) and result.rgba.dtype == np.uint8
    alpha = result.alpha
    truth = product_photo.mask

    # Measured with u2netp + refinement: IoU 0.9998, boundary IoU 0.999, MAE 0.004.
    score = score_matte(unit(alpha), truth.astype(np.float32))
    assert score.iou >= 0.98
    assert score.boundary_iou >= 0.95
    assert score.mae <= 0.02

    # Solid inside, clean outside: exactly 255 / 0 beyond the refinement band.
    assert (alpha[truth] == 255).mean() >= 0.85
    assert (alpha[distance_inside(truth) > 12] == 255).all()
    assert (alpha[distance_inside(~truth) > 16] == 0).all()
    for corner in (alpha[:60, :60], alpha[:60, -60:], alpha[-60:, :60], alpha[-60:, -60:]):
        assert not corner.any()

    # Colours: opaque pixels are the photo's; no stale colour far outside; transparent
    # pixels composite to exactly the new background.
    opaque = alpha == 255
    np.testing.assert_array_equal(result.rgba[opaque][:, :3], pixels[opaque])
    assert not result.rgba[distance_inside(~truth) > 16][:, :3].any()
    white = composite_on_color(result.rgba, (255, 255, 255))
    assert (white[alpha == 0] == 255).all()


def test_refinement_sharpens_the_raw_model_edge(
    bottle_cut: tuple[np.ndarray, Cutout, Cutout], product_photo: ProductPhoto
) -> None:
    pixels, refined, raw = bottle_cut
    truth = product_photo.mask.astype(np.float32)
    raw_score = score_matte(unit(raw.alpha), truth)
    refined_score = score_matte(unit(refined.alpha), truth)
    # Measured: raw IoU 0.997 / boundary IoU 0.976; refined 0.9998 / 0.999.
    assert raw_score.iou >= 0.95
    assert refined_score.boundary_iou >= raw_score.boundary_iou
    # Without refinement the colours are the photo's, untouched.
    np.testing.assert_array_equal(raw.rgba[..., :3], pixels)


# --------------------------------------------------------------------------- inputs


def test_cutout_accepts_a_pil_image(small_photo: ProductPhoto, small_cut: Cutout) -> None:
    from_array = small_cut
    from_pil = cutout(Image.fromarray(small_photo.rgb), model=TEST_MODEL)
    np.testing.assert_array_equal(from_pil.rgba, from_array.rgba)
    # Other PIL modes are converted: palette, and RGBA whose alpha is nowhere opaque
    # (it says nothing about the product, so it is ignored).
    rgba_pil = Image.fromarray(
        np.dstack([small_photo.rgb, np.full(small_photo.mask.shape, 9)]).astype(np.uint8), "RGBA"
    )
    np.testing.assert_array_equal(cutout(rgba_pil, model=TEST_MODEL).rgba, from_array.rgba)
    palette = Image.fromarray(small_photo.rgb).convert("P")
    assert cutout(palette, model=TEST_MODEL).rgba.shape == (320, 240, 4)


def test_cutout_ignores_an_empty_alpha_channel(
    small_photo: ProductPhoto, small_cut: Cutout
) -> None:
    opaque = small_cut
    holes = np.zeros(small_photo.mask.shape, np.uint8)  # fully transparent input
    with_alpha = cutout(np.dstack([small_photo.rgb, holes]), model=TEST_MODEL)
    np.testing.assert_array_equal(with_alpha.rgba, opaque.rgba)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((32, 32), np.uint8),  # grey, 2-D
        np.zeros((32, 32, 3), np.float32),  # float
        np.zeros((32, 32, 3), np.uint16),  # 16-bit
        np.zeros((32, 32, 2), np.uint8),  # two channels
        np.zeros((32, 32, 5), np.uint8),  # five channels
        np.zeros((1, 32, 3), np.uint8),  # one row
        np.zeros((0, 0, 3), np.uint8),  # empty
    ],
    ids=["2d", "float", "uint16", "2ch", "5ch", "1row", "empty"],
)
def test_bad_arrays_raise_input_error(bad: np.ndarray) -> None:
    with pytest.raises(InputError):
        cutout(bad, model=TEST_MODEL)


def test_unknown_model_name() -> None:
    with pytest.raises(UnknownModelError, match="u2netpp"):
        cutout(np.zeros((32, 32, 3), np.uint8), model="u2netpp")


def test_model_of_another_task_is_refused() -> None:
    with pytest.raises(InputError, match="not a background-removal model"):
        cutout(np.zeros((32, 32, 3), np.uint8), model="yolox-nano")


# --------------------------------------------------------------------------- batches


def make_batch_folder(folder: Path, photo: ProductPhoto) -> dict[str, Path]:
    """Two good photos and three bad files, as a careless export would leave them."""
    folder.mkdir()
    jpeg = photo.jpeg_bytes()
    files = {
        "good": folder / "good.jpg",
        "good2": folder / "good2.png",
        "empty": folder / "empty.jpg",
        "text": folder / "notes.png",
        "truncated": folder / "truncated.jpg",
    }
    files["good"].write_bytes(jpeg)
    Image.fromarray(photo.rgb).save(files["good2"])
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not an image\n")
    files["truncated"].write_bytes(jpeg[: len(jpeg) // 2])
    return files


def test_batch_one_bad_file_fails_alone(tmp_path: Path, small_photo: ProductPhoto) -> None:
    files = make_batch_folder(tmp_path / "in", small_photo)
    out = tmp_path / "out"
    seen: list[ItemResult] = []

    results = cutout_files([tmp_path / "in"], out, model=TEST_MODEL, on_item=seen.append)

    assert seen == results
    by_source = {Path(r.source).name: r for r in results}
    assert sorted(by_source) == sorted(p.name for p in files.values())
    for key in ("good", "good2"):
        item = by_source[files[key].name]
        assert item.ok and item.error is None, item.error
        target = out / f"{files[key].stem}.png"
        assert item.output == str(target)
        with Image.open(target) as im:
            assert im.format == "PNG" and im.mode == "RGBA" and im.size == (240, 320)
            alpha = np.asarray(im)[..., 3]
        assert alpha[small_photo.mask].mean() > 240 and alpha[:30, :30].max() == 0
        assert item.seconds > 0
    for key in ("empty", "text", "truncated"):
        item = by_source[files[key].name]
        assert not item.ok and item.output is None
        assert files[key].name in (item.error or "")
        assert "internal error" not in (item.error or "")
        assert not (out / f"{files[key].stem}.png").exists()
    assert "0 bytes" in (by_source["empty.jpg"].error or "")
    assert "not an image" in (by_source["notes.png"].error or "")
    assert "truncated" in (by_source["truncated.jpg"].error or "")
    assert sorted(p.name for p in out.iterdir()) == ["good.png", "good2.png"]


def test_batch_mask_only_writes_8_bit_grey(tmp_path: Path, small_photo: ProductPhoto) -> None:
    src = small_photo.save_jpeg(tmp_path / "bottle.jpg")
    [rgba_item] = cutout_files([src], tmp_path / "rgba", model=TEST_MODEL)
    [mask_item] = cutout_files([src], tmp_path / "mask", model=TEST_MODEL, mask_only=True)
    assert rgba_item.ok and mask_item.ok
    with Image.open(mask_item.output or "") as im:
        assert im.mode == "L" and im.size == (240, 320)
        mask = np.asarray(im)
    with Image.open(rgba_item.output or "") as im:
        rgba = np.asarray(im)
    assert mask.ndim == 2 and mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, rgba[..., 3])  # same pipeline, same alpha


def test_batch_clashing_stems_do_not_overwrite(tmp_path: Path, small_photo: ProductPhoto) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = small_photo.save_jpeg(tmp_path / "a" / "bottle.jpg")
    second = tmp_path / "b" / "bottle.png"
    Image.fromarray(small_photo.rgb).save(second)
    results = cutout_files([first, second], tmp_path / "out", model=TEST_MODEL, mask_only=True)
    assert [Path(r.output or "").name for r in results] == ["bottle.png", "bottle-2.png"]
    assert all(Path(r.output or "").is_file() for r in results)


def test_output_names_deduplicate_clashing_stems() -> None:
    names = output_names(
        [Path("x/shoe.jpg"), Path("y/shoe.png"), Path("z/Shoe.webp"), Path("bag.jpg")], ".png"
    )
    assert names == ["shoe.png", "shoe-2.png", "Shoe-3.png", "bag.png"]
    assert output_names([], ".png") == []


def test_output_names_never_repeat_a_name_already_taken() -> None:
    # "shoe-2" exists as a real stem: the second "shoe" must not take its name.
    for order in (
        ["x/shoe.jpg", "y/shoe.jpg", "z/shoe-2.jpg"],
        ["z/shoe-2.jpg", "x/shoe.jpg", "y/shoe.jpg"],
        ["x/shoe.jpg", "z/SHOE-2.jpg", "y/shoe.jpg", "w/shoe.jpg"],
    ):
        names = output_names([Path(p) for p in order], ".png")
        assert len({n.lower() for n in names}) == len(names), names
        assert names[0] == f"{Path(order[0]).stem}.png"


def test_unknown_model_fails_before_any_image_is_read(
    tmp_path: Path, small_photo: ProductPhoto, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = small_photo.save_jpeg(tmp_path / "bottle.jpg")
    read: list[object] = []
    monkeypatch.setattr(cutout_module, "load_image", lambda *a, **k: read.append(a))
    with pytest.raises(UnknownModelError, match="Known models"):
        cutout_files([src], tmp_path / "out", model="no-such-model")
    assert read == []


def test_missing_input_path(tmp_path: Path, small_photo: ProductPhoto) -> None:
    src = small_photo.save_jpeg(tmp_path / "bottle.jpg")
    gone = tmp_path / "gone.jpg"
    with pytest.raises(InputError, match=r"gone\.jpg: no such file"):
        cutout_files([src, gone], tmp_path / "out", model=TEST_MODEL)
    assert not (tmp_path / "out").exists()


def test_output_folder_that_is_a_file(tmp_path: Path, small_photo: ProductPhoto) -> None:
    src = small_photo.save_jpeg(tmp_path / "bottle.jpg")
    blocker = tmp_path / "out"
    blocker.write_text("a file, not a folder")
    with pytest.raises(InputError, match="cannot create the output folder"):
        cutout_files([src], blocker, model=TEST_MODEL)


def test_cutout_files_skips_its_own_outputs_inside_an_input_folder(
    tmp_path: Path, real_models: Path, product_photo: ProductPhoto
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "bottle.jpg").write_bytes(product_photo.jpeg_bytes())
    out = photos / "cut"
    first = cutout_files([photos], out, model="u2netp")
    again = cutout_files([photos], out, model="u2netp")
    assert [r.ok for r in first] == [True]
    # The re-run sees only the photo, not cut/bottle.png from the first run.
    assert [Path(r.source).name for r in again] == ["bottle.jpg"]
    assert sorted(p.name for p in out.iterdir()) == ["bottle.png"]


def test_cutout_files_refuses_to_overwrite_a_source(
    tmp_path: Path, real_models: Path, product_photo: ProductPhoto
) -> None:
    src = tmp_path / "bottle.png"
    save_image(product_photo.rgb, src)
    before = src.read_bytes()
    [result] = cutout_files([src], tmp_path, model="u2netp")
    assert not result.ok and "overwrite" in (result.error or "")
    assert src.read_bytes() == before


def test_cutout_keeps_existing_transparency(real_models: Path, product_photo: ProductPhoto) -> None:
    rgba = np.dstack([product_photo.rgb, np.full(product_photo.mask.shape, 255, np.uint8)])
    w = product_photo.mask.shape[1]
    rgba[:, : w // 2, 3] = 0  # the left half was already cut away
    rgba[:, : w // 2, :3] = 0  # with black, as many tools leave it
    result = cutout(rgba, model="u2netp")
    assert result.alpha[:, : w // 2].max() == 0
    right = product_photo.mask.copy()
    right[:, : w // 2] = False
    # The product's remaining half is still cut out, not confused by the black area.
    assert (result.alpha[right] == 255).mean() > 0.9


def test_zoom_box_only_for_objects_that_leave_most_of_the_frame_empty() -> None:
    frame = np.zeros((1000, 2000), bool)
    assert zoom_box(frame) is None
    frame[600:700, 400:1400] = True  # a long, low object (a car side-on)
    box = zoom_box(frame)
    assert box is not None
    rows, cols = box
    assert rows.start <= 600 and rows.stop >= 700 and cols.start <= 400 and cols.stop >= 1400
    # Padded, and its short side widened to at most 2:1.
    assert (cols.stop - cols.start) <= 2 * (rows.stop - rows.start) + 2
    # A crop smaller than the network's input would only be upsampled.
    assert zoom_box(frame, min_side=1200) is None
    frame[50:950, 100:1900] = True  # now it fills the frame: nothing to zoom into
    assert zoom_box(frame) is None


def test_a_small_object_is_cut_out_from_a_zoomed_crop(product_photo: ProductPhoto) -> None:
    # The bottle in a wide studio frame: a fifth of the frame's area.
    rgb = cv2.copyMakeBorder(product_photo.rgb, 200, 200, 500, 500, cv2.BORDER_REPLICATE)
    truth = np.pad(product_photo.mask, ((200, 200), (500, 500)))
    located = Ensemble(
        "test", (Member(TEST_MODEL), Member(TEST_MODEL, "flip")), "", Member(TEST_MODEL)
    )
    assert zoom_box(truth) is not None
    prob = predict_probability(rgb, located)
    assert prob.shape == truth.shape and prob.dtype == np.float32
    score = score_matte(refine_alpha(rgb, prob, RefineParams()), truth.astype(np.float32))
    assert score.iou >= 0.97
    assert score.boundary_iou >= 0.9


def test_a_photo_over_the_working_grid_is_segmented_on_it_and_refined_at_full_size(
    small_photo: ProductPhoto, monkeypatch: pytest.MonkeyPatch
) -> None:
    from packshot.ops import matte

    rgb = small_photo.rgb
    height, width = rgb.shape[:2]
    monkeypatch.setattr(matte, "WORK_PIXELS", height * width // 4)
    monkeypatch.setattr(matte, "STRIP_PIXELS", height * width // 8)
    cut = cutout(rgb)
    assert cut.probability is not None
    assert cut.probability.shape == matte.working_shape(height, width)
    assert cut.probability.size <= height * width // 4
    assert cut.rgba.shape == (height, width, 4)
    score = score_matte(unit(cut.alpha), small_photo.mask.astype(np.float32))
    assert score.iou > 0.95
    # The map is reused as given: re-refining with other settings runs no model.
    again = cutout(rgb, probability=cut.probability, params=RefineParams(edge_gain=1.0))
    assert again.timings["model_s"] < 0.05 and again.rgba.shape == cut.rgba.shape
    with pytest.raises(InputError, match="does not match the image"):
        cutout(rgb, probability=cut.probability[:-1])
