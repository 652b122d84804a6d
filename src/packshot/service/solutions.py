"""The one table of the Operations API: solution name -> handler.

A handler is a plain function ``(RunRequest) -> RunResult``: it validates the request's
fields (raising :class:`~packshot.errors.InputError` naming the field), calls the
pipeline, and returns encoded files plus JSON info. The service does the rest (inputs,
jobs, storage, links, webhooks, review). A solution whose handler is ``None`` answers
501 ``solution_not_available`` until its pipeline lands; wiring one is writing its
handler here and putting it in :data:`SOLUTIONS`, e.g.::

    def product_isolation(req: RunRequest) -> RunResult:
        prompt = text_field(req.fields, "prompt", required=True)
        image = req.load()                      # req.load("mask"), req.load("reference")
        cut = isolate(image.pixels, prompt)     # the pipeline function
        return RunResult([_file("isolated", cut.rgba, "PNG")], {"prompt": prompt})

A sentinel handler returns no files and its gate JSON in ``info`` (answered as JSON).

An output whose ``gate`` (the quality gate's JSON verdict) says ``"hold"`` is kept out of
delivery and shown on the review page instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from packshot.errors import InputError
from packshot.imageio import LoadedImage, encode_image, load_image
from packshot.isolate.step import PARAMS as ISOLATE_PARAMS
from packshot.isolate.step import run as run_isolate
from packshot.models.salient import DEFAULT_ENSEMBLE
from packshot.operations import OPERATIONS
from packshot.ops.compose import ShadowParams, compose_on_color
from packshot.ops.geometry import parse_box
from packshot.pipeline.check import check_image
from packshot.pipeline.cutout import cutout
from packshot.pipeline.listing import row_fields, run_item, source_steps
from packshot.pipeline.manifest import TargetRecord
from packshot.pipeline.recolor import MAX_DELTA_E, recolor_image, swatch_target
from packshot.pipeline.repair import (
    SCENE_FIELDS,
    Background,
    load_mask,
    reference_inpaint,
    remove,
    replace_background,
    scene_params,
)
from packshot.pipeline.sources import Source, safe_sku, text_fields
from packshot.presets import (
    ASPECTS,
    Preset,
    derive_preset,
    get_preset,
    parse_preset_names,
    size_for_aspect,
)
from packshot.presets.colors import parse_color
from packshot.presets.gate import DEFAULT_THRESHOLDS
from packshot.report import listing_report
from packshot.sentinel.isolation import NAME as ISOLATION_CHECK
from packshot.sentinel.isolation import isolation_check, with_check
from packshot.sentinel.result import GateResult
from packshot.service.fields import (
    parse_bool,
    parse_choice,
    parse_names,
    text_field,
)

IMAGE_ROLES = ("image", "mask", "reference")
"""Images a request may carry: ``<role>_url``, ``<role>_base64`` or upload ``<role>_file``."""

RESOLUTIONS = {"1K": 1024, "2K": 2048, "4K": 4096}
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}


@dataclass(frozen=True)
class RunRequest:
    """One run of a solution: its fields and the encoded images it was sent."""

    solution: str
    fields: Mapping[str, Any]
    images: Mapping[str, bytes]
    work_dir: Path
    """A private scratch folder for this run (removed afterwards)."""
    model: str = DEFAULT_ENSEMBLE
    """The server's default cutout model; a request's ``model`` field overrides it."""
    max_pixels: int | None = None

    def load(self, role: str = "image") -> LoadedImage:
        data = self.images.get(role)
        if data is None:
            raise InputError(
                f"{role}: this solution needs an image; send {role}_url, {role}_base64 "
                f"or a multipart upload named {role}_file."
            )
        return load_image(data, label=role, max_pixels=self.max_pixels)

    @property
    def cutout_model(self) -> str:
        return text_field(self.fields, "model") or self.model


@dataclass(frozen=True)
class OutputFile:
    name: str
    data: bytes
    media_type: str
    gate: dict[str, Any] | None = None
    """The quality gate's verdict for this output, when one was run."""
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    files: list[OutputFile]
    info: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[RunRequest], RunResult]


@dataclass(frozen=True)
class Solution:
    name: str
    summary: str
    handler: Handler | None
    asynchronous: bool = False
    """Always run as a job (202 + job id): too slow for one HTTP request."""
    pending: str = ""
    """For an unavailable solution: what brings it."""


def _output_format(fields: Mapping[str, Any], default: str, allowed: tuple[str, ...]) -> str:
    chosen = parse_choice(
        fields.get("format"), "format", [f.lower() for f in allowed] + ["jpg"], default.lower()
    )
    fmt = "JPEG" if chosen in ("jpg", "jpeg") else chosen.upper()
    if fmt not in allowed:
        raise InputError(f"format: {chosen!r} is not one of {', '.join(allowed).lower()}.")
    return fmt


def _file(stem: str, pixels: Any, fmt: str, *, exact: bool = False) -> OutputFile:
    data = encode_image(pixels, fmt, quality=95, exact_colors=exact)
    return OutputFile(f"{stem}.{_EXTENSIONS[fmt]}", data, MEDIA_TYPES[fmt])


def background_removal(req: RunRequest) -> RunResult:
    """The product cut out: RGBA PNG (or WebP) at the source's resolution."""
    fmt = _output_format(req.fields, "PNG", ("PNG", "WEBP"))
    image = req.load()
    cut = cutout(image.pixels, model=req.cutout_model)
    out = _file("cutout", cut.rgba, fmt)
    info = {"model": cut.model, "width": image.width, "height": image.height, **cut.timings}
    return RunResult([out], info)


def _market(fields: Mapping[str, Any]) -> Preset | None:
    name = text_field(fields, "market")
    return get_preset(name) if name else None


def background_color_fix(req: RunRequest) -> RunResult:
    """The cutout on an exact colour: at the source's size, or framed for a ``market``."""
    color = parse_color(req.fields.get("color", "#FFFFFF"), "color")
    shadow = parse_bool(req.fields.get("shadow"), "shadow", default=False)
    market = _market(req.fields)
    image = req.load()
    if market is not None:
        if market.background != "white":
            raise InputError(
                f"market: {market.name!r} keeps the photo's background; background-color-fix "
                "needs a market with a colour background (amazon-main, shopify, walmart, ...)."
            )
        preset = derive_preset(market, {"background_color": list(color)}, origin="request")
        # A marketplace image is the listing's item pipeline for one target (candidates,
        # completeness, the gate): a held one goes to review, not to the caller.
        name = f"{preset.name}.{preset.extension}"
        out, info = _marketplace_image(req, image.pixels, preset, name)
        info = {**info, "market": preset.name}
        return RunResult([out], {"color": list(color), **info})
    cut = cutout(image.pixels, model=req.cutout_model)
    fmt = _output_format(req.fields, "JPEG", ("JPEG", "PNG", "WEBP"))
    pixels = compose_on_color(cut.rgba, color, shadow=ShadowParams() if shadow else None)
    out = _file("background", pixels, fmt, exact=True)
    info = {"width": image.width, "height": image.height}
    return RunResult([out], {"model": cut.model, "color": list(color), **info, **cut.timings})


def _marketplace_image(
    req: RunRequest, pixels: Any, preset: Preset, name: str
) -> tuple[OutputFile, dict[str, Any]]:
    """One marketplace image by :func:`run_item`, its gate verdict on the file."""
    item = run_item(pixels, [preset], model=req.cutout_model, label="image")
    out = item.targets[0]
    if out.data is None or out.gate is None:
        raise InputError(out.error or "image: no output was made.")
    media = MEDIA_TYPES.get(preset.format, "application/octet-stream")
    info = {k: v for k, v in out.info.items() if k != "gate"}
    return OutputFile(name, out.data, media, out.gate.as_dict(), info), info


def smart_resize(req: RunRequest) -> RunResult:
    """The photo reframed to ``aspect_ratio`` at ``resolution`` by extending its background."""
    aspect = text_field(req.fields, "aspect_ratio", required=True) or ""
    if aspect not in ASPECTS:
        raise InputError(f"aspect_ratio: {aspect!r} is not one of {', '.join(ASPECTS)}.")
    tier = (text_field(req.fields, "resolution") or "2K").upper()
    if tier not in RESOLUTIONS:
        raise InputError(f"resolution: {tier!r} is not one of {', '.join(RESOLUTIONS)}.")
    fmt = _output_format(req.fields, "JPEG", ("JPEG", "PNG", "WEBP"))
    preset = Preset(
        name="smart-resize",
        title=f"{aspect} at {tier}",
        background="keep",
        aspect=aspect,
        size=size_for_aspect(aspect, RESOLUTIONS[tier]),
        allow_crop=parse_bool(req.fields.get("allow_crop"), "allow_crop", default=False),
        formats=(fmt,),
        format=fmt,
        # The product on its own (blurred or studio) backdrop is a delivered resize, as on
        # the display presets; the whole photo framed on a blur waits for review.
        deliver_fallbacks=("cutout-on-blur", "studio-sweep"),
        origin="request",
    )
    image = req.load()
    name = f"resized-{aspect.replace(':', 'x')}-{tier}.{preset.extension}"
    out, info = _marketplace_image(req, image.pixels, preset, name)
    return RunResult([out], info)


def listing(req: RunRequest) -> RunResult:
    """Every ``market``'s image for one photo (the ``packshot listing`` batch of one)."""
    if "market" not in req.fields:
        raise InputError('market: this field is required (e.g. ["amazon-main", "etsy"]).')
    presets = parse_preset_names(parse_names(req.fields["market"], "market"))
    image = req.load()
    sku = safe_sku(text_field(req.fields, "sku") or "item")
    # The per-SKU text is read by the manifest's own rule; the item runs as a batch's does.
    source = Source(sku, "image", **text_fields(req.fields, "listing"))
    started = time.perf_counter()
    item = run_item(
        image.pixels,
        presets,
        model=req.cutout_model,
        steps=source_steps(source, ()),
        fields=row_fields(source),
        label=sku,
    )
    files = []
    targets = []
    records = []
    for out in item.targets:
        preset = out.preset
        entry: dict[str, Any] = {"target": preset.name, "state": out.state, "error": out.error}
        name = f"{preset.name}.{preset.extension}"
        error = out.error
        if out.data is not None and out.gate is not None:
            gate = out.gate.as_dict()
            media = MEDIA_TYPES.get(preset.format, "application/octet-stream")
            files.append(OutputFile(name, out.data, media, gate, dict(out.info)))
            entry["file"] = name
            if out.state == "held":
                error = "held for review: " + "; ".join(out.gate.reasons)
                entry["error"] = error
        targets.append(entry)
        # The records a batch's manifest keeps, for the report `packshot listing` writes.
        written = out.data is not None and out.state != "failed"
        records.append(
            TargetRecord(
                sku,
                preset.name,
                "image",
                out.state,
                name if written else None,
                len(out.data) if written and out.data is not None else None,
                error,
                dict(out.info),
            )
        )
    report = listing_report(
        records, title=f"packshot listing {sku}", wall_s=time.perf_counter() - started
    )
    failed = [t for t in targets if t["state"] != "done"]
    if failed and not files:
        raise InputError("; ".join(str(t["error"]) for t in failed))
    extra = {"alt": source.alt_text} if source.alt_text else {}
    return RunResult(files, {"sku": sku, **extra, "targets": targets, "report": report})


def _mask(req: RunRequest, width: int, height: int) -> Any:
    """The region a repair works on: the ``mask`` image (white = the region) and/or a
    ``box`` field (x,y,w,h); None when neither was sent."""
    mask = None
    if "mask" in req.images:
        mask = load_mask(req.load("mask").pixels, width, height, "mask")
    box = req.fields.get("box")
    if box is not None:
        region = parse_box(box, (height, width), "box")
        mask = np.zeros((height, width), bool) if mask is None else mask
        mask[region.slices] = True
    return mask


def product_isolation(req: RunRequest) -> RunResult:
    """The object named by ``prompt`` (or inside ``box`` / under ``points``) as RGBA."""
    fmt = _output_format(req.fields, "PNG", ("PNG", "WEBP"))
    params = {k: req.fields[k] for k in ISOLATE_PARAMS if k in req.fields}
    params.setdefault("model", req.cutout_model)
    result = run_isolate(req.load().pixels, params)
    # An isolation it doubts is held for review like a gated listing output.
    check = isolation_check(result.info, DEFAULT_THRESHOLDS[ISOLATION_CHECK])
    gate = with_check(GateResult("deliver", (), ()), check).as_dict()
    return RunResult([replace(_file("isolated", result.pixels, fmt), gate=gate)], result.info)


def object_removal(req: RunRequest) -> RunResult:
    """The photo with the ``mask`` image's region (or ``box``) repainted from its
    surroundings."""
    fmt = _output_format(req.fields, "JPEG", ("JPEG", "PNG", "WEBP"))
    image = req.load()
    rgb = image.pixels[..., :3]
    mask = _mask(req, image.width, image.height)
    if mask is None:
        raise InputError("mask: send the region to remove as a mask image or a box (x,y,w,h).")
    result = remove(rgb, mask=mask)
    return RunResult([_file("removed", result.rgb, fmt)], result.info())


def tag_removal(req: RunRequest) -> RunResult:
    """The photo with its price tags, stickers, watermarks and text repainted."""
    fmt = _output_format(req.fields, "JPEG", ("JPEG", "PNG", "WEBP"))
    result = remove(req.load().pixels[..., :3], text=True)
    return RunResult([_file("clean", result.rgb, fmt)], result.info())


def reference_inpaint_solution(req: RunRequest) -> RunResult:
    """The ``mask`` region (or ``box``) repainted from the ``reference`` image, aligned to
    it (``mode`` align) or synthesised from it as a texture (``mode`` texture)."""
    fmt = _output_format(req.fields, "JPEG", ("JPEG", "PNG", "WEBP"))
    image = req.load()
    mask = _mask(req, image.width, image.height)
    if mask is None:
        raise InputError("mask: send the region to repaint as a mask image or a box (x,y,w,h).")
    mode = parse_choice(req.fields.get("mode"), "mode", ["align", "texture"], "align")
    result = reference_inpaint(
        image.pixels[..., :3],
        mask,
        req.load("reference").pixels[..., :3],
        mode="texture" if mode == "texture" else "align",
    )
    info: dict[str, Any] = {"mode": result.mode}
    if result.alignment is not None:
        info["alignment"] = result.alignment.as_dict()
    return RunResult([_file("repainted", result.rgb, fmt)], info)


def replace_background_solution(req: RunRequest) -> RunResult:
    """The product cut out and placed into the ``reference`` image (a scene), a ``color``,
    or a generated studio sweep, with a contact shadow and the scene's colour cast."""
    fmt = _output_format(req.fields, "JPEG", ("JPEG", "PNG", "WEBP"))
    background: Background
    if "reference" in req.images:
        background = req.load("reference").pixels[..., :3]
    elif req.fields.get("color") is not None:
        background = parse_color(req.fields["color"], "color")
    else:
        background = "studio"
    params = {k: req.fields[k] for k in SCENE_FIELDS if k in req.fields}
    scene = replace_background(
        req.load().pixels,
        background,
        params=scene_params(params, "replace-background"),
        model=req.cutout_model,
    )
    info = {"scale": round(scene.scale, 4), "box": [scene.box.x0, scene.box.y0,
            scene.box.width, scene.box.height]}  # fmt: skip
    return RunResult([_file("scene", scene.rgb, fmt)], info)


def recolor_solution(req: RunRequest) -> RunResult:
    """The garment (``prompt``, ``box``, ``mask``; default the cutout) recoloured to
    ``color`` (hex or a name), to the dominant colour of a ``reference`` swatch photo, or
    printed with the ``reference`` when ``pattern`` is true; held when its measured
    colour is further than ``max_delta_e`` (CIEDE2000) from the target."""
    fmt = _output_format(req.fields, "JPEG", ("JPEG", "PNG", "WEBP"))
    image = req.load()
    pattern = parse_bool(req.fields.get("pattern"), "pattern", default=False)
    color: Any = req.fields.get("color")
    swatch = req.load("reference").pixels if "reference" in req.images else None
    if pattern and swatch is None:
        raise InputError("reference: pattern needs the print swatch as the reference image.")
    if not pattern and swatch is not None:
        if color is not None:
            raise InputError("color: give a color or a reference swatch photo, not both.")
        color = swatch_target(swatch, "reference", "swatch")
    if not pattern and color is None:
        raise InputError("color: this field (or a reference swatch photo) is required.")
    box = req.fields.get("box")
    way = recolor_image(
        image.pixels,
        color=None if pattern else color,
        pattern=swatch if pattern else None,
        pattern_name="reference",
        prompt=text_field(req.fields, "prompt"),
        box=box if box is None or isinstance(box, str | list) else str(box),
        mask=req.load("mask").pixels if "mask" in req.images else None,
        model=req.cutout_model,
        keep_accents=parse_bool(req.fields.get("keep_accents"), "keep_accents", default=True),
        max_delta_e=_positive(req.fields.get("max_delta_e"), "max_delta_e", MAX_DELTA_E),
    )
    out = _file(f"recolor-{way.target.label}", way.pixels[..., :3], fmt)
    info = way.info()
    return RunResult([replace(out, gate=way.gate().as_dict(), info=info)], info)


def _positive(value: Any, name: str, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: {value!r} must be a number.") from None
    if not number > 0:
        raise InputError(f"{name}: {value!r} must be positive.")
    return number


def sentinel(req: RunRequest) -> RunResult:
    """The quality gate's verdict on the image as it is, for a ``market`` (scored only):
    each check's value, threshold and pass/fail, and the verdict."""
    preset = _market(req.fields) or get_preset("amazon-main")
    ocr = parse_bool(req.fields.get("ocr"), "ocr", default=True)
    result, mask_origin = check_image(req.load(), len(req.images["image"]), preset, ocr=ocr)
    return RunResult([], {"market": preset.name, "mask": mask_origin, **result.as_dict()})


_HANDLERS: dict[str, Handler] = {
    "background-removal": background_removal,
    "product-isolation": product_isolation,
    "background-color-fix": background_color_fix,
    "replace-background": replace_background_solution,
    "object-removal": object_removal,
    "tag-removal": tag_removal,
    "reference-inpaint": reference_inpaint_solution,
    "recolor": recolor_solution,
    "smart-resize": smart_resize,
    "sentinel": sentinel,
    "listing": listing,
}
# Too slow for one HTTP request: always a job (202 + job id).
_ASYNCHRONOUS = frozenset({"listing"})

# Names and summaries are the operations table's: the same names as the CLI and recipes.
SOLUTIONS: dict[str, Solution] = {
    name: Solution(name, op.summary, _HANDLERS[name], asynchronous=name in _ASYNCHRONOUS)
    for name, op in OPERATIONS.items()
    if op.api
}
