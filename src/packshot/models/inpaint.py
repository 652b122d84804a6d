"""Neural inpainting back-ends (LaMa, MI-GAN, ... exported to ONNX) behind one class.

A network is a :class:`~packshot.ops.inpaint.Filler`: :func:`packshot.ops.inpaint.inpaint`
hands it the crop around the hole and keeps only the hole pixels of what it returns, so a
network can never change the rest of the photo.

Models are chosen by name from the registry (task ``inpainting``; weights from a path, a
URL, a mirror or a package, verified like every model) or given as an ``.onnx`` path. The
conventions are read from the registry entry's ``io`` table, with defaults that fit the
common LaMa export (``image`` 1x3xHxW float 0..1, ``mask`` 1x1xHxW float, 1 = hole,
output 1x3xHxW in 0..255)::

    [models.lama.io]
    size = 512            # fixed square input side; 0 = any size, padded to `multiple`
    multiple = 8          # with size 0: pad height and width up to a multiple of this
    scale = 255.0         # image / scale is fed (1.0 feeds 0..255)
    dtype = "float32"     # input dtype: "float32" or "uint8"
    mask_hole = 1.0       # the mask's value on hole pixels (0 elsewhere)
    blank_hole = true     # zero the hole's pixels in the image input
    output_scale = 1.0    # output x output_scale is 0..255 (255.0 for a 0..1 output)
    image_input = "image" # input names (default: the first input, the second input)
    mask_input = "mask"
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError, ModelError
from packshot.models.registry import get_spec, is_installed, list_specs
from packshot.models.runtime import session, session_for_path

__all__ = ["INPAINT_TASK", "NeuralInpainter", "default_inpainter", "neural_inpainter"]

INPAINT_TASK = "inpainting"

ImageArray = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float32]


class NeuralInpainter:
    """One inpainting network: ``fill(rgb, hole)`` returns ``rgb`` with the hole repainted."""

    def __init__(self, name: str, sess: Any, io: Mapping[str, Any]) -> None:
        self._name = name
        self._session = sess
        inputs = sess.get_inputs()
        if len(inputs) < 2:
            raise ModelError(
                f"inpainting model {name!r} has {len(inputs)} input(s); it needs an image "
                "and a mask input"
            )
        names = [i.name for i in inputs]
        self.image_input = str(io.get("image_input", names[0]))
        self.mask_input = str(io.get("mask_input", names[1]))
        for which in (self.image_input, self.mask_input):
            if which not in names:
                raise ModelError(
                    f"inpainting model {name!r} has no input {which!r} (inputs: "
                    f"{', '.join(names)}); fix image_input/mask_input in its io table"
                )
        self.size = int(io.get("size", 0))
        self.multiple = max(1, int(io.get("multiple", 8)))
        self.scale = float(io.get("scale", 255.0))
        self.dtype = np.dtype(str(io.get("dtype", "float32")))
        self.mask_hole = float(io.get("mask_hole", 1.0))
        self.blank_hole = bool(io.get("blank_hole", True))
        self.output_scale = float(io.get("output_scale", 1.0))
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def _preprocess(self, rgb: ImageArray, hole: BoolArray) -> tuple[dict[str, Any], int, int]:
        h, w = hole.shape
        if self.size > 0:
            th = tw = self.size
            img = cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA)
            msk = cv2.resize(hole.astype(np.uint8), (tw, th), interpolation=cv2.INTER_NEAREST)
        else:
            th = -(-h // self.multiple) * self.multiple
            tw = -(-w // self.multiple) * self.multiple
            img = cv2.copyMakeBorder(rgb, 0, th - h, 0, tw - w, cv2.BORDER_REFLECT_101)
            msk = np.pad(hole.astype(np.uint8), ((0, th - h), (0, tw - w)))
        x = np.asarray(img, np.float32) / np.float32(self.scale)
        m = np.asarray(msk, np.float32)
        if self.blank_hole:
            x = x * (1.0 - m[..., None])
        feeds = {
            self.image_input: np.ascontiguousarray(x.transpose(2, 0, 1)[None]).astype(self.dtype),
            self.mask_input: np.ascontiguousarray((m * self.mask_hole)[None, None]).astype(
                self.dtype
            ),
        }
        return feeds, th, tw

    def _run(self, feeds: dict[str, Any]) -> FloatArray:
        with self._lock:
            outputs = self._session.run(None, feeds)
        return np.asarray(outputs[0], dtype=np.float32)

    def _postprocess(self, raw: FloatArray, th: int, tw: int, h: int, w: int) -> ImageArray:
        if raw.shape != (1, 3, th, tw):
            raise ModelError(
                f"inpainting model {self._name!r} returned shape {raw.shape}; expected "
                f"(1, 3, {th}, {tw})"
            )
        out = raw[0].transpose(1, 2, 0) * np.float32(self.output_scale)
        if self.size > 0:
            out = np.asarray(cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC), np.float32)
        else:
            out = out[:h, :w]
        return np.asarray(np.clip(np.rint(out), 0, 255), dtype=np.uint8)

    def fill(self, rgb: ImageArray, hole: BoolArray) -> ImageArray:
        """``rgb`` (uint8 HxWx3) with the ``hole`` pixels replaced by the network's."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise InputError(f"inpainting needs a uint8 HxWx3 image, got {rgb.dtype} {rgb.shape}")
        h, w = hole.shape
        feeds, th, tw = self._preprocess(rgb, hole)
        painted = self._postprocess(self._run(feeds), th, tw, h, w)
        out = rgb.copy()
        out[hole] = painted[hole]
        return out


_CACHE: dict[str, NeuralInpainter] = {}
_CACHE_LOCK = threading.Lock()


def neural_inpainter(model: str, io: Mapping[str, Any] | None = None) -> NeuralInpainter:
    """The network ``model``: a registered ``inpainting`` model name, or an ``.onnx`` path
    (then ``io`` gives its conventions, defaults as in the module docstring)."""
    with _CACHE_LOCK:
        cached = _CACHE.get(model)
        if cached is not None and io is None:
            return cached
        if model.endswith(".onnx") or Path(model).expanduser().is_file():
            inp = NeuralInpainter(Path(model).name, session_for_path(model), io or {})
        else:
            spec = get_spec(model)
            if spec.task != INPAINT_TASK:
                raise InputError(f"model {model!r} is a {spec.task} model, not {INPAINT_TASK}")
            inp = NeuralInpainter(spec.name, session(spec.name), io or spec.io)
        _CACHE[model] = inp
        return inp


def default_inpainter() -> NeuralInpainter | None:
    """The registered inpainting network to use when none is named: the task's default
    (else the first registered) when its weights are installed; None means PatchMatch."""
    specs = [s for s in list_specs(INPAINT_TASK) if not s.opt_in]
    specs.sort(key=lambda s: s.default_for != INPAINT_TASK)
    for spec in specs:
        if is_installed(spec.name):
            return neural_inpainter(spec.name)
    return None
