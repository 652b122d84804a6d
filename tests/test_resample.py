"""ops.resample: filter choice by scale, exact sizes, premultiplied RGBA, method names."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from packshot.errors import InputError
from packshot.ops.resample import SR_MIN_FACTOR, resize_method, resize_to, sr_passes

Image = npt.NDArray[np.uint8]


def _rgb(h: int = 40, w: int = 60, seed: int = 0) -> Image:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


class Spy:
    """A stand-in upscaler (nearest-neighbour by the planned passes) that records calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, ...], float]] = []

    def __call__(self, rgb: Image, factor: float) -> Image:
        self.calls.append((rgb.shape, factor))
        k = int(np.prod(sr_passes(factor)))
        return np.repeat(np.repeat(rgb, k, axis=0), k, axis=1)


@pytest.mark.parametrize(
    ("src", "dst", "method"),
    [
        ((100, 80), (100, 80), "none"),
        ((100, 80), (50, 40), "area"),
        ((100, 80), (100, 40), "area"),
        ((100, 80), (140, 112), "lanczos"),
        ((100, 80), (149, 80), "lanczos"),
        ((100, 80), (150, 80), "lanczos"),
        ((100, 80), (199, 159), "lanczos"),
        ((100, 80), (200, 160), "fsrcnn-x2"),
        ((100, 80), (300, 240), "lanczos+fsrcnn-x2"),
        ((100, 80), (400, 320), "fsrcnn-x4"),
        ((100, 80), (600, 480), "lanczos+fsrcnn-x4"),
        ((100, 80), (1600, 1280), "lanczos+fsrcnn-x4"),
        ((100, 80), (60, 200), "lanczos+fsrcnn-x2"),  # one axis shrinks, the other grows 2.5x
    ],
)
def test_method_names(src: tuple[int, int], dst: tuple[int, int], method: str) -> None:
    assert resize_method(src, dst) == method


def test_method_without_upscaler_is_lanczos() -> None:
    assert resize_method((100, 80), (400, 320), sr_name=None) == "lanczos"
    assert resize_method((100, 80), (400, 320), sr_name="esrgan") == "esrgan-x4"
    with pytest.raises(InputError):
        resize_method((0, 80), (10, 10))


def test_shrink_is_area() -> None:
    rgb = _rgb()
    out = resize_to(rgb, 30, 20)
    assert out.shape == (20, 30, 3)
    expected = cv2.resize(rgb, (30, 20), interpolation=cv2.INTER_AREA)
    assert np.array_equal(out, expected)


def test_small_enlargement_is_lanczos_and_skips_the_upscaler() -> None:
    rgb = _rgb()
    spy = Spy()
    out = resize_to(rgb, 80, 55, upscaler=spy)
    assert spy.calls == []
    assert np.array_equal(out, cv2.resize(rgb, (80, 55), interpolation=cv2.INTER_LANCZOS4))


def test_large_enlargement_is_one_network_pass_sized_to_the_target() -> None:
    rgb = _rgb()
    spy = Spy()
    out = resize_to(rgb, 150, 100, upscaler=spy)  # 2.5x -> Lanczos to 75x50, one x2 pass
    assert out.shape == (100, 150, 3)
    assert spy.calls == [((50, 75, 3), 2)]
    pre = cv2.resize(rgb, (75, 50), interpolation=cv2.INTER_LANCZOS4)
    assert np.array_equal(out, np.repeat(np.repeat(pre, 2, axis=0), 2, axis=1))
    assert resize_method((60, 40), (150, 100)) == "lanczos+fsrcnn-x2"
    assert resize_method((60, 40), (150, 100), rgba=True) == "fsrcnn-x4"


def test_exact_factor_needs_no_area_pass() -> None:
    rgb = _rgb()
    out = resize_to(rgb, 120, 80, upscaler=Spy())
    assert np.array_equal(out, np.repeat(np.repeat(rgb, 2, axis=0), 2, axis=1))


def test_no_upscaler_means_lanczos_at_any_factor() -> None:
    rgb = _rgb()
    out = resize_to(rgb, 240, 160)
    assert np.array_equal(out, cv2.resize(rgb, (240, 160), interpolation=cv2.INTER_LANCZOS4))
    assert resize_method((60, 40), (240, 160), sr_name=None) == "lanczos"


def test_threshold_constant() -> None:
    assert SR_MIN_FACTOR == 2.0


def test_same_size_is_a_copy() -> None:
    rgb = _rgb()
    out = resize_to(rgb, 60, 40)
    assert np.array_equal(out, rgb) and out is not rgb


def test_short_upscaler_is_an_error() -> None:
    with pytest.raises(InputError, match="upscaler returned"):
        resize_to(_rgb(), 240, 160, upscaler=lambda rgb, f: rgb)


def _rgba_edge(h: int = 40, w: int = 60) -> Image:
    """Opaque grey on the right; transparent magenta garbage on the left."""
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[:, : w // 2] = (255, 0, 255, 0)
    rgba[:, w // 2 :] = (100, 100, 100, 255)
    return rgba


@pytest.mark.parametrize("size", [(30, 20), (80, 55), (150, 100)])
def test_rgba_is_premultiplied(size: tuple[int, int]) -> None:
    """The colour under alpha 0 never bleeds into the visible edge, at any scale."""
    out = resize_to(_rgba_edge(), *size, upscaler=Spy())
    assert out.shape == (size[1], size[0], 4)
    visible = out[..., 3] > 0
    assert visible.any()
    colours = out[visible][:, :3].astype(int)
    assert np.abs(colours - 100).max() <= 1  # grey, no magenta fringe
    assert np.all(out[:, : size[0] // 2 - 3, 3] == 0)  # alpha stays 0 away from the edge
    assert np.all(out[:, size[0] // 2 + 3 :, 3] == 255)


def test_rgba_upscaler_sees_premultiplied_colour() -> None:
    spy = Spy()
    resize_to(_rgba_edge(), 150, 100, upscaler=spy)
    assert len(spy.calls) == 2  # premultiplied colour, then alpha as grey
    assert spy.calls[0][0] == spy.calls[1][0] == (40, 60, 3)


def test_rejects_bad_input() -> None:
    with pytest.raises(InputError):
        resize_to(np.zeros((4, 4), np.uint8), 8, 8)
    with pytest.raises(InputError):
        resize_to(np.zeros((4, 4, 3), np.float32), 8, 8)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        resize_to(_rgb(), 0, 10)
