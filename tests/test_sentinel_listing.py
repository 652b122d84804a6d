"""The listing pipeline gates every output: on the dev photos, amazon-main outputs are
delivered only when every check passes; the rest are held under held/ with reasons."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import ProductPhoto
from packshot.pipeline.listing import run_listing
from packshot.presets import derive_preset, get_preset
from sentinel_cases import dev_dir

DEV = dev_dir()


@pytest.mark.slow
@pytest.mark.skipif(DEV is None, reason="dev photos (../shared/eval/dev) absent")
def test_dev_photos_pass_or_are_held_with_reasons(tmp_path: Path, real_models: Path) -> None:
    assert DEV is not None
    photos = tmp_path / "photos"
    photos.mkdir()
    for ident in ("020", "041", "052"):
        src = next(DEV.glob(f"{ident}_image.*"))
        shutil.copy(src, photos / src.name)
    out = tmp_path / "out"
    records = run_listing([photos], [get_preset("amazon-main")], out, model="u2netp", workers=1)
    assert len(records) == 3
    for rec in records:
        gate = rec.info["gate"]
        assert rec.output is not None and Path(rec.output).is_file()
        if rec.state == "done":
            assert gate["verdict"] in ("deliver", "fixed")
            assert all(c["passed"] for c in gate["checks"])
            assert "held" not in Path(rec.output).parts
        else:
            assert rec.state == "held" and gate["verdict"] == "hold"
            assert gate["reasons"] and rec.error and rec.error.startswith("held for review")
            assert Path(rec.output).parent.name == "held"
    # A re-run redoes nothing: held outputs wait for review, they are not retried.
    stamps = {r.output: Path(r.output or "").stat().st_mtime_ns for r in records}
    again = run_listing([photos], [get_preset("amazon-main")], out, model="u2netp", workers=1)
    assert {r.output: Path(r.output or "").stat().st_mtime_ns for r in again} == stamps

    from packshot.report import cell_id, write_listing_report

    page = write_listing_report(records, out)
    report = json.loads((out / "report.json").read_text())
    assert report["done"] + report["held"] + report["failed"] == 3
    assert all("checks" in t["gate"] for t in report["targets"])
    text = page.read_text()
    assert all(f'id="{cell_id(r.sku, r.target)}"' in text for r in records)


@pytest.mark.slow
def test_candidates_are_rendered_scored_and_ranked(
    tmp_path: Path, real_models: Path, product_photo: ProductPhoto
) -> None:
    photo = product_photo.save_jpeg(tmp_path / "bottle.jpg")
    amazon = get_preset("amazon-main")
    preset = derive_preset(
        amazon, {"gate": {"candidates": 2, "keep": 2, "checks": ["frame_fill"]}}, origin="test"
    )
    records = run_listing([photo], [preset], tmp_path / "out", model="u2netp", workers=1)
    (rec,) = records
    ranking = rec.info["candidates"]
    # The batch's rendering, then the same model pass refined crisper.
    assert sorted(c["label"] for c in ranking) == [
        "u2netp, crisp matte, fill 90.0%",
        "u2netp, fill 90.0%",
    ]
    assert all(c["why"].startswith(("kept, rank", "dropped, rank")) for c in ranking)
    assert rec.state == "done" and Path(rec.output or "").is_file()
    alt = Path(rec.output or "").with_suffix(".alt2.jpg")
    assert alt.is_file() == (ranking[1]["verdict"] != "hold")
