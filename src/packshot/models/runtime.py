"""Inference sessions: one per model, engine and precision per process, shared by threads.

Two engines sit behind one interface (``get_inputs()``, ``get_outputs()``, ``run(names,
feeds)``, the ONNX Runtime session's): ONNX Runtime, and OpenVINO, which reads the same
ONNX files and on CPUs with AVX-512 BF16 runs U-2-Net in bf16 at well under half ONNX
Runtime's fp32 time (benchmarks/cutout.py measures each engine). Which engine
and precision a model uses is the registry's data (``engine`` and ``precision`` in
catalog.toml), overridable by the user with ``PACKSHOT_ENGINE`` (or ``--engine``):

* ``onnxruntime`` / ``openvino`` / ``openvino:f32`` / ``openvino:bf16``: every model;
* ``u2net=openvino:f32,u2netp=onnxruntime``: per model (items without ``=`` apply to all).

Falling back is explicit and recorded (:func:`engine_of`): OpenVINO not installed ->
ONNX Runtime fp32; bf16 asked for on a CPU without native bf16 (or on ONNX Runtime, whose
CPU provider has none) -> fp32. OpenVINO is told its precision every time, since on a
bf16 CPU it would otherwise pick bf16 on its own.

Creating a session parses and optimises the graph (about a second for U-2-Net), so it is
done once and cached. Threads come from ``PACKSHOT_THREADS`` (else the CPUs this process
may use), one stream, one inter-op thread: batch workers parallelise across images.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from packshot.errors import InputError, ModelError
from packshot.models.catalog import ENGINES, PRECISIONS, get_spec
from packshot.models.registry import model_path

__all__ = [
    "ENGINE_ENV",
    "THREADS_ENV",
    "Engine",
    "clear_sessions",
    "engine_of",
    "openvino_available",
    "parse_engines",
    "requested_engine",
    "session",
    "session_for_path",
    "thread_count",
]

THREADS_ENV = "PACKSHOT_THREADS"
ENGINE_ENV = "PACKSHOT_ENGINE"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Engine:
    """What a session runs on: ``backend`` and ``precision``, and why when that is not
    what was asked for (``fallback``)."""

    backend: str
    precision: str
    fallback: str | None = None

    @property
    def label(self) -> str:
        return f"{self.backend}:{self.precision}"


_sessions: dict[tuple[str, str, str], Any] = {}
_key_locks: dict[tuple[str, str, str], threading.Lock] = {}
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
    # CPU count overstates what we may use, and oversubscribed threads spin and slow down.
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def parse_engines(raw: str) -> dict[str | None, tuple[str, str | None]]:
    """``PACKSHOT_ENGINE``'s value as {model or None (all): (backend, precision or None)}."""
    choices: dict[str | None, tuple[str, str | None]] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        model, _, choice = item.rpartition("=")
        backend, _, precision = choice.strip().partition(":")
        backend, precision = backend.strip(), precision.strip()
        if backend not in ENGINES or (precision and precision not in PRECISIONS):
            raise InputError(
                f"{ENGINE_ENV}: {item!r} is not an engine choice; use ENGINE[:PRECISION] "
                f"or MODEL=ENGINE[:PRECISION] with ENGINE one of {', '.join(ENGINES)} "
                f"and PRECISION one of {', '.join(PRECISIONS)}, comma-separated"
            )
        choices[model.strip() or None] = (backend, precision or None)
    return choices


def requested_engine(name: str | None) -> tuple[str, str]:
    """The (backend, precision) asked for model ``name`` (None: a file given by path):
    the user's ``PACKSHOT_ENGINE`` over the registry entry's own choice."""
    if name is None:
        backend, precision = "onnxruntime", "f32"
    else:
        spec = get_spec(name)
        backend, precision = spec.engine, spec.precision
    choices = parse_engines(os.environ.get(ENGINE_ENV, ""))
    chosen = choices.get(name) if name is not None and name in choices else choices.get(None)
    if chosen is not None:
        # A back-end named without a precision runs in fp32 unless the registry's
        # precision was meant for that very back-end.
        same = chosen[0] == backend
        backend, precision = chosen[0], chosen[1] or (precision if same else "f32")
    return backend, precision


@cache
def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


@cache
def _cpu_has_bf16() -> bool:
    import openvino as ov

    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "BF16" in capabilities


def resolve_engine(backend: str, precision: str) -> Engine:
    """What (backend, precision) can run here, with the reason for any fallback."""
    if backend == "openvino" and not openvino_available():
        return Engine("onnxruntime", "f32", "OpenVINO is not installed (pip install openvino)")
    if precision == "bf16" and backend == "onnxruntime":
        return Engine("onnxruntime", "f32", "ONNX Runtime's CPU provider has no bf16 kernels")
    if precision == "bf16" and not _cpu_has_bf16():
        return Engine("openvino", "f32", "this CPU has no native bf16 (AVX-512 BF16 / AMX)")
    return Engine(backend, precision)


def session(name: str) -> Any:
    """The cached session for registered model ``name`` on its engine (:func:`engine_of`).

    Resolves (and on first use installs) the weights through the registry.
    """
    engine = resolve_engine(*requested_engine(name))
    key = ("model", name, engine.label)
    cached = _sessions.get(key)
    if cached is not None:
        return cached
    with _lock_for(key):
        cached = _sessions.get(key)
        if cached is None:
            if engine.fallback:
                log.info("model %s runs on %s: %s", name, engine.label, engine.fallback)
            # Resolution (and a possible install) happens under this model's lock only, so
            # other models' sessions are not held up by a download.
            path = model_path(name)
            cached = _create(path, f"model {name!r}", engine)
            _sessions[key] = cached
        return cached


def engine_of(name: str) -> Engine:
    """The engine :func:`session` gives model ``name`` now (the user's choice may change)."""
    return resolve_engine(*requested_engine(name))


def session_for_path(path: str | os.PathLike[str]) -> Any:
    """A cached session for an ONNX file given by path (user weights, tests)."""
    resolved = Path(path).expanduser().resolve()
    engine = resolve_engine(*requested_engine(None))
    key = ("path", str(resolved), engine.label)
    cached = _sessions.get(key)
    if cached is not None:
        return cached
    with _lock_for(key):
        cached = _sessions.get(key)
        if cached is None:
            cached = _create(resolved, f"ONNX file {resolved.name!r}", engine)
            _sessions[key] = cached
        return cached


def clear_sessions() -> None:
    """Forget every cached session (frees their memory once no caller holds them)."""
    with _lock:
        _sessions.clear()
        _key_locks.clear()


def _lock_for(key: tuple[str, str, str]) -> threading.Lock:
    with _lock:
        lock = _key_locks.get(key)
        if lock is None:
            lock = _key_locks[key] = threading.Lock()
        return lock


def _create(path: Path, what: str, engine: Engine) -> Any:
    if not path.is_file():
        raise ModelError(f"Cannot load {what}: {path} does not exist or is not a file.")
    try:
        if engine.backend == "openvino":
            return OpenVinoSession(path, engine.precision)
        return _onnxruntime_session(path)
    except Exception as exc:  # both engines raise their own pybind types, not a base class
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"Cannot load {what} from {path}: not a valid ONNX model for {engine.backend} "
            f"({detail})."
        ) from exc


def _onnxruntime_session(path: Path) -> Any:
    # Imported here so that `import packshot.models` (e.g. `packshot models list`) stays fast.
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = thread_count()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Warnings such as "initializer appears in graph inputs" are noise for users.
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class Port:
    """An input or output as ONNX Runtime describes it: name and shape (None: dynamic)."""

    name: str
    shape: tuple[int | None, ...]


class OpenVinoSession:
    """An OpenVINO compiled model with ONNX Runtime's session interface.

    A compiled model is thread-safe but one infer request is not: each thread gets its own.
    """

    def __init__(self, path: Path, precision: str) -> None:
        import openvino as ov

        core = ov.Core()
        config = {
            "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": thread_count(),
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
        }
        self._compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self._inputs = [_port(p) for p in self._compiled.inputs]
        self._outputs = [_port(p) for p in self._compiled.outputs]
        self._local = threading.local()

    def get_inputs(self) -> list[Port]:
        return list(self._inputs)

    def get_outputs(self) -> list[Port]:
        return list(self._outputs)

    def run(self, output_names: Sequence[str] | None, feeds: Mapping[str, Any]) -> list[Any]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        results = request.infer(dict(feeds))
        names = [p.name for p in self._outputs] if output_names is None else output_names
        by_name = {p.name: i for i, p in enumerate(self._outputs)}
        values = list(results.values())
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ModelError(f"no output named {missing[0]!r} (outputs: {', '.join(by_name)})")
        return [values[by_name[n]] for n in names]


def _port(port: Any) -> Port:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    return Port(port.get_any_name(), shape)
