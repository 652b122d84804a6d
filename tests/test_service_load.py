"""The loopback load test (benchmarks/service_load.py): 200 requests at concurrency 8, with
a slow webhook receiver in the run."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from packshot.models import registry
from pgkit import postgres_cluster

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "service_load.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("service_load", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_200_requests_at_concurrency_8_no_error_no_lost_job(
    model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(registry.MODELS_DIR_ENV, str(model_cache))
    module = _bench()
    # Two rounds of 100: the second shows whether memory keeps growing under load.
    figures = module.run(requests=100, concurrency=8, rounds=2, side=256)
    for r in figures["rounds"]:
        assert r["errors"] == 0 and r["lost_jobs"] == 0 and r["webhooks_missing"] == 0, r
        assert r["async_jobs"] == 50
    # A leak would keep growing in the second round; allocator noise stays well below this.
    assert figures["rss_growth_last_round_mb"] < 100, figures


@pytest.mark.slow
def test_two_servers_on_one_postgresql_share_the_load(
    model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(registry.MODELS_DIR_ENV, str(model_cache))
    with postgres_cluster() as cluster:
        url = cluster.create_database("load")
        figures = _bench().run(
            requests=16,
            concurrency=4,
            rounds=1,
            side=256,
            slow_hook_s=0.5,
            servers=2,
            database_url=url,
        )
    assert figures["servers"] == 2
    [r] = figures["rounds"]
    assert r["errors"] == 0 and r["lost_jobs"] == 0 and r["webhooks_missing"] == 0, r
    assert r["async_jobs"] == 8
