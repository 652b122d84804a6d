"""Batch reports opened in a real headless Chromium, from a real mixed batch (delivered or
held outputs, and a file that is not an image): the page fits the window, every cell sits
in its column at the same size, every thumbnail loads, the filters, the check panel and the
arrow keys work, and no figure is printed in scientific notation."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from browserkit import chromium, images_loaded
from servicekit import photo_bytes

TARGETS = ["amazon-main", "shopify", "etsy", "instagram-story"]
SCIENTIFIC = re.compile(r"\d[eE][+-]?\d")

# Every cell's box, by row (SKU) and column (data-t), and the header's.
LAYOUT = """
const box = e => { const r = e.getBoundingClientRect();
  return {t: e.dataset.t, v: e.dataset.v, x: Math.round(r.left), w: Math.round(r.width),
          h: Math.round(r.height), shown: r.width > 0 && !e.closest('.row').hidden,
          dim: e.classList.contains('dim')}; };
const rows = Array.from(document.querySelectorAll('.grid .row'));
return {
  overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  head: Array.from(rows[0].children).map(box),
  rows: rows.slice(1).map(r => ({sku: r.dataset.sku, hidden: r.hidden,
                                 cells: Array.from(r.children).map(box)})),
};
"""


def _photos(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("product", "car"):
        (photos / f"{name}.jpg").write_bytes(photo_bytes(name, 640))
    (photos / "broken.jpg").write_bytes(b"this is a label, not a photo")
    return photos


def _packshot(args: list[str], model_cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "packshot.cli", *args],
        capture_output=True,
        text=True,
        env={"PACKSHOT_MODELS_DIR": str(model_cache), "PATH": "/usr/bin:/bin"},
    )


def _layout(driver: WebDriver) -> dict[str, Any]:
    layout: dict[str, Any] = driver.execute_script(LAYOUT)
    return layout


def _assert_grid(layout: dict[str, Any]) -> None:
    """No horizontal overflow; every shown cell in its header's column, all one size."""
    assert layout["overflow"] <= 0, layout["overflow"]
    columns = {c["t"]: c for c in layout["head"] if c["shown"]}
    sizes = set()
    for row in layout["rows"]:
        if row["hidden"]:
            continue
        shown = [c for c in row["cells"] if c["shown"]]
        assert [c["t"] for c in shown] == list(columns), (row["sku"], shown)
        for cell in shown:
            head = columns[cell["t"]]
            assert (cell["x"], cell["w"]) == (head["x"], head["w"]), (row["sku"], cell, head)
            sizes.add((cell["w"], cell["h"]))
    assert len(sizes) == 1, sizes


def _load_all_images(driver: WebDriver) -> list[int]:
    # Thumbnails load lazily; make them load now to check every one.
    driver.execute_script("document.querySelectorAll('.grid img').forEach(i => i.loading='eager')")
    driver.execute_script(
        "const g=document.querySelector('.grid'); g.scrollTop=g.scrollHeight; g.scrollTop=0;"
    )
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script(
            "return Array.from(document.querySelectorAll('.grid img')).every(i => i.complete)"
        )
    )
    return images_loaded(driver, ".grid img")


def _shown(driver: WebDriver) -> dict[str, list[str]]:
    """Visible rows -> verdicts of their visible, undimmed output cells."""
    layout = _layout(driver)
    return {
        r["sku"]: [c["v"] for c in r["cells"] if c["shown"] and not c["dim"] and c["t"] != "source"]
        for r in layout["rows"]
        if not r["hidden"]
    }


def test_listing_report_of_a_mixed_batch(model_cache: Path, tmp_path: Path) -> None:
    photos = _photos(tmp_path)
    out = tmp_path / "listing"
    args = ["listing", str(photos), "--market", ",".join(TARGETS), "--out", str(out)]
    done = _packshot([*args, "--model", "u2netp", "-j", "1", "-q"], model_cache)
    assert done.returncode == 1, done.stderr  # the unreadable file failed, alone
    report = json.loads((out / "report.json").read_text())
    states = {(t["sku"], t["target"]): t["state"] for t in report["targets"]}
    assert len(states) == 12
    assert {s for (sku, _), s in states.items() if sku == "broken"} == {"failed"}
    assert all(s in ("done", "held") for (sku, _), s in states.items() if sku != "broken")
    # The workers wrote the thumbnails; the report used them.
    assert (out / "_thumbs" / "car" / "etsy.webp").is_file()
    held_skus = {sku for (sku, _), s in states.items() if s == "held"}

    with chromium() as driver:
        driver.set_window_size(1400, 1000)
        driver.get((out / "report.html").as_uri())
        text = driver.find_element(By.TAG_NAME, "body").text
        assert not SCIENTIFIC.search(text), SCIENTIFIC.findall(text)
        assert "broken" in text and "not an image" in text
        tiles = {
            t.find_element(By.TAG_NAME, "span").text: int(t.find_element(By.TAG_NAME, "b").text)
            for t in driver.find_elements(By.CSS_SELECTOR, ".tile")
        }
        assert tiles["failed"] == 4 and tiles["held"] == report["held"]
        assert tiles["delivered"] + tiles["fixed"] == report["done"]

        layout = _layout(driver)
        assert [c["t"] for c in layout["head"]] == ["source", *sorted(TARGETS)]
        assert sorted(r["sku"] for r in layout["rows"]) == ["broken", "car", "product"]
        _assert_grid(layout)
        widths = _load_all_images(driver)
        # Two sources and eight outputs; the unreadable file has neither.
        assert len(widths) == 10 and all(w > 0 for w in widths), widths
        links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "a.thumb")]
        for t in report["targets"]:
            if t["output"]:
                assert Path(t["output"]).as_uri() in links

        # Filters: failed only, held only, one target.
        driver.find_element(By.CSS_SELECTOR, '[data-show="failed"]').click()
        assert _shown(driver) == {"broken": ["failed"] * 4}
        _assert_grid(_layout(driver))
        driver.find_element(By.CSS_SELECTOR, '[data-show="held"]').click()
        shown = _shown(driver)
        assert set(shown) == held_skus and all(v == ["held"] * len(v) and v for v in shown.values())
        driver.find_element(By.CSS_SELECTOR, '[data-show="all"]').click()
        Select(driver.find_element(By.ID, "f-target")).select_by_value("etsy")
        layout = _layout(driver)
        assert [c["t"] for c in layout["head"] if c["shown"]] == ["source", "etsy"]
        _assert_grid(layout)
        assert driver.execute_script("return location.hash") == "#target=etsy"
        Select(driver.find_element(By.ID, "f-target")).select_by_value("")

        # The check panel of the car's amazon-main output: every check, in words.
        car = next(
            t for t in report["targets"] if t["sku"] == "car" and t["target"] == "amazon-main"
        )
        driver.find_element(By.CSS_SELECTOR, "#c-car--amazon-main button.open").click()
        dialog = driver.find_element(By.ID, "panel")
        assert dialog.get_attribute("open") is not None
        rows = dialog.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert len(rows) == len(car["gate"]["checks"])
        assert not SCIENTIFIC.search(dialog.text), dialog.text
        assert "frame fill" in dialog.text
        dialog.send_keys(Keys.ESCAPE)
        assert dialog.get_attribute("open") is None

        # Arrow keys move between cells: right to the first target, down to the next SKU.
        driver.find_element(By.CSS_SELECTOR, "#c-broken--source .thumb").send_keys(Keys.ARROW_RIGHT)
        focused = driver.switch_to.active_element.find_element(By.XPATH, "./ancestor::div[@data-t]")
        assert focused.get_attribute("id") == "c-broken--amazon-main"
        driver.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
        focused = driver.switch_to.active_element.find_element(By.XPATH, "./ancestor::div[@data-t]")
        assert focused.get_attribute("id") == "c-car--amazon-main"

        # A summary link to a held output shows it, whatever the filters said.
        jump = driver.find_elements(By.CSS_SELECTOR, "a[data-jump]")
        if held_skus:
            driver.find_element(By.CSS_SELECTOR, '[data-show="failed"]').click()
            target = jump[0].get_attribute("href").split("#", 1)[1]
            jump[0].click()
            cell = driver.find_element(By.ID, target)
            assert cell.is_displayed() and "dim" not in (cell.get_attribute("class") or "")


def test_cutout_report_shares_the_grid(model_cache: Path, tmp_path: Path) -> None:
    photos = _photos(tmp_path)
    out = tmp_path / "cutouts"
    done = _packshot(
        ["background-removal", str(photos), "--out", str(out), "--html", "-m", "u2netp", "-q"],
        model_cache,
    )
    assert done.returncode == 1, done.stderr
    with chromium() as driver:
        driver.set_window_size(1400, 1000)
        driver.get((out / "index.html").as_uri())
        layout = _layout(driver)
        assert [c["t"] for c in layout["head"]] == ["source", "checkerboard", "magenta", "white"]
        assert len(layout["rows"]) == 3
        _assert_grid(layout)
        widths = _load_all_images(driver)
        assert len(widths) == 8 and all(w > 0 for w in widths), widths
        text = driver.find_element(By.TAG_NAME, "body").text
        assert "not an image" in text and not SCIENTIFIC.search(text)
        driver.find_element(By.CSS_SELECTOR, '[data-show="failed"]').click()
        assert list(_shown(driver)) == ["broken"]
