"""The shape of a marketplace preset: its fields, their units and the rules a valid one
keeps (:class:`Preset`, validated on construction by :func:`_check`), the vocabularies
(aspects, formats, backgrounds, fallbacks, content rules) and the unit helpers.

Nothing here reads a file: :mod:`packshot.presets.loader` builds presets from TOML.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from packshot.errors import InputError
from packshot.presets.gate import GateSettings, derived_checks

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
