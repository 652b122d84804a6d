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

from packshot.presets.loader import (
    derive_preset,
    get_preset,
    list_presets,
    load_presets,
    parse_preset_names,
)
from packshot.presets.schema import (
    ASPECTS,
    BACKGROUNDS,
    FALLBACKS,
    FORMATS,
    PRESETS_ENV,
    RULES,
    TIERS,
    Background,
    Preset,
    PresetError,
    format_bytes,
    parse_aspect,
    size_for_aspect,
)

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
