"""Helpers for the HTTP service tests: a real server on loopback, a loopback file server,
a webhook receiver that verifies signatures and counts deliveries, real photos."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from PIL import Image

from packshot.models import registry
from packshot.samples import sample_path
from packshot.service.app import create_app
from packshot.service.auth import create_key
from packshot.service.settings import Settings
from packshot.service.store import Store

TEST_MODEL = "u2netp"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_for(data_dir: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "model": TEST_MODEL,
        "allow_private_urls": True,
        "webhook_backoff_s": 0.2,
        "secret": "test-secret",
    }
    values.update(changes)
    return Settings(**values)


def new_key(settings: Settings, name: str = "test") -> str:
    store = Store(settings.prepare().db_url)
    try:
        return create_key(store, name)[1]
    finally:
        store.close()


@contextmanager
def running_server(settings: Settings, *, bind_links: bool = False) -> Iterator[str]:
    """A real uvicorn server for ``settings`` on a free loopback port; yields its base URL.

    Without a ``public_url`` the server's own URL is configured as its public URL (as
    ``packshot serve`` does), unless ``bind_links`` leaves it empty.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if not settings.public_url and not bind_links:
        from dataclasses import replace

        settings = replace(settings, public_url=base)
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def serve_process(
    port: int,
    data_dir: Path,
    log: Path,
    *args: str,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``packshot serve`` in its own process (so a test can SIGKILL it), once it answers
    ``/healthz``; ``args`` are more serve options, ``env`` more ``PACKSHOT_*`` settings."""
    full_env = {
        **os.environ,
        "PACKSHOT_ALLOW_PRIVATE_URLS": "1",
        "PACKSHOT_SECRET": "test-secret",
        "PACKSHOT_WEBHOOK_BACKOFF": "0.2",
        **(env or {}),
    }
    cmd = [sys.executable, "-m", "packshot.cli", "serve", "--port", str(port)]
    cmd += ["--data-dir", str(data_dir), "--model", TEST_MODEL, *args]
    proc = subprocess.Popen(cmd, env=full_env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not start: {log.read_text()}")


@contextmanager
def authorized_client(model_cache: Path, data_dir: Path) -> Iterator[httpx.Client]:
    """A client with a fresh key against a real server whose data lives in ``data_dir``,
    its models in ``model_cache`` (solution tests)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(registry.MODELS_DIR_ENV, str(model_cache))
        settings = settings_for(data_dir, rate_per_minute=1000)
        key = new_key(settings)
        with (
            running_server(settings) as base,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=300
            ) as client,
        ):
            yield client


def photo_bytes(name: str = "product", max_side: int = 480, fmt: str = "JPEG") -> bytes:
    """A real sample photo, downscaled so tests stay quick on two cores."""
    with Image.open(sample_path(f"sample-{name}")) as im:
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side))
        buf = io.BytesIO()
        im.save(buf, fmt, quality=92)
        return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


@contextmanager
def file_server(files: dict[str, bytes]) -> Iterator[str]:
    """Serves ``files`` by name on loopback; yields the base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = files.get(self.path.lstrip("/"))
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    with loopback_server(Handler) as base:
        yield base


@contextmanager
def loopback_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on a free loopback port; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Received:
    key: str
    event: str
    body: dict[str, Any]
    signature_ok: bool
    at: float = 0.0
    """time.monotonic() when it arrived."""


@dataclass
class WebhookReceiver:
    """Counts webhook deliveries; fails the first ``fail_first`` attempts of each event.
    With a ``gate``, every answer waits until the gate is set (a stuck receiver)."""

    secret: bytes
    fail_first: int = 0
    gate: threading.Event | None = None
    deliveries: list[Received] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Received]:
        with self.lock:
            return list(self.deliveries)

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.accepted()
            if len(got) >= count:
                return got
            time.sleep(0.1)
        return self.accepted()

    @contextmanager
    def serve(self) -> Iterator[str]:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                arrived = time.monotonic()
                key = self.headers.get("Idempotency-Key", "")
                stamp = self.headers.get("X-Packshot-Timestamp", "")
                expected = (
                    "v1="
                    + hmac.new(
                        receiver.secret, stamp.encode() + b"." + raw, hashlib.sha256
                    ).hexdigest()
                )
                ok = hmac.compare_digest(expected, self.headers.get("X-Packshot-Signature", ""))
                with receiver.lock:
                    n = receiver.attempts.get(key, 0) + 1
                    receiver.attempts[key] = n
                    fail = n <= receiver.fail_first
                    if not fail:
                        receiver.deliveries.append(
                            Received(
                                key,
                                self.headers.get("X-Packshot-Event", ""),
                                json.loads(raw),
                                ok,
                                arrived,
                            )
                        )
                if receiver.gate is not None:
                    receiver.gate.wait(timeout=120)
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        with loopback_server(Handler) as base:
            yield f"{base}/hook"


def wait_job(
    client: httpx.Client,
    url: str,
    timeout: float = 120,
    done: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    finished = done or (lambda j: j["state"] in ("done", "failed", "held"))
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(url).json()
        if finished(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.2)
