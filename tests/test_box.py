"""``--box`` (and a ``box`` field) means one thing everywhere: x,y,w,h in pixels, decimals
rounded, clipped to the image, refused when thinner than 2 px or outside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import TEST_MODEL, ProductPhoto
from packshot.cli import app
from packshot.errors import InputError
from packshot.imageio import load_image
from packshot.ops.geometry import Box


def test_a_box_is_rounded_clipped_and_checked() -> None:
    from packshot.ops.geometry import parse_box  # (one parse_box: it lives here)

    assert parse_box("10,20,30,40", (100, 200)) == Box(10, 20, 40, 60)
    assert parse_box([9.6, 20.2, 30, 40], (100, 200)) == Box(10, 20, 40, 60)
    assert parse_box("190, 0, 50, 50", (100, 200)) == Box(190, 0, 200, 50)
    for bad, message in [
        ("10,20,30", "x,y,w,h"),
        ("a,b,c,d", "numbers"),
        ([1, 2, float("nan"), 4], "numbers"),
        ([True, 2, 3, 4], "numbers"),
        (12, "x,y,w,h"),
        ("0,0,1,40", "at least 2 px"),
        ("500,500,10,10", "outside the 200x100 image"),
    ]:
        with pytest.raises(InputError, match=f"^field: .*{message}"):
            parse_box(bad, (100, 200), "field")


def _stripes(path: Path) -> Path:
    rgb = np.full((120, 160, 3), 235, np.uint8)
    rgb[40:80, 130:160] = (30, 60, 160)  # a patch at the right edge
    Image.fromarray(rgb).save(path)
    return path


def test_removal_and_isolation_read_the_same_box(
    tmp_path: Path, real_models: Path, product_photo: ProductPhoto
) -> None:
    src = _stripes(tmp_path / "edge.png")
    runner = CliRunner()
    # A box drawn up to the frame that ends past it: both commands take what it covers.
    box = "120.4,30,60,60"
    removed = tmp_path / "removed.png"
    rm = runner.invoke(app, ["object-removal", str(src), "--box", box, "-o", str(removed)])
    assert rm.exit_code == 0, rm.output
    before, after = load_image(src).pixels, load_image(removed).pixels
    changed = np.any(before != after, axis=2)
    rows, cols = np.nonzero(changed)
    assert changed.any() and cols.min() >= 120 and rows.min() >= 30 and rows.max() < 90
    photo = product_photo.save_jpeg(tmp_path / "product.jpg")
    isolated = tmp_path / "isolated.png"
    edge = ["--box", "200.4,300,400,400", "-o", str(isolated), "-m", TEST_MODEL]
    iso = runner.invoke(app, ["product-isolation", str(photo), *edge])
    assert iso.exit_code == 0, iso.output
    assert load_image(isolated, keep_alpha=True).pixels[..., 3].max() == 255
    # The same bad box is refused by both, in the same words.
    thin = "10,10,1,50"
    errors = []
    for command, image in (("object-removal", src), ("product-isolation", photo)):
        out = tmp_path / f"{command}.png"
        res = runner.invoke(app, [command, str(image), "--box", thin, "-o", str(out)])
        assert res.exit_code == 2, res.output
        errors.append(res.stderr.strip())
    said = [e.partition("box: ")[2] for e in errors]
    assert said[0] == said[1] == "width and height must be at least 2 px, got 1x50"
