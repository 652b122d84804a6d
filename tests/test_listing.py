"""Listings end to end with the real small model: outputs per preset, failures alone, resume."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import TEST_MODEL, ProductPhoto
from packshot.imageio import load_image
from packshot.pipeline.listing import run_listing
from packshot.pipeline.manifest import MANIFEST_NAME, Manifest
from packshot.presets import parse_preset_names

pytestmark = pytest.mark.usefixtures("real_models")


def _photos(folder: Path, photo_factory, count: int) -> list[Path]:  # type: ignore[no-untyped-def]
    folder.mkdir(parents=True, exist_ok=True)
    return [
        photo_factory(360, 480, seed=i).save_jpeg(folder / f"sku{i:02d}.jpg") for i in range(count)
    ]


def test_white_presets_are_pure_white_filled_and_sized(
    tmp_path: Path, product_photo: ProductPhoto
) -> None:
    src = product_photo.save_jpeg(tmp_path / "bottle.jpg")
    presets = parse_preset_names("amazon-main,shopify")
    records = run_listing([src], presets, tmp_path / "out", model=TEST_MODEL, workers=1)
    assert [(r.target, r.ok) for r in records] == [("amazon-main", True), ("shopify", True)]
    amazon = next(r for r in records if r.target == "amazon-main")
    assert amazon.output is not None and amazon.output.endswith("bottle/amazon-main.jpg")
    pixels = load_image(amazon.output).pixels
    assert pixels.shape == (2000, 2000, 3)
    assert amazon.info["fill"] >= 0.85
    # Pure white outside the product when decoded: whole rows/columns beyond its box.
    rows = np.flatnonzero((pixels < 250).any(axis=(1, 2)))
    cols = np.flatnonzero((pixels < 250).any(axis=(0, 2)))
    assert (pixels[: rows[0] - 8] == 255).all() and (pixels[rows[-1] + 9 :] == 255).all()
    assert (pixels[:, : cols[0] - 8] == 255).all() and (pixels[:, cols[-1] + 9 :] == 255).all()
    shopify = next(r for r in records if r.target == "shopify")
    assert load_image(shopify.output or "").pixels.shape == (2048, 2048, 3)


def test_keep_background_preset_extends_and_records_method(
    tmp_path: Path, product_photo: ProductPhoto
) -> None:
    src = product_photo.save_jpeg(tmp_path / "bottle.jpg")
    [rec] = run_listing(
        [src], parse_preset_names("etsy"), tmp_path / "out", model=TEST_MODEL, workers=1
    )
    assert rec.ok, rec.error
    assert load_image(rec.output or "").pixels.shape == (2025, 2700, 3)
    assert rec.info["method"] and "synthesized_share" in rec.info


def test_a_source_that_cannot_be_extended_is_held_not_failed(
    tmp_path: Path, product_photo: ProductPhoto
) -> None:
    """A product spanning the photo's full width cannot be widened to Etsy's 4:3 without
    continuing it: the target is still made (the photo on its own blurred backdrop) and
    held with the reason, never a failed output."""
    from PIL import Image

    cols = np.flatnonzero(product_photo.mask.any(axis=0))
    src = tmp_path / "tight.png"  # cropped to the bottle's sides: it touches both
    Image.fromarray(np.ascontiguousarray(product_photo.rgb[:, cols[0] + 12 : cols[-1] - 12])).save(
        src
    )
    [rec] = run_listing(
        [src], parse_preset_names("etsy"), tmp_path / "out", model=TEST_MODEL, workers=1
    )
    assert rec.held, (rec.state, rec.error)
    assert rec.output is not None and "/held/" in rec.output
    assert load_image(rec.output).pixels.shape == (2025, 2700, 3)
    checks = {c["name"]: c for c in rec.info["gate"]["checks"]}
    assert not checks["composition"]["passed"]
    assert "touches both sides" in checks["composition"]["detail"]
    assert rec.info["method"] == "blurred-backdrop"


def test_a_bad_image_fails_alone(tmp_path: Path, photo_factory) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "in"
    _photos(folder, photo_factory, 2)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    records = run_listing(
        [folder], parse_preset_names("amazon-main"), tmp_path / "out", model=TEST_MODEL, workers=1
    )
    by_sku = {r.sku: r for r in records}
    assert by_sku["sku00"].ok and by_sku["sku01"].ok
    assert not by_sku["broken"].ok and "broken.jpg" in (by_sku["broken"].error or "")


def test_rerun_skips_done_targets(tmp_path: Path, photo_factory) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "in"
    _photos(folder, photo_factory, 2)
    presets = parse_preset_names("amazon-main")
    out = tmp_path / "out"
    first = run_listing([folder], presets, out, model=TEST_MODEL, workers=1)
    stamps = {r.output: os.stat(r.output or "").st_mtime_ns for r in first}
    seen: list[str] = []
    again = run_listing(
        [folder],
        presets,
        out,
        model=TEST_MODEL,
        workers=1,
        on_source=lambda src, recs: seen.append(f"{src.sku}:{len(recs)}"),
    )
    assert seen == ["sku00:0", "sku01:0"]  # nothing re-rendered
    assert {r.output: os.stat(r.output or "").st_mtime_ns for r in again} == stamps


def _delivered(out: Path) -> int:
    """Targets the manifest records as done, read without taking the writer's lock."""
    path = out / MANIFEST_NAME
    if not path.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            row = db.execute("SELECT count(*) FROM targets WHERE state = 'done'").fetchone()
            return int(row[0])
    except sqlite3.Error:  # not created yet, or busy: ask again
        return 0


@pytest.mark.slow
def test_killed_batch_resumes_without_redoing_work(tmp_path: Path, photo_factory) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "in"
    _photos(folder, photo_factory, 12)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "packshot.cli",
        "listing",
        str(folder),
        "--market",
        "amazon-main",
        "--out",
        str(out),
        "--model",
        TEST_MODEL,
        "--workers",
        "1",
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, env={**os.environ}, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # Counted in the manifest, not as files: an output is written before its record, and
    # a kill between the two leaves a file the batch rightly redoes.
    while time.monotonic() < deadline and _delivered(out) < 3:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    manifest = Manifest(out)
    finished = {r.sku: r.output for r in manifest.records() if r.ok}
    manifest.close()
    assert 3 <= len(finished) < 12
    stamps = {sku: os.stat(path or "").st_mtime_ns for sku, path in finished.items()}

    rerun = subprocess.run(cmd, env={**os.environ}, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    manifest = Manifest(out)
    records = manifest.records()
    manifest.close()
    assert len(records) == 12 and all(r.ok for r in records)
    # What was finished before the kill was not redone.
    assert {sku: os.stat(finished[sku] or "").st_mtime_ns for sku in finished} == stamps
    assert (out / MANIFEST_NAME).is_file()


def test_changed_settings_re_render_done_targets(
    tmp_path: Path, product_photo: ProductPhoto
) -> None:
    import dataclasses

    src = product_photo.save_jpeg(tmp_path / "bottle.jpg")
    out = tmp_path / "out"
    [shopify] = parse_preset_names("shopify")
    [first] = run_listing([src], [shopify], out, model=TEST_MODEL, workers=1)
    tweaked = dataclasses.replace(shopify, background_color=(245, 245, 245))
    seen: list[int] = []
    [second] = run_listing(
        [src],
        [tweaked],
        out,
        model=TEST_MODEL,
        workers=1,
        on_source=lambda _s, recs: seen.append(len(recs)),
    )
    assert seen == [1]  # re-rendered, not skipped
    assert second.info["fingerprint"] != first.info["fingerprint"]
    assert tuple(load_image(second.output or "").pixels[0, 0]) == (245, 245, 245)
