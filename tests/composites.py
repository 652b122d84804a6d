"""A labelled set of right and wrong cutouts, composed reproducibly from licence-clean photos.

Objects are drawn with a known alpha (a teddy bear with a fur edge and a sweatered body, a
handbag and a mug with thin handles, headphones with a cable, a boxed product, a bottle, a
car, a person whose clothes cover the body) and textured with patches of the registry's
sample photos (MIT / CC0 files inside PyPI wheels, see ``sample-*`` in catalog.toml). They
are set on a studio white (with the falloff, noise, contact and cast shadows of a real sweep) or
on a crop of another sample photo, placed whole or cut by the photo's frame.

Each scene yields cutouts to judge, each labelled right or wrong:

* ``truth``: the true alpha, slightly perturbed (a pixel in or out, a softer edge) - right,
  unless the photo cuts the object off (then any cutout of it is wrong for a white-
  background listing);
* corruptions of the truth that make a wrong product: a part removed (the handle, the
  body, the cable, the head), a slice cut off, the part touching the photo's frame left
  out, a piece of the background added;
* ``model``: the pipeline's own cutout of the composite, wrong when its IoU with the
  truth is under :data:`WRONG_IOU` or the object is cut off by the frame.

``split`` is ``"tune"`` for even scene numbers and ``"report"`` for odd ones: thresholds
and the calibration are fitted on the first, figures reported on the second.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from packshot.imageio import load_image
from packshot.samples import sample_path

ImageArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

TEXTURES = ("chelsea", "coffee", "astronaut", "animal", "people", "baby", "product", "car")
BACKDROPS = ("coffee", "chelsea", "astronaut", "people", "baby", "animal")
KINDS = ("teddy", "handbag", "mug", "headphones", "box", "bottle", "car", "person")
WRONG_IOU = 0.92
"""A model cutout this far from the truth (IoU) has a visibly different shape."""

_cache: dict[str, ImageArray] = {}


def photo(name: str) -> ImageArray:
    if name not in _cache:
        _cache[name] = load_image(sample_path(name), keep_alpha=False).pixels[..., :3]
    return _cache[name]


@dataclass
class Scene:
    index: int
    kind: str
    backdrop: str  # "studio" or a sample photo's name
    rgb: ImageArray
    alpha: FloatArray  # the true alpha, 0..1
    parts: dict[str, FloatArray]  # named removable parts (alpha of each)
    cut_by_frame: bool

    @property
    def split(self) -> str:
        return "tune" if self.index % 2 == 0 else "report"


@dataclass
class Labelled:
    scene: Scene
    name: str  # "truth", "no-handle", "model", ...
    alpha: FloatArray  # the cutout's alpha on the scene's photo
    wrong: bool
    probability: FloatArray | None = field(default=None, repr=False)


# --------------------------------------------------------------------------- shapes


def _ellipse(hw: tuple[int, int], c: tuple[float, float], ax: tuple[float, float]) -> FloatArray:
    m = np.zeros(hw, np.uint8)
    cv2.ellipse(m, (round(c[0]), round(c[1])), (round(ax[0]), round(ax[1])), 0, 0, 360, 1, -1)
    return m.astype(np.float32)


def _poly(hw: tuple[int, int], pts: list[tuple[float, float]]) -> FloatArray:
    m = np.zeros(hw, np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(pts)).astype(np.int32)], 1)
    return m.astype(np.float32)


def _arc(
    hw: tuple[int, int], c: tuple[float, float], ax: tuple[float, float], a0: int, a1: int, t: int
) -> FloatArray:
    m = np.zeros(hw, np.uint8)
    cv2.ellipse(
        m, (round(c[0]), round(c[1])), (round(ax[0]), round(ax[1])), 0, a0, a1, 1, max(1, t)
    )
    return m.astype(np.float32)


def _union(*masks: FloatArray) -> FloatArray:
    return np.asarray(np.maximum.reduce(masks), np.float32)


def shape(kind: str, s: int, rng: np.random.Generator) -> tuple[FloatArray, dict[str, FloatArray]]:
    """The object's binary alpha on an ``s`` x ``s`` tile, and its named parts."""
    hw = (s, s)
    j = lambda v: v * (1 + rng.uniform(-0.08, 0.08))  # noqa: E731 - a jitter, used inline
    if kind == "teddy":
        head = _ellipse(hw, (s / 2, j(0.25 * s)), (j(0.2 * s), j(0.18 * s)))
        ears = _union(
            _ellipse(hw, (j(0.33 * s), 0.1 * s), (0.07 * s, 0.07 * s)),
            _ellipse(hw, (j(0.67 * s), 0.1 * s), (0.07 * s, 0.07 * s)),
        )
        body = _union(
            _ellipse(hw, (s / 2, j(0.64 * s)), (j(0.26 * s), j(0.3 * s))),
            _ellipse(hw, (0.24 * s, 0.55 * s), (0.08 * s, 0.16 * s)),
            _ellipse(hw, (0.76 * s, 0.55 * s), (0.08 * s, 0.16 * s)),
        )
        return _union(head, ears, body), {"head": _union(head, ears), "body": body * (1 - head)}
    if kind == "handbag":
        body = _poly(
            hw,
            [(0.12 * s, 0.95 * s), (0.88 * s, 0.95 * s), (0.8 * s, 0.45 * s), (0.2 * s, 0.45 * s)],
        )
        t = round(j(0.03 * s))
        handle = _arc(hw, (s / 2, 0.45 * s), (j(0.22 * s), j(0.38 * s)), 180, 360, t) * (1 - body)
        return _union(body, handle), {"handle": handle}
    if kind == "mug":
        body = _poly(
            hw, [(0.15 * s, 0.15 * s), (0.7 * s, 0.15 * s), (0.7 * s, 0.9 * s), (0.15 * s, 0.9 * s)]
        )
        handle = _arc(
            hw, (0.7 * s, 0.5 * s), (j(0.16 * s), j(0.2 * s)), -90, 90, round(j(0.035 * s))
        )
        handle *= 1 - body
        return _union(body, handle), {"handle": handle}
    if kind == "headphones":
        band = _arc(hw, (s / 2, 0.45 * s), (0.3 * s, 0.32 * s), 180, 360, round(0.05 * s))
        cups = _union(
            _ellipse(hw, (0.2 * s, 0.5 * s), (0.09 * s, 0.13 * s)),
            _ellipse(hw, (0.8 * s, 0.5 * s), (0.09 * s, 0.13 * s)),
        )
        cable = np.zeros(hw, np.uint8)
        pts = [(0.2 * s, 0.63 * s), (0.3 * s, 0.78 * s), (0.45 * s, 0.85 * s), (0.62 * s, 0.95 * s)]
        cv2.polylines(
            cable, [np.round(np.asarray(pts)).astype(np.int32)], False, 1, max(2, round(0.015 * s))
        )
        cab = cable.astype(np.float32) * (1 - cups)
        return _union(band, cups, cab), {"cable": cab}
    if kind == "box":
        w, h = j(0.7 * s), j(0.85 * s)
        x0, y0 = (s - w) / 2, (s - h) / 2
        return _poly(hw, [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)]), {}
    if kind == "bottle":
        body = _poly(
            hw, [(0.3 * s, 0.35 * s), (0.7 * s, 0.35 * s), (0.7 * s, 0.97 * s), (0.3 * s, 0.97 * s)]
        )
        neck = _poly(
            hw,
            [(0.43 * s, 0.05 * s), (0.57 * s, 0.05 * s), (0.6 * s, 0.35 * s), (0.4 * s, 0.35 * s)],
        )
        return _union(body, neck, _ellipse(hw, (s / 2, 0.35 * s), (0.2 * s, 0.06 * s))), {
            "neck": neck
        }
    if kind == "car":
        body = _poly(
            hw,
            [
                (0.02 * s, 0.55 * s),
                (0.98 * s, 0.55 * s),
                (0.98 * s, 0.75 * s),
                (0.02 * s, 0.75 * s),
            ],
        )
        cabin = _poly(
            hw,
            [
                (0.25 * s, 0.55 * s),
                (0.75 * s, 0.55 * s),
                (0.65 * s, 0.38 * s),
                (0.33 * s, 0.38 * s),
            ],
        )
        wheels = _union(
            _ellipse(hw, (0.22 * s, 0.75 * s), (0.09 * s, 0.09 * s)),
            _ellipse(hw, (0.78 * s, 0.75 * s), (0.09 * s, 0.09 * s)),
        )
        return _union(body, cabin, wheels), {"cabin": cabin * (1 - body)}
    # A person: head and limbs (skin), the garment over the torso and thighs.
    head = _ellipse(hw, (s / 2, 0.1 * s), (0.07 * s, 0.09 * s))
    garment = _poly(
        hw, [(0.33 * s, 0.2 * s), (0.67 * s, 0.2 * s), (0.7 * s, 0.62 * s), (0.3 * s, 0.62 * s)]
    )
    legs = _union(
        _poly(
            hw,
            [(0.35 * s, 0.6 * s), (0.48 * s, 0.6 * s), (0.47 * s, 0.98 * s), (0.38 * s, 0.98 * s)],
        ),
        _poly(
            hw,
            [(0.52 * s, 0.6 * s), (0.65 * s, 0.6 * s), (0.62 * s, 0.98 * s), (0.53 * s, 0.98 * s)],
        ),
    )
    arms = _union(
        _poly(
            hw,
            [(0.26 * s, 0.22 * s), (0.33 * s, 0.22 * s), (0.3 * s, 0.58 * s), (0.22 * s, 0.56 * s)],
        ),
        _poly(
            hw,
            [(0.67 * s, 0.22 * s), (0.74 * s, 0.22 * s), (0.78 * s, 0.56 * s), (0.7 * s, 0.58 * s)],
        ),
    )
    return _union(head, garment, legs, arms), {"legs": legs * (1 - garment), "head": head}


# --------------------------------------------------------------------------- textures


def _patch(name: str, h: int, w: int, rng: np.random.Generator) -> FloatArray:
    src = photo(name)
    sh, sw = src.shape[:2]
    ph, pw = int(sh * rng.uniform(0.25, 0.5)), int(sw * rng.uniform(0.25, 0.5))
    y, x = int(rng.integers(0, sh - ph)), int(rng.integers(0, sw - pw))
    crop = cv2.resize(src[y : y + ph, x : x + pw], (w, h), interpolation=cv2.INTER_LINEAR)
    return crop.astype(np.float32)


def _texture(h: int, w: int, rng: np.random.Generator) -> FloatArray:
    """A product surface: a photo patch pulled towards a random base colour."""
    tex = _patch(str(rng.choice(TEXTURES)), h, w, rng)
    base = rng.uniform(20, 235, 3).astype(np.float32)
    mix = rng.uniform(0.45, 0.8)
    return np.clip(tex * (1 - mix) + base * mix, 0, 255)


def _fur(alpha: FloatArray, rng: np.random.Generator, reach: float) -> FloatArray:
    """A fur edge: the outline frayed by fine noise and softened (true soft alpha)."""
    h, w = alpha.shape
    noise = rng.random((h, w)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.8)
    dist_in = cv2.distanceTransform((alpha > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    dist_out = cv2.distanceTransform((alpha <= 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    signed = dist_in - dist_out  # > 0 inside
    soft = np.clip(0.5 + signed / reach + (noise - 0.5) * 1.6, 0, 1)
    return np.asarray(cv2.GaussianBlur(soft, (0, 0), 0.7), np.float32)


# --------------------------------------------------------------------------- scenes


def _studio(h: int, w: int, rng: np.random.Generator) -> FloatArray:
    """A white sweep: near 255 with a gentle falloff and sensor noise."""
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    level = 252 - rng.uniform(0, 14) * (xx**2) - rng.uniform(0, 10) * yy
    bg = np.repeat(level[..., None], 3, axis=2) + rng.normal(0, 1.2, (h, w, 3))
    return np.clip(bg, 0, 255).astype(np.float32)


def _backdrop(name: str, h: int, w: int, rng: np.random.Generator) -> FloatArray:
    src = photo(name).astype(np.float32)
    sh, sw = src.shape[:2]
    scale = max(h / sh, w / sw) * rng.uniform(1.0, 1.6)
    big = cv2.resize(src, (max(w, round(sw * scale)), max(h, round(sh * scale))))
    y = int(rng.integers(0, big.shape[0] - h + 1))
    x = int(rng.integers(0, big.shape[1] - w + 1))
    out = big[y : y + h, x : x + w]
    sigma = rng.uniform(0, 2.5)  # depth of field behind the product
    return cv2.GaussianBlur(out, (0, 0), sigma) if sigma > 0.3 else out


def _floor_shadow(solid: npt.NDArray[np.bool_], index: int) -> FloatArray:
    """How much light the product takes from the floor: a dense contact shadow under its
    base and, in half the scenes, a cast shadow (its silhouette squashed and sheared along
    the floor by a side light), each soft-edged. Its own generator, so the objects and
    cutouts stay those of the scenes without it."""
    rng = np.random.default_rng(3000 + index)
    h, w = solid.shape
    ys, xs = np.nonzero(solid)
    if len(ys) == 0:
        return np.zeros((h, w), np.float32)
    bottom = int(ys.max())
    base = xs[ys >= bottom - max(2, round(0.04 * (bottom - ys.min())))]
    contact = np.zeros((h, w), np.float32)
    cx, half = (base.min() + base.max()) / 2, (base.max() - base.min()) / 2 * rng.uniform(1.0, 1.3)
    axes = (max(3, round(half)), max(3, round(h * rng.uniform(0.012, 0.025))))
    cv2.ellipse(contact, (round(cx), bottom), axes, 0, 0, 360, 1.0, -1)
    contact = cv2.GaussianBlur(contact, (0, 0), rng.uniform(3.0, 7.0)) * rng.uniform(0.25, 0.45)
    cast = np.zeros((h, w), np.float32)
    if rng.random() < 0.5:
        k, shear = rng.uniform(0.12, 0.3), rng.choice([-1, 1]) * rng.uniform(0.3, 0.9)
        warp = np.float32([[1, -shear, shear * bottom], [0, k, (1 - k) * bottom]])
        flat = cv2.warpAffine(solid.astype(np.float32), warp, (w, h))
        cast = cv2.GaussianBlur(flat, (0, 0), rng.uniform(3.0, 8.0)) * rng.uniform(0.15, 0.35)
    return np.asarray(np.clip(np.maximum(contact, cast), 0, 0.6), np.float32)


def scene(index: int) -> Scene:
    """Scene ``index`` (any non-negative integer; the same every time)."""
    rng = np.random.default_rng(1000 + index)
    kind = KINDS[index % len(KINDS)]
    studio = (index // len(KINDS)) % 2 == 0
    cut = index % 5 == 3
    h, w = (480, 640) if kind == "car" else (560, 480)
    tile = int(min(h, w) * rng.uniform(0.7, 0.9))
    obj, parts = shape(kind, tile, rng)
    soft = kind in ("teddy",) or rng.random() < 0.2
    a_tile = _fur(obj, rng, reach=2.5 if kind == "teddy" else 1.2) if soft else obj
    a_tile = cv2.GaussianBlur(a_tile, (0, 0), 0.6) if not soft else a_tile
    colour = np.zeros((tile, tile, 3), np.float32)
    layers = [("body", obj), *parts.items()]
    for _, m in layers:  # each part its own material (a scarf, a sweater, a handle)
        colour = np.where(m[..., None] > 0, _texture(tile, tile, rng), colour)
    # Shading: a soft light from the top left, so surfaces are not flat paint.
    yy, xx = np.mgrid[0:tile, 0:tile].astype(np.float32) / tile
    colour *= (1.08 - 0.25 * (xx + yy) / 2)[..., None]
    bg = _studio(h, w, rng) if studio else _backdrop(str(rng.choice(BACKDROPS)), h, w, rng)
    # Placement: centred with some play, or pushed past one side of the frame.
    y0 = (h - tile) // 2 + int(rng.integers(-h // 20, h // 20 + 1))
    x0 = (w - tile) // 2 + int(rng.integers(-w // 20, w // 20 + 1))
    if cut:
        side = int(rng.integers(0, 4))
        over = int(tile * rng.uniform(0.12, 0.3))
        if side == 0:
            x0 = -over
        elif side == 1:
            x0 = w - tile + over
        elif side == 2:
            y0 = -over
        else:
            y0 = h - tile + over
    alpha = np.zeros((h, w), np.float32)
    fg = np.zeros((h, w, 3), np.float32)
    full_parts = {k: np.zeros((h, w), np.float32) for k in parts}
    ty0, tx0 = max(0, -y0), max(0, -x0)
    ty1, tx1 = min(tile, h - y0), min(tile, w - x0)
    dst = (slice(y0 + ty0, y0 + ty1), slice(x0 + tx0, x0 + tx1))
    src = (slice(ty0, ty1), slice(tx0, tx1))
    alpha[dst] = a_tile[src]
    fg[dst] = colour[src]
    for k, m in parts.items():
        full_parts[k][dst] = m[src]
    if studio:  # a soft shadow around the product, as a sweep has...
        shadow = cv2.GaussianBlur((alpha > 0.5).astype(np.float32), (0, 0), 9)
        shadow = np.roll(shadow, 6, axis=0)
        bg *= (1 - 0.18 * shadow)[..., None]
        bg *= (1 - _floor_shadow(alpha > 0.5, index))[..., None]
    a3 = alpha[..., None]
    rgb = np.clip(fg * a3 + bg * (1 - a3) + rng.normal(0, 1.0, (h, w, 3)), 0, 255)
    touching = bool(
        (alpha[0] > 0.5).sum()
        + (alpha[-1] > 0.5).sum()
        + (alpha[:, 0] > 0.5).sum()
        + (alpha[:, -1] > 0.5).sum()
        >= 3
    )
    return Scene(
        index,
        kind,
        "studio" if studio else "photo",
        rgb.astype(np.uint8),
        alpha,
        full_parts,
        cut and touching,
    )


# --------------------------------------------------------------------------- cutouts


def iou(a: FloatArray, b: FloatArray) -> float:
    x, y = a > 0.5, b > 0.5
    return float((x & y).sum()) / max(float((x | y).sum()), 1.0)


def _perturb(alpha: FloatArray, rng: np.random.Generator) -> FloatArray:
    k = int(rng.integers(-1, 2))
    a = alpha
    if k:
        op = cv2.dilate if k > 0 else cv2.erode
        a = op(a, np.ones((3, 3), np.uint8))
    return np.asarray(cv2.GaussianBlur(a, (0, 0), rng.uniform(0.3, 1.0)), np.float32)


def _slice(alpha: FloatArray, rng: np.random.Generator) -> FloatArray:
    """The truth with a straight slice of 15-35% of the object cut away."""
    ys, xs = np.nonzero(alpha > 0.5)
    angle = rng.uniform(0, 2 * np.pi)
    d = np.cos(angle) * xs + np.sin(angle) * ys
    t = np.quantile(d, 1 - rng.uniform(0.15, 0.35))
    yy, xx = np.mgrid[0 : alpha.shape[0], 0 : alpha.shape[1]]
    keep = (np.cos(angle) * xx + np.sin(angle) * yy) < t
    return np.asarray(alpha * keep, np.float32)


def _short_of_frame(scene: Scene) -> FloatArray:
    """The truth with the part near the frame it touches left out (the stopped-short mask
    that made a cut-off bear look whole)."""
    a = scene.alpha.copy()
    h, w = a.shape
    m = round(0.06 * max(h, w))
    a[:m] *= 0 if (scene.alpha[0] > 0.5).sum() >= 3 else 1
    a[-m:] *= 0 if (scene.alpha[-1] > 0.5).sum() >= 3 else 1
    a[:, :m] *= 0 if (scene.alpha[:, 0] > 0.5).sum() >= 3 else 1
    a[:, -m:] *= 0 if (scene.alpha[:, -1] > 0.5).sum() >= 3 else 1
    return a


def _extra(scene: Scene, rng: np.random.Generator) -> FloatArray:
    """The truth plus a piece of the background next to it (mixed with another thing)."""
    ys, xs = np.nonzero(scene.alpha > 0.5)
    h, w = scene.alpha.shape
    i = int(rng.integers(0, len(ys)))
    r = 0.12 * max(ys.max() - ys.min(), xs.max() - xs.min())
    blob = _ellipse((h, w), (xs[i] + rng.uniform(-r, r), ys[i] + rng.uniform(-r, r)), (r, r * 0.7))
    return np.asarray(np.maximum(scene.alpha, blob), np.float32)


def corruptions(scene: Scene) -> Iterator[tuple[str, FloatArray]]:
    rng = np.random.default_rng(5000 + scene.index)
    for name, part in scene.parts.items():
        yield f"no-{name}", np.asarray(scene.alpha * (1 - part), np.float32)
    yield "slice", _slice(scene.alpha, rng)
    if scene.cut_by_frame:
        yield "short-of-frame", _short_of_frame(scene)
    yield "extra", _extra(scene, rng)


def labelled(scene: Scene, model_alpha: FloatArray | None = None) -> list[Labelled]:
    """The scene's cutouts with their labels (the model's when ``model_alpha`` is given)."""
    rng = np.random.default_rng(9000 + scene.index)
    out = [Labelled(scene, "truth", _perturb(scene.alpha, rng), scene.cut_by_frame)]
    for name, alpha in corruptions(scene):
        if iou(alpha, scene.alpha) < 0.97:  # a part too small to matter is not a wrong cut
            out.append(Labelled(scene, name, alpha, True))
    if model_alpha is not None:
        wrong = scene.cut_by_frame or iou(model_alpha, scene.alpha) < WRONG_IOU
        out.append(Labelled(scene, "model", model_alpha, wrong))
    return out
