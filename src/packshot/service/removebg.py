"""A remove.bg-compatible endpoint, so remove.bg clients work with a base-URL change.

``POST /v1.0/removebg`` takes remove.bg's form (or JSON) fields: ``image_file`` /
``image_url`` / ``image_file_b64``, ``size``, ``type``, ``format``, ``bg_color``, ``crop``,
``crop_margin``, ``scale``, ``position``; the key in ``X-Api-Key``. The answer is the image
with remove.bg's headers (``X-Width``, ``X-Height``, ``X-Foreground-*``,
``X-Credits-Charged``), or ``{"data": {"result_b64": ...}}`` for ``Accept:
application/json``; errors are ``{"errors": [{"title", "code"}]}`` with remove.bg's
status codes (400 bad request, 403 bad or missing key, 429 rate limit).
``GET /v1.0/account`` answers in remove.bg's shape; packshot charges no credits, so the
balances are a fixed large number (clients do arithmetic on them) and ``unlimited`` is
true. Fields packshot has no
use for (``roi``, ``channels``, ``add_shadow``...) are accepted and ignored, as remove.bg
clients send them by default.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from packshot.errors import InputError
from packshot.imageio import encode_image, load_image
from packshot.ops.compose import compose_on_color
from packshot.ops.framing import place_on_canvas
from packshot.ops.geometry import Box
from packshot.ops.matte import bounding_box
from packshot.ops.resample import resize_to
from packshot.pipeline.cutout import cutout
from packshot.presets.colors import parse_color
from packshot.service.admission import header_pixels
from packshot.service.context import Context
from packshot.service.fields import parse_bool, parse_choice
from packshot.service.http import authenticate, context
from packshot.service.inputs import decode_base64, fetch_image, read_request

router = APIRouter()

ImageArray = npt.NDArray[np.uint8]

SIZES = ("auto", "preview", "small", "regular", "medium", "hd", "full", "4k", "50mp")
# Output megapixel caps of remove.bg's sizes (None: the source's own resolution).
_SIZE_MP: dict[str, float | None] = {
    "preview": 0.25,
    "small": 0.25,
    "regular": 0.25,
    "medium": 1.5,
    "hd": 4.0,
    "full": None,
    "4k": None,
    "50mp": None,
    "auto": None,
}
TYPES = (
    "auto",
    "person",
    "product",
    "animal",
    "car",
    "car_interior",
    "car_part",
    "transportation",
    "graphics",
    "other",
)
FORMATS = ("auto", "png", "jpg", "webp", "zip")
# Numbers, not the word "unlimited": clients subtract X-Credits-Charged from the balance.
UNLIMITED_CREDITS = 1_000_000_000
_LENGTH = re.compile(r"^(\d+(?:\.\d+)?)(px|%)?$")


def _lengths(value: str, field: str) -> list[tuple[float, bool]]:
    """remove.bg's "30px" / "10%" lists: (amount, is_percent) per value."""
    parts = value.replace(",", " ").split()
    out = []
    for part in parts:
        match = _LENGTH.match(part.strip().lower())
        if not match:
            raise InputError(f"{field}: {part!r} is not a length such as '30px' or '10%'.")
        out.append((float(match.group(1)), match.group(2) == "%"))
    return out


Length = tuple[float, bool]


def _margin_lengths(value: Any) -> tuple[Length, Length, Length, Length]:
    """crop_margin as (top, right, bottom, left) lengths, CSS-style from 1, 2 or 4 values."""
    if value is None or value == "":
        return (0.0, False), (0.0, False), (0.0, False), (0.0, False)
    lengths = _lengths(str(value), "crop_margin")
    if len(lengths) == 1:
        lengths = lengths * 4
    elif len(lengths) == 2:
        lengths = [lengths[0], lengths[1], lengths[0], lengths[1]]
    elif len(lengths) != 4:
        raise InputError(f"crop_margin: give one, two or four values, got {len(lengths)}.")
    return lengths[0], lengths[1], lengths[2], lengths[3]


def _margins(lengths: tuple[Length, ...], box: Box) -> tuple[int, int, int, int]:
    """(top, right, bottom, left) in pixels; percentages are of the subject's size."""
    sides = (box.height, box.width, box.height, box.width)
    result = []
    for (amount, pct), side in zip(lengths, sides, strict=True):
        px = amount * side / 100 if pct else amount
        # remove.bg caps each side at half the subject or 500 px.
        result.append(round(min(px, side * 0.5, 500)))
    return result[0], result[1], result[2], result[3]


def _percent(value: str, field: str) -> float:
    lengths = _lengths(value, field)
    if len(lengths) != 1 or not lengths[0][1]:
        raise InputError(f"{field}: {value!r} must be a percentage such as '80%'.")
    return lengths[0][0] / 100


def _scale(value: Any) -> float | None:
    """scale as the fraction of the canvas the subject fills; None for "original"."""
    text = str(value or "original").strip().lower()
    if text == "original":
        return None
    fill = _percent(text, "scale")
    if not 0.1 <= fill <= 1.0:
        raise InputError(f"scale: {value!r} must be from 10% to 100%, or 'original'.")
    return fill


def _place(value: Any, scaled: bool) -> tuple[float, float] | None:
    """position as (x, y) fractions of the free space; None keeps the subject in place."""
    text = str(value or "").strip().lower()
    if text in ("", "original"):
        # remove.bg centres a rescaled subject unless told otherwise.
        return (0.5, 0.5) if scaled and text == "" else None
    if text == "center":
        return 0.5, 0.5
    parts = text.split()
    if len(parts) not in (1, 2) or not all(p.endswith("%") for p in parts):
        raise InputError(
            f"position: {value!r}: give 'original', 'center' or one or two percentages "
            "such as '50% 100%'."
        )
    fx = _percent(parts[0], "position")
    fy = _percent(parts[-1], "position")
    if not (0 <= fx <= 1 and 0 <= fy <= 1):
        raise InputError(f"position: {value!r}: percentages must be from 0% to 100%.")
    return fx, fy


def _subject_box(rgba: ImageArray) -> Box | None:
    found = bounding_box(rgba[..., 3] > 0, 0)
    return Box.from_slices(found) if found is not None else None


def _crop(rgba: ImageArray, margin: tuple[Length, ...]) -> ImageArray:
    box = _subject_box(rgba)
    if box is None:
        return rgba
    top, right, bottom, left = _margins(margin, box)
    out = np.zeros((box.height + top + bottom, box.width + left + right, 4), dtype=np.uint8)
    out[top : top + box.height, left : left + box.width] = rgba[box.slices]
    return out


def _position(rgba: ImageArray, fx: float, fy: float) -> ImageArray:
    """Move the subject to (fx, fy) of the free space (0.5, 0.5: centred)."""
    box = _subject_box(rgba)
    if box is None:
        return rgba
    h, w = rgba.shape[:2]
    x = round(fx * (w - box.width))
    y = round(fy * (h - box.height))
    out = np.zeros_like(rgba)
    out[y : y + box.height, x : x + box.width] = rgba[box.slices]
    return out


def _limit(pixels: ImageArray, megapixels: float | None) -> ImageArray:
    if megapixels is None:
        return pixels
    h, w = pixels.shape[:2]
    if w * h <= megapixels * 1_000_000:
        return pixels
    f = math.sqrt(megapixels * 1_000_000 / (w * h))
    return resize_to(pixels, max(1, int(w * f)), max(1, int(h * f)))


@dataclass(frozen=True)
class Options:
    size: str
    fmt: str
    color: tuple[int, int, int] | None
    crop: bool
    crop_margin: tuple[Length, Length, Length, Length]
    scale: float | None
    """Fill fraction of the subject; None keeps its original size."""
    position: tuple[float, float] | None


def parse_options(fields: dict[str, Any]) -> Options:
    """remove.bg's fields, checked before any image is fetched or decoded."""
    fmt = parse_choice(fields.get("format"), "format", FORMATS, "auto")
    if fmt == "zip":
        raise InputError("format: 'zip' is not supported by packshot; use png, jpg or webp.")
    parse_choice(fields.get("type"), "type", TYPES, "auto")
    scale = _scale(fields.get("scale"))
    return Options(
        size=parse_choice(fields.get("size"), "size", SIZES, "auto"),
        fmt=fmt,
        color=parse_color(fields["bg_color"], "bg_color") if fields.get("bg_color") else None,
        crop=parse_bool(fields.get("crop"), "crop"),
        crop_margin=_margin_lengths(fields.get("crop_margin")),
        scale=scale,
        position=_place(fields.get("position"), scale is not None),
    )


def remove_background(
    opts: Options, data: bytes, ctx: Context
) -> tuple[bytes, str, dict[str, int]]:
    """Run one remove.bg request: (encoded bytes, media type, output geometry)."""
    size, fmt, color = opts.size, opts.fmt, opts.color
    with ctx.runner.admission.admit(header_pixels(data)):
        image = load_image(data, label="image_file", max_pixels=ctx.settings.max_pixels)
        rgba = cutout(image.pixels, model=ctx.settings.model).rgba
    if opts.crop:
        rgba = _crop(rgba, opts.crop_margin)
    if opts.scale is not None and _subject_box(rgba) is not None:
        rgba = place_on_canvas(rgba, rgba.shape[1], rgba.shape[0], fill=opts.scale).rgba
    if opts.position is not None:
        rgba = _position(rgba, *opts.position)
    rgba = _limit(rgba, _SIZE_MP[size])
    pixels: ImageArray = rgba if color is None else compose_on_color(rgba, color)
    if fmt == "auto":
        fmt = "png" if color is None else "jpg"
    if fmt == "jpg" and color is None:
        pixels = compose_on_color(rgba, (255, 255, 255))
    encoded = encode_image(
        pixels, "JPEG" if fmt == "jpg" else fmt.upper(), quality=95, exact_colors=True
    )
    box = _subject_box(rgba) or Box(0, 0, 0, 0)
    geometry = {
        "width": rgba.shape[1],
        "height": rgba.shape[0],
        "top": box.y0,
        "left": box.x0,
        "fg_width": box.width,
        "fg_height": box.height,
    }
    media = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}[fmt]
    return encoded, media, geometry


@router.post("/v1.0/removebg", tags=["remove.bg compatible"])
async def removebg(request: Request, _key: str | None = Depends(authenticate)) -> Response:
    """remove.bg's API: image_file / image_url / image_file_b64 in, cut-out image out."""
    ctx = context(request)
    raw = await read_request(request, ctx.settings)
    fields = dict(raw.fields)
    images = dict(raw.images)
    b64 = fields.pop("image_file_b64", None)
    if b64:
        if "image" in images:
            raise InputError("image_file_b64: send the image only once.")
        images["image"] = decode_base64(b64, "image_file_b64")
    if "image" not in images:
        raise InputError("No image given: send image_file, image_url or image_file_b64.")
    opts = parse_options(fields)
    data = await run_in_threadpool(fetch_image, images["image"], "image", ctx.settings)
    encoded, media, g = await run_in_threadpool(remove_background, opts, data, ctx)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(
            {
                "data": {
                    "result_b64": base64.b64encode(encoded).decode(),
                    "foreground_top": g["top"],
                    "foreground_left": g["left"],
                    "foreground_width": g["fg_width"],
                    "foreground_height": g["fg_height"],
                }
            }
        )
    headers = {
        "X-Width": str(g["width"]),
        "X-Height": str(g["height"]),
        "X-Foreground-Top": str(g["top"]),
        "X-Foreground-Left": str(g["left"]),
        "X-Foreground-Width": str(g["fg_width"]),
        "X-Foreground-Height": str(g["fg_height"]),
        "X-Credits-Charged": "0",
    }
    return Response(encoded, media_type=media, headers=headers)


@router.get("/v1.0/account", tags=["remove.bg compatible"])
def account(_key: str | None = Depends(authenticate)) -> dict[str, Any]:
    """remove.bg's account endpoint (clients read it on start-up): nothing runs out."""
    return {
        "data": {
            "attributes": {
                "credits": {
                    "total": UNLIMITED_CREDITS,
                    "subscription": UNLIMITED_CREDITS,
                    "payg": 0,
                    "enterprise": 0,
                    "unlimited": True,
                },
                "api": {"free_calls": UNLIMITED_CREDITS, "sizes": "all"},
            }
        }
    }
