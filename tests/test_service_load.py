"""The loopback load test (benchmarks/service_load.py): 200 requests at concurrency 8, with
a slow webhook receiver in the run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from packshot.models import registry

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "service_load.py"


@pytest.mark.slow
def test_200_requests_at_concurrency_8_no_error_no_lost_job(
    model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(registry.MODELS_DIR_ENV, str(model_cache))
    spec = importlib.util.spec_from_file_location("service_load", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Two rounds of 100: the second shows whether memory keeps growing under load.
    figures = module.run(requests=100, concurrency=8, rounds=2, side=256)
    for r in figures["rounds"]:
        assert r["errors"] == 0 and r["lost_jobs"] == 0 and r["webhooks_missing"] == 0, r
        assert r["async_jobs"] == 50
    # A leak would keep growing in the second round; allocator noise stays well below this.
    assert figures["rss_growth_last_round_mb"] < 100, figures
