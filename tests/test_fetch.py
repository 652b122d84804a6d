"""packshot.fetch against a real HTTP server on 127.0.0.1 (no other network)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from packshot import fetch
from packshot.errors import FetchError, InputError

BODY = b"hello packshot\n" * 100


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        if path == "/ok":
            self._send(200, BODY)
        elif path == "/missing":
            self._send(404, b"nope")
        elif path == "/redirect":
            self._send(302, headers={"Location": "/ok"})
        elif path.startswith("/chain/"):
            n = int(path.rsplit("/", 1)[1])
            self._send(302, headers={"Location": f"/chain/{n + 1}" if n < 20 else "/ok"})
        elif path == "/redirect-loopback":
            port = self.headers["Host"].rsplit(":", 1)[1]
            self._send(302, headers={"Location": f"http://127.0.0.2:{port}/ok"})
        elif path == "/redirect-file":
            self._send(302, headers={"Location": "file:///etc/passwd"})
        elif path == "/unlimited":
            # No Content-Length: only counting the streamed bytes can enforce the limit.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(64):
                self.wfile.write(b"x" * 1024)
            self.close_connection = True
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, BODY)
        elif path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"y" * 10)
            self.close_connection = True
        else:
            self._send(500, b"unexpected")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fetch.ALLOW_PRIVATE_ENV, raising=False)


def test_fetch_bytes_ok(server: str) -> None:
    assert (
        fetch.fetch_bytes(f"{server}/ok", max_bytes=10_000, timeout=5, allow_private=True) == BODY
    )


def test_loopback_refused_without_allow_private(server: str) -> None:
    with pytest.raises(FetchError) as info:
        fetch.fetch_bytes(f"{server}/ok", max_bytes=10_000, timeout=5)
    message = str(info.value)
    assert f"{server}/ok" in message
    assert "loopback" in message and "127.0.0.1" in message
    assert fetch.ALLOW_PRIVATE_ENV in message


def test_env_allows_private(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fetch.ALLOW_PRIVATE_ENV, "1")
    assert fetch.fetch_bytes(f"{server}/ok", max_bytes=10_000, timeout=5) == BODY


def test_redirect_followed(server: str) -> None:
    got = fetch.fetch_bytes(f"{server}/redirect", max_bytes=10_000, timeout=5, allow_private=True)
    assert got == BODY


def test_too_many_redirects(server: str) -> None:
    with pytest.raises(FetchError, match="more than 5 redirects"):
        fetch.fetch_bytes(f"{server}/chain/0", max_bytes=10_000, timeout=5, allow_private=True)
    # Exactly MAX_REDIRECTS hops is fine.
    start = 20 - fetch.MAX_REDIRECTS + 1
    got = fetch.fetch_bytes(
        f"{server}/chain/{start}", max_bytes=10_000, timeout=5, allow_private=True
    )
    assert got == BODY


def test_redirect_to_refused_address_is_refused(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Let the first hop (127.0.0.1) through as if it were public; the redirect target
    # 127.0.0.2 must still be checked, and refused, before any connection is made to it.
    real = fetch._address_problem
    monkeypatch.setattr(fetch, "_address_problem", lambda a: "" if a == "127.0.0.1" else real(a))
    with pytest.raises(FetchError) as info:
        fetch.fetch_bytes(f"{server}/redirect-loopback", max_bytes=10_000, timeout=5)
    assert "127.0.0.2" in str(info.value) and "loopback" in str(info.value)


def test_redirect_to_file_scheme_refused(server: str) -> None:
    with pytest.raises(FetchError, match="non-http"):
        fetch.fetch_bytes(
            f"{server}/redirect-file", max_bytes=10_000, timeout=5, allow_private=True
        )


def test_404_message(server: str) -> None:
    with pytest.raises(FetchError) as info:
        fetch.fetch_bytes(f"{server}/missing", max_bytes=10_000, timeout=5, allow_private=True)
    assert str(info.value) == f"Could not fetch {server}/missing: HTTP 404 Not Found."


def test_size_limit_from_content_length(server: str) -> None:
    with pytest.raises(FetchError, match="over the limit of 100 bytes"):
        fetch.fetch_bytes(f"{server}/ok", max_bytes=100, timeout=5, allow_private=True)


def test_size_limit_streamed(server: str) -> None:
    with pytest.raises(FetchError, match="over the limit of 10000 bytes"):
        fetch.fetch_bytes(f"{server}/unlimited", max_bytes=10_000, timeout=5, allow_private=True)
    got = fetch.fetch_bytes(f"{server}/unlimited", max_bytes=1 << 20, timeout=5, allow_private=True)
    assert len(got) == 64 * 1024


def test_truncated_body(server: str) -> None:
    with pytest.raises(FetchError, match="truncated: got 10 of 1000 bytes"):
        fetch.fetch_bytes(f"{server}/truncated", max_bytes=10_000, timeout=5, allow_private=True)


def test_timeout(server: str) -> None:
    start = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        fetch.fetch_bytes(f"{server}/slow", max_bytes=10_000, timeout=0.3, allow_private=True)
    assert time.monotonic() - start < 1.4


def test_non_http_scheme_is_input_error() -> None:
    for url in ("ftp://example.com/x", "file:///etc/passwd", "data:,hi", "/etc/passwd"):
        with pytest.raises(InputError, match="Only http and https"):
            fetch.fetch_bytes(url, max_bytes=10, timeout=1)


def test_credentials_are_not_shown(server: str) -> None:
    url = server.replace("http://", "http://user:s3cret@") + "/missing"
    with pytest.raises(FetchError) as info:
        fetch.fetch_bytes(url, max_bytes=10_000, timeout=5, allow_private=True)
    assert "s3cret" not in str(info.value)
    assert "HTTP 404" in str(info.value)


def test_unresolvable_host() -> None:
    with pytest.raises(FetchError, match="cannot resolve host"):
        fetch.fetch_bytes("http://no-such-host.invalid/x", max_bytes=10, timeout=2)


def test_fetch_to_file_progress_and_cleanup(server: str, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    dest = tmp_path / "out.bin"
    fetch.fetch_to_file(
        f"{server}/ok",
        dest,
        max_bytes=10_000,
        timeout=5,
        progress=lambda done, total: seen.append((done, total)),
        allow_private=True,
    )
    assert dest.read_bytes() == BODY
    assert seen[0] == (0, len(BODY)) and seen[-1] == (len(BODY), len(BODY))

    failed = tmp_path / "failed.bin"
    with pytest.raises(FetchError):
        fetch.fetch_to_file(
            f"{server}/unlimited", failed, max_bytes=1000, timeout=5, allow_private=True
        )
    assert not failed.exists()


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # cloud metadata endpoint
        ("100.64.0.1", True),  # carrier-grade NAT
        ("224.0.0.1", True),
        ("0.0.0.0", True),
        ("240.0.0.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("::ffff:127.0.0.1", True),
        # IPv6 forms that carry an internal IPv4 address to a relay or translator.
        ("2002:7f00:1::", True),  # 6to4 of 127.0.0.1 (the IPv6 flags call it global)
        ("2002:c0a8:101::1", True),  # 6to4 of 192.168.1.1
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 of 169.254.169.254
        ("64:ff9b:1::a00:1", True),  # local-use NAT64
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", True),  # Teredo, client 127.0.0.1
        ("::10.0.0.1", True),  # IPv4-compatible
        ("::ffff:0:a00:1", True),  # IPv4-translated
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_address_classification(address: str, refused: bool) -> None:
    assert bool(fetch._address_problem(address)) is refused
