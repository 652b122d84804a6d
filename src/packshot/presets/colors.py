"""The one parser for colours a user writes: preset files, recipe steps, CLI flags, API fields.

Lives with the presets because a background colour is preset data first, and presets may
import nothing but ``errors``; everything else that reads a colour imports it from here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from packshot.errors import InputError

Color = tuple[int, int, int]

# CSS basic names people type for backgrounds; anything else is written as hex.
NAMED: dict[str, Color] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
}
_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
FORMS = "'#RRGGBB', 'r,g,b', [r, g, b] (0-255) or a name such as 'white'"


def parse_color(value: Any, field: str = "color") -> Color:
    """``"#RRGGBB"``/``"RRGGBB"``/``"#RGB"``, ``"r,g,b"``, ``[r, g, b]`` or a basic name.

    Raises InputError naming ``field`` and the accepted forms.
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in NAMED:
            return NAMED[text]
        match = _HEX.match(text)
        if match:
            digits = match.group(1)
            if len(digits) == 3:
                digits = "".join(c * 2 for c in digits)
            return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
        parts: Sequence[Any] = [p.strip() for p in text.split(",")]
    elif isinstance(value, Sequence):
        parts = value
    else:
        parts = ()
    if len(parts) == 3 and not any(isinstance(p, bool | float) for p in parts):
        try:
            r, g, b = (int(p) for p in parts)
        except (TypeError, ValueError):
            pass
        else:
            if all(0 <= c <= 255 for c in (r, g, b)):
                return r, g, b
    raise InputError(f"{field}: {value!r} is not a colour; use {FORMS}")
