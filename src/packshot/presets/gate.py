"""The quality gate's settings per preset, as data: which checks run, their thresholds,
how many automatic fixes may be tried, and how many candidates to render and keep.

A preset's ``[presets.NAME.gate]`` table::

    checks = ["background_purity", "frame_fill", ...]   # omit: derived from the preset
    max_fixes = 1         # automatic fixes tried before an output is held (0 = never fix)
    candidates = 1        # renderings per output (matte refinement, framing, model), scored
    keep = 1              # best candidates kept (the first is delivered)
    [presets.NAME.gate.thresholds]
    background_purity = 0.998   # any check's threshold, in the unit its result states

Without a table the checks follow from the preset: background checks for white presets,
frame fill when ``min_fill`` is set, cut-off for white presets (else the ``product-uncut``
rule), text for ``no-text``/``no-watermark`` rules, watermark for ``no-watermark``,
objects for ``single-product``/``no-props``, seams and composition for presets that
extend the photo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

CHECKS: Mapping[str, str] = MappingProxyType(
    {
        "background_purity": "share of the background exactly the target colour (min)",
        "edge_halo": "share of the background just outside the product off the colour (max)",
        "edge_contamination": "share of the product's edge with a foreign-colour fringe (max)",
        "border": "width of a frame drawn around the image, px (max)",
        "frame_fill": "product bounding box's longer side / canvas (min; the preset's min_fill)",
        "product_cut_off": "canvas or source edges the product touches (max)",
        "resolution": "pixels against the preset's minimums (min, 1 = just enough)",
        "aspect_ratio": "width / height against the preset's aspect",
        "file_format": "the encoded format is accepted",
        "file_size": "encoded bytes (max; the preset's max_bytes)",
        "text": "text lines outside the product (max)",
        "watermark": "text lines running across the product onto the background (max)",
        "sticker": "text lines on a sticker stuck onto the product (max; opt-in)",
        "multiple_objects": "separate objects (max)",
        "mask_confidence": "uncertain share of the product's matte (max)",
        "completeness": "area the photo's object has beyond the mask / the mask's area (max)",
        "thin_parts": "length of a thin part (handle, strap) leaving the mask / its size (max)",
        "mask_agreement": "IoU of the mask with an independent model pass (min)",
        "shape_sanity": "the mask's box / the localizer's box around it (min); pieces",
        "cutout_confidence": "calibrated probability that the cutout is right (min)",
        "colour_fidelity": "mean CIEDE2000 output vs source (max)",
        "swatch_match": "CIEDE2000 of the product's colour from its swatch (max; needs a swatch)",
        "accent_separation": "share of a recoloured region neither surely its fabric nor "
        "surely a kept accent (max; colourways that keep accents)",
        "sharpness": "edge steepness, 0.5 = crisp step (min)",
        "visible_seams": "brightness step across extension seams, levels (max)",
        "composition": "made as the preset asks, not with a fallback composition",
        "isolation_confidence": "calibrated probability that the isolated object is the "
        "prompted product (min; outputs made from an isolation)",
    }
)
"""Every check the gate knows, by name, with what its threshold means."""

DEFAULT_THRESHOLDS: Mapping[str, float] = MappingProxyType(
    {
        "background_purity": 0.998,
        "edge_halo": 0.07,
        "edge_contamination": 0.5,
        "mask_confidence": 0.2,
        "completeness": 0.08,
        "thin_parts": 0.25,
        "mask_agreement": 0.6,
        "shape_sanity": 0.5,
        "cutout_confidence": 0.35,
        "colour_fidelity": 3.0,
        # 2-3 is noticeable at a glance: a colourway further off its swatch is held.
        "swatch_match": 3.0,
        # Clean colourways measure 0.002-0.04 (synthetic fabrics with patches, an on-model
        # top with a print); the sample handbag's pale petals on blush leather 0.17.
        "accent_separation": 0.08,
        "sharpness": 0.12,
        "visible_seams": 6.0,
        # No tune-split isolation at or above 0.7 was wrong (benchmarks/isolate.py --fit).
        "isolation_confidence": 0.7,
    }
)
"""Thresholds of checks whose limit the preset's other fields do not already set."""

CUTOUT_CHECKS = (
    "completeness",
    "thin_parts",
    "mask_agreement",
    "shape_sanity",
    "cutout_confidence",
)
"""The completeness checks: on a white-background output they judge whether the cutout
is the whole product, from the source photo (see :mod:`packshot.sentinel.completeness`)."""

_KEYS = frozenset({"checks", "thresholds", "max_fixes", "candidates", "keep"})


@dataclass(frozen=True)
class GateSettings:
    """One preset's gate: see the module docstring. ``checks`` None = derived."""

    checks: tuple[str, ...] | None = None
    thresholds: tuple[tuple[str, float], ...] = ()
    max_fixes: int = 1
    candidates: int = 1
    keep: int = 1

    def threshold(self, name: str) -> float:
        """The threshold for check ``name``: the preset's own, else the default."""
        return dict(self.thresholds).get(name, DEFAULT_THRESHOLDS.get(name, 0.0))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "max_fixes": self.max_fixes,
            "candidates": self.candidates,
            "keep": self.keep,
            "thresholds": dict(self.thresholds),
        }
        if self.checks is not None:
            out["checks"] = list(self.checks)
        return out


def parse_gate(value: Any) -> GateSettings:
    """A ``gate`` table into :class:`GateSettings`; ``ValueError`` says what is wrong."""
    if not isinstance(value, Mapping):
        raise ValueError("must be a table ([presets.NAME.gate])")
    unknown = set(value) - _KEYS
    if unknown:
        raise ValueError(
            f"has unknown key(s) {', '.join(sorted(unknown))}; keys: {', '.join(sorted(_KEYS))}"
        )
    checks = value.get("checks")
    if checks is not None:
        if not isinstance(checks, list | tuple) or not all(isinstance(c, str) for c in checks):
            raise ValueError("checks must be a list of check names")
        for name in checks:
            if name not in CHECKS:
                raise ValueError(f"checks: {name!r} is not a check; known: {', '.join(CHECKS)}")
        checks = tuple(checks)
    thresholds = value.get("thresholds", {})
    if not isinstance(thresholds, Mapping):
        raise ValueError("thresholds must be a table of check name = number")
    for name, limit in thresholds.items():
        if name not in CHECKS:
            raise ValueError(f"thresholds: {name!r} is not a check; known: {', '.join(CHECKS)}")
        if isinstance(limit, bool) or not isinstance(limit, int | float):
            raise ValueError(f"thresholds.{name} = {limit!r} must be a number")
    counts = {}
    for key, default, low in (("max_fixes", 1, 0), ("candidates", 1, 1), ("keep", 1, 1)):
        n = value.get(key, default)
        if isinstance(n, bool) or not isinstance(n, int) or not low <= n <= 16:
            raise ValueError(f"{key} = {n!r} must be an integer from {low} to 16")
        counts[key] = n
    if counts["keep"] > counts["candidates"]:
        raise ValueError(
            f"keep = {counts['keep']} is more than candidates = {counts['candidates']}"
        )
    return GateSettings(
        checks,
        tuple(sorted((k, float(v)) for k, v in thresholds.items())),
        counts["max_fixes"],
        counts["candidates"],
        counts["keep"],
    )


def derived_checks(
    background: str, min_fill: float | None, rules: tuple[str, ...]
) -> tuple[str, ...]:
    """The checks a preset without an explicit list gets (see the module docstring)."""
    names = ["resolution", "aspect_ratio", "file_format", "file_size"]
    if background == "white":
        names += ["background_purity", "edge_halo", "edge_contamination", "border"]
        names += ["mask_confidence"]
        names += ["product_cut_off"]
        names += list(CUTOUT_CHECKS)
    else:
        # A lifestyle photo may crop its product; only a rule says it must not.
        names += ["visible_seams", "composition"]
        names += ["product_cut_off"] if "product-uncut" in rules else []
    if "no-border" in rules and "border" not in names:
        names.append("border")
    if min_fill is not None:
        names.append("frame_fill")
    if {"no-text", "no-watermark"} & set(rules):
        names.append("text")
    if "no-watermark" in rules:
        names.append("watermark")
    if {"single-product", "no-props"} & set(rules):
        names.append("multiple_objects")
    names += ["colour_fidelity", "sharpness"]
    return tuple(names)
