"""The sentinel's test set, generated from real photos with ground-truth masks.

Each case is an image file a human would judge the same way: the product cut out with its
true mask (colours decontaminated as the pipeline does), composited on white at a known
fill, or broken in one known way (off-white, ringing, a border, a price sticker, two
products, too small, cut off). ``expect`` names the checks that must fail (empty: the
image must be delivered).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from packshot.imageio import encode_image, load_image
from packshot.ops.framing import place_on_canvas
from packshot.ops.matte import estimate_foreground, to_rgba

ImageArray = npt.NDArray[np.uint8]

ROOT = Path(__file__).resolve().parent.parent
DEV_DIRS = (ROOT.parent / "shared" / "eval" / "dev", Path("/work/shared/eval/dev"))
SIDE = 1600
"""Canvas side: Amazon's minimum long side, so the size rule is met unless a case breaks it."""


def dev_dir() -> Path | None:
    return next((d for d in DEV_DIRS if (d / "MANIFEST.tsv").is_file()), None)


def true_cutout(dev: Path, ident: str) -> ImageArray:
    """The dev photo ``ident`` cut out with its ground-truth mask, decontaminated."""
    image = next(dev.glob(f"{ident}_image.*"))
    rgb = load_image(image, keep_alpha=False).pixels
    mask = load_image(dev / f"{ident}_mask.png", keep_alpha=False).pixels[..., 0]
    alpha = mask.astype(np.float32) / np.float32(255.0)
    return to_rgba(estimate_foreground(rgb, alpha), alpha)


def on_white(rgba: ImageArray, fill: float, side: int = SIDE, margin: float = 0.0) -> ImageArray:
    return place_on_canvas(rgba, side, side, fill=fill, margin=margin).rgb


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    expect: frozenset[str]
    """Checks that must fail; empty = deliver."""
    also: frozenset[str] = frozenset()
    """Checks that may fail too, because the same defect shows in them (an off-white
    background is also a halo around the product)."""


def _jpeg(rgb: ImageArray, quality: int = 92, exact: bool = True) -> bytes:
    return encode_image(rgb, "JPEG", quality=quality, exact_colors=exact)


def _sticker(rgb: ImageArray) -> ImageArray:
    """A yellow price sticker with "$19.99" in the top-right corner, on the background."""
    out = rgb.copy()
    h, w = out.shape[:2]
    x0, y0, x1, y1 = int(w * 0.76), int(h * 0.02), int(w * 0.98), int(h * 0.10)
    cv2.rectangle(out, (x0, y0), (x1, y1), (250, 210, 40), -1)
    cv2.rectangle(out, (x0, y0), (x1, y1), (200, 30, 30), 4)
    font = cv2.FONT_HERSHEY_DUPLEX
    cv2.putText(out, "$19.99", (x0 + 24, y1 - 30), font, 2.2, (20, 20, 20), 5, cv2.LINE_AA)
    return out


def build_cases(dev: Path) -> list[Case]:
    bag = true_cutout(dev, "002")
    holder = true_cutout(dev, "052")
    car = true_cutout(dev, "020")
    cases = [
        Case("fill-70", _jpeg(on_white(bag, 0.70)), frozenset({"frame_fill"})),
        Case("fill-84", _jpeg(on_white(bag, 0.84)), frozenset({"frame_fill"})),
        Case("fill-86", _jpeg(on_white(bag, 0.86)), frozenset()),
        Case("fill-95", _jpeg(on_white(bag, 0.95, margin=0.02)), frozenset()),
        Case("car-90", _jpeg(on_white(car, 0.90)), frozenset()),
    ]
    for level in (254, 250):
        canvas = place_on_canvas(bag, SIDE, SIDE, fill=0.9, color=(level, level, level)).rgb
        cases.append(
            Case(
                f"off-white-{level}",
                _jpeg(canvas),
                frozenset({"background_purity"}),
                frozenset({"edge_halo"}),
            )
        )
    # A JPEG at quality 40 with 4:2:0 chroma: ringing in the blocks along the car's edge.
    cases.append(
        Case(
            "jpeg-ringing",
            _jpeg(on_white(car, 0.9), quality=40, exact=False),
            frozenset({"edge_halo"}),
        )
    )
    # The old background's green left in the outer 3 px of the product (a bad matte).
    placed = place_on_canvas(car, SIDE, SIDE, fill=0.9)
    solid = placed.rgba[..., 3] > 128
    ring = solid & ~cv2.erode(solid.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    fringed = placed.rgb.copy()
    fringed[ring] = (0.5 * fringed[ring] + 0.5 * np.array([40, 200, 60])).astype(np.uint8)
    cases.append(
        Case(
            "green-fringe",
            _jpeg(fringed),
            frozenset({"edge_contamination"}),
            frozenset({"edge_halo"}),
        )
    )
    framed = on_white(bag, 0.86)
    cv2.rectangle(framed, (0, 0), (SIDE - 1, SIDE - 1), (90, 90, 90), 24)
    cases.append(Case("border", _jpeg(framed), frozenset({"border"})))
    cases.append(Case("price-sticker", _jpeg(_sticker(on_white(bag, 0.86))), frozenset({"text"})))
    pair = np.full((SIDE, SIDE, 3), 255, np.uint8)
    left = place_on_canvas(bag, SIDE // 2, SIDE, fill=0.9, margin=0.04).rgb
    right = place_on_canvas(holder, SIDE // 2, SIDE, fill=0.9, margin=0.04).rgb
    pair[:, : SIDE // 2] = left
    pair[:, SIDE // 2 :] = right
    # The pencil holder's white papers are partly read as background (white on white), so
    # the halo check may see them.
    cases.append(
        Case("two-products", _jpeg(pair), frozenset({"multiple_objects"}), frozenset({"edge_halo"}))
    )
    small = on_white(bag, 0.9, side=800)
    cases.append(Case("low-resolution", _jpeg(small), frozenset({"resolution"})))
    wide = on_white(bag, 0.95, side=SIDE)
    shifted = np.full_like(wide, 255)
    shift = SIDE // 12
    shifted[:, shift:] = wide[:, : SIDE - shift]
    cases.append(Case("cut-off", _jpeg(shifted), frozenset({"product_cut_off"})))
    return cases
