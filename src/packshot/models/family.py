"""What every model family shares: a registered model loaded once per process.

A family (salient segmentation, object detection, localization, human parsing, VOC
segmentation, text detection, super-resolution) is a class that reads its spec's ``io``
table and turns pixels into the network's tensor and back. Loading is the same for all of
them and lives here, so it cannot drift: the name (or the registry's default for the
family's task) is resolved, a model of another task is refused with its name, the session
is created by the runtime on the engine the registry chooses, the graph must take one image
input, and the instance is kept per model and engine (a user may switch engines between
images) behind one lock (two threads asking at once load a model once).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, ClassVar, Self

from packshot.errors import InputError, ModelError
from packshot.models.registry import ModelSpec, default_model, get_spec
from packshot.models.runtime import engine_of, session

__all__ = ["ModelFamily"]


class ModelFamily:
    """Base of the model families: ``TASK`` names the registry task it serves."""

    TASK: ClassVar[str]

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self._session = session(spec.name)
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"model {spec.name!r} has {len(inputs)} inputs; expected one image")
        self._input: str = inputs[0].name
        # Only the first output unless a family asks for all: some graphs also expose side
        # outputs and feature maps that need not be materialised.
        self._output: str = self._session.get_outputs()[0].name

    def infer(self, x: Any) -> Any:
        """The network's first output for the tensor ``x``."""
        return self._session.run([self._output], {self._input: x})[0]

    def infer_all(self, x: Any) -> Sequence[Any]:
        """Every output of the network for ``x``, in the graph's order."""
        return list(self._session.run(None, {self._input: x}))

    @classmethod
    def load(cls, name: str | None = None) -> Self:
        """The per-process instance of the model ``name`` (default: the registry's
        default model for ``TASK``).

        Raises:
            InputError: ``name`` is a model of another task.
        """
        spec = default_model(cls.TASK) if name is None else get_spec(name)
        if spec.task != cls.TASK:
            raise InputError(f"model {spec.name!r} is a {spec.task} model, not a {cls.TASK} model")
        key = (cls, spec.name, engine_of(spec.name).label)
        with _LOCK:
            found = _LOADED.get(key)
            if found is None:
                found = _LOADED[key] = cls(spec)
        assert isinstance(found, cls)
        return found


_LOADED: dict[tuple[type[ModelFamily], str, str], ModelFamily] = {}
_LOCK = threading.RLock()
