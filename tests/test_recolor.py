"""Colourways: recolouring a region to a colour or a print, its colour check, every surface."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fabrics import shaded_fabric
from packshot.cli import app
from packshot.errors import InputError
from packshot.imageio import load_image
from packshot.ops.color import (
    delta_e_2000,
    dominant_color,
    lab_to_rgb,
    mean_color,
    rgb_to_lab,
)
from packshot.ops.recolor import recolor, recolor_pattern, shading_correlation
from packshot.pipeline.listing import run_listing
from packshot.pipeline.recolor import (
    colorway_items,
    parse_target,
    recolor_image,
    run_recolor,
)
from packshot.pipeline.sources import Source
from packshot.pipeline.steps import StepCall
from packshot.presets import derive_preset, get_preset
from packshot.presets.colors import parse_color
from packshot.samples import sample_path
from packshot.sentinel.checks import accent_separation, swatch_match
from packshot.sentinel.gate import evaluate, run_gate
from packshot.sentinel.subject import Subject
from servicekit import authorized_client, decode, photo_bytes

# Near-black to near-white, through a navy, a green, a red and a yellow.
TARGETS = [
    (18, 18, 20),
    (31, 58, 95),
    (34, 139, 34),
    (178, 34, 52),
    (232, 196, 70),
    (242, 240, 235),
]
SOURCES = [(25, 25, 30), (40, 60, 120), (200, 90, 40), (235, 235, 230)]


def _measured_de(rgb: np.ndarray, weight: np.ndarray, target: tuple[int, int, int]) -> float:
    lab = dominant_color(rgb, weight)
    return float(delta_e_2000(lab, rgb_to_lab(np.asarray(target, np.float32))))


@pytest.mark.parametrize("source", SOURCES)
def test_every_colourway_measures_on_target_with_folds_kept(source: tuple[int, int, int]) -> None:
    fabric = shaded_fabric(source, shape="tee")
    for target in TARGETS:
        result = recolor(fabric.rgb, fabric.alpha, target)
        de = _measured_de(result.rgb, fabric.alpha, target)
        assert de < 1.0, (source, target, de)
        assert result.delta_e == pytest.approx(de, abs=0.3)
        # The folds, weave and stitches are where they were: band-passed lightness
        # correlates with the original's (a flat tint of the region gives about 0). At
        # the ends of the range 8-bit levels and the highlight roll-off cost some.
        floor = 0.7 if target in (TARGETS[0], TARGETS[-1]) else 0.85
        assert result.shading_correlation > floor, (source, target, result.shading_correlation)


def test_outside_the_region_is_bit_exact_and_soft_edges_blend() -> None:
    fabric = shaded_fabric((40, 60, 120))
    result = recolor(fabric.rgb, fabric.alpha, (232, 196, 70))
    outside = fabric.alpha == 0
    assert outside.sum() > 10_000
    assert np.array_equal(result.rgb[outside], fabric.rgb[outside])
    # An edge pixel at half alpha lies between the photo and the full recolour of it.
    full = recolor(fabric.rgb, (fabric.alpha > 0).astype(np.float32), (232, 196, 70))
    edge = (fabric.alpha > 0.4) & (fabric.alpha < 0.6)
    assert edge.sum() > 50
    src, half, whole = (x[edge].astype(np.int32) for x in (fabric.rgb, result.rgb, full.rgb))
    lo, hi = np.minimum(src, whole) - 2, np.maximum(src, whole) + 2
    assert ((half >= lo) & (half <= hi)).mean() > 0.97


@pytest.mark.parametrize("source", SOURCES)
def test_a_colourway_is_the_photo_of_the_garment_dyed_that_colour(
    source: tuple[int, int, int],
) -> None:
    # Ground truth: the same folds, weave and light rendered with the other dye. The
    # recolour of the source to that render's measured colour must match it pixel by
    # pixel, dark made light and light made dark included.
    photo = shaded_fabric(source, shape="tee", noise=0.5)
    inside = photo.alpha > 0.99
    for dye in [(20, 20, 24), (60, 90, 160), (180, 60, 50), (90, 140, 60), (225, 225, 220)]:
        truth = shaded_fabric(dye, shape="tee", noise=0.5, seed=1)
        lab = dominant_color(truth.rgb, truth.alpha)
        target = tuple(int(v) for v in np.rint(lab_to_rgb(lab)))
        made = recolor(photo.rgb, photo.alpha, target)  # type: ignore[arg-type]
        de = delta_e_2000(rgb_to_lab(made.rgb[inside]), rgb_to_lab(truth.rgb[inside]))
        assert float(de.mean()) < 1.5, (source, dye, float(de.mean()))
        assert float(np.percentile(de, 95)) < 3.5, (source, dye, float(np.percentile(de, 95)))


def test_dark_to_light_rolls_highlights_off_instead_of_clipping() -> None:
    fabric = shaded_fabric((25, 25, 30), fold_depth=0.35)
    result = recolor(fabric.rgb, fabric.alpha, (242, 240, 235))
    inside = fabric.alpha > 0.99
    assert (result.rgb[inside] == 255).all(axis=-1).mean() < 0.02
    # The order of light and shade is kept: brighter before is brighter after.
    before = rgb_to_lab(fabric.rgb)[..., 0][inside]
    after = rgb_to_lab(result.rgb)[..., 0][inside]
    rank = np.corrcoef(np.argsort(np.argsort(before)), np.argsort(np.argsort(after)))[0, 1]
    assert rank > 0.9
    # A flat shift of lightness would keep the dark fabric's few L* of folds; the light
    # fabric shows them as a light fabric does (several times deeper in L*).
    assert np.percentile(after, 90) - np.percentile(after, 10) > 3 * (
        np.percentile(before, 90) - np.percentile(before, 10)
    )


def test_a_patch_of_another_colour_is_kept() -> None:
    fabric = shaded_fabric((200, 90, 40), patch=(90, 40, 160))
    result = recolor(fabric.rgb, fabric.alpha, (31, 58, 95))
    h, w = fabric.alpha.shape
    y0, x0, side = int(0.42 * h) + 4, int(0.44 * w) + 4, int(0.12 * w) - 8
    patch = (slice(y0, y0 + side), slice(x0, x0 + side))
    change = np.abs(result.rgb[patch].astype(int) - fabric.rgb[patch].astype(int))
    assert change.mean() < 2.0
    off = recolor(fabric.rgb, fabric.alpha, (31, 58, 95), keep_accents=False)
    assert np.abs(off.rgb[patch].astype(int) - fabric.rgb[patch].astype(int)).mean() > 20


@pytest.mark.parametrize(
    "patch",
    [(205, 95, 90), (215, 165, 95)],
    ids=["pink-applique-on-blush", "gilt-on-blush"],
)
def test_an_accent_of_a_near_hue_but_richer_colour_is_kept(patch: tuple[int, int, int]) -> None:
    # The sample handbag: blush leather with pink flowers and gilt hardware, hues within
    # 30 degrees of the leather's but two to four times its chroma. They are the bag's
    # appliques, not its leather: a navy colourway keeps them.
    fabric = shaded_fabric((230, 195, 180), patch=patch)
    result = recolor(fabric.rgb, fabric.alpha, (31, 58, 95))
    h, w = fabric.alpha.shape
    y0, x0, side = int(0.42 * h) + 4, int(0.44 * w) + 4, int(0.12 * w) - 8
    inside = (slice(y0, y0 + side), slice(x0, x0 + side))
    change = np.abs(result.rgb[inside].astype(int) - fabric.rgb[inside].astype(int))
    assert change.mean() < 2.0
    assert result.delta_e < 3.0  # the leather itself is on target


def test_shading_correlation_tells_a_tint_from_a_recolour() -> None:
    fabric = shaded_fabric((40, 60, 120))
    flat = fabric.rgb.copy()
    flat[fabric.alpha > 0] = (200, 30, 40)
    assert abs(shading_correlation(fabric.rgb, flat, fabric.alpha)) < 0.1
    kept = recolor(fabric.rgb, fabric.alpha, (200, 30, 40)).rgb
    assert shading_correlation(fabric.rgb, kept, fabric.alpha) > 0.9


def test_dominant_colour_is_the_fabric_not_its_print() -> None:
    fabric = shaded_fabric((40, 60, 120), patch=(230, 200, 40))
    plain = shaded_fabric((40, 60, 120))
    with_print = dominant_color(fabric.rgb, fabric.alpha)
    assert float(delta_e_2000(with_print, dominant_color(plain.rgb, plain.alpha))) < 1.5


def test_pattern_follows_the_shading_and_keeps_its_colours() -> None:
    fabric = shaded_fabric((200, 200, 195), fold_depth=0.35)
    ys, xs = np.mgrid[0:90, 0:90]
    check = np.where(
        (((ys // 15) + (xs // 15)) % 2 == 0)[..., None], (170, 40, 50), (240, 235, 220)
    )
    check = check.astype(np.uint8)
    result = recolor_pattern(fabric.rgb, fabric.alpha, check)
    outside = fabric.alpha == 0
    assert np.array_equal(result.rgb[outside], fabric.rgb[outside])
    assert result.delta_e < 4.0
    # The print averages to the swatch's colour (the gate's "mean" reading of it), and is
    # not washed out: its two colours stay far apart.
    subject = Subject(result.rgb, result.fabric)
    r, g, b = (int(v) for v in np.rint(lab_to_rgb(mean_color(check))))
    mean_check = swatch_match(subject, (r, g, b), max_delta_e=3.0, measure="mean")
    assert mean_check.passed, mean_check.detail
    inside = fabric.alpha > 0.99
    lum = rgb_to_lab(result.rgb)[..., 0][inside]
    assert np.percentile(lum, 90) - np.percentile(lum, 10) > 25
    # A plain swatch prints like a recolour: the photo's shading carries over.
    plain = np.full((40, 40, 3), (170, 40, 50), np.uint8)
    printed = recolor_pattern(fabric.rgb, fabric.alpha, plain)
    assert printed.shading_correlation > 0.9
    with pytest.raises(InputError, match="8x8"):
        recolor_pattern(fabric.rgb, fabric.alpha, check[:4, :4])


def test_named_colours_are_css_names_however_written() -> None:
    assert parse_color("forest green") == (34, 139, 34)
    assert parse_color("Forest-Green") == parse_color("forestgreen") == (34, 139, 34)
    assert parse_color("navy") == (0, 0, 128)
    with pytest.raises(InputError, match="CSS colour name"):
        parse_color("beetroot")


def test_a_target_is_a_colour_or_a_swatch_photo(tmp_path: Path) -> None:
    assert parse_target("#1F3A5F").label == "1f3a5f"
    assert parse_target("forest green").label == "forest-green"
    swatch = shaded_fabric((20, 110, 120), size=(120, 160), fold_depth=0.05).rgb[40:80, 60:100]
    path = tmp_path / "teal swatch.png"
    Image.fromarray(swatch).save(path)
    target = parse_target(str(path))
    assert target.swatch and target.label == "teal-swatch"
    assert (
        float(delta_e_2000(rgb_to_lab(np.asarray(target.rgb, np.float32)), dominant_color(swatch)))
        < 1.0
    )
    with pytest.raises(InputError, match="no file"):
        parse_target(str(tmp_path / "missing.jpg"))


def test_swatch_check_holds_a_colour_off_its_target_with_the_value() -> None:
    fabric = shaded_fabric((40, 60, 120))
    subject = Subject(fabric.rgb, fabric.alpha)
    on = swatch_match(subject, (40, 60, 120), max_delta_e=3.0, measure="dominant")
    assert on.passed and isinstance(on.value, float) and on.value < 3.0
    off = swatch_match(subject, (45, 75, 135), max_delta_e=3.0, measure="dominant")
    assert not off.passed and isinstance(off.value, float) and 3.0 < off.value < 10.0
    assert f"{off.value:.2f}" in off.detail


def test_the_gate_reads_the_swatch_threshold_from_the_preset() -> None:
    fabric = shaded_fabric((40, 60, 120))
    subject = Subject(fabric.rgb, fabric.alpha)
    preset = get_preset("etsy")
    # About CIEDE2000 4 off: more than the default of 3, less than a looser preset's 5.
    swatch = (40, 71, 132)
    [check] = evaluate(subject, preset, detect=None, swatch=swatch, swatch_measure="dominant",
                       only=["swatch_match"])  # fmt: skip
    assert check.threshold == 3.0 and isinstance(check.value, float) and 3.0 < check.value < 5.0
    assert not check.passed
    loose = derive_preset(preset, {"gate": {"thresholds": {"swatch_match": 5.0}}}, origin="t")
    [check] = evaluate(subject, loose, detect=None, swatch=swatch, swatch_measure="dominant",
                       only=["swatch_match"])  # fmt: skip
    assert check.passed
    # `packshot sentinel --swatch` (closest cell) uses the same threshold (it was 5).
    [closest] = evaluate(subject, preset, detect=None, swatch=(30, 60, 150), only=[])
    assert isinstance(closest.value, float) and 3.0 < closest.value < 5.0
    assert closest.name == "swatch_match" and not closest.passed
    outcome = run_gate(
        subject, preset, remake=None, detect=None, swatch=swatch, swatch_measure="dominant"
    )
    swatch_reasons = [r for r in outcome.result.reasons if r.startswith("swatch_match")]
    assert outcome.result.verdict == "hold" and swatch_reasons


def test_recolor_step_regions_and_errors(tmp_path: Path) -> None:
    fabric = shaded_fabric((200, 90, 40))
    mask = tmp_path / "mask.png"
    Image.fromarray(np.rint(fabric.alpha * 255).astype(np.uint8)).save(mask)
    result = run_recolor(fabric.rgb, {"color": "forest green", "mask": str(mask)})
    assert result.pixels.shape == fabric.rgb.shape
    assert result.info["region"] == "mask" and result.info["verdict"] == "deliver"
    assert result.info["swatch_match"]["value"] < 1.0
    outside = fabric.alpha == 0
    assert np.array_equal(result.pixels[outside], fabric.rgb[outside])
    # An RGBA input's alpha is the region, and the matte is handed on.
    rgba = np.dstack([fabric.rgb, np.rint(fabric.alpha * 255).astype(np.uint8)])
    stepped = run_recolor(rgba, {"color": "#1F3A5F"})
    assert stepped.info["region"] == "alpha" and stepped.info["measure"] == "dominant"
    assert np.array_equal(stepped.pixels[..., 3], rgba[..., 3])
    with pytest.raises(InputError, match="one output set each"):
        run_recolor(rgba, {"colors": ["navy", "ivory"]})
    with pytest.raises(InputError, match="unknown parameter"):
        run_recolor(rgba, {"colour": "navy"})
    with pytest.raises(InputError, match="not a colour"):
        run_recolor(rgba, {"color": "beetroot"})
    with pytest.raises(InputError, match="one region"):
        run_recolor(rgba, {"color": "navy", "mask": str(mask), "box": "0,0,10,10"})


def test_colours_fan_out_one_source_each() -> None:
    steps = (StepCall.resolved("recolor", {"colors": ["#1F3A5F", "forest green"]}),)
    items = colorway_items([Source("shirt", "shirt.jpg")], steps)
    assert [s.sku for s, _ in items] == ["shirt-1f3a5f", "shirt-forest-green"]
    assert [chain[0].params for _, chain in items] == [{"color": "#1F3A5F"},
                                                       {"color": "forest green"}]  # fmt: skip
    assert all(chain[0].target == steps[0].target for _, chain in items)
    with pytest.raises(InputError, match="both be filed"):
        colorway_items(
            [Source("a", "a.jpg")],
            (StepCall.resolved("recolor", {"colors": ["#1f3a5f", "#1F3A5F"]}),),
        )


def _garment_png(tmp_path: Path, color: tuple[int, int, int]) -> Path:
    fabric = shaded_fabric(color, size=(600, 600), shape="tee")
    # A studio cut-out: transparent around the garment, so the region is its alpha.
    rgba = np.dstack([fabric.rgb, np.rint(fabric.alpha * 255).astype(np.uint8)])
    path = tmp_path / "tee.png"
    Image.fromarray(rgba).save(path)
    return path


@pytest.mark.slow
def test_a_listing_writes_one_output_set_per_colourway(tmp_path: Path) -> None:
    source = _garment_png(tmp_path, (200, 90, 40))
    swatch = tmp_path / "swatch.jpg"
    Image.fromarray(np.full((64, 64, 3), (20, 110, 120), np.uint8)).save(swatch, quality=95)
    steps = (StepCall.resolved("recolor", {"colors": ["#1F3A5F", "forest green", str(swatch)]}),)
    records = run_listing([source], [get_preset("amazon-main")], tmp_path / "out", steps=steps)
    by_sku = {r.sku: r for r in records}
    assert set(by_sku) == {"tee-1f3a5f", "tee-forest-green", "tee-swatch"}
    for sku, rec in by_sku.items():
        checks = {c["name"]: c for c in rec.info["gate"]["checks"]}
        assert checks["swatch_match"]["value"] < 3.0, (sku, checks["swatch_match"])
        assert rec.output is not None and Path(rec.output).is_file()
        assert Path(rec.output).parent.name in (sku, "held")
    delivered = [r for r in records if r.ok]
    assert delivered, [r.error for r in records]
    assert all(Path(r.output or "") == tmp_path / "out" / r.sku / "amazon-main.jpg"
               for r in delivered)  # fmt: skip


def test_cli_writes_each_colour_and_holds_what_misses(tmp_path: Path) -> None:
    fabric = shaded_fabric((40, 60, 120))
    image = tmp_path / "shirt.png"
    Image.fromarray(fabric.rgb).save(image)
    mask = tmp_path / "mask.png"
    Image.fromarray(np.rint(fabric.alpha * 255).astype(np.uint8)).save(mask)
    out = tmp_path / "ways"
    args = ["recolor", str(image), "-o", str(out), "--mask", str(mask), "--json"]
    run = CliRunner().invoke(app, [*args, "-c", "#1F3A5F", "-c", "forest green"])
    assert run.exit_code == 0, run.output
    lines = [json.loads(x) for x in run.output.splitlines() if x.startswith("{")]
    assert [Path(x["output"]).name for x in lines] == ["shirt-1f3a5f.png", "shirt-forest-green.png"]
    assert all(x["verdict"] == "deliver" for x in lines)
    strict = CliRunner().invoke(app, [*args, "-c", "ivory", "--max-delta-e", "0.0001"])
    assert strict.exit_code == 0, strict.output
    [held] = [json.loads(x) for x in strict.output.splitlines() if x.startswith("{")]
    assert held["verdict"] == "hold" and Path(held["output"]).parent.name == "held"
    bad = CliRunner().invoke(app, ["recolor", str(image), "-o", str(out / "x.png")])
    assert bad.exit_code == 2 and "--color" in bad.output


def test_recolor_image_needs_one_target() -> None:
    fabric = shaded_fabric((40, 60, 120), size=(64, 64))
    with pytest.raises(InputError, match="give a target"):
        recolor_image(fabric.rgb, mask=fabric.alpha)


@pytest.fixture(scope="module")
def client(model_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with authorized_client(model_cache, tmp_path_factory.mktemp("service")) as c:
        yield c


def _png(pixels: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.slow
def test_http_recolor_delivers_on_target_and_holds_off_target(client: httpx.Client) -> None:
    fabric = shaded_fabric((200, 90, 40), size=(240, 320))
    mask = np.rint(fabric.alpha * 255).astype(np.uint8)
    body = {"image_base64": _png(fabric.rgb), "mask_base64": _png(mask), "format": "png"}
    r = client.post("/v1/run/recolor", json={**body, "color": "forest green"})
    assert r.status_code == 200, r.text
    out = np.asarray(decode(r.content).convert("RGB"))
    assert _measured_de(out, fabric.alpha, (34, 139, 34)) < 1.0
    assert np.array_equal(out[fabric.alpha == 0], fabric.rgb[fabric.alpha == 0])
    # A swatch photo as the reference: its dominant colour is the target.
    swatch = np.full((48, 48, 3), (31, 58, 95), np.uint8)
    r = client.post("/v1/run/recolor", json={**body, "reference_base64": _png(swatch)})
    assert r.status_code == 200, r.text
    assert (
        _measured_de(np.asarray(decode(r.content).convert("RGB")), fabric.alpha, (31, 58, 95)) < 1.0
    )
    # Off target (an impossible tolerance): held for review with the measured value.
    r = client.post("/v1/run/recolor", json={**body, "color": "navy", "max_delta_e": 0.0001})
    assert r.status_code == 202, r.text
    [entry] = r.json()["result"]["files"]
    assert entry["held"] and entry["gate"]["verdict"] == "hold"
    [check] = [c for c in entry["gate"]["checks"] if c["name"] == "swatch_match"]
    assert not check["passed"] and check["value"] > 0.0001
    r = client.post("/v1/run/recolor", json={**body, "color": "beetroot"})
    assert r.status_code == 400 and "CSS colour name" in r.json()["error"]["message"]


def test_the_cutout_of_a_person_is_refused_not_recoloured() -> None:
    photo = load_image(sample_path("astronaut")).pixels[..., :3]
    with pytest.raises(InputError, match="shows a person"):
        recolor_image(photo, color="navy")
    # Named, the garment is recoloured and the face is not touched.
    way = recolor_image(photo, color="navy", prompt="the orange suit")
    assert way.check.passed
    face = (slice(60, 160), slice(200, 300))
    assert np.array_equal(way.pixels[face], photo[face])


def test_accent_separation_measures_the_half_recoloured_share() -> None:
    region = np.zeros((40, 40), np.float32)
    region[5:35, 5:35] = 1.0
    clean = region.copy()
    clean[15:25, 15:25] = 0.0  # a kept patch: surely accent
    ok = accent_separation(region, clean, max_unsure=0.08)
    assert ok.passed and ok.value == 0.0
    mottled = clean.copy()
    mottled[5:15, 5:35] = 0.5  # a third of the region part old, part new
    held = accent_separation(region, mottled, max_unsure=0.08)
    assert not held.passed and held.value == pytest.approx(300 / 900, abs=1e-3)
    assert "neither surely fabric nor surely a kept accent" in held.detail


def test_a_clean_colourway_passes_accent_separation() -> None:
    fabric = shaded_fabric((200, 90, 40), patch=(90, 40, 160), shape="tee")
    mask = np.rint(fabric.alpha * 255).astype(np.uint8)
    way = recolor_image(fabric.rgb, color="#1F3A5F", mask=mask)
    names = [c.name for c in way.gate().checks]
    assert names == ["swatch_match", "accent_separation"]
    assert not way.held and way.info()["accent_separation"]["passed"]


@pytest.mark.slow
def test_the_handbag_with_half_navy_petals_is_held(real_models: Path) -> None:
    # Its pale petals are the leather's colour: the navy variant keeps the flowers' pink
    # hearts and gilt but not those petals, mottled; the gate must not deliver it.
    photo = load_image(photo_bytes("product", max_side=1024), label="bag").pixels
    way = recolor_image(photo, color="#1F3A5F", model="u2net")
    assert way.check.passed  # on target: the colour check alone would deliver it
    assert way.held and way.separation is not None and not way.separation.passed
    assert any("accent" in r for r in way.gate().reasons)


@pytest.mark.slow
def test_a_colourway_of_a_garment_the_isolation_doubts_is_held(
    real_models: Path, tmp_path: Path
) -> None:
    # The on-model top: its isolation misses the hem behind the arm (0.45 confident), so the
    # navy variant keeps a white band of the old top; dyed on target, it must not deliver.
    photo = tmp_path / "people.jpg"
    photo.write_bytes(photo_bytes("people", max_side=1024))
    way = recolor_image(load_image(photo).pixels, color="navy", prompt="the white top")
    assert way.check.passed  # the dye is on target: only the isolation's doubt can hold it
    assert way.identity is not None and not way.identity.passed
    assert way.held and any("probability" in r for r in way.gate().reasons)
    # A listing's recolor step with the prompt: the target is held for the same reason.
    steps = (StepCall.resolved("recolor", {"color": "navy", "prompt": "the white top"}),)
    [record] = run_listing([photo], [get_preset("amazon-main")], tmp_path / "out", steps=steps)
    checks = {c["name"]: c for c in record.info["gate"]["checks"]}
    assert not checks["isolation_confidence"]["passed"] and not record.ok
