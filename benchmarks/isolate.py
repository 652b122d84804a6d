"""Prompted isolation on a labelled set: match rate, IoU and seconds per isolation at 2K.

    python benchmarks/isolate.py [--side 2048] [--model u2net] [--split report] [--out DIR]

Cases come from ``isolate_set.py`` beside this file: products with known alpha
composited into real scenes (registry sample photos; dev-set objects when
../shared/eval/dev is present, in memory only) and on-model photos with shop prompts
and no true mask. Each case is in the ``tune`` or the ``report`` split; figures are
printed per split (``--split`` picks one). A composite counts as matched when the answer's
IoU with the truth is at least ``SANE_IOU``; an on-model answer is one given (judge it by
eye: ``--out`` saves every answer on magenta). A refused prompt (NoMatchError) is printed
with its reason. Models are loaded by one untimed run first; a plain cutout of the first
scene is timed for scale (the same CPU's speed right now), and the median seconds per
isolation are printed beside the target (< 2 s on 2 cores).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from isolate_set import Case, build_cases
from packshot.errors import NoMatchError
from packshot.isolate import isolate
from packshot.models.salient import DEFAULT_ENSEMBLE
from packshot.pipeline.cutout import cutout

TARGET_S = 2.0
SANE_IOU = 0.5


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _save(out: Path, case: Case, rgba: np.ndarray) -> None:
    a = rgba[..., 3:].astype(np.float32) / 255.0
    magenta = np.array([255.0, 0.0, 255.0], dtype=np.float32)
    comp = rgba[..., :3].astype(np.float32) * a + magenta * (1.0 - a)
    small = Image.fromarray(np.clip(comp, 0, 255).astype(np.uint8))
    small.thumbnail((768, 768))
    small.save(out / f"{case.split}-{case.name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=2048, help="long side of the input (px)")
    parser.add_argument("--model", default=DEFAULT_ENSEMBLE, help="salient ensemble")
    parser.add_argument("--split", choices=("tune", "report", "all"), default="all")
    parser.add_argument("--out", type=Path, help="save every answer here (PNG on magenta)")
    args = parser.parse_args()
    cases = [c for c in build_cases(args.side) if args.split in ("all", c.split)]
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with contextlib.suppress(NoMatchError):  # the models are loaded all the same
        isolate(cases[0].rgb, prompt=cases[0].prompt, model=args.model)
    print(f"startup (model loading + 1 run): {time.perf_counter() - t0:.1f} s")
    print(f"{'split':6} {'case':22} {'prompt':30} {'s':>5} {'IoU':>6}  answer")
    rows: list[tuple[Case, bool, float | None, float]] = []
    for case in cases:
        t = time.perf_counter()
        try:
            result = isolate(case.rgb, prompt=case.prompt, model=args.model)
        except NoMatchError as exc:
            seconds = time.perf_counter() - t
            rows.append((case, False, 0.0 if case.truth is not None else None, seconds))
            print(
                f"{case.split:6} {case.name:22} {case.prompt:30} {seconds:5.2f} {'-':>6}  "
                f"refused: {str(exc)[:150]}"
            )
            continue
        seconds = time.perf_counter() - t
        score = _iou(result.alpha > 127, case.truth) if case.truth is not None else None
        matched = score is None or score >= SANE_IOU
        rows.append((case, matched, score, seconds))
        if args.out:
            _save(args.out, case, result.rgba)
        iou_text = f"{score:6.3f}" if score is not None else f"{'-':>6}"
        note = " [noun not understood]" if not result.understood else ""
        print(
            f"{case.split:6} {case.name:22} {case.prompt:30} {seconds:5.2f} {iou_text}  "
            f"{result.matched} {result.confidence:.2f}{note}"
        )
    reference = []
    for _ in range(2):
        t = time.perf_counter()
        cutout(cases[0].rgb, model=args.model)
        reference.append(time.perf_counter() - t)
    ref = statistics.median(reference)
    print(
        f"reference: packshot background-removal of {cases[0].name} at {args.side} px: {ref:.2f} s"
    )
    for split in ("tune", "report"):
        part = [r for r in rows if r[0].split == split]
        if not part:
            continue
        composites = [r for r in part if r[0].truth is not None]
        on_model = [r for r in part if r[0].truth is None]
        ious = [r[2] for r in composites if r[2] is not None]
        seconds = statistics.median(r[3] for r in part)
        print(
            f"{split}: {sum(r[1] for r in part)}/{len(part)} prompts answered sanely "
            f"(composites {sum(r[1] for r in composites)}/{len(composites)} with IoU >= "
            f"{SANE_IOU}, on-model {sum(r[1] for r in on_model)}/{len(on_model)} answered: "
            f"judge by eye); composite IoU mean {statistics.fmean(ious) if ious else 0:.3f} "
            f"median {statistics.median(ious) if ious else 0:.3f}; median {seconds:.2f} s per "
            f"isolation ({seconds / ref:.2f}x a cutout; "
            f"{'meets' if seconds < TARGET_S else 'misses'} the < {TARGET_S:.0f} s target)"
        )


if __name__ == "__main__":
    main()
