"""``packshot presets ...``: list the marketplace presets and show one in full.

The main CLI mounts this with ``app.add_typer(presets_app, name="presets")``; ``packshot
presets`` alone lists them. Commands only read :mod:`packshot.presets`; every failure (an
unknown name, a bad ``$PACKSHOT_PRESETS_FILE``) is printed as its message, without a
traceback, and exits with the error's ``exit_code``.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from packshot import presets
from packshot.cli.errors import fail
from packshot.errors import PackshotError
from packshot.presets import Preset

__all__ = ["presets_app"]

presets_app = typer.Typer(
    help="Marketplace presets: background, frame fill, size, aspect, format, file size.",
)

_JSON_HELP = "Print JSON instead of a table."


@presets_app.callback(invoke_without_command=True)
def presets_main(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """List the marketplace presets (built-in and from $PACKSHOT_PRESETS_FILE)."""
    if ctx.invoked_subcommand is None:
        _list(json_output)


@presets_app.command("list")
def list_command(
    json_output: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """List the marketplace presets (the same as `packshot presets`)."""
    _list(json_output)


@presets_app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="Preset name, e.g. amazon-main.")],
    json_output: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Show every field of one preset."""
    try:
        preset = presets.get_preset(name)
    except PackshotError as exc:
        raise fail(exc) from None
    if json_output:
        typer.echo(json.dumps(preset.as_dict(), indent=2))
        return
    table = Table(title=f"{preset.name}: {preset.title}", title_justify="left", show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for field, value in _fields(preset):
        table.add_row(field, value)
    Console().print(table, markup=False, highlight=False)


def _list(json_output: bool) -> None:
    try:
        rows = presets.list_presets()
    except PackshotError as exc:
        raise fail(exc) from None
    if json_output:
        typer.echo(json.dumps([p.as_dict() for p in rows], indent=2))
        return
    # A light box keeps all seven columns unfolded in an 80-column terminal.
    table = Table(
        title="packshot marketplace presets",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    # Names are what users type into --market, sizes are read as numbers: never fold them.
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("background", no_wrap=True)
    table.add_column("min fill", justify="right", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("aspect", no_wrap=True)
    table.add_column("format", no_wrap=True)
    table.add_column("max size", justify="right")
    for p in rows:
        table.add_row(
            p.name,
            _background(p),
            f"{p.min_fill:.0%}" if p.min_fill is not None else "-",
            f"{p.width}x{p.height}",
            p.aspect,
            p.format,
            _budget(p),
        )
    Console().print(table, highlight=False)


def _background(p: Preset) -> str:
    if p.background != "white":
        return p.background
    if p.background_color == (255, 255, 255):
        return "white"
    r, g, b = p.background_color
    return f"#{r:02X}{g:02X}{b:02X}"


def _budget(p: Preset) -> str:
    parts = []
    if p.max_bytes is not None:
        parts.append(presets.format_bytes(p.max_bytes))
    if p.target_bytes is not None:
        parts.append(f"aim {presets.format_bytes(p.target_bytes)}")
    # One figure per line: the column stays narrow enough for 80-column terminals.
    return "\n".join(parts) or "-"


def _fields(p: Preset) -> list[tuple[str, str]]:
    def opt(value: object, unit: str = "") -> str:
        return "-" if value is None else f"{value}{unit}"

    r, g, b = p.background_color
    fill = f"{p.min_fill:.0%}" if p.min_fill is not None else "- (no rule)"
    rules = "\n".join(f"{code}: {presets.RULES[code]}" for code in p.rules) or "-"
    return [
        ("name", p.name),
        ("title", p.title),
        ("background", p.background),
        ("background colour", f"{r}, {g}, {b}" + ("" if p.background == "white" else " (unused)")),
        ("minimum fill", fill),
        ("margin", f"{p.margin:g} per side (places the product at {p.target_fill:.0%})"),
        ("aspect", p.aspect),
        ("size", f"{p.width}x{p.height} px"),
        ("minimum long side", opt(p.min_long_side, " px")),
        ("minimum short side", opt(p.min_short_side, " px")),
        ("formats", ", ".join(p.formats)),
        ("format written", f"{p.format} (.{p.extension})"),
        ("max file size", _bytes_or_dash(p.max_bytes)),
        ("target file size", _bytes_or_dash(p.target_bytes)),
        ("JPEG quality", str(p.jpeg_quality)),
        ("may crop background", "yes" if p.allow_crop else "no"),
        ("rules", rules),
        ("notes", p.notes or "-"),
        ("source", p.source or "-"),
        ("defined in", p.origin),
    ]


def _bytes_or_dash(size: int | None) -> str:
    return "-" if size is None else presets.format_bytes(size)
