"""``packshot object-removal``, ``tag-removal``, ``reference-inpaint``, ``replace-background``.

Each parses its arguments and calls the file form of :mod:`packshot.pipeline.repair`;
a :class:`~packshot.errors.PackshotError` is printed as its message with its exit code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from packshot.cli.errors import fail
from packshot.errors import InputError, PackshotError
from packshot.models.salient import DEFAULT_ENSEMBLE
from packshot.ops.scene import PLACEMENTS
from packshot.pipeline.repair import (
    reference_inpaint_file,
    remove_file,
    replace_background_file,
)

__all__ = [
    "inpaint_reference_command",
    "remove_command",
    "replace_background_command",
    "tag_removal_command",
]

_out = Console()


def _report(info: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _out.print(json.dumps(info), highlight=False, markup=False, soft_wrap=True)
        return
    details = ", ".join(f"{k}={v}" for k, v in info.items() if k != "output")
    _out.print(f"{info['output']}  ({details})", highlight=False, markup=False, soft_wrap=True)


_JSON = typer.Option("--json", help="Print what was done as JSON.")
_INPAINTER = typer.Option(
    "--model", help="auto, patchmatch, telea, or an inpainting model name / .onnx file."
)
_SEED = typer.Option("--seed", help="PatchMatch seed.")


def remove_command(
    image: Annotated[Path, typer.Argument(help="The photo.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output image file.")],
    mask: Annotated[Path | None, typer.Option("--mask", help="Mask image: white = remove.")] = None,
    box: Annotated[str | None, typer.Option("--box", help="Region to remove: x,y,w,h.")] = None,
    text: Annotated[
        bool,
        typer.Option("--text", help="Detect and remove text, price tags, stickers, watermarks."),
    ] = False,
    model: Annotated[str | None, _INPAINTER] = None,
    seed: Annotated[int, _SEED] = 0,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Remove an object, tag, sticker, watermark or text and fill in what was behind it."""
    try:
        if mask is None and box is None and not text:
            raise InputError("say what to remove: --mask MASK.png, --box x,y,w,h or --text")
        info = remove_file(image, out, mask=mask, box=box, text=text, model=model, seed=seed)
    except PackshotError as exc:
        raise fail(exc) from None
    _report(info, as_json)


def tag_removal_command(
    image: Annotated[Path, typer.Argument(help="The photo.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output image file.")],
    model: Annotated[str | None, _INPAINTER] = None,
    seed: Annotated[int, _SEED] = 0,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Find and remove price tags, stickers, watermarks and text (object-removal --text)."""
    remove_command(image, out, text=True, model=model, seed=seed, as_json=as_json)


def inpaint_reference_command(
    image: Annotated[Path, typer.Argument(help="The photo.")],
    reference: Annotated[
        Path, typer.Option("--reference", "-r", help="Image of what belongs in the region.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output image file.")],
    mask: Annotated[
        Path | None, typer.Option("--mask", help="Mask image: white = repaint.")
    ] = None,
    box: Annotated[str | None, typer.Option("--box", help="Region to repaint: x,y,w,h.")] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode", help="align (the reference shows the same thing) or texture (a swatch)."
        ),
    ] = "align",
    texture_scale: Annotated[
        float, typer.Option("--texture-scale", help="texture: photo px per swatch px.")
    ] = 1.0,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Repaint a region from a reference image (badge, logo, label, fabric swatch)."""
    try:
        if mask is None and box is None:
            raise InputError("give the region to repaint: --mask MASK.png or --box x,y,w,h")
        info = reference_inpaint_file(
            image, reference, out, mask=mask, box=box, mode=mode, texture_scale=texture_scale
        )
    except PackshotError as exc:
        raise fail(exc) from None
    _report(info, as_json)


def replace_background_command(
    image: Annotated[Path, typer.Argument(help="The product photo (or an RGBA cutout).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output image file.")],
    background: Annotated[
        str,
        typer.Option(
            "--background", "-b", help='Scene image file, a colour ("#RRGGBB"), or studio.'
        ),
    ] = "studio",
    size: Annotated[
        str | None, typer.Option("--size", help="Output WIDTHxHEIGHT (default: the scene's).")
    ] = None,
    placement: Annotated[
        str, typer.Option("--placement", help=f"One of {', '.join(PLACEMENTS)}.")
    ] = "floor",
    scale: Annotated[
        float, typer.Option("--scale", help="Product size as a share of the canvas.")
    ] = 0.6,
    floor: Annotated[
        float, typer.Option("--floor", help="Floor line, share of the height from the top.")
    ] = 0.86,
    shadow_opacity: Annotated[float, typer.Option("--shadow-opacity", help="0 = none.")] = 0.55,
    shadow_softness: Annotated[
        float, typer.Option("--shadow-softness", help="Blur, share of the product's width.")
    ] = 0.035,
    shadow_direction: Annotated[
        float,
        typer.Option(
            "--shadow-direction",
            help="Sideways reach, share of the width: + right (light from left), - left.",
        ),
    ] = 0.0,
    harmonize: Annotated[
        float, typer.Option("--harmonize", help="Scene colour cast taken on, 0..1.")
    ] = 0.5,
    light_wrap: Annotated[float, typer.Option("--light-wrap", help="0..1.")] = 0.5,
    model: Annotated[str, typer.Option("--model", help="Cutout model.")] = DEFAULT_ENSEMBLE,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Cut the product out and place it into a scene photo, a colour or a studio sweep."""
    params: dict[str, Any] = {
        "background": background,
        "placement": placement,
        "scale": scale,
        "floor": floor,
        "shadow": {
            "opacity": shadow_opacity,
            "softness": shadow_softness,
            "direction": shadow_direction,
        },
        "harmonize": harmonize,
        "light_wrap": light_wrap,
        "model": model,
    }
    try:
        if size is not None:
            w, sep, h = size.lower().partition("x")
            if not sep or not w.strip().isdigit() or not h.strip().isdigit():
                raise InputError(f"--size {size!r} must be WIDTHxHEIGHT in pixels, e.g. 2000x1500")
            params["width"], params["height"] = int(w), int(h)
        info = replace_background_file(image, out, params)
    except PackshotError as exc:
        raise fail(exc) from None
    _report(info, as_json)
