"""Sentinel benchmark: what the quality gate costs next to the pipeline it guards.

For each dev photo (../shared/eval/dev, else /work/shared/eval/dev): the amazon-main
output is rendered as the listing pipeline does (cutout, placement, encoding), then
gated without OCR, and OCR alone is timed on the 2000 px output. Prints per-image
seconds and the totals; targets: gate without OCR < 10% of the pipeline's time, OCR
< 1 s per 2K image on 2 cores. The gate's share is given in wall time and in CPU time
(process time, all threads): when other work shares the cores, wall times stretch
unevenly and the CPU share is the steadier figure.

    .venv/bin/python benchmarks/sentinel.py [--limit N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from packshot.imageio import load_image
from packshot.models.text import detect_text
from packshot.pipeline.cutout import cutout
from packshot.pipeline.listing import encode_for, render_target
from packshot.presets import get_preset
from packshot.sentinel.gate import run_gate
from packshot.sentinel.subject import Subject

ROOT = Path(__file__).resolve().parent.parent
DEV_DIRS = (ROOT.parent / "shared" / "eval" / "dev", Path("/work/shared/eval/dev"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=0, help="Only the first N photos.")
    args = parser.parse_args()
    dev = next((d for d in DEV_DIRS if d.is_dir()), None)
    if dev is None:
        raise SystemExit("no dev photos found (../shared/eval/dev)")
    photos = sorted(dev.glob("*_image.*"))
    if args.limit:
        photos = photos[: args.limit]
    preset = get_preset("amazon-main")
    # Warm the sessions so that model loading is not billed to the first image.
    warm = load_image(photos[0]).pixels[..., :3]
    cutout(warm)
    detect_text(np.full((64, 64, 3), 255, np.uint8))
    rows = []
    print(
        f"{'photo':14s} {'pipeline s':>10s} {'gate s':>7s} {'share':>6s} {'cpu sh':>7s} "
        f"{'ocr s':>6s} {'ocr cpu/2':>9s}  verdict"
    )
    for photo in photos:
        t0, c0 = time.perf_counter(), time.process_time()
        rgb = load_image(photo).pixels[..., :3]
        cut = cutout(rgb)
        rendered = render_target(rgb, cut, preset)
        data, _ = encode_for(rendered.pixels, preset)
        pipeline_s = time.perf_counter() - t0
        pipeline_cpu = time.process_time() - c0
        assert rendered.alpha is not None
        t1, c1 = time.perf_counter(), time.process_time()
        subject = Subject(
            load_image(data).pixels[..., :3],
            rendered.alpha,
            "alpha",
            preset.format,
            len(data),
            source_rgb=cut.rgba[..., :3],
            source_alpha=cut.alpha.astype(np.float32) / np.float32(255.0),
        )
        result = run_gate(subject, preset, remake=None, detect=None).result
        gate_s = time.perf_counter() - t1
        gate_cpu = time.process_time() - c1
        t2, c2 = time.perf_counter(), time.process_time()
        detect_text(subject.rgb)
        ocr_s = time.perf_counter() - t2
        # CPU seconds over the 2 cores: what OCR costs when the machine is not shared.
        ocr_cpu = (time.process_time() - c2) / 2
        rows.append((pipeline_s, gate_s, ocr_s, ocr_cpu, pipeline_cpu, gate_cpu))
        failed = ",".join(c.name for c in result.checks if not c.passed)
        print(
            f"{photo.name:14s} {pipeline_s:10.2f} {gate_s:7.3f} {gate_s / pipeline_s:6.1%} "
            f"{gate_cpu / pipeline_cpu:7.1%} {ocr_s:6.2f} {ocr_cpu:9.2f}  {result.verdict} {failed}"
        )
    pipe, gate, ocr, ocr_cpu, pipe_cpu, gate_cpu = (
        float(np.mean(c)) for c in zip(*rows, strict=True)
    )
    print(
        f"\nmean over {len(rows)} photos: pipeline {pipe:.2f} s, gate without OCR {gate:.3f} s "
        f"({gate / pipe:.1%} of the pipeline's wall time, {gate_cpu / pipe_cpu:.1%} of its CPU "
        f"time: {gate_cpu:.3f} of {pipe_cpu:.2f} CPU s; target < 10%), OCR on the "
        f"{preset.width}x{preset.height} output {ocr:.2f} s wall, {ocr_cpu:.2f} s CPU per core "
        "(target < 1 s on 2 cores; wall time is inflated when other work shares the cores)"
    )


if __name__ == "__main__":
    main()
