"""How likely an isolation is the product the prompt named: a calibrated probability.

The match score a candidate ranks by (category x colour x place) is no probability: a
localizer box of a spoon and one of the prompted toy score alike, and the detector's
0.89 for a cup says nothing about whether a "desk organizer" is that cup. The evidence
below is what tells right answers from wrong ones; a logistic model of it, fitted on the
``tune`` split of ``benchmarks/isolate_set.py`` only (``benchmarks/isolate.py --fit``:
every candidate drawn on the tune composites, right when its IoU with the true mask is at
least 0.5, and the tune on-model answers as judged by eye; 41 answers, 20 right), turns it
into ``isolation_confidence``: 0.3 means about three in ten such answers were right. Each
weight keeps the sign its evidence must have (a fit free of that learned, from a few
dozen answers, that a sure detection is a wrong one); what the tune split could not tell
apart weighs 0 (the detector's class and score, colour, foreign objects: its wrong answers
were as often sure detections of the wrong thing as unnamed boxes). The gate's
``isolation_confidence`` check holds an output made from an answer below its threshold
(0.7: no tune answer at or above it was wrong).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from packshot.isolate.candidates import Detection, iou, rival_boxes
from packshot.isolate.prompt import TextPrompt
from packshot.isolate.sanity import MaskCheck
from packshot.isolate.scoring import FULL_COLOR_SHARE, Ranked
from packshot.isolate.vocabulary import Category
from packshot.models.detect import localizer
from packshot.ops.geometry import Box
from packshot.presets.gate import DEFAULT_THRESHOLDS

BoolArray = npt.NDArray[np.bool_]

# Below this an answer is not trusted: the gate's default ``isolation_confidence``
# threshold, and where isolation stops trying further candidates.
TRUSTED = DEFAULT_THRESHOLDS["isolation_confidence"]

# Logistic weights (intercept first, then one per EVIDENCE name), printed by
# ``benchmarks/isolate.py --fit`` (``--refit``) on the tune split.
CALIBRATION = (-3.301, 0.000, 0.000, 1.122, 0.000, 1.525, 0.000, 1.659, 0.000, 0.613)

EVIDENCE = (
    "class_agreement",
    "match_score",
    "understood",
    "main_share",
    "box_agreement",
    "colour_match",
    "margin",
    "foreign",
    "size",
)
"""The evidence, each 0..1:

* ``class_agreement``: what named the box. 1 a detector class that is the prompt's
  category (the only COCO class the prompt's term maps to, an open-vocabulary model's
  label); 0.5 one of several classes the term may be (a "pencil holder" may be a cup), or
  a garment of the person parse (clothes, told apart by colour); 0 a class-agnostic
  localizer box.
* ``match_score``: the ranking's confidence (the model's score x the colour's share).
* ``understood``: 1 when the prompt's noun is in the vocabulary.
* ``main_share``: the share of the mask in its main pieces (1 = one whole piece).
* ``box_agreement``: IoU of the mask's box with the box the answer was found in; for a
  garment, the share of the person's clothes (person parse) the mask covers.
* ``colour_match``: the asked colour's share of the object over a full match's (1 when no
  colour was asked).
* ``margin``: how far the answer ranked ahead of the next candidate (1 = alone).
* ``foreign``: the share of the mask inside confident boxes of other classes (a saucer's
  mask holding its cup).
* ``size``: the square root of the mask's share of the photo (a spoon is small).
"""


@dataclass(frozen=True)
class Evidence:
    """One answer's evidence (see :data:`EVIDENCE`)."""

    class_agreement: float
    match_score: float
    understood: float
    main_share: float
    box_agreement: float
    colour_match: float
    margin: float
    foreign: float
    size: float

    def features(self) -> tuple[float, ...]:
        return tuple(float(getattr(self, name)) for name in EVIDENCE)

    def info(self) -> dict[str, float]:
        return {name: round(float(getattr(self, name)), 4) for name in EVIDENCE}


def isolation_confidence(evidence: Evidence, weights: tuple[float, ...] = CALIBRATION) -> float:
    """P(the answer is the prompted product) under the calibrated logistic model."""
    z = weights[0] + sum(w * f for w, f in zip(weights[1:], evidence.features(), strict=True))
    return 1.0 / (1.0 + math.exp(-z))


def _class_agreement(r: Ranked, category: Category | None, understood: bool) -> float:
    c = r.candidate
    if c.garment is not None:
        return 0.5  # the parse says clothes; which garment they are is a split by colour
    if c.source == localizer().spec.name or category is None or not understood:
        return 0.0
    if c.label in category.coco:
        return 1.0 if len(category.coco) == 1 else 0.5
    # An open-vocabulary model's own label, or a detector class that is its own category.
    return 1.0 if c.label == category.name or c.label in category.terms else 0.0


def _box_agreement(solid: BoolArray, r: Ranked) -> float:
    person = r.candidate.person
    if r.candidate.garment is not None and person is not None:
        # A garment's own box is drawn from its map: what it agrees with or not is the
        # clothes the person parse sees (a strap alone is a sliver of the top's clothes).
        clothes = (person.parts.clothes > 0.5) & person.person
        worn = int(clothes.sum())
        mine = int(solid[person.crop.slices][clothes].sum())
        return min(1.0, mine / worn) if worn else 0.0
    box = r.candidate.box
    ys, xs = np.nonzero(solid)
    if len(ys) == 0:
        return 0.0
    mask_box = Box(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return iou(mask_box, box)


def _foreign(
    solid: BoolArray, r: Ranked, category: Category | None, detections: Sequence[Detection]
) -> float:
    """Share of the mask inside confident boxes of other things than the prompt's."""
    inside = np.zeros_like(solid)
    for box in rival_boxes(r.candidate.box, category, detections):
        inside[box.slices] = True
    area = int(solid.sum())
    return float((solid & inside).sum()) / area if area else 0.0


def gather_evidence(
    solid: BoolArray,
    r: Ranked,
    others: Sequence[Ranked],
    check: MaskCheck,
    parsed: TextPrompt,
    understood: bool,
    category: Category | None,
    detections: Sequence[Detection],
) -> Evidence:
    """The evidence of one drawn candidate ``r`` (``solid``: its opaque pixels)."""
    colour = 1.0
    if r.color_share is not None:
        colour = min(1.0, r.color_share / FULL_COLOR_SHARE)
    rival = max((o.total for o in others), default=0.0)
    margin = 1.0 if rival <= 0 else float(np.clip(1.0 - rival / max(r.total, 1e-6), 0.0, 1.0))
    return Evidence(
        class_agreement=_class_agreement(r, parsed.category, understood),
        match_score=r.confidence,
        understood=1.0 if understood else 0.0,
        main_share=check.main_share,
        box_agreement=_box_agreement(solid, r),
        colour_match=colour,
        margin=margin,
        foreign=_foreign(solid, r, category, detections),
        size=math.sqrt(float(solid.sum()) / max(1, solid.size)),
    )
