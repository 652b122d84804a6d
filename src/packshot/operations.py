"""The one table of operation names: what each is called on every surface.

An operation (cut the background out, remove an object, score an image...) has one name,
the same as a ``packshot`` command, an HTTP solution (``POST /v1/run/<name>``), a recipe
step and in reports (a step's ``"step"``, a cost's ``"operations"``). Not every operation
is on every surface (a recipe step works on pixels, so ``sentinel`` and ``listing`` are
none); the flags say where each one is. Former names stay accepted as ``aliases`` for a
release: hidden ``packshot`` commands and recipe step names that resolve to the new one.

This module imports nothing of packshot, so every surface can read it first.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BACKGROUND_REMOVAL",
    "OBJECT_REMOVAL",
    "OPERATIONS",
    "PRODUCT_ISOLATION",
    "REFERENCE_INPAINT",
    "SENTINEL",
    "TAG_REMOVAL",
    "Operation",
    "canonical",
    "operation",
]


@dataclass(frozen=True)
class Operation:
    """One operation and the surfaces it is on."""

    name: str
    summary: str
    cli: bool = False
    """A ``packshot <name>`` command."""
    api: bool = False
    """An HTTP solution, ``POST /v1/run/<name>``."""
    step: bool = False
    """A recipe step (``steps: [- <name>: {...}]``)."""
    aliases: tuple[str, ...] = ()
    """Former names (CLI commands, recipe steps), accepted for a release."""


BACKGROUND_REMOVAL = "background-removal"
PRODUCT_ISOLATION = "product-isolation"
OBJECT_REMOVAL = "object-removal"
TAG_REMOVAL = "tag-removal"
REFERENCE_INPAINT = "reference-inpaint"
SENTINEL = "sentinel"

OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            BACKGROUND_REMOVAL,
            "Cut out the most salient object (RGBA PNG).",
            cli=True,
            api=True,
            aliases=("cutout",),
        ),
        Operation(
            PRODUCT_ISOLATION,
            "Cut out the object named by 'prompt' (or inside 'box', under 'points').",
            cli=True,
            api=True,
            step=True,
            aliases=("isolate",),
        ),
        Operation(
            "background-color-fix",
            "Cutout on an exact 'color' (default white), optionally framed for a 'market'.",
            api=True,
        ),
        Operation(
            "replace-background",
            "Cutout placed into a 'reference' scene, a 'color' or a studio sweep.",
            cli=True,
            api=True,
            step=True,
        ),
        Operation(
            OBJECT_REMOVAL,
            "Remove the object under 'mask' (or 'box') and inpaint.",
            cli=True,
            api=True,
            step=True,
            aliases=("remove",),
        ),
        Operation(
            TAG_REMOVAL,
            "Remove tags, watermarks and text and inpaint.",
            cli=True,
            api=True,
        ),
        Operation(
            REFERENCE_INPAINT,
            "Repaint the 'mask' (or 'box') region from a 'reference' image.",
            cli=True,
            api=True,
            step=True,
            aliases=("inpaint-reference",),
        ),
        Operation(
            "recolor",
            "Recolour the garment to 'color' (or a 'reference' swatch; a print with 'pattern').",
            cli=True,
            api=True,
            step=True,
        ),
        Operation(
            "smart-resize",
            "Reframe to 'aspect_ratio' at 'resolution' (1K/2K/4K) without cutting the product.",
            api=True,
        ),
        Operation(
            SENTINEL,
            "Score an image against a 'market''s rules (verdict and every check, no image).",
            cli=True,
            api=True,
            aliases=("check",),
        ),
        Operation(
            "listing",
            "Every 'market' image for one photo (asynchronous); optional 'prompt' isolates "
            "the product first, 'title' / 'alt' give the alt text.",
            cli=True,
            api=True,
        ),
    )
}

_ALIASES: dict[str, str] = {alias: op.name for op in OPERATIONS.values() for alias in op.aliases}


def canonical(name: str) -> str:
    """The operation's name for ``name`` or one of its former names; else ``name`` as is."""
    return _ALIASES.get(name, name)


def operation(name: str) -> Operation:
    """The operation called ``name`` (or a former name of it); KeyError if there is none."""
    return OPERATIONS[canonical(name)]
