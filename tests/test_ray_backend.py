"""The listing batch on a real local Ray cluster: same bytes as the local pool, survives a
killed worker, resumes from the same manifest, and the CLI joins a running cluster.

The cluster is started once for the module (2 CPUs, loopback only, no dashboard, no usage
stats) and shut down at its end; every test uses the real small model on real photos.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import TEST_MODEL
from packshot.models import registry
from packshot.pipeline import storage
from packshot.pipeline.backends import RayBackend
from packshot.pipeline.listing import run_listing
from packshot.pipeline.manifest import MANIFEST_NAME, Manifest, TargetRecord
from packshot.pipeline.sources import Source
from packshot.presets import parse_preset_names
from packshot.samples import sample_names, sample_path
from test_backends import assert_bounded_in_flight

# Read by Ray when it is imported: a cluster started here binds loopback, not the LAN IP.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("real_models")]

# A white target (cutout placed on white) and a background-keeping one (extend + resize).
MARKETS = "ebay,instagram-feed"


@pytest.fixture(scope="module")
def ray_cluster(model_cache: Path) -> Iterator[str]:
    """A real single-node Ray cluster on loopback; yields its address for other drivers."""
    with pytest.MonkeyPatch.context() as mp:
        # Set before the cluster starts so its raylet and every worker inherit them.
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        mp.setenv(registry.MODELS_DIR_ENV, str(model_cache))
        ray.init("local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            address = ray.get_runtime_context().gcs_address
            assert address.startswith("127."), address
            yield address
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def photos() -> list[Path]:
    """The registry's real sample photos (products, a car, people, animals...)."""
    return [sample_path(name) for name in sample_names()]


@dataclass(frozen=True)
class Reference:
    """What the local back-end made: each target's outcome and each output's bytes."""

    outcomes: dict[tuple[str, str], tuple[str, str | None]]
    files: dict[str, bytes]


def _outcomes(records: list[TargetRecord]) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(r.sku, r.target): (r.state, r.error) for r in records}


@pytest.fixture(scope="module")
def local(
    tmp_path_factory: pytest.TempPathFactory, photos: list[Path], model_cache: Path
) -> Reference:
    """The local process-pool back-end's outputs: the reference every Ray run must match.

    Some sample photos cannot be reframed for the background-keeping target (the product
    touches both sides); those fail alone, the same way on every back-end.
    """
    out = tmp_path_factory.mktemp("local")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(registry.MODELS_DIR_ENV, str(model_cache))
        records = run_listing(photos, parse_preset_names(MARKETS), out, model=TEST_MODEL, workers=2)
    written = sum(r.ok or r.held for r in records)  # held: written, kept for review
    assert len(records) == len(photos) * 2 and written >= len(photos)
    return Reference(_outcomes(records), _outputs(out))


def _outputs(out: Path) -> dict[str, bytes]:
    """Every output file under ``out`` by relative path (manifest, reports, thumbnails aside)."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.parent != out and not p.relative_to(out).parts[0].startswith("_")
    }


def test_ray_outputs_are_byte_identical_to_local(
    ray_cluster: str, tmp_path: Path, photos: list[Path], local: Reference
) -> None:
    out = tmp_path / "ray"
    with RayBackend(workers=2) as backend:
        records = run_listing(
            photos, parse_preset_names(MARKETS), out, model=TEST_MODEL, backend=backend
        )
    assert _outcomes(records) == local.outcomes
    ray_outputs = _outputs(out)
    assert sorted(ray_outputs) == sorted(local.files)
    different = [name for name, data in ray_outputs.items() if data != local.files[name]]
    assert different == []


def test_killed_worker_mid_batch_still_writes_every_item_once(
    ray_cluster: str, tmp_path: Path, photos: list[Path], local: Reference
) -> None:
    out = tmp_path / "ray"
    presets = parse_preset_names(MARKETS)
    killed: list[int] = []
    seen: list[str] = []
    with RayBackend(workers=2, max_retries=3) as backend:
        before = backend.worker_pids()  # starts the actors; asked now, they are idle

        def on_source(src: Source, records: list[TargetRecord]) -> None:
            seen.append(src.sku)
            if not killed:  # mid-batch: the first item is in, the others are in flight
                os.kill(before[0], signal.SIGKILL)
                killed.append(before[0])

        records = run_listing(
            photos, presets, out, model=TEST_MODEL, backend=backend, on_source=on_source
        )
        after = backend.worker_pids()
    assert killed and len(seen) == len(photos)
    assert before[0] not in after and len(after) == 2  # Ray restarted the killed actor
    assert sorted(seen) == sorted(f.stem for f in photos)
    # Every (SKU, target) once in the manifest, done, its file in place and identical.
    assert len(records) == len(photos) * len(presets)
    assert _outcomes(records) == local.outcomes
    assert len({(r.sku, r.target) for r in records}) == len(records)
    assert _outputs(out) == local.files
    assert not [p for p in out.rglob(".*.tmp")], "a half-written temporary file was left"

    # A re-run (the driver crashed and was restarted) finds everything done: nothing is
    # processed again but the targets that failed, and no written file is touched.
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    again: list[list[TargetRecord]] = []
    with RayBackend(workers=2) as backend:
        rerun = run_listing(
            photos,
            presets,
            out,
            model=TEST_MODEL,
            backend=backend,
            on_source=lambda _src, recs: again.append(list(recs)),
        )
    failed = {key for key, (state, _) in local.outcomes.items() if state == "failed"}
    assert sorted((r.sku, r.target) for recs in again for r in recs) == sorted(failed)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")} == mtimes
    assert [(r.sku, r.target, r.output) for r in rerun] == [
        (r.sku, r.target, r.output) for r in records
    ]
    manifest = Manifest(out)
    try:
        assert len(manifest.records()) == len(records)
    finally:
        manifest.close()


def test_cli_joins_a_running_cluster_by_address(
    ray_cluster: str, tmp_path: Path, photos: list[Path], local: Reference
) -> None:
    out = tmp_path / "cli"
    skus = {p.stem for p in photos[:3]}
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "packshot.cli",
            "listing",
            *map(str, photos[:3]),
            "--market",
            MARKETS,
            "--model",
            TEST_MODEL,
            "--out",
            str(out),
            "--backend",
            "ray",
            "--ray-address",
            ray_cluster,
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    expected_failures = any(
        state == "failed" for (sku, _), (state, _) in local.outcomes.items() if sku in skus
    )
    assert result.returncode == int(expected_failures), result.stderr
    assert (out / MANIFEST_NAME).is_file() and (out / "report.html").is_file()
    assert _outputs(out) == {k: v for k, v in local.files.items() if k.split("/")[0] in skus}


def test_ray_keeps_work_in_flight_bounded_and_reports_errors(
    ray_cluster: str, tmp_path: Path
) -> None:
    with RayBackend(workers=2, in_flight=4) as backend:
        assert_bounded_in_flight(backend, tmp_path / "touch", 4)
        items = [tmp_path / "touch" / "0000", tmp_path / "missing"]
        results = dict(backend.map(os.remove, items))
    assert results[items[0]].ok and not items[0].exists()
    bad = results[items[1]]
    assert not bad.ok and "task failed" in (bad.error or "") and "missing" in (bad.error or "")


def test_ray_batch_on_storage_urls(
    ray_cluster: str,
    tmp_path: Path,
    photos: list[Path],
    local: Reference,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("fsspec")
    monkeypatch.setenv(storage.STATE_DIR_ENV, str(tmp_path / "state"))
    out_url = (tmp_path / "bucket").as_uri()
    with RayBackend(workers=2) as backend:
        records = run_listing(
            [p.as_uri() for p in photos[:2]],
            parse_preset_names(MARKETS),
            out_url,
            model=TEST_MODEL,
            backend=backend,
        )
    skus = {p.stem for p in photos[:2]}
    assert _outcomes(records) == {k: v for k, v in local.outcomes.items() if k[0] in skus}
    assert all(r.output.startswith(out_url) for r in records if r.output)
    assert _outputs(tmp_path / "bucket") == {
        k: v for k, v in local.files.items() if k.split("/")[0] in skus
    }


def test_http_service_hands_jobs_to_the_cluster(ray_cluster: str, tmp_path: Path) -> None:
    """PACKSHOT_BATCH_BACKEND=ray: the API server's jobs run on Ray actors; errors keep
    their code and status."""
    import base64

    import httpx

    from servicekit import decode, new_key, photo_bytes, running_server, settings_for

    settings = settings_for(tmp_path, batch_backend="ray", ray_address=ray_cluster)
    key = new_key(settings)
    photo = base64.b64encode(photo_bytes("product")).decode()
    with (
        running_server(settings) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=300) as c,
    ):
        r = c.post("/v1/run/background-removal", json={"image_base64": photo})
        assert r.status_code == 200, r.text
        assert decode(r.content).mode == "RGBA"
        # The job thread's actor holds a CPU of the cluster while the server runs.
        assert ray.available_resources().get("CPU", 0) < ray.cluster_resources()["CPU"]
        r = c.post(
            "/v1/run/product-isolation", json={"image_base64": photo, "prompt": "the bicycle"}
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "no_match"
