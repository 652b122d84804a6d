"""Colourways: one photo of a garment, every colour (or print) it is sold in.

The Python API the CLI (``packshot recolor``), the recipe step ``recolor`` and the HTTP
solution ``recolor`` all call:

- :func:`parse_target`: what a user writes for a colour: hex, ``r,g,b``, a CSS name
  (``"forest green"``), or a swatch photo whose dominant colour is measured;
- :func:`region_alpha`: where to recolour: a text ``prompt`` or a ``box`` (isolation), a
  ``mask`` image (soft edges kept), else the image's own alpha, else the cutout (refused
  for a photo of a person: the garment must be named);
- :func:`recolor_image`: the variant (:mod:`packshot.ops.recolor`) and the gate's
  ``swatch_match`` check on it: a variant measuring further than ``max_delta_e``
  (CIEDE2000) from its target is held, with the value;
- :func:`run_recolor`: the recipe step; :func:`colorway_items` fans a listing's
  ``colors: [...]`` out into one source per colourway, filed as ``<sku>-<colour>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from packshot.errors import InputError
from packshot.imageio import as_pixels, load_image, save_image
from packshot.models.salient import DEFAULT_ENSEMBLE
from packshot.ops.color import dominant_color, lab_to_rgb, mean_color
from packshot.ops.matte import composite_on_color
from packshot.ops.recolor import Recolored, recolor, recolor_pattern
from packshot.pipeline.cutout import cutout, meaningful_alpha
from packshot.pipeline.sources import Source, safe_sku
from packshot.pipeline.steps import StepCall, StepResult
from packshot.presets.colors import Color, parse_color
from packshot.presets.gate import DEFAULT_THRESHOLDS
from packshot.sentinel.checks import SwatchMeasure, accent_separation, swatch_match
from packshot.sentinel.isolation import NAME as ISOLATION_CHECK
from packshot.sentinel.isolation import isolation_check
from packshot.sentinel.result import CheckResult, GateResult
from packshot.sentinel.subject import Subject

__all__ = [
    "PARAMS",
    "ColorTarget",
    "Colorway",
    "colorway_items",
    "parse_target",
    "recolor_file",
    "recolor_image",
    "region_alpha",
    "run_recolor",
]

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

STEP = "recolor"
PARAMS = (
    "color",
    "colors",
    "pattern",
    "pattern_scale",
    "fold_warp",
    "prompt",
    "box",
    "mask",
    "model",
    "keep_accents",
    "max_delta_e",
)
"""The step's parameters (the CLI's options and the HTTP fields have the same names)."""

MAX_DELTA_E = DEFAULT_THRESHOLDS["swatch_match"]

_HEXISH = re.compile(r"^#?[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$")


@dataclass(frozen=True)
class ColorTarget:
    """A colourway's target: its sRGB colour and the label its outputs are filed by."""

    rgb: Color
    label: str
    """``1f3a5f`` for hex, ``forest-green`` for a name, the file's stem for a swatch."""
    written: str
    """What the user wrote (the hex, the name, the swatch's path)."""
    swatch: bool = False
    """Measured from a swatch photo."""

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"color": self.label, "target": list(self.rgb)}
        if self.swatch:
            out["swatch"] = self.written
        return out


def _hex(rgb: Color) -> str:
    return "".join(f"{c:02x}" for c in rgb)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "colour"


def parse_target(value: Any, field: str = "color") -> ColorTarget:
    """A colour as written (``"#1F3A5F"``, ``"31,58,95"``, ``[31, 58, 95]``, ``"forest
    green"``), or the path of a swatch photo whose dominant colour is measured.

    Raises:
        InputError: neither a colour nor a readable image, naming ``field``.
    """
    if isinstance(value, Sequence) and not isinstance(value, str):
        rgb = parse_color(value, field)
        return ColorTarget(rgb, _hex(rgb), str(list(value)))
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{field}: {value!r} must be a colour or a swatch image file")
    text = value.strip()
    try:
        rgb = parse_color(text, field)
    except InputError as exc:
        path = Path(text).expanduser()
        if not path.is_file():
            raise InputError(
                f"{exc} (or the path of a swatch photo; {text!r} is no file)"
            ) from None
        return swatch_target(load_image(path, label=f"{field} {text}").pixels, text, path.stem)
    label = _hex(rgb) if _HEXISH.match(text) or "," in text else _slug(text)
    return ColorTarget(rgb, label, text)


def swatch_target(pixels: ImageArray, written: str, label: str) -> ColorTarget:
    """The dominant colour of a swatch photo (RGBA: its opaque part) as a target."""
    weight = None
    if pixels.shape[2] == 4:
        weight = pixels[..., 3].astype(np.float32) / np.float32(255.0)
    try:
        lab = dominant_color(pixels[..., :3], weight)
    except ValueError:
        raise InputError(f"swatch {written}: the swatch has no opaque pixels") from None
    r, g, b = (int(v) for v in np.rint(lab_to_rgb(lab)))
    return ColorTarget((r, g, b), _slug(label), written, swatch=True)


def print_target(pixels: ImageArray, written: str) -> ColorTarget:
    """A print swatch as a target: its mean colour (what its colours average to)."""
    lab = mean_color(pixels[..., :3])
    r, g, b = (int(v) for v in np.rint(lab_to_rgb(lab)))
    return ColorTarget((r, g, b), _slug(Path(written).stem or "pattern"), written, swatch=True)


def _soft_mask(source: Any, width: int, height: int, field: str) -> FloatArray:
    """A mask image as alpha 0..1: its alpha channel when it has one, else its brightest
    channel; grey levels are kept (a soft edge blends)."""
    arr = (
        source
        if isinstance(source, np.ndarray)
        else load_image(source, label=f"{field} {source}").pixels
    )
    if arr.ndim == 3:
        arr = arr[..., 3] if arr.shape[2] == 4 and arr[..., 3].min() < 255 else arr.max(axis=2)
    if arr.shape != (height, width):
        raise InputError(
            f"{field}: the mask is {arr.shape[1]}x{arr.shape[0]} but the image is "
            f"{width}x{height}; the mask must have the image's size"
        )
    scale = 1.0 if arr.dtype == bool or arr.max() <= 1 else 255.0
    return np.asarray(arr, np.float32) / np.float32(scale)


def region_alpha(
    pixels: ImageArray,
    *,
    prompt: str | None = None,
    box: str | Sequence[int] | None = None,
    mask: Any = None,
    model: str = DEFAULT_ENSEMBLE,
) -> tuple[FloatArray, str, dict[str, Any]]:
    """The region to recolour as alpha 0..1, how it was found (``prompt``, ``box``,
    ``mask``, ``alpha``, ``cutout``) and what the finder said (isolation's info)."""
    given = [k for k, v in (("prompt", prompt), ("box", box), ("mask", mask)) if v is not None]
    if len(given) > 1:
        raise InputError(f"{STEP}: give one region: {' or '.join(given)}, not several")
    height, width = pixels.shape[:2]
    rgb = pixels[..., :3] if pixels.shape[2] == 3 else composite_on_color(pixels, (255, 255, 255))
    if mask is not None:
        return _soft_mask(mask, width, height, f"{STEP}: mask"), "mask", {}
    if prompt is not None or box is not None:
        # Isolation's public API (the garment a model wears, the object in a box).
        from packshot.isolate.api import isolate

        found = isolate(rgb, prompt=prompt, box=box, model=model)
        return found.alpha.astype(np.float32) / np.float32(255.0), given[0], found.info()
    existing = meaningful_alpha(pixels)
    if existing is not None:
        return existing.astype(np.float32) / np.float32(255.0), "alpha", {}
    refuse_people(rgb)
    cut = cutout(rgb, model=model)
    return cut.alpha.astype(np.float32) / np.float32(255.0), "cutout", {"model": cut.model}


PERSON_SCORE = 0.5
"""Detector score over which the photo shows a person (a model wearing the garment)."""


def refuse_people(rgb: ImageArray) -> None:
    """Raise when the photo shows a person: the cutout of an on-model photo is the whole
    person (face, hair, every garment), and recolouring it would turn a face navy or
    half of a pair of jeans green; the garment must be named instead."""
    from packshot.models.detect import detector

    people = [d for d in detector().detect(rgb, min_score=PERSON_SCORE) if d.label == "person"]
    if people:
        raise InputError(
            f"{STEP}: the photo shows a person (detector score {people[0].score:.2f}); say which "
            "garment to recolour: prompt 'the jacket', a box or a mask (the cutout would "
            "recolour the whole person)"
        )


@dataclass(frozen=True, eq=False)
class Colorway:
    """A variant: the recoloured photo (RGBA when the input had an alpha), its region,
    what it was made for, what was measured, and the gate's colour check on it."""

    pixels: ImageArray
    alpha: FloatArray
    target: ColorTarget
    result: Recolored
    check: CheckResult
    region: str
    pattern: str | None = None
    region_info: dict[str, Any] | None = None
    separation: CheckResult | None = None
    """``accent_separation``, when accents were kept: a mottled variant is held."""
    identity: CheckResult | None = None
    """``isolation_confidence``, when a prompt found the region: a garment the isolation
    doubts (half of a top, the wrong garment) is held however well it was dyed."""

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in (self.check, self.separation, self.identity) if c is not None)

    @property
    def held(self) -> bool:
        return not all(c.passed for c in self.checks)

    @property
    def measure(self) -> SwatchMeasure:
        """How a later gate should read this variant's colour on a rendered target: the
        product's dominant colour when the region is the product, else its closest cell."""
        return (
            "dominant" if self.region in ("alpha", "cutout") and self.pattern is None else "closest"
        )

    def gate(self) -> GateResult:
        """The colour checks as a gate verdict (held with the values when one fails)."""
        reasons = tuple(c.reason() for c in self.checks if not c.passed)
        return GateResult("hold" if self.held else "deliver", reasons, self.checks)

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.target.info(), "region": self.region}
        if self.pattern is not None:
            out["pattern"] = self.pattern
        if self.region_info:
            out["isolation"] = self.region_info
        out.update(self.result.info())
        out["measure"] = self.measure
        out["swatch_match"] = self.check.as_dict()
        if self.separation is not None:
            out["accent_separation"] = self.separation.as_dict()
        if self.identity is not None:
            out[ISOLATION_CHECK] = self.identity.as_dict()
        out["verdict"] = "hold" if self.held else "deliver"
        if self.held:
            out["reasons"] = list(self.gate().reasons)
        return out


def recolor_image(
    image: ImageArray | Image.Image,
    *,
    color: Any = None,
    pattern: ImageArray | None = None,
    pattern_name: str = "pattern",
    prompt: str | None = None,
    box: str | Sequence[int] | None = None,
    mask: Any = None,
    model: str = DEFAULT_ENSEMBLE,
    keep_accents: bool = True,
    pattern_scale: float | None = None,
    fold_warp: float = 1.0,
    max_delta_e: float = MAX_DELTA_E,
) -> Colorway:
    """Recolour the region of ``image`` to ``color`` (anything :func:`parse_target`
    reads, or a :class:`ColorTarget`) or print ``pattern`` (a swatch image) on it.

    The variant is checked like any output: ``swatch_match`` at ``max_delta_e`` (CIEDE2000),
    on the measured colour of the fabric it recoloured (the region less its kept accents)
    for a colour, on its mean colour against the swatch's for a pattern; with kept accents,
    ``accent_separation``; with a prompt (or box), ``isolation_confidence``: the
    isolation's own calibrated confidence that the region is the named garment, whole.
    Pixels outside the region are the photo's.
    """
    pixels = as_pixels(image, min_side=8, purpose="to recolour")
    if (color is None) == (pattern is None):
        raise InputError(f"{STEP}: give a target: a color (or a swatch photo) or a pattern")
    if not max_delta_e > 0:
        raise InputError(f"{STEP}: max_delta_e {max_delta_e!r} must be a positive CIEDE2000")
    alpha, how, found = region_alpha(pixels, prompt=prompt, box=box, mask=mask, model=model)
    rgb = np.ascontiguousarray(pixels[..., :3])
    if pattern is not None:
        swatch = as_pixels(pattern, min_side=8, purpose="as a pattern swatch")
        target = print_target(swatch, pattern_name)
        result = recolor_pattern(
            rgb,
            alpha,
            np.ascontiguousarray(swatch[..., :3]),
            scale=pattern_scale,
            fold_warp=fold_warp,
            keep_accents=keep_accents,
        )
        measure: SwatchMeasure = "mean"
    else:
        target = color if isinstance(color, ColorTarget) else parse_target(color)
        result = recolor(rgb, alpha, target.rgb, keep_accents=keep_accents)
        measure = "dominant"
    # Over the fabric the variant recoloured: a kept white strap is not the colourway.
    check = swatch_match(
        Subject(result.rgb, result.fabric), target.rgb, max_delta_e=max_delta_e, measure=measure
    )
    separation = None
    if keep_accents:
        separation = accent_separation(
            alpha, result.fabric, max_unsure=DEFAULT_THRESHOLDS["accent_separation"]
        )
    identity = None
    if how in ("prompt", "box") and found:
        identity = isolation_check(found, DEFAULT_THRESHOLDS[ISOLATION_CHECK])
    out = result.rgb
    if pixels.shape[2] == 4:
        out = np.dstack([out, pixels[..., 3]])
    return Colorway(
        out,
        alpha,
        target,
        result,
        check,
        how,
        pattern_name if pattern is not None else None,
        found or None,
        separation,
        identity,
    )


# --------------------------------------------------------------------------- recipe step


def _number(params: Mapping[str, Any], key: str) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{STEP}: {key}: {value!r} must be a number")
    return float(value)


def _text(params: Mapping[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError(f"{STEP}: {key}: {value!r} must be text")
    return value


def _check_params(params: Mapping[str, Any]) -> None:
    if not isinstance(params, Mapping):
        raise InputError(f"{STEP}: parameters must be a mapping, got {type(params).__name__}")
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise InputError(
            f"{STEP}: unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(PARAMS)}"
        )


def colors_of(params: Mapping[str, Any]) -> list[Any]:
    """The step's colourways as written: ``colors: [...]`` or one ``color``."""
    _check_params(params)
    if params.get("colors") is not None and params.get("color") is not None:
        raise InputError(f"{STEP}: give color (one) or colors (a list), not both")
    raw = params.get("colors")
    if raw is None:
        return [] if params.get("color") is None else [params["color"]]
    if isinstance(raw, str) or not isinstance(raw, Sequence) or not raw:
        raise InputError(
            f'{STEP}: colors: {raw!r} must be a non-empty list, e.g. ["#1F3A5F", "forest green"]'
        )
    return list(raw)


def run_recolor(pixels: ImageArray, params: Mapping[str, Any]) -> StepResult:
    """Recipe step ``recolor``: ``{color: C}`` (hex, name, swatch photo) or ``{pattern:
    FILE}``; the region by ``prompt``, ``box`` or ``mask`` (default: the image's alpha,
    else the cutout); optional ``model``, ``keep_accents``, ``pattern_scale``,
    ``fold_warp``, ``max_delta_e``. A listing runs one colourway per entry of
    ``colors: [...]`` (see :func:`colorway_items`).

    The pixels returned have the input's channels: an RGBA input (an isolation step's
    cut-out) keeps its matte for the targets; a photo stays a photo, which the targets
    cut out as usual (with edge decontamination, candidates and fixes: the photo's own
    edge pixels under the region's matte would carry the old background's fringe).
    """
    colors = colors_of(params)
    if len(colors) > 1:
        raise InputError(
            f"{STEP}: colors: {len(colors)} colours make one output set each in a listing; "
            "a single image takes one color"
        )
    pattern_path = _text(params, "pattern")
    if pattern_path is not None and colors:
        raise InputError(f"{STEP}: give a color or a pattern, not both")
    pattern = None
    if pattern_path is not None:
        pattern = load_image(pattern_path, label=f"{STEP}: pattern {pattern_path}").pixels
    keep = params.get("keep_accents", True)
    if not isinstance(keep, bool):
        raise InputError(f"{STEP}: keep_accents: {keep!r} must be true or false")
    box = params.get("box")
    if box is not None and not isinstance(box, str | list):
        raise InputError(f'{STEP}: box: {box!r} must be "x,y,w,h" or [x, y, w, h]')
    max_de = _number(params, "max_delta_e")
    way = recolor_image(
        pixels,
        color=colors[0] if colors else None,
        pattern=pattern,
        pattern_name=pattern_path or "pattern",
        prompt=_text(params, "prompt"),
        box=box,
        mask=params.get("mask"),
        model=_text(params, "model") or DEFAULT_ENSEMBLE,
        keep_accents=keep,
        pattern_scale=_number(params, "pattern_scale"),
        fold_warp=_number(params, "fold_warp") or 1.0,
        max_delta_e=MAX_DELTA_E if max_de is None else max_de,
    )
    return StepResult(way.pixels, way.info())


def colorway_items(
    sources: Sequence[Source], steps: Sequence[StepCall]
) -> list[tuple[Source, tuple[StepCall, ...]]]:
    """Each source once per colourway of the recipe's ``recolor`` step (``colors: [A,
    B]``): filed as ``<sku>-<colour>`` with that step taking the one colour; sources as
    they are when no step lists several colours.

    Raises:
        InputError: a colour cannot be read, or two colours give one label.
    """
    index = next((i for i, s in enumerate(steps) if s.name == STEP), None)
    if index is None:
        return [(src, tuple(steps)) for src in sources]
    call = steps[index]
    colors = colors_of(call.params)
    if call.params.get("colors") is None:
        return [(src, tuple(steps)) for src in sources]
    variants: list[tuple[str, tuple[StepCall, ...]]] = []
    seen: dict[str, Any] = {}
    for value in colors:
        target = parse_target(value, f"{STEP}: colors")
        if target.label in seen:
            raise InputError(
                f"{STEP}: colors: {value!r} and {seen[target.label]!r} would both be filed as "
                f"{target.label!r}"
            )
        seen[target.label] = value
        params = {k: v for k, v in call.params.items() if k != "colors"}
        params["color"] = value
        one = replace(call, params=params)
        variants.append((target.label, (*steps[:index], one, *steps[index + 1 :])))
    return [
        (Source(safe_sku(f"{src.sku}-{label}"), src.location), chain)
        for src in sources
        for label, chain in variants
    ]


def recolor_file(image: str | Path, out: str | Path, params: Mapping[str, Any]) -> dict[str, Any]:
    """``packshot recolor``: the file form of :func:`run_recolor` (one colour or pattern);
    a held variant (off its target) is written under ``held/`` beside ``out``."""
    loaded = load_image(image)
    result = run_recolor(loaded.pixels, params)
    target = Path(out)
    if result.info.get("verdict") == "hold":
        target = target.parent / "held" / target.name
    return {"output": str(save_image(result.pixels, target)), **result.info}
