"""Load test of the HTTP service on loopback: N requests at concurrency C, memory watched.

    python benchmarks/service_load.py [--requests 200] [--concurrency 8] [--rounds 2]
                                      [--model u2netp] [--side 320] [--slow-hook 1.0]
                                      [--servers 1] [--database-url URL]

Starts ``packshot serve`` in a subprocess on a free loopback port with a fresh data folder
and key (``--servers N``: N servers on one database and data folder, requests spread over
them in turn as a load balancer would; ``--servers 1,2`` measures each count in turn; with
more than one server and no ``--database-url``, a throw-away PostgreSQL cluster is started
with ``tests/pgkit.py`` and every count in the run uses it), then sends ``--requests``
requests per round from ``--concurrency`` threads: half synchronous
``background-removal`` uploads (answered with the PNG), half asynchronous (``async: true``,
202 + job id) whose jobs are then polled until they finish. A round
passes when every request got its expected status and every queued job ended ``done`` (no
error, no lost job). The server's resident set size (``VmRSS``) is printed after a warm-up
and after each round: a leak shows as growth from one round to the next.

Half of the asynchronous jobs send their webhook to a slow receiver (it takes
``--slow-hook`` seconds to answer each one), the other half to a prompt one: a round also
needs every webhook delivered, and its figures show how long the prompt receiver waited
after its job finished (``hook_lag``), which a slow receiver must not stretch.
Prints requests/s, latency percentiles, webhook lag and RSS; exits 1 on any error, lost
job or missing webhook.
"""

from __future__ import annotations

import argparse
import http.server
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from packshot.samples import sample_path


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def photo_bytes(side: int) -> bytes:
    with Image.open(sample_path("sample-product")) as im:
        im = im.convert("RGB")
        im.thumbnail((side, side))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90)
        return buf.getvalue()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Hooks:
    """A webhook receiver on loopback that answers after ``delay_s``; records arrivals."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()

    @contextmanager
    def serve(self) -> Iterator[str]:
        hooks = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                job = self.headers.get("Idempotency-Key", "").split(":")[0]
                with hooks.lock:
                    hooks.arrived.setdefault(job, time.time())
                time.sleep(hooks.delay_s)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/hook"
        finally:
            server.shutdown()
            server.server_close()

    def wait(self, jobs: list[str], timeout: float) -> list[str]:
        """The jobs whose webhook has not arrived within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                missing = [j for j in jobs if j not in self.arrived]
            if not missing or time.monotonic() > deadline:
                return missing
            time.sleep(0.1)


def create_key(data: Path, env: dict[str, str], *options: str) -> str:
    """A new API key in the data folder ``data`` (``packshot keys create``); ``options``
    such as ``--database-url URL``."""
    made = _cli("keys", "create", "bench", "--data-dir", str(data), *options, env=env)
    return made.strip().splitlines()[-1]


def start_server(
    data: Path, env: dict[str, str], *options: str
) -> tuple[subprocess.Popen[bytes], str]:
    """``packshot serve`` on a free loopback port, answering; returns it and its base URL."""
    port = _port()
    base = f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-m", "packshot.cli", "serve"]
    server = subprocess.Popen(
        [*cli, "--port", str(port), "--data-dir", str(data), *options],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(data / f"server-{port}.log").open("wb"),
    )
    deadline = time.monotonic() + 180  # a loaded machine imports slowly
    while True:
        try:
            httpx.get(f"{base}/healthz")
            return server, base
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                log = data / f"server-{port}.log"
                raise RuntimeError(f"server did not start; see {log}") from None
            time.sleep(0.2)


def _cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "packshot.cli", *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout


def run(
    requests: int = 200,
    concurrency: int = 8,
    rounds: int = 2,
    model: str = "u2netp",
    side: int = 320,
    slow_hook_s: float = 5.0,
    servers: int = 1,
    database_url: str = "",
) -> dict[str, Any]:
    """Run the load test on ``servers`` servers sharing ``database_url`` (default: one
    server on SQLite in the data folder); returns the figures (also printed)."""
    slow, prompt = Hooks(slow_hook_s), Hooks(0.0)
    with slow.serve() as slow_url, prompt.serve() as prompt_url:
        return _run(
            requests,
            concurrency,
            rounds,
            model,
            side,
            (slow, slow_url),
            (prompt, prompt_url),
            servers,
            database_url,
        )


def _run(
    requests: int,
    concurrency: int,
    rounds: int,
    model: str,
    side: int,
    slow: tuple[Hooks, str],
    prompt: tuple[Hooks, str],
    servers: int,
    database_url: str,
) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="packshot-load-"))
    env = {
        **os.environ,
        "PACKSHOT_RATE_PER_MINUTE": str(requests * rounds * 10),
        # The webhook receivers are on loopback.
        "PACKSHOT_ALLOW_PRIVATE_URLS": "1",
    }
    db = ["--database-url", database_url] if database_url else []
    key = create_key(data, env, *db)
    procs: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    figures: dict[str, Any] = {
        "requests": requests,
        "concurrency": concurrency,
        "servers": servers,
        "rounds": [],
    }
    try:
        for _ in range(servers):
            proc, base = start_server(data, env, "--model", model, "--workers", "2", *db)
            procs.append(proc)
            bases.append(base)
        photo = photo_bytes(side)
        client = httpx.Client(
            headers={"Authorization": f"Bearer {key}"},
            timeout=300,
            limits=httpx.Limits(max_connections=concurrency),
        )

        def one(n: int) -> tuple[int, float, str | None, bool]:
            asynchronous = n % 2 == 1
            hook = slow[1] if n % 4 == 1 else prompt[1]
            base = bases[(n // 2) % servers]  # round-robin over sync/async pairs
            t0 = time.perf_counter()
            r = client.post(
                f"{base}/v1/run/background-removal",
                data={"async": "true", "callback_url": hook} if asynchronous else {},
                files={"image_file": ("p.jpg", photo)},
            )
            seconds = time.perf_counter() - t0
            expected = 202 if asynchronous else 200
            ok = r.status_code == expected and (
                asynchronous or r.headers.get("content-type") == "image/png"
            )
            job = r.json()["id"] if asynchronous and ok else None
            return r.status_code, seconds, job, ok

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(concurrency)))  # warm-up: models loaded, pools filled
        figures["rss_warm_mb"] = round(sum(_rss_mb(p.pid) for p in procs), 1)
        print(f"server RSS after warm-up: {figures['rss_warm_mb']:.1f} MB")
        for round_no in range(1, rounds + 1):
            t0 = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                results = list(pool.map(one, range(requests)))
            jobs = [job for _, _, job, _ in results if job]
            states: dict[str, int] = {}
            finished_at: dict[str, float] = {}
            for job in jobs:
                while True:
                    view = client.get(f"{bases[0]}/v1/jobs/{job}").json()
                    if view["state"] in ("done", "failed"):
                        break
                    time.sleep(0.1)
                states[view["state"]] = states.get(view["state"], 0) + 1
                finished_at[job] = view["updated_at"]
            wall = time.perf_counter() - t0
            # Slow-receiver events are delivered one after another, by design.
            slow_jobs = [j for n, (*_, j, _) in enumerate(results) if j and n % 4 == 1]
            prompt_jobs = [j for j in jobs if j not in set(slow_jobs)]
            missing = prompt[0].wait(prompt_jobs, 60)
            missing += slow[0].wait(slow_jobs, 60 + len(slow_jobs) * slow[0].delay_s)
            lags = sorted(
                prompt[0].arrived[j] - finished_at[j] for j in prompt_jobs if j in prompt[0].arrived
            )
            latencies = sorted(s for _, s, _, _ in results)
            errors = sum(not ok for *_, ok in results)
            lost = len(jobs) - states.get("done", 0)
            rss = sum(_rss_mb(p.pid) for p in procs)
            stats = {
                "round": round_no,
                "errors": errors,
                "async_jobs": len(jobs),
                "lost_jobs": lost,
                "wall_s": round(wall, 2),
                "requests_per_s": round(requests / wall, 2),
                "p50_s": round(statistics.median(latencies), 3),
                "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
                "rss_mb": round(rss, 1),
                "statuses": sorted({code for code, *_ in results}),
                "webhooks_missing": len(missing),
                "hook_lag_p50_s": round(statistics.median(lags), 3) if lags else None,
                "hook_lag_max_s": round(lags[-1], 3) if lags else None,
            }
            figures["rounds"].append(stats)
            print(
                f"{servers} server(s), round {round_no}: {requests} requests at "
                f"concurrency {concurrency}: "
                f"{errors} errors, {len(jobs)} async jobs, {lost} lost; {wall:.1f} s "
                f"({requests / wall:.2f} req/s), latency p50 {stats['p50_s']:.2f} s "
                f"p95 {stats['p95_s']:.2f} s; server RSS {rss:.1f} MB; webhooks: "
                f"{len(missing)} missing, prompt receiver lag p50 {stats['hook_lag_p50_s']} s "
                f"max {stats['hook_lag_max_s']} s (slow receiver: {slow[0].delay_s} s a call)"
            )
        client.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
    rss = [figures["rss_warm_mb"]] + [r["rss_mb"] for r in figures["rounds"]]
    figures["rss_growth_last_round_mb"] = round(rss[-1] - rss[-2], 1)
    print(
        f"RSS before/after: {rss[0]:.1f} MB -> {rss[-1]:.1f} MB "
        f"(last round {figures['rss_growth_last_round_mb']:+.1f} MB)"
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="u2netp")
    parser.add_argument("--side", type=int, default=320)
    parser.add_argument(
        "--slow-hook", type=float, default=5.0, help="seconds the slow webhook receiver takes"
    )
    parser.add_argument(
        "--servers", default="1", help="server count, or counts to compare (e.g. 1,2)"
    )
    parser.add_argument("--database-url", default="", help="database URL the servers share")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    try:
        counts = [int(n) for n in args.servers.split(",")]
    except ValueError:
        parser.error(f"--servers: {args.servers!r} is not a count or a list like 1,2")
    if min(counts) < 1:
        parser.error("--servers: every count must be at least 1")
    runs = []
    with ExitStack() as stack:
        cluster = None
        if not args.database_url and max(counts) > 1:
            # SQLite serves one server per database: several need PostgreSQL.
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from pgkit import postgres_cluster

            cluster = stack.enter_context(postgres_cluster())
        for n, servers in enumerate(counts):
            url = args.database_url or (cluster.create_database(f"load{n}") if cluster else "")
            sizes = (args.requests, args.concurrency, args.rounds)
            runs.append(run(*sizes, args.model, args.side, args.slow_hook, servers, url))
    for figures in runs:
        best = max(r["requests_per_s"] for r in figures["rounds"])
        print(f"{figures['servers']} server(s): best round {best:.2f} req/s")
    if args.json:
        args.json.write_text(json.dumps(runs if len(runs) > 1 else runs[0], indent=2))
    bad = any(
        r["errors"] or r["lost_jobs"] or r["webhooks_missing"] for f in runs for r in f["rounds"]
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
