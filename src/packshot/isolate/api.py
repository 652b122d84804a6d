"""Product isolation: cut out the object a prompt names, not just the most salient thing.

``isolate(image, prompt="the red handbag")``, ``isolate(image, box="x,y,w,h")`` or
``isolate(image, points=[...], negative_points=[...])``. The result says what was matched
and how sure it is; when nothing fits a text prompt, :class:`NoMatchError` lists what the
models did see, so the caller can retry with a box.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PIL import Image

from packshot.errors import InputError, NoMatchError
from packshot.imageio import as_pixels
from packshot.isolate import segment
from packshot.isolate.candidates import Candidate, Scene, covered, gather, iou, rival_boxes
from packshot.isolate.confidence import TRUSTED, Evidence, gather_evidence, isolation_confidence
from packshot.isolate.garments import pad_box
from packshot.isolate.prompt import PointPrompt, TextPrompt, parse_point, parse_text, set_parts
from packshot.isolate.sanity import MIN_BOX_SHARE, MIN_PERSON_SHARE, MaskCheck, check_mask
from packshot.isolate.scoring import MIN_COLOR_SHARE, Ranked, rank
from packshot.isolate.vocabulary import Category, Vocabulary, default_vocabulary
from packshot.models.detect import detector, localizer
from packshot.models.salient import DEFAULT_ENSEMBLE
from packshot.ops.foreign import foreign_pixels
from packshot.ops.geometry import Box, parse_box
from packshot.ops.matte import RefineParams, bounding_box

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]
BoxLike = str | Sequence[int]
PointLike = str | Sequence[int]

# Below this a text match is not reported as found: "never silently return the wrong thing".
MIN_CONFIDENCE = 0.15
# A prompt whose noun is unknown is matched by attributes and product-likeness alone: its
# answer is that much less sure.
UNKNOWN_NOUN = 0.7
# Candidates tried, best first, until one's mask is a plausible object.
MAX_TRIES = 3
# Share of the image a point prompt looks at around its points when no box contains them.
POINT_WINDOW = 0.5


@dataclass(frozen=True)
class Isolation:
    """An isolated object: straight-alpha RGBA at the source's resolution, and why."""

    rgba: ImageArray
    matched: str  # what was taken: "handbag (localized object)", "box", "points"
    confidence: float  # 0..1; box and point prompts are the caller's word: 1.0
    box: Box  # the object's box in the image
    prompt: str
    source: str  # the models whose boxes/maps chose the object
    seen: str  # everything the models saw, "person 0.93, cup 0.90"
    timings: dict[str, float] = field(default_factory=dict)
    understood: bool = True  # False: the prompt's noun was not in the vocabulary
    notes: tuple[str, ...] = ()  # what a caller should know about the answer
    mask: dict[str, object] = field(default_factory=dict)  # the mask check's figures
    # Calibrated P(the answer is the prompted product); the caller's box or points: 1.0.
    isolation_confidence: float = 1.0
    evidence: dict[str, float] = field(default_factory=dict)  # what it was computed from

    @property
    def alpha(self) -> ImageArray:
        """The 8-bit alpha channel (255 = the object)."""
        return self.rgba[..., 3]

    def info(self) -> dict[str, object]:
        """JSON-ready summary (recipe reports, the HTTP API)."""
        return {
            "matched": self.matched,
            "confidence": round(self.confidence, 4),
            "box": [self.box.x0, self.box.y0, self.box.width, self.box.height],
            "prompt": self.prompt,
            "source": self.source,
            "seen": self.seen,
            "understood": self.understood,
            "isolation_confidence": round(self.isolation_confidence, 4),
            **({"evidence": self.evidence} if self.evidence else {}),
            **({"notes": list(self.notes)} if self.notes else {}),
            **({"mask": self.mask} if self.mask else {}),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def isolate(
    image: ImageArray | Image.Image,
    *,
    prompt: str | None = None,
    box: BoxLike | None = None,
    points: Sequence[PointLike] = (),
    negative_points: Sequence[PointLike] = (),
    model: str = DEFAULT_ENSEMBLE,
    min_confidence: float = MIN_CONFIDENCE,
    vocabulary: Vocabulary | None = None,
) -> Isolation:
    """Cut out the object named by ``prompt``, inside ``box``, or under ``points``.

    Args:
        image: uint8 RGB/RGBA array or PIL image.
        prompt: a phrase: category noun, colour words, spatial/size words ("the red
            sneaker on the left"); not combined with ``box`` or ``points``.
        box: ``"x,y,w,h"`` or ``(x, y, w, h)`` in pixels: whatever is in it.
        points: ``"x,y"`` or ``(x, y)`` on the object (with or without a box).
        negative_points: points on things not to include.
        model: salient-segmentation ensemble that draws the object inside its box.
        min_confidence: text matches below this raise :class:`NoMatchError`.
    """
    rgb = np.ascontiguousarray(
        as_pixels(image, min_side=16, purpose="to isolate anything")[..., :3]
    )
    hw = (rgb.shape[0], rgb.shape[1])
    has_geometry = box is not None or bool(points) or bool(negative_points)
    if prompt is not None and has_geometry:
        raise InputError("prompt: give either a text prompt or a box/points, not both")
    if prompt is None and not has_geometry:
        raise InputError(
            "prompt: say what to isolate: a text prompt, a box (x,y,w,h) or points (x,y)"
        )
    if not 0.0 <= min_confidence <= 1.0:
        raise InputError(f"min_confidence must be between 0 and 1, got {min_confidence}")
    if prompt is not None:
        vocabulary = vocabulary or default_vocabulary()
        parts = set_parts(prompt, vocabulary, detector().labels)
        if len(parts) > 1:
            return _isolate_set(rgb, prompt, parts, model, min_confidence, vocabulary)
        return _isolate_text(rgb, prompt, model, min_confidence, vocabulary)
    pts = PointPrompt(
        tuple(parse_point(p, hw, "point") for p in points),
        tuple(parse_point(p, hw, "negative point") for p in negative_points),
    )
    return _isolate_region(rgb, parse_box(box, hw) if box is not None else None, pts, model)


@dataclass(frozen=True)
class _Look:
    """A text prompt read and the scene looked at: the candidates, best first."""

    parsed: TextPrompt
    scene: Scene
    fallback: Category | None
    ranked: list[Ranked]
    understood: bool


def _look(rgb: ImageArray, text: str, vocabulary: Vocabulary) -> _Look:
    parsed = parse_text(text, vocabulary, detector().labels)
    scene = Scene.observe(rgb)
    fallback = vocabulary.categories.get("object")
    candidates = gather(scene, parsed, fallback)
    ranked = rank(candidates, parsed, vocabulary, rgb)
    # An open-vocabulary model that found the noun understood it, known word or not.
    read = {d.model for d in scene.open_vocab}
    understood = parsed.understood or any(c.source in read for c in candidates)
    if not understood:
        ranked = [dataclasses.replace(r, confidence=r.confidence * UNKNOWN_NOUN) for r in ranked]
    return _Look(parsed, scene, fallback, ranked, understood)


def _isolate_text(
    rgb: ImageArray, text: str, model: str, min_confidence: float, vocabulary: Vocabulary
) -> Isolation:
    t0 = time.perf_counter()
    look = _look(rgb, text, vocabulary)
    parsed, scene, ranked, understood = look.parsed, look.scene, look.ranked, look.understood
    notes: list[str] = []
    if not understood:
        notes.append(
            f"{parsed.noun!r} is not a product word packshot knows: took the most "
            "product-like object that fits the rest of the prompt"
        )
    t1 = time.perf_counter()
    tried, rejected, segment_s, refine_s = _attempts(look, model, min_confidence)
    sane = [a for a in tried if a.check.problem is None]
    if not sane:
        raise NoMatchError(_no_match_message(parsed, ranked, scene, rejected))
    # The answer most likely right (calibrated), not merely the first plausible one.
    best = max(sane, key=lambda a: a.isolation_confidence)
    if best.isolation_confidence < TRUSTED:
        notes.append(
            f"isolation confidence {best.isolation_confidence:.2f} is below "
            f"{TRUSTED:g}: an output made from it is held for review"
        )
    return Isolation(
        rgba=best.rgba,
        matched=_what(best.ranked),
        confidence=best.confidence,
        box=_extent(best.alpha),
        prompt=text,
        source=best.ranked.candidate.source,
        seen=scene.seen(),
        timings={"find_s": t1 - t0, "segment_s": segment_s, "refine_s": refine_s},
        understood=understood,
        notes=tuple(notes),
        mask=best.check.info(),
        isolation_confidence=best.isolation_confidence,
        evidence=best.evidence.info(),
    )


def _isolate_set(
    rgb: ImageArray,
    text: str,
    parts: list[str],
    model: str,
    min_confidence: float,
    vocabulary: Vocabulary,
) -> Isolation:
    """A whole set ("the cup and saucer"): each part isolated, their masks joined. The set
    is as sure as its least sure part, and is refused when a part is not found."""
    found = []
    for part in parts:
        try:
            found.append(_isolate_text(rgb, part, model, min_confidence, vocabulary))
        except NoMatchError as exc:
            raise NoMatchError(f"{text!r} is a set; its part {part!r}: {exc}") from exc
    # Each pixel from the part that holds it most (their colours are the photo's).
    owner = np.argmax(np.stack([f.rgba[..., 3] for f in found]), axis=0)
    rgba = np.take_along_axis(np.stack([f.rgba for f in found]), owner[None, ..., None], 0)[0]
    weakest = min(found, key=lambda f: f.isolation_confidence)
    timings: dict[str, float] = {}
    for f in found:
        for k, v in f.timings.items():
            timings[k] = timings.get(k, 0.0) + v
    return Isolation(
        rgba=np.ascontiguousarray(rgba),
        matched=" + ".join(f.matched for f in found),
        confidence=min(f.confidence for f in found),
        box=_extent(rgba[..., 3].astype(np.float32) / 255.0),
        prompt=text,
        source=" + ".join(dict.fromkeys(f.source for f in found)),
        seen=found[0].seen,
        timings=timings,
        understood=all(f.understood for f in found),
        notes=tuple(n for f in found for n in f.notes),
        mask=weakest.mask,
        isolation_confidence=weakest.isolation_confidence,
        evidence=weakest.evidence,
    )


@dataclass(frozen=True)
class Attempt:
    """One candidate drawn and checked: its mask, the check's figures, its evidence."""

    ranked: Ranked
    rgba: ImageArray
    alpha: FloatArray
    check: MaskCheck
    confidence: float  # the match score after the mask check
    evidence: Evidence
    isolation_confidence: float  # calibrated P(right)


def _attempts(
    look: _Look, model: str, min_confidence: float, explore: bool = False
) -> tuple[list[Attempt], list[str], float, float]:
    """The best few candidates in rank order, drawn and checked, until one is trusted
    (``explore``: all of them, for calibration). Also the reasons each refused one was
    not a plausible object, and the seconds spent segmenting and refining."""
    scene, parsed, ranked = look.scene, look.parsed, look.ranked
    rgb = scene.rgb
    category = parsed.category or look.fallback
    parts = 3 if category is not None and category.garment else 1
    if category is not None and category.pair:
        parts = max(parts, 2)
    rejected: list[str] = []
    tried: list[Attempt] = []
    segment_s = refine_s = 0.0
    # The right box drawn as specks or shreds is a wrong answer, and the next one may be
    # right; a plausible one the evidence doubts may be bettered by the next one too.
    for index, best in enumerate(ranked[:MAX_TRIES]):
        if best.confidence < min_confidence or _wrong_color(best, parsed):
            break
        t2 = time.perf_counter()
        prob = _draw(scene, best.candidate, parsed, look.fallback, model)
        t3 = time.perf_counter()
        rgba, alpha = segment.finish(rgb, prob)
        t4 = time.perf_counter()
        segment_s += t3 - t2
        refine_s += t4 - t3
        garment = best.candidate.garment
        solid = alpha > 0.5
        check = check_mask(
            solid,
            _reference_area(best.candidate),
            parts,
            MIN_PERSON_SHARE[garment] if garment else MIN_BOX_SHARE,
            None if garment else best.candidate.box,
        )
        confidence = best.confidence * check.factor
        if check.problem is None and confidence < min_confidence:
            check = dataclasses.replace(
                check, problem=f"its mask leaves confidence at {confidence:.2f}"
            )
        if check.problem is not None:
            rejected.append(f"{_what(best)} at {_box_text(best.candidate.box)}: {check.problem}")
        others = [r for j, r in enumerate(ranked) if j != index]
        evidence = gather_evidence(
            solid, best, others, check, parsed, look.understood, category, scene.detections
        )
        p = isolation_confidence(evidence) if check.problem is None else 0.0
        tried.append(Attempt(best, rgba, alpha, check, confidence, evidence, p))
        if p >= TRUSTED and not explore:
            break
    return tried, rejected, segment_s, refine_s


def attempts(
    image: ImageArray | Image.Image,
    prompt: str,
    *,
    model: str = DEFAULT_ENSEMBLE,
    vocabulary: Vocabulary | None = None,
) -> list[Attempt]:
    """Every candidate :func:`isolate` may answer ``prompt`` with (up to ``MAX_TRIES``),
    drawn and checked, with its evidence: what the calibration is fitted on."""
    rgb = np.ascontiguousarray(as_pixels(image, min_side=16, purpose="to isolate")[..., :3])
    look = _look(rgb, prompt, vocabulary or default_vocabulary())
    tried, _, _, _ = _attempts(look, model, 0.0, explore=True)
    return tried


def _reference_area(c: Candidate) -> int:
    """Where the answer was looked for: a garment's person, else its box."""
    if c.person is not None:
        return int(c.person.in_box.sum()) or c.box.width * c.box.height
    return c.box.width * c.box.height


def _wrong_color(best: Ranked, parsed: TextPrompt) -> bool:
    return best.color_share is not None and best.color_share < MIN_COLOR_SHARE


def _what(r: Ranked) -> str:
    c = r.candidate
    colours = f"{'/'.join(r.colors)} " if r.colors else ""
    kind = (
        "garment"
        if c.garment
        else (
            "detected"
            if c.label not in ("object",) and c.source != "mobile-object-localizer"
            else "localized object"
        )
    )
    return f"{colours}{c.label} ({kind}, {c.source})"


def _box_text(b: Box) -> str:
    return f"{b.x0},{b.y0},{b.width},{b.height}"


def _no_match_message(
    parsed: TextPrompt, ranked: list[Ranked], scene: Scene, rejected: list[str]
) -> str:
    message = f"no {parsed.describe!r} found; seen: {scene.seen()}"
    if parsed.category is None:
        message += f" ({parsed.noun!r} is not a product word packshot knows)"
    if rejected:
        message += "; not a plausible object: " + "; ".join(rejected)
    elif ranked:
        near = ", ".join(
            f"{_what(r)} at {_box_text(r.candidate.box)} confidence {r.confidence:.2f}"
            for r in ranked[:3]
        )
        message += f"; closest: {near}"
    return message


def _draw(
    scene: Scene, c: Candidate, parsed: TextPrompt, fallback: Category | None, model: str
) -> FloatArray:
    """The chosen candidate's probability map over the whole image."""
    rgb = scene.rgb
    hw = (rgb.shape[0], rgb.shape[1])
    if c.prob is not None:
        return c.prob
    if c.source == localizer().spec.name:
        # The localizer's boxes may stop short of a handle or a strap.
        crop, prob = segment.salient_in_box(rgb, c.box, model, segment.REACH_PAD)
        prob = prob * segment.attached_prior(prob, crop, c.box)
    else:
        crop, prob = segment.salient_in_box(rgb, c.box, model)
        prob = prob * segment.box_prior(crop, c.box)
    prob = segment.keep_parts_in_box(prob, crop, c.box)
    category = parsed.category
    if category is not None and category.voc:
        prob = segment.voc_restrict(rgb, prob, crop, category.voc)
    if category is not None and category.held:
        # A held or worn object: the hand, arm and hair around it are not the product.
        for person in scene.people:
            if covered(c.box, person.box) > 0.3 and iou(c.box, person.box) < 0.7:
                prob = segment.subtract_body(prob, crop, scene.parse(person.box))
    full = segment.paste(prob, crop, hw)
    # A piece of another detected thing the map grew onto (a car's badge seen through a
    # bag's handle) is that thing's, not the product's: salient and joined up all the same.
    # Looked for down to the refinement's low threshold, which would grow it back.
    for rival in rival_boxes(c.box, category or fallback, scene.detections):
        full[foreign_pixels(rgb, full >= RefineParams().low_threshold, rival)] = 0.0
    return full


def _isolate_region(rgb: ImageArray, box: Box | None, points: PointPrompt, model: str) -> Isolation:
    t0 = time.perf_counter()
    hw = (rgb.shape[0], rgb.shape[1])
    region = box if box is not None else _region_for_points(rgb, points)
    crop, prob = segment.salient_in_box(rgb, region, model)
    if box is not None:
        # A box the caller drew bounds the object; a window found for points only frames
        # it (the parts the points are on are kept, whatever their extent).
        prob = prob * segment.box_prior(crop, region)
        prob = segment.keep_parts_in_box(prob, crop, region)
    local = [
        (x - crop.x0, y - crop.y0)
        for x, y in points.positive
        if covered(Box(x, y, x + 1, y + 1), crop) > 0
    ]
    negative = [
        (x - crop.x0, y - crop.y0)
        for x, y in points.negative
        if covered(Box(x, y, x + 1, y + 1), crop) > 0
    ]
    prob = segment.apply_points(rgb[crop.slices], prob, local, negative)
    t1 = time.perf_counter()
    rgba, alpha = segment.finish(rgb, segment.paste(prob, crop, hw))
    t2 = time.perf_counter()
    what = "box" if box is not None else "points"
    if not (alpha > 0.5).any():
        raise NoMatchError(
            f"nothing stands out from the background in the {what} given; "
            "try a larger box or more points"
        )
    prompt = _box_text(box) if box is not None else ""
    if points.positive or points.negative:
        pts = " ".join(
            [*(f"+{x},{y}" for x, y in points.positive), *(f"-{x},{y}" for x, y in points.negative)]
        )
        prompt = f"{prompt} {pts}".strip()
    return Isolation(
        rgba=rgba,
        matched=what,
        confidence=1.0,
        box=_extent(alpha),
        prompt=prompt,
        source=model,
        seen="",
        timings={"segment_s": t1 - t0, "refine_s": t2 - t1},
    )


def _extent(alpha: FloatArray) -> Box:
    """The box of what was cut out (a localized bag's handle may reach past its box)."""
    found = bounding_box(alpha > 0.5, 0)
    assert found is not None  # callers raise NoMatchError on an empty alpha first
    return Box.from_slices(found)


def _region_for_points(rgb: ImageArray, points: PointPrompt) -> Box:
    """Where to look for the object under the points: the smallest localized or detected
    box holding every positive point (negative ones are cut out later), else a window
    around them."""
    hw = (rgb.shape[0], rgb.shape[1])
    if not points.positive:
        raise InputError(
            "point: give at least one positive point (negative points only say what to leave out)"
        )
    scene = Scene.observe(rgb)

    def holds(b: Box, p: tuple[int, int]) -> bool:
        return b.x0 <= p[0] < b.x1 and b.y0 <= p[1] < b.y1

    boxes = [d.box for d in [*scene.objects, *scene.detections]]
    fitting = [b for b in boxes if all(holds(b, p) for p in points.positive)]
    if fitting:
        return min(fitting, key=lambda b: b.width * b.height)
    xs = [p[0] for p in points.positive]
    ys = [p[1] for p in points.positive]
    half = round(POINT_WINDOW * min(hw) / 2)
    around = Box(min(xs), min(ys), max(xs) + 1, max(ys) + 1)
    return pad_box(around, 0.0, hw, minimum=half)
