"""The ``isolation_confidence`` check: an output made from an isolation the isolation
itself doubts is held, whatever its pixels look like.

The pixel checks judge how a product is shown, not whether it is the product the prompt
named: a spoon cut out cleanly for "the ostrich toy" passes every one of them. The
isolation's own calibrated confidence (:mod:`packshot.isolate.confidence`) and whether it
understood the prompt's noun are the only evidence of that, so an output made from an
isolation carries this check beside the others: below the threshold, or with the noun not
understood, it is held with the value in its reason. Box and point prompts are the
caller's own word (confidence 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, cast

from packshot.operations import PRODUCT_ISOLATION
from packshot.sentinel.result import CheckResult, GateResult

NAME = "isolation_confidence"


def isolation_info(step_infos: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The last isolation among a recipe's step infos: an isolate step's, or the one a
    recolor step ran to find the garment its prompt named (None without one)."""
    info: Mapping[str, Any]
    for info in reversed(step_infos):
        if info.get("step") == PRODUCT_ISOLATION:
            return info
        found = info.get("isolation")
        if info.get("step") == "recolor" and isinstance(found, Mapping):
            return cast(Mapping[str, Any], found)
    return None


def isolation_check(info: Mapping[str, Any], min_confidence: float) -> CheckResult:
    """The check on one isolation's info (``Isolation.info()``)."""
    value = info.get(NAME)
    if not isinstance(value, int | float):
        return CheckResult(NAME, None, min_confidence, False, False, "no isolation confidence")
    p = float(value)
    prompt = info.get("prompt", "")
    matched = info.get("matched", "")
    understood = bool(info.get("understood", True))
    if not understood:
        detail = (
            f"the prompt {prompt!r} names nothing packshot knows: {matched} was taken at "
            f"{p:.2f} probability of being right; a person should confirm it"
        )
        return CheckResult(NAME, p, min_confidence, False, False, detail)
    passed = p >= min_confidence
    detail = (
        f"{matched} for {prompt!r} is the prompted product with probability {p:.2f} "
        f"(calibrated; at least {min_confidence:g})"
    )
    return CheckResult(NAME, p, min_confidence, passed, False, detail)


def with_check(gate: GateResult, check: CheckResult) -> GateResult:
    """``gate`` with ``check`` added: a failed check holds a delivered or fixed output (no
    fix makes another object the prompted one)."""
    checks = (*gate.checks, check)
    if check.passed:
        return dataclasses.replace(gate, checks=checks)
    return GateResult("hold", (*gate.reasons, check.reason()), checks, gate.fixes)
