"""Tests for ops.extend: canvas extension to a target aspect by synthesised background."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from packshot.errors import InputError
from packshot.ops.extend import Extended, extend_to_aspect, feather_width


def _product(h: int, w: int) -> npt.NDArray[np.bool_]:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return ((x - w / 2) / (0.18 * w)) ** 2 + ((y - h / 2) / (0.25 * h)) ** 2 <= 1


def studio(
    h: int, w: int, grain: float = 3.0
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """Seamless paper: vertical gradient, vignette, sensor grain, a flat product in the middle."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 180 + 30 * (y / h) - 25 * (((x - w / 2) / (w / 2)) ** 2 + ((y - h / 2) / (h / 2)) ** 2)
    img = np.stack([base, base * 0.97 + 3, base * 0.93 + 6], -1)
    img = img + rng.normal(0, grain, img.shape)
    mask = _product(h, w)
    img[mask] = [40, 90, 160]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), mask


def wood(h: int, w: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """Wavy wood-grain stripes plus noise, a product in the middle."""
    rng = np.random.default_rng(2)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = x / 7.0 + 3 * np.sin(y / 23.0) + 2 * np.sin(x / 31.0 + y / 50.0)
    v = 130 + 40 * np.sin(phase) + 15 * np.sin(phase * 2.7 + 1) + rng.normal(0, 6, (h, w))
    img = np.stack([v * 1.1, v * 0.8, v * 0.5], -1)
    mask = _product(h, w)
    img[mask] = [30, 200, 60]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), mask


def _as_horizontal(
    e: Extended, img: npt.NDArray[np.uint8]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], int, int]:
    """Output and photo as float, and the seams: the first photo-own column and the first
    synthesised column after it (the photo's outermost columns may be resynthesised)."""
    out, src = e.rgb.astype(np.float32), img.astype(np.float32)
    synth = e.synthesized
    if e.photo_box.width == out.shape[1]:
        out, src, synth = out.transpose(1, 0, 2), src.transpose(1, 0, 2), synth.T
    own = np.flatnonzero(~synth.all(axis=0))
    return out, src, int(own[0]), int(own[-1]) + 1


def _adjacent_diff(a: npt.NDArray[np.float32], x: int) -> float:
    """Mean absolute difference between columns x - 1 and x."""
    return float(np.abs(a[:, x] - a[:, x - 1]).mean())


def _grain(a: npt.NDArray[np.float32]) -> float:
    """Noise std from the second difference along rows (insensitive to smooth gradients)."""
    d = a[2:] - 2 * a[1:-1] + a[:-2]
    return float(np.std(d) / np.sqrt(6.0))


STUDIO_CASES = [((360, 480), (1, 1)), ((360, 360), (16, 9)), ((480, 360), (9, 16))]


@pytest.mark.parametrize(("size", "aspect"), STUDIO_CASES)
def test_studio_extension(size: tuple[int, int], aspect: tuple[int, int]) -> None:
    img, mask = studio(*size)
    e = extend_to_aspect(img, mask, *aspect)
    oh, ow = e.rgb.shape[:2]
    assert ow * aspect[1] == oh * aspect[0]  # exact for these sizes
    assert e.method == "studio-fit"
    assert e.rgb.dtype == np.uint8
    # Product uncut and where the mask says.
    pb = e.product_box
    assert 0 <= pb.x0 < pb.x1 <= ow and 0 <= pb.y0 < pb.y1 <= oh
    placed = e.rgb[e.photo_box.slices]
    assert placed.shape == img.shape
    assert (placed[mask] == img[mask]).all()
    # Synthesised outside the photo, and at most a few of its outermost columns.
    outside = np.ones((oh, ow), bool)
    outside[e.photo_box.slices] = False
    assert (e.synthesized >= outside).all()
    assert 0 < (e.synthesized & ~outside).sum() <= 2 * 16 * max(oh, ow)
    out, src, x0, x1 = _as_horizontal(e, img)
    photo_x0 = e.photo_box.x0 if e.photo_box.height == oh else e.photo_box.y0
    feather = feather_width(src.shape[0], src.shape[1])
    # Photo pixels outside the feather zones are unchanged.
    inner = out[:, x0 + feather : x1 - feather]
    sx0 = x0 - photo_x0
    assert (inner == src[:, sx0 + feather : sx0 + feather + inner.shape[1]]).all()
    # No seam: the step across each seam is like the photo's own column-to-column step.
    own = np.mean([_adjacent_diff(src, x) for x in range(10, src.shape[1] - 10, 7)])
    for seam in (x0, x1):
        if 0 < seam < out.shape[1]:
            assert _adjacent_diff(out, seam) <= 1.5 * own
            assert _adjacent_diff(out, seam - feather) <= 1.5 * own
    # Low-frequency continuity: mean levels either side of the seam agree within 3 levels.
    for seam in (x0, x1):
        if 0 < seam < out.shape[1]:
            left = out[:, seam - 6 : seam].mean()
            right = out[:, seam : seam + 6].mean()
            assert abs(left - right) < 3.0
    # Grain of the new strips matches the source background's within 30%.
    src_grain = _grain(src[:, :20])
    for strip in (out[:, :x0], out[:, x1:]):
        if strip.shape[1] >= 10:
            assert abs(_grain(strip) / src_grain - 1.0) < 0.3


def test_textured_uses_patch_without_seam() -> None:
    img, mask = wood(240, 240)
    e = extend_to_aspect(img, mask, 16, 9)
    assert e.method == "patch"
    assert e.rgb.shape == (240, 427, 3)
    out, src, x0, x1 = _as_horizontal(e, img)
    own = np.mean([_adjacent_diff(src, x) for x in range(10, src.shape[1] - 10, 3)])
    for seam in (x0, x1):
        assert _adjacent_diff(out, seam) <= 1.5 * own
    # The strips are textured, not flat: the fill copies the background's structure.
    assert out[:, :x0].std() > 0.5 * src[:, :20].std()
    # Product colour never copied into the new strips.
    green = (e.rgb[..., 1] > 180) & (e.rgb[..., 0] < 80)
    assert not (green & e.synthesized).any()


def test_already_that_aspect() -> None:
    img, mask = studio(360, 480)
    e = extend_to_aspect(img, mask, 4, 3)
    assert e.method == "none"
    assert (e.rgb == img).all()
    assert not e.synthesized.any()
    e = extend_to_aspect(img[:, :479], mask[:, :479], 4, 3)  # within 1 px
    assert e.method == "none"


def test_allow_crop_alone() -> None:
    img, mask = studio(480, 360)  # 3:4, product in the middle 50% of rows
    e = extend_to_aspect(img, mask, 1, 1, allow_crop=True)
    assert e.method == "crop"
    assert e.rgb.shape == (360, 360, 3)
    assert not e.synthesized.any()
    pb = e.product_box
    assert pb.y0 > 0 and pb.y1 < 360
    assert (e.product_box.height, e.product_box.width) == _box_size(mask)


def _box_size(mask: npt.NDArray[np.bool_]) -> tuple[int, int]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def test_allow_crop_then_extend_keeps_margin() -> None:
    img, mask = studio(360, 480)  # 4:3 -> 9:16: crop columns to the product, then extend
    e = extend_to_aspect(img, mask, 9, 16, allow_crop=True, max_synth_share=0.9)
    assert e.method == "crop+studio-fit"
    oh, ow = e.rgb.shape[:2]
    assert abs(ow - round(oh * 9 / 16)) <= 1
    pad = round(0.05 * 480)
    pb = e.product_box
    assert pb.x0 - pad >= 0 and pb.x1 + pad <= ow
    assert (e.product_box.height, e.product_box.width) == _box_size(mask)
    # Less synthesised than without the crop.
    full = extend_to_aspect(img, mask, 9, 16, max_synth_share=0.9)
    assert e.synthesized.mean() < full.synthesized.mean()


def test_too_much_synthesis_refused() -> None:
    img, mask = studio(200, 200)
    with pytest.raises(InputError, match="synthesise"):
        extend_to_aspect(img, mask, 21, 9, max_synth_share=0.5)


def test_deterministic() -> None:
    for fn in (studio, wood):
        img, mask = fn(200, 200)
        a = extend_to_aspect(img, mask, 16, 9)
        b = extend_to_aspect(img, mask, 16, 9)
        assert a.rgb.tobytes() == b.rgb.tobytes()


def test_off_centre_product_keeps_photo_contiguous() -> None:
    img, mask = studio(300, 300)
    near = np.zeros_like(mask)
    near[:, 176:284] = mask[:, 96:204]  # product right of centre
    e = extend_to_aspect(img, near, 16, 9)
    assert e.rgb.shape == (300, 533, 3)
    assert e.photo_box.width == 300
    assert abs((e.product_box.x0 + e.product_box.x1) / 2 - 533 / 2) <= 1  # centred
    edge = np.zeros_like(mask)
    edge[100:200, 250:295] = True  # too close to the edge to centre: photo stays whole
    e = extend_to_aspect(img, edge, 16, 9)
    assert e.photo_box == type(e.photo_box)(0, 0, 300, 300)
    keep = 300 - feather_width(300, 300)
    assert (e.rgb[:, :keep] == img[:, :keep]).all()


def test_bad_inputs() -> None:
    img, mask = studio(100, 100)
    with pytest.raises(InputError, match="empty"):
        extend_to_aspect(img, np.zeros_like(mask), 16, 9)
    with pytest.raises(InputError, match="mask"):
        extend_to_aspect(img, mask[:50], 16, 9)
    with pytest.raises(InputError):
        extend_to_aspect(img, mask, 0, 9)
    with pytest.raises(InputError):
        extend_to_aspect(img[..., 0], mask, 16, 9)


def test_never_extends_beside_a_product_cut_by_the_frame() -> None:
    rng = np.random.default_rng(0)
    rgb = np.clip(200 + rng.normal(0, 3, (120, 90, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((120, 90), bool)
    mask[30:90, 50:] = True  # the product runs off the right edge
    rgb[mask] = (200, 60, 60)
    out = extend_to_aspect(rgb, mask, 4, 3)
    assert out.photo_box.x0 > 0 and out.synthesized[:, : out.photo_box.x0].all()
    assert not out.synthesized[:, out.photo_box.x1 :].any()  # nothing grown on its side
    assert out.photo_box.x1 == out.rgb.shape[1]
    both = np.zeros((120, 90), bool)
    both[30:90, :] = True
    with pytest.raises(InputError, match="touches both sides"):
        extend_to_aspect(rgb, both, 4, 3)


def test_darkened_photo_edge_is_not_carried_into_the_canvas() -> None:
    """Lenses darken a photo's outermost columns: they must not stay as a line mid-canvas."""
    img, mask = studio(360, 360)
    dark = img.astype(np.int16)
    dark[:, :4] -= 25
    dark[:, -4:] -= 25
    img = np.clip(dark, 0, 255).astype(np.uint8)
    e = extend_to_aspect(img, mask, 16, 9)
    out = e.rgb.astype(np.float32)
    for x in (e.photo_box.x0, e.photo_box.x1 - 1):
        column = out[:, x].mean()
        around = (out[:, x - 12 : x - 4].mean() + out[:, x + 5 : x + 13].mean()) / 2
        assert abs(column - around) < 4.0, (x, column, around)


def test_stray_strands_near_the_product_are_not_cloned() -> None:
    """Thin coloured strands the matte missed (flyaway hair) never seed the fill."""
    img, mask = wood(240, 240)
    strands = np.zeros(mask.shape, bool)
    for x in range(150, 200, 9):  # thin orange diagonal lines right of the product
        rr = np.arange(30, 210)
        strands[rr, np.clip(x + (rr - 30) // 6, 0, 239)] = True
    img[strands & ~mask] = [255, 120, 0]
    e = extend_to_aspect(img, mask, 16, 9)
    orange = (e.rgb[..., 0] > 200) & (e.rgb[..., 1] > 90) & (e.rgb[..., 1] < 150)
    orange &= e.rgb[..., 2] < 60
    assert orange[~e.synthesized].sum() > 100  # the photo keeps its strands
    assert orange[e.synthesized].sum() < 0.05 * orange[~e.synthesized].sum()
