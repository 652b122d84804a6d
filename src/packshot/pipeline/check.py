"""Checking images as they are: any file (a shop's existing catalogue included) against a
preset's gate, scored only, never changed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from packshot.errors import PackshotError
from packshot.imageio import LoadedImage, load_image
from packshot.presets import Preset
from packshot.sentinel.gate import TextDetector, run_gate
from packshot.sentinel.result import GateResult
from packshot.sentinel.subject import Color, subject_from_image

try:
    from packshot.models.text import detect_text as _detect_text

    DEFAULT_DETECTOR: TextDetector | None = _detect_text
except ImportError:  # pragma: no cover - text detection ships with packshot
    DEFAULT_DETECTOR = None


@dataclass(frozen=True)
class FileVerdict:
    """One file's gate result, or why it could not be checked."""

    path: str
    result: GateResult | None
    mask_origin: str | None
    error: str | None
    seconds: float

    @property
    def passed(self) -> bool:
        return self.result is not None and self.result.verdict == "deliver"

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"image": self.path}
        if self.result is not None:
            out.update(self.result.as_dict())
            out["mask"] = self.mask_origin
        else:
            out["error"] = self.error
        out["seconds"] = round(self.seconds, 3)
        return out


def check_file(
    path: str | os.PathLike[str],
    preset: Preset,
    *,
    ocr: bool = True,
    swatch: Color | None = None,
) -> FileVerdict:
    """Score one image file against ``preset``'s gate. Never raises for a bad file: the
    error is the verdict."""
    import time

    t0 = time.perf_counter()
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return FileVerdict(name, None, None, f"{name}: cannot read the file ({reason})", 0.0)
    try:
        result, mask_origin = check_image(
            load_image(data, label=name), len(data), preset, ocr=ocr, swatch=swatch
        )
    except PackshotError as exc:
        return FileVerdict(name, None, None, str(exc), time.perf_counter() - t0)
    return FileVerdict(name, result, mask_origin, None, time.perf_counter() - t0)


def check_image(
    image: LoadedImage,
    file_bytes: int,
    preset: Preset,
    *,
    ocr: bool = True,
    swatch: Color | None = None,
) -> tuple[GateResult, str]:
    """Score a decoded image (``file_bytes`` long as encoded) against ``preset``'s gate;
    returns the result and where the product mask came from."""
    subject = subject_from_image(
        image.pixels, preset.background_color, file_format=image.format, file_bytes=file_bytes
    )
    outcome = run_gate(
        subject, preset, remake=None, detect=DEFAULT_DETECTOR if ocr else None, swatch=swatch
    )
    return outcome.result, subject.mask_origin
