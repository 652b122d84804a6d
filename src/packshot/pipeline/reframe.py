"""Smart resize: the plan that takes one photo to a background-keeping target's aspect.

Per target, in order, the first that works is used and the choice is explained:

1. **crop + extend** (:func:`packshot.ops.extend.extend_to_aspect`): crop background
   where the product stays whole with a margin (when the preset allows cropping), then
   synthesise only what remains. Used when the extension is allowed (not too much of the
   image, the product not cut by the side it would grow on) *and* the seam it leaves
   passes the gate's own ``visible_seams`` measure on the canvas at the output's size,
   *and* the fill is not a smear (:data:`SMEAR_RATIO`: as much fine detail as the photo's
   background beside it, which a brightness measure cannot see).
2. **a fallback composition** from the preset's ``fallbacks``, in its order:
   ``cutout-on-blur`` and ``studio-sweep`` put the cut-out product on a background made
   from the photo (:func:`packshot.ops.extend.cutout_backdrop`), the product's pixels
   untouched and flush with any canvas edge that cuts it in the photo: they need a
   product not cut by both sides of the grown axis (one cut would show) and a confident
   matte (the gate's ``mask_confidence``);
   ``blurred-backdrop`` frames the whole photo on its blurred self and always works.
   When none of the preset's fallbacks applies, the framed photo is made anyway and held:
   a channel is never left empty.

Whether a fallback is delivered or held is the preset's ``deliver_fallbacks`` (the gate's
``composition`` check reads it).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from packshot.ops.extend import (
    Extended,
    ExtensionRefused,
    blurred_backdrop,
    cutout_backdrop,
    extend_to_aspect,
)
from packshot.presets import Preset, parse_aspect
from packshot.sentinel.checks import mask_confidence, visible_seams
from packshot.sentinel.subject import Subject

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class Plan:
    """How one target is made.

    Attributes:
        extended: the canvas at the source's scale.
        alpha: the product's coverage on that canvas (float32 0..1).
        composition: None when made as the preset asks (crop/extend), else the fallback
            used and why the extension was not (the gate's ``composition`` check).
        steps: each decision, in words, for the report.
    """

    extended: Extended
    alpha: FloatArray
    composition: tuple[str, str] | None
    steps: tuple[str, ...]


def _photo_alpha(extended: Extended, alpha: ImageArray) -> FloatArray:
    """The product's coverage on an extended canvas: the photo's matte where the photo
    was kept whole, else (a cropped photo) the matte of the kept rows/columns."""
    out = np.zeros(extended.synthesized.shape, np.float32)
    box = extended.photo_box
    a = alpha.astype(np.float32) / np.float32(255.0)
    if (box.height, box.width) == alpha.shape:
        out[box.slices] = a
        return out
    # A crop keeps the photo's full extent along one axis: find the offset along the other
    # by the product box, which the crop never cuts.
    mask = alpha >= 128
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    pb = extended.product_box
    dy, dx = rows[0] - (pb.y0 - box.y0), cols[0] - (pb.x0 - box.x0)
    out[box.slices] = a[dy : dy + box.height, dx : dx + box.width]
    return out


SMEAR_RATIO = 0.5
"""A synthesised strip with less than this share of the fine detail of the photo's own
background beside it is a smear (an upsampled low-resolution fill), however well its
brightness joins: the seam measure cannot see it, a person does."""

SMEAR_MIN_DETAIL = 1.5
"""Mean absolute Laplacian (grey levels) of the photo's background below which it is
plain (seamless paper): a plain fill of a plain wall is not a smear."""


def _detail(grey: FloatArray, where: npt.NDArray[np.bool_]) -> float:
    lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=3))
    return float(lap[where].mean()) if where.any() else 0.0


def _smear(rgb: ImageArray, synth: npt.NDArray[np.bool_], alpha: FloatArray) -> str | None:
    """Why the synthesised pixels look smeared next to the photo, or None: fine detail of
    the synthesis within a band beside the photo against the photo's background in the
    same band on the other side (both at the output's size)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    band = max(8, round(0.08 * min(grey.shape)))
    kernel = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
    near_photo = cv2.dilate((~synth).view(np.uint8), kernel) > 0
    near_synth = cv2.dilate(synth.view(np.uint8), kernel) > 0
    fill = synth & near_photo
    photo = ~synth & near_synth & (alpha < 0.05)
    own = _detail(grey, photo)
    made = _detail(grey, fill)
    if own < SMEAR_MIN_DETAIL or made >= SMEAR_RATIO * own:
        return None
    return (
        f"the extension is smeared: fine detail {made:.1f} against the photo's {own:.1f} "
        f"beside it (at least {SMEAR_RATIO:.0%})"
    )


def _seam_check(extended: Extended, alpha: FloatArray, preset: Preset) -> tuple[bool, str]:
    """The gate's seam measure, and the smear measure, on the canvas resized to the output
    (the size they judge)."""
    size = (preset.width, preset.height)
    rgb = np.asarray(cv2.resize(extended.rgb, size, interpolation=cv2.INTER_AREA), np.uint8)
    synth = cv2.resize(extended.synthesized.view(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    a = np.asarray(cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR), np.float32)
    subject = Subject(rgb, a, synthesized=synth > 0)
    result = visible_seams(subject, max_step=preset.gate.threshold("visible_seams"))
    if not result.passed:
        return False, result.detail
    smear = _smear(rgb, synth > 0, a)
    return smear is None, smear or result.detail


def _matte_doubt(alpha: ImageArray, preset: Preset) -> str | None:
    """Why the matte is not good enough to put on a new background, or None."""
    h, w = alpha.shape
    a = alpha.astype(np.float32) / np.float32(255.0)
    rgb = np.zeros((h, w, 3), np.uint8)  # mask_confidence reads the matte only
    check = mask_confidence(Subject(rgb, a), max_uncertain=preset.gate.threshold("mask_confidence"))
    return None if check.passed else f"the matte is not confident ({check.detail})"


def plan_target(rgb: ImageArray, alpha: ImageArray, preset: Preset) -> Plan:
    """The plan for one background-keeping target (see the module docstring).

    ``alpha`` is the cutout's 8-bit matte at the photo's size.
    """
    mask = alpha >= 128
    aspect_w, aspect_h = parse_aspect(preset.aspect)
    steps: list[str] = []
    why: str
    try:
        extended = extend_to_aspect(rgb, mask, aspect_w, aspect_h, allow_crop=preset.allow_crop)
    except ExtensionRefused as exc:
        why = str(exc)
        steps.append(f"extend refused: {why}")
    else:
        on_canvas = _photo_alpha(extended, alpha)
        if not extended.synthesized.any():
            steps.append(f"{extended.method}: nothing synthesised")
            return Plan(extended, on_canvas, None, tuple(steps))
        ok, detail = _seam_check(extended, on_canvas, preset)
        share = float(extended.synthesized.mean())
        steps.append(f"{extended.method}: {share:.0%} synthesised; {detail}")
        if ok:
            return Plan(extended, on_canvas, None, tuple(steps))
        why = f"the extension would show ({detail})"
    doubt = _matte_doubt(alpha, preset)
    for kind in preset.fallbacks:
        if kind == "blurred-backdrop":
            break
        if doubt is not None:
            steps.append(f"{kind} not usable: {doubt}")
            continue
        try:
            made, coverage = cutout_backdrop(rgb, alpha, aspect_w, aspect_h, kind)
        except ExtensionRefused as exc:
            steps.append(f"{kind} not usable: {exc}")
            continue
        steps.append(f"fallback {kind}")
        return Plan(made, coverage, (kind, why), tuple(steps))
    framed = blurred_backdrop(rgb, mask, aspect_w, aspect_h)
    steps.append("fallback blurred-backdrop")
    return Plan(framed, _photo_alpha(framed, alpha), ("blurred-backdrop", why), tuple(steps))
