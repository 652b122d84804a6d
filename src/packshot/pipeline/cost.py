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
import os
from collections.abc import Iterable
from dataclasses import dataclass

from packshot.cost import DEFAULT_CORE_HOUR_PRICE, PRICE_ENV
from packshot.errors import InputError
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


def core_hour_price(value: str | None = None) -> float:
    """The price per core-hour: ``value``, else ``$PACKSHOT_CORE_HOUR_PRICE``, else the
    default; a bad figure is an :class:`InputError` naming where it came from."""
    where = "price per core-hour"
    if value is None:
        value = os.environ.get(PRICE_ENV, "").strip() or None
        where = PRICE_ENV
    if value is None:
        return DEFAULT_CORE_HOUR_PRICE
    try:
        price = float(value)
    except ValueError:
        raise InputError(f"{where}: {value!r} is not a number (e.g. 0.05)") from None
    if not math.isfinite(price) or price < 0:
        raise InputError(f"{where}: {value!r} must be a price of 0 or more (e.g. 0.05)")
    return price
