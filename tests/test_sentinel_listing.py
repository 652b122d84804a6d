"""The listing pipeline gates every output: on the dev photos, amazon-main outputs are
delivered only when every check passes; the rest are held under held/ with reasons."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from packshot.pipeline.listing import run_listing
from packshot.presets import get_preset
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
    from packshot.report import write_listing_report

    page = write_listing_report(records, out)
    report = json.loads((out / "report.json").read_text())
    assert report["done"] + report["held"] + report["failed"] == 3
    assert all("checks" in t["gate"] for t in report["targets"])
    assert "gate: " in page.read_text()
