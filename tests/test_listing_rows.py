"""Per-SKU manifest fields: a row's prompt isolates its product first, its title or alt
text travels to report.json, a sidecar beside each output, and the HTTP listing result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import TEST_MODEL
from packshot.cli import app
from packshot.errors import InputError
from packshot.imageio import load_image
from packshot.isolate.step import run as isolate_step
from packshot.pipeline.listing import source_steps
from packshot.pipeline.sources import Source, read_manifest
from packshot.pipeline.steps import StepCall
from packshot.samples import sample_path


def test_manifest_rows_carry_prompt_title_and_alt(tmp_path: Path) -> None:
    csv = tmp_path / "catalog.csv"
    csv.write_text(
        "sku,image,prompt,title,alt\n"
        'B-1,bag.jpg,the red  handbag,"Rose tote, pink",\n'
        "C-2,cup.jpg,,Espresso cup,A red espresso cup on its saucer\n"
        "D-3,other.jpg,,,\n"
    )
    bag, cup, other = read_manifest(csv)
    assert (bag.prompt, bag.title, bag.alt, bag.alt_text) == (
        "the red handbag",  # white space folded
        "Rose tote, pink",
        None,
        "Rose tote, pink",  # no alt: the title is the alt text
    )
    assert cup.prompt is None and cup.alt_text == "A red espresso cup on its saucer"
    assert (other.prompt, other.title, other.alt_text) == (None, None, None)
    js = tmp_path / "catalog.json"
    js.write_text(json.dumps([{"sku": "A", "image": "a.jpg", "alt": 5}]))
    with pytest.raises(InputError, match=r"catalog\.json: row 1: alt must be text"):
        read_manifest(js)
    js.write_text(json.dumps([{"sku": "A", "image": "a.jpg", "prompt": "the bag " * 40}]))
    with pytest.raises(InputError, match=r"row 1: prompt is \d+ characters; keep it under 200"):
        read_manifest(js)


def test_a_rows_prompt_is_the_isolate_step() -> None:
    row = Source("S", "/x.jpg", prompt="the red handbag")
    # No recipe steps: isolation runs first.
    assert source_steps(row, ()) == (StepCall("product-isolation", {"prompt": "the red handbag"}),)
    # A recipe's isolate step takes the row's product, keeping its other parameters.
    recipe = (
        StepCall("object-removal", {"text": True}),
        StepCall("product-isolation", {"box": [1, 2, 3, 4], "model": "u2netp"}),
    )
    assert source_steps(row, recipe) == (
        StepCall("object-removal", {"text": True}),
        StepCall("product-isolation", {"model": "u2netp", "prompt": "the red handbag"}),
    )
    # A row without a prompt runs the recipe as written; a bare isolate step then says
    # what it lacks.
    assert source_steps(Source("T", "/y.jpg"), recipe) == recipe
    with pytest.raises(InputError, match="or the manifest row a prompt column"):
        isolate_step(np.zeros((32, 32, 3), np.uint8), {})


@pytest.mark.slow
def test_a_catalog_with_prompts_and_titles_isolates_each_sku_on_white(
    real_models: Path, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "sku,image,prompt,title\n"
        f"CUP-1,{sample_path('coffee')},the espresso cup,Red espresso cup\n"
        f"BAG-2,{sample_path('product')},the floral handbag,Pink floral handbag\n"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "listing",
            str(catalog),
            "--market",
            "amazon-main",
            "--out",
            str(out),
            "-q",
            "--model",
            TEST_MODEL,
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    rows = {t["sku"]: t for t in report["targets"]}
    for sku, title, what in [
        ("CUP-1", "Red espresso cup", "cup"),
        ("BAG-2", "Pink floral handbag", "handbag"),
    ]:
        row = rows[sku]
        if sku == "BAG-2":
            # The handbag is an unnamed localized box (the detector calls it a cake): the
            # isolation is not sure enough of it, so the output is written and held.
            assert row["state"] == "held", row["error"]
            failed = [c["name"] for c in row["gate"]["checks"] if not c["passed"]]
            assert failed == ["isolation_confidence"], row["error"]
        else:
            assert row["state"] == "done", row["error"]
        assert row["alt"] == title and row["title"] == title
        [step] = row["steps"]
        assert step["step"] == "product-isolation" and what in step["matched"]
        assert row["model"] == "step:product-isolation"
        pixels = load_image(row["output"]).pixels
        assert pixels.shape == (2000, 2000, 3)
        corners = pixels[[0, 0, -1, -1], [0, -1, 0, -1]]
        assert (corners == 255).all()
        sidecar = Path(row["output"]).with_suffix(".json")
        assert row["sidecar"] == str(sidecar)
        assert json.loads(sidecar.read_text())["alt"] == title
    # The cup alone was isolated, not the saucer under it: the product on the canvas is
    # about as wide as tall (cup and saucer are half as wide again as tall).
    cup = load_image(rows["CUP-1"]["output"]).pixels
    ys, xs = np.nonzero((cup < 235).any(axis=2))
    assert (xs.max() - xs.min()) < 1.2 * (ys.max() - ys.min())
