"""What a batch cost in compute: core-seconds from the records, money at a price per
core-hour.

Every worker runs one image at a time on one thread (see :mod:`packshot.pipeline.backends`),
so a worker's wall seconds on an item are the core-seconds it used. A record carries
``cutout_s`` (loading, steps and the cutout of its source: shared by every target of that
source), ``target_s`` (rendering, encoding and gating one target) and ``gate_s`` (the
gate's share of ``target_s``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from packshot.pipeline.manifest import TargetRecord


@dataclass(frozen=True)
class Compute:
    """Core-seconds spent on a set of outputs, by stage."""

    cutout_s: float
    target_s: float
    gate_s: float
    outputs: int
    """Outputs (delivered, fixed or held) the seconds made; failed targets add none."""

    @property
    def core_seconds(self) -> float:
        return self.cutout_s + self.target_s

    def cost(self, price_per_core_hour: float) -> float:
        """What the seconds cost at ``price_per_core_hour`` (same currency)."""
        return self.core_seconds / 3600.0 * price_per_core_hour


def batch_compute(records: Iterable[TargetRecord]) -> Compute:
    """The core-seconds behind ``records``: each source's cutout counted once, each
    target's rendering and gate once."""
    cutouts: dict[tuple[str, float], float] = {}
    target_s = gate_s = 0.0
    outputs = 0
    for rec in records:
        info = rec.info
        cut = _seconds(info.get("cutout_s"))
        if cut:
            # Targets rendered in the same run of a source share its cutout (and its
            # figure); a target re-rendered in a later run brings that run's cutout.
            cutouts[(rec.sku, cut)] = cut
        target_s += _seconds(info.get("target_s"))
        gate_s += _seconds(info.get("gate_s"))
        outputs += rec.output is not None
    return Compute(sum(cutouts.values()), target_s, gate_s, outputs)


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) and value > 0 else 0.0
