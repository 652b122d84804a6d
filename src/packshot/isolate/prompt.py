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
# Words that end the product's own phrase: "the dress on the model", "the bag with a strap".
_PREPOSITIONS = {
    "on",
    "in",
    "with",
    "of",
    "by",
    "at",
    "from",
    "for",
    "near",
    "beside",
    "next",
    "under",
    "behind",
    "against",
    "inside",
    "onto",
    "over",
    "worn",
    "held",
    "wearing",
    "holding",
    "and",
}
_WORD = re.compile(r"[a-z][a-z'-]*")


@dataclass(frozen=True)
class TextPrompt:
    """A parsed phrase: the category it names, colours, materials, spatial/size words.

    ``category`` is None when the noun is not in the vocabulary: isolation then takes
    the most product-like localized object that fits the other words, and says so."""

    text: str
    noun: str
    category: Category | None
    colors: tuple[str, ...] = ()
    spatial: tuple[Spatial, ...] = ()
    materials: tuple[str, ...] = ()

    @property
    def describe(self) -> str:
        """The phrase as understood, for messages: ``red handbag``."""
        return " ".join((*self.colors, self.noun))

    @property
    def understood(self) -> bool:
        return self.category is not None


@dataclass(frozen=True)
class PointPrompt:
    """Points on the object (positive) and off it (negative), in pixels."""

    positive: tuple[tuple[int, int], ...]
    negative: tuple[tuple[int, int], ...] = field(default=())


_SET_JOINS = re.compile(r"\s+(?:and|&|plus)\s+", re.IGNORECASE)


def set_parts(text: str, vocabulary: Vocabulary, labels: tuple[str, ...] = ()) -> list[str]:
    """A whole-set prompt's parts: ``"the cup and saucer"`` -> ``["the cup", "saucer"]``
    when every part names a product of its own; else ``[text]`` ("the black and white
    dress" is one dress: "the black" names nothing)."""
    parts = [p.strip() for p in _SET_JOINS.split(text) if p.strip()]
    if len(parts) < 2:
        return [text]
    parsed = [parse_text(p, vocabulary, labels) for p in parts]
    if all(p.understood and p.category is not None and not p.category.generic for p in parsed):
        return parts
    return [text]


def _singulars(word: str) -> set[str]:
    """``word`` and the singulars it may be the plural of (``vases`` -> ``vase``, ``vas``;
    ``knives`` -> ``knife``): the vocabulary says which one is a word."""
    forms = {word}
    if len(word) <= 3 or word.endswith("ss"):
        return forms
    if word.endswith("s"):
        forms.add(word[:-1])
    if word.endswith("es"):
        forms.add(word[:-2])
    if word.endswith("ies"):
        forms.add(word[:-3] + "y")
    if word.endswith("ves"):
        forms |= {word[:-3] + "f", word[:-3] + "fe"}
    return forms


def parse_text(text: str, vocabulary: Vocabulary, labels: tuple[str, ...] = ()) -> TextPrompt:
    """Parse ``text``; ``labels`` are the detector's class names (categories of their own).

    The product noun is the vocabulary phrase that is, in order: a product rather than the
    catch-all "object" ("the set of knives" is knives), not a place word ("top" in "the
    cup on top"), before the first preposition ("the dress on the model" is the dress),
    the longest ("bedside table" over "bed"), the last ("the leather bag"). A shade before
    a colour ("light blue") is part of the colour, never the noun ("light"). A phrase with
    no known noun keeps its last content word as ``noun`` and ``category`` None.
    """
    if not text or not text.strip():
        raise InputError('prompt: the text prompt is empty; say what to isolate ("the handbag")')
    if len(text) > 200:
        raise InputError(f"prompt: the text prompt is {len(text)} characters; keep it under 200")
    words = _WORD.findall(text.lower())
    if not words:
        raise InputError(f"prompt: {text!r} has no words")
    terms = vocabulary.terms(labels)
    shade = {
        i
        for i, w in enumerate(words[:-1])
        if w in vocabulary.shades and vocabulary.color(words[i + 1]) is not None
    }
    head_end = next((i for i, w in enumerate(words) if i > 0 and w in _PREPOSITIONS), len(words))
    best: tuple[bool, bool, bool, int, int, Category, str] | None = None
    for n in (3, 2, 1):
        for i in range(len(words) - n + 1):
            if shade & set(range(i, i + n)):
                continue
            phrase_words = words[i : i + n]
            for candidate in {
                " ".join([*phrase_words[:-1], last]) for last in _singulars(phrase_words[-1])
            }:
                category = terms.get(candidate)
                if category is None:
                    continue
                key = (
                    category.name != "object",
                    candidate not in SPATIAL_WORDS,
                    i + n <= head_end,
                    n,
                    i,
                )
                if best is None or key > best[:5]:
                    best = (*key, category, candidate)
    used: set[int] = set(shade)
    if best is not None:
        used |= set(range(best[4], best[4] + best[3]))
    colors: list[str] = []
    spatial: list[Spatial] = []
    materials: list[str] = []
    for i, word in enumerate(words):
        if i in used:
            continue
        color = vocabulary.color(word)
        if color is not None:
            colors.append(color)
        elif word in SPATIAL_WORDS:
            spatial.append(SPATIAL_WORDS[word])
        if word in vocabulary.materials:
            materials.append(word)
    found = (
        tuple(dict.fromkeys(colors)),
        tuple(dict.fromkeys(spatial)),
        tuple(dict.fromkeys(materials)),
    )
    if best is not None:
        return TextPrompt(text, best[6], best[5], *found)
    content = [
        w
        for i, w in enumerate(words[:head_end])
        if i not in used
        and w not in _FILLER
        and w not in _PREPOSITIONS
        and w not in SPATIAL_WORDS
        and w not in vocabulary.materials
        and vocabulary.color(w) is None
    ]
    if not content and (colors or spatial or materials):
        # "the red one", "the one on the left": any object.
        return TextPrompt(text, "object", vocabulary.categories.get("object"), *found)
    noun = content[-1] if content else words[-1]
    return TextPrompt(text, noun, None, *found)


def _ints(value: str, count: int, what: str, example: str) -> list[int]:
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != count:
        raise InputError(f"{what}: {value!r} is not {example}")
    try:
        return [round(float(p)) for p in parts]
    except ValueError:
        raise InputError(f"{what}: {value!r} is not {example} (numbers in pixels)") from None


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
