"""The batch report's words and figures: values said as a catalog team reads them (never
in scientific notation), the summary's counts, reasons and compute cost, and a page that
stays self-contained and safe whatever the records say."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from packshot.cost import DEFAULT_CORE_HOUR_PRICE, PRICE_ENV, core_hour_price
from packshot.errors import InputError
from packshot.imageio import save_image
from packshot.pipeline.cost import batch_compute
from packshot.pipeline.manifest import TargetRecord
from packshot.pipeline.thumbs import thumbnail_path
from packshot.presets import format_bytes
from packshot.presets.gate import CHECKS
from packshot.report import (
    cell_id,
    check_label,
    check_phrase,
    money,
    number,
    percent,
    summarize,
    write_listing_report,
)

SCIENTIFIC = re.compile(r"\d[eE][+-]?\d")


def _check(name: str, value: object, threshold: object, passed: bool = True) -> dict[str, object]:
    return {
        "name": name,
        "value": value,
        "threshold": threshold,
        "passed": passed,
        "fixable": False,
        "detail": f"{name} measured",
    }


def _record(
    sku: str,
    target: str,
    state: str,
    tmp: Path | None = None,
    *,
    verdict: str | None = None,
    checks: list[dict[str, object]] | None = None,
    info: dict[str, object] | None = None,
    error: str | None = None,
) -> TargetRecord:
    output = None
    if tmp is not None and state != "failed":
        path = tmp / sku / ("held" if state == "held" else "") / f"{target}.jpg"
        save_image(np.full((40, 30, 3), 200, np.uint8), path)
        output = str(path)
    gate = {
        "verdict": verdict or {"done": "deliver", "held": "hold"}.get(state, ""),
        "reasons": [f"{c['name']}: {c['detail']}" for c in checks or [] if not c["passed"]],
        "checks": checks or [],
    }
    full = {"width": 2000, "height": 2000, "format": "JPEG", **(info or {})}
    if state != "failed":
        full["gate"] = gate
    return TargetRecord(
        sku,
        target,
        str(tmp / f"{sku}.jpg") if tmp else f"/photos/{sku}.jpg",
        state,
        output,
        1_000_000 if output else None,
        error,
        full if state != "failed" else {},
    )


def test_values_read_in_words() -> None:
    assert check_phrase(_check("frame_fill", 0.8995, 0.85)) == "fill 90% (≥ 85%)"
    assert check_phrase(_check("file_size", 1_000_000.0, None)) == "1 MB"
    assert check_phrase(_check("file_size", 431_300.0, 5_000_000.0)) == "431 KB (≤ 5 MB)"
    assert check_phrase(_check("visible_seams", 20.996, 6.0, False)) == "seam 21 levels (≤ 6)"
    assert check_phrase(_check("product_cut_off", 2.0, 0.0, False)) == (
        "cut off at 2 edges (none allowed)"
    )
    # 99.75% against 99.8% must not both read "99.8%".
    assert check_phrase(_check("background_purity", 0.9975, 0.998, False)) == (
        "background 99.75% (≥ 99.8%)"
    )
    assert check_phrase(_check("composition", "blurred backdrop", "as the preset asks", False)) == (
        "blurred backdrop instead"
    )
    assert check_phrase(_check("colour_fidelity", None, 3.0)) == "not measured"
    assert check_label("frame_fill") == "product too small in the frame"


def test_percentages_keep_the_digits_that_matter() -> None:
    assert percent(0.9, 0.85) == "90%"
    assert percent(0.8499, 0.85) == "84.99%"
    assert percent(0.85, 0.85) == "85%"


@pytest.mark.parametrize("name", sorted(CHECKS))
@pytest.mark.parametrize("value", [1e-7, 0.000123, 0.5, 12345678.9, 4.313e5])
def test_no_check_value_is_printed_in_scientific_notation(name: str, value: float) -> None:
    phrase = check_phrase(_check(name, value, value * 2))
    assert phrase and not SCIENTIFIC.search(phrase), phrase


def test_figures_never_use_scientific_notation() -> None:
    for value in (1e-9, 4.313e5, 1e12, 0.0001):
        assert not SCIENTIFIC.search(number(value)) and not SCIENTIFIC.search(money(value))
    assert money(0.00364) == "$0.0036"
    assert money(12.5) == "$12.50"
    # 999.6 KB used to print as "1e+03 KB".
    assert format_bytes(999_600) == "1 MB"
    assert format_bytes(999_499) == "999 KB"
    assert format_bytes(1_500) == "1.5 KB"


def test_compute_counts_each_cutout_once() -> None:
    timed = {"cutout_s": 2.0, "target_s": 1.0, "gate_s": 0.25}
    records = [
        _record("a", "amazon-main", "done", info=timed),
        _record("a", "etsy", "held", info=timed),
        _record("b", "amazon-main", "done", info={**timed, "cutout_s": 3.0}),
        _record("c", "amazon-main", "failed"),
    ]
    compute = batch_compute(records)
    assert compute.cutout_s == 5.0 and compute.target_s == 3.0 and compute.gate_s == 0.75
    assert compute.core_seconds == 8.0
    assert compute.cost(3.6) == pytest.approx(0.008)


def test_price_per_core_hour_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRICE_ENV, raising=False)
    assert core_hour_price() == DEFAULT_CORE_HOUR_PRICE
    monkeypatch.setenv(PRICE_ENV, "0.12")
    assert core_hour_price() == 0.12
    monkeypatch.setenv(PRICE_ENV, "cheap")
    with pytest.raises(InputError, match=PRICE_ENV):
        core_hour_price()
    with pytest.raises(InputError, match="non-negative number"):
        core_hour_price("-1")


def test_summary_counts_verdicts_and_ranks_reasons() -> None:
    seam = [_check("visible_seams", 21.0, 6.0, False)]
    cut = [_check("product_cut_off", 1.0, 0.0, False)]
    records = [
        _record("a", "amazon-main", "done", verdict="fixed"),
        _record("a", "etsy", "held", checks=seam),
        _record("b", "amazon-main", "held", checks=cut),
        _record("b", "etsy", "held", checks=seam),
        _record("c", "amazon-main", "failed", error="/photos/c.jpg: not an image"),
        _record("c", "etsy", "failed", error="/photos/c.jpg: not an image"),
        _record("d", "amazon-main", "done"),
    ]
    summary = summarize(records, price=0.05)
    assert dict(summary.counts["amazon-main"]) == {
        "fixed": 1,
        "held": 1,
        "failed": 1,
        "delivered": 1,
    }
    assert dict(summary.counts["etsy"]) == {"held": 2, "failed": 1}
    assert summary.reasons[0] == ("visible_seams", [("a", "etsy"), ("b", "etsy")])
    assert summary.reasons[1][0] == "product_cut_off"
    # The source's path is the row's; the failure groups by what went wrong.
    assert summary.failures == [("not an image", [("c", "amazon-main"), ("c", "etsy")])]


def test_listing_page_is_self_contained_and_safe(tmp_path: Path) -> None:
    out = tmp_path / "out"
    seam = [_check("visible_seams", 21.0, 6.0, False), _check("file_size", 431_300.0, None)]
    hostile = "<script>alert(1)</script> & </script><!--"
    records = [
        _record(
            "shoe",
            "amazon-main",
            "done",
            out,
            checks=[_check("frame_fill", 0.8995, 0.85)],
            info={"title": "Red running shoe", "cutout_s": 1.5, "target_s": 0.5},
        ),
        _record("shoe", "etsy", "held", out, checks=seam, info={"title": "Red running shoe"}),
        _record("mug", "amazon-main", "failed", out, error=f"/p/mug.jpg: {hostile}"),
        _record("mug", "etsy", "held", out, checks=seam, info={"alt": "White mug, side view"}),
    ]
    page = write_listing_report(
        records,
        out,
        wall_s=12.0,
        price=0.05,
        review_links={("shoe", "etsy"): "http://server:8000/review#rev_1"},
    )
    text = page.read_text("utf-8")
    # Everything the page needs is inline; it links only relative paths (and the review
    # page the caller named).
    assert "<style>" in text and "<script>" in text
    links = re.findall(r'(?:src|href)="([^"#][^"]*)"', text)
    assert links and all(
        not link.startswith(("/", "file:"))
        and ("://" not in link or link.startswith("http://server"))
        for link in links
    ), links
    assert "_thumbs/shoe/amazon-main.webp" in text
    assert thumbnail_path(out, "shoe", "amazon-main").is_file()
    # Alt text from the record's title (or its alt), else the SKU.
    assert 'alt="Red running shoe: amazon-main image, delivered"' in text
    assert 'alt="White mug, side view: etsy image, held"' in text
    assert 'href="http://server:8000/review#rev_1"' in text
    for rec in records:
        assert f'id="{cell_id(rec.sku, rec.target)}"' in text
    assert "fill 90% (≥ 85%)" in text and "seam 21 levels (≤ 6)" in text
    # No raw markup from a record reaches the page, inside or outside the JSON.
    # The check panels load from _report/ when opened: plain JSON inside a script call.
    chunks = sorted((out / "_report").glob("checks-*.js"))
    assert [c.name for c in chunks] == ["checks-0000.js"]
    call = chunks[0].read_text("utf-8")
    assert call.startswith("packshotPanels(0,") and call.rstrip().endswith(");")
    panels = json.loads(call[len("packshotPanels(0,") : call.rstrip().rindex(")")])
    assert len(panels) == len(records)
    assert any(hostile in p.get("error", "") for p in panels)
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)" in text
    visible = re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", " ", text, flags=re.S)
    assert not SCIENTIFIC.search(visible)
    assert "12 s (this run)" in visible
    report = json.loads((out / "report.json").read_text())
    assert report["verdicts"] == {"delivered": 1, "fixed": 0, "held": 2, "failed": 1}
    assert report["compute"]["core_seconds"] == 2.0
