"""Over-generate and filter: candidates vary the matte refinement, the framing and the
model; each is a different output, the gate scores all, the best is delivered, and every
candidate's reason names the checks and values that decided."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from conftest import TEST_MODEL, ProductPhoto
from packshot.imageio import load_image
from packshot.pipeline.candidates import candidate_plan, framing_fills
from packshot.pipeline.cutout import cutout
from packshot.pipeline.listing import best_output, candidate_cutout, render_target
from packshot.presets import derive_preset, get_preset
from packshot.sentinel.candidates import quality_score
from sentinel_cases import dev_dir

DEV = dev_dir()


def test_the_plan_varies_refinement_and_framing_before_models() -> None:
    amazon = get_preset("amazon-main")
    plan = candidate_plan(amazon, "u2netp", 16)
    labels = [v.label for v in plan]
    assert labels[:4] == [
        "u2netp, fill 90.0%",
        "u2netp, crisp matte, fill 90.0%",
        "u2netp, fill 87.5%",
        "u2net, fill 90.0%",
    ]
    assert len(set(labels)) == len(labels)
    # Every framing stays within what the preset allows.
    assert framing_fills(amazon) == [pytest.approx(0.9), pytest.approx(0.875)]
    looser = plan[2].framed(amazon)
    assert looser.margin == pytest.approx(0.0625) and looser.min_fill == amazon.min_fill
    assert plan[0].framed(amazon) is amazon
    # Presets without a fill range get no framing variant.
    assert all(v.fill == pytest.approx(0.9) for v in candidate_plan(amazon, "u2net", 1))


@pytest.mark.slow
@pytest.mark.skipif(DEV is None, reason="dev photos (../shared/eval/dev) absent")
def test_candidates_differ_and_the_best_scored_is_delivered(real_models: Path) -> None:
    assert DEV is not None
    pixels = load_image(next(DEV.glob("020_image.*"))).pixels
    amazon = get_preset("amazon-main")
    preset = derive_preset(amazon, {"gate": {"candidates": 3, "keep": 2}}, origin="test")
    cuts = {TEST_MODEL: cutout(pixels, model=TEST_MODEL)}
    best = best_output(pixels, cuts, preset, model=TEST_MODEL, ocr=False)

    # Three real, different outputs from one model pass (refinement and framing reuse it).
    plan = candidate_plan(preset, TEST_MODEL, 3)
    renders = [
        render_target(pixels[..., :3], candidate_cutout(pixels, cuts, v), v.framed(preset))
        for v in plan
    ]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.array_equal(renders[i].pixels, renders[j].pixels)
    assert set(cuts) == {TEST_MODEL, f"{TEST_MODEL}/crisp"}
    assert renders[2].info["fill"] == pytest.approx(0.875, abs=0.002)
    crisp_alpha, base_alpha = renders[1].alpha, renders[0].alpha
    assert crisp_alpha is not None and base_alpha is not None
    soft = (base_alpha > 0.05) & (base_alpha < 0.95)
    assert np.count_nonzero((crisp_alpha > 0.05) & (crisp_alpha < 0.95)) < np.count_nonzero(soft)

    ranking = best.ranking
    assert len(ranking) == 3
    assert {r["label"] for r in ranking} == {v.label for v in plan}
    # The delivered one is the best by the ranking's own key: fewest failures, then the
    # lowest quality score.
    rendered, data, _, gate, _ = best.main
    assert rendered.info["candidate"] == ranking[0]["label"]
    assert (len(gate.failed), quality_score(gate)[0]) == (
        len(ranking[0]["failed"]),
        pytest.approx(ranking[0]["score"], abs=1e-4),
    )
    assert all(
        (len(a["failed"]), a["score"]) <= (len(b["failed"]), b["score"])
        for a, b in itertools.pairwise(ranking)
    )
    assert [r["kept"] for r in ranking] == [True, True, False]
    assert len(best.extras) == sum(1 for r in ranking[1:] if r["kept"] and r["verdict"] != "hold")
    # Each reason names a check and the values that decided.
    first, *others = ranking
    assert f"ahead of {ranking[1]['label']} on " in str(first["why"])
    for r in others:
        why = str(r["why"])
        assert why.startswith(("kept, rank", "dropped, rank"))
        assert f"behind {first['label']}" in why and "(limit " in why
    assert data[:2] == b"\xff\xd8"  # the delivered JPEG


@pytest.mark.slow
def test_a_candidate_repeating_another_is_dropped_unscored(
    real_models: Path, product_photo: ProductPhoto
) -> None:
    pixels = product_photo.rgb
    amazon = get_preset("amazon-main")
    preset = derive_preset(
        amazon, {"gate": {"candidates": 2, "checks": ["frame_fill"]}}, origin="test"
    )
    base = cutout(pixels, model=TEST_MODEL)
    # The crisp refinement already cached as the very same cutout: the same pixels.
    cuts = {TEST_MODEL: base, f"{TEST_MODEL}/crisp": base}
    best = best_output(pixels, cuts, preset, model=TEST_MODEL, ocr=False)
    assert len(best.ranking) == 2
    repeat = best.ranking[1]
    assert repeat["kept"] is False and repeat["rank"] is None
    assert repeat["why"] == "dropped: the same pixels as u2netp, fill 90.0%"
