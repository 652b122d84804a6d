"""Turning an HTTP request into a solution's fields and images.

Three ways to send an image, per role (``image``, ``mask``, ``reference``): a JSON or form
field ``<role>_url`` (fetched through :mod:`packshot.fetch`, so private addresses are
refused), ``<role>_base64`` (plain base64 or a ``data:`` URL), or a multipart upload named
``<role>_file``. Only the fields are parsed here; URLs are fetched when the run starts, so a
batch of many URLs is accepted at once and each one that fails fails alone.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from packshot.errors import InputError
from packshot.fetch import fetch_bytes
from packshot.service.settings import Settings
from packshot.service.solutions import IMAGE_ROLES

ImageRef = bytes | str
"""Encoded image bytes, or an http(s) URL still to fetch."""

MAX_JSON_DEPTH = 32
"""Nesting allowed in a request body: far beyond any real request, far below what would
exhaust the parser's (or a later ``json.dumps``'s) recursion."""


@dataclass(frozen=True)
class Parsed:
    fields: dict[str, Any]
    images: dict[str, ImageRef]


def decode_base64(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise InputError(f"{field}: expected a base64 string.")
    text = value.strip()
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{field}: not valid base64.") from None
    if not data:
        raise InputError(f"{field}: decodes to 0 bytes.")
    return data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # Parsers disagree on which copy wins; say so instead of picking one silently.
            raise InputError(f"{key}: the field appears more than once in a JSON object.")
        out[key] = value
    return out


def _depth(value: Any) -> int:
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_JSON_DEPTH:
                children = item.values() if isinstance(item, dict) else item
                stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_json(body: bytes | str, what: str = "The body") -> Any:
    """JSON from a client: a clear InputError for bad syntax, repeated keys, or nesting
    deeper than :data:`MAX_JSON_DEPTH` (which would otherwise end in a RecursionError)."""
    too_deep = f"{what} is nested deeper than {MAX_JSON_DEPTH} levels."
    try:
        data = json.loads(body, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise InputError(too_deep) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} is not valid JSON ({exc}).") from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise InputError(too_deep)
    return data


def split_fields(raw: Mapping[str, Any], uploads: Mapping[str, bytes]) -> Parsed:
    """Image references out of ``raw`` (and uploads); everything else stays a field."""
    fields: dict[str, Any] = {}
    images: dict[str, ImageRef] = {}
    image_keys = {f"{r}_{kind}": r for r in IMAGE_ROLES for kind in ("url", "base64", "file")}
    for key, value in raw.items():
        role = image_keys.get(key)
        if role is None:
            fields[key] = value
            continue
        if value is None or value == "":
            continue
        if role in images:
            raise InputError(f"{key}: send {role} only once (a URL, base64 or a file).")
        if isinstance(value, list):
            raise InputError(f"{key}: {len(value)} values were sent; send one {role}.")
        if key.endswith("_url"):
            if not isinstance(value, str):
                raise InputError(f"{key}: expected a URL string.")
            images[role] = value.strip()
        elif key.endswith("_base64"):
            images[role] = decode_base64(value, key)
        else:
            raise InputError(f"{key}: send files as multipart uploads, not as a field.")
    for key, data in uploads.items():
        role = image_keys.get(key)
        if role is None or not key.endswith("_file"):
            raise InputError(
                f"{key}: unexpected file upload; images go in "
                + ", ".join(f"{r}_file" for r in IMAGE_ROLES)
                + "."
            )
        if role in images:
            raise InputError(f"{key}: send {role} only once (a URL, base64 or a file).")
        if not data:
            raise InputError(f"{key}: the uploaded file is empty (0 bytes).")
        images[role] = data
    return Parsed(fields, images)


async def read_request(request: Request, settings: Settings) -> Parsed:
    """The fields and image references of a JSON or multipart/form request."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form(
            max_files=len(IMAGE_ROLES), max_fields=100, max_part_size=settings.max_request_bytes
        )
        try:
            raw: dict[str, Any] = {}
            uploads: dict[str, bytes] = {}
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if key in uploads:
                        raise InputError(
                            f"{key}: {sum(1 for k, _ in form.multi_items() if k == key)} files "
                            "were uploaded under this name; send one image per field."
                        )
                    uploads[key] = await value.read()
                elif key in raw:
                    # Repeated form fields (market=a&market=b) become a list.
                    existing = raw[key]
                    raw[key] = (
                        [*existing, value] if isinstance(existing, list) else [existing, value]
                    )
                else:
                    raw[key] = value
        finally:
            await form.close()
        return split_fields(raw, uploads)
    body = await request.body()
    if not body:
        return Parsed({}, {})
    if content_type not in ("application/json", ""):
        raise InputError(
            f"Content-Type {content_type!r} is not accepted: send application/json or "
            "multipart/form-data."
        )
    data = parse_json(body)
    if not isinstance(data, dict):
        raise InputError("The JSON body must be an object of fields.")
    return split_fields(data, {})


def fetch_image(ref: ImageRef, role: str, settings: Settings) -> bytes:
    if isinstance(ref, bytes):
        return ref
    return fetch_bytes(
        ref,
        max_bytes=settings.max_download_bytes,
        timeout=settings.download_timeout_s,
        allow_private=settings.allow_private_urls,
    )
