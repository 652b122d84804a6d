"""What a batch works on: SKUs and their source images, from files, folders or manifests.

A source is named by a SKU (the file's stem unless a manifest gives one) and a location
(a local path, an http(s) URL, or a storage URL such as ``s3://`` read through
:mod:`packshot.pipeline.storage`). Manifests are CSV (a header with ``sku`` and one of
``image``, ``image_url``, ``path``, ``url``) or JSON (a list of objects with the same keys).
Optional per-SKU columns: ``prompt`` (the product to isolate first: "the red handbag"),
``title`` (the product's name) and ``alt`` (the image's alt text; the title when empty).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packshot.errors import InputError
from packshot.fetch import fetch_bytes
from packshot.imageio import LoadedImage, iter_image_files, load_image
from packshot.pipeline.storage import is_remote

LOCATION_KEYS = ("image", "image_url", "path", "url")
TEXT_KEYS = ("prompt", "title", "alt")
# Shopify caps alt text at 512 characters; a prompt is parsed as a short phrase.
MAX_TEXT = {"prompt": 200, "title": 512, "alt": 512}
MANIFEST_SUFFIXES = (".csv", ".json")
# Source downloads: large enough for a 100 MP TIFF, bounded so a hostile URL cannot fill RAM.
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
DOWNLOAD_TIMEOUT_S = 30.0
_SAFE_SKU = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Source:
    """One image to process, under the SKU its outputs are filed by."""

    sku: str
    location: str
    prompt: str | None = None  # isolate this product first (a text prompt)
    title: str | None = None
    alt: str | None = None  # alt text of the outputs; the title when not given

    @property
    def alt_text(self) -> str | None:
        """The outputs' alt text: the row's ``alt``, else its ``title``."""
        return self.alt or self.title

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))


def safe_sku(raw: str) -> str:
    """A SKU usable as a folder name: no path separators, no traversal, no empties."""
    cleaned = _SAFE_SKU.sub("-", raw.strip()).strip(".-")
    return cleaned or "item"


def read_sources(inputs: Sequence[str | Path]) -> list[Source]:
    """Sources from image files, folders (walked) and CSV/JSON manifests, SKUs made unique."""
    found: list[Source] = []
    images: list[str | Path] = []
    for item in inputs:
        text = str(item)
        if text.startswith(("http://", "https://")) or is_remote(text):
            found.append(Source(safe_sku(Path(text.split("?")[0]).stem), text))
        elif Path(text).is_file() and Path(text).suffix.lower() in MANIFEST_SUFFIXES:
            found.extend(read_manifest(Path(text)))
        else:
            images.append(item)
    found.extend(Source(safe_sku(p.stem), str(p)) for p in iter_image_files(images))
    return _unique_skus(found)


def read_manifest(path: Path) -> list[Source]:
    """Sources listed in a CSV or JSON manifest; relative paths are taken from its folder."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the manifest ({exc})") from exc
    if path.suffix.lower() == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise InputError(f"{path}: expected a JSON list of objects with sku and image")
    else:
        rows = list(csv.DictReader(text.splitlines()))
    sources = []
    for number, row in enumerate(rows, start=1):
        where = f"{path}: row {number}"
        location = next((str(row[k]).strip() for k in LOCATION_KEYS if row.get(k)), "")
        if not location:
            raise InputError(f"{where}: no image given (one of {', '.join(LOCATION_KEYS)})")
        if not location.startswith(("http://", "https://")) and not is_remote(location):
            location = str((path.parent / location).resolve())
        sku = str(row.get("sku") or "").strip() or Path(location.split("?")[0]).stem
        sources.append(Source(safe_sku(sku), location, **text_fields(row, where)))
    return sources


def text_fields(row: Mapping[str, object], where: str) -> dict[str, str | None]:
    """A row's per-SKU text (``prompt``, ``title``, ``alt``), checked: a manifest row's
    and an HTTP listing's fields are read by this one rule."""
    return {key: _text_field(row, key, where) for key in TEXT_KEYS}


def _text_field(row: Mapping[str, object], key: str, where: str) -> str | None:
    """A row's optional text column, stripped; None when absent or empty."""
    value = row.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{where}: {key} must be text, got {type(value).__name__}")
    text = " ".join(value.split())
    if len(text) > MAX_TEXT[key]:
        raise InputError(f"{where}: {key} is {len(text)} characters; keep it under {MAX_TEXT[key]}")
    return text or None


def _unique_skus(sources: list[Source]) -> list[Source]:
    seen: dict[str, int] = {}
    unique = []
    for src in sources:
        count = seen.get(src.sku.lower(), 0) + 1
        seen[src.sku.lower()] = count
        unique.append(src if count == 1 else dataclasses.replace(src, sku=f"{src.sku}-{count}"))
    return unique


def load_source(source: Source, *, allow_private_urls: bool = False) -> LoadedImage:
    """Decode a source image from its file or URL (the one place a batch reads images)."""
    if source.is_url:
        data = fetch_bytes(
            source.location,
            max_bytes=MAX_DOWNLOAD_BYTES,
            timeout=DOWNLOAD_TIMEOUT_S,
            allow_private=allow_private_urls,
        )
        return load_image(data, label=source.location)
    return load_image(source.location)
