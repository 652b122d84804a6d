"""Everything one running server shares, built once from its settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from packshot.models import registry
from packshot.service.auth import RateLimiter
from packshot.service.jobs import Runner
from packshot.service.retention import Sweeper
from packshot.service.settings import Settings
from packshot.service.storage import Storage
from packshot.service.store import Store
from packshot.service.webhooks import WebhookSender


@dataclass
class Context:
    settings: Settings
    store: Store
    storage: Storage
    sender: WebhookSender
    runner: Runner
    limiter: RateLimiter
    sweeper: Sweeper
    draining: bool = field(default=False)
    """Set when shutdown begins: the readiness probe fails so the balancer moves on."""

    @classmethod
    def build(cls, settings: Settings) -> Context:
        settings = settings.prepare()
        store = Store(settings.db_url)
        storage = Storage(
            settings.results_dir, settings.inputs_dir, settings.signing_key(), settings.link_ttl_s
        )
        sender = WebhookSender(settings, store)
        runner = Runner(settings, store, storage, sender)
        return cls(
            settings,
            store,
            storage,
            sender,
            runner,
            RateLimiter(settings.rate_per_minute),
            Sweeper(settings, store, storage),
        )

    def start(self) -> None:
        self.runner.start()
        self.sender.start()
        self.sweeper.start()

    def stop(self) -> None:
        self.draining = True
        self.sweeper.stop()
        self.runner.stop()
        self.sender.stop()
        self.runner.release()
        self.store.close()

    def readiness(self) -> dict[str, Any]:
        """What ``/readyz`` reports: each check ``ok`` or what is wrong, and ``ready``."""
        checks: dict[str, str] = {}
        try:
            self.store.ping()
            checks["database"] = "ok"
        except Exception as exc:  # any driver error means not ready; say which
            checks["database"] = f"unreachable: {type(exc).__name__}: {exc}".strip()
        try:
            installed = registry.is_installed(self.settings.model)
            checks["model"] = (
                "ok"
                if installed
                else f"{self.settings.model} is not installed "
                f"(packshot models install {self.settings.model})"
            )
        except Exception as exc:
            checks["model"] = f"{self.settings.model}: {exc}"
        checks["server"] = "draining (shutting down)" if self.draining else "ok"
        return {"ready": all(v == "ok" for v in checks.values()), "checks": checks}
