"""How every ``packshot`` command ends on a :class:`~packshot.errors.PackshotError`: its
message on stderr, one line, and its ``exit_code`` as the process's."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from packshot.errors import PackshotError

__all__ = ["fail", "print_error"]

_err = Console(stderr=True)


def print_error(exc: PackshotError | str, what: str | None = None) -> None:
    """``error: [what: ]message`` on stderr."""
    # Messages name user paths ("shirt [blue].jpg") and TOML tables ("[presets.shopify]"):
    # escaped, never read as markup, and never hard-wrapped.
    said = f"{what}: {exc}" if what else str(exc)
    _err.print(f"[red]error:[/red] {escape(said)}", highlight=False, soft_wrap=True)


def fail(exc: PackshotError) -> typer.Exit:
    """Print ``exc`` and return the exit that ends the command with its code:
    ``raise fail(exc) from None``."""
    print_error(exc)
    return typer.Exit(exc.exit_code)
