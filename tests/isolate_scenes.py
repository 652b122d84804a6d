"""Scenes composed from real photos with known masks, for product-isolation tests.

Objects are cut from ../shared/eval/dev photos with their ground-truth masks and pasted on
the Carvana studio photo (its car, with its own mask, stays in the scene), whose backdrop is
widened by mirroring its sides. Each scene knows the exact mask of every object in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

DEV = Path(__file__).resolve().parents[1] / ".." / "shared" / "eval" / "dev"
if not DEV.is_dir():
    DEV = Path("/work/shared/eval/dev")

# Width added on each side of the studio photo, so objects stand clear of the car (no
# wider than the empty backdrop left and right of the car, which is what is mirrored).
LEFT, RIGHT = 330, 420


@dataclass(frozen=True)
class Placed:
    dev_id: str  # the dev photo the object comes from
    x: int  # left edge in the scene
    bottom: int  # bottom edge in the scene
    height: int  # height in the scene
    flip: bool = False


@dataclass(frozen=True)
class Scene:
    rgb: npt.NDArray[np.uint8]
    masks: dict[str, npt.NDArray[np.bool_]]  # object name -> exact visible mask


def available() -> bool:
    return (DEV / "020_image.jpg").is_file()


def _load(dev_id: str) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    image = next(DEV.glob(f"{dev_id}_image.*"))
    rgb = cv2.cvtColor(cv2.imread(str(image), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    alpha = (
        cv2.imread(str(DEV / f"{dev_id}_mask.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
    )
    return rgb, alpha


def cut(dev_id: str) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """A dev photo's object cropped to its mask's box: (RGB, alpha 0..1)."""
    rgb, alpha = _load(dev_id)
    ys, xs = np.nonzero(alpha > 0.05)
    rows, cols = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
    return np.ascontiguousarray(rgb[rows, cols]), np.ascontiguousarray(alpha[rows, cols])


def compose(objects: dict[str, Placed], keep_car: bool = True) -> Scene:
    """The studio photo widened, with ``objects`` pasted (later ones in front)."""
    bg, car_alpha = _load("020")
    rgb = cv2.copyMakeBorder(bg, 0, 0, LEFT, RIGHT, cv2.BORDER_REFLECT).astype(np.float32)
    car = cv2.copyMakeBorder(car_alpha, 0, 0, LEFT, RIGHT, cv2.BORDER_CONSTANT, value=0.0)
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    if keep_car:
        masks["car"] = car > 0.5
    for name, p in objects.items():
        src, alpha = cut(p.dev_id)
        if p.flip:
            src, alpha = src[:, ::-1], alpha[:, ::-1]
        scale = p.height / src.shape[0]
        size = (round(src.shape[1] * scale), p.height)
        src = cv2.resize(np.ascontiguousarray(src), size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(np.ascontiguousarray(alpha), size, interpolation=cv2.INTER_AREA)
        y0 = p.bottom - p.height
        region = (slice(y0, p.bottom), slice(p.x, p.x + size[0]))
        a = alpha[..., None]
        rgb[region] = src * a + rgb[region] * (1.0 - a)
        solid = np.zeros(rgb.shape[:2], dtype=bool)
        solid[region] = alpha > 0.5
        for other in masks.values():
            other &= ~solid
        masks[name] = solid
    return Scene(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), masks)


def iou(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
