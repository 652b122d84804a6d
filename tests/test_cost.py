"""Compute cost beside the hosted price, per output and per batch, in every report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packshot import cost
from packshot.errors import InputError
from packshot.pipeline.cutout import ItemResult
from packshot.pipeline.manifest import TargetRecord
from packshot.report import write_cutout_report, write_listing_report


def test_output_cost_at_the_configured_price(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cost.PRICE_ENV, "0.10")
    figures = cost.output_cost(90.0, ["product-isolation", "smart-resize"])
    assert figures == {
        "cpu_s": 90.0,
        "core_hour_usd": 0.10,
        "cost_usd": 0.0025,  # 90 s is 1/40 of an hour
        "operations": ["product-isolation", "smart-resize"],
        "hosted_usd": 0.82,
    }
    monkeypatch.delenv(cost.PRICE_ENV)
    assert cost.output_cost(3600.0, [])["cost_usd"] == cost.DEFAULT_CORE_HOUR_PRICE
    for bad in ("cheap", "-1"):
        monkeypatch.setenv(cost.PRICE_ENV, bad)
        with pytest.raises(InputError, match="PACKSHOT_CORE_HOUR_PRICE must be"):
            cost.output_cost(1.0, [])
    monkeypatch.delenv(cost.PRICE_ENV)
    with pytest.raises(ValueError, match="no hosted price"):
        cost.output_cost(1.0, ["upscale"])


def test_cutout_report_has_each_items_cost_and_the_total(tmp_path: Path) -> None:
    results = [
        ItemResult("a.jpg", str(tmp_path / "a.png"), None, 1.0, 1.8),
        ItemResult("b.jpg", str(tmp_path / "b.png"), None, 1.0, 0.9),
        ItemResult("c.jpg", None, "c.jpg: not an image", 0.1, 0.1),
    ]
    write_cutout_report(results, tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    items = report["items"]
    assert items[0]["compute"]["cpu_s"] == 1.8
    assert items[0]["compute"]["hosted_usd"] == 0.045
    assert "compute" not in items[2]
    total = report["cost"]
    assert total["outputs"] == 2 and total["cpu_s"] == pytest.approx(2.7)
    assert total["hosted_usd"] == pytest.approx(0.09)
    assert total["cost_usd"] == pytest.approx(2.7 / 3600 * cost.DEFAULT_CORE_HOUR_PRICE, abs=1e-6)


def test_listing_report_totals_the_targets(tmp_path: Path) -> None:
    records = [
        TargetRecord(
            "sku1", t, "s.jpg", "failed", None, None, "boom", {"compute": cost.output_cost(s, ops)}
        )
        for t, s, ops in (
            ("amazon-main", 2.0, ["background-removal"]),
            ("etsy", 4.0, ["smart-resize"]),
        )
    ]
    write_listing_report(records, tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["targets"][1]["compute"]["hosted_usd"] == 0.55
    assert report["cost"]["cpu_s"] == 6.0 and report["cost"]["hosted_usd"] == 0.595
