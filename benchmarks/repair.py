"""Repair speed and quality: sticker removal on 2048 px photos, reference inpainting,
replace background.

    python benchmarks/repair.py [--data ../shared/eval/dev] [--repeat 3] [--cores 2]
                                [--views DIR]

Figures printed:

``sticker``     a red "$19.99" price sticker is drawn on each photo scaled to 2048 px on
                its long side, then removed with :func:`packshot.pipeline.repair.remove`
                (``text=True``); split into text detection, mask (sticker growth) and
                fill (PatchMatch on the hole's box plus margin), median of ``--repeat``
                runs, with the fill's structure/seam measures and whether the OCR still
                finds text where the sticker was.
``reference``   a square is cut out of a real photo and restored from a rotated, rescaled,
                differently lit copy of the region (:func:`inpaint_from_reference`): mean
                absolute error inside the hole beside that of plain inpainting of the same
                hole, alignment inliers and RMS reprojection error, seconds.
``posters``    the text-overlay posters of ``benchmarks/reframe_data.py`` (a display
                headline, a subtitle, a price pill, two lines of small print on a sample
                photo): of their drawn text lines, how many the OCR (the text detector at
                every scale, :func:`detect_text_all_scales`) finds before and after
                ``remove(text=True)``; a line counts as found when detected boxes cover
                30% of it. Target (issue 19): after <= 10% of before.
``scene``       :func:`replace_background` of the sample product photo into a studio
                sweep and into a photo at 2048x1536: cutout and placement seconds.

Timings are wall-clock seconds on this machine with ``--cores`` threads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

_ROOT = Path(__file__).resolve().parents[1]
# ../shared next to the repository; a git worktree sits one level deeper.
DEFAULT_DATA = next(
    (
        p
        for p in (_ROOT.parent / "shared/eval/dev", _ROOT.parents[1] / "shared/eval/dev")
        if p.is_dir()
    ),
    _ROOT.parent / "shared/eval/dev",
)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _to_long_side(rgb: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = side / max(h, w)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return np.asarray(cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=interp))


def _sticker(rgb: np.ndarray, x: int, y: int, size: int) -> tuple[np.ndarray, tuple[int, ...]]:
    im = Image.fromarray(rgb)
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = draw.textbbox((0, 0), "$19.99", font=font)
    w, h = right - left + size, bottom - top + size // 2
    draw.rounded_rectangle([x, y, x + w, y + h], radius=size // 5, fill=(220, 38, 38))
    draw.text((x + size // 2 - left, y + size // 4 - top), "$19.99", fill="white", font=font)
    return np.asarray(im), (x, y, x + w + 1, y + h + 1)


def _sticker_run(tagged: np.ndarray) -> tuple[Any, float, float, float, float]:
    """One removal, and its stages timed apart: detect, mask, fill; then the whole call."""
    from packshot.ops.inpaint import inpaint
    from packshot.ops.sticker import sticker_mask
    from packshot.pipeline.repair import removable_text, remove

    boxes, t_d = _timed(lambda: removable_text(tagged))
    mask, t_m = _timed(lambda: sticker_mask(tagged, boxes))
    _, t_f = _timed(lambda: inpaint(tagged, mask))
    result, t_t = _timed(lambda: remove(tagged, text=True))
    return result, t_d, t_m, t_f, t_t


def bench_stickers(photos: dict[str, np.ndarray], repeat: int, views: Path | None) -> None:
    from packshot.models.text import detect_text

    print("\nsticker removal, 2048 px long side (median seconds)")
    print(f"{'photo':12} {'size':>10} {'detect':>7} {'mask':>6} {'fill':>6} {'total':>6} "
          f"{'hole px':>8} {'struct':>6} {'seam':>5} {'text left':>9}")  # fmt: skip
    detect_text(np.zeros((64, 64, 3), np.uint8))  # load the detector untimed
    for name, rgb in photos.items():
        big = _to_long_side(rgb, 2048)
        h, w = big.shape[:2]
        tagged, patch = _sticker(big, round(0.55 * w), round(0.6 * h), 92)
        runs = [_sticker_run(tagged) for _ in range(repeat)]
        result = runs[-1][0]
        det, mk, fill, total = ([r[i] for r in runs] for i in range(1, 5))
        assert result is not None
        x0, y0, x1, y1 = patch
        left = [
            t.box
            for t in detect_text(result.rgb)
            if t.box[0] < x1 and x0 < t.box[2] and t.box[1] < y1 and y0 < t.box[3]
        ]
        q = result.quality
        print(
            f"{name:12} {f'{w}x{h}':>10} {statistics.median(det):7.2f} "
            f"{statistics.median(mk):6.2f} {statistics.median(fill):6.2f} "
            f"{statistics.median(total):6.2f} {int(result.mask.sum()):8d} "
            f"{q.structure:6.2f} {q.seam:5.2f} {len(left):9d}"
        )
        if views is not None:
            pad = 80
            crop = (slice(max(0, y0 - pad), y1 + pad), slice(max(0, x0 - pad), x1 + pad))
            Image.fromarray(np.concatenate([tagged[crop], result.rgb[crop]], 1)).save(
                views / f"sticker-{name}.png"
            )


def _rotated(region: np.ndarray, angle: float, scale: float) -> np.ndarray:
    h, w = region.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    nw = int(w * abs(m[0, 0]) + h * abs(m[0, 1])) + 2
    nh = int(w * abs(m[0, 1]) + h * abs(m[0, 0])) + 2
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return np.asarray(cv2.warpAffine(region, m, (nw, nh), flags=cv2.INTER_AREA,
                                     borderMode=cv2.BORDER_REFLECT))  # fmt: skip


def bench_reference(samples: dict[str, np.ndarray]) -> None:
    from packshot.ops.inpaint import inpaint
    from packshot.ops.reference import inpaint_from_reference

    cases = [("astronaut", 200, 150, 90, 23.0, 0.7), ("chelsea", 260, 120, 80, -31.0, 1.3),
             ("coffee", 230, 230, 80, 12.0, 0.8)]  # fmt: skip
    print("\nreference inpainting (hole cut from the photo, reference rotated/rescaled/relit)")
    print(f"{'photo':10} {'hole':>7} {'ref MAE':>8} {'plain MAE':>9} {'inliers':>8} "
          f"{'RMS px':>7} {'ref s':>6} {'plain s':>7}")  # fmt: skip
    for name, x, y, s, angle, scale in cases:
        original = samples[name]
        hole = np.zeros(original.shape[:2], bool)
        hole[y : y + s, x : x + s] = True
        c = s // 2
        region = original[y - c : y + s + c, x - c : x + s + c]
        ref = np.clip(_rotated(region, angle, scale) * 0.85 + 12, 0, 255).astype(np.uint8)
        damaged = original.copy()
        damaged[hole] = 0
        restored, t_r = _timed(lambda d=damaged, h=hole, r=ref: inpaint_from_reference(d, h, r))
        plain, t_p = _timed(lambda d=damaged, h=hole: inpaint(d, h))
        e_r = float(np.abs(restored.rgb[hole].astype(float) - original[hole]).mean())
        e_p = float(np.abs(plain.rgb[hole].astype(float) - original[hole]).mean())
        a = restored.alignment
        inl = f"{a.inliers}/{a.matches}"
        print(f"{name:10} {f'{s}x{s}':>7} {e_r:8.2f} {e_p:9.2f} {inl:>8} "
              f"{a.reprojection_error:7.2f} {t_r:6.2f} {t_p:7.2f}")  # fmt: skip


def bench_scene(product: np.ndarray, backdrop: np.ndarray, views: Path | None) -> None:
    from packshot.ops.scene import SceneParams, cover, place_in_scene, studio_gradient
    from packshot.pipeline.cutout import cutout

    print("\nreplace background, 2048x1536 output (seconds)")
    cut, t_cut = _timed(lambda: cutout(product))
    print(f"cutout (u2net ensemble, {product.shape[1]}x{product.shape[0]}): {t_cut:.2f}")
    for label, make in (
        ("studio", lambda: studio_gradient(2048, 1536)),
        ("photo", lambda: cover(backdrop, 2048, 1536)),
    ):
        bg, t_bg = _timed(make)
        params = SceneParams(placement="floor" if label == "studio" else "thirds-right")
        scene, t_place = _timed(lambda b=bg, p=params: place_in_scene(cut.rgba, b, p))
        print(f"{label:7} background {t_bg:.2f}  placement+shadow+harmonise {t_place:.2f}")
        if views is not None:
            Image.fromarray(scene.rgb).save(views / f"scene-{label}.png")


def _found(lines: list[list[int]], boxes: list[Any]) -> int:
    """Drawn lines of which detected boxes cover at least 30%."""
    n = 0
    for x0, y0, x1, y1 in lines:
        cover = np.zeros((y1 - y0, x1 - x0), bool)
        for b in boxes:
            bx0, by0, bx1, by1 = b.box
            cover[max(0, by0 - y0) : max(0, by1 - y0), max(0, bx0 - x0) : max(0, bx1 - x0)] = True
        n += int(cover.mean() >= 0.3)
    return n


def bench_posters(views: Path | None) -> None:
    import json
    import sys
    import tempfile

    from packshot.models.text import detect_text_all_scales
    from packshot.pipeline.repair import remove

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reframe_data import posters

    print(f"\n{'poster':24s} {'lines':>5} {'before':>6} {'after':>5} {'clean':>5} "
          f"{'hole %':>6} {'s':>6}")  # fmt: skip
    before = after = texture = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in posters(Path(tmp)):
            rgb = np.asarray(Image.open(path).convert("RGB"))
            lines = json.loads(path.with_suffix(".json").read_text())["lines"]
            found = detect_text_all_scales(rgb)
            b = _found(lines, found)
            result, seconds = _timed(lambda rgb=rgb: remove(rgb, text=True))
            left = detect_text_all_scales(result.rgb)
            a = _found(lines, left)
            # Where the photo itself reads as text (fur, a patterned dress) to the detector,
            # a line's place is "found" after any removal: counted apart.
            clean = np.asarray(Image.open(path.with_suffix(".clean.png")).convert("RGB"))
            on_clean = detect_text_all_scales(clean)
            busy = [ln for ln in lines if _found([ln], on_clean)]
            c = sum(_found([ln], left) for ln in busy)
            before, after, texture = before + b, after + a, texture + c
            print(f"{path.stem:24s} {len(lines):5d} {b:6d} {a:5d} {c:5d} "
                  f"{100 * result.mask.mean():6.1f} {seconds:6.2f}")  # fmt: skip
            if views is not None:
                Image.fromarray(result.rgb).save(views / f"{path.stem}-removed.png")
    share = after / max(before, 1)
    text_share = (after - texture) / max(before, 1)
    verdict = "meets" if text_share <= 0.10 else "misses"
    print(f"posters: OCR finds {after} of the {before} lines it found before ({share:.0%}); "
          f"{texture} of those are where it reads text in the photo without the poster's "
          f"text too ('clean'); without them {after - texture} ({text_share:.0%}): target "
          f"<= 10%: {verdict}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--views", type=Path, default=None, help="write the outputs here")
    parser.add_argument("--posters", action="store_true", help="only the poster figures")
    args = parser.parse_args()
    os.environ.setdefault("PACKSHOT_THREADS", str(args.cores))
    cv2.setNumThreads(args.cores)
    if args.views is not None:
        args.views.mkdir(parents=True, exist_ok=True)

    if args.posters:
        bench_posters(args.views)
        return
    from packshot.imageio import load_image
    from packshot.samples import sample_path

    samples = {
        n: load_image(sample_path(n), keep_alpha=False).pixels
        for n in ("product", "coffee", "chelsea", "astronaut")
    }
    photos = {"product": samples["product"], "coffee": samples["coffee"]}
    for image_id in ("002", "020", "049"):
        found = sorted(args.data.glob(f"{image_id}_image.*")) if args.data.is_dir() else []
        if found:
            photos[f"dev-{image_id}"] = load_image(found[0], keep_alpha=False).pixels
    bench_stickers(photos, args.repeat, args.views)
    bench_reference(samples)
    bench_scene(samples["product"], samples["coffee"][60:400, 380:600], args.views)
    bench_posters(args.views)


if __name__ == "__main__":
    main()
