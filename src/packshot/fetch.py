"""The only URL fetcher of packshot.

Image URLs arrive from users (CLI manifests, HTTP API bodies), so a fetch must not become a
way to reach the machine's own network (server-side request forgery): only ``http`` and
``https`` are accepted, every host is resolved here and refused when any of its addresses is
private, loopback, link-local, multicast, reserved or unspecified, and the connection is
then made to exactly the address that was checked (so a second DNS answer cannot swap in
an internal one). Redirects are followed by hand, at most :data:`MAX_REDIRECTS`, and every
hop is checked again. Sizes are limited both by ``Content-Length`` and by counting the
bytes actually received, and a stalled connection times out.

When a proxy is configured in the environment (``https_proxy`` and friends) the request
goes through it: the target host is still resolved and checked here, but the proxy makes
the connection. Internal addresses are allowed with ``allow_private=True`` or
``PACKSHOT_ALLOW_PRIVATE_URLS=1`` (tests, a company-internal mirror).

Every failure is a :class:`~packshot.errors.FetchError` (or an
:class:`~packshot.errors.InputError` for a URL that is not http(s)) naming the URL.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import os
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from packshot import __version__
from packshot.errors import BlockedURLError, FetchError, InputError

__all__ = [
    "ALLOW_PRIVATE_ENV",
    "MAX_REDIRECTS",
    "FetchProgress",
    "check_url",
    "fetch_bytes",
    "fetch_to_file",
    "post_bytes",
]

ALLOW_PRIVATE_ENV = "PACKSHOT_ALLOW_PRIVATE_URLS"
MAX_REDIRECTS = 5
_CHUNK = 1 << 20
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = f"packshot/{__version__}"

FetchProgress = Callable[[int, int | None], None]
"""Called with (bytes received so far, total from Content-Length or None)."""


def fetch_bytes(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    allow_private: bool = False,
    total_timeout: float | None = None,
) -> bytes:
    """Download ``url`` into memory.

    ``max_bytes`` caps the body size; ``timeout`` (seconds) bounds connecting and each
    read, ``total_timeout`` (seconds, default ``10 * timeout``) the whole transfer.
    """
    parts: list[bytes] = []
    _fetch(
        url,
        parts.append,
        max_bytes=max_bytes,
        timeout=timeout,
        total_timeout=total_timeout,
        progress=None,
        allow_private=allow_private,
    )
    return b"".join(parts)


def fetch_to_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    max_bytes: int,
    timeout: float,
    progress: FetchProgress | None = None,
    allow_private: bool = False,
    total_timeout: float | None = None,
) -> Path:
    """Stream ``url`` into the file ``dest`` (created or truncated) and return its path.

    On any failure the partial file is removed. The write is not atomic: callers that
    publish the file elsewhere write to a temporary name and rename it themselves.
    ``total_timeout`` defaults to none here, since model weights can be hundreds of MB.
    """
    path = Path(dest)
    try:
        with path.open("wb") as fh:
            _fetch(
                url,
                fh.write,
                max_bytes=max_bytes,
                timeout=timeout,
                total_timeout=total_timeout if total_timeout is not None else float("inf"),
                progress=progress,
                allow_private=allow_private,
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _fetch(
    url: str,
    sink: Callable[[bytes], object],
    *,
    max_bytes: int,
    timeout: float,
    total_timeout: float | None,
    progress: FetchProgress | None,
    allow_private: bool,
) -> None:
    if max_bytes < 0:
        raise ValueError("max_bytes must be >= 0")
    allow_private = allow_private or os.environ.get(ALLOW_PRIVATE_ENV, "") == "1"
    deadline = time.monotonic() + (total_timeout if total_timeout is not None else 10 * timeout)
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        response = _open(current, url, timeout=timeout, allow_private=allow_private)
        with response:
            status = response.status
            if status in _REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise FetchError(_msg(url, f"HTTP {status} redirect without a Location"))
                current = urllib.parse.urljoin(current, location)
                continue
            if status >= 400 or status < 200:
                reason = response.reason or http.client.responses.get(status, "")
                where = "" if current == url else f" (redirected to {_redact(current)})"
                raise FetchError(_msg(url, f"HTTP {status} {reason}".rstrip() + where))
            _stream_body(response, sink, url, max_bytes, deadline, progress)
            return
    raise FetchError(_msg(url, f"more than {MAX_REDIRECTS} redirects"))


def _stream_body(
    response: http.client.HTTPResponse,
    sink: Callable[[bytes], object],
    url: str,
    max_bytes: int,
    deadline: float,
    progress: FetchProgress | None,
) -> None:
    total: int | None = None
    length = response.headers.get("Content-Length")
    if length is not None:
        try:
            total = int(length)
        except ValueError:
            total = None
        if total is not None and total > max_bytes:
            raise FetchError(_msg(url, f"{total} bytes is over the limit of {max_bytes} bytes"))
    done = 0
    if progress is not None:
        progress(0, total)
    while True:
        if time.monotonic() > deadline:
            raise FetchError(_msg(url, "timed out (total time limit)"))
        try:
            chunk = response.read(_CHUNK)
        except http.client.IncompleteRead as exc:
            got = done + len(exc.partial)
            raise FetchError(_msg(url, f"body truncated: got {got} of {total} bytes")) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(_msg(url, f"connection failed while reading: {_why(exc)}")) from exc
        if not chunk:
            break
        done += len(chunk)
        if done > max_bytes:
            raise FetchError(_msg(url, f"body is over the limit of {max_bytes} bytes"))
        sink(chunk)
        if progress is not None:
            progress(done, total)
    if total is not None and done != total:
        raise FetchError(_msg(url, f"body truncated: got {done} of {total} bytes"))


def post_bytes(
    url: str,
    body: bytes,
    *,
    headers: dict[str, str],
    timeout: float,
    allow_private: bool = False,
) -> int:
    """POST ``body`` to ``url`` (webhooks) with the same address checks; returns the status.

    Redirects are not followed: a 3xx answer is returned like any other status.
    """
    allow_private = allow_private or os.environ.get(ALLOW_PRIVATE_ENV, "") == "1"
    response = _open(
        url, url, timeout=timeout, allow_private=allow_private, data=body, headers=headers
    )
    with response:
        # The status is the answer; an unread or cut-off body changes nothing.
        with contextlib.suppress(OSError, http.client.HTTPException):
            response.read(_CHUNK)
        return response.status


def _open(
    url: str,
    original: str,
    *,
    timeout: float,
    allow_private: bool,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> http.client.HTTPResponse:
    """Open one hop (no redirect following) after checking its scheme and addresses."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    host, port = _host_port(url, original)
    addresses = _resolve(host, port, original, url)
    if not allow_private:
        _refuse_internal(host, addresses, original)

    proxied = bool(urllib.request.getproxies().get(scheme)) and not urllib.request.proxy_bypass(
        host
    )
    opener = urllib.request.OpenerDirector()
    if proxied:
        opener.add_handler(urllib.request.ProxyHandler())
        opener.add_handler(urllib.request.HTTPHandler())
        opener.add_handler(urllib.request.HTTPSHandler(context=ssl.create_default_context()))
    else:
        opener.add_handler(_PinnedHTTPHandler(addresses))
        opener.add_handler(_PinnedHTTPSHandler(addresses, ssl.create_default_context()))
    # No HTTPRedirectHandler and no HTTPErrorProcessor: 3xx and 4xx responses come back as
    # ordinary responses, so each redirect hop is checked here rather than followed blindly.
    request = urllib.request.Request(
        url,
        data=data,
        headers={"User-Agent": _USER_AGENT, "Accept-Encoding": "identity", **(headers or {})},
        method="POST" if data is not None else "GET",
    )
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.URLError as exc:
        raise FetchError(_msg(original, f"connection failed: {_why(exc.reason)}")) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(_msg(original, f"connection failed: {_why(exc)}")) from exc
    if not isinstance(response, http.client.HTTPResponse):  # pragma: no cover - defensive
        response.close()
        raise FetchError(_msg(original, "unexpected response type"))
    return response


def _host_port(url: str, original: str) -> tuple[str, int]:
    """The host and port of an http(s) URL; InputError/FetchError for anything else."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = _redact(url)
        if url == original:
            raise InputError(f"Only http and https URLs can be fetched, not {shown!r}.")
        raise FetchError(_msg(original, f"redirected to a non-http(s) URL {shown!r}"))
    host = parts.hostname
    if not host:
        raise InputError(f"The URL {_redact(url)!r} has no host name.")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise InputError(f"The URL {_redact(url)!r} has an invalid port.") from exc
    return host, port


def _refuse_internal(host: str, addresses: list[str], original: str) -> None:
    for address in addresses:
        problem = _address_problem(address)
        if problem:
            raise BlockedURLError(
                _msg(
                    original,
                    f"host {host!r} resolves to {problem}; such addresses are refused "
                    f"unless {ALLOW_PRIVATE_ENV}=1",
                )
            )


def _resolve(host: str, port: int, original: str, url: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(_msg(original, f"cannot resolve host {host!r}: {_why(exc)}")) from exc
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchError(_msg(original, f"host {host!r} has no address"))
    return addresses


_NAT64 = (
    # RFC 6052 well-known prefix: the IPv4 address is the last 32 bits.
    ipaddress.IPv6Network("64:ff9b::/96"),
)
_IPV4_IN_LOW_BITS = (
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated, RFC 4291)
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT, RFC 2765)
)
# Local-use NAT64 (RFC 8215): the prefix length, and so where the IPv4 address sits, is a
# local choice, so the whole block counts as internal.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the mechanism's name: traffic
    to such an address reaches that IPv4 host through a relay or translator."""
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    if ip.ipv4_mapped is not None:
        found.append(("IPv4-mapped", ip.ipv4_mapped))
    if ip.sixtofour is not None:
        found.append(("6to4", ip.sixtofour))
    if ip.teredo is not None:
        server, client = ip.teredo
        found += [("Teredo server", server), ("Teredo client", client)]
    low = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip in net for net in _NAT64):
        found.append(("NAT64", low))
    if any(ip in net for net in _IPV4_IN_LOW_BITS) and int(ip) > 1:
        found.append(("IPv4-compatible", low))
    return found


def _ip_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    checks = (
        ("a loopback", ip.is_loopback),
        ("a private", ip.is_private),
        ("a link-local", ip.is_link_local),
        ("a multicast", ip.is_multicast),
        ("a reserved", ip.is_reserved),
        ("an unspecified", ip.is_unspecified),
        # Catches what the flags above miss, e.g. carrier-grade NAT (100.64.0.0/10).
        ("a non-global", not ip.is_global),
    )
    for label, hit in checks:
        if hit:
            return label
    return ""


def _address_problem(address: str) -> str:
    """Why this address must not be fetched from ("a loopback address ::1"), or "" when
    it is public."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        # Checked before the IPv6 flags, which call some of these forms global (6to4)
        # and differ between Python versions.
        for mechanism, v4 in _embedded_ipv4(ip):
            problem = _ip_problem(v4)
            if problem:
                return f"the {mechanism} address {address}, which embeds {problem} IPv4 {v4}"
        if ip in _LOCAL_NAT64:
            return f"the local-use NAT64 address {address}"
    problem = _ip_problem(ip)
    return f"{problem} address {address}" if problem else ""


def check_url(url: str, *, allow_private: bool = False) -> None:
    """Refuse ``url`` now (as :func:`post_bytes` would when sending to it): not http(s),
    no host, a bad port, a host that does not resolve, or one with an internal address.

    For URLs stored to be used later (webhooks), so the client hears at once; the check is
    repeated on every use, since DNS answers can change in between.
    """
    allow_private = allow_private or os.environ.get(ALLOW_PRIVATE_ENV, "") == "1"
    host, port = _host_port(url, url)
    addresses = _resolve(host, port, url, url)
    if not allow_private:
        _refuse_internal(host, addresses, url)


def _connect_pinned(
    addresses: list[str], port: int, timeout: float | None, source: tuple[str, int] | None
) -> socket.socket:
    last: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout, source)
        except OSError as exc:
            last = exc
    assert last is not None
    raise last


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an already-checked address instead of resolving the host again."""

    def __init__(self, host: str, *, addresses: list[str], **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._pinned = addresses
        self._source: tuple[str, int] | None = kwargs.get("source_address")

    def connect(self) -> None:
        self.sock = _connect_pinned(self._pinned, self.port, self.timeout, self._source)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self, host: str, *, addresses: list[str], context: ssl.SSLContext, **kwargs: Any
    ) -> None:
        super().__init__(host, context=context, **kwargs)
        self._pinned = addresses
        self._source: tuple[str, int] | None = kwargs.get("source_address")
        self._ssl_context = context

    def connect(self) -> None:
        sock = _connect_pinned(self._pinned, self.port, self.timeout, self._source)
        # The certificate is checked against the host name, not the pinned address.
        self.sock = self._ssl_context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, addresses: list[str]) -> None:
        super().__init__()
        self._addresses = addresses

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        addresses = self._addresses

        def factory(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            return _PinnedHTTPConnection(host, addresses=addresses, **kwargs)

        return self.do_open(factory, req)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, addresses: list[str], context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._addresses = addresses
        self._ssl_context = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        addresses, context = self._addresses, self._ssl_context

        def factory(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            kwargs.pop("context", None)
            return _PinnedHTTPSConnection(host, addresses=addresses, context=context, **kwargs)

        return self.do_open(factory, req)


def _redact(url: str) -> str:
    """The URL without user:password, so credentials never reach logs or error messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        netloc += f":{port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _msg(url: str, reason: str) -> str:
    return f"Could not fetch {_redact(url)}: {reason}."


def _why(exc: object) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).strip()
    return text or type(exc).__name__
