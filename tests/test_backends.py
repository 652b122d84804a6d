"""The local back-end's contract (the Ray one is held to the same in test_ray_backend.py):
every item once, bounded work in flight, a dead worker's items retried, errors reported.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from packshot.errors import InputError
from packshot.pipeline.backends import (
    BACKEND_ENV,
    RAY_ADDRESS_ENV,
    Backend,
    LocalBackend,
    RayBackend,
    get_backend,
)


def _die_once(marker: Path) -> int:
    """Kills its worker process the first time it sees ``marker``; later returns the pid."""
    if not marker.exists():
        marker.touch()
        os._exit(1)  # as abrupt as the kernel's OOM killer
    return os.getpid()


def test_get_backend_by_name_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    assert isinstance(get_backend(), LocalBackend)
    local = get_backend("local", workers=3)
    assert isinstance(local, LocalBackend) and local.workers == 3
    assert get_backend(local) is local
    monkeypatch.setenv(BACKEND_ENV, "ray")
    monkeypatch.setenv(RAY_ADDRESS_ENV, "10.0.0.5:6379")
    ray = get_backend(None)
    assert isinstance(ray, RayBackend) and ray.address == "10.0.0.5:6379"
    assert isinstance(get_backend("RAY", address="auto"), RayBackend)
    with pytest.raises(InputError, match="unknown batch back-end 'spark'; use one of local, ray"):
        get_backend("spark")
    monkeypatch.setenv(BACKEND_ENV, "dask")
    with pytest.raises(InputError, match=f"^{BACKEND_ENV}: unknown batch back-end 'dask'"):
        get_backend(None)


def assert_bounded_in_flight(backend: Backend, tmp_path: Path, in_flight: int) -> None:
    """While the consumer holds off, no more than ``in_flight`` items are started."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    items = [tmp_path / f"{i:04d}" for i in range(200)]
    results = backend.map(Path.touch, items)
    first, finished = next(results)
    assert finished.ok and first.exists()
    time.sleep(1.0)  # plenty for the workers to start anything they were given
    started = len(list(tmp_path.iterdir()))
    assert started <= in_flight + 1, started
    rest = list(results)
    assert sorted([first, *(item for item, _ in rest)]) == items
    assert all(f.ok for _, f in rest)


def test_local_pool_keeps_work_in_flight_bounded(tmp_path: Path) -> None:
    assert_bounded_in_flight(LocalBackend(2, in_flight=4), tmp_path, 4)


def test_local_pool_retries_the_items_of_a_dead_worker(tmp_path: Path) -> None:
    markers = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    # A dead worker breaks the whole pool: the items beside it are retried too, so each
    # item may pay one attempt per death (three at most here).
    results = dict(LocalBackend(2, max_retries=3).map(_die_once, markers))
    assert sorted(results) == markers
    assert all(f.ok and isinstance(f.value, int) for f in results.values())
    assert max(f.attempts for f in results.values()) >= 2


def test_local_pool_gives_up_after_max_retries(tmp_path: Path) -> None:
    # Two items so the pool runs them (a single item runs in this very process).
    results = list(LocalBackend(2, max_retries=0).map(_die_once, [tmp_path / "a", tmp_path / "b"]))
    assert len(results) == 2
    assert all(not f.ok and "worker failed" in (f.error or "") for _, f in results)


def test_an_error_in_the_function_is_the_items_alone(tmp_path: Path) -> None:
    (tmp_path / "here").touch()
    items = [tmp_path / "here", tmp_path / "missing"]
    for backend in (LocalBackend(1), LocalBackend(2)):
        results = dict(backend.map(os.remove, items))
        assert results[tmp_path / "here"].ok
        bad = results[tmp_path / "missing"]
        assert not bad.ok and "task failed" in (bad.error or "") and bad.attempts == 1
        (tmp_path / "here").touch()


def test_cli_names_an_unknown_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from packshot.cli import app

    monkeypatch.delenv(BACKEND_ENV, raising=False)
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"not read: the back-end is checked first")
    args = ["listing", str(photo), "--market", "ebay", "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, [*args, "--backend", "spark"])
    assert result.exit_code == 2, result.output
    assert "unknown batch back-end 'spark'; use one of local, ray" in result.output
    result = CliRunner().invoke(app, args, env={BACKEND_ENV: "dask"})
    assert result.exit_code == 2 and "'dask'" in result.output
    assert not (tmp_path / "out").exists()
