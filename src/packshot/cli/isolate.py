"""``packshot product-isolation``: cut out the object a text, box or point prompt names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from packshot.cli.errors import fail
from packshot.errors import InputError, PackshotError
from packshot.imageio import load_image, save_image
from packshot.isolate import isolate
from packshot.models.salient import DEFAULT_ENSEMBLE

out = Console()


def isolate_command(
    image: Annotated[Path, typer.Argument(help="The photo.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output PNG (RGBA).")],
    prompt: Annotated[
        str | None,
        typer.Option("--prompt", "-p", help='What to cut out: "the red handbag on the left".'),
    ] = None,
    box: Annotated[
        str | None, typer.Option("--box", help="x,y,w,h in pixels: whatever is in it.")
    ] = None,
    point: Annotated[
        list[str] | None, typer.Option("--point", help="x,y on the object (repeatable).")
    ] = None,
    negative_point: Annotated[
        list[str] | None,
        typer.Option("--negative-point", help="x,y on what to leave out (repeatable)."),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="Salient ensemble for the mask.")
    ] = DEFAULT_ENSEMBLE,
    mask_only: Annotated[
        bool, typer.Option("--mask-only", help="Write the 8-bit mask instead of RGBA.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what was matched as JSON.")
    ] = False,
) -> None:
    """Isolate one object: writes OUT (RGBA PNG) and says what it matched and how sure."""
    try:
        if out_path.suffix.lower() != ".png":
            raise InputError(
                f"--out: {out_path} must be a .png file (the cut-out has transparency)"
            )
        loaded = load_image(image)
        result = isolate(
            loaded.pixels,
            prompt=prompt,
            box=box,
            points=point or [],
            negative_points=negative_point or [],
            model=model,
        )
        save_image(result.alpha if mask_only else result.rgba, out_path)
    except PackshotError as exc:
        raise fail(exc) from None
    if as_json:
        out.print(json.dumps(result.info()), highlight=False, markup=False, soft_wrap=True)
    else:
        out.print(
            f"{out_path}: {result.matched}, confidence {result.confidence:.2f}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        for note in result.notes:  # e.g. the noun was not understood
            out.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
