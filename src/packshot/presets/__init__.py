"""Marketplace presets: what each target (Amazon main, Shopify, Etsy, ...) demands of an image.

Presets are data, not code: ``marketplaces.toml`` beside this module registers each one
as a ``[presets.NAME]`` table, validated here into a frozen :class:`Preset`. A user file
named by ``PACKSHOT_PRESETS_FILE`` (same format) changes fields of built-in presets (a
partial table merges field by field) or adds new ones (``extends = "NAME"`` starts a new
preset from an existing one). Every invalid value is a :class:`PresetError` (an
:class:`~packshot.errors.InputError`) naming the file, the preset and the field.

This package imports nothing of packshot but :mod:`packshot.errors`, so every layer
(sentinel, pipeline, CLI, service) can read presets without pulling in images or models.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from packshot.errors import InputError
from packshot.presets.colors import FORMS, parse_color
from packshot.presets.gate import GateSettings, derived_checks, parse_gate

__all__ = [
    "ASPECTS",
    "BACKGROUNDS",
    "FALLBACKS",
    "FORMATS",
    "PRESETS_ENV",
    "RULES",
    "TIERS",
    "Background",
    "Preset",
    "PresetError",
    "derive_preset",
    "format_bytes",
    "get_preset",
    "list_presets",
    "load_presets",
    "parse_aspect",
    "parse_preset_names",
    "size_for_aspect",
]

PRESETS_ENV = "PACKSHOT_PRESETS_FILE"

ASPECTS: tuple[str, ...] = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "2:3", "3:2")
"""The aspect ratios smart resize produces (width:height)."""

FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "HEIC")

Background = Literal["white", "keep", "any"]
BACKGROUNDS: tuple[Background, ...] = ("white", "keep", "any")

FALLBACKS: Mapping[str, str] = MappingProxyType(
    {
        "cutout-on-blur": "the cut-out product on its own photo, product removed, scaled up "
        "to cover the canvas and blurred",
        "studio-sweep": "the cut-out product on a studio sweep in the photo's colours",
        "blurred-backdrop": "the whole photo, untouched, framed on its own blurred self",
    }
)
"""Compositions a background-keeping target may fall back to where extending the photo is
refused (too much to synthesise, or the product would be continued) or would show a seam.
The cutout ones need the product whole in the photo and a confident matte; the framed
photo always works."""

TIERS: Mapping[str, int] = MappingProxyType({"1K": 1024, "2K": 2048, "4K": 4096})
"""Resolution tiers: long side in pixels."""

RULES: Mapping[str, str] = MappingProxyType(
    {
        "no-text": "no added text, graphics, badges or logos outside the product",
        "no-watermark": "no watermark of any kind",
        "no-border": "no border or frame around the image",
        "no-color-block": "no colour blocks or inset panels",
        "no-props": "nothing but the product for sale (no props, no excluded accessories)",
        "single-product": "the product once: no multiple views, collages or insets",
        "product-uncut": "the whole product inside the frame",
    }
)
"""Content rules the quality gate checks, by code, with what each means."""

# WebP's 16383 px limit is the smallest among the formats packshot writes.
MAX_SIDE = 16383

_BUILTIN = "packshot/presets/marketplaces.toml"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX\u00d7]\s*(\d+)\s*$")
_BYTES_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*$", re.IGNORECASE)
_BYTE_UNITS = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
}
_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF"}
_EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "GIF": "gif",
    "TIFF": "tif",
    "HEIC": "heic",
}
# "all" selects every preset in parse_preset_names, so no preset may be called that.
_RESERVED = frozenset({"all"})
# Aspect and size are compared in whole pixels: a derived side is rounded once.
_PIXEL_TOLERANCE = 1.0
_FILL_EPSILON = 1e-9


class PresetError(InputError):
    """A preset is invalid (a bad value in a presets file) or unknown.

    ``preset`` and ``field`` say which, when known; ``detail`` is the message without the
    location, so that a caller can re-say it against another location.
    """

    code = "bad_preset"

    def __init__(
        self,
        message: str,
        *,
        preset: str | None = None,
        field: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.preset = preset
        self.field = field
        self.detail = detail if detail is not None else message


# --------------------------------------------------------------------------- the preset


@dataclass(frozen=True)
class Preset:
    """One marketplace target: the rules an output must meet and how packshot makes it.

    Sizes are pixels, shares are fractions of 1, byte budgets are bytes. ``None`` means the
    marketplace sets no such rule.
    """

    name: str
    title: str
    background: Background
    """``"white"``: exactly :attr:`background_color` outside the product (the cutout is
    composited onto it); ``"keep"``: the original scene is wanted and extended, never
    replaced; ``"any"``: no rule, the source's background is kept unless a recipe says
    otherwise."""
    aspect: str
    size: tuple[int, int]
    """Output (width, height)."""
    background_color: tuple[int, int, int] = (255, 255, 255)
    min_fill: float | None = None
    """Minimum of the product bounding box's longer side / the canvas side (gate)."""
    margin: float = 0.05
    """Share of the canvas side kept free on each side when packshot places the product."""
    min_long_side: int | None = None
    min_short_side: int | None = None
    formats: tuple[str, ...] = ("JPEG",)
    """Formats the marketplace accepts."""
    format: str = "JPEG"
    """The format packshot writes (one of :attr:`formats`)."""
    max_bytes: int | None = None
    """Hard file-size limit."""
    target_bytes: int | None = None
    """The file size packshot aims under (at most :attr:`max_bytes`)."""
    jpeg_quality: int = 90
    allow_crop: bool = False
    """May a reframe crop background (never the product) when synthesis is not possible."""
    fallbacks: tuple[str, ...] = ("cutout-on-blur", "studio-sweep", "blurred-backdrop")
    """Background-keeping targets: the compositions (keys of :data:`FALLBACKS`), in order of
    preference, used where extending the photo is refused or would show a seam."""
    deliver_fallbacks: tuple[str, ...] = ()
    """Those of :attr:`fallbacks` delivered like the preset's own composition; the others
    are held for review."""
    rules: tuple[str, ...] = ()
    """Content-rule codes (keys of :data:`RULES`) the quality gate checks."""
    notes: str = ""
    source: str = ""
    """URL of the marketplace's own guide."""
    origin: str = _BUILTIN
    """The file this preset (or its last override) came from."""
    gate: GateSettings = GateSettings()  # noqa: RUF009 (frozen, so one shared default is safe)
    """The quality gate's settings (see :mod:`packshot.presets.gate`)."""

    @property
    def gate_checks(self) -> tuple[str, ...]:
        """The checks the gate runs on this preset's outputs."""
        if self.gate.checks is not None:
            return self.gate.checks
        return derived_checks(self.background, self.min_fill, self.rules)

    def __post_init__(self) -> None:
        try:
            _check(self)
        except _Invalid as exc:
            raise PresetError(
                f"Preset {self.name!r}: {exc.field} {exc.detail}.",
                preset=self.name,
                field=exc.field,
                detail=exc.detail,
            ) from None

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    @property
    def long_side(self) -> int:
        return max(self.size)

    @property
    def short_side(self) -> int:
        return min(self.size)

    @property
    def target_fill(self) -> float:
        """The fill packshot places the product at: ``1 - 2 * margin``."""
        return 1.0 - 2.0 * self.margin

    @property
    def extension(self) -> str:
        """File extension for :attr:`format`, without the dot (``"jpg"``)."""
        return _EXTENSIONS[self.format]

    @property
    def keeps_background(self) -> bool:
        """True unless the background must be replaced by an exact colour."""
        return self.background != "white"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (tuples as lists) plus the derived values."""
        return {
            "name": self.name,
            "title": self.title,
            "background": self.background,
            "background_color": list(self.background_color),
            "min_fill": self.min_fill,
            "margin": self.margin,
            "target_fill": round(self.target_fill, 6),
            "aspect": self.aspect,
            "size": list(self.size),
            "long_side": self.long_side,
            "min_long_side": self.min_long_side,
            "min_short_side": self.min_short_side,
            "formats": list(self.formats),
            "format": self.format,
            "extension": self.extension,
            "max_bytes": self.max_bytes,
            "target_bytes": self.target_bytes,
            "jpeg_quality": self.jpeg_quality,
            "allow_crop": self.allow_crop,
            "fallbacks": list(self.fallbacks),
            "deliver_fallbacks": list(self.deliver_fallbacks),
            "rules": list(self.rules),
            "notes": self.notes,
            "source": self.source,
            "origin": self.origin,
            "gate": self.gate.as_dict(),
        }


class _Invalid(Exception):
    """One bad field; turned into a PresetError that says where the value came from."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field} {detail}")
        self.field = field
        self.detail = detail


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check(p: Preset) -> None:
    """Every invariant of a preset, each reported against the field a user would edit."""
    if not isinstance(p.name, str) or not _NAME_RE.match(p.name):
        raise _Invalid("name", "must use lower-case letters, digits, '-' and '_' only")
    if p.name in _RESERVED:
        raise _Invalid("name", f"{p.name!r} is reserved (it selects every preset)")
    if not isinstance(p.title, str) or not p.title.strip():
        raise _Invalid("title", "must be a non-empty string")
    if p.background not in BACKGROUNDS:
        raise _Invalid("background", f"{p.background!r} is not one of {', '.join(BACKGROUNDS)}")
    color = p.background_color
    if (
        not isinstance(color, tuple)
        or len(color) != 3
        or not all(_is_int(c) and 0 <= c <= 255 for c in color)
    ):
        raise _Invalid("background_color", f"{color!r} must be three integers 0..255 (R, G, B)")
    if p.aspect not in ASPECTS:
        raise _Invalid("aspect", f"{p.aspect!r} is not one of {', '.join(ASPECTS)}")
    size = p.size
    if not isinstance(size, tuple) or len(size) != 2 or not all(_is_int(s) for s in size):
        raise _Invalid("size", f"{size!r} must be two integers (width, height)")
    if not all(1 <= s <= MAX_SIDE for s in size):
        raise _Invalid("size", f"{_wxh(size)} must have sides between 1 and {MAX_SIDE} px")
    if not _fits_aspect(size, p.aspect):
        expected = size_for_aspect(p.aspect, max(size))
        raise _Invalid(
            "size",
            f"{_wxh(size)} does not match aspect {p.aspect} "
            f"({_wxh(expected)} would, for the same long side)",
        )
    for field, minimum, actual in (
        ("min_long_side", p.min_long_side, max(size)),
        ("min_short_side", p.min_short_side, min(size)),
    ):
        if minimum is None:
            continue
        if not _is_int(minimum) or minimum < 1:
            raise _Invalid(field, f"{minimum!r} must be a positive number of pixels")
        if actual < minimum:
            raise _Invalid(
                "size", f"{_wxh(size)} is below the preset's own {field} of {minimum} px"
            )
    if p.min_fill is not None and (not _is_number(p.min_fill) or not 0 < p.min_fill <= 1):
        raise _Invalid("min_fill", f"{p.min_fill!r} must be a share above 0 and at most 1 (0.85)")
    if not _is_number(p.margin) or not 0 <= p.margin < 0.5:
        raise _Invalid("margin", f"{p.margin!r} must be a share from 0 up to (not including) 0.5")
    if p.min_fill is not None and 1 - 2 * p.margin < p.min_fill - _FILL_EPSILON:
        raise _Invalid(
            "margin",
            f"{p.margin:g} leaves the product at most {1 - 2 * p.margin:.0%} of the frame, "
            f"below min_fill {p.min_fill:.0%}; use a margin of at most "
            f"{(1 - p.min_fill) / 2:g}",
        )
    if not isinstance(p.formats, tuple) or not p.formats:
        raise _Invalid("formats", "must list at least one format")
    for fmt in p.formats:
        if fmt not in FORMATS:
            raise _Invalid("formats", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    if len(set(p.formats)) != len(p.formats):
        raise _Invalid("formats", f"{list(p.formats)} lists a format twice")
    if p.format not in p.formats:
        raise _Invalid(
            "format", f"{p.format!r} is not among the accepted formats {', '.join(p.formats)}"
        )
    for field, value in (("max_bytes", p.max_bytes), ("target_bytes", p.target_bytes)):
        if value is not None and (not _is_int(value) or value < 1):
            raise _Invalid(field, f"{value!r} must be a positive number of bytes")
    if p.max_bytes is not None and p.target_bytes is not None and p.target_bytes > p.max_bytes:
        raise _Invalid(
            "target_bytes",
            f"{format_bytes(p.target_bytes)} is above max_bytes {format_bytes(p.max_bytes)}",
        )
    if not _is_int(p.jpeg_quality) or not 1 <= p.jpeg_quality <= 100:
        raise _Invalid("jpeg_quality", f"{p.jpeg_quality!r} must be an integer from 1 to 100")
    if not isinstance(p.allow_crop, bool):
        raise _Invalid("allow_crop", "must be true or false")
    for field in ("fallbacks", "deliver_fallbacks"):
        names = getattr(p, field)
        if not isinstance(names, tuple):
            raise _Invalid(field, "must be a list of composition names")
        for name in names:
            if name not in FALLBACKS:
                raise _Invalid(
                    field, f"{name!r} is not a composition; known: {', '.join(FALLBACKS)}"
                )
        if len(set(names)) != len(names):
            raise _Invalid(field, f"{list(names)} lists a composition twice")
    extra = [n for n in p.deliver_fallbacks if n not in p.fallbacks]
    if extra:
        raise _Invalid("deliver_fallbacks", f"{extra} are not among the fallbacks")
    if not isinstance(p.rules, tuple):
        raise _Invalid("rules", "must be a list of rule codes")
    for rule in p.rules:
        if rule not in RULES:
            raise _Invalid("rules", f"{rule!r} is not a known rule{_did_you_mean(rule, RULES)}")
    if len(set(p.rules)) != len(p.rules):
        raise _Invalid("rules", f"{list(p.rules)} lists a rule twice")
    if not isinstance(p.notes, str):
        raise _Invalid("notes", "must be a string")
    if not isinstance(p.source, str) or (
        p.source and not p.source.startswith(("https://", "http://"))
    ):
        raise _Invalid("source", f"{p.source!r} must be an http(s) URL (or left out)")


# --------------------------------------------------------------------------- geometry


def parse_aspect(aspect: str) -> tuple[int, int]:
    """``"16:9"`` -> ``(16, 9)``; :class:`PresetError` unless one of :data:`ASPECTS`."""
    if aspect not in ASPECTS:
        raise PresetError(f"Aspect {aspect!r} is not one of {', '.join(ASPECTS)}.")
    w, h = aspect.split(":")
    return int(w), int(h)


def size_for_aspect(aspect: str, long_side: int) -> tuple[int, int]:
    """(width, height) with ``long_side`` on the longer axis of ``aspect``, the other side
    rounded to the nearest pixel (21:9 at 2048 -> 2048 x 878)."""
    aw, ah = parse_aspect(aspect)
    short = round(long_side * min(aw, ah) / max(aw, ah))
    return (long_side, short) if aw >= ah else (short, long_side)


def _fits_aspect(size: tuple[int, int], aspect: str) -> bool:
    aw, ah = parse_aspect(aspect)
    w, h = size
    if aw != ah and (aw > ah) != (w > h):
        return False
    # The short side derived from the long side, within a pixel of rounding.
    if w >= h:
        return abs(h - w * ah / aw) <= _PIXEL_TOLERANCE
    return abs(w - h * aw / ah) <= _PIXEL_TOLERANCE


def _wxh(size: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in size)


def format_bytes(size: int) -> str:
    """Bytes as a short decimal figure: ``20000000`` -> ``"20 MB"``, ``1500`` -> ``"1.5 KB"``."""
    units = (("GB", 1000**3), ("MB", 1000**2), ("KB", 1000))
    for (unit, factor), bigger in zip(units, (None, *units[:-1]), strict=True):
        if size >= factor:
            value = size / factor
            # 999.6 KB rounds to 1000 KB, which ".3g" would print as "1e+03 KB": say 1 MB.
            if value >= 999.5 and bigger is not None:
                return f"{size / bigger[1]:.3g} {bigger[0]}"
            return f"{value:.3g} {unit}" if value < 999.5 else f"{value:.0f} {unit}"
    return f"{size} B"


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --------------------------------------------------------------------------- lookup


def get_preset(name: str) -> Preset:
    """The preset ``name`` (case-insensitive); :class:`PresetError` lists the known names."""
    presets = _presets()
    key = name.strip().lower()
    preset = presets.get(key)
    if preset is None:
        close = difflib.get_close_matches(key, list(presets), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise PresetError(
            f"Unknown marketplace preset {name!r}.{hint} Known presets: {', '.join(presets)}. "
            f"Add your own in a TOML file named by ${PRESETS_ENV}.",
            preset=name,
        )
    return preset


def list_presets() -> list[Preset]:
    """Every preset, built-in ones in file order, then those the user file adds."""
    return list(_presets().values())


def parse_preset_names(names: str | Iterable[str]) -> list[Preset]:
    """Presets from a comma-separated list (``"amazon-main,shopify"``) or several such
    strings (a repeated CLI option); ``"all"`` selects every preset. Order is kept and
    repeats are dropped; an empty list is a :class:`PresetError`."""
    parts = [names] if isinstance(names, str) else list(names)
    wanted = [piece.strip() for part in parts for piece in part.split(",") if piece.strip()]
    if not wanted:
        known = ", ".join(_presets())
        raise PresetError(f"No marketplace preset given; name one or more of: {known}.")
    chosen: dict[str, Preset] = {}
    for name in wanted:
        selected = list_presets() if name.lower() == "all" else [get_preset(name)]
        for preset in selected:
            chosen.setdefault(preset.name, preset)
    return list(chosen.values())


def load_presets(user_file: str | Path | None = None) -> dict[str, Preset]:
    """Built-in presets merged with ``user_file`` (None: built-ins only), uncached.

    :func:`get_preset` and :func:`list_presets` use ``$PACKSHOT_PRESETS_FILE`` instead;
    this is for checking a file before pointing the variable at it.
    """
    if user_file is None:
        return dict(_load(None, None))
    path = Path(user_file).expanduser()
    return dict(_load.__wrapped__(str(path), None))


def _presets() -> dict[str, Preset]:
    user = os.environ.get(PRESETS_ENV, "").strip()
    if not user:
        return _load(None, None)
    path = Path(user).expanduser()
    try:
        st = path.stat()
    except OSError as exc:
        raise PresetError(
            f"{PRESETS_ENV} points to {path}, which cannot be read ({exc.strerror or exc})."
        ) from exc
    return _load(str(path.resolve()), (st.st_mtime_ns, st.st_size))


# --------------------------------------------------------------------------- loading


@functools.lru_cache(maxsize=8)
def _load(user_path: str | None, _stamp: tuple[int, int] | None) -> dict[str, Preset]:
    # _stamp (mtime, size) is part of the cache key so that an edited user file is re-read.
    text = resources.files("packshot.presets").joinpath("marketplaces.toml").read_text("utf-8")
    raw: dict[str, tuple[dict[str, Any], str]] = {
        name: (table, _BUILTIN) for name, table in _parse_toml(text, _BUILTIN).items()
    }
    if user_path is not None:
        path = Path(user_path)
        try:
            user_text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PresetError(f"Cannot read the presets file {path}: {exc}.") from exc
        origin = str(path)
        for name, table in _parse_toml(user_text, origin).items():
            raw[name] = (_merge_user(name, table, raw, origin), origin)
    return {name: _build(name, table, origin) for name, (table, origin) in raw.items()}


def _parse_toml(text: str, origin: str) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{origin}: not valid TOML: {exc}.") from exc
    extra = set(data) - {"presets"}
    if extra:
        raise PresetError(
            f"{origin}: unexpected top-level key(s) {sorted(extra)}; "
            "presets go in [presets.NAME] tables."
        )
    presets = data.get("presets", {})
    if not isinstance(presets, dict):
        raise PresetError(f"{origin}: 'presets' must be a table of [presets.NAME] tables.")
    for name, table in presets.items():
        if not isinstance(table, dict):
            raise PresetError(f"{origin}: presets.{name} must be a table ([presets.{name}]).")
    return presets


def derive_preset(
    base: Preset, changes: Mapping[str, Any], *, origin: str, name: str | None = None
) -> Preset:
    """``base`` with some fields changed (or, with ``name``, a new preset extending it),
    merged and validated exactly as a user presets file's table would be."""
    fields = {k: v for k, v in base.as_dict().items() if k in _KEYS}
    table = dict(changes) if name is None else {"extends": base.name, **changes}
    new_name = name or base.name
    merged = _merge_user(new_name, table, {base.name: (fields, base.origin)}, origin)
    return _build(new_name, merged, origin)


def _merge_user(
    name: str,
    table: dict[str, Any],
    raw: Mapping[str, tuple[dict[str, Any], str]],
    origin: str,
) -> dict[str, Any]:
    """The user's table over the preset it changes (same name) or ``extends``."""
    table = dict(table)
    parent = table.pop("extends", None)
    if parent is not None:
        if name in raw:
            raise PresetError(
                f"{origin}: [presets.{name}] extends is for new presets; {name!r} already "
                "exists, so give only the fields to change."
            )
        if not isinstance(parent, str) or parent not in raw:
            hint = _did_you_mean(parent, raw) if isinstance(parent, str) else ""
            raise PresetError(
                f"{origin}: [presets.{name}] extends {parent!r} is not a known preset{hint}."
            )
        base = raw[parent][0]
        # The parent's title would misname the new preset.
        table.setdefault("title", name)
    elif name in raw:
        base = raw[name][0]
    else:
        return table
    merged = {**base, **table}
    # A gate table changes only the gate settings it gives.
    if isinstance(base.get("gate"), dict) and isinstance(table.get("gate"), dict):
        merged["gate"] = {**base["gate"], **table["gate"]}
    # An exact built-in size belongs to the built-in aspect: a user who changes the aspect
    # or the long side means "the same long side, the new shape", not a size mismatch.
    if ("aspect" in table or "long_side" in table) and "size" not in table and "size" in base:
        del merged["size"]
        if "long_side" not in merged:
            with contextlib.suppress(_Invalid):
                merged["long_side"] = max(_size_value(base["size"]))
    if "size" in table and "long_side" not in table:
        merged.pop("long_side", None)
    # A new list of formats keeps the built-in preferred format only if it still lists it.
    if "formats" in table and "format" not in table and "format" in base:
        new = table["formats"]
        listed = (
            {_format_name(f) for f in new if isinstance(f, str)} if isinstance(new, list) else set()
        )
        if _format_name(base["format"]) not in listed:
            del merged["format"]
    return merged


_KEYS = frozenset(
    {
        "title",
        "background",
        "background_color",
        "min_fill",
        "margin",
        "aspect",
        "size",
        "long_side",
        "min_long_side",
        "min_short_side",
        "formats",
        "format",
        "max_bytes",
        "target_bytes",
        "jpeg_quality",
        "allow_crop",
        "fallbacks",
        "deliver_fallbacks",
        "rules",
        "notes",
        "source",
        "gate",
    }
)


def _build(name: str, table: Mapping[str, Any], origin: str) -> Preset:
    where = f"{origin}: [presets.{name}]"
    try:
        if not _NAME_RE.match(name):
            raise _Invalid("name", "must use lower-case letters, digits, '-' and '_' only")
        for key in table:
            if key not in _KEYS:
                raise _Invalid(
                    key,
                    f"is not a preset field{_did_you_mean(key, _KEYS)}; fields: "
                    f"{', '.join(sorted(_KEYS))}, and extends (user file)",
                )
        values = _values(name, table)
        return Preset(**values, origin=origin)
    except _Invalid as exc:
        error = _Invalid(exc.field, exc.detail)
    except PresetError as exc:
        # Preset.__post_init__ checks the rules that span fields: re-say them with the file.
        error = _Invalid(exc.field or "value", exc.detail)
    raise PresetError(
        f"{where} {error.field} {error.detail}.",
        preset=name,
        field=error.field,
        detail=error.detail,
    )


def _values(name: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """Each TOML value checked for type and converted to the dataclass field's type."""
    values: dict[str, Any] = {"name": name}
    values["title"] = _text(table, "title", default=name)
    if "background" not in table:
        raise _Invalid("background", f"is required: one of {', '.join(BACKGROUNDS)}")
    background = table["background"]
    if not isinstance(background, str) or background.strip().lower() not in BACKGROUNDS:
        raise _Invalid("background", f"{background!r} is not one of {', '.join(BACKGROUNDS)}")
    values["background"] = cast(Background, background.strip().lower())
    if "background_color" in table:
        values["background_color"] = _color(table["background_color"])
    if "aspect" not in table:
        raise _Invalid("aspect", f"is required: one of {', '.join(ASPECTS)}")
    aspect = table["aspect"]
    if not isinstance(aspect, str) or aspect.strip() not in ASPECTS:
        raise _Invalid("aspect", f"{aspect!r} is not one of {', '.join(ASPECTS)}")
    values["aspect"] = aspect.strip()
    values["size"] = _size(table, values["aspect"])
    for key in ("min_fill", "margin"):
        if key in table:
            value = _optional(table[key]) if key == "min_fill" else table[key]
            if value is not None and not _is_number(value):
                raise _Invalid(key, f"{value!r} must be a number (a share such as 0.85)")
            # Out-of-range values stay as written, so that the error quotes the user's "85".
            values[key] = float(value) if value is not None and 0 <= value <= 1 else value
    for key in ("min_long_side", "min_short_side"):
        if key in table:
            values[key] = _pixels(key, _optional(table[key]), allow_none=True)
    if "formats" in table:
        formats = table["formats"]
        if not isinstance(formats, list) or not formats:
            raise _Invalid("formats", f'{formats!r} must be a non-empty list such as ["JPEG"]')
        values["formats"] = tuple(_format(f, "formats") for f in formats)
    if "format" in table:
        values["format"] = _format(table["format"], "format")
    else:
        values["format"] = values.get("formats", ("JPEG",))[0]
    for key in ("max_bytes", "target_bytes"):
        if key in table:
            values[key] = _bytes(key, _optional(table[key]))
    if "jpeg_quality" in table:
        quality = table["jpeg_quality"]
        if not _is_int(quality):
            raise _Invalid("jpeg_quality", f"{quality!r} must be an integer from 1 to 100")
        values["jpeg_quality"] = quality
    if "allow_crop" in table:
        if not isinstance(table["allow_crop"], bool):
            raise _Invalid("allow_crop", f"{table['allow_crop']!r} must be true or false")
        values["allow_crop"] = table["allow_crop"]
    for key in ("fallbacks", "deliver_fallbacks"):
        if key in table:
            names = table[key]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise _Invalid(key, f'{names!r} must be a list such as ["cutout-on-blur"]')
            values[key] = tuple(n.strip().lower() for n in names)
    if "rules" in table:
        rules = table["rules"]
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise _Invalid("rules", f'{rules!r} must be a list of rule codes such as ["no-text"]')
        values["rules"] = tuple(r.strip().lower() for r in rules)
    values["notes"] = _text(table, "notes", default="", allow_empty=True)
    values["source"] = _text(table, "source", default="", allow_empty=True)
    if "gate" in table:
        try:
            values["gate"] = parse_gate(table["gate"])
        except ValueError as exc:
            raise _Invalid("gate", str(exc)) from None
    return values


def _text(table: Mapping[str, Any], key: str, *, default: str, allow_empty: bool = False) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise _Invalid(key, "must be a non-empty string" if not allow_empty else "must be a string")
    return value.strip()


def _optional(value: Any) -> Any:
    # TOML has no null: "none" is how a user file removes a built-in rule.
    if isinstance(value, str) and value.strip().lower() == "none":
        return None
    return value


def _color(value: Any) -> tuple[int, int, int]:
    try:
        return parse_color(value, "background_color")
    except InputError as exc:
        raise _Invalid("background_color", f"{value!r} must be {FORMS}") from exc


def _size_value(value: Any) -> tuple[int, int]:
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            return int(match.group(1)), int(match.group(2))
    elif isinstance(value, list) and len(value) == 2 and all(_is_int(v) for v in value):
        return value[0], value[1]
    raise _Invalid("size", f'{value!r} must be [width, height] or "WIDTHxHEIGHT" in pixels')


def _size(table: Mapping[str, Any], aspect: str) -> tuple[int, int]:
    long_side = None
    if "long_side" in table:
        value = table["long_side"]
        if isinstance(value, str) and value.strip().upper() in TIERS:
            long_side = TIERS[value.strip().upper()]
        else:
            long_side = _pixels("long_side", value, tiers=True)
        if long_side > MAX_SIDE:
            raise _Invalid("long_side", f"{long_side} is above the {MAX_SIDE} px limit")
    if "size" in table:
        size = _size_value(table["size"])
        if long_side is not None and long_side != max(size):
            raise _Invalid(
                "size",
                f"{_wxh(size)} disagrees with long_side {long_side}; give one of the two",
            )
        return size
    if long_side is None:
        raise _Invalid("size", "is required: give size = [W, H] or long_side (pixels or 1K/2K/4K)")
    return size_for_aspect(aspect, long_side)


def _pixels(key: str, value: Any, *, allow_none: bool = False, tiers: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if not _is_int(value) or value < 1:
        more = ' or "1K"/"2K"/"4K"' if tiers else ""
        raise _Invalid(key, f"{value!r} must be a positive number of pixels{more}")
    return value


def _format_name(value: str) -> str:
    upper = value.strip().upper()
    return _FORMAT_ALIASES.get(upper, upper)


def _format(value: Any, key: str) -> str:
    if isinstance(value, str) and _format_name(value) in FORMATS:
        return _format_name(value)
    raise _Invalid(key, f"{value!r} is not one of {', '.join(FORMATS)}")


def _bytes(key: str, value: Any) -> int | None:
    if value is None:
        return None
    if _is_int(value):
        amount = float(value)
    elif isinstance(value, str) and (match := _BYTES_RE.match(value)):
        amount = float(match.group(1)) * _BYTE_UNITS[(match.group(2) or "B").upper()]
    else:
        raise _Invalid(key, f'{value!r} must be bytes: an integer or a size such as "20 MB"')
    if not math.isfinite(amount) or amount < 1:
        raise _Invalid(key, f"{value!r} must be at least 1 byte")
    return round(amount)
