"""Peak memory of one large cutout: a registry sample photo enlarged to ``--mp`` megapixels.

    python benchmarks/memory.py [--mp 50] [--sample sample-product] [--model u2net]

Runs in a fresh process what ``packshot background-removal`` runs on one photo (decode, model,
refinement, PNG encode) and prints the process's peak resident set size (``ru_maxrss``:
models, Python and every native buffer), beside the same figure after loading the models
on a small image, so the image's own share (bytes a pixel) can be read off.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from packshot.imageio import load_image, save_image
from packshot.models.registry import model_path
from packshot.pipeline.cutout import cutout


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mp", type=float, default=50.0, help="megapixels (default 50)")
    parser.add_argument("--sample", default="sample-product", help="registry sample photo")
    parser.add_argument("--model", default="u2net")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="packshot-bench-memory-") as tmp:
        src = Image.open(model_path(args.sample)).convert("RGB")
        scale = (args.mp * 1e6 / (src.width * src.height)) ** 0.5
        size = (round(src.width * scale), round(src.height * scale))
        photo = Path(tmp) / "large.jpg"
        src.resize(size, Image.Resampling.BICUBIC).save(photo, quality=90)
        del src
        cutout(np.full((64, 64, 3), 128, np.uint8), model=args.model)  # load the models
        base = peak_rss_mb()
        t0 = time.perf_counter()
        pixels = load_image(photo).pixels
        cut = cutout(pixels, model=args.model)
        save_image(cut.rgba, Path(tmp) / "large.png")
        seconds = time.perf_counter() - t0
        peak = peak_rss_mb()
    megapixels = size[0] * size[1] / 1e6
    print(
        f"{size[0]}x{size[1]} ({megapixels:.1f} MP) {args.model}: peak RSS {peak:.0f} MB "
        f"(models loaded: {base:.0f} MB; the photo's share "
        f"{(peak - base) * 1024 * 1024 / (megapixels * 1e6):.1f} bytes a pixel); "
        f"{seconds:.1f} s, timings { ({k: round(v, 2) for k, v in cut.timings.items()}) }"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
