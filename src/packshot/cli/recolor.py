"""``packshot recolor``: colourways (and print variants) of a garment from one photo.

Parses the arguments and calls :func:`packshot.pipeline.recolor.recolor_file` once per
colour; a :class:`~packshot.errors.PackshotError` is printed as its message with its exit
code, and a colour that fails leaves the others' files in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from packshot.cli.errors import fail, print_error
from packshot.errors import InputError, PackshotError
from packshot.models.salient import DEFAULT_ENSEMBLE
from packshot.pipeline.recolor import MAX_DELTA_E, parse_target, recolor_file

__all__ = ["recolor_command"]

_out = Console()


def _outputs(image: Path, out: Path, colors: list[str], pattern: Path | None) -> list[Path]:
    """One path per colourway: ``out`` itself for one, else ``out/<stem>-<colour>.<ext>``."""
    if len(colors) + (pattern is not None) == 1 and out.suffix:
        return [out]
    if out.suffix:
        raise InputError(
            f"--out {out}: several colourways need a folder (files <name>-<colour>{out.suffix})"
        )
    ext = image.suffix if image.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp") else ".png"
    labels = [parse_target(c, "--color").label for c in colors]
    if pattern is not None:
        labels.append(pattern.stem)
    return [out / f"{image.stem}-{label}{ext}" for label in labels]


def recolor_command(
    image: Annotated[Path, typer.Argument(help="The photo of the garment (or product).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output file (one colour) or folder (several).")
    ],
    color: Annotated[
        list[str] | None,
        typer.Option(
            "--color",
            "-c",
            help='Target: "#1F3A5F", "forest green", "31,58,95" or a swatch photo. Repeatable.',
        ),
    ] = None,
    pattern: Annotated[
        Path | None, typer.Option("--pattern", help="A print swatch to map onto the region.")
    ] = None,
    prompt: Annotated[
        str | None, typer.Option("--prompt", "-p", help='The region: "the jacket".')
    ] = None,
    box: Annotated[
        str | None, typer.Option("--box", help="The region: what is in x,y,w,h.")
    ] = None,
    mask: Annotated[
        Path | None, typer.Option("--mask", help="The region as a mask image (grey = soft).")
    ] = None,
    keep_accents: Annotated[
        bool,
        typer.Option(
            "--keep-accents/--all",
            help="Keep patches, prints and trims of another colour (default) or recolour all.",
        ),
    ] = True,
    pattern_scale: Annotated[
        float | None, typer.Option("--pattern-scale", help="Photo px per swatch px.")
    ] = None,
    max_delta_e: Annotated[
        float,
        typer.Option("--max-delta-e", help="CIEDE2000 from the target above which it is held."),
    ] = MAX_DELTA_E,
    model: Annotated[str, typer.Option("--model", help="Cutout model.")] = DEFAULT_ENSEMBLE,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was done as JSON.")] = False,
) -> None:
    """Recolour a garment to each --color (or print a --pattern on it), shading kept.

    The region is --prompt, --box or --mask; by default the cutout. Each variant's colour
    is measured: one further than --max-delta-e (CIEDE2000) from its target is written
    under held/ for review (as a batch's held outputs: not a failure).
    """
    colors = list(color or [])
    try:
        if not colors and pattern is None:
            raise InputError('say what to make: --color "#1F3A5F" (repeatable) or --pattern FILE')
        targets = _outputs(image, out, colors, pattern)
    except PackshotError as exc:
        raise fail(exc) from None
    base: dict[str, Any] = {"keep_accents": keep_accents, "max_delta_e": max_delta_e}
    base["model"] = model
    for key, value in (("prompt", prompt), ("box", box), ("mask", mask)):
        if value is not None:
            base[key] = str(value)
    if pattern_scale is not None:
        base["pattern_scale"] = pattern_scale
    jobs: list[dict[str, Any]] = [{**base, "color": c} for c in colors]
    if pattern is not None:
        jobs.append({**base, "pattern": str(pattern)})
    worst = 0
    for params, target in zip(jobs, targets, strict=True):
        try:
            info = recolor_file(image, target, params)
        except PackshotError as exc:
            print_error(exc, str(params.get("color", params.get("pattern"))))
            worst = max(worst, exc.exit_code)
            continue
        held = info["verdict"] == "hold"
        if as_json:
            _out.print(json.dumps(info), highlight=False, markup=False, soft_wrap=True)
            continue
        verdict = (
            f"held: {'; '.join(info['reasons'])}" if held else f"CIEDE2000 {info['delta_e']:.2f}"
        )
        _out.print(
            f"{info['output']}  ({info['color']}, region={info['region']}, {verdict}, "
            f"shading kept r={info['shading_correlation']:.3f})",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if worst:
        raise typer.Exit(worst)
