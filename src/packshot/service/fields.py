"""Request field parsing shared by the solutions and the remove.bg endpoint.

Each parser names the field in its error, so a client sees ``color: ...`` rather than a
generic "bad request".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from packshot.errors import InputError


def parse_choice(value: Any, field: str, choices: Sequence[str], default: str) -> str:
    if value is None or value == "":
        return default
    text = str(value).strip().lower()
    if text not in choices:
        raise InputError(f"{field}: {value!r} is not one of {', '.join(choices)}.")
    return text


def parse_bool(value: Any, field: str, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InputError(f"{field}: {value!r} is not true or false.")


def parse_names(value: Any, field: str) -> list[str]:
    """A list of names from a JSON list or a comma-separated string."""
    items: Iterable[Any]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise InputError(f"{field}: expected a list of names or a comma-separated string.")
    names = [str(v).strip() for v in items if str(v).strip()]
    if not names:
        raise InputError(f"{field}: at least one name is required.")
    return names


def text_field(fields: Mapping[str, Any], field: str, *, required: bool = False) -> str | None:
    value = fields.get(field)
    if value is None or value == "":
        if required:
            raise InputError(f"{field}: this field is required.")
        return None
    if not isinstance(value, str):
        raise InputError(f"{field}: expected a string, got {type(value).__name__}.")
    return value.strip()
