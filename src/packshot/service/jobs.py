"""Running solutions as jobs: the per-item function and the back-end that schedules it.

:func:`Runner.execute` is the whole life of one item (fetch its inputs, run the solution's
handler, store the outputs, record the final state and its webhook event in one
transaction); it only needs the settings, so another scheduler (the Ray back-end,
``PACKSHOT_BATCH_BACKEND=ray``) can run it anywhere that reaches the job store and the
data folder. The local back-end is a few threads that claim queued jobs from the store
under a lease (:mod:`packshot.service.claims`), so several servers can share one
PostgreSQL database; a heartbeat renews this server's leases and fails synchronous jobs
whose server died (their client already got an error, so they are never re-run).
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session

from packshot.cost import batch_cost, output_cost
from packshot.errors import InputError, PackshotError
from packshot.pipeline.backends import Backend as PipelineBackend
from packshot.pipeline.backends import get_backend
from packshot.service import claims
from packshot.service.admission import PixelBudget, header_pixels
from packshot.service.errors import SolutionNotAvailableError, public_message
from packshot.service.inputs import ImageRef, fetch_image
from packshot.service.settings import Settings
from packshot.service.solutions import SOLUTIONS, RunRequest, RunResult, Solution
from packshot.service.storage import Storage
from packshot.service.store import Job, Review, Store, now
from packshot.service.webhooks import WebhookSender, add_event

logger = logging.getLogger(__name__)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def get_solution(name: str) -> Solution:
    solution = SOLUTIONS.get(name)
    if solution is None:
        raise InputError(f"Unknown solution {name!r}; solutions: {', '.join(SOLUTIONS)}.")
    if solution.handler is None:
        raise SolutionNotAvailableError(
            f"The solution {name!r} is not available in this build yet: it needs "
            f"{solution.pending}."
        )
    return solution


class Backend(Protocol):
    def start(self, claim: Callable[[], str | None], execute: Callable[[str], None]) -> None: ...
    def notify(self) -> None: ...
    def stop(self) -> None: ...


class LocalBackend:
    """``workers`` threads in the server process, each claiming the next queued job."""

    def __init__(self, workers: int, drain_s: float = 60.0) -> None:
        self.workers = workers
        self.drain_s = drain_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, claim: Callable[[], str | None], execute: Callable[[str], None]) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    job_id = claim()
                except Exception:
                    logger.exception("could not claim a job; retrying")
                    job_id = None
                if job_id is None:
                    self._wake.wait(timeout=0.5)
                    self._wake.clear()
                    continue
                execute(job_id)

        for n in range(self.workers):
            thread = threading.Thread(target=loop, name=f"packshot-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Claim nothing more; wait up to ``drain_s`` for the running jobs to finish."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + self.drain_s
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


class Heartbeat:
    """A thread calling ``beat`` every ``interval`` seconds until stopped."""

    def __init__(self, interval: float, beat: Callable[[], None]) -> None:
        self.interval = interval
        self._beat = beat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="packshot-leases", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._beat()
            except Exception:  # a database hiccup must not end the renewals
                logger.exception("could not renew leases; retrying")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def make_backend(settings: Settings) -> Backend:
    """The job threads that claim queued jobs (their images are processed by
    :class:`Compute`, in this process or on a Ray cluster)."""
    return LocalBackend(settings.workers, settings.drain_s)


# The hosted operations each solution stands for (solutions without a hosted peer: none).
HOSTED_OPERATIONS: dict[str, tuple[str, ...]] = {
    "background-removal": ("background-removal",),
    "product-isolation": ("product-isolation",),
    "background-color-fix": ("background-removal",),
    "replace-background": ("background-removal",),
    "smart-resize": ("smart-resize",),
}


def run_solution(request: RunRequest) -> RunResult:
    """Run the request's solution; its ``info`` gains ``compute`` (this process's CPU time
    and its cost beside the hosted price) and each output file its own share."""
    handler = get_solution(request.solution).handler
    assert handler is not None
    cpu0 = time.process_time()
    result = handler(request)
    cpu = time.process_time() - cpu0
    costs = [out.info.get("compute") for out in result.files]
    if costs and all(costs):
        # Outputs that carry their own figures (listing targets) are summed.
        result.info["compute"] = batch_cost(c for c in costs if c)
    else:
        operations = HOSTED_OPERATIONS.get(request.solution, ())
        result.info["compute"] = output_cost(cpu, operations)
    return result


def run_solution_remote(request: RunRequest) -> RunResult | tuple[str, str, int]:
    """:func:`run_solution` in another process: its result, or the error's (code, message,
    HTTP status) (a packshot error's class may not survive the trip back)."""
    try:
        return run_solution(request)
    except PackshotError as exc:
        return exc.code, str(exc), exc.http_status


class RemoteJobError(PackshotError):
    """A job's error as reported by the process that ran it."""

    def __init__(self, code: str, message: str, http_status: int = 500) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class Compute:
    """Runs :func:`run_solution`: here (``local``), or on a Ray cluster (``ray``) through
    the batch back-ends of :mod:`packshot.pipeline.backends`, one Ray actor per job thread
    (each thread owns its back-end: one job in flight per actor, models loaded once)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()
        self._lock = threading.Lock()
        self._backends: list[PipelineBackend] = []

    def _backend(self) -> PipelineBackend:
        backend: PipelineBackend | None = getattr(self._local, "backend", None)
        if backend is None:
            with self._lock:  # ray.init is process-wide: connect once, one thread at a time
                backend = get_backend(
                    self.settings.batch_backend,
                    address=self.settings.ray_address or None,
                    workers=1,
                )
                self._backends.append(backend)
            self._local.backend = backend
        return backend

    def run(self, request: RunRequest) -> RunResult:
        if self.settings.batch_backend == "local":
            return run_solution(request)
        [(_, finished)] = list(self._backend().map(run_solution_remote, [request]))
        if finished.value is None:
            raise RemoteJobError("worker_failed", f"the job's worker failed: {finished.error}")
        if isinstance(finished.value, tuple):
            raise RemoteJobError(*finished.value)
        return finished.value

    def close(self) -> None:
        with self._lock:
            for backend in self._backends:
                backend.close()
            self._backends.clear()


class Runner:
    """Creates jobs, runs them (inline for synchronous requests, or via the back-end)."""

    def __init__(self, settings: Settings, store: Store, storage: Storage, sender: WebhookSender):
        self.settings = settings
        self.store = store
        self.storage = storage
        self.sender = sender
        self.backend = make_backend(settings)
        self.compute = Compute(settings)
        # Caps pixels in flight across request threads and workers: memory stays bounded
        # however many clients connect and however large their images.
        self.admission = PixelBudget(settings.pixels_in_flight, settings.slots)
        self.heartbeat = Heartbeat(settings.lease_s / 3, self.beat)

    def start(self) -> int:
        """Start claiming jobs; returns how many interrupted jobs were found (SQLite)."""
        interrupted = claims.expire_all(self.store) if self.store.sqlite else 0
        self.fail_interrupted()
        self.heartbeat.start()
        self.backend.start(self.claim, self.execute)
        return interrupted

    def claim(self) -> str | None:
        return claims.claim_job(self.store, self.settings.lease_s)

    def beat(self) -> None:
        """Renew this server's leases, then fail synchronous jobs whose server died."""
        claims.renew(self.store, self.settings.lease_s)
        self.fail_interrupted()

    def fail_interrupted(self) -> None:
        with self.store.session() as s:
            for job in claims.interrupted_sync(s):
                self.finish_in(
                    s,
                    job,
                    "failed",
                    error=(
                        "interrupted",
                        "The server running this synchronous request stopped before it "
                        "finished, and its client got an error; send the request again "
                        "(or with async: true, which is resumed after a crash).",
                    ),
                )
        self.sender.notify()

    def stop(self) -> None:
        """Claim no more jobs; let the running ones finish (up to ``drain_s``)."""
        self.backend.stop()
        self.compute.close()

    def release(self) -> None:
        """After :meth:`stop` (and the webhook sender's): stop renewing, and hand what
        this server still holds to the other servers now rather than after the lease."""
        self.heartbeat.stop()
        released = claims.release(self.store)
        if released:
            logger.warning("released %d unfinished jobs to the other servers", released)

    def add_job(
        self,
        session: Session,
        solution: str,
        fields: dict[str, Any],
        images: dict[str, ImageRef],
        *,
        key_id: str | None,
        batch_id: str | None = None,
        position: int = 0,
        callback_url: str | None = None,
        state: str = "queued",
        ref: str | int | None = None,
    ) -> Job:
        job_id = new_id("job")
        refs: dict[str, dict[str, str]] = {}
        for role, image in images.items():
            if isinstance(image, bytes):
                self.storage.put_input(job_id, role, image)
                refs[role] = {"file": role}
            else:
                refs[role] = {"url": image}
        t = now()
        job = Job(
            id=job_id,
            batch_id=batch_id,
            position=position,
            key_id=key_id,
            solution=solution,
            params=json.dumps({"fields": fields, "images": refs, "ref": ref}),
            state=state,
            result=None,
            error_code=None,
            error_message=None,
            callback_url=callback_url,
            runs=1 if state == "running" else 0,
            synchronous=state == "running",
            created_at=t,
            updated_at=t,
        )
        if state == "running":
            claims.hold_new_job(self.store, job, self.settings.lease_s)
        session.add(job)
        return job

    def notify(self) -> None:
        self.backend.notify()

    # ------------------------------------------------------------------ one item

    def execute(self, job_id: str) -> None:
        """Run a claimed (``running``) job to its final state; never raises."""
        try:
            self.run(job_id)
        except PackshotError:
            return  # run() recorded it on the job

    def run(self, job_id: str) -> None:
        """Run a ``running`` job to its final state; re-raises its error after recording it."""
        try:
            with self.store.session() as s:
                job = s.get(Job, job_id)
                if job is None or not claims.holds_job(self.store, job):
                    return
                solution_name, params = job.solution, json.loads(job.params)
            get_solution(solution_name)  # refused before any input is fetched
            images = self._inputs(job_id, params["images"])
            pixels = sum(header_pixels(data) for data in images.values())
            with (
                self.admission.admit(pixels),
                tempfile.TemporaryDirectory(dir=self.settings.work_dir) as work,
            ):
                result = self.compute.run(
                    RunRequest(
                        solution=solution_name,
                        fields=params["fields"],
                        images=images,
                        work_dir=Path(work),
                        model=self.settings.model,
                        max_pixels=self.settings.max_pixels,
                    )
                )
            self._succeed(job_id, result)
        except PackshotError as exc:
            self.finish(job_id, "failed", error=(exc.code, public_message(str(exc))))
            raise
        except Exception as exc:  # one item never takes the server down
            logger.exception("job %s failed unexpectedly", job_id)
            message = f"Internal error while running the job ({type(exc).__name__})."
            self.finish(job_id, "failed", error=("internal_error", message))
            raise PackshotError(message) from exc

    def _inputs(self, job_id: str, refs: dict[str, dict[str, str]]) -> dict[str, bytes]:
        images: dict[str, bytes] = {}
        for role, ref in refs.items():
            if "file" in ref:
                images[role] = self.storage.read_input(job_id, ref["file"])
            else:
                data = fetch_image(ref["url"], role, self.settings)
                # Kept beside the job so the review page and re-runs see the same source.
                self.storage.put_input(job_id, role, data)
                images[role] = data
        return images

    def _succeed(self, job_id: str, result: RunResult) -> None:
        files = []
        held = []
        for out in result.files:
            self.storage.put_result(job_id, out.name, out.data)
            is_held = bool(out.gate and out.gate.get("verdict") == "hold")
            entry: dict[str, Any] = {
                "name": out.name,
                "media_type": out.media_type,
                "bytes": len(out.data),
                "held": is_held,
            }
            if out.gate is not None:
                entry["gate"] = out.gate
            if out.info:
                entry["info"] = out.info
            files.append(entry)
            if is_held:
                held.append(out)
        # Per-target errors (listing) may name files in the work folder.
        payload = json.loads(public_message(json.dumps({"files": files, "info": result.info})))
        reviews = [
            Review(
                id=new_id("rev"),
                job_id=job_id,
                output=out.name,
                source="image",
                gate=json.dumps(out.gate),
                state="held",
                rerun_job_id=None,
                created_at=now(),
                updated_at=now(),
            )
            for out in held
        ]
        self.finish(job_id, "held" if held else "done", result=payload, reviews=reviews)

    def finish(
        self,
        job_id: str,
        state: str,
        *,
        result: dict[str, Any] | None = None,
        error: tuple[str, str] | None = None,
        reviews: list[Review] | None = None,
    ) -> None:
        """Record a job's new state and, for a final one, its webhook event (one transaction),
        if this server still holds the job (else another server took it over: its result wins)."""
        with self.store.session() as s:
            job = s.get(Job, job_id, with_for_update=True)
            if job is None:
                return
            if not claims.holds_job(self.store, job):
                logger.warning(
                    "job %s was taken over by %s; dropping this result", job_id, job.owner
                )
                return
            for review in reviews or []:
                s.add(review)
            self.finish_in(s, job, state, result=result, error=error)
        self.sender.notify()

    def finish_in(
        self,
        s: Session,
        job: Job,
        state: str,
        *,
        result: dict[str, Any] | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        """:meth:`finish` inside the caller's transaction (call ``sender.notify()`` after)."""
        job.state = state
        job.updated_at = now()
        if state != "running":
            job.owner = job.lease_until = None
        if result is not None:
            job.result = json.dumps(result)
        if error is not None:
            job.error_code, job.error_message = error
        if state in ("done", "failed") and job.callback_url:
            add_event(s, job.id, state, job.callback_url, self.view(job))

    def view(self, job: Job, base_url: str | None = None) -> dict[str, Any]:
        """A job as the API shows it, with fresh signed links to its outputs."""
        data = job.as_dict()
        base = base_url or self.settings.public_url
        result = data.get("result")
        if base and result:
            for entry in result.get("files", []):
                if entry.get("expired"):
                    continue  # removed by the retention sweep
                if not entry.get("held") and entry.get("review") in (None, "approved"):
                    entry["url"] = self.storage.link(base, job.id, entry["name"])
        return data

    def copy_inputs(self, src_job: str, dst_job: str) -> None:
        src = self.storage.input_path(src_job, "image").parent
        if src.is_dir():
            dst = self.storage.input_path(dst_job, "image").parent
            shutil.copytree(src, dst, dirs_exist_ok=True)
