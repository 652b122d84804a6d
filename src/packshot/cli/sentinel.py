"""``packshot sentinel``: score image files against a marketplace's quality gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from packshot.cli.errors import fail, print_error
from packshot.errors import PackshotError
from packshot.pipeline.check import check_file
from packshot.pipeline.recolor import parse_target
from packshot.presets import get_preset

out = Console()


def _swatch(value: str | None) -> tuple[int, int, int] | None:
    # The colour parser every surface uses: hex, r,g,b, a CSS name, or a swatch photo.
    return None if value is None else parse_target(value, "--swatch").rgb


def check(
    images: Annotated[list[Path], typer.Argument(help="Image files to check.")],
    market: Annotated[
        str, typer.Option("--market", "-m", help="The preset whose gate to apply.")
    ] = "amazon-main",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    ocr: Annotated[
        bool, typer.Option("--ocr/--no-ocr", help="Look for text, stickers, watermarks.")
    ] = True,
    swatch: Annotated[
        str | None,
        typer.Option("--swatch", help="The product's colour: #RRGGBB, a name or a swatch photo."),
    ] = None,
) -> None:
    """Check images (any, not only packshot's) against a marketplace's rules.

    Images without transparency have their product found from the background colour
    (pixels near it connected to the frame), or by the cutout model when the background
    is not that colour. Exit code 0 when every image passes, 1 otherwise.
    """
    try:
        preset = get_preset(market)
        reference = _swatch(swatch)
    except PackshotError as exc:
        raise fail(exc) from None
    verdicts = []
    for image in images:
        verdict = check_file(image, preset, ocr=ocr, swatch=reference)
        verdicts.append(verdict)
        if as_json:
            continue
        if verdict.result is None:
            print_error(verdict.error or "")
            continue
        mark = "[green]pass[/green]" if verdict.passed else "[red]fail[/red]"
        out.print(
            f"{mark} {escape(str(image))} ({preset.name}, product found from "
            f"{verdict.mask_origin})",
            highlight=False,
            soft_wrap=True,
        )
        for c in verdict.result.checks:
            sign = "  ok " if c.passed else "  [red]FAIL[/red]"
            out.print(f"{sign} {c.name}: {escape(c.detail)}", highlight=False, soft_wrap=True)
    if as_json:
        doc = {"market": preset.name, "images": [v.as_dict() for v in verdicts]}
        print(json.dumps(doc, indent=2))
    if not all(v.passed for v in verdicts):
        raise typer.Exit(1)
