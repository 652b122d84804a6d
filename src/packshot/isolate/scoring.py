"""Rank candidates against a text prompt: category, colour (Lab), position, size.

Spatial and size words are relative ("the cup on the left" is the leftmost cup, not a cup
in the left third), so they are scored against the other candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from packshot.isolate.candidates import Candidate
from packshot.isolate.colors import color_shares, dominant_colors
from packshot.isolate.prompt import Spatial, TextPrompt
from packshot.isolate.vocabulary import Vocabulary

ImageArray = npt.NDArray[np.uint8]

# A colour covering this share of an object is a full match (patterns, shading and
# highlights keep even a red bag well short of 100 % red).
FULL_COLOR_SHARE = 0.3
# Below this share the object is not of the asked colour at all.
MIN_COLOR_SHARE = 0.05


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    total: float  # ranking score
    confidence: float  # reported: category x colour evidence, 0..1
    colors: tuple[str, ...]  # the object's dominant colours, for messages
    color_share: float | None  # share of the asked colour(s), None when none asked


def _spatial_value(
    c: Candidate, word: Spatial, all_: list[Candidate], hw: tuple[int, int]
) -> float:
    """0..1: how well ``c`` fits ``word`` among ``all_`` (1 = the best fit)."""
    height, width = hw

    def spread(value: float, values: list[float]) -> float:
        lo, hi = min(values), max(values)
        return 1.0 if hi - lo < 1e-6 else (value - lo) / (hi - lo)

    cx = [(o.box.x0 + o.box.x1) / 2 for o in all_]
    cy = [(o.box.y0 + o.box.y1) / 2 for o in all_]
    area = [float(o.box.width * o.box.height) for o in all_]
    bottom = [float(o.box.y1) for o in all_]
    x, y = (c.box.x0 + c.box.x1) / 2, (c.box.y0 + c.box.y1) / 2
    a = float(c.box.width * c.box.height)
    if word == "left":
        return 1.0 - spread(x, cx)
    if word == "right":
        return spread(x, cx)
    if word == "top":
        return 1.0 - spread(y, cy)
    if word == "bottom":
        return spread(y, cy)
    if word == "centre":
        d = [
            abs(v - width / 2) / width + abs(u - height / 2) / height
            for v, u in zip(cx, cy, strict=True)
        ]
        mine = abs(x - width / 2) / width + abs(y - height / 2) / height
        return 1.0 - spread(mine, d)
    if word == "front":
        # Nearer objects stand lower in the frame and look bigger.
        return 0.5 * spread(float(c.box.y1), bottom) + 0.5 * spread(a, area)
    if word == "largest":
        return spread(a, area)
    return 1.0 - spread(a, area)  # smallest


def rank(
    candidates: list[Candidate], prompt: TextPrompt, vocabulary: Vocabulary, rgb: ImageArray
) -> list[Ranked]:
    """Candidates best first (none dropped; the caller decides what is too weak)."""
    hw = (rgb.shape[0], rgb.shape[1])
    ranked = []
    for c in candidates:
        shares = color_shares(rgb, c.box, vocabulary, c.prob)
        share = None
        color_factor = 1.0
        if prompt.colors:
            share = min(shares.get(name, 0.0) for name in prompt.colors)
            color_factor = min(1.0, share / FULL_COLOR_SHARE)
        spatial_factor = 1.0
        for word in prompt.spatial:
            spatial_factor *= 0.2 + 0.8 * _spatial_value(c, word, candidates, hw)
        confidence = c.score * color_factor
        ranked.append(
            Ranked(c, confidence * spatial_factor, confidence, dominant_colors(shares), share)
        )
    return sorted(ranked, key=lambda r: -r.total)
