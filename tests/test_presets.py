"""Marketplace presets: the built-in data, the user file, the error messages, the CLI."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from packshot import presets
from packshot.cli.presets import presets_app
from packshot.errors import InputError
from packshot.presets import Preset, PresetError, loader
from packshot.presets.colors import parse_color

REQUIRED = (
    "amazon-main",
    "amazon-supporting",
    "shopify",
    "etsy",
    "etsy-hero",
    "walmart",
    "ebay",
    "tiktok-shop",
    "instagram-feed",
    "instagram-story",
    "faire",
    "display-16x9",
    "display-21x9",
)
BUILTINS = presets.load_presets(None)


@pytest.fixture(autouse=True)
def no_user_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(presets.PRESETS_ENV, raising=False)
    loader._load.cache_clear()


def user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "presets.toml"
    path.write_text(text, "utf-8")
    monkeypatch.setenv(presets.PRESETS_ENV, str(path))
    return path


# --------------------------------------------------------------------------- built-ins


def test_builtins_load_and_cover_every_required_target() -> None:
    names = [p.name for p in presets.list_presets()]
    assert set(REQUIRED) <= set(names)
    assert len(names) == len(set(names))
    for preset in presets.list_presets():
        assert isinstance(preset, Preset)
        assert preset.origin.endswith("marketplaces.toml")
        assert preset.title and preset.title != preset.name
        assert preset.notes, f"{preset.name} has no notes"


def test_amazon_main_facts() -> None:
    p = presets.get_preset("amazon-main")
    assert p.background == "white"
    assert p.background_color == (255, 255, 255)
    assert not p.keeps_background
    assert p.min_fill == 0.85
    assert p.target_fill >= p.min_fill
    assert p.aspect == "1:1"
    assert p.size == (2000, 2000)
    assert p.min_long_side == 1600
    assert p.format == "JPEG"
    assert p.extension == "jpg"
    assert set(p.formats) == {"JPEG", "PNG", "TIFF", "GIF"}
    assert {"no-text", "no-watermark", "no-border", "no-props", "single-product"} <= set(p.rules)
    assert p.source.startswith("https://sellercentral.amazon.")


@pytest.mark.parametrize(
    ("name", "facts"),
    [
        ("amazon-supporting", {"background": "any", "aspect": "1:1", "min_long_side": 1600}),
        (
            "shopify",
            {
                "size": (2048, 2048),
                "max_bytes": 20_000_000,
                "target_bytes": 3_000_000,
                "formats": ("JPEG", "PNG", "GIF", "WEBP", "HEIC"),
            },
        ),
        (
            "etsy",
            {"background": "keep", "aspect": "4:3", "size": (2700, 2025), "min_short_side": 2000},
        ),
        ("etsy-hero", {"background": "keep", "aspect": "1:1", "min_short_side": 2000}),
        ("walmart", {"background": "white", "min_fill": 0.85, "aspect": "1:1", "format": "JPEG"}),
        ("ebay", {"size": (1600, 1600), "min_long_side": 500, "format": "JPEG"}),
        ("tiktok-shop", {"aspect": "9:16", "size": (1152, 2048)}),
        ("instagram-feed", {"size": (1080, 1080), "min_short_side": 1000}),
        ("instagram-story", {"aspect": "9:16", "size": (1080, 1920)}),
        ("faire", {"background": "white", "aspect": "1:1", "min_long_side": 1000}),
        ("display-16x9", {"aspect": "16:9", "size": (2048, 1152), "background": "keep"}),
        ("display-21x9", {"aspect": "21:9", "size": (2048, 878), "background": "keep"}),
    ],
)
def test_spec_facts(name: str, facts: dict[str, object]) -> None:
    preset = presets.get_preset(name)
    for field, value in facts.items():
        assert getattr(preset, field) == value, field


def test_walmart_meets_spec_minimum_of_2000() -> None:
    p = presets.get_preset("walmart")
    assert p.min_long_side is not None and p.min_long_side >= 2000
    assert p.short_side >= 2000


@pytest.mark.parametrize("preset", list(BUILTINS.values()), ids=list(BUILTINS))
def test_every_builtin_size_matches_its_aspect_and_minimums(preset: Preset) -> None:
    aw, ah = presets.parse_aspect(preset.aspect)
    w, h = preset.size
    assert (w > h) == (aw > ah) and (w < h) == (aw < ah)
    # The derived side is within a pixel of the exact ratio.
    if w >= h:
        assert abs(h - w * ah / aw) <= 1
    else:
        assert abs(w - h * aw / ah) <= 1
    assert preset.long_side >= (preset.min_long_side or 0)
    assert preset.short_side >= (preset.min_short_side or 0)
    if preset.min_fill is not None:
        assert preset.target_fill >= preset.min_fill
    assert preset.format in preset.formats
    if preset.max_bytes and preset.target_bytes:
        assert preset.target_bytes <= preset.max_bytes


def test_size_for_aspect_rounds_the_short_side_once() -> None:
    assert presets.size_for_aspect("21:9", 2048) == (2048, 878)
    assert presets.size_for_aspect("9:16", 2048) == (1152, 2048)
    assert presets.size_for_aspect("3:4", 1024) == (768, 1024)
    assert presets.size_for_aspect("1:1", 1080) == (1080, 1080)
    with pytest.raises(PresetError, match=r"Aspect '5:4' is not one of 1:1, 16:9"):
        presets.parse_aspect("5:4")


def test_preset_is_frozen_and_validated_when_built_in_code() -> None:
    p = presets.get_preset("shopify")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.aspect = "4:3"  # type: ignore[misc]
    with pytest.raises(PresetError, match=r"Preset 'x': size 100x120 does not match aspect 1:1"):
        Preset(name="x", title="X", background="white", aspect="1:1", size=(100, 120))
    ok = Preset(name="x", title="X", background="keep", aspect="3:2", size=(1536, 1024))
    assert ok.format == "JPEG" and ok.keeps_background


def test_as_dict_is_json_ready() -> None:
    data = json.loads(json.dumps(presets.get_preset("etsy").as_dict()))
    assert data["size"] == [2700, 2025]
    assert data["extension"] == "jpg"
    assert data["background_color"] == [255, 255, 255]


# --------------------------------------------------------------------------- lookups


def test_unknown_name_suggests_and_lists_known_names() -> None:
    with pytest.raises(InputError) as info:
        presets.get_preset("amazon-mian")
    message = str(info.value)
    assert "Unknown marketplace preset 'amazon-mian'." in message
    assert "Did you mean 'amazon-main'?" in message
    assert "shopify" in message and "display-21x9" in message
    assert presets.PRESETS_ENV in message
    assert info.value.exit_code == 2


def test_names_are_case_insensitive() -> None:
    assert presets.get_preset(" Amazon-Main ").name == "amazon-main"


def test_parse_preset_names() -> None:
    names = [p.name for p in presets.parse_preset_names("amazon-main, shopify,,amazon-main")]
    assert names == ["amazon-main", "shopify"]
    names = [p.name for p in presets.parse_preset_names(["etsy", "walmart,ebay"])]
    assert names == ["etsy", "walmart", "ebay"]
    every = presets.parse_preset_names("shopify,all")
    assert every[0].name == "shopify"
    assert {p.name for p in every} == set(BUILTINS)
    with pytest.raises(PresetError, match="No marketplace preset given"):
        presets.parse_preset_names(" , ")
    with pytest.raises(PresetError, match="Did you mean 'shopify'"):
        presets.parse_preset_names("amazon-main,shopfy")


# --------------------------------------------------------------------------- user file


def test_user_override_merges_one_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = user_file(tmp_path, monkeypatch, "[presets.shopify]\njpeg_quality = 80\n")
    shopify = presets.get_preset("shopify")
    assert shopify == dataclasses.replace(BUILTINS["shopify"], jpeg_quality=80, origin=str(path))
    # Untouched presets stay built-in, in their place.
    assert presets.get_preset("etsy") == BUILTINS["etsy"]
    assert [p.name for p in presets.list_presets()] == list(BUILTINS)


def test_override_of_aspect_keeps_the_long_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_file(
        tmp_path,
        monkeypatch,
        '[presets.shopify]\naspect = "4:3"\n\n[presets.etsy]\naspect = "1:1"\n',
    )
    assert presets.get_preset("shopify").size == (2048, 1536)
    # Etsy's built-in is an exact size; its long side carries over to the new shape.
    assert presets.get_preset("etsy").size == (2700, 2700)


def test_override_of_formats_and_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user_file(
        tmp_path,
        monkeypatch,
        """
[presets.amazon-main]
formats = ["png", "tif"]

[presets.shopify]
formats = ["WEBP", "JPG"]
background_color = "#F5F5F5"

[presets.walmart]
min_fill = "none"
max_bytes = "2 MiB"
""",
    )
    amazon = presets.get_preset("amazon-main")
    assert amazon.formats == ("PNG", "TIFF")
    assert amazon.format == "PNG"  # JPEG is no longer listed: the first listed is written
    shopify = presets.get_preset("shopify")
    assert shopify.format == "JPEG"  # still listed, so still preferred
    assert shopify.background_color == (245, 245, 245)
    walmart = presets.get_preset("walmart")
    assert walmart.min_fill is None
    assert walmart.max_bytes == 2 * 1024 * 1024


def test_user_file_adds_presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = user_file(
        tmp_path,
        monkeypatch,
        """
[presets.my-shop]
title = "My shop portrait"
background = "white"
aspect = "3:4"
long_side = "1K"
formats = ["WEBP", "JPEG"]
max_bytes = 500000
target_bytes = "300 KB"
rules = ["no-text"]
source = "https://example.com/guide"

[presets.amazon-4k]
extends = "amazon-main"
long_side = "4K"
""",
    )
    mine = presets.get_preset("my-shop")
    assert mine.size == (768, 1024)
    assert mine.format == "WEBP" and mine.extension == "webp"
    assert (mine.max_bytes, mine.target_bytes) == (500_000, 300_000)
    assert mine.origin == str(path)
    big = presets.get_preset("amazon-4k")
    assert big.size == (4096, 4096)
    assert big.title == "amazon-4k"
    assert (big.min_fill, big.rules) == (
        BUILTINS["amazon-main"].min_fill,
        BUILTINS["amazon-main"].rules,
    )
    assert [p.name for p in presets.list_presets()][-2:] == ["my-shop", "amazon-4k"]


def test_edited_user_file_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = user_file(tmp_path, monkeypatch, "[presets.ebay]\nlong_side = 1000\n")
    assert presets.get_preset("ebay").size == (1000, 1000)
    path.write_text("[presets.ebay]\nlong_side = 1200\njpeg_quality = 85\n", "utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert presets.get_preset("ebay").size == (1200, 1200)


@pytest.mark.parametrize(
    ("text", "preset", "field", "detail"),
    [
        (
            '[presets.shopify]\naspect = "5:4"',
            "shopify",
            "aspect",
            "'5:4' is not one of 1:1, 16:9, 9:16, 4:3, 3:4, 21:9, 2:3, 3:2.",
        ),
        ("[presets.etsy]\nsize = [2700, 2000]", "etsy", "size", "does not match aspect 4:3"),
        (
            '[presets.etsy]\nsize = "2000x1500"',
            "etsy",
            "size",
            "2000x1500 is below the preset's own min_short_side of 2000 px",
        ),
        ("[presets.etsy]\nsize = [2700]", "etsy", "size", "must be [width, height]"),
        ("[presets.amazon-main]\nmin_fill = 85", "amazon-main", "min_fill", "must be a share"),
        (
            "[presets.amazon-main]\nmin_fill = 0.95",
            "amazon-main",
            "margin",
            "leaves the product at most 90% of the frame, below min_fill 95%",
        ),
        ("[presets.amazon-main]\nmargin = 0.6", "amazon-main", "margin", "must be a share"),
        (
            '[presets.ebay]\nformat = "PNG"',
            "ebay",
            "format",
            "'PNG' is not among the accepted formats JPEG",
        ),
        ('[presets.ebay]\nformats = ["JPEG", "BMP"]', "ebay", "formats", "'BMP' is not one of"),
        (
            '[presets.shopify]\ntarget_bytes = "30 MB"',
            "shopify",
            "target_bytes",
            "30 MB is above max_bytes 20 MB",
        ),
        ('[presets.shopify]\nmax_bytes = "lots"', "shopify", "max_bytes", "must be bytes"),
        (
            '[presets.ebay]\nrules = ["no-txt"]',
            "ebay",
            "rules",
            "'no-txt' is not a known rule (did you mean 'no-text'?)",
        ),
        (
            '[presets.ebay]\naspct = "1:1"',
            "ebay",
            "aspct",
            "is not a preset field (did you mean 'aspect'?)",
        ),
        ('[presets.ebay]\nbackground = "transparent"', "ebay", "background", "not one of"),
        ('[presets.ebay]\nbackground_color = "#GGG"', "ebay", "background_color", "#RRGGBB"),
        ("[presets.ebay]\njpeg_quality = 0", "ebay", "jpeg_quality", "from 1 to 100"),
        ('[presets.ebay]\nlong_side = "8K"', "ebay", "long_side", '"1K"/"2K"/"4K"'),
        ('[presets.ebay]\nsource = "ebay.com"', "ebay", "source", "must be an http(s) URL"),
        (
            '[presets.new]\nbackground = "white"\nlong_side = 1000',
            "new",
            "aspect",
            "is required",
        ),
        ('[presets.new]\nbackground = "white"\naspect = "1:1"', "new", "size", "is required"),
        ('[presets.Shop]\nbackground = "white"\naspect = "1:1"', "Shop", "name", "lower-case"),
        (
            '[presets.all]\nbackground = "white"\naspect = "1:1"\nlong_side = 9',
            "all",
            "name",
            "reserved",
        ),
    ],
)
def test_bad_values_name_file_preset_and_field(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    preset: str,
    field: str,
    detail: str,
) -> None:
    path = user_file(tmp_path, monkeypatch, text + "\n")
    with pytest.raises(PresetError) as info:
        presets.list_presets()
    message = str(info.value)
    assert message.startswith(f"{path}: [presets.{preset}] {field} "), message
    assert detail in message, message
    assert (info.value.preset, info.value.field) == (preset, field)
    assert isinstance(info.value, InputError)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("[presets.shopify\n", "not valid TOML"),
        ("colour = 1\n", "unexpected top-level key(s) ['colour']"),
        ("presets = 3\n", "'presets' must be a table"),
        ('[presets.x]\nextends = "amazon-mian"\n', "is not a known preset (did you mean"),
        ('[presets.shopify]\nextends = "etsy"\n', "extends is for new presets"),
    ],
)
def test_bad_file_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, detail: str
) -> None:
    path = user_file(tmp_path, monkeypatch, text)
    with pytest.raises(PresetError) as info:
        presets.get_preset("shopify")
    assert str(info.value).startswith(f"{path}: ")
    assert detail in str(info.value)


def test_missing_user_file_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.toml"
    monkeypatch.setenv(presets.PRESETS_ENV, str(missing))
    with pytest.raises(PresetError, match=rf"{presets.PRESETS_ENV} points to .*nope.toml"):
        presets.list_presets()


def test_load_presets_checks_a_file_without_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text("[presets.faire]\nlong_side = 1000\n", "utf-8")
    assert presets.load_presets(path)["faire"].size == (1000, 1000)
    assert presets.get_preset("faire").size == (2048, 2048)


# --------------------------------------------------------------------------- CLI


def test_cli_lists_presets_without_a_subcommand() -> None:
    result = CliRunner().invoke(presets_app, [])
    assert result.exit_code == 0, result.output
    for name in REQUIRED:
        assert name in result.output
    for figure in ("2700x2025", "2048x878", "85%", "20 MB", "aim 3 MB", "9:16", "JPEG"):
        assert figure in result.output
    assert CliRunner().invoke(presets_app, ["list"]).output == result.output


def test_cli_json_parses() -> None:
    for args in (["--json"], ["list", "--json"]):
        result = CliRunner().invoke(presets_app, args)
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        by_name = {row["name"]: row for row in data}
        assert set(REQUIRED) <= set(by_name)
        assert by_name["amazon-main"]["min_fill"] == 0.85
        assert by_name["shopify"]["size"] == [2048, 2048]


def test_cli_show_prints_every_field() -> None:
    result = CliRunner().invoke(presets_app, ["show", "amazon-main"])
    assert result.exit_code == 0, result.output
    out = result.output
    for text in ("Amazon main image", "255, 255, 255", "85%", "1600 px", "2000x2000 px"):
        assert text in out
    assert "JPEG, PNG, TIFF, GIF" in out
    assert "no-watermark" in out and presets.RULES["no-watermark"] in out
    assert "marketplaces.toml" in out

    shown = json.loads(CliRunner().invoke(presets_app, ["show", "etsy", "--json"]).output)
    assert shown == presets.get_preset("etsy").as_dict()


def test_cli_errors_are_messages_not_tracebacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = CliRunner().invoke(presets_app, ["show", "amazon-mian"])
    assert result.exit_code == 2
    assert "Did you mean 'amazon-main'?" in result.output
    assert "Traceback" not in result.output

    path = user_file(tmp_path, monkeypatch, '[presets.shopify]\naspect = "5:4"\n')
    result = CliRunner(env={"COLUMNS": "300"}).invoke(presets_app, [])
    assert result.exit_code == 2
    assert f"{path}: [presets.shopify] aspect '5:4' is not one of" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#FFFFFF", (255, 255, 255)),
        ("f5f5f5", (245, 245, 245)),
        ("#fff", (255, 255, 255)),
        ("White", (255, 255, 255)),
        ("240, 241, 242", (240, 241, 242)),
        ([1, 2, 3], (1, 2, 3)),
        ((0, 0, 0), (0, 0, 0)),
    ],
)
def test_one_colour_parser_reads_every_written_form(
    value: object, expected: tuple[int, ...]
) -> None:
    assert parse_color(value, "bg") == expected


@pytest.mark.parametrize("value", ["#ggg", "256,0,0", [1, 2], [1.5, 2, 3], [True, 0, 0], None, 7])
def test_one_colour_parser_names_the_field_and_the_forms(value: object) -> None:
    with pytest.raises(InputError, match=r"^bg: .* is not a colour; use '#RRGGBB'"):
        parse_color(value, "bg")
