"""The one per-item pipeline: pixels and a recipe in, every target's bytes, verdict and
provenance out; the batch (files) and the HTTP service (bytes) are edges around it."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from packshot.imageio import load_image
from packshot.pipeline.listing import process_source, run_item
from packshot.pipeline.sources import Source
from packshot.pipeline.steps import StepCall
from packshot.presets import get_preset
from servicekit import photo_bytes

TEST_MODEL = "u2netp"
MARKETS = ("amazon-main", "etsy")


@pytest.fixture(scope="module")
def photo() -> bytes:
    return photo_bytes("product")


def _pixels(data: bytes) -> np.ndarray:
    return load_image(data, label="photo").pixels


def test_every_target_comes_from_pixels_without_a_file(
    real_models: Path, photo: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    presets = [get_preset(m) for m in MARKETS]
    item = run_item(_pixels(photo), presets, model=TEST_MODEL, ocr=False, fields={"alt": "Bag"})
    assert item.error is None
    assert [t.preset.name for t in item.targets] == list(MARKETS)
    for out, preset in zip(item.targets, presets, strict=True):
        assert out.error is None and out.state in ("done", "held")
        assert out.data is not None and out.gate is not None
        with Image.open(io.BytesIO(out.data)) as im:
            assert im.size == (preset.width, preset.height)
            assert im.format == preset.format
        assert out.info["gate"]["verdict"] == out.gate.verdict
        assert out.info["alt"] == "Bag" and out.info["model"] == TEST_MODEL
        assert out.info["compute"]["cpu_s"] > 0
    assert os.listdir(tmp_path) == []  # nothing written: I/O is the callers'


def test_the_batch_writes_exactly_what_the_item_made(
    real_models: Path, photo: bytes, tmp_path: Path
) -> None:
    source = tmp_path / "BAG.jpg"
    source.write_bytes(photo)
    presets = [get_preset(m) for m in MARKETS]
    records = process_source(Source("BAG", str(source)), presets, tmp_path / "out", TEST_MODEL)
    item = run_item(_pixels(photo), presets, model=TEST_MODEL)
    for rec, out in zip(records, item.targets, strict=True):
        assert rec.state == out.state and rec.output is not None
        assert Path(rec.output).read_bytes() == out.data
        assert rec.info["gate"] == out.info["gate"]


def test_a_failed_step_fails_every_target_with_its_reason(
    real_models: Path, tmp_path: Path
) -> None:
    steps = [StepCall.resolved("product-isolation", {"prompt": "the bicycle"})]
    presets = [get_preset(m) for m in MARKETS]
    item = run_item(
        _pixels(photo_bytes("coffee")), presets, model=TEST_MODEL, steps=steps, label="CUP"
    )
    assert item.error is not None and "bicycle" in item.error
    assert [t.state for t in item.targets] == ["failed", "failed"]
    assert all(t.error == item.error and t.data is None for t in item.targets)
