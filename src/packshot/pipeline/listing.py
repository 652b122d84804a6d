"""Listings: one source photo to every marketplace's image, for a whole catalog.

Per source, the product is cut out once; each target (a marketplace preset) is then
rendered from it: white-background targets place the cutout on the exact colour at the
preset's fill, background-keeping targets extend the photo's own background to the
preset's aspect. Each output is encoded within the preset's format and size budget and
written atomically to ``<out>/<sku>/<target>.<ext>``.

Batches run sources on a back-end (local worker processes or a Ray cluster, see
:mod:`packshot.pipeline.backends`; one model session per worker) and record every
(SKU, target) in the manifest, so an interrupted batch resumes where it stopped and a
failed image fails alone.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from packshot.cost import output_cost
from packshot.errors import PackshotError, internal_error
from packshot.imageio import encode_within, load_image, write_bytes
from packshot.memory import tune_allocator
from packshot.models.salient import DEFAULT_ENSEMBLE
from packshot.models.text import detect_text
from packshot.models.upscale import upscale
from packshot.operations import PRODUCT_ISOLATION
from packshot.ops.framing import place_on_canvas
from packshot.ops.resample import resize_method, resize_to
from packshot.pipeline import storage
from packshot.pipeline.backends import Backend, get_backend
from packshot.pipeline.candidates import (
    DEFAULT_REFINEMENT,
    REFINEMENTS,
    Variant,
    candidate_plan,
)
from packshot.pipeline.cutout import Cutout, cutout, meaningful_alpha, prepare_models
from packshot.pipeline.manifest import Manifest, TargetRecord
from packshot.pipeline.recolor import colorway_items
from packshot.pipeline.reframe import plan_target
from packshot.pipeline.sources import Source, load_source, read_sources
from packshot.pipeline.steps import StepCall, apply_steps, steps_key
from packshot.pipeline.thumbs import thumbnail_path, try_thumbnail
from packshot.presets import Preset
from packshot.presets.gate import CUTOUT_CHECKS
from packshot.sentinel.candidates import Candidate, rank_candidates
from packshot.sentinel.checks import SEPARATION, SwatchMeasure, separation_check
from packshot.sentinel.completeness import Evidence, gather_evidence
from packshot.sentinel.fixes import FIX_FOR_CHECK, Repair
from packshot.sentinel.gate import evaluate, run_gate
from packshot.sentinel.isolation import NAME as ISOLATION_CHECK
from packshot.sentinel.isolation import isolation_check, isolation_info, with_check
from packshot.sentinel.result import GateResult
from packshot.sentinel.subject import Subject

ImageArray = npt.NDArray[np.uint8]
Swatch = tuple[tuple[int, int, int], SwatchMeasure]
"""A colourway's target colour and how the gate reads it on the product."""

REPAIRED_CHECKS = frozenset(n for n, fix in FIX_FOR_CHECK.items() if fix == "rerun-model") | {
    "product_cut_off",
    "multiple_objects",
}
"""Checks that judge the cutout itself: a re-made cutout is compared on these."""


@dataclass(frozen=True)
class Rendered:
    """A target's pixels before encoding, and how they were made.

    ``alpha`` is the product's coverage on the canvas (float32 0..1) and ``synthesized``
    the pixels that did not come from the photo, for the quality gate.
    """

    pixels: ImageArray
    info: dict[str, Any] = field(default_factory=dict)
    alpha: npt.NDArray[np.float32] | None = None
    synthesized: npt.NDArray[np.bool_] | None = None
    composition: tuple[str, str] | None = None
    """The fallback composition and why the preset's own was refused (see the gate's
    ``composition`` check); None when made as the preset asks."""


def render_white(cut: Cutout, preset: Preset) -> Rendered:
    """The cutout on the preset's exact background colour at its fill and margin."""
    placed = place_on_canvas(
        cut.rgba,
        preset.width,
        preset.height,
        fill=preset.target_fill,
        margin=preset.margin,
        color=preset.background_color,
        upscaler=upscale,
    )
    return Rendered(
        placed.rgb,
        {
            "method": "place",
            "resize": f"fsrcnn-x{placed.upscaled}" if placed.upscaled > 1 else "resample",
            "fill": round(placed.fill.bbox_long_share, 4),
            "area_share": round(placed.fill.area_share, 4),
            "scale": round(placed.scale, 4),
            "fill_clamped": placed.clamped,
        },
        placed.rgba[..., 3].astype(np.float32) / np.float32(255.0),
    )


def render_keep(rgb: ImageArray, cut: Cutout, preset: Preset) -> Rendered:
    """The photo reframed to the preset's aspect by the smart-resize plan (crop, extend,
    or a fallback composition: :func:`packshot.pipeline.reframe.plan_target`), then sized."""
    plan = plan_target(rgb, cut.alpha, preset)
    extended = plan.extended
    src_size = (extended.rgb.shape[1], extended.rgb.shape[0])
    out_size = (preset.width, preset.height)
    pixels = resize_to(extended.rgb, preset.width, preset.height, upscaler=upscale)
    alpha = cv2.resize(plan.alpha, out_size, interpolation=cv2.INTER_LINEAR)
    synth = cv2.resize(
        extended.synthesized.astype(np.uint8), out_size, interpolation=cv2.INTER_NEAREST
    )
    return Rendered(
        pixels,
        {
            "method": extended.method,
            "plan": "; ".join(plan.steps),
            "resize": resize_method(src_size, out_size),
            "synthesized_share": round(float(extended.synthesized.mean()), 4),
        },
        np.asarray(alpha, np.float32),
        np.asarray(synth, dtype=bool),
        plan.composition,
    )


def render_target(rgb: ImageArray, cut: Cutout, preset: Preset) -> Rendered:
    if preset.background == "white":
        return render_white(cut, preset)
    return render_keep(rgb, cut, preset)


def encode_for(pixels: ImageArray, preset: Preset) -> tuple[bytes, int]:
    """The preset's format within its size budget; returns the bytes and the quality used.

    White-background targets keep full chroma at every quality so the background decodes
    to exactly the preset's colour.
    """
    return encode_within(
        pixels,
        preset.format,
        quality=preset.jpeg_quality,
        max_bytes=preset.target_bytes or preset.max_bytes,
        exact_colors=preset.background == "white",
    )


def fingerprint(preset: Preset, model: str, steps: Sequence[StepCall] = ()) -> str:
    """What a target's output depends on besides the source: its preset, the model and
    the recipe's steps."""
    settings = {k: v for k, v in preset.as_dict().items() if k != "origin"}
    what: dict[str, Any] = {"preset": settings, "model": model}
    if steps:  # absent for step-less batches, so their manifests stay valid
        what["steps"] = steps_key(steps)
    blob = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def output_path(out_dir: Path, sku: str, preset: Preset, *, held: bool = False) -> Path:
    """Delivered outputs go to ``<sku>/<target>.<ext>``; held ones to
    ``<sku>/held/<target>.<ext>``, so nothing non-compliant sits among the deliverables
    (a reviewer approves a held output by moving it up)."""
    folder = out_dir / sku / "held" if held else out_dir / sku
    return folder / f"{preset.name}.{preset.extension}"


REPAIR_ENSEMBLES = ("u2net-best", "u2net", "u2net-fast", "u2netp")
"""Ensembles a failed cutout is re-made with, in order (the batch's own skipped)."""


def needs_evidence(preset: Preset) -> bool:
    """Whether ``preset``'s gate runs a completeness check (it then needs the photo's
    evidence: an independent model pass and the localizer's boxes)."""
    return bool(set(preset.gate_checks) & {*CUTOUT_CHECKS, "product_cut_off"})


def evidence_for(rgb: ImageArray, preset: Preset) -> Evidence | None:
    return gather_evidence(rgb) if needs_evidence(preset) else None


def gate_output(
    rendered: Rendered,
    preset: Preset,
    cut: Cutout,
    rgb: ImageArray,
    *,
    model: str,
    ocr: bool = True,
    evidence: Evidence | bool | None = True,
    repair: bool = True,
    cuts: dict[str, Cutout] | None = None,
    swatch: Swatch | None = None,
) -> tuple[bytes, int, GateResult, float]:
    """Encode a rendered target and pass it through the preset's gate (fixing it when one
    fix helps); returns the bytes to write, the quality, the gate's result and seconds.

    ``evidence`` is the source photo's completeness evidence (shared by a source's
    targets), True to gather it here when the preset needs it, None for none. ``repair``
    False scores without re-running models (the cutout fixes); ``cuts`` caches the
    cutouts a repair makes, by ensemble (see :func:`candidate_cutout`). ``swatch`` (a
    colourway's target and how to read it) adds the swatch check."""
    t0 = time.perf_counter()
    if evidence is True:
        evidence = evidence_for(rgb, preset)
    elif evidence is False:
        evidence = None
    data, quality = encode_for(rendered.pixels, preset)
    latest = [(data, quality)]
    source_alpha = cut.alpha.astype(np.float32) / np.float32(255.0)

    def subject_of(
        data: bytes, alpha: npt.NDArray[np.float32], source: npt.NDArray[np.float32]
    ) -> Subject:
        return Subject(
            load_image(data, label=preset.name).pixels[..., :3],
            alpha,
            "alpha",
            preset.format,
            len(data),
            source_rgb=cut.rgba[..., :3],
            source_alpha=source,
            synthesized=rendered.synthesized,
            composition=rendered.composition,
            evidence=evidence,
        )

    def remake(subject: Subject, repair: Repair) -> Subject:
        data, quality = encode_for(repair.rgb, preset)
        latest[0] = (data, quality)
        source = subject.source_alpha if repair.source_alpha is None else repair.source_alpha
        return subject_of(data, repair.alpha, source if source is not None else source_alpha)

    def rerun_model(subject: Subject, preset: Preset) -> Repair | None:
        # Other ensembles and a softer matte (the candidate machinery's cutouts), each
        # judged by the cutout checks alone; the one failing fewest, most confident, wins.
        made = {model: cut} if cuts is None else cuts
        made.setdefault(model, cut)
        tried = []
        variants = [Variant(e, DEFAULT_REFINEMENT, preset.target_fill) for e in REPAIR_ENSEMBLES]
        variants = [v for v in variants if v.ensemble != model]
        variants.append(Variant(model, REFINEMENTS[1], preset.target_fill))
        wanted = [n for n in preset.gate_checks if n in REPAIRED_CHECKS]
        for variant in variants:
            other = candidate_cutout(rgb, made, variant)
            again = render_target(rgb, other, preset)
            if again.alpha is None:
                continue
            new_source = other.alpha.astype(np.float32) / np.float32(255.0)
            probe = dataclasses.replace(
                subject, rgb=again.pixels, alpha=again.alpha, source_alpha=new_source
            )
            checks = evaluate(probe, preset, detect=None, only=wanted)
            failed = sum(1 for c in checks if not c.passed)
            conf = next((c.value for c in checks if c.name == "cutout_confidence"), 0.0)
            tried.append((failed, -float(conf or 0.0), variant.label, again, new_source))
            if failed == 0:
                break
        if not tried:
            return None
        failed, _, label, again, new_source = min(tried, key=lambda t: (t[0], t[1]))
        assert again.alpha is not None
        note = f"cut out again ({label}; {len(tried)} tried, {failed} cutout checks failing)"
        return Repair(again.pixels, again.alpha, note, new_source)

    alpha = rendered.alpha
    if alpha is None:
        alpha = np.ones(rendered.pixels.shape[:2], np.float32)
    hooks = {} if cut.model.startswith("step:") or not repair else {"rerun-model": rerun_model}
    outcome = run_gate(
        subject_of(data, alpha, source_alpha),
        preset,
        remake=remake,
        hooks=hooks,
        detect=detect_text if ocr else None,
        swatch=None if swatch is None else swatch[0],
        swatch_measure="closest" if swatch is None else swatch[1],
    )
    data, quality = latest[0]
    return data, quality, outcome.result, time.perf_counter() - t0


@dataclass(frozen=True)
class BestOutput:
    """The delivered candidate (rendered, bytes, quality, gate, gate seconds), the bytes of
    the other kept candidates, and every candidate's ranking (empty with one candidate)."""

    main: tuple[Rendered, bytes, int, GateResult, float]
    extras: list[bytes]
    ranking: list[dict[str, object]]


def candidate_cutout(pixels: ImageArray, cuts: dict[str, Cutout], variant: Variant) -> Cutout:
    """The cutout of ``variant``: its ensemble's model pass is run once and cached in
    ``cuts`` (by ensemble); other refinements re-refine that pass's probability map."""
    if variant.ensemble not in cuts:
        cuts[variant.ensemble] = cutout(pixels, model=variant.ensemble)
    base = cuts[variant.ensemble]
    if variant.refinement == DEFAULT_REFINEMENT:
        return base
    key = f"{variant.ensemble}/{variant.refinement.name}"
    if key not in cuts:
        cuts[key] = cutout(
            pixels,
            model=variant.ensemble,
            params=variant.refinement.params,
            decontaminate=variant.refinement.decontaminate,
            probability=base.probability,
        )
    return cuts[key]


def best_output(
    pixels: ImageArray,
    cuts: dict[str, Cutout],
    preset: Preset,
    *,
    model: str,
    ocr: bool = True,
    evidence: Evidence | bool | None = True,
    swatch: Swatch | None = None,
) -> BestOutput:
    """Render ``preset.gate.candidates`` candidates (see
    :func:`~packshot.pipeline.candidates.candidate_plan`; cutouts cached in ``cuts`` across
    targets), gate each, keep the best ``keep``. A candidate whose pixels repeat an earlier
    one's is not gated again but listed as dropped. With one candidate this is render +
    :func:`gate_output`."""
    rgb = pixels[..., :3]
    if evidence is True:
        evidence = evidence_for(rgb, preset)
    # A matte a recipe step made (isolation) is the one wanted: no other candidates.
    stepped = cuts[model].model.startswith("step:")
    wanted = preset.gate.candidates if preset.background == "white" and not stepped else 1
    if wanted == 1:
        rendered = render_target(rgb, cuts[model], preset)
        return BestOutput(
            (
                rendered,
                *gate_output(
                    rendered,
                    preset,
                    cuts[model],
                    rgb,
                    model=model,
                    ocr=ocr,
                    evidence=evidence,
                    cuts=cuts,
                    swatch=swatch,
                ),
            ),
            [],
            [],
        )
    tried: list[tuple[Rendered, bytes, int, GateResult, float]] = []
    ranked: list[Candidate] = []
    repeats: list[dict[str, object]] = []
    for variant in candidate_plan(preset, model, wanted):
        cut = candidate_cutout(pixels, cuts, variant)
        rendered = render_target(rgb, cut, variant.framed(preset))
        same = next(
            (
                c.label
                for c, t in zip(ranked, tried, strict=True)
                if np.array_equal(t[0].pixels, rendered.pixels)
            ),
            None,
        )
        if same is not None:
            repeats.append(
                {  # the ranked entries' keys; not gated, so nothing measured
                    "label": variant.label,
                    "rank": None,
                    "verdict": None,
                    "failed": [],
                    "score": None,
                    "kept": False,
                    "why": f"dropped: the same pixels as {same}",
                }
            )
            continue
        data, quality, gate, seconds = gate_output(
            rendered,
            preset,
            cut,
            rgb,
            model=variant.ensemble,
            ocr=ocr,
            evidence=evidence,
            swatch=swatch,
        )
        tried.append(
            (
                dataclasses.replace(rendered, info={**rendered.info, "candidate": variant.label}),
                data,
                quality,
                gate,
                seconds,
            )
        )
        ranked.append(Candidate(variant.label, gate))
    order = rank_candidates(ranked, preset.gate.keep)
    index = {id(c): i for i, c in enumerate(ranked)}
    first = tried[index[id(order[0].candidate)]]
    extras = [
        tried[index[id(r.candidate)]][1]
        for r in order[1:]
        if r.kept and r.candidate.result.delivered
    ]
    return BestOutput(first, extras, [r.as_dict() for r in order] + repeats)


@dataclass(frozen=True)
class TargetOutput:
    """One target of one item, as :func:`run_item` made it: the encoded bytes to deliver
    (or hold), the other kept candidates, the rendered pixels (for thumbnails), the
    gate's result and the provenance (``info``); or the error that failed it alone."""

    preset: Preset
    info: dict[str, Any]
    data: bytes | None = None
    extras: tuple[bytes, ...] = ()
    pixels: ImageArray | None = None
    gate: GateResult | None = None
    error: str | None = None

    @property
    def state(self) -> str:
        """``done`` (delivered), ``held`` (the gate holds it for review) or ``failed``."""
        if self.error is not None or self.gate is None:
            return "failed"
        return "done" if self.gate.delivered else "held"


@dataclass(frozen=True)
class ItemOutput:
    """Every target of one item, and what the recipe's steps said (their infos)."""

    targets: list[TargetOutput]
    step_infos: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    """The item failed before any target (a step or the cutout): every target has it."""


def run_item(
    pixels: ImageArray,
    presets: Sequence[Preset],
    *,
    model: str,
    steps: Sequence[StepCall] = (),
    fields: dict[str, str] | None = None,
    ocr: bool = True,
    label: str = "image",
    started: tuple[float, float] | None = None,
) -> ItemOutput:
    """The one per-item pipeline: a recipe's steps, the cutout, then every target
    rendered, encoded and passed through its preset's gate (fixing what it can), with
    provenance; pixels in, bytes and verdicts out, no file touched. Every entry point
    that makes a marketplace image (CLI listing and recipes, each batch worker, the HTTP
    listing, background-color-fix and smart-resize) runs this.

    ``fields`` are the item's per-SKU text (prompt, title, alt) for the report; ``label``
    names the item in errors; ``started`` (wall, CPU clocks) when the caller's own work
    (reading the file) counts as the item's compute. Never raises for a bad image or a
    failing target: the failure is that target's (or every target's) ``error``.
    """
    t0, cpu0 = started or (time.perf_counter(), time.process_time())
    try:
        stepped_pixels, step_infos = apply_steps(pixels, steps)
        if steps and meaningful_alpha(stepped_pixels) is not None:
            # A step (isolation, a new scene) made the matte: the targets use it as is.
            stepped_pixels = with_photo_behind(stepped_pixels, pixels)
            cut = Cutout(rgba=stepped_pixels, model=f"step:{steps[-1].name}", timings={})
        else:
            cut = cutout(stepped_pixels, model=model)
    except PackshotError as exc:
        return _all_failed(presets, str(exc))
    except Exception as exc:  # one image must never take the batch down
        return _all_failed(presets, internal_error(label, exc))
    pixels = stepped_pixels
    shared: dict[str, Any] = {"cutout_s": round(time.perf_counter() - t0, 3), "model": cut.model}
    # The source's cutout (and steps) serve every target: each carries an equal share.
    shared_cpu = (time.process_time() - cpu0) / max(1, len(presets))
    isolated = [PRODUCT_ISOLATION] if any(step.name == PRODUCT_ISOLATION for step in steps) else []
    if step_infos:
        shared["steps"] = step_infos
    shared.update(fields or {})
    outputs = []
    cuts = {model: cut}  # cutouts by ensemble, shared by the targets' candidates
    evidence: Evidence | None = None  # the completeness evidence, gathered once per source
    stepped = cut.model.startswith("step:")
    swatch = colorway_swatch(step_infos)
    unsure = colorway_unsure(step_infos)
    isolated_info = isolation_info(step_infos)
    for preset in presets:
        t1, cpu1 = time.perf_counter(), time.process_time()
        try:
            # The second opinion is the photo's salient object: for a product a step named
            # (isolation in a scene) it is another object, not an opinion of this one.
            if evidence is None and needs_evidence(preset) and not stepped:
                evidence = gather_evidence(pixels[..., :3])
            best = best_output(
                pixels,
                cuts,
                preset,
                model=model,
                ocr=ocr,
                evidence=evidence or None,
                swatch=swatch,
            )
            rendered, data, quality, gate, gate_s = best.main
            if isolated_info is not None:
                # Whether the product is the prompted one is the isolation's to say.
                threshold = preset.gate.threshold(ISOLATION_CHECK)
                gate = with_check(gate, isolation_check(isolated_info, threshold))
            if unsure is not None:
                # Whether the colourway told fabric from accents is the recolouring's to say.
                threshold = preset.gate.threshold(SEPARATION)
                gate = with_check(gate, separation_check(unsure, threshold))
        except PackshotError as exc:
            outputs.append(TargetOutput(preset, {}, error=str(exc)))
            continue
        except Exception as exc:
            message = internal_error(f"{label} -> {preset.name}", exc)
            outputs.append(TargetOutput(preset, {}, error=message))
            continue
        info = {
            "fingerprint": fingerprint(preset, model, steps),
            **shared,
            **rendered.info,
            "width": preset.width,
            "height": preset.height,
            "format": preset.format,
            "quality": quality,
            "target_s": round(time.perf_counter() - t1, 3),
            "gate_s": round(gate_s, 3),
            "gate": gate.as_dict(),
            **({"candidates": best.ranking} if best.ranking else {}),
            # A kept background is reframed by extension (the hosted "smart resize"); any
            # other background is the hosted background removal.
            "compute": output_cost(
                shared_cpu + time.process_time() - cpu1,
                [
                    *isolated,
                    "smart-resize" if preset.background == "keep" else "background-removal",
                ],
            ),
        }
        outputs.append(TargetOutput(preset, info, data, tuple(best.extras), rendered.pixels, gate))
    return ItemOutput(outputs, step_infos)


def _all_failed(presets: Sequence[Preset], error: str) -> ItemOutput:
    return ItemOutput([TargetOutput(p, {}, error=error) for p in presets], error=error)


def process_source(
    source: Source,
    presets: Sequence[Preset],
    out_dir: Path,
    model: str,
    steps: Sequence[StepCall] = (),
    ocr: bool = True,
) -> list[TargetRecord]:
    """One source of a batch: read it, :func:`run_item`, write every target (delivered
    ones to ``<sku>/``, held ones to ``<sku>/held/``, thumbnails and alt-text sidecars
    beside them); one record per target.

    Never raises for a bad image or a failing target: the failure is the record.
    """
    started = time.perf_counter(), time.process_time()
    steps = source_steps(source, steps)
    try:
        loaded = load_source(source)
    except PackshotError as exc:
        return [_failed(source, p, str(exc)) for p in presets]
    except Exception as exc:  # one image must never take the batch down
        message = internal_error(source.location, exc)
        return [_failed(source, p, message) for p in presets]
    item = run_item(
        loaded.pixels,
        presets,
        model=model,
        steps=steps,
        fields=row_fields(source),
        ocr=ocr,
        label=source.location,
        started=started,
    )
    if item.error is None:
        # The report's thumbnails are made here, where the pixels already are: a report
        # of 10,000 outputs then decodes none of them.
        try_thumbnail(loaded.pixels, thumbnail_path(out_dir, source.sku, "source"))
    records = []
    for out in item.targets:
        preset = out.preset
        if out.data is None or out.state == "failed":
            records.append(_failed(source, preset, out.error or "no output"))
            continue
        held = out.state == "held"
        try:
            target = output_path(out_dir, source.sku, preset, held=held)
            write_bytes(target, out.data)
            if out.pixels is not None:
                try_thumbnail(out.pixels, thumbnail_path(out_dir, source.sku, preset.name))
            for k, extra in enumerate(out.extras, start=2):
                write_bytes(target.with_suffix(f".alt{k}{target.suffix}"), extra)
            sidecar = _write_sidecar(target, source, preset, item.step_infos)
        except PackshotError as exc:
            records.append(_failed(source, preset, str(exc)))
            continue
        except Exception as exc:
            message = internal_error(f"{source.location} -> {preset.name}", exc)
            records.append(_failed(source, preset, message))
            continue
        info = {**out.info, **({"sidecar": str(sidecar)} if sidecar is not None else {})}
        records.append(
            TargetRecord(
                source.sku,
                preset.name,
                source.location,
                out.state,
                str(target),
                len(out.data),
                "held for review: " + "; ".join(out.gate.reasons) if held and out.gate else None,
                info,
            )
        )
    return records


def source_steps(source: Source, steps: Sequence[StepCall]) -> tuple[StepCall, ...]:
    """The steps one source runs: the recipe's, with its manifest row's ``prompt``.

    The row names its own product: its prompt is the product-isolation step's (in place of
    a recipe's own prompt, box or points), and without such a step in the recipe,
    isolation runs first. A recipe's bare ``- product-isolation`` takes each row's prompt
    (a row without one fails alone, saying so)."""
    if not source.prompt:
        return tuple(steps)
    geometry = ("prompt", "box", "points", "negative_points")
    calls, placed = [], False
    for call in steps:
        if call.name == PRODUCT_ISOLATION and not placed:
            params = {k: v for k, v in call.params.items() if k not in geometry}
            call = dataclasses.replace(call, params={**params, "prompt": source.prompt})
            placed = True
        calls.append(call)
    if not placed:
        calls.insert(0, StepCall.resolved(PRODUCT_ISOLATION, {"prompt": source.prompt}))
    return tuple(calls)


def row_fields(source: Source) -> dict[str, str]:
    """The manifest row's per-SKU text, for the report: prompt, title, alt text."""
    fields = {"prompt": source.prompt, "title": source.title, "alt": source.alt_text}
    return {k: v for k, v in fields.items() if v}


def _write_sidecar(
    target: Path, source: Source, preset: Preset, step_infos: Sequence[dict[str, Any]]
) -> Path | None:
    """``<target>.json`` beside an output whose row gives alt text (a shop's image alt,
    title and what was isolated), for uploaders that read the alt from a file."""
    alt = source.alt_text
    if not alt:
        return None
    isolated = isolation_info(step_infos)
    data: dict[str, Any] = {
        "sku": source.sku,
        "target": preset.name,
        "file": target.name,
        "alt": alt,
        **({"title": source.title} if source.title else {}),
        **({"prompt": source.prompt} if source.prompt else {}),
    }
    if isolated is not None:
        keys = ("matched", "confidence", "isolation_confidence", "understood")
        data["isolated"] = {k: isolated.get(k) for k in keys}
    sidecar = target.with_suffix(".json")
    write_bytes(sidecar, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())
    return sidecar


def colorway_swatch(step_infos: Sequence[dict[str, Any]]) -> Swatch | None:
    """A colourway's target colour and how the gate reads it, from the recolor step's info."""
    for info in step_infos:
        if info.get("step") == "recolor" and "target" in info:
            r, g, b = (int(v) for v in info["target"])
            return (r, g, b), info.get("measure", "closest")
    return None


def colorway_unsure(step_infos: Sequence[dict[str, Any]]) -> float | None:
    """The recolor step's measured ``accent_separation`` (None without one)."""
    for info in step_infos:
        check = info.get(SEPARATION) if info.get("step") == "recolor" else None
        if isinstance(check, dict) and isinstance(check.get("value"), int | float):
            return float(check["value"])
    return None


def with_photo_behind(rgba: ImageArray, photo: ImageArray) -> ImageArray:
    """A step's cutout with the photo's own pixels where it is fully transparent, when
    the steps only cut the product out (its opaque pixels are the photo's): a cutout's
    transparent pixels are black, and a target that keeps the background must still
    see the photo there. A step that changed the pixels (a new scene) is left as is."""
    if photo.shape[:2] != rgba.shape[:2]:
        return rgba
    rgb = photo[..., :3]
    opaque = rgba[..., 3] == 255
    if not np.array_equal(rgba[..., :3][opaque], rgb[opaque]):
        return rgba
    out = rgba.copy()
    clear = out[..., 3] == 0
    out[..., :3][clear] = rgb[clear]
    return out


def _failed(source: Source, preset: Preset, error: str) -> TargetRecord:
    return TargetRecord(source.sku, preset.name, source.location, "failed", None, None, error, {})


def run_listing(
    inputs: Sequence[str | Path],
    presets: Sequence[Preset],
    out_dir: str | Path,
    *,
    model: str = DEFAULT_ENSEMBLE,
    workers: int | None = None,
    on_source: Callable[[Source, list[TargetRecord]], None] | None = None,
    steps: Sequence[StepCall] = (),
    backend: str | Backend = "local",
    ray_address: str | None = None,
) -> list[TargetRecord]:
    """Run a listing batch; returns the manifest's records for this batch's sources.

    ``steps`` (a recipe's) run on each source before its targets are rendered.

    ``backend`` runs the sources: ``"local"`` worker processes (``workers`` of them share
    the cores, default one per core, one thread each), ``"ray"`` actors on the cluster at
    ``ray_address`` (``workers`` actors, default one per cluster CPU), or a
    :class:`~packshot.pipeline.backends.Backend` the caller owns. Every worker must see
    the sources and ``out_dir``: shared paths, or storage URLs (``s3://...``; see
    :mod:`packshot.pipeline.storage`, the manifest then stays in its ``state_dir``).
    Targets already done (per the manifest, file present) are skipped; results are
    recorded as they arrive.
    """
    tune_allocator()  # the in-process path (one worker); pool workers tune their own
    out = str(out_dir) if storage.is_remote(out_dir) else os.path.abspath(out_dir)
    state = storage.state_dir(out)
    state.mkdir(parents=True, exist_ok=True)
    # A recolor step with several colours makes one source per colourway (<sku>-<colour>).
    sources = colorway_items(read_sources(inputs), steps)
    manifest = Manifest(state)
    try:
        todo = [
            (
                src,
                [
                    p
                    for p in presets
                    if not manifest.is_done(
                        src.sku, p.name, fingerprint(p, model, source_steps(src, chain))
                    )
                ],
                chain,
            )
            for src, chain in sources
        ]
        pending = [(src, ps, chain) for src, ps, chain in todo if ps]
        for src, ps, _ in todo:
            if not ps and on_source is not None:
                on_source(src, [])
        if pending:
            prepare_models(model)  # fail fast, once, on an unusable model
            runner = get_backend(backend, address=ray_address, workers=workers)
            try:
                _run(pending, out, model, runner, manifest, on_source)
            finally:
                if runner is not backend:  # made here from a name: ours to close
                    runner.close()
        wanted = {s.sku for s, _ in sources}
        names = {p.name for p in presets}
        return [r for r in manifest.records() if r.sku in wanted and r.target in names]
    finally:
        manifest.close()


def _process_item(
    item: tuple[Source, list[Preset], tuple[StepCall, ...]], out: str, model: str
) -> list[TargetRecord]:
    """:func:`process_source` in a worker, with sources and outputs on shared storage.

    Storage URLs are staged through a local temporary folder: the source is downloaded
    before, the outputs uploaded after, and the records name the URLs.
    """
    source, presets, steps = item
    if not storage.is_remote(source.location) and not storage.is_remote(out):
        return process_source(source, presets, Path(out), model, steps)
    with tempfile.TemporaryDirectory(prefix="packshot-item-") as tmp:
        local = source.location
        if storage.is_remote(source.location):
            local = str(Path(tmp, "in", source.location.rsplit("/", 1)[-1] or "source"))
            try:
                storage.write_bytes(local, storage.read_bytes(source.location))
            except PackshotError as exc:
                return [_failed(source, p, str(exc)) for p in presets]
        local_out = Path(tmp, "out") if storage.is_remote(out) else Path(out)
        staged = dataclasses.replace(source, location=local)
        records = process_source(staged, presets, local_out, model, steps)
        return [_publish(rec, source, local, local_out, out) for rec in records]


def _publish(
    rec: TargetRecord, source: Source, local: str, local_out: Path, out: str
) -> TargetRecord:
    """A staged record as the batch sees it: the source's URL, the output uploaded."""
    error = rec.error.replace(local, source.location) if rec.error else rec.error
    rec = dataclasses.replace(rec, source=source.location, error=error)
    if not (rec.ok or rec.held) or rec.output is None or not storage.is_remote(out):
        return rec
    target = storage.join(out, *Path(rec.output).relative_to(local_out).parts)
    info = dict(rec.info)
    try:
        storage.write_bytes(target, Path(rec.output).read_bytes())
        if "sidecar" in info:
            local_sidecar = Path(str(info["sidecar"]))
            info["sidecar"] = storage.join(out, *local_sidecar.relative_to(local_out).parts)
            storage.write_bytes(info["sidecar"], local_sidecar.read_bytes())
    except PackshotError as exc:
        return dataclasses.replace(rec, state="failed", output=None, bytes=None, error=str(exc))
    return dataclasses.replace(rec, output=target, info=info)


def _run(
    pending: list[tuple[Source, list[Preset], tuple[StepCall, ...]]],
    out: str,
    model: str,
    backend: Backend,
    manifest: Manifest,
    on_source: Callable[[Source, list[TargetRecord]], None] | None,
) -> None:
    # The driver is the manifest's only writer; each result is committed as it arrives.
    # Paths go out absolute: a worker (a Ray actor, another node) has its own directory.
    work = functools.partial(_process_item, out=out, model=model)
    items = [(_absolute(src), ps, chain) for src, ps, chain in pending]
    for (src, ps, _), finished in backend.map(work, items):
        if finished.value is not None:
            records = finished.value
        else:
            records = [_failed(src, p, f"{src.location}: {finished.error}") for p in ps]
        for rec in records:
            manifest.record(rec)
        if on_source is not None:
            on_source(src, records)


def _absolute(src: Source) -> Source:
    if src.is_url or storage.is_remote(src.location):
        return src
    return dataclasses.replace(src, location=os.path.abspath(src.location))
