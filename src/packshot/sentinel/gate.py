"""The gate: run a preset's checks on an output and route it.

* every check passes -> ``deliver``;
* exactly one check fails (or several that the same fix answers) and a fix exists for
  it -> apply the fix, re-encode (the caller's
  ``remake``), check again: all pass -> ``fixed``; otherwise, while fixes remain
  (``max_fixes``), again; else ``hold`` saying which fix did not help;
* two or more checks fail, or the failure has no fix -> ``hold`` with every reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from packshot.models.text import TextBox, detect_text
from packshot.presets import Preset
from packshot.sentinel import checks as px
from packshot.sentinel import completeness as cp
from packshot.sentinel import file_checks as fc
from packshot.sentinel.fixes import BUILTIN_FIXES, FIX_FOR_CHECK, Fix, Repair
from packshot.sentinel.result import CheckResult, GateResult, Verdict
from packshot.sentinel.subject import Color, ImageArray, Subject
from packshot.sentinel.text_check import (
    BoolArray,
    added_text,
    main_object,
    sticker,
    watermark,
)

TextDetector = Callable[[ImageArray], Sequence[TextBox]]
Remake = Callable[[Subject, Repair], Subject]


def evaluate(
    subject: Subject,
    preset: Preset,
    *,
    detect: TextDetector | None = detect_text,
    swatch: Color | None = None,
    swatch_measure: px.SwatchMeasure = "closest",
    only: Sequence[str] | None = None,
) -> tuple[CheckResult, ...]:
    """Every check of ``preset`` (or ``only`` these) on ``subject``, in the preset's order.

    ``detect`` None skips the text check (reported as not measured). ``swatch`` (the
    product's reference colour: a colourway's target) adds ``swatch_match``, read as
    ``swatch_measure`` says, at the preset's ``swatch_match`` threshold.
    """
    gate = preset.gate
    color = preset.background_color
    names = list(only if only is not None else preset.gate_checks)
    results: list[CheckResult] = []
    lines: tuple[Sequence[TextBox], BoolArray] | None = None
    for name in names:
        t = gate.threshold(name)
        if name == "background_purity":
            results.append(px.background_purity(subject, color=color, min_share=t))
        elif name == "edge_halo":
            results.append(px.edge_halo(subject, color=color, max_share=t))
        elif name == "edge_contamination":
            results.append(px.edge_contamination(subject, color=color, max_share=t))
        elif name == "border":
            results.append(px.border(subject))
        elif name == "frame_fill":
            fill = dict(gate.thresholds).get(name, preset.min_fill or 0.0)
            results.append(px.frame_fill(subject, min_fill=fill))
        elif name == "product_cut_off":
            results.append(px.product_cut_off(subject))
        elif name == "multiple_objects":
            results.append(px.multiple_objects(subject))
        elif name == "mask_confidence":
            results.append(px.mask_confidence(subject, max_uncertain=t))
        elif name == "completeness":
            results.append(cp.completeness_check(subject.completeness, max_missing=t))
        elif name == "thin_parts":
            results.append(cp.thin_parts_check(subject.completeness, max_length=t))
        elif name == "mask_agreement":
            results.append(cp.mask_agreement_check(subject.completeness, min_iou=t))
        elif name == "shape_sanity":
            results.append(cp.shape_sanity_check(subject.completeness, min_box_ratio=t))
        elif name == "cutout_confidence":
            results.append(cp.confidence_check(subject.completeness, min_confidence=t))
        elif name == "colour_fidelity":
            results.append(px.colour_fidelity(subject, max_delta_e=t))
        elif name == "sharpness":
            results.append(px.sharpness(subject, min_sharpness=t))
        elif name == "visible_seams":
            results.append(px.visible_seams(subject, max_step=t))
        elif name == "composition":
            results.append(px.composition(subject, deliver=preset.deliver_fallbacks))
        elif name == "resolution":
            results.append(fc.resolution(subject, preset))
        elif name == "aspect_ratio":
            results.append(fc.aspect_ratio(subject, preset))
        elif name == "file_format":
            results.append(fc.file_format(subject, preset))
        elif name == "file_size":
            results.append(fc.file_size(subject, preset))
        elif name == "swatch_match":
            if swatch is None:
                results.append(_not_measured(name, "no swatch colour given"))
            else:
                results.append(
                    px.swatch_match(subject, swatch, max_delta_e=t, measure=swatch_measure)
                )
        elif name in ("text", "watermark", "sticker"):
            if detect is None:
                results.append(
                    CheckResult(name, None, 0.0, True, False, "not measured: OCR turned off")
                )
                continue
            if lines is None:  # one OCR pass and one main object for both checks
                lines = (detect(subject.rgb), main_object(subject))
            check = {"text": added_text, "watermark": watermark, "sticker": sticker}[name]
            results.append(check(subject, lines[0], lines[1]))
    if swatch is not None and "swatch_match" not in names:
        t = gate.threshold("swatch_match")
        results.append(px.swatch_match(subject, swatch, max_delta_e=t, measure=swatch_measure))
    return tuple(results)


def _not_measured(name: str, why: str) -> CheckResult:
    return CheckResult(name, None, None, True, False, f"not measured: {why}")


@dataclass(frozen=True, eq=False)
class GateOutcome:
    """The verdict, and the subject it was reached on (the fixed one after a fix)."""

    result: GateResult
    subject: Subject
    seconds: float


def keep_as_is(subject: Subject, repair: Repair) -> Subject:
    """A :data:`Remake` for images that are not re-encoded (checking a file as it is)."""
    return Subject(
        repair.rgb,
        repair.alpha,
        subject.mask_origin,
        subject.file_format,
        subject.file_bytes,
        (0, 0, 0, 0),
        subject.source_rgb,
        subject.source_alpha if repair.source_alpha is None else repair.source_alpha,
        subject.synthesized,
        subject.composition,
        subject.evidence,
    )


def run_gate(
    subject: Subject,
    preset: Preset,
    *,
    remake: Remake | None = keep_as_is,
    hooks: Mapping[str, Fix] | None = None,
    detect: TextDetector | None = detect_text,
    swatch: Color | None = None,
    swatch_measure: px.SwatchMeasure = "closest",
) -> GateOutcome:
    """Check ``subject`` against ``preset`` and route it (see the module docstring).

    ``remake`` turns a fix's pixels into the new subject (re-encoding them as delivered);
    None means score only, never fix. ``hooks`` add fixes by name (``rerun-model``).
    ``swatch``, ``swatch_measure``: as for :func:`evaluate`.
    """
    t0 = time.perf_counter()
    fixes = {**BUILTIN_FIXES, **(hooks or {})}
    results = evaluate(subject, preset, detect=detect, swatch=swatch, swatch_measure=swatch_measure)
    applied: list[str] = []
    notes: list[str] = []
    while True:
        failed = [c for c in results if not c.passed]
        if not failed:
            verdict: Verdict = "fixed" if applied else "deliver"
            return GateOutcome(
                GateResult(verdict, tuple(notes), results, tuple(applied)),
                subject,
                time.perf_counter() - t0,
            )
        why = [c.reason() for c in failed]
        # Failures one fix answers (an off-white background fails purity and halo) are
        # one problem; two problems need a human.
        wanted = {FIX_FOR_CHECK.get(c.name) if c.fixable else c.name for c in failed}
        if len(wanted) >= 2:
            why.insert(0, f"{len(failed)} checks failed")
            break
        check = failed[0]
        fix_name = FIX_FOR_CHECK.get(check.name)
        fix = fixes.get(fix_name) if fix_name else None
        if applied:
            why.insert(0, f"the fix ({', '.join(applied)}) did not help")
        if not check.fixable or fix is None or remake is None:
            note = "no automatic fix" if remake is not None else "checked only, not fixed"
            why.append(f"{check.name}: {note}")
            break
        if len(applied) >= preset.gate.max_fixes:
            if not applied:
                why.append(f"{check.name}: automatic fixes are off for this preset")
            break
        repair = fix(subject, preset)
        if repair is None:
            why.append(f"{check.name}: the fix {fix_name} does not apply here")
            break
        applied.append(fix_name or check.name)
        subject = remake(subject, repair)
        results = evaluate(
            subject, preset, detect=detect, swatch=swatch, swatch_measure=swatch_measure
        )
        notes.append(f"{check.name} fixed by {fix_name}: {repair.note}")
    return GateOutcome(
        GateResult("hold", tuple(notes + why), results, tuple(applied)),
        subject,
        time.perf_counter() - t0,
    )
