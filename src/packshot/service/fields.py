"""Request field parsing shared by the solutions and the remove.bg endpoint.

Each parser names the field in its error, so a client sees ``color: ...`` rather than a
generic "bad request".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from packshot.errors import InputError

Color = tuple[int, int, int]

_NAMED = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
}
_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def parse_color(value: Any, field: str) -> Color:
    """``"#RRGGBB"``, ``"RRGGBB"``, ``"RGB"``, a CSS basic name, or ``[R, G, B]`` 0-255."""
    if isinstance(value, list | tuple):
        if len(value) == 3 and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value
        ):
            return int(value[0]), int(value[1]), int(value[2])
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in _NAMED:
            return _NAMED[text]
        match = _HEX.match(text)
        if match:
            digits = match.group(1)
            if len(digits) == 3:
                digits = "".join(c * 2 for c in digits)
            return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    raise InputError(
        f"{field}: {value!r} is not a colour; use '#RRGGBB', a name such as 'white', "
        "or [R, G, B] with values 0-255."
    )


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
