"""Does the gate know a wrong product? Precision and recall of "wrong cutout" on composites.

The labelled set is tests/composites.py: objects with a known alpha (fur, thin handles,
cables, bodies under clothes, objects cut by the frame) on studio white and on real
photos, all from licence-clean sample photos; each scene gives right cutouts (the truth,
perturbed by a pixel) and wrong ones (the truth with a part removed, sliced, stopped short
of the frame, grown into the background) plus the pipeline's own cutout (wrong when its IoU
with the truth is under 0.92 or the photo cuts the object off).

Each cutout is rendered and gated as the listing pipeline does for amazon-main (OCR off).
"Wrong cutout" is predicted when the gate holds it for a cutout check (the completeness
checks, product_cut_off, multiple_objects, mask_confidence); precision and recall are
printed for the report half (odd scenes), never tuned on, and for the tune half. The gate's
added time per output is the completeness evidence (one U-2-Net-p pass and one localizer
pass per photo) plus the new checks, against the same gate without them (its peer, timed on
the same outputs in the same run).

    .venv/bin/python benchmarks/completeness.py [--scenes 64] [--fit]
    .venv/bin/python benchmarks/completeness.py --dev [--save DIR]

``--dev`` runs amazon-main as the listing does (cutout, evidence, gate with its repairs,
OCR on) on the dev photos (../shared/eval/dev, evaluation only) and prints each verdict
with the IoU of the delivered cutout's mask against the true mask.

``--fit`` refits the confidence calibration (logistic regression, Newton's method) on the
tune half and prints the constants for ``packshot.sentinel.completeness.CALIBRATION``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import composites  # noqa: E402
from packshot.ops.matte import to_rgba  # noqa: E402
from packshot.pipeline.cutout import Cutout, cutout  # noqa: E402
from packshot.pipeline.listing import gate_output, render_target  # noqa: E402
from packshot.presets import get_preset  # noqa: E402
from packshot.presets.gate import CUTOUT_CHECKS as COMPLETENESS  # noqa: E402
from packshot.sentinel.completeness import (  # noqa: E402
    FEATURES,
    Completeness,
    confidence,
    gather_evidence,
)

CUTOUT_CHECKS = {
    "completeness",
    "thin_parts",
    "mask_agreement",
    "shape_sanity",
    "cutout_confidence",
    "product_cut_off",
    "multiple_objects",
    "mask_confidence",
}
CACHE = Path(os.environ.get("PACKSHOT_BENCH_CACHE", "/tmp/packshot-composites"))


def model_cut(scene: composites.Scene) -> Cutout:
    """The pipeline's cutout of the composite (cached: the model pass is the slow part)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"scene{scene.index:03d}.npz"
    digest = float(scene.rgb.astype(np.float64).sum())
    if path.is_file():
        data = np.load(path)
        if float(data["digest"]) == digest:
            return Cutout(data["rgba"], "u2net", {}, data["prob"])
    cut = cutout(scene.rgb, model="u2net")
    np.savez_compressed(path, rgba=cut.rgba, prob=cut.probability, digest=digest)
    return cut


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.5) -> np.ndarray:
    """Weights (intercept first) of P(y=1) = sigmoid(w.x) by Newton's method, L2-damped."""
    xa = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xa.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-xa @ w))
        grad = xa.T @ (p - y) + l2 * np.r_[0, w[1:]]
        hess = xa.T @ (xa * (p * (1 - p))[:, None]) + l2 * np.diag(np.r_[0, np.ones(len(w) - 1)])
        w -= np.linalg.solve(hess, grad)
    return w


def dev_run(save: Path | None) -> None:
    from packshot.imageio import load_image
    from packshot.pipeline.listing import best_output

    dev = next(
        (d for d in (ROOT.parent / "shared/eval/dev", Path("/work/shared/eval/dev")) if d.is_dir()),
        None,
    )
    if dev is None:
        raise SystemExit("no dev photos (../shared/eval/dev)")
    preset = get_preset("amazon-main")
    counts = {"deliver": 0, "fixed": 0, "hold": 0}
    bad_delivered = 0
    for image in sorted(dev.glob("*_image.*")):
        ident = image.name.split("_")[0]
        pixels = load_image(image).pixels
        truth = load_image(dev / f"{ident}_mask.png", keep_alpha=False).pixels[..., 0] / 255.0
        t0 = time.perf_counter()
        cut = cutout(pixels, model="u2net")
        cuts = {"u2net": cut}
        best = best_output(pixels, cuts, preset, model="u2net")
        _, data, _, gate, gate_s = best.main
        # The delivered cutout: a repair re-made it with another ensemble, cached in cuts.
        used = cut
        for note in gate.reasons:
            if "cut out again (" in note:
                label = note.split("cut out again (")[1].split(";")[0]
                ensemble = label.split(",")[0].strip()
                key = f"{ensemble}/soft" if "soft matte" in label else ensemble
                used = cuts.get(key, cut)
        score = composites.iou(used.alpha / 255.0, truth)
        counts[gate.verdict] += 1
        if gate.delivered and score < 0.9:
            bad_delivered += 1
        failed = ", ".join(
            f"{c.name}={c.value:.3g}" if isinstance(c.value, float) else c.name for c in gate.failed
        )
        print(
            f"{ident}: {gate.verdict:8s} IoU {score:.3f} gate {gate_s:.2f}s "
            f"total {time.perf_counter() - t0:.1f}s  {failed}"
        )
        if save:
            folder = save / ("held" if not gate.delivered else "delivered")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{ident}.jpg").write_bytes(data)
    print(
        f"dev amazon-main: {counts['deliver']} delivered, {counts['fixed']} fixed, "
        f"{counts['hold']} held; delivered with mask IoU < 0.9: {bad_delivered}; "
        f"load {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev", action="store_true", help="amazon-main on the dev photos")
    parser.add_argument("--scenes", type=int, default=64)
    parser.add_argument("--fit", action="store_true", help="refit the calibration")
    parser.add_argument("--fit-only", action="store_true", help="fit, skip the gate runs")
    parser.add_argument("--save", type=Path, help="write each held/delivered output here")
    args = parser.parse_args()
    if args.dev:
        dev_run(args.save)
        return
    preset = get_preset("amazon-main")
    # The peer: the same gate without the completeness checks (and so without evidence).
    plain = dataclasses.replace(
        preset,
        gate=dataclasses.replace(
            preset.gate, checks=tuple(c for c in preset.gate_checks if c not in COMPLETENESS)
        ),
    )
    rows = []
    evidence_s: list[float] = []
    check_s: list[float] = []
    gate_s: list[float] = []
    plain_s: list[float] = []
    for index in range(args.scenes):
        scene = composites.scene(index)
        cut = model_cut(scene)
        t0 = time.perf_counter()
        evidence = gather_evidence(scene.rgb)
        evidence_s.append(time.perf_counter() - t0)
        model_alpha = cut.alpha.astype(np.float32) / 255.0
        for item in composites.labelled(scene, model_alpha):
            t1 = time.perf_counter()
            measures = Completeness(item.alpha, evidence).measures
            check_s.append(time.perf_counter() - t1)
            if args.fit_only:
                rows.append((scene, item, measures, False, [], None))
                continue
            alpha8 = np.rint(item.alpha * 255).astype(np.uint8)
            rgba = to_rgba(scene.rgb, alpha8.astype(np.float32) / 255.0)
            this = Cutout(rgba, "u2net", {}, None) if item.name != "model" else cut
            rendered = render_target(scene.rgb, this, preset)
            data, _, gate, seconds = gate_output(
                rendered,
                preset,
                this,
                scene.rgb,
                model="u2net",
                ocr=False,
                evidence=evidence,
                repair=False,
            )
            gate_s.append(seconds)
            if item.name == "truth":
                *_, peer = gate_output(
                    rendered, plain, this, scene.rgb, model="u2net", ocr=False, evidence=None
                )
                plain_s.append(peer)
            cut_failed = sorted(c.name for c in gate.failed if c.name in CUTOUT_CHECKS)
            held = not gate.delivered
            rows.append((scene, item, measures, held, cut_failed, gate))
            if args.save:
                folder = args.save / ("held" if held else "delivered")
                folder.mkdir(parents=True, exist_ok=True)
                label = "wrong" if item.wrong else "right"
                name = f"{scene.index:03d}-{scene.kind}-{item.name}-{label}.jpg"
                (folder / name).write_bytes(data)
    if args.fit or args.fit_only:
        tune = [r for r in rows if r[0].split == "tune"]
        x = np.asarray([r[2].features() for r in tune])
        y = np.asarray([0.0 if r[1].wrong else 1.0 for r in tune])
        w = fit_logistic(x, y)
        print("CALIBRATION = (" + ", ".join(f"{v:.3f}" for v in w) + ")")
        print("features:", ", ".join(FEATURES))
        if args.fit_only:
            return
    for split in ("tune", "report"):
        part = [r for r in rows if r[0].split == split]
        wrong = [r for r in part if r[1].wrong]
        flagged = [r for r in part if r[4]]
        tp = sum(1 for r in flagged if r[1].wrong)
        print(
            f"\n{split} half: {len(part)} cutouts ({len(wrong)} wrong) from "
            f"{len({r[0].index for r in part})} scenes"
        )
        print(
            f"  wrong cutout (held for a cutout check): precision {tp / max(len(flagged), 1):.3f}"
            f" ({tp}/{len(flagged)}), recall {tp / max(len(wrong), 1):.3f} ({tp}/{len(wrong)})"
        )
        right = [r for r in part if not r[1].wrong]
        false_holds = [r for r in right if r[3]]
        print(
            f"  right cutouts held for any reason: {len(false_holds)}/{len(right)}; "
            f"wrong cutouts delivered: {sum(1 for r in wrong if not r[3])}/{len(wrong)}"
        )
        for kind in ("truth", "model"):
            sub = [r for r in part if r[1].name == kind]
            sw = [r for r in sub if r[1].wrong]
            sr = [r for r in sub if not r[1].wrong]
            print(
                f"  {kind}: wrong {len(sw)} held {sum(1 for r in sw if r[3])}; "
                f"right {len(sr)} delivered {sum(1 for r in sr if not r[3])}"
            )
        # Calibration: observed right-share per confidence bin.
        bins = [0.0, 0.2, 0.5, 0.8, 1.01]
        parts = []
        for lo, hi in itertools.pairwise(bins):
            inside = [r for r in part if lo <= confidence(r[2]) < hi]
            if inside:
                ok = sum(1 for r in inside if not r[1].wrong) / len(inside)
                parts.append(f"[{lo:.1f},{min(hi, 1):.1f}): {ok:.0%} right of {len(inside)}")
        print("  confidence calibration: " + "; ".join(parts))
        if split == "report":
            for r in part:
                if r[1].wrong != bool(r[4]):
                    what = "missed" if r[1].wrong else "false hold"
                    print(
                        f"    {what}: scene {r[0].index} {r[0].kind}/{r[0].backdrop} {r[1].name}"
                        f" iou {composites.iou(r[1].alpha, r[0].alpha):.3f} failed {r[4]}"
                    )
    print(
        f"\nadded time per output: evidence {np.median(evidence_s) * 1000:.0f} ms per photo "
        f"(shared by its targets), checks {np.median(check_s) * 1000:.1f} ms; whole gate "
        f"{np.median(gate_s) * 1000:.0f} ms median per 2K output (OCR off); "
        f"load {os.getloadavg()[0]:.2f}"
    )
    if plain_s:
        with_all = np.median(gate_s) + np.median(evidence_s)
        print(
            f"the same gate without the cutout checks: {np.median(plain_s) * 1000:.0f} ms median; "
            f"with them and one photo's evidence per output {with_all / np.median(plain_s):.2f}x"
        )


if __name__ == "__main__":
    main()
