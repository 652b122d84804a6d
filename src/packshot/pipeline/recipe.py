"""Recipes: a catalog's listing policy as a file (YAML or JSON).

A recipe names the cutout model and the targets a batch renders; each target is a
marketplace preset, optionally with some of its fields changed, or a new target that
extends a preset::

    version: 1
    cutout: {model: u2net}
    steps:                          # optional, run on each source in order first
      - remove: {text: true}
      - isolate: {prompt: "the handbag"}   # or a bare `- isolate`: each manifest
                                          # row's `prompt` column names its product
    targets:
      - amazon-main                 # a preset as it is (same as `- preset: amazon-main`)
      - preset: shopify             # a preset with fields changed
        jpeg_quality: 85
      - name: my-square-grey        # a new target, starting from a preset
        extends: faire
        background_color: "#F5F5F5"

Field values and override rules are exactly those of a user presets file
(``$PACKSHOT_PRESETS_FILE``): the same names (``margin``, ``jpeg_quality``,
``background_color``, ``allow_crop``, ``size`` or ``long_side``, ...), the same units,
and the same field-wise merge (changing ``aspect`` or ``long_side`` re-derives the size).
The changed preset is built and validated by :mod:`packshot.presets` itself. Every
problem is a :class:`RecipeError` naming the file and the field path
(``recipe.yaml: targets[1].jpeg_quality: 150 must be an integer from 1 to 100``).

:func:`run_recipe` runs a recipe over sources through :func:`run_listing`, the one way a
listing batch runs, so outputs, manifest, resume and report are the same as
``packshot listing``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from packshot.errors import InputError, PackshotError, UnknownModelError
from packshot.models.salient import DEFAULT_ENSEMBLE, ENSEMBLES, resolve_ensemble
from packshot.pipeline.backends import Backend
from packshot.pipeline.listing import run_listing
from packshot.pipeline.manifest import TargetRecord
from packshot.pipeline.sources import Source
from packshot.pipeline.steps import StepCall

# derive_preset is the presets package's own merge and builder: a recipe target is built
# exactly like an entry of a user presets file, so no value is parsed or validated twice.
from packshot.presets import Preset, PresetError, derive_preset, get_preset, list_presets

__all__ = [
    "RECIPE_SUFFIXES",
    "RECIPE_VERSION",
    "Recipe",
    "RecipeError",
    "load_recipe",
    "parse_recipe",
    "run_recipe",
]

RECIPE_VERSION = 1
RECIPE_SUFFIXES: tuple[str, ...] = (".yaml", ".yml", ".json")

_TOP_KEYS = ("version", "cutout", "steps", "targets")
_CUTOUT_KEYS = ("model",)
_TARGET_KEYS = ("preset", "name", "extends")
# The fields a recipe may change: those of a presets file (the dataclass fields but the
# name and provenance, plus long_side, which sets the size from the aspect).
_FIELD_KEYS: tuple[str, ...] = (
    *(f.name for f in dataclasses.fields(Preset) if f.name not in ("name", "origin")),
    "long_side",
)
# Fields whose null means "no such rule"; any other null is a mistake.
_NULLABLE = frozenset(f.name for f in dataclasses.fields(Preset) if f.default is None)


class RecipeError(InputError):
    """A recipe file cannot be read or is invalid; ``field`` is the path inside it."""

    code = "bad_recipe"

    def __init__(self, origin: str, field: str | None, detail: str) -> None:
        where = f"{origin}: {field}:" if field else f"{origin}:"
        super().__init__(f"{where} {detail}")
        self.origin = origin
        self.field = field
        self.detail = detail


@dataclass(frozen=True)
class Recipe:
    """A validated recipe: the cutout model, the steps and the targets, in file order."""

    model: str
    targets: tuple[Preset, ...]
    origin: str = "recipe"
    """The file the recipe came from (or a label for one given as data)."""
    version: int = RECIPE_VERSION
    steps: tuple[StepCall, ...] = ()

    @property
    def presets(self) -> list[Preset]:
        """The targets as the presets :func:`run_listing` renders."""
        return list(self.targets)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the recipe with every target fully resolved (provenance)."""
        return {
            "version": self.version,
            "origin": self.origin,
            "cutout": {"model": self.model},
            "steps": [s.as_dict() for s in self.steps],
            "targets": [p.as_dict() for p in self.targets],
        }


# --------------------------------------------------------------------------- loading


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file: YAML (``.yaml``/``.yml``) or JSON (``.json``).

    Raises:
        RecipeError: the file cannot be read or parsed, or any value is invalid; the
            message names the file and the field path.
    """
    file = Path(path)
    origin = str(path)
    suffix = file.suffix.lower()
    if suffix not in RECIPE_SUFFIXES:
        raise RecipeError(
            origin, None, f"a recipe must be a {', '.join(RECIPE_SUFFIXES)} file, not {suffix!r}"
        )
    try:
        text = file.expanduser().read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RecipeError(origin, None, f"cannot read the recipe ({reason})") from exc
    data: Any
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecipeError(
                origin, None, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from exc
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RecipeError(origin, None, f"not valid YAML ({_yaml_reason(exc)})") from exc
    return parse_recipe(data, origin=origin)


def parse_recipe(data: Any, *, origin: str = "recipe") -> Recipe:
    """Validate a recipe already parsed into dicts and lists (an HTTP body, a test).

    ``origin`` names the recipe in error messages.
    """
    if not isinstance(data, Mapping):
        raise RecipeError(
            origin, None, f"must be a mapping with version, cutout and targets (got {_kind(data)})"
        )
    _check_keys(data, _TOP_KEYS, origin, "")
    version = data.get("version")
    if version is None:
        raise RecipeError(origin, "version", f"is required: version: {RECIPE_VERSION}")
    if type(version) is not int or version != RECIPE_VERSION:
        raise RecipeError(
            origin,
            "version",
            f"{version!r} is not supported; this packshot reads version {RECIPE_VERSION}",
        )
    model = _model(data.get("cutout"), origin)
    steps = _steps(data.get("steps"), origin)
    raw_targets = data.get("targets")
    if not isinstance(raw_targets, list) or not raw_targets:
        raise RecipeError(origin, "targets", "must be a non-empty list of targets (- preset: NAME)")
    known = {p.name for p in list_presets()}
    seen: dict[str, int] = {}
    targets = []
    for index, raw in enumerate(raw_targets):
        where = f"targets[{index}]"
        preset = _target(raw, origin, where, known)
        if preset.name in seen:
            raise RecipeError(
                origin,
                where,
                f"target {preset.name!r} is already listed at targets[{seen[preset.name]}]; "
                "give a variant its own name (name: NEW, extends: "
                f"{preset.name})",
            )
        seen[preset.name] = index
        targets.append(preset)
    return Recipe(model=model, targets=tuple(targets), origin=origin, version=version, steps=steps)


def _steps(raw: Any, origin: str) -> tuple[StepCall, ...]:
    """``- name`` or ``- name: {param: value}``, in order."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise RecipeError(origin, "steps", f"must be a list of steps (got {_kind(raw)})")
    calls = []
    for index, item in enumerate(raw):
        where = f"steps[{index}]"
        params: Mapping[str, Any]
        if isinstance(item, str):
            name, params = item, {}
        elif isinstance(item, Mapping) and len(item) == 1:
            name, value = next(iter(item.items()))
            params = {} if value is None else value
            if not isinstance(params, Mapping):
                raise RecipeError(
                    origin, f"{where}.{name}", f"parameters must be a mapping (got {_kind(value)})"
                )
        else:
            raise RecipeError(origin, where, "must be a step name or {name: {parameters}}")
        try:
            calls.append(StepCall.resolved(str(name), dict(params)))
        except InputError as exc:
            raise RecipeError(origin, where, str(exc)) from exc
    return tuple(calls)


def _model(cutout: Any, origin: str) -> str:
    if cutout is None:
        return DEFAULT_ENSEMBLE
    if not isinstance(cutout, Mapping):
        raise RecipeError(
            origin, "cutout", f"must be a mapping such as {{model: u2net}}, not {_kind(cutout)}"
        )
    _check_keys(cutout, _CUTOUT_KEYS, origin, "cutout.")
    model = cutout.get("model", DEFAULT_ENSEMBLE)
    if not isinstance(model, str) or not model.strip():
        raise RecipeError(origin, "cutout.model", f"{model!r} must be a model or ensemble name")
    try:
        resolve_ensemble(model.strip())  # a catalog look-up: nothing is installed here
    except UnknownModelError as exc:
        ensembles = ", ".join(ENSEMBLES)
        raise RecipeError(
            origin, "cutout.model", f"{_sentence(str(exc))}; ensembles: {ensembles}"
        ) from None
    except PackshotError as exc:
        raise RecipeError(origin, "cutout.model", _sentence(str(exc))) from None
    return model.strip()


def _target(raw: Any, origin: str, where: str, known: set[str]) -> Preset:
    if isinstance(raw, str):
        raw = {"preset": raw}
    if not isinstance(raw, Mapping):
        raise RecipeError(
            origin, where, f"must be a preset name or a mapping (preset: NAME), not {_kind(raw)}"
        )
    _check_keys(raw, (*_TARGET_KEYS, *_FIELD_KEYS), origin, f"{where}.")
    overrides = {k: v for k, v in raw.items() if k not in _TARGET_KEYS}
    for key, value in overrides.items():
        if value is None and key not in _NULLABLE:
            hint = (
                ' (quote a hex colour: "#F5F5F5"; an unquoted # starts a YAML comment)'
                if key == "background_color"
                else ""
            )
            raise RecipeError(origin, f"{where}.{key}", f"is empty (null){hint}")
    name, parent = _identity(raw, origin, where, known)
    base = _lookup(parent, origin, f"{where}.{'extends' if name else 'preset'}")
    if name is None and not overrides:
        return base
    try:
        return derive_preset(base, overrides, origin=origin, name=name)
    except PresetError as exc:
        field = f"{where}.{exc.field}" if exc.field else where
        raise RecipeError(origin, f"{field}", _sentence(exc.detail)) from None


def _identity(
    raw: Mapping[str, Any], origin: str, where: str, known: set[str]
) -> tuple[str | None, str]:
    """(new target's name, preset it starts from); the name is None for a changed preset."""
    preset, name, extends = raw.get("preset"), raw.get("name"), raw.get("extends")
    if preset is not None:
        if name is not None or extends is not None:
            raise RecipeError(
                origin,
                where,
                "give either preset: NAME (change a preset) or name + extends (a new "
                "target), not both",
            )
        if not isinstance(preset, str):
            raise RecipeError(origin, f"{where}.preset", f"{preset!r} must be a preset name")
        return None, preset
    if name is None:
        raise RecipeError(
            origin, where, "needs preset: NAME, or name: NEW with extends: PRESET for a new target"
        )
    if not isinstance(name, str):
        raise RecipeError(origin, f"{where}.name", f"{name!r} must be a string")
    if extends is None:
        raise RecipeError(
            origin, where, f"new target {name!r} needs extends: PRESET (the preset it starts from)"
        )
    if not isinstance(extends, str):
        raise RecipeError(origin, f"{where}.extends", f"{extends!r} must be a preset name")
    if name.strip().lower() in known:
        raise RecipeError(
            origin,
            f"{where}.name",
            f"{name!r} is already a preset; to change its fields use preset: {name}",
        )
    return name, extends


def _lookup(name: str, origin: str, field: str) -> Preset:
    try:
        return get_preset(name)
    except PresetError as exc:
        if exc.preset is None:  # the user presets file itself is broken
            raise
        raise RecipeError(origin, field, _sentence(str(exc))) from None


def _check_keys(table: Mapping[Any, Any], allowed: Sequence[str], origin: str, prefix: str) -> None:
    for key in table:
        if not isinstance(key, str):
            raise RecipeError(origin, prefix.rstrip(".") or None, f"key {key!r} must be a string")
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RecipeError(
                origin,
                f"{prefix}{key}",
                f"is not a recipe field{hint}; allowed here: {', '.join(allowed)}",
            )


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def _sentence(text: str) -> str:
    """A message without its final full stop (ours are joined as 'file: field: detail')."""
    return text.strip().rstrip(".")


def _yaml_reason(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return str(problem)


# --------------------------------------------------------------------------- running


def run_recipe(
    recipe: Recipe | str | Path,
    sources: Sequence[str | Path],
    out_dir: str | Path,
    workers: int | None = None,
    on_source: Callable[[Source, list[TargetRecord]], None] | None = None,
    backend: str | Backend = "local",
    ray_address: str | None = None,
) -> list[TargetRecord]:
    """Run ``recipe`` (a :class:`Recipe` or a recipe file) over ``sources`` into ``out_dir``.

    The batch is :func:`run_listing` with the recipe's model and targets: same outputs
    (``<out>/<sku>/<target>.<ext>``), manifest, resume, per-image failures and back-ends.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    return run_listing(
        sources,
        recipe.presets,
        out_dir,
        model=recipe.model,
        workers=workers,
        on_source=on_source,
        steps=recipe.steps,
        backend=backend,
        ray_address=ray_address,
    )
