"""Cutout quality and speed: packshot against rembg, on photos with ground-truth masks.

    python benchmarks/cutout.py [--data ../shared/eval/dev] [--model u2net ...] [--no-rembg]
                                [--engine registry|onnxruntime|openvino:f32|... ...]
                                [--category product] [--limit N] [--views DIR] [--json FILE]

Prints, per category and overall: IoU of alpha >= 0.5, MAE of alpha, boundary IoU (band
2% of the diagonal) and median seconds per image, for each packshot model asked for and
for rembg 2.0.86's ``u2net`` session run in the same process on the same files with the
very same u2net.onnx (rembg is an optional dependency: ``pip install 'packshot[bench]'``),
per inference engine (``--engine``; default: the registry's choice, ONNX Runtime and
OpenVINO fp32), every runner on each image in turn (interleaved, the order rotating), and
each runner's median per-image time over rembg's on the same image (``x rembg``).
``--views DIR`` writes each cutout composited on magenta, beside the image and ground
truth, to look at edges and halos.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from packshot.imageio import load_image, save_image
from packshot.models.registry import model_path
from packshot.models.runtime import ENGINE_ENV, engine_of
from packshot.models.salient import resolve_ensemble
from packshot.ops.mask_metrics import MatteScore, score_matte
from packshot.ops.matte import composite_on_color
from packshot.pipeline.cutout import cutout

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "dev"
MAGENTA = (255, 0, 255)

Runner = Callable[[np.ndarray], np.ndarray]  # RGB uint8 -> RGBA uint8


def read_manifest(data: Path) -> list[dict[str, str]]:
    with open(data / "MANIFEST.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def packshot_runner(model: str, refine: bool) -> Runner:
    return lambda rgb: cutout(rgb, model=model, refine=refine).rgba


def rembg_runner() -> Runner | None:
    """rembg's u2net session, pointed at packshot's verified copy of the same weights."""
    try:
        import rembg
    except ImportError:
        print("rembg not installed (pip install 'packshot[bench]'): skipping it", file=sys.stderr)
        return None
    home = Path(tempfile.mkdtemp(prefix="packshot-u2net-home-"))
    (home / "u2net.onnx").symlink_to(model_path("u2net"))
    os.environ["U2NET_HOME"] = str(home)
    session = rembg.new_session("u2net")

    def run(rgb: np.ndarray) -> np.ndarray:
        return np.asarray(rembg.remove(rgb, session=session))

    return run


def evaluate(
    runners: list[tuple[str, Runner]], rows: list[dict[str, str]], data: Path, views: Path | None
) -> dict[str, list[tuple[str, str, MatteScore, float]]]:
    """Every runner on every image, interleaved (the order rotates per image), so that a
    shared machine's load falls on all runners alike."""
    for _, run in runners:
        run(np.full((64, 64, 3), 128, np.uint8))  # load sessions before timing
    per_runner: dict[str, list[tuple[str, str, MatteScore, float]]] = {n: [] for n, _ in runners}
    for k, row in enumerate(rows):
        rgb = load_image(data / row["image"], keep_alpha=False).pixels
        truth = load_image(data / row["mask"]).pixels[..., 0].astype(np.float32) / 255.0
        for name, run in runners[k % len(runners) :] + runners[: k % len(runners)]:
            t0 = time.perf_counter()
            rgba = run(rgb)
            seconds = time.perf_counter() - t0
            score = score_matte(rgba[..., 3].astype(np.float32) / 255.0, truth)
            per_runner[name].append((row["id"], row["category"], score, seconds))
            if views is not None:
                _save_view(views / f"{row['id']}_{name.replace(':', '_')}.jpg", rgb, truth, rgba)
    return per_runner


def engine_runner(model: str, engine: str | None, refine: bool) -> Runner:
    """packshot on ``engine`` (None: the registry's choice, with its fallbacks)."""
    inner = packshot_runner(model, refine)

    def run(rgb: np.ndarray) -> np.ndarray:
        if engine is None:
            os.environ.pop(ENGINE_ENV, None)
        else:
            os.environ[ENGINE_ENV] = engine
        return inner(rgb)

    return run


def _save_view(path: Path, rgb: np.ndarray, truth: np.ndarray, rgba: np.ndarray) -> None:
    gt = np.dstack([np.rint(truth * 255).astype(np.uint8)] * 3)
    save_image(np.hstack([rgb, gt, composite_on_color(rgba, MAGENTA)]), path, quality=90)


def summarise(items: list[tuple[str, str, MatteScore, float]]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[tuple[MatteScore, float]]] = {}
    for _, category, score, seconds in items:
        groups.setdefault(category, []).append((score, seconds))
        groups.setdefault("ALL", []).append((score, seconds))
    return {
        cat: {
            "n": len(v),
            "iou": statistics.fmean(s.iou for s, _ in v),
            "mae": statistics.fmean(s.mae for s, _ in v),
            "boundary_iou": statistics.fmean(s.boundary_iou for s, _ in v),
            "median_s": statistics.median(t for _, t in v),
        }
        for cat, v in sorted(groups.items(), key=lambda kv: (kv[0] == "ALL", kv[0]))
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_data = Path(os.environ.get("PACKSHOT_EVAL_DIR", DEFAULT_DATA))
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--model", action="append", help="packshot model/ensemble (repeatable)")
    parser.add_argument("--no-refine", action="store_true", help="also run without refinement")
    parser.add_argument("--no-rembg", action="store_true")
    parser.add_argument("--views", type=Path, help="write magenta composites here")
    parser.add_argument("--per-image", action="store_true")
    parser.add_argument("--json", type=Path, help="write all figures as JSON")
    parser.add_argument(
        "--engine",
        action="append",
        help="inference engine per run (repeatable; 'registry' = the catalog's choice): "
        "default registry, onnxruntime, openvino:f32",
    )
    parser.add_argument("--category", action="append", help="only these categories")
    parser.add_argument("--limit", type=int, help="only the first N images")
    parser.add_argument("--ids", action="append", help="only these image ids (comma-separated)")
    args = parser.parse_args()
    args.engine = args.engine or ["registry", "onnxruntime", "openvino:f32"]

    rows = read_manifest(args.data)
    if args.category:
        rows = [r for r in rows if r["category"] in args.category]
    if args.ids:
        rows = [r for r in rows if r["id"] in set(",".join(args.ids).split(","))]
    rows = rows[: args.limit] if args.limit else rows
    runners: list[tuple[str, Runner]] = []
    engines: list[str | None] = [None if e == "registry" else e for e in args.engine]
    for model in args.model or ["u2net"]:
        for engine in engines:
            label = engine or "registry=" + ",".join(
                sorted({engine_of(m.model).label for m in resolve_ensemble(model).members})
            )
            runners.append((f"packshot:{model}@{label}", engine_runner(model, engine, True)))
        if args.no_refine:
            runners.append((f"packshot:{model}:raw", engine_runner(model, None, False)))
    if not args.no_rembg and (rembg := rembg_runner()) is not None:
        runners.append(("rembg:u2net", rembg))

    print(f"{len(rows)} images from {args.data}; load {os.getloadavg()[0]:.1f}")
    results = evaluate(runners, rows, args.data, args.views)
    peer = results.get("rembg:u2net")
    width = max(len(n) for n, _ in runners) + 1
    print(
        f"{'runner':{width}s} {'category':9s} {'n':>3s} {'IoU':>6s} {'MAE':>7s} "
        f"{'BIoU':>6s} {'s/img':>6s} {'x rembg':>7s}"
    )
    report = {}
    for name, _ in runners:
        items = results[name]
        summary = summarise(items)
        # Per image, this runner's time over rembg's on the same image in the same round.
        ratios = (
            {
                cat: statistics.median(
                    t / p[3]
                    for (_, c, _, t), p in zip(items, peer, strict=True)
                    if cat in (c, "ALL")
                )
                for cat in summary
            }
            if peer
            else {}
        )
        report[name] = {
            "summary": summary,
            "time_vs_rembg": ratios,
            "items": [{"id": i, "category": c, **vars(s), "seconds": t} for i, c, s, t in items],
        }
        for cat, f in summary.items():
            ratio = f"{ratios[cat]:7.2f}" if cat in ratios else f"{'-':>7s}"
            print(
                f"{name:{width}s} {cat:9s} {f['n']:3d} {f['iou']:6.3f} {f['mae']:7.4f} "
                f"{f['boundary_iou']:6.3f} {f['median_s']:6.2f} {ratio}"
            )
        if args.per_image:
            for i, c, s, t in items:
                print(f"    {i} {c:8s} IoU {s.iou:.3f} BIoU {s.boundary_iou:.3f} {t:.2f}s")
        sys.stdout.flush()
    print(f"load at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
