"""Loading presets: the built-in ``marketplaces.toml``, a user file named by
``PACKSHOT_PRESETS_FILE`` merged into it field by field (or extending a preset), and the
lookups by name. Every invalid value is a :class:`~packshot.presets.schema.PresetError`
naming the file, the preset and the field.
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
from importlib import resources
from pathlib import Path
from typing import Any, cast

from packshot.errors import InputError
from packshot.presets.colors import FORMS, parse_color
from packshot.presets.gate import parse_gate
from packshot.presets.schema import (
    _BUILTIN,
    _NAME_RE,
    ASPECTS,
    BACKGROUNDS,
    FORMATS,
    MAX_SIDE,
    PRESETS_ENV,
    TIERS,
    Background,
    Preset,
    PresetError,
    _did_you_mean,
    _Invalid,
    _is_int,
    _is_number,
    _wxh,
    size_for_aspect,
)

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
