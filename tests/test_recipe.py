"""Recipes: schema, overrides through the presets' own validation, messages, `packshot run`."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import TEST_MODEL, ProductPhoto
from packshot.cli import app
from packshot.errors import InputError
from packshot.imageio import load_image
from packshot.models.salient import DEFAULT_ENSEMBLE
from packshot.pipeline.recipe import Recipe, RecipeError, load_recipe, parse_recipe
from packshot.presets import PRESETS_ENV, get_preset, list_presets

EXAMPLE = Path(__file__).resolve().parents[1] / "examples/recipe-amazon-shopify-etsy.yaml"

VALID = """\
version: 1
cutout: {model: u2netp}
targets:
  - preset: amazon-main
  - preset: shopify
    jpeg_quality: 85
  - preset: etsy
    allow_crop: false
  - name: my-square-grey      # a new target
    extends: faire
    background_color: "#F5F5F5"
"""


@pytest.fixture(autouse=True)
def _builtin_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRESETS_ENV, raising=False)


def write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def yaml_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, text))
    assert isinstance(info.value, InputError)
    return str(info.value)


def changed(preset_name: str, recipe: Recipe, index: int) -> dict[str, object]:
    """The fields of the recipe's target that differ from the preset (provenance aside)."""
    base, got = get_preset(preset_name), recipe.presets[index]
    return {
        f.name: getattr(got, f.name)
        for f in dataclasses.fields(got)
        if f.name != "origin" and getattr(got, f.name) != getattr(base, f.name)
    }


# --------------------------------------------------------------------------- schema


def test_valid_recipe_applies_overrides_and_keeps_everything_else(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    recipe = load_recipe(path)
    assert recipe.model == "u2netp"
    assert [p.name for p in recipe.presets] == ["amazon-main", "shopify", "etsy", "my-square-grey"]
    assert recipe.presets[0] == get_preset("amazon-main")
    assert changed("shopify", recipe, 1) == {"jpeg_quality": 85}
    assert changed("etsy", recipe, 2) == {"allow_crop": False}
    assert changed("faire", recipe, 3) == {
        "name": "my-square-grey",
        "title": "my-square-grey",
        "background_color": (245, 245, 245),
    }
    assert recipe.presets[1].origin == str(path)
    assert recipe.as_dict()["targets"][1]["jpeg_quality"] == 85


def test_shipped_example_is_valid() -> None:
    recipe = load_recipe(EXAMPLE)
    assert recipe.model == "u2net"
    assert [p.name for p in recipe.presets] == ["amazon-main", "shopify", "etsy", "my-square-grey"]
    assert recipe.presets[3].size == (1024, 1024)


def test_json_recipe_and_shorthand_targets(tmp_path: Path) -> None:
    data = {
        "version": 1,
        "targets": ["amazon-main", {"preset": "Shopify", "margin": 0.1, "size": "1200x1200"}],
    }
    recipe = load_recipe(write(tmp_path, json.dumps(data), "policy.json"))
    assert recipe.model == DEFAULT_ENSEMBLE  # cutout is optional
    assert recipe.presets[0] == get_preset("amazon-main")
    assert changed("shopify", recipe, 1) == {"margin": 0.1, "size": (1200, 1200)}


def test_every_preset_round_trips_through_the_override_path() -> None:
    # A no-op override rebuilds each preset through the presets package's builder: any
    # drift between Preset.as_dict and the builder's input shows up here.
    targets = [{"preset": p.name, "notes": p.notes} for p in list_presets()]
    recipe = parse_recipe({"version": 1, "targets": targets})
    for built, original in zip(recipe.presets, list_presets(), strict=True):
        assert dataclasses.replace(built, origin=original.origin) == original


def test_size_overrides_follow_the_presets_file_rules() -> None:
    recipe = parse_recipe(
        {
            "version": 1,
            "targets": [
                {"preset": "shopify", "long_side": "1K"},
                {"preset": "etsy", "aspect": "1:1"},  # same long side, new shape
                {
                    "name": "etsy-small",
                    "extends": "etsy",
                    "size": [2000, 1500],
                    "min_short_side": 1500,
                },
                {"preset": "amazon-main", "min_fill": None, "margin": 0.2},  # null drops a rule
            ],
        }
    )
    assert [p.size for p in recipe.presets] == [
        (1024, 1024),
        (2700, 2700),
        (2000, 1500),
        (2000,) * 2,
    ]
    assert recipe.presets[3].min_fill is None and recipe.presets[3].margin == 0.2


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (
            "  - preset: shopify\n  - preset: shopify\n    jpeg_quality: 150\n",
            "recipe.yaml: targets[1].jpeg_quality: 150 must be an integer from 1 to 100",
        ),
        (
            "  - preset: shopify\n    jpeg_quality: high\n",
            "recipe.yaml: targets[0].jpeg_quality: 'high' must be an integer from 1 to 100",
        ),
        ("  - preset: amazon-mian\n", "recipe.yaml: targets[0].preset: Unknown marketplace preset"),
        ("  - preset: amazon-mian\n", "Did you mean 'amazon-main'?"),
        ("  - preset: shopify\n    jpeg_qualty: 80\n", "targets[0].jpeg_qualty: is not a recipe"),
        ("  - preset: shopify\n    jpeg_qualty: 80\n", "did you mean 'jpeg_quality'?"),
        ("  - preset: etsy\n    margin: 0.6\n", "targets[0].margin: 0.6 must be a share"),
        (
            "  - preset: amazon-main\n    margin: 0.2\n",
            "targets[0].margin: 0.2 leaves the product at most 60% of the frame, below "
            "min_fill 85%",
        ),
        (
            "  - preset: shopify\n    background_color: reddish\n",
            "targets[0].background_color: 'reddish'",
        ),
        ("  - preset: shopify\n    background_color: #F5F5F5\n", "quote a hex colour"),
        ("  - preset: shopify\n    size: 2000x1000\n", "targets[0].size: 2000x1000 does not match"),
        ("  - preset: shopify\n    allow_crop: maybe\n", "targets[0].allow_crop: 'maybe' must be"),
        ("  - preset: shopify\n  - shopify\n", "targets[1]: target 'shopify' is already listed"),
        (
            "  - name: shopify\n    extends: etsy\n",
            "targets[0].name: 'shopify' is already a preset",
        ),
        ("  - name: mine\n    extends: nope\n", "targets[0].extends: Unknown marketplace preset"),
        ("  - name: mine\n", "targets[0]: new target 'mine' needs extends: PRESET"),
        ("  - name: Mine Two\n    extends: etsy\n", "targets[0].name: must use lower-case"),
        ("  - preset: etsy\n    extends: shopify\n", "targets[0]: give either preset: NAME"),
        ("  - jpeg_quality: 80\n", "targets[0]: needs preset: NAME"),
        ("  - 42\n", "targets[0]: must be a preset name or a mapping"),
    ],
)
def test_target_errors_name_file_and_field(tmp_path: Path, targets: str, message: str) -> None:
    assert message in yaml_error(tmp_path, f"version: 1\ntargets:\n{targets}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("targets: [shopify]\n", "recipe.yaml: version: is required: version: 1"),
        ("version: 2\ntargets: [shopify]\n", "recipe.yaml: version: 2 is not supported"),
        ("version: 1.5\ntargets: [shopify]\n", "recipe.yaml: version: 1.5 is not supported"),
        ("version: 1\ncutout: {model: u2nett}\ntargets: [shopify]\n", "ensembles: u2net,"),
        ("version: 1\ntargets: []\n", "recipe.yaml: targets: must be a non-empty list"),
        ("version: 1\n", "recipe.yaml: targets: must be a non-empty list"),
        ("version: 1\ntarget: [shopify]\n", "recipe.yaml: target: is not a recipe field"),
        ("version: 1\ntarget: [shopify]\n", "did you mean 'targets'?"),
        ("version: 1\ncutout: {model: u2nett}\ntargets: [shopify]\n", "recipe.yaml: cutout.model:"),
        ("version: 1\ncutout: {modle: u2netp}\ntargets: [shopify]\n", "cutout.modle: is not a"),
        ("version: 1\ncutout: u2netp\ntargets: [shopify]\n", "cutout: must be a mapping"),
        ("- shopify\n", "recipe.yaml: must be a mapping with version, cutout and targets"),
        ("", "recipe.yaml: must be a mapping"),
        ("version: 1\ntargets: [shopify\n", "recipe.yaml: not valid YAML (line 3, column 1"),
    ],
)
def test_recipe_errors_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    assert message in yaml_error(tmp_path, text)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"recipe\.toml: a recipe must be a \.yaml"):
        load_recipe(write(tmp_path, "version = 1", "recipe.toml"))
    with pytest.raises(RecipeError, match=r"gone\.yaml: cannot read the recipe"):
        load_recipe(tmp_path / "gone.yaml")
    with pytest.raises(RecipeError, match=r"r\.json: not valid JSON \(line 1, column 2"):
        load_recipe(write(tmp_path, "{version: 1}", "r.json"))


def test_recipe_targets_build_on_user_presets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = write(
        tmp_path, '[presets.house]\nextends = "shopify"\njpeg_quality = 70\n', "presets.toml"
    )
    monkeypatch.setenv(PRESETS_ENV, str(user))
    recipe = parse_recipe({"version": 1, "targets": [{"preset": "house", "margin": 0.1}]})
    assert (recipe.presets[0].jpeg_quality, recipe.presets[0].margin) == (70, 0.1)


# --------------------------------------------------------------------------- packshot run


def _jpeg_qtables(quality: int) -> dict[int, list[int]]:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (128, 128, 128)).save(buf, "JPEG", quality=quality)
    with Image.open(buf) as im:
        return {k: list(v) for k, v in im.quantization.items()}


@pytest.mark.usefixtures("real_models")
def test_packshot_run_writes_targets_with_overrides(
    tmp_path: Path, product_photo: ProductPhoto
) -> None:
    recipe = write(
        tmp_path,
        f"""\
version: 1
cutout: {{model: {TEST_MODEL}}}
targets:
  - preset: shopify
    jpeg_quality: 72
    long_side: 1K
  - name: grey-square
    extends: amazon-main
    background_color: "#F5F5F5"
    size: 1600x1600
""",
    )
    src = product_photo.save_jpeg(tmp_path / "bottle.jpg")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(recipe), str(src), "--out", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "2 outputs written, 0 held for review, 0 failed" in result.output

    shopify = out / "bottle" / "shopify.jpg"
    with Image.open(shopify) as im:
        assert im.size == (1024, 1024)
        # The override is in the file: its quantisation tables are libjpeg's at quality 72.
        assert {k: list(v) for k, v in im.quantization.items()} == _jpeg_qtables(72)
        assert _jpeg_qtables(72) != _jpeg_qtables(get_preset("shopify").jpeg_quality)

    grey = load_image(out / "bottle" / "grey-square.jpg").pixels
    assert grey.shape == (1600, 1600, 3)
    # The new target's background colour, decoded, outside the product.
    border = np.concatenate([grey[:40].reshape(-1, 3), grey[-40:].reshape(-1, 3)])
    assert (border == (245, 245, 245)).all()

    report = json.loads((out / "report.json").read_text("utf-8"))
    assert "grey-square" in json.dumps(report) and "shopify" in json.dumps(report)

    # Re-running is the listing's resume: nothing to redo.
    again = CliRunner().invoke(app, ["run", str(recipe), str(src), "--out", str(out), "-q"])
    assert again.exit_code == 0, again.output


def test_packshot_run_bad_recipe_exits_2(tmp_path: Path) -> None:
    recipe = write(tmp_path, "version: 1\ntargets:\n  - preset: shopify\n    jpeg_quality: 0\n")
    result = CliRunner().invoke(
        app, ["run", str(recipe), str(tmp_path), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert "targets[0].jpeg_quality: 0 must be an integer from 1 to 100" in " ".join(
        result.output.split()
    )
    assert not (tmp_path / "out").exists()
