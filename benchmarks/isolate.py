"""Prompted isolation on a labelled set: match rate, IoU and seconds per isolation at 2K.

    python benchmarks/isolate.py [--side 2048] [--model u2net] [--split report] [--out DIR]

Cases come from ``isolate_set.py`` beside this file: products with known alpha
composited into real scenes (registry sample photos; dev-set objects when
../shared/eval/dev is present, in memory only) and on-model photos with shop prompts
and no true mask. Each case is in the ``tune`` or the ``report`` split; figures are
printed per split (``--split`` picks one). A composite counts as matched when the answer's
IoU with the truth is at least ``SANE_IOU`` (a prompt naming nothing in the photo has no
right answer: refusing or holding it is right); an on-model answer is one given (judge it
by eye: ``--out`` saves every answer on magenta, held ones named ``held-``). A refused
prompt (NoMatchError) is printed with its reason. Every answer is delivered or held by its
calibrated ``isolation_confidence`` at the gate's default threshold, and the summary
counts sane, answered, held and wrong-but-delivered answers.

``--fit`` refits that calibration on the ``tune`` split only: every candidate isolation
may answer with (``packshot.isolate.api.attempts``) on the tune composites, right when its
IoU with the truth is at least ``SANE_IOU``, and the tune on-model photos' first plausible
answers as judged by eye (``isolate_set.JUDGED``); it prints the constants for
``packshot.isolate.confidence.CALIBRATION``.

Models are loaded by one untimed run first; a plain cutout of the first scene is timed
for scale (the same CPU's speed right now), and the median seconds per isolation are
printed beside the target (< 2 s on 2 cores).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from completeness import fit_logistic
from isolate_set import Case, build_cases
from packshot.errors import NoMatchError
from packshot.isolate import isolate
from packshot.isolate.api import attempts
from packshot.isolate.confidence import EVIDENCE, TRUSTED
from packshot.models.salient import DEFAULT_ENSEMBLE
from packshot.pipeline.cutout import cutout

TARGET_S = 2.0
SANE_IOU = 0.5
# A sane answer with this share of its mask outside the object holds something else too
# (a car's badge seen through a bag's handle): wrong by eye whatever its IoU.
FOREIGN_SHARE = 0.05
# Where ``--fit`` keeps the tune split's evidence (``--refit`` fits it again).
EVIDENCE_CACHE = Path(os.environ.get("PACKSHOT_BENCH_CACHE", "/tmp")) / "isolate-evidence.json"
# The way each evidence must move the confidence (foreign objects in the mask lower it).
SIGNS = {name: -1.0 if name == "foreign" else 1.0 for name in EVIDENCE}


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _save(out: Path, case: Case, rgba: np.ndarray, held: bool = False) -> None:
    a = rgba[..., 3:].astype(np.float32) / 255.0
    magenta = np.array([255.0, 0.0, 255.0], dtype=np.float32)
    comp = rgba[..., :3].astype(np.float32) * a + magenta * (1.0 - a)
    small = Image.fromarray(np.clip(comp, 0, 255).astype(np.uint8))
    small.thumbnail((768, 768))
    small.save(out / f"{'held-' if held else ''}{case.split}-{case.name}.png")


def fit(cases: list[Case], model: str) -> None:
    """Refit the calibration on the tune split's candidates (see the module docstring)."""
    rows: list[tuple[float, ...]] = []
    labels: list[float] = []
    for case in cases:
        if case.split != "tune" or (case.truth is None and case.judged is None):
            continue
        tried = attempts(case.rgb, case.prompt, model=model)
        for k, attempt in enumerate(tried):
            if attempt.check.problem is not None:
                continue  # never an answer: the mask check refuses it whatever its evidence
            if case.truth is not None:
                right = _iou(attempt.alpha > 0.5, case.truth) >= SANE_IOU
            elif k == 0:
                right = bool(case.judged)  # the first plausible answer is the one judged
            else:
                continue
            rows.append(attempt.evidence.features())
            labels.append(1.0 if right else 0.0)
            print(
                f"{case.name:22} #{k} {'right' if right else 'wrong':5} "
                + " ".join(f"{v:.2f}" for v in attempt.evidence.features())
            )
    EVIDENCE_CACHE.write_text(
        json.dumps({"evidence": list(EVIDENCE), "rows": rows, "labels": labels})
    )
    refit(EVIDENCE_CACHE)


def fit_monotone(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """:func:`fit_logistic` with each weight's sign as the evidence says it must be
    (``SIGNS``): a weight fitted the wrong way round is dropped and the rest refitted. On a
    few dozen answers an unconstrained fit learns that a detector's high score means a
    wrong answer (the tune split's wrong answers were often sure detections of the wrong
    thing), which would hold every sure right one."""
    active = list(range(x.shape[1]))
    while True:
        w = fit_logistic(x[:, active], y)
        wrong = [j for j, v in zip(active, w[1:], strict=True) if v * SIGNS[EVIDENCE[j]] < 0]
        if not wrong:
            full = np.zeros(x.shape[1] + 1)
            full[0] = w[0]
            for j, v in zip(active, w[1:], strict=True):
                full[j + 1] = v
            return full
        worst = min(wrong, key=lambda j: w[1 + active.index(j)] * SIGNS[EVIDENCE[j]])
        active.remove(worst)


def refit(path: Path) -> None:
    """Fit the calibration on the evidence :func:`fit` saved, and print how it sorts it."""
    saved = json.loads(path.read_text())
    if saved["evidence"] != list(EVIDENCE):
        raise SystemExit(f"{path}: saved for other evidence ({saved['evidence']}); rerun --fit")
    x, y = np.asarray(saved["rows"], dtype=np.float64), np.asarray(saved["labels"], np.float64)
    w = fit_monotone(x, y)
    print(f"{len(y)} answers ({int(y.sum())} right); evidence: {', '.join(EVIDENCE)}")
    print("CALIBRATION = (" + ", ".join(f"{v:.3f}" for v in w) + ")")
    p = 1 / (1 + np.exp(-(np.hstack([np.ones((len(x), 1)), x]) @ w)))
    for lo, hi in ((0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.01)):
        inside = (p >= lo) & (p < hi)
        if inside.any():
            print(
                f"  p {lo:.2f}-{min(hi, 1):.2f}: {int(inside.sum())} answers, "
                f"{y[inside].mean():.0%} right (mean p {p[inside].mean():.2f})"
            )
    wrong_trusted = int(((p >= TRUSTED) & (y == 0)).sum())
    print(f"  at {TRUSTED:g}: {int((p >= TRUSTED).sum())} trusted, {wrong_trusted} of them wrong")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=2048, help="long side of the input (px)")
    parser.add_argument("--model", default=DEFAULT_ENSEMBLE, help="salient ensemble")
    parser.add_argument("--split", choices=("tune", "report", "all"), default="all")
    parser.add_argument("--out", type=Path, help="save every answer here (PNG on magenta)")
    parser.add_argument("--fit", action="store_true", help="refit the calibration (tune split)")
    parser.add_argument(
        "--refit", action="store_true", help="refit on the evidence the last --fit saved"
    )
    args = parser.parse_args()
    if args.fit:
        fit(build_cases(args.side), args.model)
        return
    if args.refit:
        refit(EVIDENCE_CACHE)
        return
    cases = [c for c in build_cases(args.side) if args.split in ("all", c.split)]
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with contextlib.suppress(NoMatchError):  # the models are loaded all the same
        isolate(cases[0].rgb, prompt=cases[0].prompt, model=args.model)
    print(f"startup (model loading + 1 run): {time.perf_counter() - t0:.1f} s")
    print(f"{'split':6} {'case':22} {'prompt':30} {'s':>5} {'IoU':>6} {'p':>5}  answer")
    rows: list[Row] = []
    for case in cases:
        t = time.perf_counter()
        try:
            result = isolate(case.rgb, prompt=case.prompt, model=args.model)
        except NoMatchError as exc:
            seconds = time.perf_counter() - t
            rows.append(Row(case, None, None, None, seconds, None))
            print(
                f"{case.split:6} {case.name:22} {case.prompt:30} {seconds:5.2f} {'-':>6} "
                f"{'-':>5}  refused: {str(exc)[:150]}"
            )
            continue
        seconds = time.perf_counter() - t
        answer = result.alpha > 127
        score = _iou(answer, case.truth) if case.truth is not None else None
        extra = None
        if case.truth is not None and answer.any():
            extra = float((answer & ~case.truth).sum() / answer.sum())
        p = result.isolation_confidence
        held = p < TRUSTED
        rows.append(Row(case, score, p, held, seconds, extra))
        if args.out:
            _save(args.out, case, result.rgba, held)
        iou_text = f"{score:6.3f}" if score is not None else f"{'-':>6}"
        if extra is not None and extra >= FOREIGN_SHARE:
            iou_text += f" (+{extra:.0%} not it)"
        note = " [noun not understood]" if not result.understood else ""
        print(
            f"{case.split:6} {case.name:22} {case.prompt:30} {seconds:5.2f} {iou_text} "
            f"{p:5.2f}  {'HELD ' if held else ''}{result.matched} {result.confidence:.2f}{note}"
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
        part = [r for r in rows if r.case.split == split]
        if part:
            _summary(split, part, ref)


@dataclass(frozen=True)
class Row:
    case: Case
    iou: float | None  # composites answered
    p: float | None  # isolation_confidence; None: refused
    held: bool | None  # None: refused
    seconds: float
    extra: float | None = None  # composites answered: share of the answer outside the truth

    @property
    def answered(self) -> bool:
        return self.p is not None

    @property
    def sane(self) -> bool | None:
        """The answer is the prompted object (None: an on-model answer, judge by eye)."""
        if not self.answered or self.case.absent:
            return False
        return None if self.iou is None else self.iou >= SANE_IOU


def _summary(split: str, part: list[Row], ref: float) -> None:
    composites = [r for r in part if r.case.truth is not None and not r.case.absent]
    absent = [r for r in part if r.case.absent]
    on_model = [r for r in part if r.case.truth is None]
    ious = [r.iou if r.iou is not None else 0.0 for r in composites]
    sane = [r for r in composites if r.sane]
    wrong = [r for r in part if r.answered and r.sane is False]
    holding = [r for r in sane if r.extra is not None and r.extra >= FOREIGN_SHARE]
    seconds = statistics.median(r.seconds for r in part)
    print(
        f"{split}: composites {len(sane)}/{len(composites)} sane (IoU >= {SANE_IOU}; "
        f"{sum(1 for r in sane if not r.held)} delivered, {sum(1 for r in sane if r.held)} "
        f"held); IoU mean {statistics.fmean(ious) if ious else 0:.3f} median "
        f"{statistics.median(ious) if ious else 0:.3f} (refused = 0); prompts naming nothing "
        f"there {sum(1 for r in absent if not r.answered or r.held)}/{len(absent)} refused "
        f"or held; on-model {sum(r.answered for r in on_model)}/{len(on_model)} answered, "
        f"{sum(1 for r in on_model if r.answered and not r.held)} delivered (judge by eye); "
        f"wrong answers (composites) {len(wrong)}: {sum(1 for r in wrong if r.held)} held, "
        f"{sum(1 for r in wrong if not r.held)} delivered; sane but holding something else "
        f"(>= {FOREIGN_SHARE:.0%} of the answer) {len(holding)}: "
        f"{sum(1 for r in holding if not r.held)} delivered; median {seconds:.2f} s per "
        f"isolation ({seconds / ref:.2f}x a cutout; "
        f"{'meets' if seconds < TARGET_S else 'misses'} the < {TARGET_S:.0f} s target)"
    )


if __name__ == "__main__":
    main()
