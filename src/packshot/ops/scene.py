"""Replace background: put a cut-out product into a new scene so the result reads as one
photograph.

The scene is a photo (:func:`cover` fits it to the canvas), a colour, or a generated
studio sweep (:func:`studio_gradient`: a wall that bends into a floor, lit from above,
with a soft vignette and fine grain so it does not band). :func:`place_in_scene` scales
the product to a share of the canvas, stands it on a rule (centred, on the floor line, or
on a rule-of-thirds vertical standing on the floor line) and composites it with:

- the contact shadow of :func:`packshot.ops.compose.contact_shadow` (direction and
  softness are its parameters), darkening the scene under the product's base;
- colour harmonisation: the product takes on part of the scene's colour cast (its mean
  colour around the product relative to neutral grey), as if lit by the same light;
- light wrap: inside the product's outline, a narrow band is mixed with the blurred scene
  behind it, the way light from a background spills over an object's edge in a lens;
- grain: noise is added to the product until its fine-grain level matches the scene's,
  so a clean studio cutout does not look pasted onto a grainy photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError
from packshot.ops.compose import Color, ShadowParams, contact_shadow
from packshot.ops.framing import product_extent
from packshot.ops.geometry import Box, resize_rgba

__all__ = [
    "PLACEMENTS",
    "Scene",
    "SceneParams",
    "cover",
    "place_in_scene",
    "solid",
    "studio_gradient",
]

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
Placement = Literal["center", "floor", "thirds-left", "thirds-right"]
PLACEMENTS: tuple[str, ...] = ("center", "floor", "thirds-left", "thirds-right")


def _scene_shadow() -> ShadowParams:
    return ShadowParams(opacity=0.55, softness=0.03, height=0.035, offset=0.0, base=0.3)


@dataclass(frozen=True)
class SceneParams:
    """How the product goes into the scene.

    Attributes:
        placement: ``center``; ``floor`` (centred, standing on the floor line);
            ``thirds-left`` / ``thirds-right`` (standing on the floor line, centred on the
            left or right third line).
        scale: the product's size: its bounding box fits in this share of the canvas's
            width and height (0 < scale <= 1).
        floor: the floor line, as a share of the canvas height from the top.
        shadow: the contact shadow (None for none).
        harmonize: how much of the scene's colour cast the product takes on, 0..1.
        light_wrap: strength of the scene's light spilling over the product's edge, 0..1.
        grain: match the product's fine grain to the scene's.
        seed: seeds the grain: the same inputs give the same bytes.
    """

    placement: Placement = "floor"
    scale: float = 0.6
    floor: float = 0.86
    shadow: ShadowParams | None = field(default_factory=_scene_shadow)
    harmonize: float = 0.5
    light_wrap: float = 0.5
    grain: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise InputError(
                f"placement must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}"
            )
        checks = (
            ("scale", self.scale, 0.0 < self.scale <= 1.0, "above 0 and at most 1"),
            ("floor", self.floor, 0.05 <= self.floor <= 1.0, "from 0.05 to 1"),
            ("harmonize", self.harmonize, 0.0 <= self.harmonize <= 1.0, "from 0 to 1"),
            ("light_wrap", self.light_wrap, 0.0 <= self.light_wrap <= 1.0, "from 0 to 1"),
        )
        for name, value, ok, allowed in checks:
            if not (isinstance(value, int | float) and math.isfinite(value) and ok):
                raise InputError(f"{name} must be {allowed}, got {value!r}")


@dataclass(frozen=True, eq=False)
class Scene:
    """The result of :func:`place_in_scene`.

    Attributes:
        rgb: the composite, ``uint8`` HxWx3, the scene's size.
        box: the product's extent in it.
        scale: the factor the cutout was resampled by.
        shadow_box: the region the shadow darkened (None without shadow).
        cast: the per-channel gain the product was given by harmonisation.
    """

    rgb: ImageArray
    box: Box
    scale: float
    shadow_box: Box | None
    cast: tuple[float, float, float]


def _check_size(width: int, height: int) -> None:
    if not (isinstance(width, int) and isinstance(height, int)) or width < 8 or height < 8:
        raise InputError(f"the scene must be at least 8x8 pixels, got {width}x{height}")
    if width * height > 100_000_000:
        raise InputError(f"the scene {width}x{height} is larger than 100 megapixels")


def solid(width: int, height: int, color: Color) -> ImageArray:
    """A ``width x height`` scene of one colour."""
    _check_size(width, height)
    values = tuple(color)
    if len(values) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in values):
        raise InputError(f"colour must be three 0-255 integers, got {color!r}")
    return np.full((height, width, 3), values, np.uint8)


def studio_gradient(
    width: int,
    height: int,
    *,
    wall: Color = (236, 236, 238),
    floor: Color = (206, 206, 210),
    horizon: float = 0.62,
    vignette: float = 0.18,
    seed: int = 0,
) -> ImageArray:
    """A studio sweep: ``wall`` colour above, bending smoothly into ``floor`` below.

    Args:
        horizon: where the sweep bends, as a share of the height from the top.
        vignette: darkening at the corners, 0..1.
        seed: seeds the fine grain that keeps the gradient from banding.
    """
    _check_size(width, height)
    if not 0.0 < horizon < 1.0:
        raise InputError(f"horizon must be between 0 and 1, got {horizon!r}")
    if not 0.0 <= vignette <= 1.0:
        raise InputError(f"vignette must be from 0 to 1, got {vignette!r}")
    y = (np.arange(height, dtype=np.float32) + 0.5) / height
    x = (np.arange(width, dtype=np.float32) + 0.5) / width
    # The bend: a smoothstep a fifth of the height wide, centred on the horizon.
    t = np.clip((y - horizon) / 0.2 + 0.5, 0.0, 1.0)
    bend = t * t * (3.0 - 2.0 * t)
    top, bottom = np.asarray(wall, np.float32), np.asarray(floor, np.float32)
    # Light from above: the wall darkens slightly towards the top, the floor towards us.
    wall_col = top[None, :] * (1.0 - 0.05 * (1.0 - y[:, None] / horizon))
    floor_col = bottom[None, :] * (1.0 - 0.06 * np.clip((y[:, None] - horizon), 0.0, 1.0))
    column = wall_col * (1.0 - bend[:, None]) + floor_col * bend[:, None]
    r2 = ((x[None, :] - 0.5) / 0.75) ** 2 + ((y[:, None] - 0.45) / 0.9) ** 2
    shade = 1.0 - vignette * np.clip(r2, 0.0, 1.0)
    img = column[:, None, :] * shade[..., None]
    rng = np.random.default_rng(seed)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(0.8)
    return np.asarray(np.clip(np.rint(img), 0, 255), dtype=np.uint8)


def cover(background: ImageArray, width: int, height: int) -> ImageArray:
    """``background`` scaled to cover ``width x height`` and centre-cropped to it."""
    _check_size(width, height)
    if background.dtype != np.uint8 or background.ndim != 3 or background.shape[2] != 3:
        raise InputError(
            f"the background must be uint8 RGB, got {background.dtype} {background.shape}"
        )
    bh, bw = background.shape[:2]
    s = max(width / bw, height / bh)
    size = (max(width, round(bw * s)), max(height, round(bh * s)))
    interp = cv2.INTER_AREA if s < 1.0 else cv2.INTER_CUBIC
    big = np.asarray(cv2.resize(background, size, interpolation=interp), np.uint8)
    x0, y0 = (size[0] - width) // 2, (size[1] - height) // 2
    return np.ascontiguousarray(big[y0 : y0 + height, x0 : x0 + width])


def _grain(rgb: FloatArray, where: npt.NDArray[np.bool_]) -> float:
    """Robust std (grey levels) of the fine high-pass of ``rgb`` over ``where``."""
    grey = rgb.mean(axis=2)
    high = grey - np.asarray(cv2.GaussianBlur(grey, (0, 0), 1.5), np.float32)
    values = high[where]
    if values.size < 64:
        return 0.0
    mad = float(np.median(np.abs(values - np.median(values))))
    return 1.4826 * mad / 0.95


def _position(
    box: Box, layer_w: int, layer_h: int, width: int, height: int, params: SceneParams
) -> tuple[int, int]:
    """Top-left of the layer so that its product box ``box`` sits by the placement rule."""
    cx = {"thirds-left": width / 3.0, "thirds-right": 2.0 * width / 3.0}.get(
        params.placement, width / 2.0
    )
    x = round(cx - (box.x0 + box.x1) / 2.0)
    if params.placement == "center":
        y = round(height / 2.0 - (box.y0 + box.y1) / 2.0)
    else:
        y = round(params.floor * height) - box.y1
    # Keep the whole product on the canvas.
    x = min(max(x, -box.x0), width - box.x1)
    y = min(max(y, -box.y0), height - box.y1)
    del layer_w, layer_h
    return int(x), int(y)


def place_in_scene(
    rgba: ImageArray, background: ImageArray, params: SceneParams | None = None
) -> Scene:
    """Composite the straight-alpha cutout ``rgba`` into ``background`` (``uint8`` RGB,
    the output's size) by ``params``.

    Raises:
        InputError: bad arrays or parameters, or a cutout with no opaque pixels.
    """
    p = params or SceneParams()
    if not isinstance(rgba, np.ndarray) or rgba.dtype != np.uint8 or rgba.ndim != 3:
        raise InputError("the cutout must be a uint8 HxWx4 RGBA array")
    if rgba.shape[2] != 4:
        raise InputError(f"the cutout must be RGBA (HxWx4), got shape {rgba.shape}")
    if background.dtype != np.uint8 or background.ndim != 3 or background.shape[2] != 3:
        raise InputError(f"the scene must be uint8 RGB, got {background.dtype} {background.shape}")
    height, width = background.shape[:2]
    _check_size(width, height)
    alpha = rgba[..., 3]
    if int(alpha.max()) < 26:
        raise InputError("the cutout is empty: no product pixels to place in the scene")
    crop_box = product_extent(alpha, 0.0)
    measure = product_extent(alpha, 0.1)
    scale = p.scale * min(width / measure.width, height / measure.height)
    crop = rgba[crop_box.slices]
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    layer = resize_rgba(np.ascontiguousarray(crop), size)
    # The measured box inside the resized layer.
    inner = Box(
        round((measure.x0 - crop_box.x0) * scale),
        round((measure.y0 - crop_box.y0) * scale),
        round((measure.x1 - crop_box.x0) * scale),
        round((measure.y1 - crop_box.y0) * scale),
    )
    x, y = _position(inner, size[0], size[1], width, height, p)
    # Paste the layer onto a canvas-sized RGBA, clipping what falls outside.
    box = Box(inner.x0 + x, inner.y0 + y, inner.x1 + x, inner.y1 + y)
    sigma = max(1.5, 0.012 * max(box.width, box.height))
    # Everything but the shadow happens on the product's box grown by the light wrap's
    # reach: the rest of the canvas is the scene as it is.
    pad = math.ceil(3.0 * sigma) + 2
    work = Box(max(0, x - pad), max(0, y - pad), min(width, x + size[0] + pad),
               min(height, y + size[1] + pad))  # fmt: skip
    placed = np.zeros((work.height, work.width, 4), np.uint8)
    sx0, sy0 = max(0, -x), max(0, -y)
    dx0, dy0 = max(0, x) - work.x0, max(0, y) - work.y0
    w = min(size[0] - sx0, work.width - dx0)
    h = min(size[1] - sy0, work.height - dy0)
    placed[dy0 : dy0 + h, dx0 : dx0 + w] = layer[sy0 : sy0 + h, sx0 : sx0 + w]
    full_alpha = np.zeros((height, width), np.uint8)
    full_alpha[work.slices] = placed[..., 3]

    canvas = background.copy()
    shadow = None if p.shadow is None else contact_shadow(full_alpha, p.shadow)
    if shadow is not None:
        darken = 1.0 - np.float32(shadow.opacity) * shadow.strength[..., None]
        shaded = canvas[shadow.box.slices].astype(np.float32) * darken
        canvas[shadow.box.slices] = np.clip(np.rint(shaded), 0, 255).astype(np.uint8)

    scene = canvas[work.slices].astype(np.float32)
    a = placed[..., 3].astype(np.float32) / 255.0
    fg = placed[..., :3].astype(np.float32)
    around = Box(
        max(0, box.x0 - box.width // 2),
        max(0, box.y0 - box.height // 2),
        min(width, box.x1 + box.width // 2),
        min(height, box.y1 + box.height // 2),
    )
    local = canvas[around.slices].astype(np.float32)
    behind = full_alpha[around.slices] < 3
    mean = local[behind].mean(axis=0) if behind.any() else local.reshape(-1, 3).mean(axis=0)
    # The scene's cast relative to neutral; half of it at harmonize=1 (the product's own
    # colours must survive), capped so a saturated wall does not dye the product.
    cast = np.clip(mean / max(float(mean.mean()), 1.0), 0.7, 1.3) ** np.float32(0.5 * p.harmonize)
    fg *= cast.astype(np.float32)

    if p.light_wrap > 0.0:
        soft = np.asarray(cv2.GaussianBlur(a, (0, 0), sigma), np.float32)
        # Only the scene behind/around the product feeds the wrap: blur of scene weighted
        # by the background's visibility.
        vis = 1.0 - a
        num = np.asarray(cv2.GaussianBlur(scene * vis[..., None], (0, 0), sigma), np.float32)
        den = np.asarray(cv2.GaussianBlur(vis, (0, 0), sigma), np.float32)
        spill = num / np.maximum(den, 1e-3)[..., None]
        weight = np.clip(2.0 * (1.0 - soft), 0.0, 1.0) * np.float32(0.6 * p.light_wrap)
        fg = fg * (1.0 - weight[..., None]) + spill * weight[..., None]

    if p.grain:
        target = _grain(local, behind)
        own = _grain(fg, a > 0.99)
        extra = math.sqrt(max(0.0, target * target - own * own))
        if extra > 0.3:
            rng = np.random.default_rng(p.seed)
            noise = rng.standard_normal(a.shape, dtype=np.float32) * np.float32(extra)
            fg += noise[..., None]

    mixed = scene * (1.0 - a[..., None]) + fg * a[..., None]
    canvas[work.slices] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return Scene(
        rgb=canvas,
        box=box,
        scale=float(scale),
        shadow_box=None if shadow is None else shadow.box,
        cast=(float(cast[0]), float(cast[1]), float(cast[2])),
    )
