"""Sentinel units: CIEDE2000, gate settings in presets, the check command's contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import make_product_photo
from packshot.cli import app
from packshot.imageio import encode_image
from packshot.ops.color import delta_e_2000
from packshot.ops.framing import place_on_canvas
from packshot.pipeline.check import check_file
from packshot.presets import PresetError, derive_preset, get_preset
from packshot.samples import sample_path
from packshot.sentinel.candidates import Candidate, rank_candidates
from packshot.sentinel.checks import background_purity, colour_fidelity, visible_seams
from packshot.sentinel.result import CheckResult, GateResult
from packshot.sentinel.subject import Subject


@pytest.mark.parametrize(
    ("lab1", "lab2", "expected"),
    [  # Sharma, Wu and Dalal (2005), table 1
        ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
        ((50, 0, 0), (50, -1, 2), 2.3669),
        ((50, 2.5, 0), (56, -27, -3), 31.9030),
        ((22.7233, 20.0904, -46.694), (23.0331, 14.973, -42.5619), 2.0373),
    ],
)
def test_ciede2000_matches_the_reference_pairs(
    lab1: tuple[float, ...], lab2: tuple[float, ...], expected: float
) -> None:
    assert float(delta_e_2000(lab1, lab2)) == pytest.approx(expected, abs=1e-4)


def test_gate_settings_are_data_with_clear_errors() -> None:
    amazon = get_preset("amazon-main")
    assert "text" in amazon.gate_checks and amazon.gate.max_fixes == 1
    assert amazon.gate.threshold("background_purity") == 0.998
    # A partial gate table changes only what it gives.
    strict = derive_preset(amazon, {"gate": {"max_fixes": 0}}, origin="test")
    assert strict.gate.max_fixes == 0 and strict.gate_checks == amazon.gate_checks
    with pytest.raises(PresetError, match="gate checks: 'halo' is not a check"):
        derive_preset(amazon, {"gate": {"checks": ["halo"]}}, origin="test")
    with pytest.raises(PresetError, match="keep = 3 is more than candidates = 2"):
        derive_preset(amazon, {"gate": {"candidates": 2, "keep": 3}}, origin="test")
    # Presets without a table get checks that follow from their fields.
    assert "visible_seams" in get_preset("etsy").gate_checks
    assert "background_purity" not in get_preset("etsy").gate_checks


def _placed(level: int = 255) -> tuple[np.ndarray, np.ndarray]:
    photo = make_product_photo(240, 320)
    rgba = np.dstack([photo.rgb, photo.mask.astype(np.uint8) * 255])
    placed = place_on_canvas(rgba, 1600, 1600, fill=0.9, color=(level, level, level))
    return placed.rgb, placed.rgba[..., 3].astype(np.float32) / 255.0


def test_background_purity_counts_exact_pixels() -> None:
    rgb, alpha = _placed()
    ok = background_purity(Subject(rgb, alpha), color=(255, 255, 255), min_share=0.998)
    assert ok.passed and ok.value == 1.0
    rgb[5, 5] = (250, 255, 255)
    worst = background_purity(Subject(rgb, alpha), color=(255, 255, 255), min_share=1.0)
    assert not worst.passed and "worst deviation 5 levels at x=5, y=5" in worst.detail


def test_colour_fidelity_sees_a_colour_shift() -> None:
    rgb, alpha = _placed()
    same = colour_fidelity(Subject(rgb, alpha, source_rgb=rgb, source_alpha=alpha), max_delta_e=3.0)
    assert same.passed and same.value == pytest.approx(0.0, abs=1e-6)
    shift = np.array([25, 0, -25])
    shifted = np.clip(rgb.astype(int) + shift, 0, 255).astype(np.uint8)
    moved = colour_fidelity(
        Subject(shifted, alpha, source_rgb=rgb, source_alpha=alpha), max_delta_e=3.0
    )
    assert not moved.passed and isinstance(moved.value, float) and moved.value > 5


def test_visible_seam_is_measured_where_the_canvas_was_extended() -> None:
    rgb = np.full((400, 600, 3), 200, np.uint8)
    synth = np.zeros((400, 600), bool)
    synth[:, 450:] = True
    alpha = np.zeros((400, 600), np.float32)
    alpha[100:300, 200:300] = 1.0
    smooth = visible_seams(Subject(rgb, alpha, synthesized=synth), max_step=6.0)
    assert smooth.passed
    rgb[:, 450:] = 180
    seam = visible_seams(Subject(rgb, alpha, synthesized=synth), max_step=6.0)
    assert not seam.passed and isinstance(seam.value, float) and seam.value >= 19


def test_check_command_exit_codes_and_json(tmp_path: Path) -> None:
    good, _ = _placed()
    off, _ = _placed(250)
    (tmp_path / "good.jpg").write_bytes(encode_image(good, "JPEG", exact_colors=True))
    (tmp_path / "off.jpg").write_bytes(encode_image(off, "JPEG", exact_colors=True))
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    runner = CliRunner()
    ok = runner.invoke(app, ["sentinel", str(tmp_path / "good.jpg"), "--no-ocr"])
    assert ok.exit_code == 0, ok.output
    assert "pass" in ok.output and "background_purity" in ok.output
    bad = runner.invoke(
        app, ["sentinel", str(tmp_path / "off.jpg"), str(tmp_path / "broken.jpg"), "--json",
              "--no-ocr"],
    )  # fmt: skip
    assert bad.exit_code == 1
    doc = json.loads(bad.stdout)
    first, second = doc["images"]
    assert first["verdict"] == "hold" and first["mask"] == "background"
    assert set(first) >= {"verdict", "reasons", "checks"}
    assert set(first["checks"][0]) == {"name", "value", "threshold", "passed", "fixable", "detail"}
    purity = next(c for c in first["checks"] if c["name"] == "background_purity")
    assert purity["passed"] is False and purity["value"] == 0.0
    assert "not an image" in second["error"]
    unknown = runner.invoke(app, ["sentinel", str(tmp_path / "good.jpg"), "--market", "nope"])
    assert unknown.exit_code == 2 and "Unknown marketplace preset" in unknown.output


def _gate_result(values: dict[str, float], failed: tuple[str, ...] = ()) -> GateResult:
    checks = tuple(
        CheckResult(name, value, 0.5, name not in failed, True, "measured")
        for name, value in values.items()
    )
    return GateResult("hold" if failed else "deliver", (), checks)


def test_candidates_rank_by_failures_then_quality_and_say_why() -> None:
    clean = Candidate("u2net-best", _gate_result({"mask_confidence": 0.05, "edge_halo": 0.01}))
    rough = Candidate("u2net", _gate_result({"mask_confidence": 0.3, "edge_halo": 0.02}))
    broken = Candidate(
        "u2netp", _gate_result({"mask_confidence": 0.01, "edge_halo": 0.9}, ("edge_halo",))
    )
    ranked = rank_candidates([rough, broken, clean], keep=2)
    assert [r.candidate.label for r in ranked] == ["u2net-best", "u2net", "u2netp"]
    assert [r.kept for r in ranked] == [True, True, False]
    assert "all checks pass" in ranked[0].why and "edge_halo 0.02x limit (best)" in (ranked[0].why)
    assert ranked[2].why.startswith("dropped, rank 3 of 3: 1 failed (edge_halo)")
    assert ranked[0].as_dict()["verdict"] == "deliver"


def test_check_uses_the_alpha_channel_when_there_is_one(tmp_path: Path) -> None:
    rgb, alpha = _placed()
    rgba = np.dstack([rgb, np.rint(alpha * 255).astype(np.uint8)])
    (tmp_path / "cut.png").write_bytes(encode_image(rgba, "PNG"))
    verdict = check_file(tmp_path / "cut.png", get_preset("amazon-main"), ocr=False)
    assert verdict.result is not None and verdict.mask_origin == "alpha"
    confidence = next(c for c in verdict.result.checks if c.name == "mask_confidence")
    assert confidence.value is not None  # a real matte is measured, not skipped
    assert verdict.result.verdict == "deliver", verdict.result.as_dict()


@pytest.mark.slow
def test_a_lifestyle_photo_is_measured_with_the_model_mask(real_models: Path) -> None:
    verdict = check_file(sample_path("product"), get_preset("amazon-main"), ocr=False)
    assert verdict.result is not None and verdict.mask_origin == "model"
    failed = {c.name for c in verdict.result.checks if not c.passed}
    # 1086x1448 on a grey-brown background: too small, not square, not white.
    assert {"resolution", "aspect_ratio", "background_purity"} <= failed
    assert verdict.result.verdict == "hold"
