"""A listing batch's report.html opened in a real headless Chromium: every output is shown
with its figures, and every image actually loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from selenium.webdriver.common.by import By

from browserkit import chromium, images_loaded
from servicekit import photo_bytes


def test_listing_report_shows_every_output(model_cache: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("product", "car"):
        (photos / f"{name}.jpg").write_bytes(photo_bytes(name, 640))
    out = tmp_path / "listing"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "packshot.cli",
            "listing",
            str(photos),
            "--market",
            "amazon-main,instagram-feed",
            "--out",
            str(out),
            "--model",
            "u2netp",
            "-j",
            "1",
            "-q",
        ],
        check=True,
        env={"PACKSHOT_MODELS_DIR": str(model_cache), "PATH": "/usr/bin:/bin"},
    )
    report = json.loads((out / "report.json").read_text())
    targets = report["targets"]
    # Held outputs (the gate's verdict) are shown too, with their checks.
    assert len(targets) == 4 and all(t["state"] in ("done", "held") for t in targets)
    with chromium() as driver:
        driver.get((out / "report.html").as_uri())
        widths = images_loaded(driver, "img")
        # Per SKU: the source and its two outputs.
        assert len(widths) == 6 and all(w > 0 for w in widths), widths
        captions: dict[str, list[str]] = {}
        for item in driver.find_elements(By.CSS_SELECTOR, ".item"):
            sku = item.find_element(By.CSS_SELECTOR, ".meta b").text
            captions[sku] = [c.text for c in item.find_elements(By.CSS_SELECTOR, "figcaption")]
        links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "figure a")]
    assert sorted(captions) == ["car", "product"]
    for t in targets:
        caption = next(c for c in captions[t["sku"]] if c.startswith(t["target"]))
        assert f"{t['width']}x{t['height']} JPEG" in caption
        assert "KB" in caption and "s cutout" in caption
        if t["target"] == "amazon-main":
            assert f"fill {t['fill']:.1%}" in caption
        assert Path(t["output"]).as_uri() in links
