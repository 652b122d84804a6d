"""Batch reports: ``report.json`` for machines, one HTML page for people.

The listing page (``report.html``) opens with a summary (per target: delivered, fixed,
held, failed; the most common hold reasons and failures, each linked to the outputs
behind it; the batch's compute time and cost), then a grid: one row per SKU, the source
first and one column per target, every cell the same size with a thumbnail on a
checkerboard, a verdict badge and the deciding check's value in words. A cell's full
check table opens on demand in a side panel; filters show held or failed outputs, one
target, or the outputs one check held.

The page is one self-contained file (style, script and check tables inline) that links
only relative paths, so it works from ``file://`` and from a copied or unpacked archive;
images are small thumbnails in ``_thumbs/`` loaded lazily, and check tables are built
only when opened, so a batch of 10,000 outputs stays light. The cutout report
(``index.html``) uses the same page, grid and cells.
"""

from __future__ import annotations

import datetime
import html
import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from packshot.cost import batch_cost, core_hour_price, output_cost
from packshot.errors import PackshotError
from packshot.imageio import load_image
from packshot.pipeline import storage
from packshot.pipeline.cost import Compute, batch_compute
from packshot.pipeline.cutout import ItemResult
from packshot.pipeline.manifest import TargetRecord
from packshot.pipeline.thumbs import thumbnail_path, write_thumbnail
from packshot.presets import format_bytes

TIMES = "\N{MULTIPLICATION SIGN}"

PANELS = "_report"
PANEL_CHUNK = 200
"""Check panels per ``_report/checks-NNNN.js`` file (about 300 KB of a real batch's)."""

VERDICTS = ("delivered", "fixed", "held", "failed")
"""A cell's verdict: the gate's (delivered = ``deliver``), or failed (no output)."""


def _thumbnail(image: str | None, thumb: Path) -> Path | None:
    """A fresh thumbnail of the local file ``image``: the batch's own when it is newer
    than the file, else made now; None for remote files and unreadable ones."""
    if image is None or storage.is_remote(image) or image.startswith(("http://", "https://")):
        return None
    src = Path(image)
    try:
        made = thumb.stat().st_mtime
    except OSError:
        made = None
    try:
        changed: float | None = src.stat().st_mtime
    except OSError:
        changed = None  # moved or deleted since: the batch's thumbnail still shows it
    if made is not None and (changed is None or made >= changed):
        return thumb
    try:
        write_thumbnail(load_image(src).pixels, thumb)
    except (PackshotError, OSError):
        return None
    return thumb


# --------------------------------------------------------------------------- values in words


def number(value: float, digits: int = 2) -> str:
    """A figure in fixed notation, trailing zeros dropped (never ``1e+03``)."""
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent(share: float, limit: float | None = None) -> str:
    """A share as a percentage: a limit (``limit`` None) with the digits it was set with,
    a measured value with the digits that tell it from ``limit`` (99.75% against 99.8%)."""
    pct = share * 100
    if limit is None:
        digits = next((d for d in (0, 1, 2) if abs(round(pct, d) - pct) < 1e-9), 3)
        return f"{number(pct, digits)}%"
    start = 0 if abs(pct) >= 10 else 1 if abs(pct) >= 1 else 2
    for digits in range(start, 4):
        text = number(pct, digits)
        if text != number(limit * 100, digits) or share == limit:
            break
    return f"{text}%"


def _count(value: float, one: str, many: str) -> str:
    n = round(value)
    return f"{n} {one if n == 1 else many}"


def _bytes(value: float) -> str:
    return format_bytes(round(value))


Words = Callable[[float], str]


@dataclass(frozen=True)
class _Wording:
    label: str
    """What the check looks at, as a catalog team says it."""
    value: Callable[[float, float | None], str]
    """The measured value (and the limit it is compared with) in words."""
    limit: Callable[[float], str] | None = None
    op: str = "≤"
    """How the value meets the limit: ``≤`` (a maximum), ``≥`` (a minimum), ``=``."""


def _pct(label: str) -> Callable[[float, float | None], str]:
    return lambda v, t: f"{label} {percent(v, t)}"


def _levels(label: str) -> Callable[[float, float | None], str]:
    return lambda v, _t: f"{label} {number(v, 1)} levels"


_WORDING: Mapping[str, _Wording] = {
    "background_purity": _Wording(
        "background not pure", _pct("background"), lambda t: percent(t), "≥"
    ),
    "edge_halo": _Wording("halo around the product", _pct("halo"), lambda t: percent(t)),
    "edge_contamination": _Wording(
        "colour fringe on the edge", _pct("fringe"), lambda t: percent(t)
    ),
    "border": _Wording(
        "frame around the image", lambda v, _t: f"border {number(v, 0)} px", lambda t: "none"
    ),
    "frame_fill": _Wording(
        "product too small in the frame", _pct("fill"), lambda t: percent(t), "≥"
    ),
    "product_cut_off": _Wording(
        "product cut off",
        lambda v, _t: "not cut off" if v == 0 else f"cut off at {_count(v, 'edge', 'edges')}",
        lambda t: "none",
    ),
    "resolution": _Wording(
        "too few pixels", lambda v, _t: f"{number(v, 2)}x the minimum", lambda t: "1x", "≥"
    ),
    "aspect_ratio": _Wording(
        "wrong aspect ratio",
        lambda v, _t: f"aspect {number(v, 3)}:1",
        lambda t: f"{number(t, 3)}:1",
        "=",
    ),
    "file_size": _Wording("file too large", lambda v, _t: _bytes(v), _bytes),
    "text": _Wording(
        "text on the background",
        lambda v, _t: "no text" if v == 0 else _count(v, "text line", "text lines"),
        lambda t: number(t, 0),
    ),
    "watermark": _Wording(
        "watermark across the product",
        lambda v, _t: "no watermark" if v == 0 else _count(v, "watermark line", "watermark lines"),
        lambda t: number(t, 0),
    ),
    "multiple_objects": _Wording(
        "more than one object",
        lambda v, _t: _count(v, "object", "objects"),
        lambda t: number(t, 0),
    ),
    "mask_confidence": _Wording(
        "uncertain cutout edge", _pct("uncertain matte"), lambda t: percent(t)
    ),
    "colour_fidelity": _Wording(
        "colour changed", lambda v, _t: f"colour shift {number(v, 1)} ΔE", lambda t: number(t, 1)
    ),
    "sharpness": _Wording(
        "soft edges", lambda v, _t: f"sharpness {number(v, 2)}", lambda t: number(t, 2), "≥"
    ),
    "visible_seams": _Wording(
        "visible seams where the photo was extended",
        _levels("seam"),
        lambda t: number(t, 1),
    ),
    "composition": _Wording("fallback composition", lambda v, _t: number(v)),
    "file_format": _Wording("format not accepted", lambda v, _t: number(v)),
    "isolation_confidence": _Wording(
        "maybe not the prompted product",
        lambda v, _t: f"isolation {number(v, 2)} sure",
        lambda t: number(t, 2),
        "≥",
    ),
    "swatch_match": _Wording(
        "colour off the swatch", lambda v, _t: f"swatch {number(v, 1)} ΔE", lambda t: number(t, 1)
    ),
    "accent_separation": _Wording(
        "accents not told from the fabric",
        lambda v, _t: f"{number(100 * v, 0)}% unsure",
        lambda t: f"{number(100 * t, 0)}%",
    ),
}
"""How each check of :data:`~packshot.presets.gate.CHECKS` reads on the page."""


def check_label(name: str) -> str:
    """A failed check in a catalog team's words (``frame_fill`` -> product too small...)."""
    wording = _WORDING.get(name)
    return wording.label if wording else name.replace("_", " ")


def check_words(check: Mapping[str, Any]) -> tuple[str, str]:
    """A check's value and limit in words: ``("fill 90%", "≥ 85%")``, ``("1 MB", "")``."""
    name = str(check.get("name", ""))
    value, limit = check.get("value"), check.get("threshold")
    wording = _WORDING.get(name)
    if value is None:
        return "not measured", ""
    if name == "composition" and isinstance(value, str) and not check.get("passed", True):
        return f"{value} instead", ""
    if isinstance(value, str) or wording is None or not isinstance(value, int | float):
        said = value if isinstance(value, str) else _plain(value)
        return str(said), "" if limit is None else str(_plain(limit)).replace("|", ", ")
    limit_num = float(limit) if isinstance(limit, int | float) else None
    said = wording.value(float(value), limit_num)
    if limit_num is None or wording.limit is None:
        return said, ""
    bound = wording.limit(limit_num)
    if bound == "none":
        return said, "none allowed"
    return said, f"{wording.op} {bound}"


def _plain(value: object) -> object:
    if isinstance(value, float):
        return number(value, 4) if math.isfinite(value) else "not measured"
    return value


def check_phrase(check: Mapping[str, Any]) -> str:
    """One check as a cell says it: ``fill 90% (≥ 85%)``, ``seam 21 levels (≤ 6)``."""
    value, limit = check_words(check)
    return f"{value} ({limit})" if limit else value


# --------------------------------------------------------------------------- cells


@dataclass
class Cell:
    """One output (or the source) as the grid shows it."""

    column: str
    verdict: str
    """One of :data:`VERDICTS`, or ``source``."""
    image: str | None
    """The thumbnail's relative URL (or an absolute http(s) one); None: nothing to show."""
    link: str | None
    """What the thumbnail opens: the output itself."""
    alt: str
    headline: str
    """The deciding check's value in words, or the failure."""
    facts: str
    failed_checks: tuple[str, ...] = ()
    panel: dict[str, Any] | None = None
    """What the check panel shows (None: no panel)."""
    review: str | None = None
    badge: str | None = None
    """The badge's word when not the verdict's."""


@dataclass
class Row:
    sku: str
    title: str | None
    cells: dict[str, Cell] = field(default_factory=dict)


def verdict_of(rec: TargetRecord) -> str:
    """The record's verdict as the report names it (see :data:`VERDICTS`)."""
    if rec.held:
        return "held"
    if not rec.ok:
        return "failed"
    gate = rec.info.get("gate")
    return "fixed" if isinstance(gate, dict) and gate.get("verdict") == "fixed" else "delivered"


def _gate(rec: TargetRecord) -> dict[str, Any]:
    gate = rec.info.get("gate")
    return gate if isinstance(gate, dict) else {}


def _failed_checks(rec: TargetRecord) -> list[dict[str, Any]]:
    return [c for c in _gate(rec).get("checks", []) if not c.get("passed", True)]


def _headline(rec: TargetRecord, verdict: str) -> str:
    """The deciding check: the first failed one of a held output, the fix of a fixed one,
    else the preset's binding limit (fill when it has one, else the file size)."""
    checks = {c.get("name"): c for c in _gate(rec).get("checks", [])}
    failed = _failed_checks(rec)
    if verdict == "held" and failed:
        more = f" +{len(failed) - 1}" if len(failed) > 1 else ""
        return check_phrase(failed[0]) + more
    if verdict == "fixed":
        fixes = [r for r in _gate(rec).get("reasons", []) if "fixed" in str(r).lower()]
        if fixes:
            return str(fixes[0])
    for name in ("frame_fill", "file_size"):
        if name in checks and checks[name].get("value") is not None:
            return check_phrase(checks[name])
    if rec.bytes:
        return format_bytes(rec.bytes)
    return ""


def _facts(rec: TargetRecord) -> str:
    info = rec.info
    parts = []
    if info.get("width") and info.get("height"):
        parts.append(f"{info['width']}{TIMES}{info['height']}")
    if info.get("format"):
        parts.append(str(info["format"]))
    if rec.bytes:
        parts.append(format_bytes(rec.bytes))
    return " · ".join(parts)


def _failure(error: str | None, source: str) -> str:
    """The error without the source's path (the row already says which file)."""
    error = error or "failed"
    if error.startswith(f"{source}: "):
        return error[len(source) + 2 :]
    if error.startswith(f"{source} -> ") and ": " in error:
        return error.split(": ", 1)[1]
    return error


def _panel(rec: TargetRecord, verdict: str) -> dict[str, Any]:
    info = rec.info
    gate = _gate(rec)
    checks = [
        [
            str(c.get("name")),
            *check_words(c),
            bool(c.get("passed", True)),
            str(c.get("detail", "")),
        ]
        for c in gate.get("checks", [])
    ]
    timing = [
        f"{label} {number(float(info[key]), 2)} s"
        for key, label in (("cutout_s", "cutout"), ("target_s", "target"), ("gate_s", "gate"))
        if isinstance(info.get(key), int | float)
    ]
    facts = [f for f in (_facts(rec), info.get("method") and f"method {info['method']}") if f]
    if info.get("model"):
        facts.append(f"model {info['model']}")
    if info.get("quality"):
        facts.append(f"quality {info['quality']}")
    if timing:
        facts.append(", ".join(timing))
    panel: dict[str, Any] = {
        "sku": rec.sku,
        "target": rec.target,
        "verdict": verdict,
        "reasons": [
            _reason(str(r)) for r in gate.get("reasons", []) if "no automatic fix" not in r
        ],
        "checks": checks,
        "facts": facts,
    }
    if verdict == "failed":
        panel["error"] = rec.error or "failed"
    if isinstance(info.get("candidates"), list):
        panel["candidates"] = [
            [
                str(c.get("rank", "")),
                str(c.get("label", "")),
                str(c.get("verdict", "")),
                str(c.get("why", "")),
            ]
            for c in info["candidates"]
            if isinstance(c, dict)
        ]
    return panel


def _reason(reason: str) -> str:
    """A gate reason (``check: detail``) with the check in words."""
    name, sep, detail = reason.partition(": ")
    return f"{check_label(name)}: {detail}" if sep and name in _WORDING else reason


def _rel(path: str | Path, out_dir: Path) -> str:
    text = os.fspath(path)
    if text.startswith(("http://", "https://")):
        return text
    return Path(os.path.relpath(text, out_dir)).as_posix()


def _href(path: str | None, out_dir: Path) -> str | None:
    if path is None or (storage.is_remote(path) and not path.startswith(("http:", "https:"))):
        return None
    return _rel(path, out_dir)


def _describe(sku: str, title: str | None, alt: str | None) -> str:
    return alt or title or sku


def listing_rows(
    records: Sequence[TargetRecord],
    out_dir: Path,
    review_links: Mapping[tuple[str, str], str] | None = None,
) -> tuple[list[Row], list[str]]:
    """The grid's rows (SKUs in the records' order) and columns (targets, first seen)."""
    by_sku: dict[str, list[TargetRecord]] = {}
    targets: dict[str, None] = {}
    for rec in records:
        by_sku.setdefault(rec.sku, []).append(rec)
        targets.setdefault(rec.target, None)
    rows = []
    for sku, recs in by_sku.items():
        title = next((str(r.info["title"]) for r in recs if r.info.get("title")), None)
        alt = next((str(r.info["alt"]) for r in recs if r.info.get("alt")), None)
        described = _describe(sku, title, alt)
        row = Row(sku, title)
        source = recs[0].source
        src_thumb = _thumbnail(source, thumbnail_path(out_dir, sku, "source"))
        if src_thumb is None and source.startswith(("http://", "https://")):
            src_image: str | None = source
        else:
            src_image = _rel(src_thumb, out_dir) if src_thumb else None
        row.cells["source"] = Cell(
            "source",
            "source",
            src_image,
            _href(source, out_dir),
            f"{described}: source photo",
            sku,
            title or Path(source).name,
        )
        for rec in recs:
            verdict = verdict_of(rec)
            if verdict == "failed" or rec.output is None:
                row.cells[rec.target] = Cell(
                    rec.target,
                    "failed",
                    None,
                    None,
                    f"{described}: {rec.target} not made",
                    _failure(rec.error, rec.source),
                    "",
                    panel=_panel(rec, "failed"),
                )
                continue
            thumb = _thumbnail(rec.output, thumbnail_path(out_dir, sku, rec.target))
            link = _href(rec.output, out_dir)
            row.cells[rec.target] = Cell(
                rec.target,
                verdict,
                _rel(thumb, out_dir) if thumb else link,
                link,
                f"{described}: {rec.target} image, {verdict}",
                _headline(rec, verdict),
                _facts(rec),
                tuple(str(c.get("name")) for c in _failed_checks(rec)),
                _panel(rec, verdict),
                (review_links or {}).get((rec.sku, rec.target)),
            )
        rows.append(row)
    return rows, list(targets)


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class Summary:
    """The figures at the top of the page."""

    counts: dict[str, Counter[str]]
    """Per target, outputs per verdict."""
    reasons: list[tuple[str, list[tuple[str, str]]]]
    """Hold reasons by failed check, most common first: (check, [(sku, target)])."""
    failures: list[tuple[str, list[tuple[str, str]]]]
    """Failures by message, most common first."""
    compute: Compute
    price: float
    wall_s: float | None

    @property
    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.counts.values():
            total.update(counts)
        return total


def summarize(
    records: Sequence[TargetRecord], *, price: float, wall_s: float | None = None
) -> Summary:
    counts: dict[str, Counter[str]] = {}
    reasons: dict[str, list[tuple[str, str]]] = {}
    failures: dict[str, list[tuple[str, str]]] = {}
    for rec in records:
        verdict = verdict_of(rec)
        counts.setdefault(rec.target, Counter())[verdict] += 1
        if verdict == "held":
            for check in _failed_checks(rec) or [{"name": "held"}]:
                reasons.setdefault(str(check.get("name")), []).append((rec.sku, rec.target))
        elif verdict == "failed":
            failures.setdefault(_failure(rec.error, rec.source), []).append((rec.sku, rec.target))

    def ranked(groups: dict[str, list[tuple[str, str]]]) -> list[tuple[str, list[Any]]]:
        return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))

    return Summary(counts, ranked(reasons), ranked(failures), batch_compute(records), price, wall_s)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{number(seconds, 1)} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def money(amount: float) -> str:
    """Dollars with the digits a small figure needs (``$0.0012``), never ``1e-05``."""
    if amount >= 1 or amount == 0:
        return f"${amount:,.2f}"
    digits = max(2, 1 - math.floor(math.log10(amount)))  # two significant figures
    text = f"{amount:.{min(digits, 8)}f}".rstrip("0")
    return "$" + (text if len(text.split(".")[1]) >= 2 else f"{float(text):.2f}")


# --------------------------------------------------------------------------- HTML


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def cell_id(sku: str, column: str) -> str:
    """The cell's anchor (``#c-<sku>--<target>``): summary links and reviewers use it."""
    return "c-" + re.sub(r"[^A-Za-z0-9_.-]", "_", f"{sku}--{column}")


_BADGE = {
    "delivered": "Delivered",
    "fixed": "Fixed",
    "held": "Held",
    "failed": "Failed",
    "source": "Source",
}


def _cell_html(row: Row, cell: Cell, panel_index: int | None) -> str:
    cid = cell_id(row.sku, cell.column)
    failed = " ".join(cell.failed_checks)
    role = "rowheader" if cell.column == "source" else "cell"
    attrs = (
        f'class="cell v-{cell.verdict} c-{_e(cell.column)}" role="{role}"'
        f' id="{cid}" data-t="{_e(cell.column)}" data-v="{cell.verdict}"'
        + (f' data-f="{_e(failed)}"' if failed else "")
    )
    if cell.image:
        img = (
            f'<img src="{_e(cell.image)}" alt="{_e(cell.alt)}" loading="lazy" decoding="async"'
            ' width="180" height="180">'
        )
    elif cell.verdict == "failed":
        img = f'<span class="msg">{_e(cell.headline)}</span>'
    else:
        img = '<span class="msg">no preview</span>'
    if cell.link:
        thumb = f'<a class="thumb" href="{_e(cell.link)}">{img}</a>'
    else:
        thumb = (
            f'<div class="thumb" tabindex="-1" role="img" aria-label="{_e(cell.alt)}">{img}</div>'
        )
    if cell.column == "source":
        return (
            f'<div {attrs}>{thumb}<div class="why"><b class="sku">{_e(row.sku)}</b></div>'
            f'<div class="l3" title="{_e(cell.facts)}">{_e(cell.facts)}</div></div>'
        )
    badge = f'<span class="badge b-{cell.verdict}">{cell.badge or _BADGE[cell.verdict]}</span>'
    tools = []
    if panel_index is not None:
        n = len((cell.panel or {}).get("checks", []))
        what = f"{n} checks" if n else "details"
        tools.append(
            f'<button type="button" class="open" data-k="{panel_index}" aria-haspopup="dialog">'
            f"{what}</button>"
        )
    if cell.review:
        tools.append(f'<a class="review" href="{_e(cell.review)}">review</a>')
    line1 = f'<div class="l1">{badge}{"".join(tools)}</div>'
    said = "" if cell.verdict == "failed" and not cell.link else cell.headline
    line2 = f'<div class="why" title="{_e(said)}">{_e(said)}</div>'
    facts = cell.facts if cell.verdict != "failed" else "not made"
    line3 = f'<div class="l3">{_e(facts)}</div>'
    return f"<div {attrs}>{thumb}{line1}{line2}{line3}</div>"


def _grid_html(
    rows: Sequence[Row], columns: Sequence[str], headers: Mapping[str, str]
) -> tuple[str, list[dict[str, Any]]]:
    panels: list[dict[str, Any]] = []
    head = "".join(
        f'<div class="cell head" role="columnheader" data-t="{_e(c)}"><b>{_e(c)}</b>'
        f"<span>{_e(headers.get(c, ''))}</span></div>"
        for c in ["source", *columns]
    )
    body = []
    for row in rows:
        cells = []
        for column in ["source", *columns]:
            cell = row.cells.get(column)
            if cell is None:
                cells.append(
                    f'<div class="cell v-none" role="cell" data-t="{_e(column)}" data-v="none">'
                    '<div class="thumb"><span class="msg">not in this batch</span></div></div>'
                )
                continue
            index = None
            if cell.panel is not None:
                index = len(panels)
                panels.append(cell.panel)
            cells.append(_cell_html(row, cell, index))
        body.append(f'<div class="row" role="row" data-sku="{_e(row.sku)}">{"".join(cells)}</div>')
    grid = (
        '<div class="gridwrap"><div class="grid" role="table" '
        'aria-label="outputs by SKU and target" '
        f'aria-rowcount="{len(rows) + 1}" style="--cols:{len(columns) + 1}">'
        f'<div class="row headrow" role="row">{head}</div>{"".join(body)}</div></div>'
    )
    return grid, panels


def _filter_href(show: str = "", target: str = "", check: str = "") -> str:
    parts = [f"show={show}"] if show else []
    parts += [f"target={target}"] if target else []
    parts += [f"check={check}"] if check else []
    return "#" + "&".join(parts or ["show=all"])


def _jump_links(items: Sequence[tuple[str, str]], limit: int = 4) -> str:
    links = [
        f'<a href="#{cell_id(sku, target)}" data-jump>{_e(sku)} / {_e(target)}</a>'
        for sku, target in items[:limit]
    ]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(links) + more


def _summary_html(summary: Summary, columns: Sequence[str], n_skus: int) -> str:
    totals = summary.totals
    tiles = "".join(
        f'<a class="tile t-{v}" href="{_filter_href(v if v in ("held", "failed") else "")}">'
        f"<b>{totals[v]}</b><span>{v}</span></a>"
        for v in VERDICTS
    )
    rows = []
    for target in columns:
        counts = summary.counts.get(target, Counter())
        total = sum(counts.values()) or 1
        bar = "".join(
            f'<span class="seg s-{v}" style="width:{100 * counts[v] / total:.2f}%"></span>'
            for v in VERDICTS
            if counts[v]
        )
        nums = "".join(
            '<td class="n">'
            + (
                f'<a href="{_filter_href(v if v in ("held", "failed") else "", target)}">'
                f"{counts[v]}</a>"
                if counts[v]
                else '<span class="zero">0</span>'
            )
            + "</td>"
            for v in VERDICTS
        )
        rows.append(
            f'<tr><th scope="row"><a href="{_filter_href("", target)}">{_e(target)}</a></th>'
            f'{nums}<td class="bar" aria-hidden="true"><span class="bar">{bar}</span></td></tr>'
        )
    table = (
        '<table class="targets"><caption>By target</caption><thead><tr><th scope="col">target'
        "</th>"
        + "".join(f'<th scope="col" class="n">{v}</th>' for v in VERDICTS)
        + '<th scope="col"><span class="sr">share</span></th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
    )
    attention = []
    for name, items in summary.reasons[:6]:
        by_target = Counter(t for _, t in items)
        where = ", ".join(f"{t} {n}" for t, n in by_target.most_common())
        attention.append(
            f'<li><a class="reason" href="{_filter_href("held", "", name)}">'
            f'{_e(check_label(name))}</a> <span class="count">{len(items)} held</span>'
            f' <span class="where">({_e(where)})</span><br><span class="jump">'
            f"{_jump_links(items)}</span></li>"
        )
    for message, items in summary.failures[:4]:
        attention.append(
            f'<li><a class="reason failure" href="{_filter_href("failed")}">failed: '
            f'{_e(message)}</a> <span class="count">{len(items)} failed</span><br>'
            f'<span class="jump">{_jump_links(items)}</span></li>'
        )
    if len(summary.reasons) > 6:
        rest = sum(len(i) for _, i in summary.reasons[6:])
        attention.append(f"<li>{len(summary.reasons) - 6} more reasons ({rest} held)</li>")
    attention_html = (
        f'<ol class="attention">{"".join(attention)}</ol>'
        if attention
        else '<p class="allgood">Nothing needs attention: every output was delivered.</p>'
    )
    compute = summary.compute
    per_output = compute.cost(summary.price) / compute.outputs if compute.outputs else 0.0
    wall = (
        f"<dt>wall time</dt><dd>{_duration(summary.wall_s)} (this run)</dd>"
        if summary.wall_s is not None
        else ""
    )
    cost = (
        '<dl class="compute">'
        f"{wall}<dt>compute</dt><dd>{_duration(compute.core_seconds)} of CPU "
        f"(cutout {_duration(compute.cutout_s)}, targets {_duration(compute.target_s)}, "
        f"of which gate {_duration(compute.gate_s)})</dd>"
        f"<dt>cost</dt><dd>{money(compute.cost(summary.price))} "
        f"({money(per_output)} per output) at {money(summary.price)} per core-hour</dd></dl>"
    )
    return (
        '<section class="summary" aria-label="summary">'
        f'<div class="col"><div class="tiles">{tiles}</div>{table}</div>'
        f'<div class="col"><h2>Needs attention</h2>{attention_html}'
        f"<h2>Time and cost</h2>{cost}</div></section>"
    )


LISTING_FILTERS = (
    ("all", "All"),
    ("attention", "Held or failed"),
    ("held", "Held"),
    ("failed", "Failed"),
)


def _toolbar_html(
    columns: Sequence[str],
    n_rows: int,
    *,
    noun: str = "SKUs",
    column: str = "target",
    shows: Sequence[tuple[str, str]] = LISTING_FILTERS,
) -> str:
    buttons = "".join(
        f'<button type="button" data-show="{key}" aria-pressed="{str(key == "all").lower()}">'
        f"{label}</button>"
        for key, label in shows
    )
    options = "".join(f'<option value="{_e(c)}">{_e(c)}</option>' for c in columns)
    return (
        '<div class="toolbar" role="toolbar" aria-label="filters">'
        f'<span class="group" role="group" aria-label="show">{buttons}</span>'
        f'<label>{column} <select id="f-target"><option value="">every {column}</option>{options}'
        "</select></label>"
        '<span id="f-check" hidden><span></span> <button type="button" id="f-check-clear">'
        "show every reason</button></span>"
        f'<span id="f-count" role="status" aria-live="polite" data-noun="{noun}">'
        f"{n_rows} of {n_rows} {noun}</span></div>"
    )


def _page(title: str, lede: str, body: str) -> str:
    template = resources.files("packshot.report").joinpath("page.html").read_text("utf-8")
    parts = {"title": _e(title), "lede": lede, "body": body, "chunk": str(PANEL_CHUNK)}
    return re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m[1]], template)


def _write_panels(out_dir: Path, panels: Sequence[dict[str, Any]]) -> None:
    """The check panels as ``_report/checks-NNNN.js``, :data:`PANEL_CHUNK` a file: the
    page loads one only when a panel in it is opened (a script, not a fetch: browsers
    refuse fetches from file:// pages), so opening the page reads none of them."""
    folder = out_dir / PANELS
    if folder.is_dir():
        for old in folder.glob("checks-*.js"):
            old.unlink()
    for start in range(0, len(panels), PANEL_CHUNK):
        payload = json.dumps(panels[start : start + PANEL_CHUNK], separators=(",", ":"))
        path = folder / f"checks-{start // PANEL_CHUNK:04d}.js"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"packshotPanels({start},{payload});\n", encoding="utf-8")


def _write_json(path: Path, head: dict[str, Any], key: str, items: Iterable[object]) -> None:
    """``head`` with ``key``: the list ``items``, one item a line: readable, and written by
    the C encoder (``indent`` would take Python's, 20 s for a batch of 10,000 outputs)."""
    text = json.dumps(head, indent=2)[:-2]
    lines = ",\n    ".join(json.dumps(item) for item in items)
    body = (
        f'{text},\n  "{key}": [\n    {lines}\n  ]\n}}\n'
        if lines
        else f'{text},\n  "{key}": []\n}}\n'
    )
    path.write_text(body, encoding="utf-8")


def _written() -> str:
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%d %H:%M UTC")


def _report_head(
    records: Sequence[TargetRecord],
    summary: Summary,
    *,
    title: str,
    wall_s: float | None,
    price: float,
) -> dict[str, Any]:
    totals = summary.totals
    compute = summary.compute
    return {
        "title": title,
        "done": sum(r.ok for r in records),
        "held": sum(r.held for r in records),
        "failed": sum(not r.ok and not r.held for r in records),
        "verdicts": {v: totals[v] for v in VERDICTS},
        "compute": {
            "core_seconds": round(compute.core_seconds, 3),
            "cutout_s": round(compute.cutout_s, 3),
            "target_s": round(compute.target_s, 3),
            "gate_s": round(compute.gate_s, 3),
            "wall_s": None if wall_s is None else round(wall_s, 3),
            "price_per_core_hour": price,
            "cost": round(compute.cost(price), 8),
        },
        # Beside the hosted APIs' price of the same operations (packshot.cost).
        "cost": batch_cost(r.info.get("compute", {}) for r in records),
    }


def _report_targets(records: Sequence[TargetRecord]) -> Iterator[dict[str, Any]]:
    for r in records:
        yield {
            "sku": r.sku,
            "target": r.target,
            "source": r.source,
            "state": r.state,
            "output": r.output,
            "bytes": r.bytes,
            "error": r.error,
            **r.info,
        }


def listing_report(
    records: Sequence[TargetRecord],
    *,
    title: str = "packshot listing",
    wall_s: float | None = None,
    price: float | None = None,
) -> dict[str, Any]:
    """The document :func:`write_listing_report` writes as ``report.json``, as a value
    (the HTTP listing's result carries it)."""
    price = core_hour_price() if price is None else price
    summary = summarize(records, price=price, wall_s=wall_s)
    head = _report_head(records, summary, title=title, wall_s=wall_s, price=price)
    return {**head, "targets": list(_report_targets(records))}


def write_listing_report(
    records: Sequence[TargetRecord],
    out_dir: Path,
    *,
    title: str = "packshot listing",
    wall_s: float | None = None,
    price: float | None = None,
    review_links: Mapping[tuple[str, str], str] | None = None,
) -> Path:
    """``report.json`` and ``report.html`` for a listing batch; returns the HTML path.

    ``wall_s``: the run's wall time, when the caller measured it; ``price``: per
    core-hour (default :func:`~packshot.cost.core_hour_price`); ``review_links``:
    (sku, target) -> the review page entry of a held output, when a server holds it.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    price = core_hour_price() if price is None else price
    summary = summarize(records, price=price, wall_s=wall_s)
    head = _report_head(records, summary, title=title, wall_s=wall_s, price=price)
    _write_json(out_dir / "report.json", head, "targets", _report_targets(records))
    rows, columns = listing_rows(records, out_dir, review_links)
    headers = {}
    for rec in records:
        if rec.target not in headers and rec.info.get("width"):
            headers[rec.target] = (
                f"{rec.info['width']}{TIMES}{rec.info['height']} {rec.info.get('format', '')}"
            )
    grid, panels = _grid_html(rows, columns, headers)
    n_out = len(records)
    lede = f"{len(rows)} SKUs · {n_out} outputs · {len(columns)} targets · written {_written()}"
    body = _summary_html(summary, columns, len(rows)) + _toolbar_html(columns, len(rows)) + grid
    page = out_dir / "report.html"
    _write_panels(out_dir, panels)
    page.write_text(_page(title, lede, body), encoding="utf-8")
    return page


def write_cutout_report(
    results: Sequence[ItemResult], out_dir: Path, *, title: str = "packshot background-removal"
) -> Path:
    """``report.json`` and ``index.html`` for a cutout batch; returns the HTML path.

    The same page as a listing's: one row per image, its source and the cutout on a
    checkerboard, on magenta and on white (the browser composites the PNG's alpha over
    CSS backgrounds), so halos, fringes and missing parts show at a glance."""
    out_dir.mkdir(parents=True, exist_ok=True)
    head = {
        "title": title,
        "written": sum(r.ok for r in results),
        "failed": sum(not r.ok for r in results),
    }
    head["cost"] = batch_cost(output_cost(r.cpu_s, ["background-removal"]) for r in results if r.ok)
    items = (
        {
            "source": r.source,
            "output": r.output,
            "error": r.error,
            "seconds": round(r.seconds, 3),
            **({"compute": output_cost(r.cpu_s, ["background-removal"])} if r.ok else {}),
        }
        for r in results
    )
    _write_json(out_dir / "report.json", head, "items", items)
    columns = ["checkerboard", "magenta", "white"]
    rows = []
    names: Counter[str] = Counter()
    for result in results:
        name = Path(result.output or result.source).stem
        names[name] += 1
        sku = name if names[name] == 1 else f"{name}-{names[name]}"
        row = Row(sku, None)
        src_thumb = _thumbnail(result.source, thumbnail_path(out_dir, sku, "source"))
        row.cells["source"] = Cell(
            "source",
            "source",
            _rel(src_thumb, out_dir) if src_thumb else None,
            _href(result.source, out_dir),
            f"{sku}: source photo",
            sku,
            f"{number(result.seconds, 2)} s",
        )
        thumb = _thumbnail(result.output, thumbnail_path(out_dir, sku, "cutout"))
        for n, column in enumerate(columns):
            if result.output is None:
                said = _failure(result.error, result.source) if n == 0 else "no cutout"
                row.cells[column] = Cell(
                    column, "failed", None, None, f"{sku}: no cutout", said, ""
                )
                continue
            link = _href(result.output, out_dir)
            row.cells[column] = Cell(
                column,
                "delivered",
                _rel(thumb, out_dir) if thumb else link,
                link,
                f"{sku}: cutout on {column}",
                f"on {column}",
                Path(result.output).name,
                badge="Written",
            )
        rows.append(row)
    written = sum(r.ok for r in results)
    failed = len(results) - written
    grid, _ = _grid_html(rows, columns, {})
    tiles = (
        '<section class="summary" aria-label="summary"><div class="col"><div class="tiles">'
        f'<a class="tile t-delivered" href="#show=all"><b>{written}</b><span>written</span></a>'
        f'<a class="tile t-failed" href="#show=failed"><b>{failed}</b><span>failed</span></a>'
        f'<span class="tile"><b>{_duration(sum(r.seconds for r in results))}</b>'
        "<span>time</span></span>"
        "</div></div></section>"
    )
    lede = f"{len(results)} images · written {_written()}"
    page = out_dir / "index.html"
    page.write_text(
        _page(
            title,
            lede,
            tiles
            + _toolbar_html(
                columns,
                len(rows),
                noun="images",
                column="backdrop",
                shows=(("all", "All"), ("failed", "Failed")),
            )
            + grid,
        ),
        encoding="utf-8",
    )
    return page
