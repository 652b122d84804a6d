"""Where a batch runs: the per-item function mapped over items by a local process pool or Ray.

A back-end knows nothing about images: it calls ``fn(item)`` for each item somewhere
(a worker process on this machine, a Ray actor on any node of a cluster) and yields
``(item, Finished)`` in completion order. The batch driver consumes that iterator and
records each result as it arrives, so whatever has been yielded is safe in the manifest
even if the driver or a node dies afterwards.

Both back-ends keep at most ``in_flight`` items submitted and unfinished (backpressure):
a 10,000-item batch holds a few dozen items in memory, not 10,000 futures and results.
Workers keep their process (and so their model sessions, cached per process by
:mod:`packshot.models.runtime`) for the whole batch: models load once per worker.

Choose a back-end by name with :func:`get_backend` (the CLI's ``--backend`` and the
service's ``PACKSHOT_BATCH_BACKEND`` / ``PACKSHOT_RAY_ADDRESS`` settings both go there).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from packshot.errors import InputError
from packshot.memory import tune_allocator

logger = logging.getLogger(__name__)

__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "RAY_ADDRESS_ENV",
    "Backend",
    "Finished",
    "LocalBackend",
    "RayBackend",
    "backend_from_env",
    "get_backend",
]

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("local", "ray")
BACKEND_ENV = "PACKSHOT_BATCH_BACKEND"
RAY_ADDRESS_ENV = "PACKSHOT_RAY_ADDRESS"
# Items queued per worker beyond the one it is running: enough that a worker never waits
# for the driver between items, small enough that memory does not grow with the batch.
QUEUE_PER_WORKER = 2
DEFAULT_MAX_RETRIES = 3


@dataclass(frozen=True)
class Finished(Generic[R]):
    """The outcome of one item: ``value`` when ``fn`` returned, else ``error`` (why not)."""

    value: R | None
    error: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None


class Backend(ABC):
    """Runs ``fn`` over items with bounded work in flight; results in completion order."""

    name: str

    @abstractmethod
    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, Finished[R]]]:
        """Yield ``(item, Finished)`` for every item, as each finishes.

        ``fn`` must be picklable (a module-level function or a ``functools.partial`` of
        one). An item whose worker died is retried up to the back-end's ``max_retries``;
        after that its ``Finished.error`` says what happened and the batch goes on.
        """

    def close(self) -> None:  # noqa: B027 (optional hook: most back-ends hold nothing)
        """Release what the back-end started (pools, a Ray instance it started itself)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _set_threads(threads: int) -> None:
    # Sessions are created lazily in each worker; this sets their thread count, so
    # workers sharing a machine do not oversubscribe its cores.
    os.environ["PACKSHOT_THREADS"] = str(threads)
    tune_allocator()


class LocalBackend(Backend):
    """Worker processes on this machine (spawned, so no state leaks from the driver).

    ``workers`` processes share the cores, each with ``cores // workers`` threads; with one
    worker (or one item) ``fn`` runs in the calling process. A worker that dies (killed,
    out of memory) breaks the pool: the pool is rebuilt and the items it held are retried.
    """

    name = "local"

    def __init__(
        self,
        workers: int | None = None,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        in_flight: int | None = None,
    ) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.max_retries = max_retries
        self.in_flight = in_flight or self.workers * (1 + QUEUE_PER_WORKER)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, Finished[R]]]:
        if self.workers == 1 or len(items) == 1:
            for item in items:
                try:
                    yield item, Finished(fn(item))
                except Exception as exc:
                    yield item, Finished(None, f"task failed ({_first_line(exc)})")
            return
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        queue: deque[tuple[T, int]] = deque((item, 1) for item in items)
        while queue:
            # A fresh pool per round: a dead worker leaves its pool unusable.
            with self._pool(threads) as pool:
                yield from self._round(pool, fn, queue)

    def _pool(self, threads: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_set_threads,
            initargs=(threads,),
        )

    def _round(
        self, pool: ProcessPoolExecutor, fn: Callable[[T], R], queue: deque[tuple[T, int]]
    ) -> Iterator[tuple[T, Finished[R]]]:
        running: dict[Future[R], tuple[T, int]] = {}
        broken = False
        while queue or running:
            while queue and len(running) < self.in_flight and not broken:
                item, attempt = queue.popleft()
                try:
                    running[pool.submit(fn, item)] = (item, attempt)
                except BrokenProcessPool:  # a worker died since the last round of results
                    queue.appendleft((item, attempt))
                    broken = True
            if not running:
                return
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                item, attempt = running.pop(future)
                try:
                    value = future.result()
                except BrokenProcessPool as exc:  # the worker died (killed, out of memory)
                    broken = True
                    if attempt <= self.max_retries:
                        logger.warning("worker failed (%s); retrying item", exc)
                        queue.append((item, attempt + 1))
                    else:
                        yield item, Finished(None, f"worker failed ({exc})", attempt)
                    continue
                except Exception as exc:  # fn raised: its own failure, not the worker's
                    yield item, Finished(None, f"task failed ({_first_line(exc)})", attempt)
                    continue
                yield item, Finished(value, attempts=attempt)
            if broken and not running:
                return


class RayBackend(Backend):
    """Ray actors on a cluster: one long-lived worker process per actor, anywhere.

    ``address`` is a running cluster's (``ray start --head`` prints it; ``"auto"`` finds
    the one this machine belongs to); without one, an already initialised Ray is used,
    else a local single-node Ray is started (and shut down on :meth:`close`).
    ``workers`` actors (default: the cluster's CPUs / ``cpus_per_worker``) each reserve
    ``cpus_per_worker`` CPUs and run their sessions with that many threads.

    A killed actor is restarted by Ray (``max_restarts``) and the call it was running is
    retried (``max_task_retries``); an item whose actor is gone for good is resubmitted
    to a fresh actor, at most ``max_retries`` times.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        cpus_per_worker: int = 1,
        max_retries: int = DEFAULT_MAX_RETRIES,
        in_flight: int | None = None,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        self.address = address or None
        self.requested_workers = workers
        self.cpus_per_worker = max(1, cpus_per_worker)
        self.max_retries = max_retries
        self.requested_in_flight = in_flight
        self.init_options = init_options or {}
        self._started_ray = False
        self._actors: list[Any] = []

    # ---------------------------------------------------------------- cluster and actors
    def _ray(self) -> Any:
        if self.address and _have_ray_token():
            # Recent Ray clusters require their token by default, but a driver joining one
            # only sends it when told so (read when Ray is first imported).
            os.environ.setdefault("RAY_AUTH_MODE", "token")
        try:
            import ray
        except ImportError:
            raise InputError("the ray back-end needs Ray: pip install 'packshot[ray]'") from None
        if not ray.is_initialized():
            # packshot runs offline: no usage reports from a Ray it starts, unless asked.
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.WARNING,
                **self.init_options,
            }
            try:
                # "local": a new single-node Ray, never a stale one found in /tmp/ray.
                ray.init(address=self.address or "local", **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.address or "a local Ray instance"
                raise InputError(
                    f"cannot connect to Ray at {where} ({exc}); is the cluster up, and is its "
                    "token in ~/.ray/auth_token or RAY_AUTH_TOKEN on this machine?"
                ) from exc
            self._started_ray = True
        return ray

    def _worker_count(self, ray: Any) -> int:
        if self.requested_workers:
            return self.requested_workers
        cpus = int(ray.cluster_resources().get("CPU", 1))
        return max(1, cpus // self.cpus_per_worker)

    def _new_actor(self, ray: Any) -> Any:
        remote = ray.remote(
            num_cpus=self.cpus_per_worker,
            max_restarts=self.max_retries,
            max_task_retries=self.max_retries,
        )(_RayWorker)
        return remote.remote(self.cpus_per_worker)

    def _ensure_actors(self) -> list[Any]:
        ray = self._ray()
        if not self._actors:
            self._actors = [self._new_actor(ray) for _ in range(self._worker_count(ray))]
        return self._actors

    def worker_pids(self) -> list[int]:
        """The process ids of the actors (one per worker); for operators and tests."""
        ray = self._ray()
        return [int(pid) for pid in ray.get([a.pid.remote() for a in self._ensure_actors()])]

    # ---------------------------------------------------------------- running
    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, Finished[R]]]:
        ray = self._ray()
        actors = self._ensure_actors()
        in_flight = self.requested_in_flight or len(actors) * (1 + QUEUE_PER_WORKER)
        # Shipped once to the object store, not pickled again with every item.
        fn_ref = ray.put(fn)
        queue: deque[tuple[T, int]] = deque((item, 1) for item in items)
        running: dict[Any, tuple[T, int, int, Any]] = {}  # ref -> item, attempt, slot, actor
        load = [0] * len(actors)
        while queue or running:
            while queue and len(running) < in_flight:
                item, attempt = queue.popleft()
                slot = min(range(len(actors)), key=load.__getitem__)
                load[slot] += 1
                actor = actors[slot]
                running[actor.call.remote(fn_ref, item)] = (item, attempt, slot, actor)
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                item, attempt, slot, actor = running.pop(ref)
                load[slot] -= 1
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    # Restarts used up or its node is gone: a fresh actor takes its slot
                    # (once, though several of its calls fail).
                    if actors[slot] is actor:
                        actors[slot] = self._new_actor(ray)
                    if attempt <= self.max_retries:
                        logger.warning("Ray worker lost (%s); retrying item", _first_line(exc))
                        queue.append((item, attempt + 1))
                    else:
                        yield item, Finished(None, f"Ray worker lost ({_first_line(exc)})", attempt)
                    continue
                except ray.exceptions.RayError as exc:
                    yield item, Finished(None, f"Ray task failed ({_first_line(exc)})", attempt)
                    continue
                yield item, Finished(value, attempts=attempt)

    def close(self) -> None:
        if not self._actors and not self._started_ray:
            return
        import ray

        for actor in self._actors:
            ray.kill(actor, no_restart=True)
        self._actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


class _RayWorker:
    """One Ray actor: a long-lived process whose model sessions persist across items."""

    def __init__(self, threads: int) -> None:
        _set_threads(threads)

    def call(self, fn: Callable[[Any], Any], item: Any) -> Any:
        return fn(item)

    def pid(self) -> int:
        return os.getpid()


def _have_ray_token() -> bool:
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or (Path.home() / ".ray" / "auth_token").is_file()


def _first_line(exc: BaseException) -> str:
    # A RayTaskError's own text is a banner naming the actor; the cause says what failed.
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def get_backend(
    name: str | Backend | None = None,
    *,
    address: str | None = None,
    workers: int | None = None,
) -> Backend:
    """A back-end by name: ``local`` (process pool) or ``ray`` (``address`` of a cluster).

    ``None`` reads ``PACKSHOT_BATCH_BACKEND`` (default ``local``) and, for Ray,
    ``PACKSHOT_RAY_ADDRESS`` when no ``address`` is given.
    """
    if isinstance(name, Backend):
        return name
    chosen = (name or os.environ.get(BACKEND_ENV, "") or "local").strip().lower()
    if chosen == "local":
        return LocalBackend(workers)
    if chosen == "ray":
        return RayBackend(address or os.environ.get(RAY_ADDRESS_ENV) or None, workers=workers)
    source = "backend" if name else BACKEND_ENV
    known = ", ".join(BACKENDS)
    raise InputError(f"{source}: unknown batch back-end {chosen!r}; use one of {known}")


def backend_from_env(workers: int | None = None) -> Backend:
    """The back-end the environment asks for (the HTTP service's setting)."""
    return get_backend(None, workers=workers)
