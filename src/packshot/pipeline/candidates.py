"""Over-generate: the renderings tried for one output when a preset asks for candidates.

A candidate is a recipe: which model ensemble cut the product out, which matte
refinement and colour decontamination finished the cutout, and at what fill it is framed.
The plan varies the cheap parts first: refinement and framing reuse the batch model's
probability map (one model pass), so each costs a refinement or a placement and an
encode; other ensembles cost a model pass each and come after. The gate scores every
candidate (:mod:`packshot.sentinel.candidates` ranks them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from packshot.ops.matte import RefineParams
from packshot.presets import Preset

CANDIDATE_ENSEMBLES = ("u2net", "u2net-best", "u2net-fast", "u2netp")
"""Ensembles tried, in this order after the batch's own (all Apache-2.0; the AGPL IS-Net
stays opt-in)."""


@dataclass(frozen=True)
class Refinement:
    """How the model's probability becomes the cutout: matte refinement parameters and
    whether edge colours are decontaminated."""

    name: str
    params: RefineParams
    decontaminate: bool = True


DEFAULT_REFINEMENT = Refinement("default", RefineParams())

REFINEMENTS = (
    # A narrower fractional band and a steeper ramp: fewer semi-transparent pixels, for
    # hard-edged products whose matte the default leaves soft (mask confidence, fringe).
    Refinement("crisp", RefineParams(band_frac=0.005, edge_gain=3.0)),
    # The model's ramp as predicted over a wider band and guided-filter window: for soft
    # outlines (fabric, fur) that the default would cut too hard.
    Refinement("soft", RefineParams(radius_frac=0.008, band_frac=0.015, edge_gain=1.0)),
    # The photo's own colours at the edge (no foreign-colour estimation): wins when the
    # decontamination's local means go wrong (thin parts against a busy background).
    Refinement("photo-colours", RefineParams(), decontaminate=False),
)
"""Refinements tried besides the default, in order."""


@dataclass(frozen=True)
class Variant:
    """One candidate's recipe."""

    ensemble: str
    refinement: Refinement
    fill: float
    """The fill (longer side's share of the canvas) the product is placed at."""

    @property
    def label(self) -> str:
        parts = [self.ensemble]
        if self.refinement.name != DEFAULT_REFINEMENT.name:
            parts.append(f"{self.refinement.name} matte")
        parts.append(f"fill {self.fill:.1%}")
        return ", ".join(parts)

    def framed(self, preset: Preset) -> Preset:
        """``preset`` with its margin set so that the product is placed at :attr:`fill`
        (the gate still judges against the preset's own ``min_fill``)."""
        if abs(self.fill - preset.target_fill) < 1e-9:
            return preset
        return dataclasses.replace(preset, margin=(1.0 - self.fill) / 2.0)


def framing_fills(preset: Preset) -> list[float]:
    """Fills to place the product at: the preset's target, then halfway down to its
    ``min_fill`` (more white around the product, still compliant) when there is room."""
    fills = [preset.target_fill]
    if preset.min_fill is not None and preset.target_fill - preset.min_fill >= 0.02:
        fills.append(round((preset.target_fill + preset.min_fill) / 2.0, 4))
    return fills


def candidate_plan(preset: Preset, model: str, count: int) -> list[Variant]:
    """The first ``count`` variants for ``preset`` when the batch cuts out with ``model``:
    the batch's own rendering, a crisper matte, a looser framing, the next ensemble, then
    the other refinements and ensembles (see the module docstring)."""
    fills = framing_fills(preset)
    target = fills[0]
    others = [e for e in CANDIDATE_ENSEMBLES if e != model]
    plan = [Variant(model, DEFAULT_REFINEMENT, target), Variant(model, REFINEMENTS[0], target)]
    plan += [Variant(model, DEFAULT_REFINEMENT, fill) for fill in fills[1:]]
    plan += [Variant(others[0], DEFAULT_REFINEMENT, target)]
    plan += [Variant(model, r, target) for r in REFINEMENTS[1:]]
    plan += [Variant(e, DEFAULT_REFINEMENT, target) for e in others[1:]]
    return plan[:count]
