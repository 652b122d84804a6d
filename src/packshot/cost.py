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

import math
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


def core_hour_price(value: str | None = None) -> float:
    """The price per core-hour in US dollars: ``value``, else ``$PACKSHOT_CORE_HOUR_PRICE``,
    else the default; a bad figure is an :class:`InputError` naming where it came from."""
    where = "price per core-hour"
    if value is None:
        value = os.environ.get(PRICE_ENV, "").strip() or None
        where = PRICE_ENV
    if value is None:
        return DEFAULT_CORE_HOUR_PRICE
    try:
        price = float(value)
    except ValueError:
        price = math.nan
    if not math.isfinite(price) or price < 0:
        raise InputError(
            f"{where} must be a non-negative number of dollars (e.g. 0.05), not {value!r}."
        )
    return price


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
