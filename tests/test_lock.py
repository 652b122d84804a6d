"""The locks agree with pyproject.toml: every range is met by the pinned version, every
direct dependency is pinned with hashes and bounded above, and nothing is left over."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {
    # lock file: the extras it covers
    "requirements.lock": (),
    "requirements-dev.lock": ("dev",),
    "requirements-bench.lock": ("bench",),
}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


@dataclass
class Pin:
    name: str
    version: Version
    marker: str | None
    hashes: int = 0
    via: list[str] = field(default_factory=list)


def parse_lock(text: str) -> list[Pin]:
    pins: list[Pin] = []
    in_via = False
    for raw in text.splitlines():
        line = raw.strip()
        match = _PIN.match(raw)
        if match:
            name, version, marker = match.groups()
            pins.append(Pin(canonicalize_name(name), Version(version), marker))
            in_via = False
        elif line.startswith("--hash=sha256:") and pins:
            pins[-1].hashes += 1
        elif line.startswith("# via") and pins:
            rest = line[len("# via") :].strip()
            in_via = not rest
            if rest:
                pins[-1].via.append(rest)
        elif in_via and line.startswith("#   ") and pins:
            pins[-1].via.append(line[4:].strip())
        elif line and not line.startswith("#"):
            raise ValueError(f"unparsed lock line: {raw!r}")
    return pins


def requirements(project: dict[str, Any], extras: tuple[str, ...]) -> list[Requirement]:
    reqs = [Requirement(r) for r in project["project"]["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in project["project"]["optional-dependencies"][extra]]
    return reqs


def lock_problems(project: dict[str, Any], lock_text: str, extras: tuple[str, ...]) -> list[str]:
    """Every way ``lock_text`` disagrees with ``project`` (a parsed pyproject.toml)."""
    pins = parse_lock(lock_text)
    problems = [f"{p.name}=={p.version} has no hash" for p in pins if p.hashes == 0]
    by_name: dict[str, list[Pin]] = {}
    for pin in pins:
        by_name.setdefault(pin.name, []).append(pin)
    build = [Requirement(r) for r in project["build-system"]["requires"]]
    wanted = requirements(project, extras)
    for req in [*wanted, *build]:
        name = canonicalize_name(req.name)
        found = by_name.get(name)
        if not found:
            problems.append(f"{req} is not in the lock")
            continue
        for pin in found:
            if not req.specifier.contains(pin.version, prereleases=True):
                problems.append(f"{req} is locked at {pin.version}")
    direct = {canonicalize_name(r.name) for r in wanted}
    for pin in pins:
        if "packshot (pyproject.toml)" in pin.via and pin.name not in direct:
            problems.append(f"{pin.name} is locked as a dependency pyproject.toml no longer has")
    return problems


def _project() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_locks_agree_with_pyproject() -> None:
    project = _project()
    for lock, extras in LOCKS.items():
        assert lock_problems(project, (ROOT / lock).read_text(), extras) == [], lock


def test_a_changed_range_or_dependency_is_caught() -> None:
    project = _project()
    text = (ROOT / "requirements.lock").read_text()
    deps = project["project"]["dependencies"]
    numpy = next(i for i, d in enumerate(deps) if d.startswith("numpy"))
    deps[numpy] = "numpy>=9"
    deps.append("left-pad>=1,<2")
    problems = lock_problems(project, text, ())
    assert any(p.startswith("numpy>=9 is locked at") for p in problems)
    assert "left-pad<2,>=1 is not in the lock" in problems
    deps.pop()
    deps.pop(numpy)  # removed from pyproject, still locked as its dependency
    assert "numpy is locked as a dependency pyproject.toml no longer has" in lock_problems(
        project, text, ()
    )


def test_the_product_and_dev_locks_pin_the_same_versions() -> None:
    def versions(lock: str) -> dict[tuple[str, str | None], Version]:
        text = (ROOT / lock).read_text()
        return {(p.name, p.marker): p.version for p in parse_lock(text)}

    dev = versions("requirements-dev.lock")
    for lock in ("requirements.lock", "requirements-bench.lock"):
        for key, version in versions(lock).items():
            if key in dev:
                assert dev[key] == version, (lock, key)


def test_every_direct_dependency_is_bounded_above() -> None:
    """A plain ``pip install packshot`` (no lock) must not take a next major release."""
    project = _project()
    reqs = [Requirement(r) for r in project["project"]["dependencies"]]
    for extra in project["project"]["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    reqs += [Requirement(r) for r in project["build-system"]["requires"]]
    unbounded = [
        str(r) for r in reqs if not any(s.operator in ("<", "<=", "==") for s in r.specifier)
    ]
    assert unbounded == []
