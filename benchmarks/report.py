"""Report scale: write and open the listing report of a large batch.

    python benchmarks/report.py [--outputs 10000] [--targets 4] [--keep DIR] [--no-browser]

Builds ``--outputs`` records (``--targets`` per SKU; about a third held, one in fifty
failed) whose gate results have every check of a white preset with detail sentences as
long as the gate's own, and a real WEBP thumbnail per source and output in ``_thumbs/``
(what the batch workers leave), then times :func:`packshot.report.write_listing_report`
and, in headless Chromium (Debian's, through Selenium), the page's open (navigation to the
load event, and to the first paint of the grid), the "held" filter, and the first check
panel opened (parsing the embedded check tables). Prints each figure beside the issue's
target: generation < 10 s, open < 3 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from packshot.pipeline.manifest import TargetRecord
from packshot.pipeline.thumbs import thumbnail_path, write_thumbnail
from packshot.presets.gate import CHECKS
from packshot.report import write_listing_report

TARGET_NAMES = ["amazon-main", "shopify", "etsy", "instagram-story", "walmart", "ebay"]


def _gate(rng: np.random.Generator, held: bool) -> dict[str, object]:
    checks = []
    for name in CHECKS:
        value = float(rng.uniform(0.0, 1.0))
        checks.append(
            {
                "name": name,
                "value": round(value, 6),
                "threshold": 0.85,
                "passed": not (held and name == "frame_fill"),
                "fixable": True,
                "detail": (
                    f"{value:.2%} of 2547458 background pixels measured against the limit "
                    "(at least 85% required); worst deviation 0 levels, mean 0.19 levels"
                ),
            }
        )
    reasons = [f"frame_fill: {checks[4]['detail']}"] if held else []
    return {"verdict": "hold" if held else "deliver", "reasons": reasons, "checks": checks}


def _thumb(pixels: np.ndarray, path: Path) -> None:
    if not path.is_file():  # a kept folder (--keep) is built once
        write_thumbnail(pixels, path)


def build(out: Path, outputs: int, targets: int) -> list[TargetRecord]:
    rng = np.random.default_rng(0)
    colours = [np.full((360, 360, 3), c, np.uint8) for c in (60, 120, 180, 240)]
    records = []
    for n in range(outputs // targets):
        sku = f"sku-{n:05d}"
        source = out / "photos" / f"{sku}.jpg"
        _thumb(colours[n % 4], thumbnail_path(out, sku, "source"))
        for target in TARGET_NAMES[:targets]:
            roll = rng.uniform()
            state = "failed" if roll < 0.02 else "held" if roll < 0.35 else "done"
            if state == "failed":
                records.append(
                    TargetRecord(sku, target, str(source), state, None, None, "not an image", {})
                )
                continue
            folder = out / sku / ("held" if state == "held" else "")
            output = folder / f"{target}.jpg"
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_bytes(b"")  # the report links it; the thumbnail is what it shows
            thumb = thumbnail_path(out, sku, target)
            _thumb(colours[(n + 1) % 4], thumb)
            made = thumb.stat().st_mtime - 1  # the worker writes the thumbnail after
            os.utime(output, (made, made))
            info = {
                "width": 2000,
                "height": 2000,
                "format": "JPEG",
                "quality": 90,
                "method": "cutout",
                "cutout_s": 1.2,
                "target_s": 0.6,
                "gate_s": 0.13,
                "gate": _gate(rng, state == "held"),
            }
            records.append(
                TargetRecord(sku, target, str(source), state, str(output), 431_300, None, info)
            )
    return records


def open_in_chromium(page: Path) -> dict[str, float]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from browserkit import chromium

    with chromium() as driver:
        driver.set_window_size(1400, 1000)
        t0 = time.perf_counter()
        driver.get(page.as_uri())  # returns after the load event
        wall = time.perf_counter() - t0
        timing = driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "const p = performance.getEntriesByName('first-contentful-paint')[0];"
            "return [n.domContentLoadedEventEnd, n.loadEventEnd, p ? p.startTime : -1];"
        )
        t1 = time.perf_counter()
        driver.find_element(By.CSS_SELECTOR, '[data-show="held"]').click()
        driver.execute_script("return document.getElementById('f-count').textContent")
        held = time.perf_counter() - t1
        t2 = time.perf_counter()
        driver.find_element(
            By.CSS_SELECTOR, ".row:not([hidden]) .cell:not(.dim) button.open"
        ).click()
        WebDriverWait(driver, 60).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#panel tbody tr")
        )
        panel = time.perf_counter() - t2
    return {
        "open_s": wall,
        "dom_ready_s": timing[0] / 1000,
        "load_s": timing[1] / 1000,
        "first_paint_s": timing[2] / 1000,
        "held_filter_s": held,
        "first_panel_s": panel,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=int, default=10_000)
    parser.add_argument("--targets", type=int, default=4, choices=range(1, 7))
    parser.add_argument("--keep", type=Path, help="Build in this folder and keep it.")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="packshot-report-bench-"))
    try:
        t0 = time.perf_counter()
        records = build(out, args.outputs, args.targets)
        print(f"built {len(records)} records and thumbnails in {time.perf_counter() - t0:.1f} s")
        t1, c1 = time.perf_counter(), time.process_time()
        page = write_listing_report(records, out, wall_s=3600.0)
        gen, cpu = time.perf_counter() - t1, time.process_time() - c1
        size = page.stat().st_size / 1e6
        print(
            f"write_listing_report: {gen:.2f} s ({cpu:.2f} s CPU) for {len(records)} outputs "
            "(target < 10 s)"
        )
        print(f"report.html: {size:.1f} MB")
        if not args.no_browser:
            figures = open_in_chromium(page)
            print(
                f"chromium open (navigation to load event): {figures['open_s']:.2f} s "
                "(target < 3 s)"
            )
            print(
                f"  DOM ready {figures['dom_ready_s']:.2f} s, load {figures['load_s']:.2f} s, "
                f"first paint {figures['first_paint_s']:.2f} s"
            )
            print(f"  'held' filter: {figures['held_filter_s']:.2f} s")
            print(f"  first check panel: {figures['first_panel_s']:.2f} s")
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)
    print(f"load: {os.getloadavg()[0]:.1f} (1-min average, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
