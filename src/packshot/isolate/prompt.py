"""Prompts: what the caller asked to isolate.

Three kinds: a text phrase ("the red sneaker on the left"), a box (``x,y,w,h`` in pixels),
or points (``x,y``, positive and negative). Text is parsed into a category noun, colour
words and spatial/size words; matching them to models is the vocabulary's job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from packshot.errors import InputError
from packshot.isolate.vocabulary import Category, Vocabulary
from packshot.ops.geometry import Box

Spatial = Literal["left", "right", "top", "bottom", "centre", "front", "largest", "smallest"]

# Words (after lower-casing) that mean each spatial/size preference.
SPATIAL_WORDS: dict[str, Spatial] = {
    "left": "left",
    "leftmost": "left",
    "right": "right",
    "rightmost": "right",
    "top": "top",
    "upper": "top",
    "above": "top",
    "bottom": "bottom",
    "lower": "bottom",
    "below": "bottom",
    "centre": "centre",
    "center": "centre",
    "middle": "centre",
    "central": "centre",
    "front": "front",
    "foreground": "front",
    "nearest": "front",
    "closest": "front",
    "largest": "largest",
    "biggest": "largest",
    "large": "largest",
    "big": "largest",
    "smallest": "smallest",
    "small": "smallest",
    "little": "smallest",
    "tiny": "smallest",
}
_FILLER = {
    "the",
    "a",
    "an",
    "on",
    "in",
    "at",
    "of",
    "to",
    "with",
    "one",
    "side",
    "just",
    "only",
    "please",
    "that",
    "is",
    "this",
}
_WORD = re.compile(r"[a-z][a-z'-]*")


@dataclass(frozen=True)
class TextPrompt:
    """A parsed phrase: the category it names, colours, spatial/size preferences."""

    text: str
    noun: str
    category: Category | None
    colors: tuple[str, ...] = ()
    spatial: tuple[Spatial, ...] = ()

    @property
    def describe(self) -> str:
        """The phrase as understood, for messages: ``red handbag``."""
        return " ".join((*self.colors, self.noun))


@dataclass(frozen=True)
class PointPrompt:
    """Points on the object (positive) and off it (negative), in pixels."""

    positive: tuple[tuple[int, int], ...]
    negative: tuple[tuple[int, int], ...] = field(default=())


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def parse_text(text: str, vocabulary: Vocabulary, labels: tuple[str, ...] = ()) -> TextPrompt:
    """Parse ``text``; ``labels`` are the detector's class names (categories of their own).

    The longest phrase of the vocabulary found in the text names the category ("tank top"
    wins over "top"); a phrase with no known noun keeps its last content word as ``noun``
    and ``category`` None, so the caller can say what it could not find.
    """
    if not text or not text.strip():
        raise InputError('prompt: the text prompt is empty; say what to isolate ("the handbag")')
    if len(text) > 200:
        raise InputError(f"prompt: the text prompt is {len(text)} characters; keep it under 200")
    words = _WORD.findall(text.lower())
    if not words:
        raise InputError(f"prompt: {text!r} has no words")
    terms = vocabulary.terms(labels)
    colors: list[str] = []
    spatial: list[Spatial] = []
    # (not a spatial word, length, position, category, phrase): "top" in "the cup on top"
    # is a place, not the garment; then longer phrases ("tank top" over "top"), then later
    # ones ("the bag of the model" is rare; "the mug, the cup" names the last one asked).
    best: tuple[bool, int, int, Category, str] | None = None
    for n in (3, 2, 1):
        for i in range(len(words) - n + 1):
            phrase_words = words[i : i + n]
            for candidate in {
                " ".join(phrase_words),
                " ".join([*phrase_words[:-1], _singular(phrase_words[-1])]),
            }:
                category = terms.get(candidate)
                if category is None:
                    continue
                key = (candidate not in SPATIAL_WORDS, n, i)
                if best is None or key > best[:3]:
                    best = (*key, category, candidate)
    used: set[int] = set()
    if best is not None:
        used = set(range(best[2], best[2] + best[1]))
    for i, word in enumerate(words):
        if i in used:
            continue
        color = vocabulary.color(word)
        if color is not None:
            colors.append(color)
        elif word in SPATIAL_WORDS:
            spatial.append(SPATIAL_WORDS[word])
    if best is not None:
        return TextPrompt(
            text, best[4], best[3], tuple(dict.fromkeys(colors)), tuple(dict.fromkeys(spatial))
        )
    content = [
        w
        for w in words
        if w not in _FILLER and w not in SPATIAL_WORDS and vocabulary.color(w) is None
    ]
    if not content and (colors or spatial):
        # "the red one", "the one on the left": any object.
        category = vocabulary.categories.get("object")
        return TextPrompt(
            text, "object", category, tuple(dict.fromkeys(colors)), tuple(dict.fromkeys(spatial))
        )
    noun = content[-1] if content else words[-1]
    return TextPrompt(text, noun, None, tuple(dict.fromkeys(colors)), tuple(dict.fromkeys(spatial)))


def _ints(value: str, count: int, what: str, example: str) -> list[int]:
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != count:
        raise InputError(f"{what}: {value!r} is not {example}")
    try:
        return [round(float(p)) for p in parts]
    except ValueError:
        raise InputError(f"{what}: {value!r} is not {example} (numbers in pixels)") from None


def parse_box(value: str | Sequence[int], image_hw: tuple[int, int]) -> Box:
    """A box from ``"x,y,w,h"`` (pixels), checked against the image size."""
    if isinstance(value, str):
        x, y, w, h = _ints(value, 4, "box", "x,y,w,h")
    else:
        if len(value) != 4:
            raise InputError(f"box: {value!r} is not [x, y, w, h]")
        x, y, w, h = (int(v) for v in value)
    height, width = image_hw
    if w < 2 or h < 2:
        raise InputError(f"box: width and height must be at least 2 px, got {w}x{h}")
    box = Box(max(0, x), max(0, y), min(width, x + w), min(height, y + h))
    if box.width < 2 or box.height < 2:
        raise InputError(f"box: {x},{y},{w},{h} lies outside the {width}x{height} image")
    return box


def parse_point(
    value: str | Sequence[int], image_hw: tuple[int, int], what: str = "point"
) -> tuple[int, int]:
    """A point from ``"x,y"`` (pixels), checked to lie inside the image."""
    if isinstance(value, str):
        x, y = _ints(value, 2, what, "x,y")
    else:
        if len(value) != 2:
            raise InputError(f"{what}: {value!r} is not [x, y]")
        x, y = (int(v) for v in value)
    height, width = image_hw
    if not (0 <= x < width and 0 <= y < height):
        raise InputError(f"{what}: {x},{y} lies outside the {width}x{height} image")
    return x, y
