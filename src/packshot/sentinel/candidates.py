"""Over-generate and filter: rank several renderings of one output by their gate results.

Candidates differ in how they were made (model ensemble, matte refinement, framing). The
best one has the fewest failed checks, then the best quality margin: the sum, over the
checks where lower is better and that measure the cutout itself, of value / threshold (a
clean edge and a confident matte rank first). Each candidate's reason names its failed
checks with their values, and the check and both values that set it apart from the best
(or, for the best, from the runner-up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from packshot.sentinel.result import CheckResult, GateResult

QUALITY_CHECKS = ("mask_confidence", "edge_contamination", "edge_halo", "colour_fidelity")
"""Checks whose value (lower is better) ranks candidates that pass or fail alike."""


@dataclass(frozen=True)
class Candidate:
    """One rendering: a label saying how it was made, and its gate result."""

    label: str
    result: GateResult


@dataclass(frozen=True)
class Ranked:
    """A candidate's place: 1 is best; ``kept`` for the best ``keep``; ``why`` says why."""

    candidate: Candidate
    rank: int
    score: float
    failed: tuple[str, ...]
    kept: bool
    why: str

    def as_dict(self) -> dict[str, object]:
        return {
            "label": self.candidate.label,
            "rank": self.rank,
            "verdict": self.candidate.result.verdict,
            "failed": list(self.failed),
            "score": round(self.score, 4),
            "kept": self.kept,
            "why": self.why,
        }


def quality_score(result: GateResult) -> tuple[float, dict[str, float]]:
    """Sum of value / threshold over :data:`QUALITY_CHECKS` that were measured (lower is
    better), and each term."""
    terms: dict[str, float] = {}
    for check in result.checks:
        if check.name not in QUALITY_CHECKS:
            continue
        value, limit = check.value, check.threshold
        if isinstance(value, float) and isinstance(limit, float) and limit > 0:
            terms[check.name] = value / limit
    return sum(terms.values()), terms


def rank_candidates(candidates: Sequence[Candidate], keep: int) -> list[Ranked]:
    """Candidates best first, the first ``keep`` marked kept, each with its reason: its
    failed checks with their values, its quality terms, and what set it apart from its
    neighbour in the ranking (the check and both values that decided)."""
    scored = []
    for index, cand in enumerate(candidates):
        failed = tuple(c.name for c in cand.result.checks if not c.passed)
        score, terms = quality_score(cand.result)
        scored.append((len(failed), score, index, cand, failed, terms))
    scored.sort(key=lambda s: (s[0], s[1], s[2]))
    lowest: dict[str, float] = {}
    for *_, terms in scored:
        for name, term in terms.items():
            lowest[name] = min(term, lowest.get(name, term))
    ranked = []
    for rank, (_, score, _, cand, failed, terms) in enumerate(scored, start=1):
        kept = rank <= keep
        checks = {c.name: c for c in cand.result.checks}
        if failed:
            measured = ", ".join(_value(checks[n]) for n in failed)
            fails = f"{len(failed)} failed ({', '.join(failed)}), measured {measured}"
        else:
            fails = "all checks pass"
        parts = ", ".join(
            f"{name} {terms[name]:.2f}x limit" + (" (best)" if terms[name] <= lowest[name] else "")
            for name in sorted(terms)
        )
        verb = "kept" if kept else "dropped"
        why = f"{verb}, rank {rank} of {len(scored)}: {fails}; quality {score:.2f} ({parts})"
        if len(scored) > 1:
            # The first is compared with the runner-up, every other with the first.
            other = scored[1 if rank == 1 else 0]
            why += "; " + _versus(cand, other[3], ahead=rank == 1)
        ranked.append(Ranked(cand, rank, score, failed, kept, why))
    return ranked


def _value(check: CheckResult) -> str:
    """``name value (limit threshold)``."""
    return f"{check.name} {_fmt(check.value)} (limit {_fmt(check.threshold)})"


def _fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _versus(cand: Candidate, other: Candidate, *, ahead: bool) -> str:
    """What decided between ``cand`` and ``other``: fewer failed checks, else the quality
    check whose value / threshold differs most between them."""
    word = "ahead of" if ahead else "behind"
    mine = tuple(c.name for c in cand.result.checks if not c.passed)
    theirs = tuple(c.name for c in other.result.checks if not c.passed)
    if len(mine) != len(theirs):
        return f"{word} {other.label}: {len(mine)} failed checks against {len(theirs)}"
    _, a = quality_score(cand.result)
    _, b = quality_score(other.result)
    common = [n for n in a if n in b]
    if not common:
        return f"{word} {other.label}: no quality check measured on both"
    name = max(common, key=lambda n: abs(a[n] - b[n]))
    if abs(a[name] - b[name]) < 1e-9:
        return f"{word} {other.label}: equal quality, ranked by the order they were made"
    mine_c = next(c for c in cand.result.checks if c.name == name)
    theirs_c = next(c for c in other.result.checks if c.name == name)
    return f"{word} {other.label} on {_value(mine_c)} against {_fmt(theirs_c.value)}"
