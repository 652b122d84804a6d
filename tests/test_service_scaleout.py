"""Several API servers on one real PostgreSQL (a throw-away cluster started here): claims
with leases, takeover after a SIGKILL, webhooks sent once, graceful shutdown, readiness."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from packshot.errors import PackshotError
from packshot.service import claims
from packshot.service.store import Job, Store, WebhookEvent, now
from pgkit import Postgres, postgres_cluster
from servicekit import (
    WebhookReceiver,
    free_port,
    new_key,
    photo_bytes,
    running_server,
    serve_process,
    settings_for,
)

SECRET = "test-secret"


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(postgres: Postgres) -> str:
    return postgres.create_database(f"t_{secrets.token_hex(4)}")


def _queued_job(n: int, *, state: str = "queued", synchronous: bool = False) -> Job:
    t = now()
    return Job(
        id=f"job_{n:04d}_{secrets.token_hex(3)}",
        position=n,
        solution="background-removal",
        params="{}",
        state=state,
        synchronous=synchronous,
        runs=0,
        created_at=t,
        updated_at=t,
    )


def test_concurrent_claims_from_two_servers_take_each_job_once(pg_url: str) -> None:
    servers = [Store(pg_url), Store(pg_url)]
    try:
        with servers[0].session() as s:
            s.add_all(_queued_job(n) for n in range(60))
        taken: list[tuple[str, str]] = []
        lock = threading.Lock()

        def worker(store: Store) -> None:
            while (job_id := claims.claim_job(store, lease_s=30)) is not None:
                with lock:
                    taken.append((job_id, store.owner))

        threads = [threading.Thread(target=worker, args=(servers[n % 2],)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        counts = Counter(job_id for job_id, _ in taken)
        assert len(counts) == 60 and set(counts.values()) == {1}
        # Both servers got work (SKIP LOCKED hands them distinct rows, nobody waits).
        assert {owner for _, owner in taken} == {s.owner for s in servers}
        with servers[1].session() as s:
            rows = s.scalars(select(Job)).all()
            assert {r.runs for r in rows} == {1}
            assert all(r.state == "running" and r.lease_until for r in rows)
            assert {r.id: r.owner for r in rows} == dict(taken)
    finally:
        for store in servers:
            store.close()


def test_expired_lease_is_taken_over_and_a_renewed_one_is_not(pg_url: str) -> None:
    a, b = Store(pg_url), Store(pg_url)
    try:
        with a.session() as s:
            s.add_all([_queued_job(0), _queued_job(1)])
            s.add(_queued_job(2, state="running", synchronous=True))
        first = claims.claim_job(a, lease_s=0.6)
        second = claims.claim_job(a, lease_s=0.6)
        assert first and second
        assert claims.claim_job(b, lease_s=5) is None  # both held, the sync job never claimable
        for _ in range(4):  # 1.2 s, twice the lease: only ``first`` is renewed
            time.sleep(0.3)
            with a.session() as s:
                job = s.get(Job, first)
                assert job is not None
                job.lease_until = now() + 0.6
        taken = claims.claim_job(b, lease_s=5)
        assert taken == second  # its lease ran out; the renewed one stayed with a
        assert claims.claim_job(b, lease_s=5) is None
        with b.session() as s:
            job = s.get(Job, second)
            assert job is not None
            assert job.owner == b.owner and job.runs == 2
            assert not claims.holds_job(a, job) and claims.holds_job(b, job)
            # The synchronous job's lease (none was set) is expired: it is failed, not re-run.
            assert [j.position for j in claims.interrupted_sync(s)] == [2]
        claims.renew(a, lease_s=5)
        with a.session() as s:
            job = s.get(Job, first)
            assert job is not None and job.lease_until and job.lease_until > now() + 4
    finally:
        a.close()
        b.close()


def test_webhook_events_are_claimed_by_one_server_at_a_time(pg_url: str) -> None:
    a, b = Store(pg_url), Store(pg_url)
    try:
        with a.session() as s:
            for n in range(30):
                s.add(
                    WebhookEvent(
                        id=f"job_{n}:done",
                        job_id=f"job_{n}",
                        url="http://127.0.0.1:9/hook",
                        event="run.completed",
                        body="{}",
                        state="pending",
                        attempts=0,
                        next_at=now(),
                        created_at=now(),
                    )
                )
        got: dict[str, list[str]] = {}

        def take(store: Store) -> None:
            with store.session() as s:
                got[store.owner] = [e.id for e in claims.claim_events(s, store, 30, limit=20)]

        threads = [threading.Thread(target=take, args=(st,)) for st in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ids = got[a.owner] + got[b.owner]
        assert len(ids) == len(set(ids)) == 30  # disjoint, and all taken
        with a.session() as s:
            assert claims.claim_events(s, a, 30) == []  # nothing more until leases expire
    finally:
        a.close()
        b.close()


def test_a_database_from_before_leases_is_upgraded_in_place(pg_url: str) -> None:
    old = Store(pg_url)
    with old.engine.begin() as conn:  # the schema of the previous release
        conn.execute(text("ALTER TABLE jobs DROP COLUMN synchronous, DROP COLUMN owner"))
        conn.execute(text("ALTER TABLE jobs DROP COLUMN lease_until"))
        conn.execute(text("ALTER TABLE webhook_events DROP COLUMN owner, DROP COLUMN lease_until"))
        conn.execute(
            text(
                "INSERT INTO jobs (id, position, solution, params, state, runs, created_at, "
                "updated_at) VALUES ('job_old', 0, 'background-removal', '{}', 'queued', 0, 0, 0)"
            )
        )
    old.close()
    store = Store(pg_url.replace("postgresql+psycopg://", "postgresql://"))  # as users write it
    try:
        assert claims.claim_job(store, lease_s=5) == "job_old"
        with store.session() as s:
            job = s.get(Job, "job_old")
            assert job is not None and job.synchronous is False and job.owner == store.owner
    finally:
        store.close()


def test_unreachable_database_is_named_without_its_password(postgres: Postgres) -> None:
    url = f"postgresql://packshot:s3cret@/nowhere?host={postgres.root}&port={free_port()}"
    with pytest.raises(PackshotError) as err:
        Store(url)
    message = str(err.value)
    assert message.startswith("Cannot use the database postgresql+psycopg://packshot:***@/")
    assert "s3cret" not in message and "connection" in message


def test_readyz_reports_database_and_model(
    model_cache: Path, postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres.create_database(f"t_{secrets.token_hex(4)}")
    settings = settings_for(tmp_path / "data", database_url=url, auth=False)
    with running_server(settings) as base:
        r = httpx.get(f"{base}/readyz")
        assert r.status_code == 200, r.text
        assert r.json() == {
            "ready": True,
            "checks": {"database": "ok", "model": "ok", "server": "ok"},
        }
        postgres.stop()
        try:
            r = httpx.get(f"{base}/readyz", timeout=30)
        finally:
            postgres.start()
        assert r.status_code == 503
        assert r.json()["checks"]["database"].startswith("unreachable: OperationalError")
        assert httpx.get(f"{base}/healthz").status_code == 200  # alive, only not ready
        monkeypatch.setenv("PACKSHOT_MODELS_DIR", str(tmp_path / "no-models"))
        r = httpx.get(f"{base}/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["model"] == (
            "u2netp is not installed (packshot models install u2netp)"
        )
        assert r.json()["checks"]["database"] == "ok"  # reconnected after the restart


def _submit(client: httpx.Client, base: str, photo: bytes, hook: str) -> str:
    r = client.post(
        f"{base}/v1/run/background-removal",
        data={"async": "true", "callback_url": hook},
        files={"image_file": ("p.jpg", photo, "image/jpeg")},
    )
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _jobs(store: Store, ids: list[str]) -> dict[str, Job]:
    with store.session() as s:
        return {j.id: j for j in s.scalars(select(Job).where(Job.id.in_(ids)))}


@pytest.mark.slow
def test_two_servers_one_killed_mid_batch_every_job_once(
    model_cache: Path, postgres: Postgres, tmp_path: Path
) -> None:
    url = postgres.create_database(f"t_{secrets.token_hex(4)}")
    data_dir = tmp_path / "shared-data"  # inputs and results: a shared folder in production
    settings = settings_for(data_dir, database_url=url)
    key = new_key(settings)
    lease = 4.0
    env = {"PACKSHOT_MODELS_DIR": str(model_cache), "PACKSHOT_LEASE_SECONDS": str(lease)}
    receiver = WebhookReceiver(SECRET.encode())
    names = ["product", "animal", "car", "baby"]
    photos = [photo_bytes(names[n % 4], 320) for n in range(4)]
    store = Store(url)
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    procs: list[subprocess.Popen[bytes]] = []
    client = httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60)
    with receiver.serve() as hook:
        try:
            for n, port in enumerate(ports):
                args = ("--database-url", url)
                procs.append(serve_process(port, data_dir, tmp_path / f"s{n}.log", *args, env=env))
            owners = [client.get(f"{b}/healthz").json()["server"] for b in bases]
            t0 = time.monotonic()
            ids = [_submit(client, bases[n % 2], photos[n % 4], hook) for n in range(24)]
            # Kill the first server while it is running a job, a few jobs into the batch.
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                jobs = _jobs(store, ids)
                done = sum(j.state == "done" for j in jobs.values())
                victim_running = [
                    j.id for j in jobs.values() if j.state == "running" and j.owner == owners[0]
                ]
                if done >= 4 and victim_running:
                    break
                time.sleep(0.05)
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait(timeout=30)
            killed_at = time.monotonic()
            with store.session() as s:
                held_jobs = set(
                    s.scalars(select(Job.id).where(Job.owner == owners[0], Job.state == "running"))
                )
                held_events = set(
                    s.scalars(select(WebhookEvent.id).where(WebhookEvent.owner == owners[0]))
                )
            done_before = sum(j.state == "done" for j in _jobs(store, ids).values())
            per_job = (killed_at - t0) / max(done_before, 1) * 2  # one server's time per job
            remaining = 24 - done_before
            while time.monotonic() < killed_at + 600:
                jobs = _jobs(store, ids)
                if all(j.state in ("done", "failed") for j in jobs.values()):
                    break
                time.sleep(0.1)
            finished_in = time.monotonic() - killed_at
            expected_keys = {f"{i}:done" for i in ids}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and {d.key for d in receiver.accepted()} < (
                expected_keys
            ):
                time.sleep(0.1)
            time.sleep(1.5)  # a duplicate would arrive now
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=60)
            store.close()
            client.close()
    runs = {i: jobs[i].runs for i in ids}
    print(
        "run counts:",
        json.dumps(runs),
        f"held by the killed server: {sorted(held_jobs)}, events: {sorted(held_events)}",
        f"survivor finished {remaining} jobs in {finished_in:.1f} s "
        f"(lease {lease} s, {per_job:.2f} s per job before the kill)",
    )
    assert victim_running and held_jobs, "the kill did not catch the server mid-job"
    assert {j.state for j in jobs.values()} == {"done"}, Counter(j.state for j in jobs.values())
    assert all(runs[i] == 1 for i in ids if i not in held_jobs), runs
    assert all(1 <= runs[i] <= 2 for i in held_jobs), runs
    assert any(runs[i] == 2 for i in held_jobs)  # taken over, not lost
    # Every job finished by the survivor: its server wrote the final state.
    got = Counter(d.key for d in receiver.accepted())
    assert set(got) == expected_keys
    assert all(n == 1 or (n == 2 and k in held_events) for k, n in got.items()), got
    assert all(d.signature_ok for d in receiver.accepted())
    # Lease + the work left for one server, with room for a loaded machine.
    assert finished_in < lease + remaining * per_job * 1.5 + 15, (finished_in, per_job)


@pytest.mark.slow
def test_sigterm_finishes_or_releases_claimed_jobs(
    model_cache: Path, postgres: Postgres, tmp_path: Path
) -> None:
    url = postgres.create_database(f"t_{secrets.token_hex(4)}")
    data_dir = tmp_path / "data"
    key = new_key(settings_for(data_dir, database_url=url))
    env = {
        "PACKSHOT_MODELS_DIR": str(model_cache),
        "PACKSHOT_LEASE_SECONDS": "60",  # a release, not an expiry, must free the job
        "PACKSHOT_DRAIN_SECONDS": "0.1",
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ("--database-url", url, "--workers", "2")
    proc = serve_process(port, data_dir, tmp_path / "s.log", *args, env=env)
    store = Store(url)
    photo = photo_bytes("car", 900)
    try:
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            ids = []
            for _ in range(6):
                r = client.post(
                    f"{base}/v1/run/background-removal",
                    data={"async": "true"},
                    files={"image_file": ("p.jpg", photo, "image/jpeg")},
                )
                ids.append(r.json()["id"])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(j.state == "running" for j in _jobs(store, ids).values()):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down, then re-raises the signal: -SIGTERM is its normal exit.
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
        jobs = _jobs(store, ids)
        states = Counter(j.state for j in jobs.values())
        assert "running" not in states, states
        assert states["queued"] >= 4, states  # never started, or released unfinished
        # The job cut off by the 0.1 s drain went back to the queue (started once).
        assert any(j.state == "queued" and j.runs == 1 for j in jobs.values()), states
        assert all(j.owner is None and j.lease_until is None for j in jobs.values())
        # Another server takes the released jobs at once (no lease to wait out).
        proc = serve_process(port, data_dir, tmp_path / "s.log", *args, env=env)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            jobs = _jobs(store, ids)
            if all(j.state == "done" for j in jobs.values()):
                break
            time.sleep(0.2)
        assert {j.state for j in jobs.values()} == {"done"}
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
        store.close()


@pytest.mark.slow
def test_interrupted_synchronous_request_is_failed_not_rerun(
    model_cache: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    settings = settings_for(data_dir)
    key = new_key(settings)
    env = {"PACKSHOT_MODELS_DIR": str(model_cache)}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve_process(port, data_dir, tmp_path / "s.log", env=env)
    store = Store(settings.prepare().db_url)
    outcome: list[BaseException | httpx.Response] = []

    def request() -> None:
        try:
            outcome.append(
                httpx.post(
                    f"{base}/v1/run/background-removal",
                    headers={"Authorization": f"Bearer {key}"},
                    files={"image_file": ("p.jpg", photo_bytes("car", 1600), "image/jpeg")},
                    timeout=120,
                )
            )
        except httpx.TransportError as exc:
            outcome.append(exc)

    try:
        thread = threading.Thread(target=request)
        thread.start()
        deadline = time.monotonic() + 60
        running: list[Job] = []
        while time.monotonic() < deadline and not running:
            with store.session() as s:
                running = list(s.scalars(select(Job).where(Job.state == "running")))
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        thread.join(timeout=60)
        assert running and isinstance(outcome[0], httpx.TransportError)  # the client saw it
        proc = serve_process(port, data_dir, tmp_path / "s.log", env=env)
        time.sleep(1.5)  # a re-run would have been claimed by now
        with store.session() as s:
            job = s.get(Job, running[0].id)
            assert job is not None
            assert (job.state, job.error_code, job.runs) == ("failed", "interrupted", 1)
            assert job.error_message and "send the request again" in job.error_message
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
        store.close()
