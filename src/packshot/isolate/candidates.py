"""What might be the prompted object: boxes from every model that can see it.

Sources, in order of trust: an installed open-vocabulary detector (used alone when it
finds the category), the COCO detector's boxes of the category's labels, the class-agnostic
localizer's boxes (for categories the detector misses, weighted down and penalised where a
detector says the box is something else), and garments inside each detected person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from packshot.isolate.garments import PersonParse, garment_probability, parse_person
from packshot.isolate.prompt import TextPrompt
from packshot.isolate.vocabulary import Category, Garment
from packshot.models.detect import Detection as ModelDetection
from packshot.models.detect import detector, localizer
from packshot.models.openvocab import installed_open_vocab
from packshot.ops.geometry import Box

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

MIN_DETECTOR_SCORE = 0.3
MIN_LOCALIZER_SCORE = 0.2
MIN_PERSON_SCORE = 0.4
# A localizer box is weaker evidence of a category than a labelled detection.
LOCALIZER_WEIGHT = 0.6
# A detection this sure of another label rules a localizer box out for the category.
CONFIDENT_OTHER = 0.5
# Boxes of one object from two models overlap at least this much.
SAME_OBJECT_IOU = 0.6
# A detector box of a class weighs this much for a prompt whose noun is unknown.
UNKNOWN_LABELLED = 0.5
# A localizer box this many times its share of skin and hair loses that much confidence.
BODY_PENALTY = 2.0


@dataclass
class Candidate:
    """One possible answer: a box, what model said what, and (garments) its own map."""

    box: Box
    label: str
    score: float  # confidence that this is the prompt's category, 0..1
    source: str
    garment: Garment | None = None
    prob: FloatArray | None = None  # full-image map, for garments
    person: PersonParse | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Detection:
    """A model's box, in this layer's geometry (models return plain x0, y0, x1, y1)."""

    box: Box
    label: str
    score: float
    model: str

    @classmethod
    def of(cls, found: ModelDetection) -> Detection:
        return cls(Box(*found.box), found.label, found.score, found.model)


@dataclass
class Scene:
    """Everything the models saw in one image (for choosing, and for error messages)."""

    rgb: ImageArray
    detections: list[Detection] = field(default_factory=list)
    objects: list[Detection] = field(default_factory=list)
    open_vocab: list[Detection] = field(default_factory=list)
    _parses: dict[Box, PersonParse] = field(default_factory=dict)

    @classmethod
    def observe(cls, rgb: ImageArray) -> Scene:
        return cls(
            rgb,
            [Detection.of(d) for d in detector().detect(rgb, MIN_DETECTOR_SCORE)],
            [Detection.of(d) for d in localizer().detect(rgb, MIN_LOCALIZER_SCORE)],
        )

    @property
    def people(self) -> list[Detection]:
        return [d for d in self.detections if d.label == "person" and d.score >= MIN_PERSON_SCORE]

    def parse(self, person: Box) -> PersonParse:
        """The person's skin/clothes/hair parse, computed once per person."""
        if person not in self._parses:
            self._parses[person] = parse_person(self.rgb, person)
        return self._parses[person]

    def seen(self) -> str:
        """``person 0.93, cup 0.90, 2 unlabelled objects`` (what a caller could ask for)."""
        parts = [f"{d.label} {d.score:.2f}" for d in [*self.open_vocab, *self.detections]]
        unlabelled = [
            o
            for o in self.objects
            if all(
                iou(o.box, d.box) < SAME_OBJECT_IOU and covered(o.box, d.box) <= 0.7
                for d in self.detections
            )
        ]
        if unlabelled:
            parts.append(f"{len(unlabelled)} unlabelled object{'s' * (len(unlabelled) > 1)}")
        return ", ".join(parts) or "nothing"


def iou(a: Box, b: Box) -> float:
    inter = max(0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0, min(a.y1, b.y1) - max(a.y0, b.y0))
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def covered(inner: Box, outer: Box) -> float:
    """Share of ``inner``'s area that lies inside ``outer``."""
    inter = max(0, min(inner.x1, outer.x1) - max(inner.x0, outer.x0)) * max(
        0, min(inner.y1, outer.y1) - max(inner.y0, outer.y0)
    )
    return inter / max(1, inner.width * inner.height)


def _names(category: Category, prompt: TextPrompt) -> set[str]:
    return {*category.terms, *(c.lower() for c in category.coco), prompt.noun, category.name}


def _open_vocab(scene: Scene, prompt: TextPrompt) -> list[Candidate]:
    model = installed_open_vocab()
    if model is None:
        return []
    scene.open_vocab = [Detection.of(d) for d in model.detect(scene.rgb)]
    names = _names(prompt.category, prompt) if prompt.category else {prompt.noun}
    return [
        Candidate(d.box, d.label, d.score, d.model) for d in scene.open_vocab if d.label in names
    ]


def _garments(scene: Scene, category: Category) -> list[Candidate]:
    assert category.garment is not None
    found = []
    for person in scene.people:
        parse = scene.parse(person.box)
        prob = garment_probability(scene.rgb, parse, category.garment)
        if prob is None:
            continue
        full = np.zeros(scene.rgb.shape[:2], dtype=np.float32)
        full[parse.crop.slices] = prob
        ys, xs = np.nonzero(full >= 0.5)
        if len(ys) == 0:
            continue
        box = Box(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        found.append(
            Candidate(
                box,
                f"{category.garment} garment",
                person.score,
                "human-parsing",
                category.garment,
                full,
                parse,
            )
        )
    return found


def _feet_factor(box: Box, people: list[Detection]) -> float:
    """Shoes are at a person's feet: boxes there are preferred, boxes elsewhere doubted."""
    if not people:
        return 1.0
    for person in people:
        feet = Box(
            person.box.x0,
            person.box.y1 - round(0.3 * person.box.height),
            person.box.x1,
            person.box.y1,
        )
        small = box.width * box.height < 0.2 * person.box.width * person.box.height
        if small and covered(box, feet) > 0.5:
            return 1.5
    return 0.6


def gather(scene: Scene, prompt: TextPrompt, fallback: Category | None = None) -> list[Candidate]:
    """Candidates for a parsed text prompt (empty when nothing fits).

    A prompt whose noun is unknown (``prompt.category`` None) is matched as ``fallback``
    (the vocabulary's catch-all "object"): every localized or detected thing but people,
    weighted by how much it looks like a product."""
    chosen = _open_vocab(scene, prompt)
    if chosen:
        return chosen
    category = prompt.category or fallback
    if category is None:
        return []
    if category.garment is not None:
        worn = _garments(scene, category)
        if worn or not category.localized:
            return worn
        # Nobody wears it (folded, flat-lay, on a hanger): a localized thing may be it.
    generic = category.generic
    # A noun the vocabulary does not know is rarely one of the detector's classes (those
    # are all in it): its boxes of a class count for less than unnamed localized ones.
    labelled_weight = UNKNOWN_LABELLED if prompt.category is None else 1.0
    labelled = [
        Candidate(d.box, d.label, d.score * labelled_weight, d.model)
        for d in scene.detections
        if (generic and d.label not in _NOT_PRODUCTS) or d.label in category.coco
    ]
    found = list(labelled)
    # The localizer adds boxes where the detector found none of the category, or where
    # the detector is known to name the category otherwise (a plush ostrich is a "dog").
    if category.localized and (generic or not labelled or category.confusable):
        for obj in scene.objects:
            # The same object as a labelled box, or a part of one.
            if any(
                iou(obj.box, c.box) >= SAME_OBJECT_IOU or covered(obj.box, c.box) > 0.7
                for c in labelled
            ):
                continue
            if not generic and _named_otherwise(obj.box, category, scene.detections):
                continue
            if generic and _named_person(obj.box, scene.detections):
                continue
            if category.garment and any(covered(obj.box, p.box) > 0.5 for p in scene.people):
                continue  # a garment on a person is the parse's to find, not a box's
            score = LOCALIZER_WEIGHT * obj.score * _not_body(scene, obj.box)
            if category.feet:
                score *= _feet_factor(obj.box, scene.people)
            found.append(Candidate(obj.box, prompt.noun, min(score, 1.0), obj.model))
    hw = (scene.rgb.shape[0], scene.rgb.shape[1])
    for c in found:
        # Floor, wall and backdrop boxes are no product (the localizer boxes them too).
        c.score *= _not_backdrop(c.box, hw)
    return [c for c in found if c.score > 0.0]


# Detector classes that are never the product a catch-all prompt means.
_NOT_PRODUCTS = frozenset({"person"})


def _named_person(box: Box, detections: list[Detection]) -> bool:
    """The localizer's box of a person (or most of one): no product."""
    return any(
        d.label == "person" and d.score >= CONFIDENT_OTHER and iou(box, d.box) >= 0.5
        for d in detections
    )


def _not_backdrop(box: Box, hw: tuple[int, int]) -> float:
    """1 for an object-sized box; less for one that is the photo's floor, wall or whole
    frame (a box spanning the width at the bottom or top edge, or most of the photo)."""
    height, width = hw
    share = box.width * box.height / max(1, width * height)
    if share > 0.9:
        return 0.25
    spans = box.width > 0.9 * width
    if spans and (box.y1 >= height - 2 or box.y0 <= 1) and box.height < 0.5 * height:
        return 0.4
    return 1.0


def _not_body(scene: Scene, box: Box) -> float:
    """1 for a box clear of people's bodies, falling to 0 for one half skin and hair: the
    localizer boxes heads and arms too, and a baby's head is no handbag."""
    share = 0.0
    for person in scene.people:
        if covered(box, person.box) <= 0.5:
            continue
        parse = scene.parse(person.box)
        inter = Box(
            max(box.x0, parse.crop.x0),
            max(box.y0, parse.crop.y0),
            min(box.x1, parse.crop.x1),
            min(box.y1, parse.crop.y1),
        )
        if inter.width <= 0 or inter.height <= 0:
            continue
        local = Box(
            inter.x0 - parse.crop.x0,
            inter.y0 - parse.crop.y0,
            inter.x1 - parse.crop.x0,
            inter.y1 - parse.crop.y0,
        )
        body = np.maximum(parse.body_part("skin"), parse.body_part("hair"))[local.slices] > 0.5
        share = max(share, float(body.sum()) / max(1, box.width * box.height))
    return max(0.0, 1.0 - BODY_PENALTY * share)


def _named_otherwise(box: Box, category: Category, detections: list[Detection]) -> bool:
    """True when the detector confidently calls this box something the category is not
    (a "teddy bear" is no handbag; a handbag called "cake" is a known confusion), or the
    box is a part of such a thing (people and furniture excepted: what they hold or carry
    lies inside their box, a bag on a table inside the table's)."""
    allowed = {*category.coco, *category.confusable}
    return any(
        d.score >= CONFIDENT_OTHER
        and d.label not in allowed
        and (iou(box, d.box) >= 0.5 or (d.label not in HOLDERS and covered(box, d.box) > 0.7))
        for d in detections
    )


# Detector classes whose boxes hold other things: a box inside one is not a part of it.
HOLDERS = frozenset({"person", "diningtable", "bed", "sofa", "bench", "chair"})


def rival_boxes(own: Box, category: Category | None, detections: Sequence[Detection]) -> list[Box]:
    """Confident boxes of other things than the prompt's, near an answer found in ``own``:
    what a mask drawn there must not take in. A holder's box (a bag on a table, a shirt
    on a person) holds the product and is no rival; nor is the answer's own box by another
    name (a plush toy called "dog")."""
    allowed = set(category.coco) if category is not None else set()
    return [
        d.box
        for d in detections
        if d.score >= CONFIDENT_OTHER
        and d.label not in allowed
        and d.label not in HOLDERS
        and iou(d.box, own) < SAME_OBJECT_IOU
    ]
