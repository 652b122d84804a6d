"""Service settings: command-line options and ``PACKSHOT_*`` environment variables.

Every limit the service enforces lives here, with the default a single shop's server
needs; the CLI and tests build one :class:`Settings` and hand it to ``create_app``.
"""

from __future__ import annotations

import os
import re
import secrets
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packshot.errors import InputError

BACKENDS = ("local", "ray")


def _env_positive(name: str, default: float, parse: Callable[[str], float], what: str) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise InputError(f"{name} must be {what}, got {raw!r}.") from None
    if not value > 0:
        raise InputError(f"{name} must be positive, got {raw}.")
    return value


def _env_int(name: str, default: int) -> int:
    return int(_env_positive(name, default, int, "a whole number"))


def _env_float(name: str, default: float) -> float:
    return _env_positive(name, default, float, "a number of seconds")


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
DAY = 86400.0


def parse_duration(raw: str, name: str) -> float | None:
    """Seconds from "90", "90s", "15m", "12h" or "30d"; None for "forever"."""
    text = raw.strip().lower()
    if text in ("forever", "never"):
        return None
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise InputError(
            f"{name} must be a positive duration such as 3600, 90m, 12h or 30d, or 'forever'; "
            f"got {raw!r}."
        )
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _env_duration(name: str, default: float | None) -> float | None:
    raw = os.environ.get(name, "").strip()
    return parse_duration(raw, name) if raw else default


def check_public_url(url: str) -> str:
    """``url`` without a trailing slash, if it can be the base of the server's links."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"PACKSHOT_PUBLIC_URL must be an http(s) URL such as https://images.example.com, "
            f"got {url!r}."
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InputError(
            f"PACKSHOT_PUBLIC_URL must not carry a query, fragment or credentials, got {url!r}."
        )
    return url.rstrip("/")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """How one server instance runs; paths are created by :meth:`prepare`."""

    data_dir: Path
    database_url: str = ""
    """Any SQLAlchemy URL; empty means ``sqlite:///<data_dir>/packshot.sqlite``."""
    model: str = "u2net"
    """Cutout ensemble used when a request names none."""
    auth: bool = True
    """Require an API key (``packshot keys create``) on every API request."""
    rate_per_minute: int = 120
    """Requests per API key per minute (token bucket, burst of the same size)."""
    max_request_bytes: int = 50 * 1024 * 1024
    max_download_bytes: int = 50 * 1024 * 1024
    download_timeout_s: float = 30.0
    max_pixels: int | None = None
    """Pixel limit of decoded images; None uses PACKSHOT_MAX_PIXELS or imageio's default."""
    allow_private_urls: bool = False
    """Let image and callback URLs reach loopback/private networks (tests, intranets)."""
    link_ttl_s: int = 3600
    """How long a signed result link works."""
    workers: int = 1
    """Threads running asynchronous jobs and batch items."""
    inference_slots: int = 0
    """Images processed at once across sync requests and jobs; 0 means one per core."""
    pixels_in_flight: int = 150_000_000
    """Pixels of the images processed at once (what bounds memory: about 30 bytes a pixel
    through a cutout); a larger image runs alone."""
    batch_backend: str = "local"
    """Where asynchronous jobs' images are processed: ``local`` (this process) or ``ray``
    (one Ray actor per job thread, on the cluster at ``ray_address``)."""
    ray_address: str = ""
    webhook_max_attempts: int = 8
    webhook_backoff_s: float = 1.0
    """First retry delay; doubled on each further attempt."""
    webhook_timeout_s: float = 10.0
    lease_s: float = 30.0
    """How long a claimed job or webhook event stays this server's without renewal (it
    renews every third of that): a dead server's work is taken over after this long."""
    drain_s: float = 30.0
    """On shutdown, how long running jobs may take to finish before they are released to
    another server."""
    webhook_senders: int = 8
    """Receivers delivered to at once: each receiver gets its own sender while it has due
    events, so a slow one only delays its own webhooks."""
    public_url: str = ""
    """The server's external base URL: every link it hands out (status URLs, result files,
    webhook bodies, the review page) starts with it. Empty: the address the server is
    bound to. Never taken from a request's Host header."""
    keep_inputs_s: float | None = 7 * DAY
    """How long a finished job's input images are kept (None: forever). Inputs of held
    jobs stay until the review decides them (a re-run needs them)."""
    keep_results_s: float | None = 30 * DAY
    """How long a finished job's output files are kept (None: forever)."""
    keep_jobs_s: float | None = 90 * DAY
    """How long a finished job's record (state, webhook log, review) is kept (None:
    forever); its files go with it."""
    sweep_interval_s: float = 600.0
    """How often the retention sweep runs."""
    session_ttl_s: int = 12 * 3600
    """How long a review-page sign-in lasts."""
    secret: str = field(default="", repr=False)
    """Signs result links and webhooks; empty reads or creates ``<data_dir>/secret``."""

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'packshot.sqlite'}"

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @property
    def inputs_dir(self) -> Path:
        return self.data_dir / "inputs"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

    @property
    def slots(self) -> int:
        return self.inference_slots or max(1, os.cpu_count() or 1)

    def signing_key(self) -> bytes:
        if self.secret:
            return self.secret.encode()
        path = self.data_dir / "secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip().encode()

    def prepare(self) -> Settings:
        if self.batch_backend not in BACKENDS:
            raise InputError(
                f"PACKSHOT_BATCH_BACKEND must be one of {', '.join(BACKENDS)}, "
                f"got {self.batch_backend!r}."
            )
        if self.public_url:
            check_public_url(self.public_url)
        for path in (self.data_dir, self.results_dir, self.inputs_dir, self.work_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.signing_key()
        return self

    @classmethod
    def from_env(
        cls, data_dir: str | Path | None = None, database_url: str | None = None
    ) -> Settings:
        """Settings from ``PACKSHOT_*`` variables; explicit arguments win."""
        max_pixels = os.environ.get("PACKSHOT_MAX_PIXELS", "").strip()
        return cls(
            data_dir=Path(data_dir or os.environ.get("PACKSHOT_DATA_DIR", "packshot-data")),
            database_url=database_url or os.environ.get("PACKSHOT_DATABASE_URL", ""),
            model=os.environ.get("PACKSHOT_SERVICE_MODEL", "u2net"),
            auth=not _env_flag("PACKSHOT_NO_AUTH"),
            rate_per_minute=_env_int("PACKSHOT_RATE_PER_MINUTE", 120),
            max_request_bytes=_env_int("PACKSHOT_MAX_REQUEST_BYTES", 50 * 1024 * 1024),
            max_download_bytes=_env_int("PACKSHOT_MAX_DOWNLOAD_BYTES", 50 * 1024 * 1024),
            max_pixels=int(max_pixels) if max_pixels.isdigit() else None,
            allow_private_urls=_env_flag("PACKSHOT_ALLOW_PRIVATE_URLS"),
            link_ttl_s=_env_int("PACKSHOT_LINK_TTL", 3600),
            workers=_env_int("PACKSHOT_WORKERS", 1),
            pixels_in_flight=_env_int("PACKSHOT_PIXELS_IN_FLIGHT", 150_000_000),
            batch_backend=os.environ.get("PACKSHOT_BATCH_BACKEND", "local").strip() or "local",
            ray_address=os.environ.get("PACKSHOT_RAY_ADDRESS", "").strip(),
            webhook_backoff_s=float(os.environ.get("PACKSHOT_WEBHOOK_BACKOFF", "1") or 1),
            lease_s=_env_float("PACKSHOT_LEASE_SECONDS", 30.0),
            drain_s=_env_float("PACKSHOT_DRAIN_SECONDS", 30.0),
            webhook_senders=_env_int("PACKSHOT_WEBHOOK_SENDERS", 8),
            public_url=os.environ.get("PACKSHOT_PUBLIC_URL", "").strip(),
            keep_inputs_s=_env_duration("PACKSHOT_KEEP_INPUTS", 7 * DAY),
            keep_results_s=_env_duration("PACKSHOT_KEEP_RESULTS", 30 * DAY),
            keep_jobs_s=_env_duration("PACKSHOT_KEEP_JOBS", 90 * DAY),
            session_ttl_s=_env_int("PACKSHOT_SESSION_TTL", 12 * 3600),
            secret=os.environ.get("PACKSHOT_SECRET", ""),
        )
