"""Repairs and new backgrounds: the Python API the CLI, the recipe steps and the HTTP
solutions (object-removal, tag-removal, reference-inpaint, replace-background) all call.

- :func:`remove` repaints a region given as a mask, a box, or found by text detection
  (price tags, stickers, watermarks: each text line grown to the patch it is printed on).
  Object removal and tag removal are the same function with a different mask source.
- :func:`reference_inpaint` repaints a region from a reference image of what belongs there.
- :func:`replace_background` cuts the product out and places it into a photo, a colour or
  a generated studio sweep.

Each has a recipe step (:func:`run_remove`, :func:`run_reference_inpaint`,
:func:`run_replace_background`) with the signature of :mod:`packshot.pipeline.steps`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from packshot.errors import InputError
from packshot.imageio import as_pixels, load_image, save_image
from packshot.models.inpaint import default_inpainter, neural_inpainter
from packshot.models.salient import DEFAULT_ENSEMBLE
from packshot.operations import OBJECT_REMOVAL
from packshot.ops.compose import ShadowParams
from packshot.ops.geometry import Box, parse_box
from packshot.ops.inpaint import Filler, FillQuality, Method, dilate, inpaint
from packshot.ops.matte import composite_on_color
from packshot.ops.reference import Mode, ReferenceFilled, inpaint_from_reference
from packshot.ops.scene import (
    PLACEMENTS,
    Scene,
    SceneParams,
    cover,
    place_in_scene,
    solid,
    studio_gradient,
)
from packshot.ops.sticker import sticker_mask
from packshot.pipeline.cutout import cutout
from packshot.pipeline.steps import StepResult
from packshot.presets.colors import parse_color

__all__ = [
    "Removal",
    "load_mask",
    "reference_inpaint",
    "reference_inpaint_file",
    "removable_text",
    "removal_mask",
    "remove",
    "remove_file",
    "replace_background",
    "replace_background_file",
    "run_reference_inpaint",
    "run_remove",
    "run_replace_background",
]

ImageArray = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]
Background = ImageArray | tuple[int, int, int] | Literal["studio"]

_MAX_TEXT_SHARE = 0.25
"""Text boxes covering more of the photo than this are not removed: a poster's headline
takes up to about a fifth of it; a larger box is the scene's own lettering (a studio
wall's logo behind a car, which the fill would take the car with) or a detector's false
hit. A display line up to this size is repainted letter by letter (:func:`sticker_mask`)."""
_GROUP_GAP = 12
"""Holes of removed text closer than this many pixels are filled together."""
_MAX_TEXT_HEIGHT = 0.3
"""Text boxes taller than this share of the photo's height are not removed."""


# --------------------------------------------------------------------------- inputs


def _rgb(image: ImageArray | Image.Image, what: str = "image") -> ImageArray:
    arr = as_pixels(image, what=what)
    if arr.shape[2] == 4:
        # Transparent pixels have arbitrary colours: show them over white, as a photo would.
        return composite_on_color(arr, (255, 255, 255))
    return arr


def load_mask(source: Any, width: int, height: int, field: str = "mask") -> BoolArray:
    """A mask from an image file or array: True where any channel (or alpha) is above half."""
    if isinstance(source, np.ndarray):
        arr = source
    else:
        arr = load_image(source, label=f"{field} {source}").pixels
    if arr.ndim == 3:
        arr = arr[..., 3] if arr.shape[2] == 4 and arr[..., 3].min() < 255 else arr.max(axis=2)
    mask = np.asarray(arr > (0.5 if arr.dtype == bool or arr.max() <= 1 else 127), dtype=bool)
    if mask.shape != (height, width):
        raise InputError(
            f"{field}: the mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
            f"{width}x{height}; the mask must have the image's size"
        )
    return mask


# --------------------------------------------------------------------------- removal


@dataclass(frozen=True, eq=False)
class Removal:
    """The result of :func:`remove`.

    Attributes:
        rgb: the repaired photo, identical to the input outside ``mask``.
        mask: the pixels that were repainted.
        method: the inpainting back-end used (``patchmatch``, ``telea``, a model name).
        text_boxes: the text lines found (``text=True``), in image pixels.
        quality: the fill's :class:`~packshot.ops.inpaint.FillQuality` (for the gate).
    """

    rgb: ImageArray
    mask: BoolArray
    method: str
    text_boxes: tuple[Box, ...]
    quality: FillQuality

    def info(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "masked_pixels": int(self.mask.sum()),
            "text_boxes": [[b.x0, b.y0, b.width, b.height] for b in self.text_boxes],
            "fill_structure": round(self.quality.structure, 3),
            "fill_seam": round(self.quality.seam, 3),
            "fill_ok": self.quality.ok,
        }


def removable_text(rgb: ImageArray, text_model: str | None = None) -> tuple[Box, ...]:
    """The text lines the detector finds that are small enough to be text.

    A line of text on a tag or a watermark is a small part of a photo; the detector
    sometimes calls a large textured area (a studio wall's grain) "text", and removing that
    would repaint the scene.
    """
    from packshot.models.text import detect_text  # loads the detector only when asked

    height, width = rgb.shape[:2]
    limit = _MAX_TEXT_SHARE * height * width
    boxes = (Box(*t.box) for t in detect_text(rgb, model=text_model))
    return tuple(
        b for b in boxes if b.width * b.height <= limit and b.height <= _MAX_TEXT_HEIGHT * height
    )


def removal_mask(
    rgb: ImageArray,
    *,
    mask: BoolArray | None = None,
    box: Box | None = None,
    text: bool = False,
    text_model: str | None = None,
) -> tuple[BoolArray, tuple[Box, ...]]:
    """The union of the given mask, the box, and (``text``) the detected text with the
    patches it is printed on; and the text boxes found."""
    height, width = rgb.shape[:2]
    out = np.zeros((height, width), bool)
    if mask is not None:
        if mask.shape != (height, width):
            raise InputError(
                f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is {width}x{height}"
            )
        out |= mask
    if box is not None:
        out[box.slices] = True
    boxes: tuple[Box, ...] = ()
    if text:
        boxes = removable_text(rgb, text_model)
        out |= sticker_mask(rgb, boxes)
    return out, boxes


def _filler(model: str | None) -> tuple[Method, Filler | None]:
    """``auto``: an installed neural model if one is registered, else PatchMatch/Telea."""
    if model is None or model == "auto":
        return "auto", default_inpainter()
    if model in ("patchmatch", "telea"):
        return model, None  # type: ignore[return-value]
    return "auto", neural_inpainter(model)


def remove(
    image: ImageArray | Image.Image,
    *,
    mask: BoolArray | None = None,
    box: Box | None = None,
    text: bool = False,
    model: str | None = None,
    text_model: str | None = None,
    protect: BoolArray | None = None,
    seed: int = 0,
) -> Removal:
    """Remove an object, a tag, a sticker, a watermark or text from a photo.

    Args:
        image: uint8 RGB (RGBA is shown over white) or a PIL image.
        mask, box, text: what to remove: a mask (True = remove), a box, and/or the text
            the detector finds (with the stickers it is on); at least one.
        model: inpainting back-end: ``auto`` (default: an installed registered network,
            else PatchMatch with Telea for thin holes), ``patchmatch``, ``telea``, or a
            registered ``inpainting`` model name or ``.onnx`` path.
        text_model: the text-detection model (default: the registry's).
        protect: pixels never copied into the hole (e.g. the product).
        seed: PatchMatch's seed.

    Raises:
        InputError: nothing to remove was given, or shapes do not match.
    """
    rgb = _rgb(image)
    if mask is None and box is None and not text:
        raise InputError("say what to remove: a mask, a box, or text=True")
    hole, boxes = removal_mask(rgb, mask=mask, box=box, text=text, text_model=text_model)
    method, filler = _filler(model)
    if not hole.any():
        return Removal(rgb.copy(), hole, "none", boxes, FillQuality(0.0, 1.0))
    if not boxes:
        filled = inpaint(rgb, hole, method=method, filler=filler, protect=protect, seed=seed)
        return Removal(filled.rgb, hole, filled.method, boxes, filled.quality)
    # Lines of text lie apart (a headline at the top, small print at the bottom): one fill
    # over their common box would copy from anywhere between them (a mouth into a bow), so
    # each group of nearby holes is filled from its own surroundings.
    count, labels = cv2.connectedComponents(dilate(hole, _GROUP_GAP).astype(np.uint8))
    out, methods, worst = rgb, set[str](), FillQuality(0.0, 0.0)
    for label in range(1, count):
        part = hole & (labels == label)
        filled = inpaint(out, part, method=method, filler=filler, protect=protect, seed=seed)
        out = filled.rgb
        methods.add(filled.method)
        q = filled.quality
        worst = FillQuality(max(worst.structure, q.structure), max(worst.seam, q.seam))
    return Removal(out, hole, "+".join(sorted(methods)), boxes, worst)


# --------------------------------------------------------------------------- reference


def reference_inpaint(
    image: ImageArray | Image.Image,
    mask: BoolArray,
    reference: ImageArray | Image.Image,
    *,
    mode: Mode = "align",
    texture_scale: float = 1.0,
    min_inliers: int = 10,
    max_error: float = 3.0,
    seed: int = 0,
) -> ReferenceFilled:
    """Repaint ``mask`` from ``reference`` (see :func:`packshot.ops.reference.
    inpaint_from_reference`); raises ``ReferenceMatchError`` when it cannot be aligned."""
    return inpaint_from_reference(
        _rgb(image),
        np.asarray(mask, dtype=bool),
        _rgb(reference, "reference"),
        mode=mode,
        texture_scale=texture_scale,
        min_inliers=min_inliers,
        max_error=max_error,
        seed=seed,
    )


# --------------------------------------------------------------------------- scene


def replace_background(
    image: ImageArray | Image.Image,
    background: Background = "studio",
    *,
    size: tuple[int, int] | None = None,
    params: SceneParams | None = None,
    model: str = DEFAULT_ENSEMBLE,
) -> Scene:
    """Cut the product out of ``image`` and place it into ``background``.

    Args:
        image: a photo (cut out with ``model``) or an RGBA cutout (used as is when it is
            transparent anywhere).
        background: a photo (uint8 RGB), a colour ``(r, g, b)``, or ``"studio"`` for a
            generated studio sweep.
        size: output ``(width, height)``; default: the background photo's size, else the
            image's.
        params: placement, scale, shadow, harmonisation (:class:`SceneParams`).
        model: the cutout model for photos.
    """
    arr = np.asarray(image.convert("RGBA")) if isinstance(image, Image.Image) else image
    if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 3:
        raise InputError("the image must be a uint8 RGB or RGBA array")
    # An RGBA image that is transparent somewhere is a cutout already.
    is_cutout = arr.shape[2] == 4 and int(arr[..., 3].min()) < 255
    rgba = arr if is_cutout else cutout(arr, model=model).rgba
    if isinstance(background, np.ndarray):
        scene_rgb = _rgb(background, "background")
        width, height = size or (scene_rgb.shape[1], scene_rgb.shape[0])
        scene_rgb = cover(scene_rgb, width, height)
    else:
        width, height = size or (arr.shape[1], arr.shape[0])
        if isinstance(background, str):
            if background != "studio":
                raise InputError(
                    f"background must be an image, a colour or 'studio', got {background!r}"
                )
            scene_rgb = studio_gradient(width, height)
        else:
            scene_rgb = solid(width, height, parse_color(background, "background"))
    return place_in_scene(rgba, scene_rgb, params)


# --------------------------------------------------------------------------- recipe steps


def _check_keys(params: Mapping[str, Any], allowed: Sequence[str], step: str) -> None:
    if not isinstance(params, Mapping):
        raise InputError(f"{step}: parameters must be a mapping, got {type(params).__name__}")
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InputError(
            f"{step}: unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}"
        )


def _number(params: Mapping[str, Any], key: str, default: float, step: str) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{step}: {key}: {value!r} must be a number")
    return float(value)


def _int(params: Mapping[str, Any], key: str, default: int, step: str) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{step}: {key}: {value!r} must be an integer")
    return value


def _hole(params: Mapping[str, Any], rgb: ImageArray, step: str) -> BoolArray | None:
    height, width = rgb.shape[:2]
    mask = None
    if params.get("mask") is not None:
        mask = load_mask(params["mask"], width, height, f"{step}: mask")
    if params.get("box") is not None:
        b = parse_box(params["box"], (height, width), f"{step}: box")
        mask = np.zeros((height, width), bool) if mask is None else mask
        mask[b.slices] = True
    return mask


def run_remove(pixels: ImageArray, params: Mapping[str, Any]) -> StepResult:
    """Recipe step ``object-removal``: ``{text: true}``, ``{box: [x, y, w, h]}`` and/or
    ``{mask: path}``; optional ``model``, ``text_model``, ``seed``."""
    step = OBJECT_REMOVAL
    _check_keys(params, ("text", "box", "mask", "model", "text_model", "seed"), step)
    text = params.get("text", False)
    if not isinstance(text, bool):
        raise InputError(f"{step}: text: {text!r} must be true or false")
    rgb = _rgb(pixels)
    mask = _hole(params, rgb, step)
    if mask is None and not text:
        raise InputError(f"{step}: say what to remove: text: true, box: [x, y, w, h] or mask: FILE")
    for key in ("model", "text_model"):
        if params.get(key) is not None and not isinstance(params[key], str):
            raise InputError(f"{step}: {key}: {params[key]!r} must be a model name")
    result = remove(
        rgb,
        mask=mask,
        text=text,
        model=params.get("model"),
        text_model=params.get("text_model"),
        seed=_int(params, "seed", 0, step),
    )
    return StepResult(result.rgb, result.info())


def run_reference_inpaint(pixels: ImageArray, params: Mapping[str, Any]) -> StepResult:
    """Recipe step ``reference-inpaint``: ``{reference: path, mask: path | box: [...]}``;
    optional ``mode`` (align, texture), ``texture_scale``, ``min_inliers``, ``max_error``."""
    step = "reference-inpaint"
    keys = ("reference", "mask", "box", "mode", "texture_scale", "min_inliers", "max_error", "seed")
    _check_keys(params, keys, step)
    rgb = _rgb(pixels)
    mask = _hole(params, rgb, step)
    if mask is None:
        raise InputError(f"{step}: give the region to repaint: mask: FILE or box: [x, y, w, h]")
    ref_path = params.get("reference")
    if ref_path is None:
        raise InputError(f"{step}: reference: the reference image file is required")
    reference = load_image(ref_path, label=f"{step}: reference {ref_path}").pixels
    mode = params.get("mode", "align")
    if mode not in ("align", "texture"):
        raise InputError(f"{step}: mode: {mode!r} must be 'align' or 'texture'")
    result = reference_inpaint(
        rgb,
        mask,
        reference,
        mode=mode,
        texture_scale=_number(params, "texture_scale", 1.0, step),
        min_inliers=_int(params, "min_inliers", 10, step),
        max_error=_number(params, "max_error", 3.0, step),
        seed=_int(params, "seed", 0, step),
    )
    info: dict[str, Any] = {"mode": result.mode}
    if result.alignment is not None:
        info["alignment"] = result.alignment.as_dict()
    return StepResult(result.rgb, info)


_SHADOW_KEYS = ("opacity", "softness", "height", "offset", "base", "direction")
SCENE_FIELDS = ("placement", "scale", "floor", "shadow", "harmonize", "light_wrap", "grain", "seed")
"""The keys :func:`scene_params` reads (recipes, the CLI and the HTTP API share them)."""


def scene_params(params: Mapping[str, Any], step: str) -> SceneParams:
    """:class:`SceneParams` from a recipe's or request's mapping (every value checked)."""
    placement = params.get("placement", "floor")
    if placement not in PLACEMENTS:
        raise InputError(f"{step}: placement: {placement!r} must be one of {', '.join(PLACEMENTS)}")
    shadow_raw = params.get("shadow", {})
    shadow: ShadowParams | None
    if shadow_raw is False or shadow_raw is None:
        shadow = None
    elif isinstance(shadow_raw, Mapping):
        _check_keys(shadow_raw, _SHADOW_KEYS, f"{step}: shadow")
        base = SceneParams().shadow
        assert base is not None
        values = {
            k: _number(shadow_raw, k, getattr(base, k), f"{step}: shadow") for k in _SHADOW_KEYS
        }
        try:
            shadow = ShadowParams(**values)
        except InputError as exc:
            raise InputError(f"{step}: {exc}") from None
    else:
        raise InputError(f"{step}: shadow: {shadow_raw!r} must be a mapping or false")
    grain = params.get("grain", True)
    if not isinstance(grain, bool):
        raise InputError(f"{step}: grain: {grain!r} must be true or false")
    try:
        return SceneParams(
            placement=placement,
            scale=_number(params, "scale", 0.6, step),
            floor=_number(params, "floor", 0.86, step),
            shadow=shadow,
            harmonize=_number(params, "harmonize", 0.5, step),
            light_wrap=_number(params, "light_wrap", 0.5, step),
            grain=grain,
            seed=_int(params, "seed", 0, step),
        )
    except InputError as exc:
        raise InputError(f"{step}: {exc}") from None


def run_replace_background(pixels: ImageArray, params: Mapping[str, Any]) -> StepResult:
    """Recipe step ``replace-background``: ``{background: path | "#RRGGBB" | studio}``;
    optional ``width``, ``height``, ``placement``, ``scale``, ``floor``, ``shadow``
    (``opacity``, ``softness``, ``direction``, ...), ``harmonize``, ``light_wrap``,
    ``grain``, ``model``."""
    step = "replace-background"
    _check_keys(params, ("background", "width", "height", "model", *SCENE_FIELDS), step)
    raw = params.get("background", "studio")
    background: Background
    if isinstance(raw, str) and raw == "studio":
        background = "studio"
    elif isinstance(raw, list):
        background = parse_color(raw, f"{step}: background")
    elif isinstance(raw, str):
        # A colour when it reads as one ("#fff", "white", "240,240,240"), else a photo path.
        try:
            background = parse_color(raw, f"{step}: background")
        except InputError:
            label = f"{step}: background {raw}"
            background = load_image(raw, label=label, keep_alpha=False).pixels
    else:
        raise InputError(f"{step}: background: {raw!r} must be an image file, a colour or studio")
    size = None
    if params.get("width") is not None or params.get("height") is not None:
        w, h = _int(params, "width", 0, step), _int(params, "height", 0, step)
        if w < 8 or h < 8:
            raise InputError(f"{step}: width and height must both be given, at least 8 px")
        size = (w, h)
    model = params.get("model", DEFAULT_ENSEMBLE)
    if not isinstance(model, str):
        raise InputError(f"{step}: model: {model!r} must be a cutout model name")
    result = replace_background(
        pixels, background, size=size, params=scene_params(params, step), model=model
    )
    info = {
        "placement": params.get("placement", "floor"),
        "box": [result.box.x0, result.box.y0, result.box.width, result.box.height],
        "scale": round(result.scale, 4),
        "cast": [round(c, 4) for c in result.cast],
    }
    return StepResult(result.rgb, info)


# --------------------------------------------------------------------------- files


def remove_file(
    image: str | Path,
    out: str | Path,
    *,
    mask: str | Path | None = None,
    box: str | None = None,
    text: bool = False,
    model: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """``packshot object-removal``: read ``image``, remove what is named, write ``out``; returns the
    removal's info (JSON-ready)."""
    params: dict[str, Any] = {"text": text, "seed": seed}
    if mask is not None:
        params["mask"] = str(mask)
    if box is not None:
        params["box"] = box
    if model is not None:
        params["model"] = model
    loaded = load_image(image, keep_alpha=False)
    result = run_remove(loaded.pixels, params)
    return {"output": str(save_image(result.pixels, out)), **result.info}


def reference_inpaint_file(
    image: str | Path,
    reference: str | Path,
    out: str | Path,
    *,
    mask: str | Path | None = None,
    box: str | None = None,
    mode: str = "align",
    texture_scale: float = 1.0,
) -> dict[str, Any]:
    """``packshot reference-inpaint``: the file form of :func:`reference_inpaint`."""
    params: dict[str, Any] = {"reference": str(reference), "mode": mode}
    if mask is not None:
        params["mask"] = str(mask)
    if box is not None:
        params["box"] = box
    if texture_scale != 1.0:
        params["texture_scale"] = texture_scale
    loaded = load_image(image, keep_alpha=False)
    result = run_reference_inpaint(loaded.pixels, params)
    return {"output": str(save_image(result.pixels, out)), **result.info}


def replace_background_file(
    image: str | Path, out: str | Path, params: Mapping[str, Any]
) -> dict[str, Any]:
    """``packshot replace-background``: the file form of :func:`replace_background`
    (``params`` as for the recipe step)."""
    loaded = load_image(image)
    result = run_replace_background(loaded.pixels, params)
    return {"output": str(save_image(result.pixels, out)), **result.info}
