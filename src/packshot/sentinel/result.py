"""What the gate says: one measured result per check, and the verdict over all of them.

The JSON shape (``GateResult.as_dict``) is what reports, the HTTP API and the review page
consume::

    {"verdict": "deliver" | "fixed" | "hold", "reasons": [str],
     "checks": [{"name", "value", "threshold", "passed", "fixable", "detail"}]}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["deliver", "fixed", "hold"]
Value = float | str | None


@dataclass(frozen=True)
class CheckResult:
    """One check's measurement.

    Attributes:
        name: the check's name (the same in presets, CLI, reports).
        value: what was measured (a number in the unit ``detail`` states, a format name),
            or None when the check could not apply (``detail`` says why).
        threshold: the limit ``value`` was compared with, or None.
        passed: the output meets the rule.
        fixable: an automatic fix exists for a failure of this check.
        detail: one sentence with the numbers behind the verdict.
    """

    name: str
    value: Value
    threshold: Value
    passed: bool
    fixable: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _json_value(self.value),
            "threshold": _json_value(self.threshold),
            "passed": self.passed,
            "fixable": self.fixable,
            "detail": self.detail,
        }

    def reason(self) -> str:
        """The failure as a reason line: ``name: detail``."""
        return f"{self.name}: {self.detail}"


@dataclass(frozen=True)
class GateResult:
    """The verdict on one output, the reasons for it and every check behind it."""

    verdict: Verdict
    reasons: tuple[str, ...]
    checks: tuple[CheckResult, ...]
    fixes: tuple[str, ...] = field(default=())
    """Names of the fixes applied, in order (also said in ``reasons``)."""

    @property
    def delivered(self) -> bool:
        return self.verdict != "hold"

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "checks": [c.as_dict() for c in self.checks],
        }


def _json_value(value: Value) -> Value:
    # JSON has no NaN or infinity; a measurement that produced one is "not measured".
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, float):
        return round(value, 6)
    return value
