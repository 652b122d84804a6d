"""File checks against the preset: resolution, aspect ratio, format, file size."""

from __future__ import annotations

from packshot.presets import Preset, format_bytes, parse_aspect
from packshot.sentinel.result import CheckResult
from packshot.sentinel.subject import Subject


def resolution(subject: Subject, preset: Preset) -> CheckResult:
    """Long and short side against the preset's minimums (the preset's own size when it
    sets none). Value: the smaller of long/min_long and short/min_short (1 = just enough)."""
    long_side = max(subject.width, subject.height)
    short_side = min(subject.width, subject.height)
    min_long = preset.min_long_side or 0
    min_short = preset.min_short_side or 0
    if not min_long and not min_short:
        min_long = preset.long_side
    ratios = [long_side / min_long] if min_long else []
    ratios += [short_side / min_short] if min_short else []
    value = min(ratios)
    needs = []
    if min_long:
        needs.append(f"long side >= {min_long}")
    if min_short:
        needs.append(f"short side >= {min_short}")
    detail = f"{subject.width}x{subject.height} px ({' and '.join(needs)} required)"
    return CheckResult("resolution", value, 1.0, value >= 1.0, False, detail)


def aspect_ratio(subject: Subject, preset: Preset) -> CheckResult:
    """Width / height against the preset's aspect, within one pixel of rounding."""
    aw, ah = parse_aspect(preset.aspect)
    ratio = subject.width / subject.height
    expected = aw / ah
    # One pixel of rounding on the shorter side.
    tolerance = 1.0 / min(subject.width, subject.height) * max(ratio, 1.0)
    passed = abs(ratio - expected) <= tolerance + 1e-9
    detail = (
        f"{subject.width}x{subject.height} is {ratio:.4f}:1; {preset.aspect} is {expected:.4f}:1"
    )
    return CheckResult("aspect_ratio", ratio, expected, passed, False, detail)


def file_format(subject: Subject, preset: Preset) -> CheckResult:
    """The encoded format is one the marketplace accepts."""
    accepted = "|".join(preset.formats)
    fmt = subject.file_format
    if fmt is None:
        return CheckResult("file_format", None, accepted, True, False, "not encoded yet")
    fmt = {"JPG": "JPEG", "TIF": "TIFF", "MPO": "JPEG"}.get(fmt.upper(), fmt.upper())
    passed = fmt in preset.formats
    detail = f"{fmt} ({', '.join(preset.formats)} accepted)"
    return CheckResult("file_format", fmt, accepted, passed, False, detail)


def file_size(subject: Subject, preset: Preset) -> CheckResult:
    """The encoded size against the preset's hard limit (max_bytes)."""
    size = subject.file_bytes
    limit = preset.max_bytes
    if size is None:
        return CheckResult("file_size", None, limit, True, False, "not encoded yet")
    if limit is None:
        return CheckResult(
            "file_size", float(size), None, True, False, f"{format_bytes(size)} (no size limit)"
        )
    passed = size <= limit
    detail = f"{format_bytes(size)} (at most {format_bytes(limit)})"
    return CheckResult("file_size", float(size), float(limit), passed, False, detail)
