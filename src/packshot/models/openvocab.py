"""Open-vocabulary detection: the slot for an ONNX OWLv2 / GroundingDINO style detector.

No such model ships with packshot (none is obtainable offline here); a user registers one
in their catalog (``PACKSHOT_MODELS_CATALOG``) with ``task = "open-vocab-detect"`` and a
path or URL source, installs it with ``packshot models install NAME``, and product
isolation uses it before the closed-vocabulary models.

Graph contract (``io`` table of the registry entry):

* one image input, ``1 x 3 x size x size`` (``layout = "NCHW"``) or ``1 x size x size x 3``
  (``"NHWC"``), float32 RGB, ``x / scale`` then ``(x - mean) / std``;
* outputs, in order: boxes ``1 x N x 4`` and scores ``1 x N x C``;
* ``labels``: the C text queries the graph was exported with (OWLv2 exports bake their
  query embeddings in), one score column each;
* ``boxes``: ``"xyxy"`` or ``"cxcywh"`` (OWLv2's native form), normalised to 0..1;
* ``output``: ``"probability"`` (scores already 0..1) or ``"logits"`` (sigmoid applied here).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import InputError, ModelError
from packshot.models.detect import Detection, clip_box, nms
from packshot.models.family import ModelFamily
from packshot.models.registry import ModelSpec, is_installed, list_specs

TASK = "open-vocab-detect"

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]


class OpenVocabDetector(ModelFamily):
    """Boxes for a fixed set of text queries (``labels``), scored per query."""

    TASK = TASK

    def __init__(self, spec: ModelSpec) -> None:
        io = spec.io
        self.spec = spec
        self.size = int(io.get("size", 960))
        self.nhwc = str(io.get("layout", "NCHW")).upper() == "NHWC"
        self.scale = float(io.get("scale", 255.0))
        self.mean = np.asarray(io.get("mean", [0.0, 0.0, 0.0]), dtype=np.float32)
        self.std = np.asarray(io.get("std", [1.0, 1.0, 1.0]), dtype=np.float32)
        self.labels = tuple(str(label).lower() for label in io.get("labels", ()))
        if not self.labels:
            raise ModelError(f"open-vocabulary model {spec.name!r} lists no labels (its queries)")
        self.box_format = str(io.get("boxes", "xyxy"))
        if self.box_format not in ("xyxy", "cxcywh"):
            raise ModelError(f"model {spec.name!r}: boxes must be 'xyxy' or 'cxcywh'")
        self.logits = str(io.get("output", "probability")) == "logits"
        super().__init__(spec)

    def preprocess(self, rgb: ImageArray) -> FloatArray:
        if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
            raise InputError(f"expected a uint8 RGB image, got {rgb.dtype} of shape {rgb.shape}")
        x = cv2.resize(rgb[..., :3], (self.size, self.size), interpolation=cv2.INTER_AREA)
        xf = (x.astype(np.float32) / self.scale - self.mean) / self.std
        xf = xf if self.nhwc else xf.transpose(2, 0, 1)
        return np.ascontiguousarray(xf[None], dtype=np.float32)

    def run(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        outputs = self.infer_all(x)
        if len(outputs) < 2:
            raise ModelError(f"model {self.spec.name!r} must output boxes and scores")
        boxes = np.asarray(outputs[0], dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(outputs[1], dtype=np.float32).reshape(len(boxes), -1)
        if scores.shape[1] != len(self.labels):
            raise ModelError(
                f"model {self.spec.name!r} scores {scores.shape[1]} queries; its registry "
                f"entry lists {len(self.labels)} labels"
            )
        return boxes, scores

    def postprocess(
        self,
        boxes: FloatArray,
        scores: FloatArray,
        image_hw: tuple[int, int],
        min_score: float,
        iou: float = 0.5,
    ) -> list[Detection]:
        if self.logits:
            scores = (1.0 / (1.0 + np.exp(-scores))).astype(np.float32)
        if self.box_format == "cxcywh":
            centre, size = boxes[:, :2], boxes[:, 2:]
            boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        height, width = image_hw
        pixels = boxes * np.asarray([width, height, width, height], dtype=np.float32)
        detections: list[Detection] = []
        for c, label in enumerate(self.labels):
            column = scores[:, c]
            idx = np.flatnonzero(column >= min_score)
            for i in nms(pixels[idx], column[idx], iou):
                x0, y0, x1, y1 = (float(v) for v in pixels[idx[i]])
                box = clip_box(x0, y0, x1, y1, width, height)
                if box is not None:
                    detections.append(Detection(box, label, float(column[idx[i]]), self.spec.name))
        return sorted(detections, key=lambda d: -d.score)

    def detect(self, rgb: ImageArray, min_score: float = 0.3) -> list[Detection]:
        boxes, scores = self.run(self.preprocess(rgb))
        return self.postprocess(boxes, scores, rgb.shape[:2], min_score)


def installed_open_vocab() -> OpenVocabDetector | None:
    """The first registered open-vocabulary detector that is installed, else None.

    Never installs anything: the slot is opt-in, used only when the user has put a model
    there.
    """
    for spec in list_specs(TASK):
        if is_installed(spec.name):
            return OpenVocabDetector.load(spec.name)
    return None
