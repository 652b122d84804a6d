"""The default cutout (full-size U-2-Net ensemble) on real photos fetched by the registry.

Slow: it installs the 176 MB u2net on first use. Ground-truth masks for these photos do
not exist, so the assertions are the properties every good cutout of them has: the
product's centre opaque, the photo's corners transparent, a plausible product area, and
edges that are not a hard binary step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from packshot.imageio import load_image
from packshot.pipeline.cutout import cutout
from packshot.samples import sample_path

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("real_models")]


@pytest.mark.parametrize(
    ("sample", "centre", "area"),
    [
        # (name, a point on the product as (row, col) fractions, product area range)
        ("product", (0.55, 0.50), (0.15, 0.75)),
        ("car", (0.55, 0.50), (0.15, 0.75)),
        ("coffee", (0.45, 0.45), (0.25, 0.85)),
    ],
)
def test_default_cutout_of_a_real_photo(
    sample: str, centre: tuple[float, float], area: tuple[float, float]
) -> None:
    pixels = load_image(sample_path(sample), keep_alpha=False).pixels
    result = cutout(pixels)

    alpha = result.alpha
    h, w = alpha.shape
    assert result.rgba.shape == (h, w, 4) and result.model == "u2net"
    assert alpha[int(centre[0] * h), int(centre[1] * w)] == 255
    corner = max(4, h // 50)
    for patch in (alpha[:corner, :corner], alpha[:corner, -corner:]):
        assert patch.max() == 0
    share = float((alpha >= 128).mean())
    assert area[0] < share < area[1], share
    partial = (alpha > 0) & (alpha < 255)
    assert 0 < partial.sum() < 0.1 * alpha.size  # soft edges, but only at edges
    # Opaque pixels keep the photo's own colours exactly (no colour shift on the product).
    opaque = alpha == 255
    assert np.array_equal(result.rgba[..., :3][opaque], pixels[opaque])


def test_demo_samples_are_real_photos(tmp_path: Path) -> None:
    from packshot.samples import fetch_samples

    paths = fetch_samples(tmp_path, ["product", "coffee"])
    sizes = [load_image(p).pixels.shape for p in paths]
    assert all(min(s[:2]) >= 300 for s in sizes)
