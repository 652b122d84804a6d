"""ONNX Runtime sessions: one per model per process, created once, shared by all threads.

Creating a session parses and optimises the graph (about a second for U-2-Net), so it is
done once and cached; ``InferenceSession.run`` is thread-safe, so threads share it.
Sessions run on the CPU provider with ``intra_op_num_threads`` from ``PACKSHOT_THREADS``
(else the CPUs this process may use) and one inter-op thread: batch workers parallelise
across images, so each session parallelises only inside operators.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from packshot.errors import InputError, ModelError
from packshot.models.registry import model_path

__all__ = ["THREADS_ENV", "clear_sessions", "session", "session_for_path", "thread_count"]

THREADS_ENV = "PACKSHOT_THREADS"

_sessions: dict[tuple[str, str], Any] = {}
_key_locks: dict[tuple[str, str], threading.Lock] = {}
_lock = threading.Lock()


def thread_count() -> int:
    """Threads per session: ``PACKSHOT_THREADS``, else the CPUs available to this process."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise InputError(f"{THREADS_ENV} must be a positive integer, not {raw!r}.")
        return value
    # The affinity mask, not os.cpu_count(): in a container or under taskset the machine's
    # CPU count overstates what we may use, and oversubscribed ORT threads spin and slow down.
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def session(name: str) -> Any:
    """The cached ``onnxruntime.InferenceSession`` for registered model ``name``.

    Resolves (and on first use installs) the weights through the registry.
    """
    key = ("model", name)
    cached = _sessions.get(key)
    if cached is not None:
        return cached
    with _lock_for(key):
        cached = _sessions.get(key)
        if cached is None:
            # Resolution (and a possible install) happens under this model's lock only, so
            # other models' sessions are not held up by a download.
            path = model_path(name)
            cached = _create(path, f"model {name!r}")
            _sessions[key] = cached
        return cached


def session_for_path(path: str | os.PathLike[str]) -> Any:
    """A cached session for an ONNX file given by path (user weights, tests)."""
    resolved = Path(path).expanduser().resolve()
    key = ("path", str(resolved))
    cached = _sessions.get(key)
    if cached is not None:
        return cached
    with _lock_for(key):
        cached = _sessions.get(key)
        if cached is None:
            cached = _create(resolved, f"ONNX file {resolved.name!r}")
            _sessions[key] = cached
        return cached


def clear_sessions() -> None:
    """Forget every cached session (frees their memory once no caller holds them)."""
    with _lock:
        _sessions.clear()
        _key_locks.clear()


def _lock_for(key: tuple[str, str]) -> threading.Lock:
    with _lock:
        lock = _key_locks.get(key)
        if lock is None:
            lock = _key_locks[key] = threading.Lock()
        return lock


def _create(path: Path, what: str) -> Any:
    # Imported here so that `import packshot.models` (e.g. `packshot models list`) stays fast.
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = thread_count()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Warnings such as "initializer appears in graph inputs" are noise for users.
    options.log_severity_level = 3
    if not path.is_file():
        raise ModelError(f"Cannot load {what}: {path} does not exist or is not a file.")
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # ORT raises its own pybind exception types, not a base class
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"Cannot load {what} from {path}: not a valid ONNX model for this ONNX Runtime "
            f"({detail})."
        ) from exc
