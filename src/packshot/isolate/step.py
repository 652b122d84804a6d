"""The ``isolate`` recipe step: ``run(pixels, params) -> StepResult``.

Params (the recipe's mapping for the step): ``prompt`` (text), or ``box`` (``"x,y,w,h"``
or ``[x, y, w, h]``) and/or ``points`` / ``negative_points`` (lists of ``"x,y"`` or
``[x, y]``); optional ``model`` (salient ensemble) and ``min_confidence`` (0..1).
The result's pixels are RGBA; ``info`` says what was matched and how sure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from packshot.errors import InputError
from packshot.isolate.api import MIN_CONFIDENCE, isolate
from packshot.models.salient import DEFAULT_ENSEMBLE
from packshot.pipeline.steps import StepResult

ImageArray = npt.NDArray[np.uint8]

PARAMS = ("prompt", "box", "points", "negative_points", "model", "min_confidence")


def _text(params: Mapping[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError(f"isolate.{key}: expected text, got {type(value).__name__}")
    return value


def _box(value: Any) -> str | Sequence[int] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Sequence) and all(isinstance(v, int | float) for v in value):
        return [int(v) for v in value]
    raise InputError(f'isolate.box: expected "x,y,w,h" or [x, y, w, h], got {value!r}')


def _points(params: Mapping[str, Any], key: str) -> list[str | Sequence[int]]:
    value = params.get(key) or []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InputError(
            f'isolate.{key}: expected a list of points ("x,y" or [x, y]), got {value!r}'
        )
    points: list[str | Sequence[int]] = []
    for p in value:
        if isinstance(p, str):
            points.append(p)
        elif isinstance(p, Sequence) and all(isinstance(v, int | float) for v in p):
            points.append([int(v) for v in p])
        else:
            raise InputError(f'isolate.{key}: {p!r} is not a point ("x,y" or [x, y])')
    return points


def run(pixels: ImageArray, params: Mapping[str, Any]) -> StepResult:
    """Isolate the prompted object; the pixels returned are its RGBA cut-out."""
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise InputError(
            f"isolate.{unknown[0]}: unknown parameter; expected one of {', '.join(PARAMS)}"
        )
    if not any(params.get(k) for k in ("prompt", "box", "points", "negative_points")):
        # A recipe's bare `- isolate` takes each manifest row's prompt; this row has none.
        raise InputError(
            "isolate: nothing to isolate; give the step a prompt, box or points, or the "
            "manifest row a prompt column"
        )
    min_confidence = params.get("min_confidence", MIN_CONFIDENCE)
    if not isinstance(min_confidence, int | float) or isinstance(min_confidence, bool):
        raise InputError(f"isolate.min_confidence: expected a number 0..1, got {min_confidence!r}")
    result = isolate(
        pixels,
        prompt=_text(params, "prompt"),
        box=_box(params.get("box")),
        points=_points(params, "points"),
        negative_points=_points(params, "negative_points"),
        model=_text(params, "model") or DEFAULT_ENSEMBLE,
        min_confidence=float(min_confidence),
    )
    return StepResult(result.rgba, result.info())
