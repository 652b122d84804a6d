"""Everything one running server shares, built once from its settings."""

from __future__ import annotations

from dataclasses import dataclass

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
        self.sweeper.stop()
        self.runner.stop()
        self.sender.stop()
        self.store.close()
