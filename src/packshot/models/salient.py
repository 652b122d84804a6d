"""Salient-object segmentation: U-2-Net and IS-Net families.

One class per family interface: preprocess, run, postprocess, nothing else. The network's
input size and normalisation come from the model's registry entry (``io`` table), so a
user who registers other weights of the same family by path gets them without code.

Views: a model may run on the image as is (``plain``) or mirrored (``flip``: predicted on
the mirrored image and mirrored back). Averaging views of one or more models is a cheap,
measured accuracy gain (see benchmarks/cutout.py): mirrored views fix many of U-2-Net's
half-object mistakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError
from packshot.models.family import ModelFamily
from packshot.models.registry import ModelSpec, get_spec

View = Literal["plain", "flip"]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Member:
    """One model run on one view, as part of an ensemble."""

    model: str
    view: View = "plain"


@dataclass(frozen=True)
class Ensemble:
    """A named set of members whose probability maps are averaged."""

    name: str
    members: tuple[Member, ...]
    description: str
    # A member run first on the whole image to find the object; when the object covers
    # little of the frame, the other members then see a padded crop around it, so the
    # 320 px networks spend their pixels on its edge instead of on the backdrop.
    locator: Member | None = None


# The names users pass as --model. A registry model name on its own is also accepted and
# means that model's plain view. Chosen on the dev set (benchmarks/cutout.py): averaging
# U-2-Net with U-2-Net-p costs 1.4 U-2-Net passes and gains about 5 points of product IoU;
# adding a mirrored U-2-Net pass ("u2net-best") gains one more point for another pass.
ENSEMBLES: dict[str, Ensemble] = {
    e.name: e
    for e in (
        Ensemble(
            "u2net",
            (Member("u2net"), Member("u2netp")),
            "U-2-Net averaged with U-2-Net-p (default, Apache-2.0)",
            locator=Member("u2netp"),
        ),
        Ensemble(
            "u2net-best",
            (Member("u2net"), Member("u2net", "flip"), Member("u2netp")),
            "the default plus a mirrored U-2-Net pass (slower, Apache-2.0)",
        ),
        Ensemble("u2net-fast", (Member("u2net"),), "one U-2-Net pass (Apache-2.0)"),
        Ensemble("u2netp", (Member("u2netp"),), "U-2-Net-p only (4.6 MB, rougher, Apache-2.0)"),
        Ensemble("isnet", (Member("isnet"),), "IS-Net / DIS at 1024 px (AGPL-3.0, opt-in)"),
        Ensemble(
            "isnet+u2net",
            (Member("isnet"), Member("u2net"), Member("u2netp")),
            "IS-Net averaged with the default (AGPL-3.0 through IS-Net, opt-in)",
        ),
    )
}
DEFAULT_ENSEMBLE = "u2net"


def resolve_ensemble(name: str) -> Ensemble:
    """An ensemble by name, or a single registered salient model's plain view."""
    if name in ENSEMBLES:
        return ENSEMBLES[name]
    spec = get_spec(name)  # raises UnknownModelError listing the registered names
    if spec.task != "salient-segmentation":
        raise InputError(
            f"model {name!r} is a {spec.task} model, not a background-removal model; "
            f"choose one of: {', '.join(sorted(ENSEMBLES))}"
        )
    return Ensemble(name, (Member(name),), spec.description)


class SalientModel(ModelFamily):
    """A salient-object network: image in, foreground probability (0..1) out."""

    TASK = "salient-segmentation"

    def __init__(self, spec: ModelSpec) -> None:
        io = spec.io
        self.spec = spec
        self.size = int(io.get("size", 320))
        self.mean = np.asarray(io.get("mean", [0.485, 0.456, 0.406]), dtype=np.float32)
        self.std = np.asarray(io.get("std", [0.229, 0.224, 0.225]), dtype=np.float32)
        # "max": divide by the image's own maximum first (U-2-Net's training transform);
        # a number: divide by it (1.0 for IS-Net as exported by IMG.LY, which normalises
        # raw 0..255 values with mean 128 and std 256).
        scale = io.get("scale", "max")
        self.scale: float | None = None if scale == "max" else float(scale)
        # U-2-Net's first output is a sigmoid already; min-max stretching it (as rembg
        # does) turns an empty background's noise into foreground, so it is opt-in.
        self.minmax = io.get("output", "probability") == "minmax"
        super().__init__(spec)
        # A graph with a fixed input size wins over the registry's nominal size.
        self.hw = _fixed_hw(self._session.get_inputs()[0].shape) or (self.size, self.size)

    def preprocess(self, rgb: npt.NDArray[np.uint8], hw: tuple[int, int]) -> FloatArray:
        x = cv2.resize(rgb[..., :3], (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
        xf = x.astype(np.float32)
        xf /= max(float(xf.max()), 1e-6) if self.scale is None else self.scale
        xf = (xf - self.mean) / self.std
        return np.ascontiguousarray(xf.transpose(2, 0, 1)[None], dtype=np.float32)

    def predict(self, rgb: npt.NDArray[np.uint8], view: View = "plain") -> FloatArray:
        """Probability map at the network's resolution (not the image's)."""
        if rgb.ndim != 3 or rgb.shape[2] < 3:
            raise InputError(f"expected an RGB image, got an array of shape {rgb.shape}")
        x = self.preprocess(rgb, self.hw)
        if view == "flip":
            x = np.ascontiguousarray(x[..., ::-1])
        out = self.infer(x)
        prob = np.asarray(out, dtype=np.float32).reshape(out.shape[-2:])
        if view == "flip":
            prob = prob[:, ::-1]
        if self.minmax:
            lo, hi = float(prob.min()), float(prob.max())
            prob = (prob - lo) / max(hi - lo, 1e-6)
        return np.clip(prob, 0.0, 1.0).astype(np.float32)


def _fixed_hw(shape: Sequence[object]) -> tuple[int, int] | None:
    """The (H, W) a graph insists on, or None when its spatial dims are symbolic."""
    if len(shape) == 4 and isinstance(shape[2], int) and isinstance(shape[3], int):
        return (shape[2], shape[3])
    return None


def salient_model(name: str) -> SalientModel:
    """The per-process instance of a registered salient model on its engine."""
    return SalientModel.load(name)


# Zoom onto the object only when its padded box is at most this share of the frame (the
# crop then gives the networks >= 1.7x more pixels on the object); measured on the dev
# set's studio car photos (boxes 0.3-0.55 of the frame): vehicle boundary IoU 0.890 ->
# 0.896 at the same cost, while product shots (boxes 0.6-1.0) are unchanged.
ZOOM_MAX_AREA = 0.6
ZOOM_PAD_FRAC = 0.05
ZOOM_MAX_ASPECT = 2.0


def predict_probability(rgb: npt.NDArray[np.uint8], ensemble: Ensemble) -> FloatArray:
    """Mean foreground probability of the ensemble's members, at the image's resolution."""
    height, width = rgb.shape[:2]
    locator = ensemble.locator
    if locator is None or locator not in ensemble.members:
        return _mean_probability(rgb, [_predict(rgb, m) for m in ensemble.members])
    located = _predict(rgb, locator)
    others = [m for m in ensemble.members if m != locator]
    located_full = _resize(located, height, width)
    box = zoom_box(located_full >= 0.5, max(salient_model(locator.model).hw))
    if box is None:
        probs = [located if m == locator else _predict(rgb, m) for m in ensemble.members]
        return _mean_probability(rgb, probs)
    crop = np.ascontiguousarray(rgb[box])
    zoomed = _mean_probability(crop, [_predict(crop, m) for m in others])
    # Inside the crop the locator's whole-image view counts as one member among the rest.
    weight = float(len(others))
    located_full[box] = (located_full[box] + weight * zoomed) / (1.0 + weight)
    return np.clip(located_full, 0.0, 1.0).astype(np.float32)


def zoom_box(mask: npt.NDArray[np.bool_], min_side: int = 0) -> tuple[slice, slice] | None:
    """The padded crop around ``mask``'s object worth a closer look, or None when the
    object already fills much of the frame, when the crop's long side is under
    ``min_side`` (the network's input: a closer look would only upsample), or when there
    is no object.

    The crop is widened along its short side to at most ``ZOOM_MAX_ASPECT``: the 320 px
    square input then stretches a long object less than its bare box would.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    height, width = mask.shape
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    pad = round(ZOOM_PAD_FRAC * max(y1 - y0, x1 - x0))
    y0, y1, x0, x1 = y0 - pad, y1 + pad, x0 - pad, x1 + pad
    box_h, box_w = y1 - y0, x1 - x0
    if box_w > ZOOM_MAX_ASPECT * box_h:
        grow = (round(box_w / ZOOM_MAX_ASPECT) - box_h) // 2
        y0, y1 = y0 - grow, y1 + grow
    elif box_h > ZOOM_MAX_ASPECT * box_w:
        grow = (round(box_h / ZOOM_MAX_ASPECT) - box_w) // 2
        x0, x1 = x0 - grow, x1 + grow
    y0, y1, x0, x1 = max(0, y0), min(height, y1), max(0, x0), min(width, x1)
    if (y1 - y0) * (x1 - x0) > ZOOM_MAX_AREA * height * width:
        return None
    if max(y1 - y0, x1 - x0) < min_side or min(y1 - y0, x1 - x0) < 2:
        return None
    return slice(y0, y1), slice(x0, x1)


def _predict(rgb: npt.NDArray[np.uint8], member: Member) -> FloatArray:
    return salient_model(member.model).predict(rgb, member.view)


def _mean_probability(rgb: npt.NDArray[np.uint8], probs: Sequence[FloatArray]) -> FloatArray:
    """The mean of network-resolution maps, resized to ``rgb``'s resolution."""
    height, width = rgb.shape[:2]
    probs = list(probs)
    if len({p.shape for p in probs}) > 1:
        # Members of different input sizes are averaged at the image's resolution.
        probs = [_resize(p, height, width) for p in probs]
    mean = np.asarray(np.mean(probs, axis=0), dtype=np.float32)
    full = _resize(mean, height, width)
    return np.clip(full, 0.0, 1.0).astype(np.float32)


def _resize(prob: FloatArray, height: int, width: int) -> FloatArray:
    out = cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.asarray(out, dtype=np.float32)
