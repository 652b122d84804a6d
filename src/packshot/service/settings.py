"""Service settings: command-line options and ``PACKSHOT_*`` environment variables.

Every limit the service enforces lives here, with the default a single shop's server
needs; the CLI and tests build one :class:`Settings` and hand it to ``create_app``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from packshot.errors import InputError

BACKENDS = ("local", "ray")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"{name} must be a whole number, got {raw!r}.") from None
    if value <= 0:
        raise InputError(f"{name} must be positive, got {value}.")
    return value


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
    public_url: str = ""
    """The server's external base URL, for result links inside webhook bodies."""
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
            public_url=os.environ.get("PACKSHOT_PUBLIC_URL", ""),
            secret=os.environ.get("PACKSHOT_SECRET", ""),
        )
