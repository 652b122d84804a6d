"""Licence-clean test sets for smart resize and text removal, made reproducibly from the
registry's sample photos (MIT / CC0 / public domain, see ``packshot samples``).

    python benchmarks/reframe_data.py OUT [--posters]

``lifestyle_photos(dest)`` writes each sample photo as it is and, for the portrait ones,
a landscape crop that keeps the subject whole (real pixels, another framing: the shape
most shop photos have), so the set holds portrait, square and landscape sources.

``posters(dest)`` writes text-overlay posters: a sample photo under a large display
headline (letters 11-16% of the height), a subtitle, a price pill and two lines of small
print, in PIL's bundled font at several sizes and colours. Each poster comes with a JSON
list of its text lines' boxes (x0, y0, x1, y1), the ground truth for "how many lines
are left".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Landscape crops of the portrait samples: (left, top, right, bottom) as shares of the
# photo, chosen by eye so the subject stays whole with room around it.
_LANDSCAPE = {
    "car": (0.0, 0.18, 1.0, 0.75),
    "product": (0.0, 0.12, 1.0, 0.88),
    "animal": (0.0, 0.15, 1.0, 0.80),
    "baby": (0.0, 0.10, 1.0, 0.85),
    "people": (0.0, 0.12, 1.0, 0.92),
}

_HEADLINES = ("Tys Grocery", "SALE", "Fresh Brew", "NEW IN", "Summer Days", "Cafe Rio")
_SUBTITLES = ("Everything you need, every day", "Handmade in small batches",
              "Only this weekend", "Free delivery over $30")  # fmt: skip
_PRINT = (
    "Offer valid while stocks last. Prices include VAT.",
    "See store for details. Not valid with other offers.",
)


def _samples() -> dict[str, Path]:
    from packshot.samples import sample_names, sample_path

    return {name: sample_path(name) for name in sample_names()}


def lifestyle_photos(dest: Path) -> list[Path]:
    """The sample photos and landscape crops of the portrait ones, as PNG in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for name, path in sorted(_samples().items()):
        im = Image.open(path).convert("RGB")
        target = dest / f"{name}.png"
        im.save(target)
        out.append(target)
        if name in _LANDSCAPE:
            w, h = im.size
            x0, y0, x1, y1 = _LANDSCAPE[name]
            crop = im.crop((round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h)))
            target = dest / f"{name}-landscape.png"
            crop.save(target)
            out.append(target)
    return out


def _line(
    draw: ImageDraw.ImageDraw,
    text: str,
    size: int,
    x: int,
    y: int,
    fill: tuple[int, int, int],
    stroke: tuple[int, int, int] | None = None,
) -> tuple[int, int, int, int]:
    font = ImageFont.load_default(size=size)
    width = max(1, size // 14) if stroke else 0
    draw.text((x, y), text, font=font, fill=fill, stroke_width=width, stroke_fill=stroke)
    x0, y0, x1, y1 = draw.textbbox((x, y), text, font=font, stroke_width=width)
    return int(x0), int(y0), int(x1), int(y1)


def _cover(photo: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``photo`` scaled to cover ``size`` and cropped to it, centred."""
    w, h = size
    s = max(w / photo.width, h / photo.height)
    big = photo.resize((round(photo.width * s) + 1, round(photo.height * s) + 1), Image.LANCZOS)
    left, top = (big.width - w) // 2, (big.height - h) // 2
    return big.crop((left, top, left + w, top + h))


def poster(photo: Image.Image, index: int, size: tuple[int, int]) -> tuple[Image.Image, list]:
    """One poster on ``photo`` (covering ``size``) and its text lines' boxes."""
    w, h = size
    im = _cover(photo, size)
    draw = ImageDraw.Draw(im)
    rng = np.random.default_rng(index)
    boxes = []
    headline = _HEADLINES[index % len(_HEADLINES)]
    hsize = round(h * (0.11 + 0.05 * rng.random()))
    font = ImageFont.load_default(size=hsize)
    tw = draw.textbbox((0, 0), headline, font=font)[2]
    if tw > 0.92 * w:  # a headline spans the poster at most
        hsize = round(hsize * 0.92 * w / tw)
        tw = round(0.92 * w)
    light = index % 2 == 0
    colour = (255, 255, 255) if light else (24, 24, 28)
    outline = (20, 20, 20) if light else (250, 250, 250)
    boxes.append(_line(draw, headline, hsize, (w - tw) // 2, round(0.04 * h), colour, outline))
    ssize = round(h * 0.035)
    sub = _SUBTITLES[index % len(_SUBTITLES)]
    boxes.append(_line(draw, sub, ssize, round(0.06 * w), boxes[0][3] + round(0.02 * h), colour,
                       outline))  # fmt: skip
    # A price pill: white letters on a solid rounded tag.
    psize = round(h * 0.045)
    price = f"${9 + index * 7}.99"
    font = ImageFont.load_default(size=psize)
    pl, pt, pr, pb = draw.textbbox((0, 0), price, font=font)
    px, py = round(w * 0.62), round(h * 0.70)
    pill = (px, py, px + pr - pl + psize, py + pb - pt + psize // 2)
    draw.rounded_rectangle(pill, radius=psize // 3, fill=(210, 30, 40))
    boxes.append(_line(draw, price, psize, px + psize // 2 - pl, py + psize // 4 - pt,
                       (255, 255, 255)))  # fmt: skip
    # Small print on a translucent band at the bottom.
    band = Image.new("RGBA", im.size, (0, 0, 0, 0))
    ImageDraw.Draw(band).rectangle((0, round(0.90 * h), w, h), fill=(0, 0, 0, 150))
    im = Image.alpha_composite(im.convert("RGBA"), band).convert("RGB")
    draw = ImageDraw.Draw(im)
    fsize = max(14, round(h * 0.016))
    y = round(0.915 * h)
    for text in _PRINT:
        boxes.append(_line(draw, text, fsize, round(0.05 * w), y, (235, 235, 235)))
        y = boxes[-1][3] + fsize // 2
    return im, boxes


def posters(dest: Path) -> list[Path]:
    """Posters on the sample photos (portrait 1600x2000 and landscape 2000x1400) with a
    ``<name>.json`` of their text lines and ``<name>.clean.png``, the photo without the
    text, next to each."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (name, path) in enumerate(sorted(_samples().items())):
        photo = Image.open(path).convert("RGB")
        size = (1600, 2000) if i % 2 == 0 else (2000, 1400)
        im, boxes = poster(photo, i, size)
        target = dest / f"poster-{name}.png"
        im.save(target)
        _cover(photo, size).save(target.with_suffix(".clean.png"))
        target.with_suffix(".json").write_text(json.dumps({"lines": boxes}))
        out.append(target)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--posters", action="store_true", help="the posters, not the photos")
    args = parser.parse_args()
    made = posters(args.out) if args.posters else lifestyle_photos(args.out)
    for path in made:
        print(path)


if __name__ == "__main__":
    main()
