"""The product vocabulary (``vocabulary.toml``): categories, their words, and colour names.

Data, not code: what a word means to the offline models (COCO labels, localizer boxes,
garments inside a person) is edited in the TOML file; this module only validates it and
answers look-ups.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from packshot.errors import PackshotError

Garment = Literal["upper", "lower", "full", "head"]
GARMENTS: tuple[Garment, ...] = ("upper", "lower", "full", "head")


@dataclass(frozen=True)
class Category:
    """What one kind of product is, to the models."""

    name: str
    terms: tuple[str, ...]
    coco: tuple[str, ...] = ()
    voc: str | None = None
    localized: bool = False
    garment: Garment | None = None
    held: bool = False
    feet: bool = False
    confusable: tuple[str, ...] = ()
    group: str = ""
    pair: bool = False
    # COCO classes that only some of the terms name (class -> those terms): a "doll" is a
    # toy but no "teddy bear", a "desk organizer" no "cup".
    coco_terms: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def for_term(self, term: str) -> Category:
        """The category as ``term`` means it: the COCO classes of other terms are no boxes
        of it (a confusion only where ``confusable`` lists them: a plush duck is detected
        as a "teddy bear", a desk organizer's "cup" is the coffee cup beside it)."""
        other = {label for label, terms in self.coco_terms if term not in terms}
        if not other:
            return self
        return dataclasses.replace(self, coco=tuple(c for c in self.coco if c not in other))

    @property
    def generic(self) -> bool:
        """The catch-all "object" / "product": any localized thing."""
        return self.name == "object"


@dataclass(frozen=True, eq=False)  # hashed by identity: look-ups are cached per instance
class Vocabulary:
    categories: Mapping[str, Category]
    colors: Mapping[str, tuple[tuple[int, int, int], ...]]
    color_synonyms: Mapping[str, str]
    materials: frozenset[str] = frozenset()
    shades: frozenset[str] = frozenset()

    def terms(self, extra_labels: Iterable[str] = ()) -> dict[str, Category]:
        """Every term (lower case) -> its category; ``extra_labels`` (a detector's class
        names) become categories of their own unless a table entry already claims them.
        Those are the detector's alone: where it knows the class and saw none, an unnamed
        localizer box is no evidence of one."""
        index: dict[str, Category] = {}
        for label in extra_labels:
            index[label.lower()] = Category(label, (label,), coco=(label,))
        for category in self.categories.values():
            for term in category.terms:
                index[term] = category.for_term(term)
        return index

    def color(self, word: str) -> str | None:
        """The colour name a word means (``navy`` -> ``blue``), or None."""
        word = word.lower()
        if word in self.colors:
            return word
        return self.color_synonyms.get(word)

    def color_names(self) -> tuple[str, ...]:
        return tuple(self.colors)

    def prototypes_lab(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """All colour prototypes in Lab (``N x 3``) and the index of each one's colour name."""
        return _prototypes(self)


class VocabularyError(PackshotError):
    """The vocabulary file is malformed (a packaging or user-file error)."""

    code = "bad_vocabulary"


@functools.lru_cache(maxsize=4)
def _prototypes(vocab: Vocabulary) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    rgb, owner = [], []
    for i, protos in enumerate(vocab.colors.values()):
        for proto in protos:
            rgb.append(proto)
            owner.append(i)
    lab = to_lab(np.asarray(rgb, dtype=np.uint8)[None])[0]
    return lab, np.asarray(owner, dtype=np.int64)


def to_lab(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """CIE Lab (L 0..100, a/b about -128..127) of uint8 sRGB pixels (``H x W x 3``)."""
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return np.asarray(lab, dtype=np.float32)


def _parse(raw: Mapping[str, Any], origin: str) -> Vocabulary:
    def bad(message: str) -> VocabularyError:
        return VocabularyError(f"{origin}: {message}")

    categories: dict[str, Category] = {}
    claimed: dict[str, str] = {}
    for name, table in dict(raw.get("categories", {})).items():
        if not isinstance(table, dict):
            raise bad(f"[categories.{name}] must be a table")
        terms = table.get("terms", [name])
        if not isinstance(terms, list) or not all(isinstance(t, str) and t for t in terms):
            raise bad(f"[categories.{name}] terms must be a list of words")
        garment = table.get("garment")
        if garment is not None and garment not in GARMENTS:
            raise bad(f"[categories.{name}] garment must be one of {', '.join(GARMENTS)}")
        voc = table.get("voc")
        terms_lower = {t.lower() for t in terms}
        for term in terms:
            owner = claimed.setdefault(term.lower(), name)
            if owner != name:
                raise bad(f"[categories.{name}] term {term!r} is already a term of {owner!r}")
        coco_terms = table.get("coco_terms", {})
        if not isinstance(coco_terms, dict) or not all(
            isinstance(v, list) and all(isinstance(t, str) and t.lower() in terms_lower for t in v)
            for v in coco_terms.values()
        ):
            raise bad(f"[categories.{name}] coco_terms must map COCO labels to lists of its terms")
        categories[name] = Category(
            name=name,
            terms=tuple(t.lower() for t in terms),
            coco=tuple(str(c) for c in table.get("coco", [])),
            voc=str(voc) if voc is not None else None,
            localized=bool(table.get("localized", False)),
            garment=garment,
            held=bool(table.get("held", False)),
            feet=bool(table.get("feet", False)),
            confusable=tuple(str(c) for c in table.get("confusable", [])),
            group=str(table.get("group", "")),
            pair=bool(table.get("pair", False)),
            coco_terms=tuple((str(k), tuple(t.lower() for t in v)) for k, v in coco_terms.items()),
        )
    colors: dict[str, tuple[tuple[int, int, int], ...]] = {}
    for name, protos in dict(raw.get("colors", {})).items():
        ok = isinstance(protos, list) and all(
            isinstance(p, list)
            and len(p) == 3
            and all(isinstance(v, int) and 0 <= v <= 255 for v in p)
            for p in protos
        )
        if not ok or not protos:
            raise bad(f"colors.{name} must be a list of [r, g, b] values 0..255")
        colors[name] = tuple((p[0], p[1], p[2]) for p in protos)
    synonyms = {str(k): str(v) for k, v in dict(raw.get("color_synonyms", {})).items()}
    for word, target in synonyms.items():
        if target not in colors:
            raise bad(f"color_synonyms.{word} names unknown colour {target!r}")
    if not categories or not colors:
        raise bad("needs [categories.*] tables and a [colors] table")
    words: dict[str, frozenset[str]] = {}
    for key in ("materials", "shades"):
        listed = dict(raw.get(key, {})).get("words", [])
        if not isinstance(listed, list) or not all(isinstance(w, str) and w for w in listed):
            raise bad(f"{key}.words must be a list of words")
        words[key] = frozenset(w.lower() for w in listed)
    return Vocabulary(categories, colors, synonyms, words["materials"], words["shades"])


@functools.lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    """The vocabulary shipped with packshot."""
    text = resources.files("packshot.isolate").joinpath("vocabulary.toml").read_text("utf-8")
    return _parse(tomllib.loads(text), "packshot/isolate/vocabulary.toml")
