"""Recipe steps: the one table from a step's name to the function that runs it.

A step turns a source's pixels into new pixels before the targets are rendered: remove a
price tag, isolate the named product, put the product in a new scene. Each step is a
function ``run(pixels, params) -> StepResult``; ``pixels`` is uint8 RGB or RGBA, ``params``
the recipe's mapping for the step. A step that returns RGBA with a meaningful alpha hands
its matte to the targets (the cutout model is then not run).

The table holds import paths, resolved on first use, so this module imports none of the
step modules (they import :class:`StepResult` from here) and a step's heavy dependencies
load only when a recipe uses it. Step names are those of :mod:`packshot.operations`, the
same in recipes, the CLI, the API and reports; a former name (``remove``, ``isolate``) is
read as the step's name now.
"""

from __future__ import annotations

import difflib
import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from packshot.errors import InputError, PackshotError
from packshot.operations import OBJECT_REMOVAL, OPERATIONS, PRODUCT_ISOLATION, canonical

ImageArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class StepResult:
    """A step's output pixels (RGB or RGBA) and what it did (JSON-ready, for reports)."""

    pixels: ImageArray
    info: dict[str, Any] = field(default_factory=dict)


StepFn = Callable[[ImageArray, Mapping[str, Any]], StepResult]

# name -> "module:function" of the operations that are steps.
_TARGETS: dict[str, str] = {
    OBJECT_REMOVAL: "packshot.pipeline.repair:run_remove",
    "reference-inpaint": "packshot.pipeline.repair:run_reference_inpaint",
    "replace-background": "packshot.pipeline.repair:run_replace_background",
    PRODUCT_ISOLATION: "packshot.isolate.step:run",
    "recolor": "packshot.pipeline.recolor:run_recolor",
}
_TABLE: dict[str, str] = {name: _TARGETS[name] for name, op in OPERATIONS.items() if op.step}

# The names fingerprints were made with before the steps took their operations' names:
# a batch's finished outputs stay finished across the rename (a fingerprint is of what a
# step does, and a name change changes nothing it does).
_FINGERPRINT_NAMES = {OBJECT_REMOVAL: "remove", PRODUCT_ISOLATION: "isolate"}


@dataclass(frozen=True)
class StepCall:
    """One step of a recipe: its name and parameters (as written in the recipe)."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    # The step's "module:function", fixed where the recipe is read: a step registered at
    # run time in the driver is unknown to worker processes (spawned, or Ray actors on
    # other machines), which import it by this path instead of looking the name up.
    target: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        # A former name (a recipe written for the last release) is the step's name now.
        object.__setattr__(self, "name", canonical(self.name))

    @classmethod
    def resolved(cls, name: str, params: Mapping[str, Any]) -> StepCall:
        """A call whose target is looked up now (raises for an unknown name); a former
        name is the step's name now."""
        name = canonical(name)
        check_step_name(name)
        return cls(name, params, _TABLE[name])

    def as_dict(self) -> dict[str, Any]:
        return {self.name: dict(self.params)}


class StepError(InputError):
    """A step failed on one source; the message names the step."""

    code = "step_failed"


def register_step(name: str, target: str) -> None:
    """Add (or replace) a step: ``target`` is ``"package.module:function"``."""
    if ":" not in target:
        raise InputError(f"step {name!r}: {target!r} is not 'module:function'")
    _TABLE[name] = target


def step_names() -> list[str]:
    return sorted(_TABLE)


def check_step_name(name: str) -> None:
    """Raise :class:`InputError` naming the known steps when ``name`` is not one."""
    if canonical(name) in _TABLE:
        return
    close = difflib.get_close_matches(name, list(_TABLE), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    known = ", ".join(step_names()) or "(none)"
    raise InputError(f"unknown step {name!r}.{hint} Known steps: {known}.")


def step_function(call: StepCall) -> StepFn:
    if call.target:
        target = call.target
    else:
        check_step_name(call.name)
        target = _TABLE[canonical(call.name)]
    module, _, attr = target.partition(":")
    try:
        return cast(StepFn, getattr(importlib.import_module(module), attr))
    except (ImportError, AttributeError) as exc:
        raise StepError(f"step {call.name!r}: cannot load {target} ({exc})") from exc


def apply_steps(
    pixels: ImageArray, steps: Sequence[StepCall]
) -> tuple[ImageArray, list[dict[str, Any]]]:
    """Run ``steps`` in order; returns the final pixels and each step's info.

    Raises:
        StepError: a step failed; the message names the step and its reason.
    """
    infos: list[dict[str, Any]] = []
    for call in steps:
        run = step_function(call)
        try:
            result = run(pixels, call.params)
        except PackshotError as exc:
            raise StepError(f"step {call.name!r}: {exc}") from exc
        pixels = result.pixels
        infos.append({"step": call.name, **result.info})
    return pixels, infos


def steps_key(steps: Sequence[StepCall]) -> str:
    """A stable text of the steps, for fingerprints (re-run when a step changes)."""
    named = [{_FINGERPRINT_NAMES.get(s.name, s.name): dict(s.params)} for s in steps]
    return json.dumps(named, sort_keys=True, default=str)
