"""What an output cost to make here, beside what the hosted APIs charge for it.

Every report (``report.json`` of the CLI's batches, the HTTP results' ``info``) carries,
per output, the CPU seconds spent on it and their price at ``PACKSHOT_CORE_HOUR_PRICE``
US dollars per core-hour (default :data:`DEFAULT_CORE_HOUR_PRICE`, about what a cloud
vCPU-hour costs on demand), beside the hosted price of the same operations, and the
batch's total. CPU seconds are this process's CPU time (all threads) while the output was
made, so an engine's threads count; work shared by a source's targets (its cutout) is
split evenly between them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from packshot.errors import InputError
from packshot.operations import BACKGROUND_REMOVAL, PRODUCT_ISOLATION

PRICE_ENV = "PACKSHOT_CORE_HOUR_PRICE"
DEFAULT_CORE_HOUR_PRICE = 0.05
# US dollars per call of the hosted APIs' same operations (named as in packshot.operations).
HOSTED_PRICES: Mapping[str, float] = {
    BACKGROUND_REMOVAL: 0.045,
    PRODUCT_ISOLATION: 0.27,
    "smart-resize": 0.55,
}


def core_hour_price() -> float:
    """``PACKSHOT_CORE_HOUR_PRICE`` (US dollars per core-hour), else the default."""
    raw = os.environ.get(PRICE_ENV, "").strip()
    if not raw:
        return DEFAULT_CORE_HOUR_PRICE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0.0:
        raise InputError(f"{PRICE_ENV} must be a non-negative number of dollars, not {raw!r}.")
    return value


def output_cost(cpu_s: float, operations: Sequence[str]) -> dict[str, Any]:
    """One output's compute and cost beside the hosted price of ``operations``."""
    unknown = [op for op in operations if op not in HOSTED_PRICES]
    if unknown:
        raise ValueError(f"no hosted price for {unknown}; known: {sorted(HOSTED_PRICES)}")
    price = core_hour_price()
    return {
        "cpu_s": round(cpu_s, 3),
        "core_hour_usd": price,
        "cost_usd": round(cpu_s / 3600.0 * price, 6),
        "operations": list(operations),
        "hosted_usd": round(sum(HOSTED_PRICES[op] for op in operations), 4),
    }


def batch_cost(costs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The total of :func:`output_cost` figures (missing ones, e.g. failed outputs, skipped)."""
    items = [c for c in costs if c]
    cpu = sum(float(c["cpu_s"]) for c in items)
    return {
        "outputs": len(items),
        "cpu_s": round(cpu, 3),
        "core_hour_usd": core_hour_price(),
        "cost_usd": round(sum(float(c["cost_usd"]) for c in items), 6),
        "hosted_usd": round(sum(float(c["hosted_usd"]) for c in items), 4),
    }
