"""Report thumbnails: small WEBP copies of each source and output in ``<out>/_thumbs/``.

Batch workers write them while the pixels are in memory, so the report of a large batch
only checks that they are there and fresh (:func:`packshot.report` makes missing ones).
"""

from __future__ import annotations

import logging
from pathlib import Path

from packshot.errors import PackshotError
from packshot.imageio import save_image
from packshot.ops.geometry import ImageArray, fit_within

THUMB_SIDE = 360
"""Long side, px: a report cell shows it at about 180 CSS px, sharp on a 2x screen."""
THUMBS = "_thumbs"

logger = logging.getLogger(__name__)


def thumbnail_path(out_dir: Path, sku: str, name: str) -> Path:
    """Where the report looks for the thumbnail of ``name`` (a target, or ``source``)."""
    return out_dir / THUMBS / sku / f"{name}.webp"


def write_thumbnail(pixels: ImageArray, path: Path) -> Path:
    """A WEBP thumbnail of ``pixels`` (alpha kept: a cutout shows on the checkerboard)."""
    return save_image(fit_within(pixels, THUMB_SIDE), path, format="WEBP", quality=80)


def try_thumbnail(pixels: ImageArray, path: Path) -> None:
    """:func:`write_thumbnail` for a batch: a thumbnail that cannot be written never fails
    the output it shows (the report tries again)."""
    try:
        write_thumbnail(pixels, path)
    except (PackshotError, OSError) as exc:
        logger.warning("%s: thumbnail not written (%s)", path, exc)
