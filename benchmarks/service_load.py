"""Load test of the HTTP service on loopback: N requests at concurrency C, memory watched.

    python benchmarks/service_load.py [--requests 200] [--concurrency 8] [--rounds 2]
                                      [--model u2netp] [--side 320]
                                      [--servers 1] [--database-url URL]

Starts ``packshot serve`` in a subprocess on a free loopback port with a fresh data folder
and key (``--servers N``: N servers on one database and data folder, requests spread over
them in turn as a load balancer would; ``--servers 1,2`` measures each count in turn;
with more than one server and no ``--database-url``, a throw-away PostgreSQL cluster is
started with ``tests/pgkit.py``, and every count in the run uses it), then sends
``--requests`` requests per round from ``--concurrency`` threads: half
synchronous ``background-removal`` uploads (answered with the PNG), half asynchronous
(``async: true``, 202 + job id) whose jobs are then polled until they finish. A round
passes when every request got its expected status and every queued job ended ``done`` (no
error, no lost job). The server's resident set size (``VmRSS``) is printed after a warm-up
and after each round: a leak shows as growth from one round to the next.
Prints requests/s, latency percentiles and RSS; exits 1 on any error or lost job.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
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


def _photo(side: int) -> bytes:
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
    servers: int = 1,
    database_url: str = "",
) -> dict[str, Any]:
    """Run the load test; returns the figures (also printed)."""
    data = Path(tempfile.mkdtemp(prefix="packshot-load-"))
    env = {**os.environ, "PACKSHOT_RATE_PER_MINUTE": str(requests * rounds * 10)}
    db = ["--database-url", database_url] if database_url else []
    key = _cli("keys", "create", "load", "--data-dir", str(data), *db, env=env)
    key = key.strip().splitlines()[-1]
    ports = [_port() for _ in range(servers)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    serve = [sys.executable, "-m", "packshot.cli", "serve", "--model", model, "--workers", "2"]
    procs = [
        subprocess.Popen(
            [*serve, "--port", str(port), "--data-dir", str(data), *db],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(data / f"server-{port}.log").open("wb"),
        )
        for port in ports
    ]
    photo = _photo(side)
    headers = {"Authorization": f"Bearer {key}"}
    figures: dict[str, Any] = {
        "requests": requests,
        "concurrency": concurrency,
        "servers": servers,
        "rounds": [],
    }
    try:
        deadline = time.monotonic() + 60
        for base in bases:
            while True:
                try:
                    httpx.get(f"{base}/healthz")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("server did not start") from None
                    time.sleep(0.2)
        client = httpx.Client(
            headers=headers,
            timeout=300,
            limits=httpx.Limits(max_connections=concurrency),
        )

        def one(n: int) -> tuple[int, float, str | None, bool]:
            asynchronous = n % 2 == 1
            base = bases[(n // 2) % servers]  # round-robin over sync/async pairs
            t0 = time.perf_counter()
            r = client.post(
                f"{base}/v1/run/background-removal",
                data={"async": "true"} if asynchronous else {},
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
            for job in jobs:
                while True:
                    state = client.get(f"{bases[0]}/v1/jobs/{job}").json()["state"]
                    if state in ("done", "failed"):
                        break
                    time.sleep(0.1)
                states[state] = states.get(state, 0) + 1
            wall = time.perf_counter() - t0
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
            }
            figures["rounds"].append(stats)
            print(
                f"{servers} server(s), round {round_no}: {requests} requests at concurrency "
                f"{concurrency}: "
                f"{errors} errors, {len(jobs)} async jobs, {lost} lost; {wall:.1f} s "
                f"({requests / wall:.2f} req/s), latency p50 {stats['p50_s']:.2f} s "
                f"p95 {stats['p95_s']:.2f} s; server RSS {rss:.1f} MB"
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
        "--servers", default="1", help="server count, or counts to compare (e.g. 1,2)"
    )
    parser.add_argument("--database-url", default="", help="SQLAlchemy URL the servers share")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    counts = [int(n) for n in args.servers.split(",")]
    with ExitStack() as stack:
        url = args.database_url
        if not url and max(counts) > 1:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from pgkit import postgres_cluster  # the test suite's throw-away cluster

            cluster = stack.enter_context(postgres_cluster())
        runs = []
        for n, servers in enumerate(counts):
            if not args.database_url and max(counts) > 1:
                url = cluster.create_database(f"load{n}")
            sizes = (args.requests, args.concurrency, args.rounds)
            runs.append(run(*sizes, args.model, args.side, servers, url))
    for figures in runs:
        best = max(r["requests_per_s"] for r in figures["rounds"])
        print(f"{figures['servers']} server(s): best round {best:.2f} req/s")
    if args.json:
        args.json.write_text(json.dumps(runs if len(runs) > 1 else runs[0], indent=2))
    bad = any(r["errors"] or r["lost_jobs"] for f in runs for r in f["rounds"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
